"""Tests of the error messages: each bad key, the file or variable it came from, a guess."""

from __future__ import annotations

import pytest

from tests.settings.conftest import config_error, write


def test_unknown_yaml_key_names_key_and_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write("config/base.yaml", "queues: {kitchen: {}}\n")
    write("config/prod.yaml", "queues: {kitchen: {dispatch_deadlin: 60}}\n")
    monkeypatch.setenv("CLOUDTASKS_ENV", "prod")

    message = config_error()

    assert "queues.kitchen.dispatch_deadlin (from config/prod.yaml): unknown key" in message
    assert "did you mean 'dispatch_deadline'?" in message


def test_wrong_type_in_yaml_names_the_file_that_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    write("config/base.yaml", "task_create_retries: many\nqueues: {kitchen: {}}\n")
    write("config/prod.yaml", "queues: {kitchen: {dispatch_deadline: 5s}}\n")
    monkeypatch.setenv("CLOUDTASKS_ENV", "prod")

    message = config_error()

    assert "task_create_retries (from config/base.yaml)" in message
    assert "queues.kitchen.dispatch_deadline (from config/prod.yaml)" in message
    assert "between 15s and 30m" in message
    assert "2 errors" in message


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("CLOUDTASKS_DISPATCH_DEADLINE", "dispatch_deadline"),
        ("CLOUDTASKS_TASK_CREATE_TIMEOUT", "task_create_timeout"),
        ("CLOUDTASKS_QUEUES__KITCHEN__DISPATCH_DEADLINE", "queues.kitchen.dispatch_deadline"),
        ("CLOUDTASKS_AUTH__ENABLED", "auth.enabled"),
    ],
)
def test_wrong_type_in_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, key: str
) -> None:
    write("config/base.yaml", "dispatch_deadline: 60\n")  # overridden, so not to blame
    monkeypatch.setenv(variable, "not-a-value")
    assert f"{key} (from environment variable {variable}):" in config_error()


def test_unknown_nested_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDTASKS_OIDC__SERVICE_ACCOUNT_EMAIL", "sa@p.iam.gserviceaccount.com")
    monkeypatch.setenv("CLOUDTASKS_OIDC__AUDIENSE", "x")
    message = config_error()
    assert "oidc.audiense (from environment variable CLOUDTASKS_OIDC__AUDIENSE)" in message
    assert "did you mean 'audience'?" in message


def test_bad_json_in_one_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDTASKS_QUEUES", "kitchen")
    message = config_error()
    assert "queues (from environment variable CLOUDTASKS_QUEUES): not valid JSON" in message

    monkeypatch.delenv("CLOUDTASKS_QUEUES")
    monkeypatch.setenv("CLOUDTASKS_AUTH__ALLOWED_EMAILS", "a@x.io")
    monkeypatch.setenv("CLOUDTASKS_AUTH__ISSUER", "https://issuer.example.com")  # not JSON, fine
    message = config_error()
    assert "auth (from environment variable CLOUDTASKS_AUTH__ALLOWED_EMAILS)" in message

    monkeypatch.delenv("CLOUDTASKS_AUTH__ALLOWED_EMAILS")
    monkeypatch.delenv("CLOUDTASKS_AUTH__ISSUER")
    write(".env", "CLOUDTASKS_QUEUES=kitchen\nCLOUDTASKS_OIDC=sa@x.io\n")
    assert "queues (from CLOUDTASKS_QUEUES in .env): not valid JSON" in config_error()

    write(".env", "CLOUDTASKS_OIDC=sa@x.io\n")  # an optional model: pydantic reports it
    assert "oidc (from CLOUDTASKS_OIDC in .env): Input should be a valid dict" in config_error()


def test_unknown_cloudtasks_line_in_env_file_is_an_error() -> None:
    write(".env", "OTHER_TOOL=1\nCLOUDTASKS_PROJCT=p\n")
    assert "projct (from CLOUDTASKS_PROJCT in .env): unknown key" in config_error()


def test_missing_required_key_points_at_its_section() -> None:
    write("config/base.yaml", "oidc: {audience: x}\n")
    message = config_error()
    assert "oidc.service_account_email (from config/base.yaml): Field required" in message


def test_bad_keyword_argument_is_named() -> None:
    assert "task_create_retries (from load_settings() argument" in config_error(
        task_create_retries=-1
    )


def test_every_problem_is_listed_once() -> None:
    write("config/base.yaml", "tracing: maybe\nemulator_host: http://localhost:8123\n")
    message = config_error()
    assert message.startswith("invalid settings (2 errors):")
    assert "tracing (from config/base.yaml)" in message
    assert "emulator_host (from config/base.yaml): must be host:port" in message


def test_error_messages_do_not_echo_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # Values may be secrets; the key and its source are enough to find the problem.
    monkeypatch.setenv("CLOUDTASKS_TASK_CREATE_TIMEOUT", "hunter2-s3cr3t")
    message = config_error()
    assert "hunter2-s3cr3t" not in message
    assert "input_value" not in message
