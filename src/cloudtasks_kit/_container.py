"""The dependency-injection container: settings -> clients -> hooks -> what routes resolve.

A container is inert until it is wired or bound (see :mod:`cloudtasks_kit._active` for which
container a call uses): ``container.wire(...)`` wires your modules, as in any
dependency-injector container, and makes this container the process's default;
``container.bind_app(app)`` makes it the container of one app. Override any provider in tests
(``with container.tasks_client.override(fake): ...``).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from dependency_injector import containers, providers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _active, _clients
from ._errors import ConfigurationError
from ._hooks import settings_delayed_hooks, settings_scheduled_hooks
from .producer import TaskEnqueuer
from .scheduler import JobScheduler
from .settings import load_settings
from .worker import oidc_verifier

__all__ = ["Container"]


class _KitControls(containers.Container):
    """What a kit container adds to dependency-injector's: which calls it serves."""

    def wire(
        self,
        modules: Iterable[Any] | None = None,
        packages: Iterable[Any] | None = None,
        from_package: str | None = None,
        keep_cache: bool | None = None,
        warn_unresolved: bool = False,
    ) -> None:
        """Wire ``modules`` / ``packages`` (your ``@inject`` functions), and make this the
        default container of the process: ``.delay()`` anywhere uses it from now on, until
        :meth:`unwire` or until another container is wired (see ``cloudtasks_kit._active``).

        :raises ConfigurationError: relative module names without ``from_package``.
        """
        names = [*(modules or ()), *(packages or ())]
        if from_package is None and any(isinstance(n, str) and n.startswith(".") for n in names):
            # dependency-injector would resolve them from its caller, which is this method.
            raise ConfigurationError(
                "relative module names need from_package= (or pass absolute names or modules)"
            )
        super().wire(
            modules=modules,
            packages=packages,
            from_package=from_package,
            keep_cache=keep_cache,
            warn_unresolved=warn_unresolved,
        )
        _active.wired(self)

    def unwire(self) -> None:
        """Unwire what :meth:`wire` wired; the container wired before this one (if still
        wired) becomes the default again."""
        super().unwire()
        _active.unwired(self)

    def bind_app(self, app: Any) -> None:
        """Make this the container of ``app``: its requests and its lifespan use it (with
        priority over the process's default), worker dependencies read it from
        ``request.app``, and task URLs carry every ``include_router`` prefix on the way to
        ``app`` (the ``worker_app`` provider). One container per app, one app per container.

        Call it where the app is built, before it starts (it adds an ASGI middleware).

        :raises ConfigurationError: the app or this container is bound elsewhere already.
        """
        state = app.state
        current = getattr(state, _active.APP_STATE_KEY, None)
        if current is not None and current is not self:
            raise ConfigurationError("this app is bound to another cloudtasks-kit container")
        served = self.worker_app()
        if served is not None and served is not app:
            raise ConfigurationError(
                "this container serves another app (worker_app); create one container per app"
            )
        if current is self:
            return
        self.worker_app.override(app)
        setattr(state, _active.APP_STATE_KEY, self)
        app.add_middleware(_ContainerScope, container=self)

    def bound(self) -> AbstractContextManager[None]:
        """``with container.bound(): ...``: use this container in this context (this task or
        thread, and what it starts), whatever is wired."""
        return _active.bound(self)


class _KitContainer(_KitControls, containers.DynamicContainer):
    """What ``Container()`` builds (dependency-injector builds a dynamic copy)."""


class _ContainerScope:
    """ASGI middleware of :meth:`_KitControls.bind_app`: the app's container for each request
    and for its lifespan."""

    def __init__(self, app: ASGIApp, container: Any) -> None:
        self.app = app
        self.container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with _active.bound(self.container):
            if scope["type"] == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Load the settings at start-up: invalid ones stop the server with their message,
        instead of failing the first task with a 500 that Cloud Tasks retries."""
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                self.container.settings()
            except ConfigurationError as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
        replayed = False

        async def receive_again() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return message
            return await receive()

        await self.app(scope, receive_again, send)


class Container(_KitControls, containers.DeclarativeContainer):
    """Settings, the Cloud Tasks and Cloud Scheduler clients, the hook chains, and what
    ``.delay()``, ``.schedule()`` and the worker's dependencies resolve."""

    instance_type = _KitContainer
    # Only an explicit wire() makes a container the default; a subclass that lists modules
    # here and turns auto_wire on gets that at construction, as dependency-injector does.
    wiring_config = containers.WiringConfiguration(auto_wire=False)

    #: Read from env vars, ``.env`` and ``config/<CLOUDTASKS_ENV>.yaml`` on first use.
    settings = providers.Singleton(load_settings)

    #: The FastAPI app that serves the task routes (set by ``bind_app``); when set, task URLs
    #: carry the prefixes of every ``include_router`` on the way to it.
    worker_app: providers.Object[Any] = providers.Object(None)

    tasks_client = providers.Resource(_clients.tasks_client, settings=settings)
    async_tasks_client = providers.Resource(_clients.async_tasks_client, settings=settings)
    scheduler_client = providers.Resource(_clients.scheduler_client, settings=settings)

    delayed_hooks = providers.Singleton(settings_delayed_hooks, settings=settings)

    # The enqueuers get the clients' providers, not the clients: a client is built on the first
    # task, and an async client's readiness is awaited there, without a loop round trip per call.
    task_enqueuer = providers.Factory(
        TaskEnqueuer,
        settings=settings,
        client=tasks_client.provider,
        hooks=delayed_hooks,
        worker_app=worker_app,
    )

    #: The same, on the async client: what ``adelay()`` / ``adelay_many()`` resolve.
    async_task_enqueuer = providers.Factory(
        TaskEnqueuer,
        settings=settings,
        client=async_tasks_client.provider,
        hooks=delayed_hooks,
        worker_app=worker_app,
    )

    scheduled_hooks = providers.Singleton(settings_scheduled_hooks, settings=settings)

    job_scheduler = providers.Factory(
        JobScheduler,
        settings=settings,
        client=scheduler_client,
        hooks=scheduled_hooks,
        worker_app=worker_app,
    )

    #: Checks the OIDC token of incoming task and scheduler calls (``verify_task_caller``);
    #: one per container, so its key cache serves every request.
    task_caller_verifier = providers.Singleton(oidc_verifier, settings=settings)
