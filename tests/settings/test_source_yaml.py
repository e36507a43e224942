"""Tests of the YAML source: which files, how they merge, which file set a key, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudtasks_kit.settings import KitSettings, load_settings
from cloudtasks_kit.settings._source_yaml import LayeredYamlSettingsSource
from tests.settings.conftest import config_error, write

# --- which files, and how they merge --------------------------------------------------------------


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


def test_explicit_config_dir_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDTASKS_CONFIG_DIR", "no/such/dir")
    message = config_error()
    assert "CLOUDTASKS_CONFIG_DIR" in message
    assert "no/such/dir" in message


def test_an_env_argument_without_its_file_is_fine() -> None:
    # What the pytest plugin does (env="test"), in projects that have no test.yaml.
    write("config/base.yaml", "project: base-only\n")
    assert load_settings(env="staging").project == "base-only"


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_a_variable_naming_an_env_without_its_file_lists_the_files(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    write("config/base.yaml", "project: base-only\n")
    write("config/dev.yaml", "location: here\n")
    write("config/prod.yaml", "location: there\n")
    if where == ".env":
        write(".env", "CLOUDTASKS_ENV=staging\n")
    else:
        monkeypatch.setenv("CLOUDTASKS_ENV", "staging")

    message = config_error()

    assert message == (
        f"CLOUDTASKS_ENV='staging' (from {'.env' if where == '.env' else 'the environment'})"
        " names no config file: there is no config/staging.yaml (config holds base.yaml,"
        " dev.yaml, prod.yaml); set CLOUDTASKS_ENV to one of dev, prod or create"
        " config/staging.yaml"
    )


def test_a_variable_naming_an_env_next_to_base_alone_says_to_create_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write("config/base.yaml", "project: base-only\n")
    monkeypatch.setenv("CLOUDTASKS_ENV", "prod")

    assert config_error().endswith(
        "create config/prod.yaml (empty will do) or unset CLOUDTASKS_ENV"
    )


def test_a_variable_naming_an_env_with_no_yaml_at_all_is_fine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Configured from the environment alone: nothing to choose between.
    Path("config").mkdir()
    monkeypatch.setenv("CLOUDTASKS_ENV", "prod")
    monkeypatch.setenv("CLOUDTASKS_PROJECT", "from-env")
    assert load_settings().project == "from-env"


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


def test_scalar_over_a_mapping_replaces_it_and_its_origins() -> None:
    write(
        "config/base.yaml",
        """
        queues: {kitchen: {retry: {max_attempts: 1}}, mail: {id: m}}
        auth: {allowed_emails: [a@x.io]}
        """,
    )
    write(
        "config/test.yaml",
        "queues: {kitchen: {retry: null}, mail: {}}\nauth: {allowed_emails: []}\n",
    )
    source = LayeredYamlSettingsSource(KitSettings, env="test")

    assert source() == {
        "queues": {"kitchen": {"retry": None}, "mail": {"id": "m"}},
        "auth": {"allowed_emails": []},
    }
    base, test = Path("config/base.yaml"), Path("config/test.yaml")
    assert source.origin(("queues", "kitchen", "retry")) == test
    assert source.origin(("queues", "kitchen", "retry", "max_attempts")) is None  # gone with it
    assert source.origin(("queues", "mail", "id")) == base  # an empty mapping merges nothing
    assert source.origin(("auth", "allowed_emails")) == test


def test_keys_in_files_are_exact() -> None:
    # Variables and keyword arguments ignore case; a file's keys do not, at the top as below.
    write("config/base.yaml", "Project: p\nqueues: {kitchen: {Dispatch_Deadline: 60}}\n")
    message = config_error()
    assert "Project (from config/base.yaml): unknown key; did you mean 'project'?" in message
    assert "queues.kitchen.Dispatch_Deadline (from config/base.yaml): unknown key" in message


# --- files that cannot be used are named ----------------------------------------------------------


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "project: [unclosed\n",
            "not valid YAML at line 2, column 1: expected ',' or ']', but got '<stream end>'"
            " (while parsing a flow sequence that began at line 1, column 10)",
        ),
        ("a: 1\n  b: 2\n", "not valid YAML at line 2, column 4: mapping values are not allowed"),
        ("project: \x07\n", "not valid YAML: unacceptable character #x0007"),
    ],
)
def test_invalid_yaml_says_where_when_the_parser_knows(text: str, expected: str) -> None:
    write("config/dev.yaml", text)
    assert config_error().startswith(f"config/dev.yaml: {expected}")


def test_directory_in_place_of_a_file_is_an_error() -> None:
    Path("config/prod.yaml").mkdir(parents=True)
    assert config_error(env="prod") == "config/prod.yaml: cannot be read: not a file"


def test_unreadable_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    unreadable = write("config/base.yaml", "project: p\n")
    real_open = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)  # chmod would not stop root
    assert config_error() == "config/base.yaml: cannot be read: Permission denied"
