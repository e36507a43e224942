"""What ``.delay()`` is given is what the route receives: round trips through a real app."""

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import pytest
from fastapi import (
    BackgroundTasks,
    Body,
    Cookie,
    Depends,
    FastAPI,
    Form,
    Header,
    Query,
    Request,
    Response,
    Security,
    UploadFile,
)
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter
from starlette.requests import HTTPConnection

from cloudtasks_kit._binding import BoundRequest, RouteBinder
from cloudtasks_kit._errors import InvalidTaskArguments, RouteNotDelayable
from cloudtasks_kit._marks import mark_worker_dependency
from tests.support import TestClient


class Spice(StrEnum):
    MILD = "mild"
    HOT = "hot"


class Recipe(BaseModel):
    title: str
    ingredients: list[str]
    spice: Spice = Spice.MILD


class Chef(BaseModel):
    chef_name: str = Field(alias="chefName")
    stars: int = 0


class Ingredient(BaseModel):
    name: str
    grams: float


class MenuFilter(BaseModel):
    course: str | None = None
    max_price: int = 100
    tags: list[str] = []


class Tenant(BaseModel):
    x_tenant_id: str
    region: str = Field("eu", alias="X-Region")


app = FastAPI()


@app.get("/kitchens/{kitchen}/{spice}/{dish_id}/files/{rest:path}")
def path_params(kitchen: str, spice: Spice, dish_id: int, rest: str) -> dict[str, Any]:
    return {"kitchen": kitchen, "spice": spice, "dish_id": dish_id, "rest": rest}


@app.get("/menu")
def query_params(
    q: str,
    tag: list[str] = Query([]),
    spice: Spice | None = None,
    page_size: int = Query(20, alias="page-size"),
    vegan: bool = False,
    day: date | None = None,
    ids: list[UUID] = Query([]),
) -> dict[str, Any]:
    return {
        "q": q,
        "tag": tag,
        "spice": spice,
        "page_size": page_size,
        "vegan": vegan,
        "day": day,
        "ids": ids,
    }


@app.get("/menu/filtered")
def query_model(filters: Annotated[MenuFilter, Query()]) -> MenuFilter:
    return filters


@app.get("/headers")
def header_params(
    x_request_id: str = Header(),
    token: str = Header(alias="X-Auth-Token"),
    raw_name: str | None = Header(None, convert_underscores=False),
    x_tag: list[str] = Header([]),
    x_count: int = Header(0),
) -> dict[str, Any]:
    return {
        "x_request_id": x_request_id,
        "token": token,
        "raw_name": raw_name,
        "x_tag": x_tag,
        "x_count": x_count,
    }


@app.get("/tenant")
def header_model(tenant: Annotated[Tenant, Header()]) -> dict[str, Any]:
    return tenant.model_dump(mode="json")


@app.get("/cookies")
def cookie_params(
    session: str = Cookie(), theme: str | None = Cookie(None), lang: str = Cookie("en", alias="lc")
) -> dict[str, Any]:
    return {"session": session, "theme": theme, "lang": lang}


@app.post("/recipes")
def single_body(recipe: Recipe) -> dict[str, Any]:
    return recipe.model_dump(mode="json")


@app.post("/recipes/embedded")
def embedded_body(recipe: Recipe = Body(embed=True)) -> dict[str, Any]:
    return recipe.model_dump(mode="json")


@app.post("/orders")
def several_bodies(
    recipe: Recipe, chef: Chef, note: str = Body(), quantity: int = Body(1)
) -> dict[str, Any]:
    return {
        "recipe": recipe.model_dump(mode="json"),
        "chef": chef.model_dump(mode="json", by_alias=True),
        "note": note,
        "quantity": quantity,
    }


@app.post("/batches")
def list_body(recipes: list[Recipe]) -> list[dict[str, Any]]:
    return [recipe.model_dump(mode="json") for recipe in recipes]


@app.post("/stock")
def varied_bodies(
    counts: dict[str, int] = Body(),
    pick: int | str = Body(),
    extra: Ingredient | None = Body(None),
) -> dict[str, Any]:
    return {"counts": counts, "pick": pick, "extra": extra}


@app.post("/amount")
def plain_body(amount: float = Body()) -> float:
    return amount


def paging(skip: int = 0, limit: int = Query(10, le=100)) -> dict[str, int]:
    return {"skip": skip, "limit": limit}


