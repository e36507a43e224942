"""``DelayedRoute`` end to end: ``.delay()`` -> the real emulator -> a real uvicorn worker.

Each handler records what it received in :data:`inbox`; the tests assert it equals exactly what
was passed to ``.delay()``. Bad input must fail before any RPC: the emulator's own counters
(its admin endpoint) prove that no CreateTask reached it.
"""

import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Body,
    Cookie,
    Depends,
    FastAPI,
    Form,
    Header,
    Query,
    Request,
)
from google.cloud import tasks_v2
from pydantic import BaseModel, Field

from cloudtasks_kit import (
    ConfigurationError,
    ContainerNotWired,
    DelayedRoute,
    Delayer,
    InvalidTaskArguments,
    RouteNotDelayable,
    TaskAlreadyExists,
    delayer,
    task_default_options,
)
from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess
from tests.support import Inbox, RecordingWorker, emulator_rpcs, untyped

PARENT = "projects/test-project/locations/us-central1/queues"
inbox = Inbox()


class Spice(StrEnum):
    MILD = "mild"
    HOT = "hot"


class Recipe(BaseModel):
    title: str
    ingredients: list[str]
    spice: Spice = Spice.MILD


class Chef(BaseModel):
    name: str = Field(alias="chefName")
    stars: int = 0


class Tea(BaseModel):
    kind: Literal["tea"] = "tea"
    leaves: str


class Cake(BaseModel):
    kind: Literal["cake"] = "cake"
    layers: int


RECIPE = Recipe(title="Pav bhaji", ingredients=["pav", "butter", "Gewürz"], spice=Spice.HOT)

router = APIRouter(route_class=DelayedRoute, prefix="/tasks")


@router.post("/dinner/{restaurant}/{table}")
def path_task(restaurant: str, table: int) -> None:
    inbox.put("path", {"restaurant": restaurant, "table": table})


@router.post("/menu")
def query_task(
    tag: list[str] = Query([]),
    spice: Spice = Spice.MILD,
    note: str | None = None,
    page_size: int = Query(10, alias="page-size"),
) -> None:
    inbox.put("query", {"tag": tag, "spice": spice, "note": note, "page_size": page_size})


@router.post("/headers")
def header_task(x_request_id: str = Header(), x_count: int = Header(0)) -> None:
    inbox.put("header", {"x_request_id": x_request_id, "x_count": x_count})


@router.post("/cookies")
def cookie_task(session: str = Cookie(), theme: str | None = Cookie(None)) -> None:
    inbox.put("cookie", {"session": session, "theme": theme})


@router.post("/body/single")
def body_single(recipe: Recipe) -> None:
    inbox.put("body", {"recipe": recipe})


@router.post("/body/several")
def body_several(recipe: Recipe, chef: Chef, note: str = Body()) -> None:
    inbox.put("body", {"recipe": recipe, "chef": chef, "note": note})


@router.post("/body/embedded")
def body_embedded(recipe: Recipe = Body(embed=True)) -> None:
    inbox.put("body", {"recipe": recipe})


@router.post("/body/list")
def body_list(recipes: list[Recipe]) -> None:
    inbox.put("body", {"recipes": recipes})


@router.post("/body/union")
def body_union(treat: Tea | Cake) -> None:
    inbox.put("body", {"treat": treat})


@router.post("/body/dict")
def body_dict(counts: dict[str, int]) -> None:
    inbox.put("body", {"counts": counts})


@router.post("/form")
def form_task(name: str = Form(), quantity: int = Form(), tags: list[str] = Form([])) -> None:
    inbox.put("form", {"name": name, "quantity": quantity, "tags": tags})


def paging(skip: int = 0, limit: int = Query(10, le=100)) -> dict[str, int]:
    return {"skip": skip, "limit": limit}


def tenant_of(x_tenant: str = Header(), page: dict[str, int] = Depends(paging)) -> str:
    return x_tenant


