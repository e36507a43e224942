"""Which container serves a ``.delay()``, a ``.schedule()`` or a worker dependency.

In order, the first that applies:

1. the container bound to the current context: while a request (or the lifespan) of an app
   bound with ``container.bind_app(app)`` is handled, or inside ``with container.bound():``;
2. the container of the app handling the request, for code that has the app at hand (worker
   dependencies and middleware read ``request.app``);
3. the most recently wired container that is still wired: ``container.wire(...)`` makes a
   container the process's default and ``container.unwire()`` restores the one wired before.

Nothing else: creating a container changes nothing until it is wired or bound, and no
container takes over another's app. With none of them, :class:`ContainerNotWired`.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dependency_injector.containers import Container

from ._errors import ContainerNotWired

__all__: list[str] = []

#: Where ``bind_app`` keeps a container on ``app.state``.
APP_STATE_KEY = "cloudtasks_container"

_bound: contextvars.ContextVar[Container | None] = contextvars.ContextVar(
    "cloudtasks_kit_container", default=None
)
_wired: list[Container] = []
_lock = threading.Lock()


def active_container(app: Any = None, *, what: str = ".delay()") -> Container:
    """The container to use now (see the module's docstring).

    :param app: the app handling the current request, when the caller has it.
    :param what: what needs the container, for the error message.
    :raises ContainerNotWired: no container applies.
    """
    container = find_container(app)
    if container is not None:
        return container
    raise ContainerNotWired(
        f"no cloudtasks-kit container for {what}: create one and wire it "
        "(`container = cloudtasks_kit.Container(); container.wire(modules=[__name__])`) "
        "or bind it to your app (`container.bind_app(app)`)"
    )


def find_container(app: Any = None) -> Container | None:
    """:func:`active_container`, or ``None`` where it would raise: for the worker's per-request
    reads, which go on without a container."""
    container = _bound.get()
    if container is not None:
        return container
    if app is not None:
        state = getattr(app, "state", None)
        # Starlette's State keeps its attributes in a dict, and raises (a formatted
        # AttributeError) for a missing one: on every request of an app without a container.
        stored = getattr(state, "_state", None)
        found: Container | None = (
            stored.get(APP_STATE_KEY)
            if isinstance(stored, dict)
            else getattr(state, APP_STATE_KEY, None)
        )
        if found is not None:
            return found
    return _wired[-1] if _wired else None


def wired(container: Container) -> None:
    """Make ``container`` the process's default (again, if it was one already)."""
    with _lock:
        _forget(container)
        _wired.append(container)


def unwired(container: Container) -> None:
    """Forget ``container`` as a default; the one wired before it is the default again."""
    with _lock:
        _forget(container)


def _forget(container: Container) -> None:
    # By identity: containers are not values, and two may be configured alike.
    _wired[:] = [each for each in _wired if each is not container]


@contextmanager
def bound(container: Container) -> Iterator[None]:
    """Use ``container`` in this context (this task or thread and what it starts)."""
    token = _bound.set(container)
    try:
        yield
    finally:
        _bound.reset(token)
