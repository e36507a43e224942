"""``cloudtasks-kit dev APP``: the whole local loop in one command.

It starts the emulator (its state in ``.cloudtasks/``, a folder that ignores itself in git),
points the settings at it and at the app (project, emulator host, base URL, the OIDC account
tasks are signed for and the emulator as the issuer the worker trusts, so that routes behind
``verify_task_caller`` work as they will on Google), syncs the queues and schedules the code
declares, runs the app under uvicorn with reload, says where everything listens, and stops
everything on Ctrl-C. With reload, a change to the app's package, ``config/`` or ``.env`` also
syncs the queues and schedules again (in a fresh process, which imports the changed code), so
a job added or rescheduled in the code is live as soon as the file is saved.

The emulator and uvicorn are child processes (the kit never imports the emulator); the
settings reach the app as ``CLOUDTASKS_*`` variables, which beat ``.env`` and ``config/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import IO, Any

from ._common import USAGE, CommandError, checked_container, load_app

__all__: list[str] = []

STATE_DIR = Path(".cloudtasks")
_READY = re.compile(r"emulator ready grpc=(?P<grpc>\S+) http=(?P<http>\S+)")
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_WATCH_INTERVAL = 0.5
# What the settings use when they name none: any id does against the emulator.
_DEV_PROJECT = "local-dev"
_DEV_LOCATION = "us-central1"


def register(commands: Any, arguments: list[str]) -> None:
    dev = commands.add_parser(
        "dev",
        help="run the local loop: the emulator, queues and schedules synced, the app with reload",
        description="Start the emulator, sync the declared queues and schedules, and serve the "
        "app with uvicorn --reload, all wired together (OIDC included); Ctrl-C stops it all.",
    )
    dev.add_argument("app", help="MODULE:ATTRIBUTE of the FastAPI app, as for uvicorn")
    dev.add_argument("--host", default="127.0.0.1", help="address of the app and the emulator")
    dev.add_argument("--port", type=int, default=8000, help="the app's port (0: a free one)")
    dev.add_argument(
        "--emulator-port",
        type=int,
        default=8123,
        help="the emulator's gRPC port; its HTTP side (OIDC issuer) is the next one (0: free ones)",
    )
    dev.add_argument(
        "--data",
        type=Path,
        default=STATE_DIR / "emulator.sqlite",
        help="the emulator's state file: tasks and jobs survive a restart",
    )
    dev.add_argument(
        "--no-reload",
        dest="reload",
        action="store_false",
        help="do not restart the app when its code changes",
    )
    dev.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from ..settings import load_settings

    # Every setting is checked before anything starts: a typo stops here, with its message.
    load_settings()
    port = args.port or _free_port(args.host)
    base_url = f"http://{args.host}:{port}"
    _prepare_state(args.data)
    children: list[tuple[str, subprocess.Popen[str]]] = []
    resync: _ResyncOnChange | None = None
    with _stop_on_signals():
        try:
            emulator = _start_emulator(args)
            children.append(("emulator", emulator.process))
            os.environ.update(dev_environment(load_settings(), emulator, base_url))
            settings = load_settings()
            app = load_app(args.app)
            _sync(app)
            uvicorn = _start_uvicorn(args, port)
            children.insert(0, ("app", uvicorn))  # stopped first: no new task mid-shutdown
            answering = _wait_until_answering(base_url, uvicorn)
            if args.reload:
                resync = _ResyncOnChange(args.app, _watched(args.app, settings))
                resync.start()
            _say_where(args, settings, emulator, base_url, answering)
            return _supervise(children)
        except KeyboardInterrupt:
            return 0
        finally:
            if resync is not None:
                resync.stop()
            _stop(children)


class _Emulator:
    def __init__(self, process: subprocess.Popen[str], grpc: str, http: str) -> None:
        self.process = process
        self.grpc_target = grpc
        self.http_url = http


def dev_environment(settings: Any, emulator: Any, base_url: str) -> dict[str, str]:
    """The ``CLOUDTASKS_*`` variables that point ``settings`` at the emulator and the app.

    Addresses are always set (the dev command decides them); project, location and the OIDC
    account only where the settings have none, so ``config/dev.yaml`` keeps its say.
    """
    env = {
        "CLOUDTASKS_EMULATOR_HOST": emulator.grpc_target,
        "CLOUDTASKS_BASE_URL": base_url,
        # The worker trusts the emulator's tokens: the same check as against Google's.
        "CLOUDTASKS_AUTH__ISSUER": emulator.http_url,
    }
    project = settings.project or _DEV_PROJECT
    if settings.project is None:
        env["CLOUDTASKS_PROJECT"] = project
    if settings.location is None:
        env["CLOUDTASKS_LOCATION"] = _DEV_LOCATION
    if settings.auth.jwks_url is not None:
        env["CLOUDTASKS_AUTH__JWKS_URL"] = f"{emulator.http_url}/oauth2/v3/certs"
    if settings.oidc is None:
        account = f"tasks@{project}.iam.gserviceaccount.com"
        env["CLOUDTASKS_OIDC__SERVICE_ACCOUNT_EMAIL"] = account
    else:
        account = settings.oidc.service_account_email
    allowed = list(settings.auth.allowed_emails)
    if allowed and account not in allowed:
        env["CLOUDTASKS_AUTH__ALLOWED_EMAILS"] = json.dumps([*allowed, account])
    return env


def console_url(emulator_http_url: str) -> str | None:
    """The emulator's console, served at the root of its HTTP side."""
    return f"{emulator_http_url}/"


