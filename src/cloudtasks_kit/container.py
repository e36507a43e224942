"""The dependency-injection container: settings -> clients -> hooks -> what routes resolve.

Creating a :class:`Container` wires the kit's own modules, so ``.delay()`` resolves its
enqueuer from the newest container; ``container.wire(modules=[...])`` wires yours too.
Override any provider in tests (``with container.tasks_client.override(fake): ...``).
"""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from . import auth, clients
from .enqueue import TaskEnqueuer
from .hooks import settings_delayed_hooks, settings_scheduled_hooks
from .scheduled import JobScheduler
from .settings import load_settings

__all__ = ["Container"]


class Container(containers.DeclarativeContainer):
    wiring_config = containers.WiringConfiguration(
        modules=[
            "cloudtasks_kit.auth",
            "cloudtasks_kit.consumer_tracing",
            "cloudtasks_kit.delayed",
            "cloudtasks_kit.scheduled",
        ]
    )

    #: Read from env vars, ``.env`` and ``config/<CLOUDTASKS_ENV>.yaml`` on first use.
    settings = providers.Singleton(load_settings)

    #: The FastAPI app that serves the task routes; when set, task URLs carry the prefixes of
    #: every ``include_router`` on the way to it (needed on FastAPI versions that no longer
    #: copy routes on include).
    worker_app: providers.Object[Any] = providers.Object(None)

    tasks_client = providers.Resource(clients.tasks_client, settings=settings)
    async_tasks_client = providers.Resource(clients.async_tasks_client, settings=settings)
    scheduler_client = providers.Resource(clients.scheduler_client, settings=settings)
    async_scheduler_client = providers.Resource(clients.async_scheduler_client, settings=settings)

    delayed_hooks = providers.Singleton(settings_delayed_hooks, settings=settings)

    task_enqueuer = providers.Factory(
        TaskEnqueuer,
        settings=settings,
        client=tasks_client,
        hooks=delayed_hooks,
        worker_app=worker_app,
    )

    #: The same, on the async client: what ``adelay()`` / ``adelay_many()`` resolve.
    async_task_enqueuer = providers.Factory(
        TaskEnqueuer,
        settings=settings,
        client=async_tasks_client,
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
    task_caller_verifier = providers.Singleton(auth.oidc_verifier, settings=settings)
