"""The container: settings per environment, provider overrides, clients built late and closed,
and which container serves a call when several exist."""

import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from dependency_injector import providers
from fastapi import APIRouter, Depends, FastAPI

from cloudtasks_kit import (
    ConfigurationError,
    Container,
    ContainerNotWired,
    DelayedRoute,
    delayer,
    verify_task_caller,
)
from cloudtasks_kit.settings import load_settings
from cloudtasks_kit.testing import (
    AsyncEagerTasksClient,
    BackgroundServer,
    EagerTasksClient,
    EmulatorProcess,
)
from tests.support import Inbox, RecordingWorker, TestClient, emulator_rpcs

PARENT = "projects/test-project/locations/us-central1"
inbox = Inbox()
router = APIRouter(route_class=DelayedRoute)


@router.post("/env/{n}")
def env_task(n: int) -> None:
    inbox.put("env", n)


app = FastAPI()
app.include_router(router)


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"config_dir": tmp_path, "default_queue": "default", "tracing": False}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No CLOUDTASKS_* variables and no .env: each test says what its container reads."""
    for name in list(os.environ):
        if name.upper().startswith("CLOUDTASKS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    inbox.clear()


@pytest.fixture
def containers() -> Iterator[list[Any]]:
    """Containers a test creates itself: unwired and closed afterwards."""
    made: list[Any] = []
    yield made
    for container in made:
        container.unwire()
        container.shutdown_resources()


@pytest.fixture
def workers() -> Iterator[tuple[RecordingWorker, str, RecordingWorker, str]]:
    first, second = RecordingWorker(), RecordingWorker()
    with BackgroundServer(first.app) as a, BackgroundServer(second.app) as b:
        yield first, a.url, second, b.url


def ensure_queues(emulator: EmulatorProcess, *queue_ids: str) -> None:
    client = emulator.tasks_client()
    try:
        for queue_id in queue_ids:
            client.update_queue(queue={"name": f"{PARENT}/queues/{queue_id}"})
    finally:
        client.transport.close()


def wired(container: Any) -> Any:
    """``container`` wired as the process's default, serving this module's ``app`` (which
    holds the routes: no app, no task URL)."""
    container.worker_app.override(app)
    container.wire()
    return container


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_environment_switch_changes_where_tasks_go(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cloudtasks_emulator: EmulatorProcess,
    containers: list[Any],
    workers: tuple[RecordingWorker, str, RecordingWorker, str],
) -> None:
    first, first_url, second, second_url = workers
    config = tmp_path / "config"
    write(config / "base.yaml", "project: test-project\nlocation: us-central1\ntracing: false\n")
    write(config / "alpha.yaml", f"default_queue: alpha-q\nbase_url: {first_url}\n")
    write(config / "beta.yaml", "queues: {main: {id: beta-q}}\ndefault_queue: main\n")
    ensure_queues(cloudtasks_emulator, "alpha-q", "beta-q")
    monkeypatch.setenv("CLOUDTASKS_EMULATOR_HOST", cloudtasks_emulator.grpc_target)
    monkeypatch.setenv("CLOUDTASKS_BASE_URL", second_url)  # env beats YAML...

    monkeypatch.setenv("CLOUDTASKS_ENV", "alpha")
    containers.append(wired(Container()))
    alpha = delayer(env_task).delay(n=1)

    monkeypatch.setenv("CLOUDTASKS_ENV", "beta")
    containers.append(wired(Container()))
    beta = delayer(env_task).delay(n=2)

    assert alpha.queue == f"{PARENT}/queues/alpha-q"
    assert beta.queue == f"{PARENT}/queues/beta-q"
    # ...so both go to the second worker: alpha.yaml's base_url is overridden.
    assert [r.path for r in second.wait_for("/env/2", 1)] == ["/env/2"]
    assert [r.path for r in second.wait_for("/env/1", 1)] == ["/env/1"]
    assert first.count("/env/1") == 0


def test_environment_switch_changes_the_worker(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cloudtasks_emulator: EmulatorProcess,
    containers: list[Any],
    workers: tuple[RecordingWorker, str, RecordingWorker, str],
) -> None:
    first, first_url, second, second_url = workers
    for env, url in (("alpha", first_url), ("beta", second_url)):
        write(
            tmp_path / "envs" / f"{env}.yaml",
            f"project: test-project\nlocation: us-central1\nbase_url: {url}\n"
            f"default_queue: {env}-q\ntracing: false\n",
        )
    ensure_queues(cloudtasks_emulator, "alpha-q", "beta-q")
    monkeypatch.setenv("CLOUDTASKS_CONFIG_DIR", str(tmp_path / "envs"))
    monkeypatch.setenv("CLOUDTASKS_EMULATOR_HOST", cloudtasks_emulator.grpc_target)

    for env, n in (("alpha", 3), ("beta", 4), ("alpha", 5)):
        monkeypatch.setenv("CLOUDTASKS_ENV", env)
        containers.append(wired(Container()))
        delayer(env_task).delay(n=n)

    assert [r.path for r in first.wait_for("/env/5", 1)] == ["/env/5"]
    assert [r.path for r in first.wait_for("/env/3", 1)] == ["/env/3"]
    assert [r.path for r in second.wait_for("/env/4", 1)] == ["/env/4"]
    assert first.count("/env/4") == second.count("/env/3") == second.count("/env/5") == 0


def test_provider_override_sends_to_the_fake(
    cloudtasks_container: Any, cloudtasks_emulator: EmulatorProcess
) -> None:
    fake = EagerTasksClient()
    before = emulator_rpcs(cloudtasks_emulator.http_url).get("CreateTask", 0)

    with cloudtasks_container.tasks_client.override(fake):
        faked = delayer(env_task).delay(n=6)
    assert emulator_rpcs(cloudtasks_emulator.http_url).get("CreateTask", 0) == before

    real = delayer(env_task).delay(n=7)

    assert [task.name for task in fake.tasks] == [faked.name]
    assert emulator_rpcs(cloudtasks_emulator.http_url).get("CreateTask", 0) == before + 1
    assert inbox.wait_for("env") == [7]
    assert real.name != faked.name


def test_clients_are_built_on_first_use_and_closed_on_shutdown(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cloudtasks_emulator: EmulatorProcess,
    containers: list[Any],
    workers: tuple[RecordingWorker, str, RecordingWorker, str],
) -> None:
    worker, url, _, _ = workers
    ensure_queues(cloudtasks_emulator, "default")
    channels: list[grpc.Channel] = []
    real_channel = grpc.insecure_channel

    def spy(target: str, *args: Any, **kwargs: Any) -> grpc.Channel:
        channel = real_channel(target, *args, **kwargs)
        channels.append(channel)
        return channel

    monkeypatch.setattr(grpc, "insecure_channel", spy)
    # Read only when first needed: a bad value here does not stop the container's creation.
    monkeypatch.setenv("CLOUDTASKS_PROJECT", "not/a/project")
    container = wired(Container())
    containers.append(container)
    assert channels == []
    with pytest.raises(ConfigurationError, match="CLOUDTASKS_PROJECT"):
        container.settings()

    settings = load_settings(
        config_dir=tmp_path,
        project="test-project",
        location="us-central1",
        default_queue="default",
        emulator_host=cloudtasks_emulator.grpc_target,
        base_url=url,
        tracing=False,
    )
    with container.settings.override(settings):
        assert channels == []
        delayer(env_task).delay(n=8)
        delayer(env_task).delay(n=9)
        assert len(channels) == 1  # one client for both calls
        client = container.tasks_client()
        worker.wait_for("/env/9", 1)

        container.shutdown_resources()

        with pytest.raises(ValueError, match="closed channel"):
            client.get_queue(name=f"{PARENT}/queues/default")


def test_nothing_happens_at_import() -> None:
    code = textwrap.dedent(
        """
        import os
        import grpc, google.auth

        def refuse(*args, **kwargs):
            raise AssertionError("called at import or creation")

        grpc.insecure_channel = grpc.secure_channel = google.auth.default = refuse
        os.environ["CLOUDTASKS_PROJECT"] = "not/a/project"  # settings are not read either
        import cloudtasks_kit, cloudtasks_kit.testing.pytest_plugin, cloudtasks_kit.testing
        cloudtasks_kit.Container()
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Any credential lookup fails: no key file, no gcloud config, no metadata server."""
    import google.auth

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("looked up credentials")

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setattr(google.auth, "default", refuse)


@pytest.fixture
def from_environment(
    monkeypatch: pytest.MonkeyPatch,
    cloudtasks_emulator: EmulatorProcess,
    workers: tuple[RecordingWorker, str, RecordingWorker, str],
) -> RecordingWorker:
    """The basics from the environment alone, with the documented names."""
    worker, url, _, _ = workers
    ensure_queues(cloudtasks_emulator, "env-only")
    for name, value in {
        "CLOUDTASKS_PROJECT": "test-project",
        "CLOUDTASKS_LOCATION": "us-central1",
        "CLOUDTASKS_BASE_URL": url,
        "CLOUDTASKS_DEFAULT_QUEUE": "env-only",
        "CLOUDTASKS_EMULATOR_HOST": cloudtasks_emulator.grpc_target,
        "CLOUDTASKS_ENV": "test",
        "CLOUDTASKS_TRACING": "false",
    }.items():
        monkeypatch.setenv(name, value)
    return worker


@pytest.mark.usefixtures("no_credentials")
def test_emulator_needs_no_credentials(
    from_environment: RecordingWorker, containers: list[Any]
) -> None:
    containers.append(wired(Container()))

    result = delayer(env_task).delay(n=10)

    assert result.queue == f"{PARENT}/queues/env-only"
    from_environment.wait_for("/env/10", 1)


@pytest.mark.usefixtures("no_credentials")
async def test_async_client_for_the_emulator(from_environment: RecordingWorker) -> None:
    container = Container()
    try:
        # A Resource built from an async generator: calling the provider gives an awaitable.
        client = await cast(Awaitable[Any], container.async_tasks_client())
        queue = await client.get_queue(name=f"{PARENT}/queues/env-only")
        assert queue.name == f"{PARENT}/queues/env-only"
    finally:
        container.unwire()
        shutdown = container.shutdown_resources()
        assert shutdown is not None  # an async resource was open
        await shutdown


def test_worker_app_adds_mount_prefixes(
    tmp_path: Path, containers: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    mounted = FastAPI()
    mounted.include_router(router, prefix="/mounted")
    client = EagerTasksClient(mounted)
    settings = load_settings(
        config_dir=tmp_path, project="p", location="l", default_queue="q", base_url="http://w"
    )
    container = Container(
        settings=providers.Object(settings),
        tasks_client=providers.Object(client),
        worker_app=providers.Object(mounted),
    )
    container.wire()
    containers.append(container)

    assert delayer(env_task).delay(n=11).url == "http://w/mounted/env/11"
    with container.worker_app.override(FastAPI()), pytest.raises(ConfigurationError, match="serve"):
        delayer(env_task).delay(n=12)
    assert inbox.get("env") == [11]


@pytest.mark.usefixtures("no_credentials")
def test_without_an_emulator_credentials_are_looked_up(
    from_environment: RecordingWorker, containers: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The counterpart of the test above: it proves the fixture would catch a lookup.
    monkeypatch.delenv("CLOUDTASKS_EMULATOR_HOST")
    containers.append(wired(Container()))

    with pytest.raises(AssertionError, match="looked up credentials"):
        delayer(env_task).delay(n=13)


# --- which container serves a call -----------------------------------------------------------


def _recording_container(
    tmp_path: Path, served: FastAPI | None = app, **settings: Any
) -> tuple[Any, EagerTasksClient]:
    """A container whose tasks are only recorded (no app runs them), and its client; it serves
    ``served`` (``None``: the app ``bind_app`` gives it later)."""
    client = EagerTasksClient()
    loaded = load_settings(
        config_dir=tmp_path,
        project="test-project",
        location="us-central1",
        default_queue="default",
        base_url="http://worker.local",
        tracing=False,
        **settings,
    )
    container = Container(
        settings=providers.Object(loaded),
        tasks_client=providers.Object(client),
        worker_app=providers.Object(served),
    )
    return container, client


def _names(client: EagerTasksClient) -> list[str]:
    return [task.name.rsplit("/", 1)[1] for task in client.tasks]


def test_a_container_serves_nothing_until_wired(tmp_path: Path, containers: list[Any]) -> None:
    container, client = _recording_container(tmp_path)
    containers.append(container)

    with pytest.raises(ContainerNotWired, match=r"wire\("):
        delayer(env_task).options(task_id="before").delay(n=1)

    container.wire()
    delayer(env_task).options(task_id="after").delay(n=1)

    assert _names(client) == ["after"]


def test_unwire_restores_the_container_wired_before(tmp_path: Path, containers: list[Any]) -> None:
    first, first_client = _recording_container(tmp_path)
    second, second_client = _recording_container(tmp_path)
    containers += [first, second]
    first.wire()
    second.wire()

    delayer(env_task).options(task_id="to-second").delay(n=1)
    second.unwire()
    delayer(env_task).options(task_id="to-first").delay(n=2)
    first.unwire()

    assert (_names(first_client), _names(second_client)) == (["to-first"], ["to-second"])
    with pytest.raises(ContainerNotWired):
        delayer(env_task).delay(n=3)


def test_wiring_again_makes_a_container_the_default_again(
    tmp_path: Path, containers: list[Any]
) -> None:
    first, first_client = _recording_container(tmp_path)
    second, second_client = _recording_container(tmp_path)
    containers += [first, second]
    first.wire()
    second.wire()
    first.wire()

    delayer(env_task).options(task_id="again").delay(n=1)
    first.unwire()  # the one wired before first's second wire()
    delayer(env_task).options(task_id="then").delay(n=2)

    assert (_names(first_client), _names(second_client)) == (["again"], ["then"])


def _trigger_app(label: str) -> FastAPI:
    """An app whose endpoints enqueue env_task, from the event loop and from the thread pool."""
    app = FastAPI()

    @app.post("/async/{n}")
    async def from_loop(n: int) -> str:
        return (await delayer(env_task).options(task_id=f"{label}-async-{n}").adelay(n=n)).task_id

    @app.post("/sync/{n}")
    def from_thread(n: int) -> str:
        return delayer(env_task).options(task_id=f"{label}-sync-{n}").delay(n=n).task_id

    app.include_router(router)
    return app


def test_two_apps_with_two_containers_in_one_process(tmp_path: Path, containers: list[Any]) -> None:
    fallback, fallback_client = _recording_container(tmp_path)
    containers.append(fallback)
    fallback.wire()
    apps = {}
    clients = {}
    for label in ("north", "south"):
        container, client = _recording_container(tmp_path, served=None)
        container.async_tasks_client.override(providers.Object(AsyncEagerTasksClient(client)))
        containers.append(container)
        app = _trigger_app(label)
        container.bind_app(app)
        apps[label], clients[label] = app, client

    for label, app in apps.items():
        with TestClient(app) as http:
            assert http.post("/async/1").json() == f"{label}-async-1"
            assert http.post("/sync/2").json() == f"{label}-sync-2"
    delayer(env_task).options(task_id="outside").delay(n=3)

    assert _names(clients["north"]) == ["north-async-1", "north-sync-2"]
    assert _names(clients["south"]) == ["south-async-1", "south-sync-2"]
    assert _names(fallback_client) == ["outside"]


def test_bound_uses_a_container_in_one_context_only(tmp_path: Path, containers: list[Any]) -> None:
    default, default_client = _recording_container(tmp_path)
    other, other_client = _recording_container(tmp_path)
    containers += [default, other]
    default.wire()

    with other.bound():
        delayer(env_task).options(task_id="inside").delay(n=1)
    delayer(env_task).options(task_id="outside").delay(n=2)

    assert (_names(other_client), _names(default_client)) == (["inside"], ["outside"])


def test_bind_app_is_one_container_per_app_and_one_app_per_container(
    tmp_path: Path, containers: list[Any]
) -> None:
    first, _ = _recording_container(tmp_path, served=None)
    second, _ = _recording_container(tmp_path, served=None)
    containers += [first, second]
    app = FastAPI()
    first.bind_app(app)
    first.bind_app(app)  # again: nothing changes

    with pytest.raises(ConfigurationError, match="another cloudtasks-kit container"):
        second.bind_app(app)
    with pytest.raises(ConfigurationError, match="one container per app"):
        first.bind_app(FastAPI())
    assert first.worker_app() is app


def test_worker_dependencies_use_the_container_of_the_app_they_serve(
    tmp_path: Path, containers: list[Any]
) -> None:
    apps = {}
    for label, enabled in (("open", False), ("checked", True)):
        container, _ = _recording_container(tmp_path, served=None, auth={"enabled": enabled})
        containers.append(container)
        app = FastAPI()

        @app.post("/task", dependencies=[Depends(verify_task_caller)])
        def task() -> None: ...

        container.bind_app(app)
        apps[label] = app

    assert TestClient(apps["open"]).post("/task").status_code == 200
    assert TestClient(apps["checked"]).post("/task").status_code == 401


def test_relative_module_names_need_from_package(containers: list[Any]) -> None:
    container = Container()
    containers.append(container)

    with pytest.raises(ConfigurationError, match="from_package"):
        container.wire(modules=[".views"])


def test_an_app_bound_to_a_container_refuses_to_start_on_bad_settings(tmp_path: Path) -> None:
    write(
        tmp_path / "worker.py",
        """
        from fastapi import FastAPI

        from cloudtasks_kit import Container

        app = FastAPI()
        Container().bind_app(app)
        """,
    )
    write(tmp_path / ".env", "CLOUDTASKS_PROJEKT=typo\n")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDTASKS_")}

    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "worker:app", "--port", "0"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 3  # uvicorn's "startup failed"
    assert "projekt (from CLOUDTASKS_PROJEKT in .env): unknown key; did you mean 'project'?" in (
        done.stderr
    )
    assert "Application startup failed" in done.stderr


def test_the_settings_are_loaded_when_the_app_starts(tmp_path: Path, containers: list[Any]) -> None:
    loads: list[int] = []

    def settings() -> Any:
        loads.append(1)
        return load_settings(config_dir=tmp_path)

    container = Container(settings=providers.Singleton(settings))
    containers.append(container)
    started = FastAPI()
    container.bind_app(started)

    with TestClient(started):
        assert loads == [1]  # at start-up, before any request