@router.post("/kitchens/{kitchen}/orders")
def depends_task(
    kitchen: str,
    page: Annotated[dict[str, int], Depends(paging)],
    tenant: Annotated[str, Depends(tenant_of)],
    recipe: Recipe,
) -> None:
    inbox.put("depends", {"kitchen": kitchen, "page": page, "tenant": tenant, "recipe": recipe})


@router.post("/options/{n}")
def options_task(
    n: int,
    x_extra: str | None = Header(None),
    x_cloudtasks_tasketa: str | None = Header(None),
    x_cloudtasks_queuename: str | None = Header(None),
) -> None:
    inbox.put(
        "options",
        {
            "n": n,
            "x_extra": x_extra,
            "eta": x_cloudtasks_tasketa,
            "queue": x_cloudtasks_queuename,
            "at": time.time(),
        },
    )


@router.post("/defaults/{n}")
@task_default_options(countdown=3600, queue="kitchen", headers={"x-extra": "route"})
def defaults_task(n: int, x_extra: str | None = Header(None)) -> None:
    inbox.put("defaults", {"n": n, "x_extra": x_extra})


child = APIRouter(route_class=DelayedRoute, prefix="/kitchen")


@child.post("/cook/{dish}")
async def cook(dish: str) -> None:
    inbox.put("cook", {"dish": dish})


parent = APIRouter(prefix="/v1")
parent.include_router(child)

app = FastAPI()
app.include_router(router, prefix="/api")
app.include_router(parent)


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    # An empty config directory: these tests do not depend on the project's config/*.yaml.
    return {
        "config_dir": tmp_path,
        "default_queue": "default",
        "queues": {"default": {}, "kitchen": {"id": "kitchen-orders"}},
        "tracing": False,
    }


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


@pytest.fixture
def worker_url(cloudtasks_container: Any, cloudtasks_worker: BackgroundServer) -> str:
    return cloudtasks_worker.url


def get_task(emulator: EmulatorProcess, name: str) -> tasks_v2.Task:
    client = emulator.tasks_client()
    try:
        task: tasks_v2.Task = client.get_task(
            request={"name": name, "response_view": tasks_v2.Task.View.FULL}
        )
        return task
    finally:
        client.transport.close()


# --- every kind of parameter arrives as it was passed -------------------------------------------


@pytest.mark.parametrize("restaurant", ["Taj Mahal", "Crème brûlée ☕", "50% off?#&=+"])
def test_path_parameters_are_quoted(worker_url: str, restaurant: str) -> None:
    result = delayer(path_task).delay(restaurant=restaurant, table=7)

    assert inbox.wait_for("path") == [{"restaurant": restaurant, "table": 7}]
    assert result.url.startswith(f"{worker_url}/api/tasks/dinner/")
    assert " " not in result.url
    assert "#" not in result.url


def test_query_parameters(worker_url: str) -> None:
    result = delayer(query_task).delay(tag=["a", "b c"], spice=Spice.HOT, note=None, page_size=5)

    assert inbox.wait_for("query") == [
        {"tag": ["a", "b c"], "spice": Spice.HOT, "note": None, "page_size": 5}
    ]
    sent = parse_qsl(urlsplit(result.url).query)
    # Lists repeated, enums by value, None omitted, aliases honoured.
    assert sent == [("tag", "a"), ("tag", "b c"), ("spice", "hot"), ("page-size", "5")]


def test_header_parameters(worker_url: str, cloudtasks_emulator: EmulatorProcess) -> None:
    delayer(header_task).delay(x_request_id="req-42", x_count=3)
    pending = delayer(header_task).options(countdown=3600).delay(x_request_id="req-43")

    assert inbox.wait_for("header") == [{"x_request_id": "req-42", "x_count": 3}]
    headers = get_task(cloudtasks_emulator, pending.name).http_request.headers
    assert headers["x-request-id"] == "req-43"  # the HTTP name FastAPI reads


def test_cookie_parameters(worker_url: str) -> None:
    delayer(cookie_task).delay(session='a; b="c" d,é', theme="dark")

    assert inbox.wait_for("cookie") == [{"session": 'a; b="c" d,é', "theme": "dark"}]