def _prepare_state(data: Path) -> None:
    folder = data.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if folder.resolve() == STATE_DIR.resolve():
            # The folder ignores itself: no line to add to the project's .gitignore.
            ignore = folder / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# cloudtasks-kit dev: the local emulator's state\n*\n")
    except OSError as exc:
        raise CommandError(
            f"cannot create {folder} for the emulator's state (--data): {exc.strerror}", USAGE
        ) from None


def _start_emulator(args: argparse.Namespace) -> _Emulator:
    command = [
        sys.executable,
        "-m",
        "cloudtasks_kit.emulator",
        "--host",
        args.host,
        "--port",
        str(args.emulator_port),
        "--data",
        str(args.data),
    ]
    # Its log (one line per attempt) goes to this terminal; its ready line is read here.
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = _first_line(process.stdout, _START_TIMEOUT)
    found = _READY.search(line or "")
    if found is None:
        with suppress(ProcessLookupError):
            process.kill()
        process.wait()
        raise CommandError(
            "the emulator did not start (its error is above); if another emulator holds the "
            "ports, stop it or pick others with --emulator-port (0: free ones)"
        )
    threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
    return _Emulator(process, found["grpc"], found["http"])


def _sync(app: Any, *, changes_only: bool = False) -> None:
    from ..ops import Plan, plan_queues, plan_schedules

    container = checked_container(app)
    try:
        for plan in (
            plan_queues(container.settings(), container.tasks_client()),
            plan_schedules(container.job_scheduler(), app),
        ):
            if changes_only:  # what is unchanged has no call to make
                plan = Plan(plan.kind, [c for c in plan.changes if c.call is not None])
            kind = f"{plan.kind}s sync"
            failures = plan.apply(report=partial(_say_about, kind))
            if failures:
                _say(f"{kind}: {len(failures)} failed (the app runs anyway)")
    finally:
        container.shutdown_resources()


def sync_main(spec: str) -> int:
    """What :class:`_ResyncOnChange` runs in a fresh process: :func:`_sync` for the app as its
    files are now; one line when that fails (the app's own reload shows its traceback)."""
    try:
        _sync(load_app(spec), changes_only=True)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the dev command says it
        return 130
    except CommandError as exc:
        _say(f"sync after the change failed: {exc}")
        return 1
    except Exception as exc:  # any failure of the user's code or of an RPC: one line
        _say(f"sync after the change failed: {type(exc).__name__}: {exc}")
        return 1
    return 0


class _ResyncOnChange:
    """Sync queues and schedules again whenever a watched file changes (uvicorn reloads the app
    at the same time). Polls modification times, as uvicorn's own reloader does without
    watchfiles; a burst of saves is one sync, once the files are still for one interval."""

    def __init__(self, spec: str, watched: list[tuple[Path, str, bool]]) -> None:
        self._spec = spec
        self._watched = watched
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dev-resync", daemon=True)
        self._sync: subprocess.Popen[str] | None = None
        self._seen: dict[Path, int] = {}

    def start(self) -> None:
        # The files as they are now, before "ready" is said: a change made after that is seen.
        self._seen = self._snapshot()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        sync = self._sync
        if sync is not None and sync.poll() is None:  # the thread waits on it: end it first
            sync.kill()
        self._thread.join(_STOP_TIMEOUT)

    def _run(self) -> None:
        seen = self._seen
        while not self._stopped.wait(_WATCH_INTERVAL):
            now = self._snapshot()
            if now == seen:
                continue
            while not self._stopped.wait(_WATCH_INTERVAL):  # until the saving is over
                seen, now = now, self._snapshot()
                if now == seen:
                    break
            if not self._stopped.is_set():
                self._resync()

    def _resync(self) -> None:
        _say("files changed: syncing queues and schedules again")
        code = "import sys; from cloudtasks_kit.cli._dev import sync_main; "
        code += "sys.exit(sync_main(sys.argv[1]))"
        self._sync = subprocess.Popen(
            [sys.executable, "-c", code, self._spec], stdin=subprocess.DEVNULL, text=True
        )
        self._sync.wait()

    def _snapshot(self) -> dict[Path, int]:
        times: dict[Path, int] = {}
        for folder, pattern, recursive in self._watched:
            for path in folder.rglob(pattern) if recursive else folder.glob(pattern):
                with suppress(OSError):  # deleted meanwhile: its absence is the change
                    times[path] = path.stat().st_mtime_ns
        return times


