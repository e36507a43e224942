"""The console's pages and actions, served at ``/`` on the emulator's HTTP port.

Pages are rendered on the server (Jinja templates, a stylesheet, a little script; no build
step, nothing from the network). Their URLs are the resources' names:
``/projects/P/locations/L/queues/Q``, ``.../queues/Q/tasks/T``, ``/projects/P/locations/L/jobs/J``.
Each page has a live part: the script asks for it again every two seconds (the same URL with
the ``X-Console-Live`` header answers only that part) and swaps it in, so counts, states and
attempts move without a reload. Actions are forms posted to ``/console/actions``; each asks
for confirmation (the script's dialog, or a page of its own without the script), calls the
API's own method, and comes back to the page with what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2
from google.cloud import scheduler_v1, tasks_v2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .._errors import ApiError
from .._insight import Attempt, QueueCounts
from .._origin import from_another_site
from . import _format
from ._source import ConsoleSource

__all__ = ["LIVE_HEADER", "PAGE_SIZE", "console_routes"]

_HERE = Path(__file__).parent
#: Tasks per page of a queue's list.
PAGE_SIZE = 50
#: Asks a page for its live part only (what the script polls).
LIVE_HEADER = "X-Console-Live"
_QueueState: Any = tasks_v2.Queue.State
_JobState: Any = scheduler_v1.Job.State
_HttpMethod: Any = tasks_v2.HttpMethod
_FILTERS = {"": None, "waiting": False, "attempted": True}


@dataclass(frozen=True, slots=True)
class _Action:
    api: str  # "tasks" or "scheduler"
    method: str
    request: Any  # the request message class
    question: str  # {id} is the resource's id
    done: str


_ACTIONS = {
    "pause_queue": _Action(
        "tasks",
        "pause_queue",
        tasks_v2.PauseQueueRequest.pb(),
        "Pause queue {id}? Its tasks stay stored and are not sent until it is resumed.",
        "queue {id} paused",
    ),
    "resume_queue": _Action(
        "tasks",
        "resume_queue",
        tasks_v2.ResumeQueueRequest.pb(),
        "Resume queue {id}? Its due tasks are sent at once, within its rate limits.",
        "queue {id} resumed",
    ),
    "purge_queue": _Action(
        "tasks",
        "purge_queue",
        tasks_v2.PurgeQueueRequest.pb(),
        "Purge queue {id}? Every task in it is deleted without being run.",
        "queue {id} purged",
    ),
    "run_task": _Action(
        "tasks",
        "run_task",
        tasks_v2.RunTaskRequest.pb(),
        "Run task {id} now, whatever its schedule time, the queue's state and rate limits?",
        "task {id} sent",
    ),
    "delete_task": _Action(
        "tasks",
        "delete_task",
        tasks_v2.DeleteTaskRequest.pb(),
        "Delete task {id}? It will not run; its name stays taken for a while.",
        "task {id} deleted",
    ),
    "run_job": _Action(
        "scheduler",
        "run_job",
        scheduler_v1.RunJobRequest.pb(),
        "Run job {id} now, outside its schedule?",
        "job {id} started",
    ),
    "pause_job": _Action(
        "scheduler",
        "pause_job",
        scheduler_v1.PauseJobRequest.pb(),
        "Pause job {id}? It does not run until it is resumed; missed runs are not made up.",
        "job {id} paused",
    ),
    "resume_job": _Action(
        "scheduler",
        "resume_job",
        scheduler_v1.ResumeJobRequest.pb(),
        "Resume job {id}? It runs again at its next schedule time.",
        "job {id} resumed",
    ),
}


@dataclass(frozen=True, slots=True)
class _Resource:
    """What every page shows of a queue, a task or a job: its full name and its last id."""

    name: str

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[1]


@dataclass(frozen=True, slots=True)
class _QueueView(_Resource):
    location: str
    state: str
    max_dispatches_per_second: float
    max_burst_size: int
    max_concurrent_dispatches: int
    max_attempts: int
    min_backoff: float
    max_backoff: float
    max_doublings: int
    max_retry_duration: float
    purged_at: float | None
    counts: QueueCounts
    dispatch_rate: float

    @property
    def paused(self) -> bool:
        return self.state == "PAUSED"


@dataclass(frozen=True, slots=True)
class _TaskLine(_Resource):
    due: float
    dispatch_count: int
    response_count: int
    last_status: int | None
    running: bool


@dataclass(frozen=True, slots=True)
class _TaskView(_Resource):
    url: str
    method: str
    headers: list[tuple[str, str]]
    body: str
    body_kind: str
    oidc_account: str | None
    oidc_audience: str | None
    schedule_time: float | None
    create_time: float | None
    dispatch_deadline: float
    dispatch_count: int
    response_count: int
    first_attempt: float | None
    last_attempt: float | None
    last_status: str | None
    running: bool

    @property
    def queue(self) -> str:
        return self.name.rpartition("/tasks/")[0]


@dataclass(frozen=True, slots=True)
class _JobView(_Resource):
    description: str
    schedule: str
    time_zone: str
    state: str
    next_run: float | None
    last_attempt: float | None
    last_status: str | None
    last_ok: bool
    url: str
    method: str
    headers: list[tuple[str, str]]
    body: str
    body_kind: str
    oidc_account: str | None
    retry_count: int
    attempt_deadline: float

    @property
    def location(self) -> str:
        return self.name.rpartition("/jobs/")[0]

    @property
    def paused(self) -> bool:
        return self.state == "PAUSED"


def console_routes(source: ConsoleSource) -> list[BaseRoute]:
    """The console's routes, to serve beside the REST face on the emulator's HTTP port."""
    console = _Console(source)
    location = "/projects/{project}/locations/{location}"
    return [
        Route("/", console.home),
        Route(location + "/queues/{queue}", console.queue),
        Route(location + "/queues/{queue}/tasks/{task}", console.task),
        Route(location + "/jobs/{job}", console.job),
        Route("/console/actions", console.act, methods=["POST"]),
        Mount("/console/static", StaticFiles(directory=_HERE / "static")),
    ]


class _Console:
    def __init__(self, source: ConsoleSource) -> None:
        self._source = source
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters.update(
            duration=_format.duration, rate=_format.rate, status_kind=_format.status_kind
        )
        self._templates.globals.update(
            questions={key: action.question for key, action in _ACTIONS.items()},
            notice=None,
            error=None,
        )

    # -- pages ----------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        queues = [self._queue_view(queue) for queue in self._all_queues()]
        jobs = [_job_view(job) for job in self._all_jobs()]
        return self._page(request, "home.html", title="Queues and jobs", queues=queues, jobs=jobs)

    async def queue(self, request: Request) -> Response:
        name = _resource(request, "queues", "queue")
        try:
            queue = self._source.tasks.get_queue(tasks_v2.GetQueueRequest.pb()(name=name))
        except ApiError as error:
            return self._missing(request, error)
        prefix = request.query_params.get("q", "").strip()
        shown = request.query_params.get("state", "")
        after = request.query_params.get("after", "")
        rows = self._source.task_store.browse(
            name,
            after=f"{name}/tasks/{after}" if after else "",
            prefix=prefix,
            attempted=_FILTERS.get(shown),
            limit=PAGE_SIZE + 1,
        )
        lines = [
            _TaskLine(
                row.name,
                row.due,
                row.dispatch_count,
                row.response_count,
                row.last_status,
                self._source.is_running(row.name),
            )
            for row in rows[:PAGE_SIZE]
        ]
        filters = {key: value for key, value in (("q", prefix), ("state", shown)) if value}
        following = (
            "?" + urlencode({**filters, "after": lines[-1].id}) if len(rows) > PAGE_SIZE else None
        )
        return self._page(
            request,
            "queue.html",
            title=f"Queue {name.rsplit('/', 1)[1]}",
            queue=self._queue_view(queue),
            tasks=lines,
            prefix=prefix,
            shown=shown,
            paged=bool(after),
            first_page="?" + urlencode(filters),
            following=following,
        )

    async def task(self, request: Request) -> Response:
        queue = _resource(request, "queues", "queue")
        name = f"{queue}/tasks/{request.path_params['task']}"
        attempts = self._source.task_store.attempts(name)
        try:
            task = self._source.tasks.get_task(
                tasks_v2.GetTaskRequest.pb()(name=name, response_view=tasks_v2.Task.View.FULL)
            )
        except ApiError as error:
            if not attempts:
                return self._missing(request, error)
            # Ended (or deleted) recently: its attempts are still worth reading.
            return self._page(
                request,
                "task.html",
                title=f"Task {name.rsplit('/', 1)[1]}",
                name=name,
                queue_name=queue,
                task=None,
                gone=error.message,
                attempts=attempts,
            )
        return self._page(
            request,
            "task.html",
            title=f"Task {name.rsplit('/', 1)[1]}",
            name=name,
            queue_name=queue,
            task=self._task_view(task),
            gone=None,
            attempts=attempts,
        )

    async def job(self, request: Request) -> Response:
        name = _resource(request, "jobs", "job")
        try:
            job = self._source.scheduler.get_job(scheduler_v1.GetJobRequest.pb()(name=name))
        except ApiError as error:
            return self._missing(request, error)
        return self._page(
            request,
            "job.html",
            title=f"Job {name.rsplit('/', 1)[1]}",
            job=_job_view(job),
            attempts=self._source.job_store.attempts(name),
        )

    # -- actions --------------------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        if from_another_site(request):
            # Another site's page posting here (a purge, say) from the user's browser.
            return self._render(
                "error.html", 403, title="Refused", message="an action from another site"
            )
        form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)

        def field(key: str) -> str:
            return form.get(key, [""])[0]

        action = _ACTIONS.get(field("action"))
        name = field("name")
        back = _local(field("next"))
        if action is None or not name:
            return self._render("error.html", 400, title="Unknown action", message="unknown action")
        resource_id = name.rsplit("/", 1)[-1]
        if field("confirmed") != "1":
            # Without the script, confirming is a page of its own.
            return self._render(
                "confirm.html",
                200,
                title="Confirm",
                question=action.question.format(id=resource_id),
                action=field("action"),
                name=name,
                back=back,
            )
        core = self._source.tasks if action.api == "tasks" else self._source.scheduler
        try:
            getattr(core, action.method)(action.request(name=name))
        except ApiError as error:
            return _redirect(back, error=error.message)
        return _redirect(back, notice=action.done.format(id=resource_id))

    # -- reading --------------------------------------------------------------------------

    def _all_queues(self) -> list[Any]:
        locations = sorted(
            {name.rpartition("/queues/")[0] for name, _ in self._source.task_store.queues()}
        )
        return [
            queue
            for location in locations
            for queue in self._source.tasks.list_queues(
                tasks_v2.ListQueuesRequest.pb()(parent=location, page_size=1000)
            ).queues
        ]

    def _all_jobs(self) -> list[Any]:
        locations = sorted(
            {name.rpartition("/jobs/")[0] for name, _ in self._source.job_store.jobs()}
        )
        return [
            job
            for location in locations
            for job in self._source.scheduler.list_jobs(
                scheduler_v1.ListJobsRequest.pb()(parent=location, page_size=500)
            ).jobs
        ]

    def _queue_view(self, queue: Any) -> _QueueView:
        rate, retry = queue.rate_limits, queue.retry_config
        return _QueueView(
            name=queue.name,
            location=queue.name.rpartition("/queues/")[0],
            state=_QueueState(queue.state).name,
            max_dispatches_per_second=rate.max_dispatches_per_second,
            max_burst_size=rate.max_burst_size,
            max_concurrent_dispatches=rate.max_concurrent_dispatches,
            max_attempts=retry.max_attempts,
            min_backoff=retry.min_backoff.ToTimedelta().total_seconds(),
            max_backoff=retry.max_backoff.ToTimedelta().total_seconds(),
            max_doublings=retry.max_doublings,
            max_retry_duration=retry.max_retry_duration.ToTimedelta().total_seconds(),
            purged_at=_format.seconds_of(queue.purge_time),
            counts=self._source.queue_counts(queue.name),
            dispatch_rate=self._source.dispatch_rate(queue.name),
        )

    def _task_view(self, task: Any) -> _TaskView:
        http = task.http_request
        body, kind = _format.body_text(http.body)
        oidc = http.oidc_token if http.HasField("oidc_token") else None
        last = task.last_attempt
        last_status = None
        if task.HasField("last_attempt") and last.HasField("response_status"):
            last_status = last.response_status.message or "OK"
        return _TaskView(
            name=task.name,
            url=http.url,
            method=_HttpMethod(http.http_method).name,
            headers=sorted(http.headers.items(), key=lambda item: item[0].lower()),
            body=body,
            body_kind=kind,
            oidc_account=oidc.service_account_email if oidc is not None else None,
            oidc_audience=(oidc.audience or http.url) if oidc is not None else None,
            schedule_time=_format.seconds_of(task.schedule_time),
            create_time=_format.seconds_of(task.create_time),
            dispatch_deadline=task.dispatch_deadline.ToTimedelta().total_seconds(),
            dispatch_count=task.dispatch_count,
            response_count=task.response_count,
            first_attempt=_format.seconds_of(task.first_attempt.dispatch_time),
            last_attempt=_format.seconds_of(last.dispatch_time),
            last_status=last_status,
            running=self._source.is_running(task.name),
        )

    # -- answers --------------------------------------------------------------------------

    def _page(self, request: Request, template: str, **context: Any) -> Response:
        # The live part alone when the script asks for it: the same data, a smaller answer.
        live = request.headers.get(LIVE_HEADER) == "1"
        context |= {
            "notice": request.query_params.get("notice"),
            "error": request.query_params.get("error"),
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        }
        name = f"live/{template}" if live else template
        return self._render(name, 200, **context)

    def _missing(self, request: Request, error: ApiError) -> Response:
        return self._render("error.html", 404, title="Not found", message=error.message)

    def _render(self, template: str, status: int, **context: Any) -> Response:
        now = self._source.clock.now()
        context |= {
            "now": now,
            "clock_offset": self._source.clock.offset,
            "moment": _moment(now),
            "attempt_kind": _attempt_kind,
        }
        html = self._templates.get_template(template).render(context)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _moment(now: float) -> Callable[[float | None], Any]:
    def moment(seconds: float | None) -> Any:
        return _format.moment(seconds, now)

    return moment


def _attempt_kind(attempt: Attempt) -> str:
    return _format.status_kind(attempt.status, attempt.responded)


def _job_view(job: Any) -> _JobView:
    target = job.http_target
    body, kind = _format.body_text(target.body)
    attempted = job.HasField("last_attempt_time")
    ok = attempted and job.status.code == 0
    return _JobView(
        name=job.name,
        description=job.description,
        schedule=job.schedule,
        time_zone=job.time_zone or "UTC",
        state=_JobState(job.state).name,
        next_run=_format.seconds_of(job.schedule_time),
        last_attempt=_format.seconds_of(job.last_attempt_time),
        last_status=("OK" if ok else job.status.message or f"code {job.status.code}")
        if attempted
        else None,
        last_ok=ok,
        url=target.uri,
        method=_HttpMethod(target.http_method).name,
        headers=sorted(target.headers.items(), key=lambda item: item[0].lower()),
        body=body,
        body_kind=kind,
        oidc_account=target.oidc_token.service_account_email
        if target.HasField("oidc_token")
        else None,
        retry_count=job.retry_config.retry_count,
        attempt_deadline=job.attempt_deadline.ToTimedelta().total_seconds(),
    )


def _resource(request: Request, collection: str, key: str) -> str:
    params = request.path_params
    return f"projects/{params['project']}/locations/{params['location']}/{collection}/{params[key]}"


def _local(target: str) -> str:
    """Where to come back to: a path on this server only (never another site)."""
    parts = urlsplit(target)
    # Browsers read "/\\host" as "//host": another site.
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return "/"
    return target


def _redirect(back: str, **message: str) -> Response:
    path, _, query = back.partition("?")
    kept: Mapping[str, list[str]] = {
        key: values for key, values in parse_qs(query).items() if key not in ("notice", "error")
    }
    pairs = [(key, value) for key, values in kept.items() for value in values]
    pairs += list(message.items())
    return RedirectResponse(f"{path}?{urlencode(pairs)}", status_code=303)