@pytest.mark.parametrize(
    ("endpoint", "kwargs"),
    [
        pytest.param(body_single, {"recipe": RECIPE}, id="single-model"),
        pytest.param(
            body_several,
            {"recipe": RECIPE, "chef": Chef(chefName="Ana", stars=2), "note": "ü & ☕"},
            id="several-bodies-embedded",
        ),
        pytest.param(body_embedded, {"recipe": RECIPE}, id="embed-true"),
        pytest.param(
            body_list,
            {"recipes": [RECIPE, Recipe(title="Chai", ingredients=[])]},
            id="list",
        ),
        pytest.param(body_union, {"treat": Tea(leaves="oolong")}, id="union-first"),
        pytest.param(body_union, {"treat": Cake(layers=3)}, id="union-second"),
        pytest.param(body_dict, {"counts": {"eggs": 2, "flour": 500}}, id="dict"),
    ],
)
def test_body_parameters(
    worker_url: str, endpoint: Callable[..., None], kwargs: dict[str, Any]
) -> None:
    delayer(endpoint).delay(**kwargs)

    assert inbox.wait_for("body") == [kwargs]


def test_form_parameters(worker_url: str) -> None:
    delayer(form_task).delay(name="Ana Ü & co", quantity=3, tags=["a", "b c"])

    assert inbox.wait_for("form") == [{"name": "Ana Ü & co", "quantity": 3, "tags": ["a", "b c"]}]


def test_dependencies_with_sub_parameters(worker_url: str) -> None:
    untyped(depends_task).delay(kitchen="north", skip=5, limit=50, x_tenant="acme", recipe=RECIPE)

    assert inbox.wait_for("depends") == [
        {"kitchen": "north", "page": {"skip": 5, "limit": 50}, "tenant": "acme", "recipe": RECIPE}
    ]


def test_nested_router_prefixes_are_in_the_url(worker_url: str) -> None:
    result = delayer(cook).delay(dish="dal makhani")

    assert result.url == f"{worker_url}/v1/kitchen/cook/dal%20makhani"
    assert inbox.wait_for("cook") == [{"dish": "dal makhani"}]


def test_attribute_form_of_delay(worker_url: str) -> None:
    # What users write without the typed accessor.
    path_task.delay(restaurant="Taj", table=1)  # type: ignore[attr-defined]

    assert inbox.wait_for("path") == [{"restaurant": "Taj", "table": 1}]


# --- options --------------------------------------------------------------------------------------


def test_countdown_sets_the_schedule_time(worker_url: str) -> None:
    before = datetime.now(UTC)
    result = delayer(options_task).options(countdown=1).delay(n=1)
    after = datetime.now(UTC)

    assert before + timedelta(seconds=1) <= result.schedule_time <= after + timedelta(seconds=1)
    assert result.schedule_time.tzinfo is not None
    (received,) = inbox.wait_for("options")
    assert abs(float(received["eta"]) - result.schedule_time.timestamp()) < 1e-5
    assert received["at"] >= result.schedule_time.timestamp()


def test_eta_aware_datetime(worker_url: str, cloudtasks_emulator: EmulatorProcess) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    eta = datetime.now(india).replace(microsecond=123456) + timedelta(hours=1)

    result = delayer(options_task).options(eta=eta).delay(n=2)

    assert result.schedule_time == eta
    assert get_task(cloudtasks_emulator, result.name).schedule_time == eta


def test_task_id_deduplicates(worker_url: str) -> None:
    task_id = f"dinner-{uuid.uuid4().hex}"
    send = delayer(options_task).options(task_id=task_id)

    result = send.delay(n=3)
    with pytest.raises(TaskAlreadyExists) as caught:
        send.delay(n=3)

    assert result.task_id == task_id
    assert result.name == f"{PARENT}/default/tasks/{task_id}"
    assert caught.value.name == result.name
    inbox.wait_for("options")


