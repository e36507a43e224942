"""Tests of cloudtasks_kit.settings and its YAML source: sources, errors, queue paths."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel, SecretStr

from cloudtasks_kit._errors import ConfigurationError
from cloudtasks_kit._yaml_source import LayeredYamlSettingsSource
from cloudtasks_kit.settings import (
    KitSettings,
    QueueSettings,
    load_settings,
    queue_path,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in an empty directory with no CLOUDTASKS_* variables set."""
    for name in list(os.environ):
        if name.upper().startswith("CLOUDTASKS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: str, text: str) -> Path:
    """Write ``text`` (dedented) to ``path`` relative to the current (temporary) directory."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(text), encoding="utf-8")
    return file


def config_error(**overrides: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**overrides)
    return str(caught.value)


# --- sources and priorities ----------------------------------------------------------------------


def test_basics_from_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CLOUDTASKS_PROJECT": "p1",
        "CLOUDTASKS_LOCATION": "us-central1",
        "CLOUDTASKS_BASE_URL": "https://worker.example.com/",
        "CLOUDTASKS_DEFAULT_QUEUE": "kitchen",
        "CLOUDTASKS_EMULATOR_HOST": "127.0.0.1:8123",
        "CLOUDTASKS_ENV": "prod",
        "CLOUDTASKS_OIDC__SERVICE_ACCOUNT_EMAIL": "sa@p1.iam.gserviceaccount.com",
        "CLOUDTASKS_QUEUES__KITCHEN__ID": "kitchen-orders",
        "CLOUDTASKS_AUTH__ALLOWED_EMAILS": '["sa@p1.iam.gserviceaccount.com"]',
    }.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()  # no ./config at all

    assert settings.env == "prod"
    assert (settings.project, settings.location) == ("p1", "us-central1")
    assert settings.base_url == "https://worker.example.com"  # trailing '/' dropped
    assert settings.emulator_host == "127.0.0.1:8123"
    assert settings.oidc is not None
    assert settings.oidc.service_account_email == "sa@p1.iam.gserviceaccount.com"
    assert settings.auth.allowed_emails == ["sa@p1.iam.gserviceaccount.com"]
    assert settings.queue_path(None) == "projects/p1/locations/us-central1/queues/kitchen-orders"


def test_defaults_without_any_source() -> None:
    settings = load_settings()
    assert settings.env == "dev"
    assert settings.project is None
    assert settings.queues == {}
    assert settings.task_create_timeout == 10.0
    assert settings.task_create_retries == 3
    assert settings.tracing is True
    assert settings.scheduler_job_prefix == ""
    assert settings.auth.enabled is True
    assert settings.auth.issuer == "https://accounts.google.com"


def test_environment_beats_yaml_and_kwargs_beat_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write("config/base.yaml", "project: from-base\nlocation: from-base\ntracing: false\n")
    write("config/dev.yaml", "project: from-dev\n")
    monkeypatch.setenv("CLOUDTASKS_PROJECT", "from-env")
    monkeypatch.setenv("CLOUDTASKS_LOCATION", "from-env")

    settings = load_settings(location="from-kwargs")

    assert settings.project == "from-env"
    assert settings.location == "from-kwargs"
    assert settings.tracing is False  # only base.yaml sets it


def test_nested_mappings_merge_across_files_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(
        "config/base.yaml",
        """
        queues:
          kitchen:
            dispatch_deadline: 60
            retry: {max_attempts: 3, max_backoff: 10s}
          mail: {}
        auth: {issuer: "https://issuer.example.com", allowed_emails: [a@x.io, b@x.io]}
        """,
    )
    write(
        "config/dev.yaml",
        """
        queues:
          kitchen:
            retry: {min_backoff: 2s}
        auth: {allowed_emails: [c@x.io]}
        """,
    )
    monkeypatch.setenv("CLOUDTASKS_QUEUES__KITCHEN__ID", "kitchen-orders")
    monkeypatch.setenv("CLOUDTASKS_AUTH__ENABLED", "false")

    settings = load_settings()

    kitchen = settings.queues["kitchen"]
    assert kitchen.id == "kitchen-orders"  # env
    assert kitchen.dispatch_deadline == timedelta(seconds=60)  # base
    assert kitchen.retry is not None
    assert kitchen.retry.max_attempts == 3  # base, beside dev's key in the same mapping
    assert kitchen.retry.min_backoff == timedelta(seconds=2)  # dev
    assert settings.queues["mail"].id == "mail"  # untouched sibling
    assert settings.auth.enabled is False  # env, beside YAML keys of the same mapping
    assert settings.auth.issuer == "https://issuer.example.com"
    assert settings.auth.allowed_emails == ["c@x.io"]  # lists replace, they do not merge


def test_cloudtasks_env_chooses_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write("config/base.yaml", "location: base-loc\n")
    write("config/dev.yaml", "project: dev-project\n")
    write("config/prod.yaml", "project: prod-project\n")

    assert load_settings().project == "dev-project"

    monkeypatch.setenv("CLOUDTASKS_ENV", "prod")
    settings = load_settings()
    assert (settings.env, settings.project, settings.location) == (
        "prod",
        "prod-project",
        "base-loc",
    )
    assert load_settings(env="dev").project == "dev-project"


def test_env_file_is_read_below_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    write("config/base.yaml", "project: from-yaml\nlocation: from-yaml\n")
    write("config/prod.yaml", "base_url: https://prod.example.com\n")
    write(
        ".env",
        """
        # comments and other tools' variables are fine
        DATABASE_URL=postgres://localhost/db
        CLOUDTASKS_ENV=prod
        CLOUDTASKS_PROJECT=from-dotenv
        CLOUDTASKS_LOCATION=from-dotenv
        CLOUDTASKS_QUEUES__KITCHEN__DISPATCH_DEADLINE=2m
        """,
    )
    monkeypatch.setenv("CLOUDTASKS_LOCATION", "from-env")

    settings = load_settings()

    assert settings.project == "from-dotenv"
    assert settings.location == "from-env"
    assert settings.base_url == "https://prod.example.com"  # .env chose prod.yaml
    assert settings.queues["kitchen"].dispatch_deadline == timedelta(minutes=2)


def test_config_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write("elsewhere/base.yaml", "project: elsewhere\n")
    monkeypatch.setenv("CLOUDTASKS_CONFIG_DIR", str(tmp_path / "elsewhere"))
    assert load_settings().project == "elsewhere"


def test_explicit_config_dir_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDTASKS_CONFIG_DIR", "no/such/dir")
    message = config_error()
    assert "CLOUDTASKS_CONFIG_DIR" in message
    assert "no/such/dir" in message


def test_missing_env_file_is_fine() -> None:
    write("config/base.yaml", "project: base-only\n")
    assert load_settings(env="staging").project == "base-only"


def test_yaml_source_remembers_the_file_of_each_key() -> None:
    write("config/base.yaml", "queues: {kitchen: {id: k, retry: {max_attempts: 1}}}\n")
    write("config/test.yaml", "queues: {kitchen: {retry: {max_doublings: 2}}}\n")
    source = LayeredYamlSettingsSource(KitSettings, env="test")

    data = source()

    assert data == {
        "queues": {"kitchen": {"id": "k", "retry": {"max_attempts": 1, "max_doublings": 2}}}
    }
    base, test = Path("config/base.yaml"), Path("config/test.yaml")
    assert source.origin(("queues", "kitchen", "id")) == base
    assert source.origin(("queues", "kitchen", "retry", "max_doublings")) == test
    assert source.origin(("queues", "kitchen", "retry")) == test  # the last file inside it
    assert source.origin(("project",)) is None


# --- errors name the key and where it came from ------------------------------------------------


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env: prod\n", "set CLOUDTASKS_ENV instead"),
        ("config_dir: x\n", "set CLOUDTASKS_CONFIG_DIR instead"),
        ("project: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping of settings, not a list"),
        ("5: x\n", "unknown key 5"),
    ],
)
def test_unusable_yaml_file_names_the_file(text: str, expected: str) -> None:
    write("config/dev.yaml", text)
    message = config_error()
    assert message.startswith("config/dev.yaml: ")
    assert expected in message


@pytest.mark.parametrize("env", ["../etc", "prod/x", "", ".hidden"])
def test_environment_name_cannot_leave_the_config_dir(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("CLOUDTASKS_ENV", env)
    assert "CLOUDTASKS_ENV" in config_error()


def test_error_messages_do_not_echo_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # Values may be secrets; the key and its source are enough to find the problem.
    monkeypatch.setenv("CLOUDTASKS_TASK_CREATE_TIMEOUT", "hunter2-s3cr3t")
    message = config_error()
    assert "hunter2-s3cr3t" not in message
    assert "input_value" not in message


def _walk_fields(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every leaf field of the settings tree by dotted name (dict keys shown as ``*``)."""
    leaves: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if get_origin(annotation) is dict:
            leaves.update(_walk_fields(args[-1], f"{prefix}{name}.*."))
        elif len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            leaves.update(_walk_fields(args[0], f"{prefix}{name}."))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves.update(_walk_fields(annotation, f"{prefix}{name}."))
        else:
            leaves[prefix + name] = annotation
    return leaves


def test_secret_like_fields_are_secretstr() -> None:
    # No setting is secret today; this keeps it that way for plain strings: a token, key or
    # password added later must be a SecretStr, so that it never shows in repr() or logs.
    secretish = re.compile(r"secret|token|password|private_key|api_key|credential", re.I)
    for name, annotation in _walk_fields(KitSettings).items():
        if secretish.search(name):
            assert SecretStr in {annotation, *get_args(annotation)}, name


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("0.5h", timedelta(minutes=30)),
        ("90", timedelta(seconds=90)),
        (45, timedelta(seconds=45)),
        ("PT20S", timedelta(seconds=20)),
        ("00:01:00", timedelta(minutes=1)),
    ],
)
def test_durations(raw: object, expected: timedelta) -> None:
    assert load_settings(dispatch_deadline=raw).dispatch_deadline == expected


