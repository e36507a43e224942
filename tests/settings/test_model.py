"""Tests of the settings model: value checks, queue paths, no plain-text secrets."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import get_args

import pytest
from pydantic import BaseModel, SecretStr

from cloudtasks_kit._errors import ConfigurationError
from cloudtasks_kit.settings import KitSettings, QueueSettings, load_settings, queue_path
from tests.settings.conftest import config_error, walk_fields, write

# --- values ---------------------------------------------------------------------------------------


_SECRETISH = re.compile(r"secret|token|password|private_key|api_key|credential", re.I)


def _plain_secrets(model: type[BaseModel]) -> list[str]:
    return [
        name
        for name, annotation in walk_fields(model).items()
        if _SECRETISH.search(name) and SecretStr not in {annotation, *get_args(annotation)}
    ]


def test_secret_like_fields_are_secretstr() -> None:
    # No setting is secret today; this keeps it that way for plain strings: a token, key or
    # password added later must be a SecretStr, so that it never shows in repr() or logs.
    assert _plain_secrets(KitSettings) == []


def test_the_secret_check_finds_a_plain_secret_wherever_it_is() -> None:
    class Inner(BaseModel):
        api_token: str
        password: SecretStr | None = None

    class Outer(BaseModel):
        client_secret: str = ""
        inner: Inner | None = None
        by_name: dict[str, Inner] = {}

    assert _plain_secrets(Outer) == ["client_secret", "inner.api_token", "by_name.*.api_token"]


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


# --- queue paths ----------------------------------------------------------------------------------


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


# --- dead letters ---------------------------------------------------------------------------------


RETRY = {"max_attempts": 5}


def test_dead_letter_names_another_queue_key() -> None:
    settings = load_settings(
        default_queue="kitchen",
        queues={
            "kitchen": {"dead_letter": "kitchen-dead", "retry": RETRY},
            "kitchen-dead": {"id": "graveyard"},
        },
    )
    assert settings.queues["kitchen"].dead_letter == "kitchen-dead"
    assert settings.queues["kitchen-dead"].dead_letter is None


@pytest.mark.parametrize(
    ("queues", "problem"),
    [
        (
            {"kitchen": {"dead_letter": "kitchen-ded", "retry": RETRY}, "kitchen-dead": {}},
            "queues.kitchen.dead_letter: 'kitchen-ded' is not a key of queues; "
            "did you mean 'kitchen-dead'?",
        ),
        ({"kitchen": {"dead_letter": "kitchen"}}, "'kitchen' is this queue itself"),
        (
            {"kitchen": {"dead_letter": "same"}, "same": {"id": "kitchen"}},
            "'same' is this queue itself",
        ),
        (
            {"a": {"dead_letter": "b", "retry": RETRY}, "b": {"dead_letter": "c"}, "c": {}},
            "queues.a.dead_letter: 'b' has a dead_letter of its own",
        ),
        (
            {"a": {"dead_letter": "b"}, "b": {}},
            "queues.a.dead_letter: needs retry.max_attempts of 1 or more",
        ),
        (
            {"a": {"dead_letter": "b", "retry": {"max_attempts": -1}}, "b": {}},
            "queues.a.dead_letter: needs retry.max_attempts of 1 or more",
        ),
        (
            {"a": {"dead_letter": "b", "retry": {**RETRY, "max_retry_duration": "1h"}}, "b": {}},
            "queues.a.dead_letter: needs no retry.max_retry_duration",
        ),
    ],
)
def test_dead_letter_must_be_another_plain_queue(queues: dict[str, object], problem: str) -> None:
    message = config_error(queues=queues)
    assert "queues (from load_settings() argument 'queues')" in message
    assert problem in message


@pytest.mark.parametrize("default", ["graveyard", "kitchen-dead"])
def test_the_default_queue_cannot_be_a_dead_letter_queue(default: str) -> None:
    message = config_error(
        default_queue=default,
        queues={
            "kitchen": {"dead_letter": "kitchen-dead", "retry": RETRY},
            "kitchen-dead": {"id": "graveyard"},
        },
    )
    assert "default_queue (from load_settings() argument 'default_queue')" in message
    assert "is a dead-letter queue: it is kept paused" in message


# --- resource names as Google documents them ------------------------------------------------------


@pytest.mark.parametrize(
    ("project", "location"),
    [
        ("TestProject", "TestLocation"),  # aertje's emulator's test suite
        ("123456789012", "us-central1"),  # a project number, wherever a project id goes
        ("example.com:my-project", "europe-west1"),  # a domain-scoped project id
    ],
)
def test_project_and_location_ids_as_documented(project: str, location: str) -> None:
    settings = load_settings(project=project, location=location, scheduler_location=location)
    path = f"projects/{project}/locations/{location}/queues/q"

    assert settings.queue_path("q") == path
    assert queue_path(project, location, "q") == path
    assert load_settings(default_queue=path).queue_path(None) == path
    assert settings.queue_settings(path) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project", "my_project"),
        ("project", "my project"),
        ("location", "us_central1"),
        ("location", "us.central1"),
        ("scheduler_location", "a/b"),
    ],
)
def test_ids_outside_the_documented_characters_are_refused(field: str, value: str) -> None:
    assert f"{field} (from load_settings() argument '{field}')" in config_error(**{field: value})


@pytest.mark.parametrize(
    "path",
    [
        "projects/my_project/locations/l/queues/q",
        "projects/p/locations/us_central1/queues/q",
        "projects/p/locations/l/queues/q_1",
    ],
)
def test_default_queue_paths_outside_the_documented_forms_are_refused(path: str) -> None:
    assert "default_queue" in config_error(default_queue=path)


def test_module_queue_path_checks_each_id() -> None:
    for parts, field in [(("p_1", "l", "q"), "project"), (("p", "l.1", "q"), "location")]:
        with pytest.raises(ValueError, match=field):
            queue_path(*parts)