def test_hashed_task_id(worker_url: str) -> None:
    task_id = f"order-{uuid.uuid4().hex}"

    result = delayer(options_task).options(task_id=task_id, hash_task_id=True).delay(n=4)

    prefix = hashlib.sha256(task_id.encode()).hexdigest()[:8]
    assert result.task_id == f"{prefix}-{task_id}"
    assert result.name.endswith(f"/tasks/{prefix}-{task_id}")


def test_named_queue_from_settings(worker_url: str) -> None:
    default = delayer(options_task).delay(n=5)
    kitchen = delayer(options_task).options(queue="kitchen").delay(n=6)

    assert default.queue == f"{PARENT}/default"
    assert kitchen.queue == f"{PARENT}/kitchen-orders"
    received = {r["n"]: r["queue"] for r in inbox.wait_for("options", 2)}
    assert received == {5: "default", 6: "kitchen-orders"}


def test_base_url_and_headers_options(worker_url: str) -> None:
    recorder = RecordingWorker()
    with BackgroundServer(recorder.app) as other:
        result = delayer(options_task).options(base_url=other.url, headers={"x-extra": "yes"})
        created = result.delay(n=7)

        (request,) = recorder.wait_for("/api/tasks/options/7", 1)
    assert created.url == f"{other.url}/api/tasks/options/7"
    assert request.headers["x-extra"] == "yes"
    assert inbox.get("options") == []


def test_dispatch_deadline_and_headers_land_in_the_task(
    worker_url: str, cloudtasks_emulator: EmulatorProcess
) -> None:
    result = (
        delayer(options_task)
        .options(dispatch_deadline=timedelta(seconds=45), countdown=3600, headers={"x-extra": "h"})
        .delay(n=8)
    )

    task = get_task(cloudtasks_emulator, result.name)
    assert task.dispatch_deadline == timedelta(seconds=45)
    assert task.http_request.headers["x-extra"] == "h"


def test_route_defaults_and_their_override(
    worker_url: str, cloudtasks_emulator: EmulatorProcess
) -> None:
    before = datetime.now(UTC)
    deferred = delayer(defaults_task).delay(n=1)

    assert deferred.queue == f"{PARENT}/kitchen-orders"
    assert deferred.schedule_time >= before + timedelta(seconds=3600)
    assert get_task(cloudtasks_emulator, deferred.name).http_request.headers["x-extra"] == "route"

    now = delayer(defaults_task).options(queue="default", countdown=0, headers={"x-extra": "call"})
    result = now.delay(n=2)

    assert result.queue == f"{PARENT}/default"
    assert inbox.wait_for("defaults") == [{"n": 2, "x_extra": "call"}]


def test_eta_replaces_a_default_countdown(worker_url: str) -> None:
    eta = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)

    result = delayer(defaults_task).options(eta=eta).delay(n=3)

    assert result.schedule_time == eta


def test_a_header_given_again_in_another_case_replaces_it(
    worker_url: str, cloudtasks_emulator: EmulatorProcess
) -> None:
    # The route's default header "x-extra", the call's "X-Extra": one header, the call's.
    result = delayer(defaults_task).options(headers={"X-Extra": "call"}).delay(n=9)

    headers = get_task(cloudtasks_emulator, result.name).http_request.headers
    assert [(k, v) for k, v in headers.items() if k.lower() == "x-extra"] == [("X-Extra", "call")]


def test_unknown_option_names_fail_at_once() -> None:
    with pytest.raises(TypeError, match="countdwn"):
        delayer(options_task).options(countdwn=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="retries"):
        task_default_options(retries=3)  # type: ignore[call-arg]


# --- bad input never reaches the emulator ---------------------------------------------------------

NAIVE = datetime(2030, 1, 1, 12, 0)