@pytest.mark.parametrize("raw", ["14s", "31m", "-20s"])
def test_dispatch_deadline_limits(raw: str) -> None:
    assert "dispatch_deadline (from load_settings() argument" in config_error(dispatch_deadline=raw)


def test_retry_backoff_order() -> None:
    message = config_error(queues={"q": {"retry": {"min_backoff": "1m", "max_backoff": "1s"}}})
    assert "queues.q.retry" in message
    assert "min_backoff must not be greater than max_backoff" in message


@pytest.mark.parametrize("host", ["127.0.0.1:8123", "localhost:1", "[::1]:8123"])
def test_emulator_host_accepts_host_port(host: str) -> None:
    assert load_settings(emulator_host=host).emulator_host == host


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "http://127.0.0.1:8123", "::1:8123", "host:0", "host:70000", ":8123"]
)
def test_emulator_host_rejects_other_forms(host: str) -> None:
    assert "must be host:port" in config_error(emulator_host=host)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_url", "127.0.0.1:8000"),
        ("project", "projects/p"),
        ("location", "europe west1"),
        ("scheduler_job_prefix", "my app"),
        ("default_queue", "bad_queue"),
    ],
)
def test_values_are_checked_at_start(field: str, value: str) -> None:
    assert f"{field} (from load_settings() argument '{field}')" in config_error(**{field: value})