def tenant_of(x_tenant: str = Header(), page: dict[str, int] = Depends(paging)) -> str:
    return x_tenant


def audit(x_audit: str = Header("none")) -> None:
    """A decorator-level dependency: its header is a keyword of the delay call too."""


@app.post("/kitchens/{kitchen}/orders", dependencies=[Depends(audit)])
def everything(
    kitchen: str,
    page: Annotated[dict[str, int], Depends(paging)],
    tenant: Annotated[str, Depends(tenant_of)],
    recipe: Recipe,
    rush: bool = False,
    x_request_id: str = Header(),
    session: str = Cookie(),
) -> dict[str, Any]:
    return {
        "kitchen": kitchen,
        "page": page,
        "tenant": tenant,
        "recipe": recipe.model_dump(mode="json"),
        "rush": rush,
        "x_request_id": x_request_id,
        "session": session,
    }


ROUTES = {route.name: route for route in app.routes if isinstance(route, APIRoute)}
RECIPE = {"title": "Dal", "ingredients": ["lentils", "cumin"], "spice": "hot"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def send(client: TestClient, bound: BoundRequest) -> Any:
    response = client.request(bound.method, bound.path, headers=bound.headers, content=bound.body)
    assert response.status_code == 200, response.text
    return response.json()


def bind(endpoint: str, **kwargs: object) -> BoundRequest:
    return RouteBinder.for_route(ROUTES[endpoint]).bind(**kwargs)


@pytest.mark.parametrize(
    ("endpoint", "kwargs", "received"),
    [
        pytest.param(
            "path_params",
            {"kitchen": "a b?#%ü", "spice": Spice.HOT, "dish_id": 7, "rest": "a b/c"},
            {"kitchen": "a b?#%ü", "spice": "hot", "dish_id": 7, "rest": "a b/c"},
            id="path-quoted",
        ),
        pytest.param(
            "query_params",
            {
                "q": "tea & cake=1+2;",
                "tag": ["a", "b c"],
                "spice": Spice.HOT,
                "page_size": 5,
                "vegan": True,
                "day": date(2024, 2, 29),
                "ids": [UUID(int=1), str(UUID(int=2))],
            },
            {
                "q": "tea & cake=1+2;",
                "tag": ["a", "b c"],
                "spice": "hot",
                "page_size": 5,
                "vegan": True,
                "day": "2024-02-29",
                "ids": [str(UUID(int=1)), str(UUID(int=2))],
            },
            id="query-all",
        ),
        pytest.param(
            "query_params",
            {"q": "", "spice": None, "tag": []},
            {
                "q": "",
                "tag": [],
                "spice": None,
                "page_size": 20,
                "vegan": False,
                "day": None,
                "ids": [],
            },
            id="query-defaults-and-none",
        ),
        pytest.param(
            "query_model",
            {"filters": MenuFilter(course="main", tags=["x", "y"])},
            {"course": "main", "max_price": 100, "tags": ["x", "y"]},
            id="query-model",
        ),
        pytest.param(
            "query_model",
            {"filters": {"max_price": "30"}},
            {"course": None, "max_price": 30, "tags": []},
            id="query-model-dict",
        ),
        pytest.param(
            "header_params",
            {
                "x_request_id": "r-1",
                "token": "t 2",
                "raw_name": "r",
                "x_tag": ["one"],
                "x_count": 3,
            },
            {
                "x_request_id": "r-1",
                "token": "t 2",
                "raw_name": "r",
                "x_tag": ["one"],
                "x_count": 3,
            },
            id="headers",
        ),
        pytest.param(
            "header_model",
            {"tenant": {"x_tenant_id": "acme", "X-Region": "us"}},
            {"x_tenant_id": "acme", "region": "us"},
            id="header-model",
        ),
        pytest.param(
            "cookie_params",
            {"session": 'a; b="c" d,\\é', "theme": "dark", "lang": "fr"},
            {"session": 'a; b="c" d,\\é', "theme": "dark", "lang": "fr"},
            id="cookies",
        ),
        pytest.param("single_body", {"recipe": Recipe(**RECIPE)}, RECIPE, id="body-model"),
        pytest.param("single_body", {"recipe": RECIPE}, RECIPE, id="body-dict"),
        pytest.param("embedded_body", {"recipe": RECIPE}, RECIPE, id="body-embed"),
        pytest.param(
            "several_bodies",
            {"recipe": RECIPE, "chef": Chef(chefName="Ana", stars=2), "note": "ü"},
            {"recipe": RECIPE, "chef": {"chefName": "Ana", "stars": 2}, "note": "ü", "quantity": 1},
            id="bodies-embedded",
        ),
        pytest.param(
            "list_body",
            {"recipes": [RECIPE, Recipe(title="Tea", ingredients=[])]},
            [RECIPE, {"title": "Tea", "ingredients": [], "spice": "mild"}],
            id="body-list",
        ),
        pytest.param(
            "varied_bodies",
            {"counts": {"eggs": 2}, "pick": "7", "extra": {"name": "salt", "grams": 1.5}},
            {"counts": {"eggs": 2}, "pick": "7", "extra": {"name": "salt", "grams": 1.5}},
            id="body-dict-union-optional",
        ),
        pytest.param(
            "varied_bodies",
            {"counts": {}, "pick": "seven", "extra": None},
            {"counts": {}, "pick": "seven", "extra": None},
            id="body-union-str-and-null",
        ),
        pytest.param("plain_body", {"amount": 2.5}, 2.5, id="body-plain"),
        pytest.param(
            "everything",
            {
                "kitchen": "north",
                "skip": 5,
                "limit": 50,
                "x_tenant": "acme",
                "x_audit": "yes",
                "recipe": RECIPE,
                "rush": True,
                "x_request_id": "r-9",
                "session": "s",
            },
            {
                "kitchen": "north",
                "page": {"skip": 5, "limit": 50},
                "tenant": "acme",
                "recipe": RECIPE,
                "rush": True,
                "x_request_id": "r-9",
                "session": "s",
            },
            id="every-source-and-dependencies",
        ),
    ],
)
def test_round_trip(
    client: TestClient, endpoint: str, kwargs: dict[str, object], received: object
) -> None:
    assert send(client, bind(endpoint, **kwargs)) == received


def test_request_shape() -> None:
    bound = bind(
        "everything", kitchen="a b", x_tenant="t", recipe=RECIPE, x_request_id="r", session="s"
    )

    assert bound.method == "POST"
    assert bound.path == "/kitchens/a%20b/orders"
    assert bound.headers == {
        "x-tenant": "t",
        "x-request-id": "r",
        "cookie": "session=s",
        "content-type": "application/json",
    }
    assert bound.body == b'{"title":"Dal","ingredients":["lentils","cumin"],"spice":"hot"}'


def test_nothing_passed_sends_nothing() -> None:
    assert bind("varied_bodies", counts={}, pick=1).body == b'{"counts":{},"pick":1}'
    assert bind("query_model", filters={}).path == "/menu/filtered?max_price=100"
    assert RouteBinder.for_route(ROUTES["plain_body"]).bind(amount=1) == BoundRequest(
        "POST", "/amount", {"content-type": "application/json"}, b"1.0"
    )


def test_bind_builds_no_type_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    binder = RouteBinder.for_route(ROUTES["everything"])

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("bind() must reuse the adapters built with the route")

    monkeypatch.setattr(TypeAdapter, "__init__", refuse)
    binder.bind(kitchen="k", x_tenant="t", recipe=RECIPE, x_request_id="r", session="s")


def errors_of(endpoint: str, *args: object, **kwargs: object) -> list[str]:
    with pytest.raises(InvalidTaskArguments) as caught:
        RouteBinder.for_route(ROUTES[endpoint]).bind(*args, **kwargs)
    assert caught.value.route.startswith(endpoint)
    return caught.value.errors


@pytest.mark.parametrize(
    ("endpoint", "args", "kwargs", "expected"),
    [
        pytest.param(
            "single_body",
            ("x",),
            {},
            [
                "positional arguments are not accepted; pass recipe=... as keywords",
                "missing required argument 'recipe'",
            ],
            id="positional",
        ),
        pytest.param(
            "single_body",
            (),
            {"recipe": RECIPE, "foo": 1},
            ["unexpected keyword 'foo'"],
            id="unknown",
        ),
        pytest.param(
            "several_bodies",
            (),
            {"recipe": {"title": "x", "ingredients": [1]}, "chef": {"chefName": "A"}},
            [
                "missing required argument 'note'",
                "recipe.ingredients.0: Input should be a valid string",
            ],
            id="missing-and-nested",
        ),
        pytest.param(
            "single_body",
            (),
            {"recipe": Chef(chefName="A")},
            ["recipe.title: Field required", "recipe.ingredients: Field required"],
            id="wrong-model",
        ),
        pytest.param(
            "everything",
            (),
            {
                "kitchen": "k",
                "limit": 101,
                "x_tenant": "t",
                "recipe": RECIPE,
                "x_request_id": "r",
                "session": "s",
            },
            ["limit: Input should be less than or equal to 100"],
            id="dependency-constraint",
        ),
        pytest.param(
            "query_model",
            (),
            {"filters": {"max_price": "cheap"}},
            [
                "filters.max_price: Input should be a valid integer, "
                "unable to parse string as an integer"
            ],
            id="query-model-field",
        ),
        pytest.param(
            "path_params",
            (),
            {"kitchen": "a/b", "spice": "hot", "dish_id": 1, "rest": ""},
            [
                "kitchen: 'a/b' cannot be a path segment of this route",
                "rest: '' cannot be a path segment of this route",
            ],
            id="path-slash-and-empty",
        ),
        pytest.param(
            "path_params",
            (),
            {"kitchen": "..", "spice": "hot", "dish_id": 1, "rest": "."},
            [
                "kitchen: '..' cannot be a path segment of this route",
                "rest: '.' cannot be a path segment of this route",
            ],
            id="path-dot-segments",
        ),
        pytest.param(
            "query_params",
            (),
            {"q": None},
            ["q: Input should be a valid string"],
            id="none-not-allowed",
        ),
        pytest.param(
            "header_params",
            (),
            {"x_request_id": "é", "token": " t", "x_tag": ["a", "b"]},
            [
                "x_request_id: header value 'é' would arrive changed or not at all",
                "token: header value ' t' would arrive changed or not at all",
                "x_tag: a task sends each header once; got several values",
            ],
            id="headers-that-would-change",
        ),
        pytest.param(
            "cookie_params",
            (),
            {"session": "☃"},
            ["session: cookie value '☃' cannot be sent"],
            id="cookie-outside-latin-1",
        ),
    ],
)
def test_invalid_arguments(
    endpoint: str, args: tuple[object, ...], kwargs: dict[str, object], expected: list[str]
) -> None:
    assert sorted(errors_of(endpoint, *args, **kwargs)) == sorted(expected)


class Nullable(BaseModel):
    course: str | None = "main"


def test_absent_values_must_equal_the_default() -> None:
    def endpoint(
        needed: str | None,
        tag: list[str] | None = Query(None),
        flavour: str | None = Query("plain"),
        filters: Annotated[Nullable, Query()] = Nullable(),
    ) -> None: ...

    binder = RouteBinder.for_route(APIRoute("/absent", endpoint))
    assert binder.bind(needed="n", tag=None, flavour="x").path == "/absent?needed=n&flavour=x"
    with pytest.raises(InvalidTaskArguments) as caught:
        binder.bind(needed=None, tag=[], flavour=None, filters={"course": None})
    assert caught.value.errors == [
        "needed: None would reach the worker as absent, but is required",
        "tag: [] would reach the worker as absent and become None",
        "flavour: None would reach the worker as absent and become 'plain'",
        "filters.course: None would reach the worker as absent and become 'main'",
    ]


def test_error_message_names_route_and_every_problem() -> None:
    with pytest.raises(
        InvalidTaskArguments, match=r"^invalid arguments for single_body \(POST /recipes\): "
    ) as caught:
        RouteBinder.for_route(ROUTES["single_body"]).bind(1, 2, foo=3)
    assert caught.value.errors == [
        "positional arguments are not accepted; pass recipe=... as keywords",
        "unexpected keyword 'foo'",
        "missing required argument 'recipe'",
    ]


def needs_request(request: Request) -> str:
    return "x"


def needs_needs_request(inner: str = Depends(needs_request), q: int = 0) -> str:
    return inner


def scoped(security_scopes: SecurityScopes) -> None: ...


def with_request(request: Request) -> None: ...


def with_background(tasks: BackgroundTasks) -> None: ...


def with_response(response: Response) -> None: ...


def with_connection(connection: HTTPConnection) -> None: ...


def with_nested(value: str = Depends(needs_needs_request)) -> None: ...


def with_security(scopes: None = Security(scoped, scopes=["read"])) -> None: ...


def with_oauth(token: str = Depends(OAuth2PasswordBearer(tokenUrl="token"))) -> None: ...


def query_and_header(q: str, header: str = Depends(lambda q=Header(): q)) -> None: ...


def without_placeholder() -> None: ...


@pytest.mark.parametrize(
    ("endpoint", "path", "methods", "expected"),
    [
        (with_request, "/r", ["POST"], "parameter 'request' of with_request() is typed Request"),
        (with_background, "/r", ["POST"], "'tasks' of with_background() is typed BackgroundTasks"),
        (with_response, "/r", ["POST"], "'response' of with_response() is typed Response"),
        (
            with_connection,
            "/r",
            ["POST"],
            "'connection' of with_connection() is typed HTTPConnection",
        ),
        (with_nested, "/r", ["POST"], "parameter 'request' of needs_request() is typed Request"),
        (with_security, "/r", ["POST"], "'security_scopes' of scoped() is typed SecurityScopes"),
        (with_oauth, "/r", ["POST"], "parameter 'request' of OAuth2PasswordBearer()"),
        (without_placeholder, "/r", ["GET", "POST"], "a task sends exactly one method"),
        (query_and_header, "/r", ["POST"], "'q' is both a query and a header parameter"),
        (without_placeholder, "/r/{missing}", ["POST"], "no parameter supplies {missing}"),
    ],
)
def test_routes_that_cannot_be_tasks(
    endpoint: Callable[..., None], path: str, methods: list[str], expected: str
) -> None:
    route = APIRoute(path, endpoint, methods=methods)
    with pytest.raises(RouteNotDelayable) as caught:
        RouteBinder.for_route(route)
    label = f"{endpoint.__name__} ({'|'.join(methods)} {path})"
    assert str(caught.value).startswith(f"{label} cannot be delayed: ")
    assert expected in str(caught.value)


class Login(BaseModel):
    username: str
    remember: bool = False


@pytest.fixture(scope="module")
def form_app() -> FastAPI:
    pytest.importorskip("python_multipart", reason="FastAPI needs python-multipart for forms")
    forms = FastAPI()

    @forms.post("/form")
    def form_fields(
        username: str = Form(), tags: list[str] = Form([]), note: str = Form("none")
    ) -> dict[str, Any]:
        return {"username": username, "tags": tags, "note": note}

    @forms.post("/form/model")
    def form_model(login: Annotated[Login, Form()]) -> Login:
        return login

    @forms.post("/upload")
    def upload(file: UploadFile) -> None: ...

    return forms


@pytest.mark.parametrize(
    ("endpoint", "kwargs", "received"),
    [
        (
            "form_fields",
            {"username": "a&b=c ü", "tags": ["", "y"]},
            {"username": "a&b=c ü", "tags": ["", "y"], "note": "none"},
        ),
        (
            "form_model",
            {"login": {"username": "ana", "remember": True}},
            {"username": "ana", "remember": True},
        ),
        ("form_model", {"login": Login(username="ana")}, {"username": "ana", "remember": False}),
    ],
)
def test_form_round_trip(
    form_app: FastAPI, endpoint: str, kwargs: dict[str, object], received: object
) -> None:
    route = next(r for r in form_app.routes if isinstance(r, APIRoute) and r.name == endpoint)
    bound = RouteBinder.for_route(route).bind(**kwargs)
    assert bound.headers["content-type"] == "application/x-www-form-urlencoded"
    with TestClient(form_app) as form_client:
        assert send(form_client, bound) == received


def test_a_form_list_holding_only_an_empty_string_is_sent(form_app: FastAPI) -> None:
    routes = {r.name: r for r in form_app.routes if isinstance(r, APIRoute)}
    bound = RouteBinder.for_route(routes["form_fields"]).bind(username="u", tags=[""])
    assert bound.body == b"username=u&tags="
    with TestClient(form_app) as form_client:
        assert send(form_client, bound) == {"username": "u", "tags": [""], "note": "none"}


def test_form_refuses_what_reads_as_absent_and_files(form_app: FastAPI) -> None:
    routes = {r.name: r for r in form_app.routes if isinstance(r, APIRoute)}
    with pytest.raises(InvalidTaskArguments) as caught:
        RouteBinder.for_route(routes["form_fields"]).bind(username="")
    assert caught.value.errors == ["username: '' would reach the worker as absent, but is required"]
    message = (
        "upload (POST /upload) cannot be delayed: 'file' is a file upload, which a task "
        "(a single request body of at most 1 MB, no multipart) does not carry"
    )
    with pytest.raises(RouteNotDelayable, match=f"^{re.escape(message)}$"):
        RouteBinder.for_route(routes["upload"])


# --- the exact request, where a round trip would not tell ----------------------------------------


def only_route(path: str, endpoint: Callable[..., Any], method: str = "GET") -> RouteBinder:
    return RouteBinder.for_route(APIRoute(path, endpoint, methods=[method]))


def round_trip(path: str, endpoint: Callable[..., Any], bound: BoundRequest) -> Any:
    single = FastAPI()
    single.add_api_route(path, endpoint, methods=[bound.method])
    with TestClient(single) as test_client:
        return send(test_client, bound)


def flags(on: list[bool] = Query([])) -> list[bool]:
    return on


def test_booleans_travel_as_lowercase_words(client: TestClient) -> None:
    assert bind("query_params", q="x", vegan=False).path == "/menu?q=x&vegan=false"
    assert bind("query_params", q="x", vegan=True).path == "/menu?q=x&vegan=true"
    assert send(client, bind("query_params", q="x", vegan=False))["vegan"] is False
    bound = only_route("/flags", flags).bind(on=[True, False])
    assert bound.path == "/flags?on=true&on=false"
    assert round_trip("/flags", flags, bound) == [True, False]


def test_a_path_may_hold_a_slash_only_where_the_route_says_path_and_it_is_quoted() -> None:
    bound = bind("path_params", kitchen="k", spice="hot", dish_id=1, rest="a b/c")
    assert bound.path == "/kitchens/k/hot/1/files/a%20b%2Fc"


def nullable_path(x: str | None) -> None: ...


def test_a_path_parameter_that_would_be_empty_is_refused() -> None:
    with pytest.raises(InvalidTaskArguments) as caught:
        only_route("/p/{x}", nullable_path).bind(x=None)
    assert caught.value.errors == [
        "x: None would reach the worker as absent, but is required",
        "x: '' cannot be a path segment of this route",
    ]


def no_parameters() -> None: ...


def test_a_route_without_parameters() -> None:
    binder = only_route("/ping", no_parameters)
    assert binder.bind() == BoundRequest("GET", "/ping", {}, b"")
    with pytest.raises(InvalidTaskArguments) as caught:
        binder.bind(1)
    assert caught.value.errors == ["positional arguments are not accepted; this route takes none"]


def test_the_positional_hint_names_as_many_keywords_as_were_given() -> None:
    errors = errors_of("several_bodies", 1, 2)
    hint = "pass recipe=..., chef=... as keywords"
    assert errors[0] == f"positional arguments are not accepted; {hint}"


def test_every_problem_is_reported_not_only_the_first() -> None:
    errors = errors_of(
        "several_bodies",
        foo=1,
        recipe={"title": "x"},
        chef={"chefName": "A", "stars": "many"},
        note="n",
        bar=2,
    )
    assert errors == [
        "unexpected keyword 'foo'",
        "unexpected keyword 'bar'",
        "recipe.ingredients: Field required",
        "chef.stars: Input should be a valid integer, unable to parse string as an integer",
    ]


def at_least_ten(limit: int = Query(ge=10)) -> int:
    return limit


def twice_declared(lower: Annotated[int, Depends(at_least_ten)], limit: int = Query(le=100)) -> int:
    return limit


def test_a_keyword_declared_twice_must_satisfy_every_declaration() -> None:
    binder = only_route("/twice", twice_declared)
    assert binder.bind(limit=50).path == "/twice?limit=50"
    for value, problem in [
        (5, "limit: Input should be greater than or equal to 10"),
        (101, "limit: Input should be less than or equal to 100"),
    ]:
        with pytest.raises(InvalidTaskArguments) as caught:
            binder.bind(limit=value)
        assert caught.value.errors == [problem]


def two_bodies(recipe: Recipe, chef: Chef) -> dict[str, Any]:
    return {"recipe": recipe.model_dump(mode="json"), "chef": chef.model_dump(by_alias=True)}


def test_two_bodies_are_embedded_by_name() -> None:
    bound = only_route("/two", two_bodies, "POST").bind(recipe=RECIPE, chef={"chefName": "A"})
    assert bound.body == (
        b'{"recipe":{"title":"Dal","ingredients":["lentils","cumin"],"spice":"hot"},'
        b'"chef":{"chefName":"A","stars":0}}'
    )
    assert round_trip("/two", two_bodies, bound) == {
        "recipe": RECIPE,
        "chef": {"chefName": "A", "stars": 0},
    }


@mark_worker_dependency
def from_the_request(request: Request, x_hidden: str = Header("")) -> str:
    return x_hidden


def with_worker_dependency(
    seen: Annotated[str, Depends(from_the_request)], q: str = ""
) -> None: ...


def test_what_the_worker_resolves_is_neither_refused_nor_a_keyword() -> None:
    binder = only_route("/worker", with_worker_dependency)
    assert binder.bind(q="x").path == "/worker?q=x"
    with pytest.raises(InvalidTaskArguments) as caught:
        binder.bind(x_hidden="h")
    assert caught.value.errors == ["unexpected keyword 'x_hidden'"]


def aliased(
    q: str = Query(validation_alias="query-text"),
    r: str = Query(validation_alias=AliasChoices("r1", "r2")),
) -> dict[str, str]:
    return {"q": q, "r": r}


def test_a_value_goes_under_the_name_fastapi_reads_it_by() -> None:
    bound = only_route("/aliased", aliased).bind(q="a", r="b")
    assert bound.path == "/aliased?query-text=a&r1=b"
    assert round_trip("/aliased", aliased, bound) == {"q": "a", "r": "b"}


def optional_filters(filters: Annotated[MenuFilter | None, Query()] = None) -> Any:
    return filters


def test_an_optional_model_is_read_field_by_field_or_not_at_all() -> None:
    binder = only_route("/optional", optional_filters)
    bound = binder.bind(filters={"course": "main", "tags": ["x"]})
    assert bound.path == "/optional?course=main&max_price=100&tags=x"
    assert round_trip("/optional", optional_filters, bound) == {
        "course": "main",
        "max_price": 100,
        "tags": ["x"],
    }
    assert binder.bind(filters=None).path == "/optional"


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    known: str = "k"


def loose_filters(filters: Annotated[Loose, Query()]) -> Any:
    return filters.model_dump()


def test_extra_fields_of_a_query_model_go_under_their_own_names() -> None:
    bound = only_route("/loose", loose_filters).bind(filters={"known": "a", "other": "b"})
    assert bound.path == "/loose?known=a&other=b"
    assert round_trip("/loose", loose_filters, bound) == {"known": "a", "other": "b"}


class WithMapping(BaseModel):
    meta: dict[str, int] = {}


def mapping_filters(filters: Annotated[WithMapping, Query()]) -> None: ...


def test_a_field_with_no_query_string_form_is_refused() -> None:
    with pytest.raises(InvalidTaskArguments) as caught:
        only_route("/mapping", mapping_filters).bind(filters={"meta": {"k": 1}})
    assert caught.value.errors == ["filters.meta: {'k': 1} cannot be sent as a query parameter"]


def from_factory(tags: list[str] = Query(default_factory=list)) -> list[str]:
    return tags


def test_an_empty_value_equal_to_a_default_factory_is_sent_as_absent() -> None:
    assert only_route("/factory", from_factory).bind(tags=[]).path == "/factory"


class Zone(BaseModel):
    zone_id: str
    area: str = Field("eu", alias="X_Area")


def zone_headers(zone: Annotated[Zone, Header()]) -> dict[str, str]:
    return zone.model_dump()


def raw_zone_headers(zone: Annotated[Zone, Header(convert_underscores=False)]) -> dict[str, str]:
    return zone.model_dump()


@pytest.mark.parametrize(
    ("endpoint", "headers"),
    [
        (zone_headers, {"zone-id": "z", "x_area": "us"}),
        (raw_zone_headers, {"zone_id": "z", "x_area": "us"}),
    ],
)
def test_header_models_convert_underscores_of_field_names_only(
    endpoint: Callable[..., Any], headers: dict[str, str]
) -> None:
    bound = only_route("/zone", endpoint).bind(zone={"zone_id": "z", "X_Area": "us"})
    assert bound.headers == headers
    assert round_trip("/zone", endpoint, bound) == {"zone_id": "z", "area": "us"}


# --- any text, through a real app ---------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=60)
@given(kitchen=_text, q=_text, tags=st.lists(_text, max_size=3))
def test_any_text_arrives_as_given_or_is_refused(
    client: TestClient, kitchen: str, q: str, tags: list[str]
) -> None:
    if kitchen in ("", ".", "..") or "/" in kitchen:
        refused = f"kitchen: {kitchen!r} cannot be a path segment of this route"
        assert errors_of("path_params", kitchen=kitchen, spice="hot", dish_id=1, rest="r") == [
            refused
        ]
    else:
        path = bind("path_params", kitchen=kitchen, spice="hot", dish_id=1, rest="r")
        assert send(client, path)["kitchen"] == kitchen
    query = bind("query_params", q=q, tag=tags)
    assert {k: v for k, v in send(client, query).items() if k in ("q", "tag")} == {
        "q": q,
        "tag": tags,
    }


# -- the plain pass and the adapters called directly: the same request as FastAPI's wrappers ----

plain_app = FastAPI()


@plain_app.post("/kitchens/{kitchen}/orders/{item:path}")
def plain_order(
    kitchen: str,
    item: str,
    recipe: Recipe,
    rush: bool = False,
    tables: int | None = None,
    tags: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    x_request_id: Annotated[str, Header()] = "",
) -> None:
    """Every keyword goes where the plain pass can take it: path, query, header, body (a
    list, in the query, is for the full pass)."""


PLAIN_ROUTE = next(
    r for r in plain_app.routes if isinstance(r, APIRoute) and r.endpoint is plain_order
)
TEXT = st.one_of(
    st.sampled_from(["", ".", "..", "a/b", "a b", " x", "x ", "é", "%2F", "~_.-", "\x00", "7"]),
    st.text(max_size=6),
)
ANYTHING = st.one_of(TEXT, st.integers(), st.booleans(), st.none(), st.floats(), st.lists(TEXT))
# Mostly what the plain pass takes (one_of draws its branches alike), so that it is the one
# exercised; the rest falls back to the full pass.
PLAIN_SEGMENT = st.sampled_from(["k", "7", "a-b", "é", "a b", "x%2Fy", "~_.-"])
SEGMENT = st.one_of(PLAIN_SEGMENT, PLAIN_SEGMENT, PLAIN_SEGMENT, TEXT)
FLAG = st.one_of(st.booleans(), st.booleans(), st.sampled_from(["true", "0", "yes"]), ANYTHING)
COUNT = st.one_of(st.integers(), st.integers(), st.sampled_from(["3", "-1"]), ANYTHING)
REQUEST_ID = st.one_of(st.sampled_from(["r-1", "req 2", " x", "é"]), st.text(max_size=4), ANYTHING)


def _wrappers_only(binder: RouteBinder) -> RouteBinder:
    """The same binder without the plain pass and without its direct adapter calls: every
    value through FastAPI's ModelField.validate / serialize, as before they were added."""
    slow = RouteBinder.for_route(PLAIN_ROUTE)
    slow._plain = None
    slow._params = {
        name: replace(param, validate=None, dump=None) for name, param in binder._params.items()
    }
    return slow


def _outcome(binder: RouteBinder, kwargs: dict[str, Any]) -> object:
    try:
        return binder.bind(**kwargs)
    except InvalidTaskArguments as exc:
        return exc.errors


@settings(max_examples=300)
@example({"kitchen": "k", "item": "x/y", "recipe": RECIPE, "rush": True, "tables": "3"})
@example({"kitchen": "a b", "item": "é", "recipe": RECIPE, "x_request_id": " x"})
@example({"kitchen": "k", "item": "i", "recipe": RECIPE, "x_request_id": "r-1", "rush": False})
@given(
    st.fixed_dictionaries(
        {"kitchen": SEGMENT, "item": SEGMENT, "recipe": st.just(RECIPE)},
        optional={
            "rush": FLAG,
            "tables": COUNT,
            "tags": st.lists(PLAIN_SEGMENT, max_size=2),
            "x_request_id": REQUEST_ID,
        },
    )
)
def test_the_plain_pass_binds_as_the_fields_own_wrappers_do(kwargs: dict[str, Any]) -> None:
    binder = RouteBinder.for_route(PLAIN_ROUTE)
    assert binder._plain is not None  # the route this test is about takes the plain pass
    assert _outcome(binder, kwargs) == _outcome(_wrappers_only(binder), kwargs)
