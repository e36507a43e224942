"""What several sub-commands share: their error type, loading ``MODULE:ATTRIBUTE``, and the
settings and container, checked before any RPC."""

from __future__ import annotations

import importlib
import os
import sys
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


def checked_container(app: Any = None) -> Any:
    """A kit container whose settings are loaded now, before any RPC (a bad setting stops the
    command with its message); with ``app``, task and job URLs carry its prefixes."""
    from .._container import Container

    container = Container()
    container.settings()  # raises ConfigurationError: exit 2 with the settings' own message
    if app is not None:
        container.worker_app.override(app)
    return container