def test_queue_id_defaults_to_key_and_must_be_valid() -> None:
    write("config/base.yaml", "queues:\n  mail:\n  kitchen_orders: {}\n")
    message = config_error()
    assert "queues.kitchen_orders.id (from config/base.yaml)" in message
    assert "set its 'id'" in message
    assert "mail" not in message

    write("config/base.yaml", "queues:\n  mail:\n  kitchen_orders: {id: kitchen-orders}\n")
    queues = load_settings().queues
    assert queues == {
        "mail": QueueSettings(id="mail"),
        "kitchen_orders": QueueSettings(id="kitchen-orders"),
    }


# --- queue paths -------------------------------------------------------------------------------

FULL = "projects/other/locations/asia-east1/queues/remote"


@pytest.fixture
def queued() -> KitSettings:
    return load_settings(
        project="p",
        location="l",
        default_queue="kitchen",
        queues={"kitchen": {"id": "kitchen-orders"}, "mail": {}},
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, "projects/p/locations/l/queues/kitchen-orders"),
        ("kitchen", "projects/p/locations/l/queues/kitchen-orders"),
        ("mail", "projects/p/locations/l/queues/mail"),
        ("adhoc-queue", "projects/p/locations/l/queues/adhoc-queue"),
        (FULL, FULL),
    ],
)
def test_queue_path_resolution(queued: KitSettings, name: str | None, expected: str) -> None:
    assert queued.queue_path(name) == expected