def _header_hook(name: str, value: str) -> Callable[[tasks_v2.CreateTaskRequest], Any]:
    def hook(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        request.task.http_request.headers[name] = value
        return request

    return hook


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        pytest.param(
            lambda: untyped(path_task).delay(restaurant="Taj", table="seven"),
            InvalidTaskArguments,
            "table",
            id="wrong-type",
        ),
        pytest.param(
            lambda: untyped(path_task).delay(restaurant="Taj"),
            InvalidTaskArguments,
            "missing required argument 'table'",
            id="missing",
        ),
        pytest.param(
            lambda: untyped(path_task).delay(restaurant="Taj", table=1, chair=2),
            InvalidTaskArguments,
            "unexpected keyword 'chair'",
            id="unknown-keyword",
        ),
        pytest.param(
            lambda: delayer(path_task).delay("Taj", table=1),
            InvalidTaskArguments,
            "positional arguments are not accepted; pass restaurant=...",
            id="positional",
        ),
        pytest.param(
            lambda: untyped(body_single).delay(recipe={"title": "x", "ingredients": "pav"}),
            InvalidTaskArguments,
            "recipe.ingredients",
            id="wrong-body",
        ),
        pytest.param(
            lambda: untyped(depends_task).delay(
                kitchen="k", limit=500, x_tenant="t", recipe=RECIPE
            ),
            InvalidTaskArguments,
            "limit",
            id="dependency-constraint",
        ),
        pytest.param(
            lambda: delayer(options_task).options(countdown=-1).delay(n=1),
            ValueError,
            "countdown",
            id="negative-countdown",
        ),
        pytest.param(
            lambda: delayer(options_task).options(eta=NAIVE).delay(n=1),
            ValueError,
            "aware",
            id="naive-eta",
        ),
        pytest.param(
            lambda: delayer(options_task).options(countdown=1, eta=datetime.now(UTC)),
            TypeError,
            "countdown or eta",
            id="countdown-and-eta",
        ),
        pytest.param(
            lambda: delayer(options_task).options(task_id="no spaces!"),
            ValueError,
            "task_id",
            id="bad-task-id",
        ),
        pytest.param(
            lambda: delayer(options_task).options(dispatch_deadline=5),
            ValueError,
            "dispatch_deadline",
            id="deadline-too-short",
        ),
        pytest.param(
            lambda: delayer(options_task).options(headers={"x-n": 1}),  # type: ignore[dict-item]
            TypeError,
            "headers",
            id="bad-headers",
        ),
        pytest.param(
            lambda: delayer(options_task).options(hooks=[42]),  # type: ignore[list-item]
            TypeError,
            "hooks",
            id="bad-hook",
        ),
        # Header values that end up in the task: refused before any RPC, naming the header.
        # CR/LF used to reach Cloud Tasks (which refused them), NUL made a task that could
        # never be delivered.
        pytest.param(
            lambda: delayer(options_task).options(headers={"x-extra": "a\r\nX-Evil: 1"}),
            ValueError,
            "'x-extra': its value holds the control character CR",
            id="options-header-crlf",
        ),
        pytest.param(
            lambda: delayer(options_task).options(headers={"x-extra": "a\x00b"}),
            ValueError,
            "'x-extra': its value holds the control character NUL",
            id="options-header-nul",
        ),
        pytest.param(
            lambda: delayer(options_task).options(headers={"x extra": "a"}),
            ValueError,
            "'x extra' is not a header name",
            id="options-header-name",
        ),
        pytest.param(
            lambda: delayer(options_task).options(headers={"x-big": "a" * 81920}),
            ValueError,
            "80 KB",
            id="options-headers-over-80kb",
        ),
        pytest.param(
            lambda: delayer(options_task).options(headers={"X-A": "1", "x-a": "2"}),
            ValueError,
            "one header",
            id="options-header-twice",
        ),
        pytest.param(
            lambda: task_default_options(headers={"x-extra": "\n"}),
            ValueError,
            "LF",
            id="route-default-header",
        ),
        pytest.param(
            lambda: delayer(header_task).delay(x_request_id="a\r\nX-Evil: 1"),
            InvalidTaskArguments,
            "x_request_id: header value",
            id="header-parameter-crlf",
        ),
        pytest.param(
            lambda: delayer(header_task).delay(x_request_id="a\x00"),
            InvalidTaskArguments,
            "x_request_id: header value",
            id="header-parameter-nul",
        ),
        pytest.param(
            lambda: delayer(header_task).delay(x_request_id="r" * 90_000),
            InvalidTaskArguments,
            "80 KB",
            id="header-parameter-over-80kb",
        ),
        pytest.param(
            lambda: (
                delayer(options_task)
                .options(hooks=[_header_hook("x-from-hook", "a\nb")])
                .delay(n=1)
            ),
            InvalidTaskArguments,
            "'x-from-hook': its value holds the control character LF",
            id="hook-header-lf",
        ),
        pytest.param(
            lambda: (
                delayer(options_task)
                .options(hooks=[_header_hook("x-from-hook", "\x00")])
                .delay(n=1)
            ),
            InvalidTaskArguments,
            "NUL",
            id="hook-header-nul",
        ),
        pytest.param(
            lambda: (
                delayer(options_task)
                .options(
                    headers={"x-extra": "a" * 50_000}, hooks=[_header_hook("x-b", "b" * 40_000)]
                )
                .delay(n=1)
            ),
            InvalidTaskArguments,
            "80 KB",
            id="headers-over-80kb-after-hooks",
        ),
        pytest.param(
            lambda: (
                delayer(options_task)
                .options(hooks=[_header_hook("X-EXTRA", "2")])
                .delay(n=1, x_extra="1")
            ),
            InvalidTaskArguments,
            "one header",
            id="hook-header-twice",
        ),
        pytest.param(
            lambda: delayer(options_task).options(queue="not a queue").delay(n=1),
            ConfigurationError,
            "not a queue",
            id="unknown-queue",
        ),
    ],
)
def test_bad_input_is_refused_before_any_rpc(
    worker_url: str,
    cloudtasks_emulator: EmulatorProcess,
    call: Callable[[], object],
    error: type[Exception],
    match: str,
) -> None:
    before = emulator_rpcs(cloudtasks_emulator.http_url).get("CreateTask", 0)

    with pytest.raises(error, match=match):
        call()

    assert emulator_rpcs(cloudtasks_emulator.http_url).get("CreateTask", 0) == before


