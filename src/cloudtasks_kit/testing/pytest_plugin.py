"""pytest fixtures for apps built with the kit (registered as a pytest plugin).

Define a ``cloudtasks_app`` fixture returning your FastAPI app, then use:

- ``cloudtasks_container``: a wired :class:`~cloudtasks_kit.Container` whose tasks go to a
  real emulator and are run by your app served on a free loopback port (wired for the test:
  the container wired before it is the default again afterwards);
- ``cloudtasks_eager``: a wired container whose tasks run in-process at once
  (:class:`~cloudtasks_kit.testing.EagerTasksClient`, returned as ``.client``), no network;
- ``cloudtasks_emulator`` and ``cloudtasks_worker``: the parts, for tests that need them;
  ``cloudtasks_clean_emulator``: the session's emulator emptied before the test (no queue,
  task, tombstone or job of an earlier test left), via :meth:`EmulatorProcess.reset`.

``cloudtasks_container`` empties the emulator when its test ends, so that what one test left
(a task still retrying, a name kept taken) never reaches the next.

Both containers read settings as ``CLOUDTASKS_ENV=test`` would (env, ``.env``, ``config/``),
with project, location, emulator and worker filled in; override the
``cloudtasks_settings_overrides`` fixture to change any setting (``queues``, ``tracing``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from . import AsyncEagerTasksClient, BackgroundServer, EagerTasksClient, EmulatorProcess

__all__ = [
    "EagerContainer",
    "cloudtasks_app",
    "cloudtasks_clean_emulator",
    "cloudtasks_container",
    "cloudtasks_eager",
    "cloudtasks_emulator",
    "cloudtasks_settings_overrides",
    "cloudtasks_worker",
]

TEST_PROJECT = "test-project"
TEST_LOCATION = "us-central1"


@pytest.fixture
def cloudtasks_app() -> Any:
    pytest.fail("define a `cloudtasks_app` fixture that returns your FastAPI app")


@pytest.fixture
def cloudtasks_settings_overrides() -> dict[str, Any]:
    """Settings for ``cloudtasks_container`` / ``cloudtasks_eager``, over their defaults."""
    return {}


@pytest.fixture(scope="session")
def cloudtasks_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as emulator:
        yield emulator


@pytest.fixture
def cloudtasks_clean_emulator(cloudtasks_emulator: EmulatorProcess) -> EmulatorProcess:
    """The session's emulator, emptied first: no queue, task, tombstone or job of an earlier
    test is left (the ``--config`` queues are declared again; the clock stays where it is)."""
    cloudtasks_emulator.reset()
    return cloudtasks_emulator


@pytest.fixture
def cloudtasks_worker(cloudtasks_app: Any) -> Iterator[BackgroundServer]:
    with BackgroundServer(cloudtasks_app) as server:
        yield server


@pytest.fixture
def cloudtasks_container(
    cloudtasks_app: Any,
    cloudtasks_emulator: EmulatorProcess,
    cloudtasks_worker: BackgroundServer,
    cloudtasks_settings_overrides: dict[str, Any],
) -> Iterator[Any]:
    from dependency_injector import providers

    from .._container import Container
    from ..settings import load_settings

    settings = load_settings(
        **{
            "env": "test",
            "project": TEST_PROJECT,
            "location": TEST_LOCATION,
            "emulator_host": cloudtasks_emulator.grpc_target,
            "emulator_http_host": cloudtasks_emulator.http_target,
            "base_url": cloudtasks_worker.url,
            **cloudtasks_settings_overrides,
        }
    )
    settings = _with_default_queue(settings)
    container = Container(
        settings=providers.Object(settings), worker_app=providers.Object(cloudtasks_app)
    )
    container.wire()
    _ensure_queues(container, settings)
    try:
        yield container
    finally:
        container.unwire()
        container.shutdown_resources()
        # What this test left (tasks still retrying, names kept taken, jobs) goes with it.
        if cloudtasks_emulator.returncode is None:
            cloudtasks_emulator.reset()


@dataclass
class EagerContainer:
    container: Any
    client: EagerTasksClient


@pytest.fixture
def cloudtasks_eager(
    cloudtasks_app: Any, cloudtasks_settings_overrides: dict[str, Any]
) -> Iterator[EagerContainer]:
    from dependency_injector import providers

    from .._container import Container
    from ..settings import load_settings

    settings = load_settings(
        **{
            "env": "test",
            "project": TEST_PROJECT,
            "location": TEST_LOCATION,
            "emulator_host": None,
            "base_url": "http://eager.local",
            **cloudtasks_settings_overrides,
        }
    )
    settings = _with_default_queue(settings)
    client = EagerTasksClient(cloudtasks_app)
    container = Container(
        settings=providers.Object(settings),
        worker_app=providers.Object(cloudtasks_app),
        tasks_client=providers.Object(client),
        async_tasks_client=providers.Object(AsyncEagerTasksClient(client)),
    )
    container.wire()
    try:
        yield EagerContainer(container, client)
    finally:
        container.unwire()


def _with_default_queue(settings: Any) -> Any:
    # Apps whose settings name no default queue still get one in tests.
    if settings.default_queue is not None:
        return settings
    return settings.model_copy(update={"default_queue": "default"})


def _ensure_queues(container: Any, settings: Any) -> None:
    """Create the settings' default queue and named queues in the emulator as ``queues sync``
    does (idempotent): with their rate limits and retry policy, dead-letter queues paused."""
    from ..ops import ensure_queues

    ensure_queues(settings, container.tasks_client())