def test_default_queue_may_be_a_full_path() -> None:
    assert load_settings(default_queue=FULL).queue_path(None) == FULL


def test_queue_path_without_default_queue() -> None:
    with pytest.raises(ConfigurationError, match="no queue given and CLOUDTASKS_DEFAULT_QUEUE"):
        load_settings(project="p", location="l").queue_path(None)


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"location": "l"}, "CLOUDTASKS_PROJECT is not set"),
        ({"project": "p"}, "CLOUDTASKS_LOCATION is not set"),
        ({}, "CLOUDTASKS_PROJECT and CLOUDTASKS_LOCATION are not set"),
    ],
)
def test_queue_path_needs_project_and_location(settings: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigurationError, match=missing):
        load_settings(**settings).queue_path("kitchen")


@pytest.mark.parametrize("name", ["a/b", "bad_queue", "", "projects/p/queues/q"])
def test_queue_path_rejects_malformed_names(queued: KitSettings, name: str) -> None:
    with pytest.raises(ConfigurationError, match="neither a key of queues, a queue id nor"):
        queued.queue_path(name)


def test_queue_settings(queued: KitSettings) -> None:
    kitchen = queued.queues["kitchen"]
    assert queued.queue_settings(None) is kitchen
    assert queued.queue_settings("kitchen") is kitchen
    assert queued.queue_settings("kitchen-orders") is kitchen
    assert queued.queue_settings("projects/p/locations/l/queues/kitchen-orders") is kitchen
    assert queued.queue_settings("projects/x/locations/l/queues/kitchen-orders") is None
    assert queued.queue_settings("adhoc-queue") is None
    assert load_settings().queue_settings(None) is None


def test_module_queue_path() -> None:
    assert queue_path("p", "l", "q") == "projects/p/locations/l/queues/q"
    assert queue_path(project="p", location="l", queue="q") == "projects/p/locations/l/queues/q"
    with pytest.raises(ValueError, match="location"):
        queue_path("p", "a/b", "q")


# --- the shipped files, run as tests so they cannot rot ----------------------------------------


@pytest.mark.parametrize("env", ["dev", "test", "prod"])
def test_shipped_config_files_load(env: str) -> None:
    settings = load_settings(env=env, config_dir=REPO / "config")
    assert settings.project is not None
    assert settings.queue_path(None).startswith(f"projects/{settings.project}/")
    assert settings.queues["kitchen"].id == "kitchen-orders"  # from base.yaml


def test_shipped_environments_differ_as_documented() -> None:
    dev, test, prod = (
        load_settings(env=env, config_dir=REPO / "config") for env in ("dev", "test", "prod")
    )
    assert dev.emulator_host == test.emulator_host == "127.0.0.1:8123"
    assert dev.base_url == "http://127.0.0.1:8000"
    assert (dev.auth.enabled, dev.auth.issuer) == (True, "http://127.0.0.1:8124")
    assert test.auth.enabled is False
    assert prod.emulator_host is None
    assert prod.oidc is not None
    assert (prod.auth.enabled, prod.auth.issuer) == (True, "https://accounts.google.com")


def _example_lines() -> dict[str, str]:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^# (CLOUDTASKS_[A-Z0-9_]+)=(.*)$", text, flags=re.MULTILINE))


def test_env_example_lists_every_variable() -> None:
    expected = {
        "CLOUDTASKS_" + name.replace(".*.", "__KITCHEN__").replace(".", "__").upper()
        for name in _walk_fields(KitSettings)
    }
    assert set(_example_lines()) == expected


def test_env_example_loads_when_uncommented() -> None:
    Path("config").mkdir()  # it sets CLOUDTASKS_CONFIG_DIR=./config, which must exist
    write(".env", "".join(f"{name}={value}\n" for name, value in _example_lines().items()))
    settings = load_settings()
    assert settings.queues["kitchen"].rate_limits is not None
    assert settings.auth.allowed_emails == ["cloud-tasks@my-gcp-project.iam.gserviceaccount.com"]


def test_import_reads_nothing(tmp_path: Path) -> None:
    # Broken files in the working directory must not matter until settings are loaded.
    write("config/dev.yaml", "- not a mapping\n")
    write(".env", "CLOUDTASKS_BOGUS=1\n")
    src = str(REPO / "src")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import cloudtasks_kit.settings"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": src, "CLOUDTASKS_ENV": "../nowhere"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