def test_invalid_arguments_name_every_parameter() -> None:
    with pytest.raises(InvalidTaskArguments) as caught:
        untyped(path_task).delay("x", table="seven", chair=1)

    assert caught.value.route.startswith("path_task (POST /tasks/dinner/")
    assert len(caught.value.errors) == 4  # positional, unknown, missing, wrong type
    assert any("restaurant" in error for error in caught.value.errors)


# --- routes that cannot be tasks fail when declared -----------------------------------------------


def _needs_request(request: Request) -> str:
    return request.url.path


def _plain() -> None: ...


def _with_request(request: Request) -> None: ...


def _with_background_tasks(tasks: BackgroundTasks) -> None: ...


def _with_request_dependency(path: Annotated[str, Depends(_needs_request)]) -> None: ...


@pytest.mark.parametrize(
    ("endpoint", "methods", "match"),
    [
        pytest.param(_plain, ["GET", "POST"], "exactly one method", id="several-methods"),
        pytest.param(_with_request, ["POST"], "Request", id="request"),
        pytest.param(_with_background_tasks, ["POST"], "BackgroundTasks", id="background"),
        pytest.param(_with_request_dependency, ["POST"], "_needs_request", id="in-dependency"),
    ],
)
def test_undelayable_routes_are_refused_at_declaration(
    endpoint: Callable[..., None], methods: list[str], match: str
) -> None:
    local = APIRouter(route_class=DelayedRoute)

    with pytest.raises(RouteNotDelayable, match=match):
        local.api_route("/nope", methods=methods)(endpoint)


# --- wiring and the typed accessor ----------------------------------------------------------------


def test_delay_without_a_wired_container() -> None:
    with pytest.raises(ContainerNotWired) as caught:
        delayer(path_task).delay(restaurant="Taj", table=1)

    message = str(caught.value)
    assert "Container()" in message
    assert "wire(" in message


def test_delayer_accessor() -> None:
    found = delayer(path_task)

    assert isinstance(found, Delayer)
    assert isinstance(found.options(countdown=5), Delayer)
    with pytest.raises(TypeError, match="DelayedRoute"):
        delayer(paging)
