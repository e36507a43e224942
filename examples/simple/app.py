"""The worker of the simple example: a plain FastAPI app whose task routes get ``.delay()``.

Run it against the emulator with ``make demo`` (see ``demo.py``), or by hand with one command,
``cloudtasks-kit dev examples.simple.app:app``, then ``curl localhost:8000/trigger``. Or piece
by piece: ``cloudtasks-kit emulator --data .cloudtasks/emulator.sqlite`` in one terminal,
``uvicorn examples.simple.app:app --port 8000`` in another (``config/dev.yaml`` points both at
the emulator on its default ports), then the same ``curl``.

The task and job routes accept only requests signed by Cloud Tasks / Cloud Scheduler (here:
the emulator, whose OIDC tokens ``config/dev.yaml`` trusts), as they would on Google.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header
from pydantic import BaseModel

from cloudtasks_kit import (
    Container,
    DelayedRoute,
    ScheduledRoute,
    TaskContext,
    TaskContextDep,
    install_task_handlers,
    scheduled,
    task_default_options,
    verify_task_caller,
)

log = logging.getLogger("examples.simple")


class Recipe(BaseModel):
    ingredients: list[str]


class Payload(BaseModel):
    message: str


class Kitchen:
    """What the worker ran, so the demo can show it (and wait for it without sleeping)."""

    def __init__(self) -> None:
        self.served: list[str] = []
        self.changed = threading.Condition()

    def serve(self, line: str) -> None:
        log.warning(line)
        with self.changed:
            self.served.append(line)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.served) >= count, timeout)


kitchen = Kitchen()
# Only Cloud Tasks (or the emulator) may call these: the token is checked before any handler.
tasks = APIRouter(
    route_class=DelayedRoute, prefix="/tasks", dependencies=[Depends(verify_task_caller)]
)


@tasks.post("/hello")
async def hello(p: Payload = Payload(message="Default")) -> None:
    kitchen.serve(f"hello ran with payload: {p.message}")


@tasks.post("/{restaurant}/make_dinner")
@task_default_options(queue="kitchen")
async def make_dinner(
    restaurant: str,
    recipe: Recipe,
    x_request_id: Annotated[str, Header()],
    # Filled in by the worker; the default (no task) keeps it optional for type checkers.
    task: TaskContextDep = TaskContext(),
) -> None:
    kitchen.serve(
        f"make_dinner at {restaurant} with {', '.join(recipe.ingredients)} "
        f"(request {x_request_id}, task {task.task_name}, attempt {task.attempt})"
    )


jobs = APIRouter(
    route_class=ScheduledRoute, prefix="/jobs", dependencies=[Depends(verify_task_caller)]
)


@jobs.post("/home_cook")
@scheduled(
    name="home-cook",
    schedule="0 7 * * *",
    time_zone="Asia/Kolkata",
    kwargs={"recipe": {"ingredients": ["Milk", "Cereal"]}},
)
async def home_cook(recipe: Recipe, job: TaskContextDep = TaskContext()) -> None:
    kitchen.serve(
        f"home_cook with {', '.join(recipe.ingredients)} "
        f"(job {job.job_name}, scheduled for {job.schedule_time:%H:%M} UTC)"
    )


app = FastAPI(title="cloudtasks-kit simple example")
app.include_router(tasks)
app.include_router(jobs)
install_task_handlers(app)

# The app's container: inert until the app starts, which loads the settings (a bad one stops
# the start with its message); then its requests use it, and task URLs carry its prefixes.
container = Container()
container.bind_app(app)


@app.get("/trigger")
async def trigger() -> dict[str, str]:
    # adelay: the event loop keeps serving while Cloud Tasks answers.
    result = await hello.adelay(p=Payload(message="Triggered task"))  # type: ignore[attr-defined]
    return {"task": result.name}
