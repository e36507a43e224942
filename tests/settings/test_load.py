"""Tests of load_settings as a whole: every source, their priority, the shipped files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cloudtasks_kit.settings import KitSettings, load_settings
from tests.settings.conftest import REPO, walk_fields, write

# --- sources and priorities -----------------------------------------------------------------------


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


# --- the shipped files, run as tests so they cannot rot -------------------------------------------


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
        for name in walk_fields(KitSettings)
    }
    assert set(_example_lines()) == expected


def test_env_example_loads_when_uncommented() -> None:
    Path("config").mkdir()  # it sets CLOUDTASKS_CONFIG_DIR=./config, which must exist
    write("config/base.yaml", "queues: {kitchen-dead: {}}\n")  # the dead_letter it names
    write("config/dev.yaml", "")  # its CLOUDTASKS_ENV=dev names a file that must exist
    write(".env", "".join(f"{name}={value}\n" for name, value in _example_lines().items()))
    settings = load_settings()
    assert settings.queues["kitchen"].rate_limits is not None
    assert settings.queues["kitchen"].dead_letter == "kitchen-dead"
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
