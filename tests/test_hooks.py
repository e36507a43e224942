"""Hooks: the chain built from settings, then the route's, then the call's, in that order."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import APIRouter, FastAPI, Header
from google.cloud import scheduler_v1, tasks_v2
from google.protobuf import duration_pb2
from opentelemetry import trace

from cloudtasks_kit import (
    DelayedRoute,
    DelayedTaskHook,
    chained_hook,
    deadline_delayed_hook,
    deadline_scheduled_hook,
    delayer,
    oidc_delayed_hook,
    oidc_scheduled_hook,
    task_default_options,
    trace_propagation_hook,
)
from cloudtasks_kit._hooks import settings_delayed_hooks
from cloudtasks_kit.settings import load_settings
from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess
from cloudtasks_kit.testing.pytest_plugin import EagerContainer
from tests.support import Inbox

KITCHEN_SA = "kitchen@test-project.iam.gserviceaccount.com"
TASKS_SA = "tasks@test-project.iam.gserviceaccount.com"
inbox = Inbox()
trail: list[str] = []


def recording(name: str) -> DelayedTaskHook:
    """A hook that notes when it ran and adds its name to the ``x-trail`` header."""

    def hook(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        trail.append(name)
        headers = request.task.http_request.headers
        headers["x-trail"] = ",".join(filter(None, [headers.get("x-trail"), name]))
        return request

    return hook


router = APIRouter(route_class=DelayedRoute, prefix="/hooks")


@router.post("/plain")
def plain(authorization: str | None = Header(None), x_trail: str | None = Header(None)) -> None:
    inbox.put("plain", {"authorization": authorization, "x_trail": x_trail})


@router.post("/with-defaults")
@task_default_options(hooks=[recording("route")])
def with_defaults(x_trail: str | None = Header(None)) -> None:
    inbox.put("with_defaults", x_trail)


app = FastAPI()
app.include_router(router)


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {
        "config_dir": tmp_path,
        "default_queue": "default",
        "tracing": False,
        "queues": {
            "default": {},
            "kitchen": {
                "id": "kitchen-orders",
                "oidc": {"service_account_email": KITCHEN_SA, "audience": "https://kitchen"},
                "dispatch_deadline": "60s",
            },
        },
    }


@pytest.fixture(autouse=True)
def _clean() -> None:
    inbox.clear()
    trail.clear()


def created(eager: EagerContainer) -> tasks_v2.Task:
    task: tasks_v2.Task = eager.client.tasks[-1]
    return task


# --- the chain from settings ----------------------------------------------------------------------


def test_settings_hooks_only_where_configured(cloudtasks_eager: EagerContainer) -> None:
    delayer(plain).delay()
    default = created(cloudtasks_eager)
    delayer(plain).options(queue="kitchen").delay()
    kitchen = created(cloudtasks_eager)

    assert default.http_request.oidc_token.service_account_email == ""
    assert "dispatch_deadline" not in default
    assert kitchen.http_request.oidc_token == tasks_v2.OidcToken(
        service_account_email=KITCHEN_SA, audience="https://kitchen"
    )
    assert kitchen.dispatch_deadline == timedelta(seconds=60)


def test_queue_settings_override_the_top_level(tmp_path: Path) -> None:
    settings = load_settings(
        config_dir=tmp_path,
        project="p",
        location="l",
        default_queue="default",
        oidc={"service_account_email": TASKS_SA},
        dispatch_deadline="2m",
        tracing=True,
        queues={
            "kitchen": {
                "id": "kitchen-orders",
                "oidc": {"service_account_email": KITCHEN_SA},
                "dispatch_deadline": "30s",
            }
        },
    )
    hooks = settings_delayed_hooks(settings)

    def run(queue: str) -> tasks_v2.Task:
        request = tasks_v2.CreateTaskRequest(
            parent=settings.queue_path(queue), task=tasks_v2.Task(http_request={"url": "http://w"})
        )
        for hook in hooks:
            request = hook(request)
        return request.task

    assert hooks[-1] is trace_propagation_hook
    default, kitchen = run("default"), run("kitchen")
    assert (default.http_request.oidc_token.service_account_email, default.dispatch_deadline) == (
        TASKS_SA,
        timedelta(minutes=2),
    )
    assert (kitchen.http_request.oidc_token.service_account_email, kitchen.dispatch_deadline) == (
        KITCHEN_SA,
        timedelta(seconds=30),
    )


def test_no_settings_hooks_when_nothing_is_configured(tmp_path: Path) -> None:
    settings = load_settings(config_dir=tmp_path, tracing=False)

    assert settings_delayed_hooks(settings) == ()


# --- order: settings, then route defaults, then the call ------------------------------------------


def test_hooks_run_in_order(cloudtasks_eager: EagerContainer) -> None:
    container = cloudtasks_eager.container
    with container.delayed_hooks.override((recording("settings"),)):
        delayer(with_defaults).options(hooks=[recording("call-1"), recording("call-2")]).delay()

    assert trail == ["settings", "route", "call-1", "call-2"]
    # Each hook changed what the next one got, and the worker received the result.
    assert inbox.get("with_defaults") == ["settings,route,call-1,call-2"]


def test_later_options_add_hooks_after_earlier_ones(cloudtasks_eager: EagerContainer) -> None:
    with_call = delayer(with_defaults).options(hooks=recording("first"))
    with_call.options(hooks=[recording("second")]).delay()

    assert trail == ["route", "first", "second"]


def test_hooks_none_drops_the_route_hooks(cloudtasks_eager: EagerContainer) -> None:
    delayer(with_defaults).options(hooks=None).delay()

    assert trail == []
    assert inbox.get("with_defaults") == [None]


def test_call_deadline_beats_the_settings_deadline(cloudtasks_eager: EagerContainer) -> None:
    delayer(plain).options(queue="kitchen", dispatch_deadline=timedelta(minutes=2)).delay()

    assert created(cloudtasks_eager).dispatch_deadline == timedelta(minutes=2)


def test_chained_hook_applies_left_to_right() -> None:
    chain = chained_hook(recording("a"), chained_hook(recording("b"), recording("c")))

    request = chain(tasks_v2.CreateTaskRequest(task=tasks_v2.Task(http_request={"url": "x"})))

    assert trail == ["a", "b", "c"]
    assert request.task.http_request.headers["x-trail"] == "a,b,c"


# --- OIDC ---------------------------------------------------------------------------------------


def test_oidc_hook_with_a_token_as_in_the_original_library() -> None:
    token = tasks_v2.OidcToken(service_account_email=TASKS_SA, audience="https://w")

    request = oidc_delayed_hook(token=token)(tasks_v2.CreateTaskRequest())

    assert request.task.http_request.oidc_token == token


def test_oidc_hook_with_an_email() -> None:
    request = oidc_delayed_hook(service_account_email=TASKS_SA)(tasks_v2.CreateTaskRequest())
    job = oidc_scheduled_hook(service_account_email=TASKS_SA, audience="https://w")(
        scheduler_v1.CreateJobRequest()
    )

    assert request.task.http_request.oidc_token == tasks_v2.OidcToken(
        service_account_email=TASKS_SA
    )
    assert job.job.http_target.oidc_token == scheduler_v1.OidcToken(
        service_account_email=TASKS_SA, audience="https://w"
    )


_NEEDS_ONE = r"^an OIDC hook needs token= or service_account_email=$"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: oidc_delayed_hook(), _NEEDS_ONE, id="nothing"),
        pytest.param(
            lambda: oidc_delayed_hook(tasks_v2.OidcToken(), service_account_email=TASKS_SA),
            r"^pass either token= or service_account_email=/audience=, not both$",
            id="both",
        ),
        pytest.param(
            lambda: oidc_scheduled_hook(audience="https://w"), _NEEDS_ONE, id="audience-only"
        ),
    ],
)
def test_oidc_hook_needs_one_way_to_name_the_account(
    make: Callable[[], object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        make()


def test_oidc_token_reaches_the_worker(
    cloudtasks_container: Any,
    cloudtasks_emulator: EmulatorProcess,
    cloudtasks_worker: BackgroundServer,
) -> None:
    keys = jwt.PyJWKClient(f"{cloudtasks_emulator.http_url}/oauth2/v3/certs")

    delayer(plain).options(queue="kitchen").delay()  # OIDC from the queue's settings
    called = delayer(plain).options(hooks=[oidc_delayed_hook(service_account_email=TASKS_SA)])
    called.delay()  # OIDC from a per-call hook; the audience defaults to the URL

    received = [r["authorization"] for r in inbox.wait_for("plain", 2)]
    claims = []
    for header in received:
        assert header is not None
        scheme, token = header.split(" ", 1)
        assert scheme == "Bearer"
        key = keys.get_signing_key_from_jwt(token).key
        claims.append(jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False}))
    by_email = {claim["email"]: claim["aud"] for claim in claims}
    assert by_email == {
        KITCHEN_SA: "https://kitchen",
        TASKS_SA: f"{cloudtasks_worker.url}/hooks/plain",
    }


# --- deadlines ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (15, timedelta(seconds=15)),
        (90.5, timedelta(seconds=90.5)),
        (timedelta(minutes=30), timedelta(minutes=30)),
        (duration_pb2.Duration(seconds=600), timedelta(minutes=10)),
    ],
)
def test_deadline_hooks(value: Any, expected: timedelta) -> None:
    task = deadline_delayed_hook(value)(tasks_v2.CreateTaskRequest()).task
    job = deadline_scheduled_hook(value)(scheduler_v1.CreateJobRequest()).job

    assert task.dispatch_deadline == expected
    assert job.attempt_deadline == expected


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (14.9, ValueError, r"must be 15 s to 30 min, got 14\.9 s$"),
        (1801, ValueError, r"must be 15 s to 30 min, got 1801 s$"),
        (timedelta(hours=1), ValueError, r"must be 15 s to 30 min, got 3600 s$"),
        (True, TypeError, r"expected seconds or a timedelta, got True$"),
        ("30", TypeError, r"expected seconds or a timedelta, got '30'$"),
    ],
)
def test_deadline_hooks_keep_to_googles_limits(
    value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        deadline_delayed_hook(value)
    with pytest.raises(error, match=message):
        deadline_scheduled_hook(value)


def test_trace_propagation_replaces_a_traceparent_in_any_case(spans: Any) -> None:
    # Header names are case-insensitive: a caller's "Traceparent" and the hook's "traceparent"
    # would be one header twice, which the kit refuses before the RPC.
    request = tasks_v2.CreateTaskRequest(
        task=tasks_v2.Task(http_request=tasks_v2.HttpRequest(headers={"Traceparent": "00-old"}))
    )
    with trace.get_tracer("test").start_as_current_span("enqueue"):
        hooked = trace_propagation_hook(request)

    [(name, value)] = [
        (k, v) for k, v in hooked.task.http_request.headers.items() if k.lower() == "traceparent"
    ]
    assert name == "traceparent"
    assert value != "00-old"
