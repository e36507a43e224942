"""``create_app()``: the container and the worker app, built together.

The dependency-injector FastAPI pattern: the container is created here, not at import, bound
to the app it serves, and its resources (the Cloud Tasks clients) are closed when the app
shuts down. The worker side:
retry/drop answers logged with the task's name, and a CONSUMER span per attempt.
"""

from __future__ import annotations

from dependency_injector.ext.starlette import Lifespan
from fastapi import FastAPI

from cloudtasks_kit import Container, TaskTracingMiddleware, install_task_handlers

from .tasks import router


def create_app() -> FastAPI:
    container = Container()
    app = FastAPI(title="cloudtasks-kit full example", lifespan=Lifespan(container))
    app.include_router(router, prefix="/v1")
    install_task_handlers(app)
    app.add_middleware(TaskTracingMiddleware)
    # The app's requests and lifespan use this container, and task URLs carry its prefixes.
    container.bind_app(app)
    app.state.container = container
    return app
