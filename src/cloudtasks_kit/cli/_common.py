"""What several sub-commands share: their error type, loading ``MODULE:ATTRIBUTE``, the
settings and container, checked before any RPC, and how they talk to a person: tables, times,
progress on long listings, confirmation of what cannot be undone, ``--json`` for scripts."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

__all__: list[str] = []

USAGE = 2
FAILED = 1


class CommandError(Exception):
    """A sub-command's own failure: its message is the whole line to print."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def load_app(spec: str) -> Any:
    """The FastAPI app ``MODULE:ATTRIBUTE`` names (or what its factory returns), imported from
    the working directory as uvicorn does.

    :raises CommandError: the spec, the module or the attribute is wrong (exit 2), or
        importing the module failed (exit 1).
    """
    from fastapi import FastAPI

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"expected MODULE:ATTRIBUTE such as myapp.main:app, got {spec!r}", USAGE)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as uvicorn does: the app lives in the project
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise CommandError(
                f"no module named {missing!r} (from {spec!r}): run the command from the "
                "project's directory, or check MODULE:ATTRIBUTE",
                USAGE,
            ) from None
        raise CommandError(f"importing {module_name} failed: {exc}") from exc
    except Exception as exc:
        raise CommandError(
            f"importing {module_name} failed: {type(exc).__name__}: {exc} "
            "(run with --debug for the traceback)"
        ) from exc
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise CommandError(f"module {module_name} has no attribute {attribute!r}", USAGE) from None
    app = target if isinstance(target, FastAPI) else target() if callable(target) else target
    if not isinstance(app, FastAPI):
        raise CommandError(f"{spec} is not a FastAPI app (nor a factory returning one)", USAGE)
    return app


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last one is left as it is (it can be long)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in [header, *rows]
    )


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """``2026-05-01 12:00:00Z (in 5 min)``; ``-`` when unset."""
    if not moment or moment.timestamp() <= 0:  # an unset Timestamp is the epoch
        return "-"
    now = now or datetime.now(UTC)
    delta = (moment - now).total_seconds()
    ago = f"in {span(delta)}" if delta >= 1 else f"{span(-delta)} ago" if delta <= -1 else "now"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z ({ago})"


def span(seconds: float | timedelta) -> str:
    """``0.1s``, ``45s``, ``5m``, ``2h30m``, ``3d``: a duration as the settings write them."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    if seconds < 60:
        return f"{seconds:g}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, hours = int(seconds // 60), int(seconds // 3600)
    if hours == 0:
        return f"{minutes}m"
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{hours // 24}d"


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=False))


def message_json(message: Any) -> dict[str, Any]:
    """A resource as its REST JSON (camelCase, enums by name), as gcloud and the API show it."""
    from google.protobuf import json_format

    document: dict[str, Any] = json_format.MessageToDict(type(message).pb(message))
    return document


class Progress:
    """``listing tasks: 3000`` on stderr while a long listing runs, when stderr is a terminal
    (never in a pipe or a log); erased when done."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._shown = False

    def __call__(self, count: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{self._what}: {count}", end="", file=sys.stderr, flush=True)
            self._shown = True

    def done(self) -> None:
        if self._shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def confirm(question: str, *, yes: bool) -> None:
    """Ask before what cannot be undone; ``--yes`` answers for a script.

    :raises CommandError: not answered yes (exit 1), or no terminal to ask and no ``--yes``
        (exit 2).
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(
            f"{question.rstrip('?')}: not without confirmation, and there is no terminal to "
            "ask; pass --yes",
            USAGE,
        )
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError("cancelled: nothing was changed")


@contextmanager
def api_refusals() -> Iterator[None]:
    """The API's answers that refuse (no such queue or task, a wrong argument) as one line."""
    from google.api_core import exceptions

    try:
        yield
    except exceptions.GoogleAPICallError as exc:
        raise CommandError(f"{type(exc).__name__}: {exc.message}") from exc


def checked_container(app: Any = None) -> Any:
    """A kit container whose settings are loaded now, before any RPC (a bad setting stops the
    command with its message); with ``app``, task and job URLs carry its prefixes."""
    from .._container import Container

    container = Container()
    container.settings()  # raises ConfigurationError: exit 2 with the settings' own message
    if app is not None:
        container.worker_app.override(app)
    return container


@contextmanager
def tasks_inspector() -> Iterator[Any]:
    """A :class:`~cloudtasks_kit.ops.CloudTasksInspector` on a checked container's client; the
    container's resources are shut down when the block ends."""
    from ..ops import CloudTasksInspector

    container = checked_container()
    try:
        yield CloudTasksInspector(container.settings(), container.tasks_client())
    finally:
        container.shutdown_resources()


def carry_out(plan: Any, *, dry_run: bool) -> int:
    """``--dry-run``: print the plan. Otherwise apply it, a line per resource as it is done
    (a long sync shows its progress), then the summary. The exit code: 1 if any change failed."""
    if dry_run:
        print(plan.render())
        return 0
    failures = plan.apply(report=_say)
    print(f"{len(failures)} failed" if failures else f"done: {plan.summary()}")
    return 1 if failures else 0


def _say(line: str) -> None:
    print(line, flush=True)  # as each change is done, not at the end