def _watched(spec: str, settings: Any) -> list[tuple[Path, str, bool]]:
    """(folder, pattern, recursive) of the files whose change calls for a sync: the app's
    package (the top-level modules only when the app is a module of the project's root, which
    holds the virtualenv too), the settings' YAML files and ``.env``."""
    package = _reload_dir(spec)
    config = settings.config_folder
    return [
        (package, "*.py", package != Path(".")),
        (config, "*.yaml", False),
        (config, "*.yml", False),
        (Path("."), ".env", False),
    ]


def _start_uvicorn(args: argparse.Namespace, port: int) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        args.app,
        "--host",
        args.host,
        "--port",
        str(port),
    ]
    if args.reload:
        # The app's own package, not the whole project: uvicorn without watchfiles polls every
        # .py file under the folder it watches, a virtualenv in the project included.
        command += ["--reload", "--reload-dir", str(_reload_dir(args.app))]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, text=True, env=dict(os.environ))


def _reload_dir(spec: str) -> Path:
    top = Path(spec.partition(":")[0].split(".")[0])
    return top if top.is_dir() else Path(".")


def _wait_until_answering(base_url: str, uvicorn: subprocess.Popen[str]) -> bool:
    import httpx

    deadline = time.monotonic() + _START_TIMEOUT
    with httpx.Client(trust_env=False, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if uvicorn.poll() is not None:
                raise CommandError(f"the app stopped (exit code {uvicorn.returncode}; see above)")
            try:
                client.get(f"{base_url}/")
            except httpx.HTTPError:
                time.sleep(0.1)  # uvicorn gives no event to wait on from another process
                continue
            return True
    return False


def _say_where(
    args: argparse.Namespace, settings: Any, emulator: _Emulator, base_url: str, answering: bool
) -> None:
    rows = [
        ("app", f"{base_url}  ({args.app}{', reload on change' if args.reload else ''})"),
        ("emulator", f"gRPC {emulator.grpc_target}, HTTP {emulator.http_url} (OIDC issuer)"),
        ("console", console_url(emulator.http_url)),
        ("state", str(args.data)),
        ("settings", f"env {settings.env}, project {settings.project}, "
         f"location {settings.location}"),
    ]  # fmt: skip
    for label, value in rows:
        if value is not None:
            _say(f"{label:9} {value}")
    if not answering:
        _say(f"the app does not answer at {base_url} yet: see its log above")
    _say("ready; Ctrl-C stops everything")


def _supervise(children: list[tuple[str, subprocess.Popen[str]]]) -> int:
    """Wait until a child ends on its own (then stop the others) or Ctrl-C."""
    while True:
        for name, process in children:
            code = process.poll()
            if code is not None:
                _say(f"the {name} stopped (exit code {code}); stopping the rest")
                return code or 1
        time.sleep(0.2)  # no portable way to wait on several children at once


def _stop(children: list[tuple[str, subprocess.Popen[str]]]) -> None:
    # A second Ctrl-C must not leave a child behind half-way through.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for _, process in children:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for _, process in children:
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if children:
        _say("stopped")


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Ctrl-C, and SIGTERM (a process manager, a test), stop everything. SIGINT is set too: a
    shell starts background commands with it ignored, and a dev loop should stop on it all the
    same."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {each: signal.signal(each, interrupt) for each in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def _first_line(stream: IO[str], timeout: float) -> str | None:
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        lines.append(stream.readline())
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout)
    return lines[0] if lines else None


def _drain(stream: IO[str]) -> None:
    with suppress(OSError, ValueError):
        for _ in stream:
            pass


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _say_about(what: str, line: str) -> None:
    _say(f"{what}: {line}")


def _say(line: str) -> None:
    print(f"[dev] {line}", flush=True)
