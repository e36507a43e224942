"""Task options checked where they are written, and merged by one rule: unit tests of
``producer/_options.py`` (the end-to-end behaviour is in ``test_delay.py``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pytest
from google.cloud import tasks_v2
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtasks_kit._protocol import MAX_SCHEDULE_AHEAD
from cloudtasks_kit.producer._options import (
    DelayOptions,
    merge_options,
    route_defaults,
    task_default_options,
)

_ALL = (
    "countdown, eta, task_id, hash_task_id, queue, base_url, dispatch_deadline, headers, "
    "hooks, create_timeout"
)


def first(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
    return request


def second(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
    return request


def third(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
    return request


def test_task_default_options_keeps_checked_options_on_the_endpoint() -> None:
    def endpoint() -> None: ...

    decorate = task_default_options(countdown=timedelta(minutes=1), headers={"x-a": "1"})
    assert decorate(endpoint) is endpoint
    assert route_defaults(endpoint) == DelayOptions(countdown=60.0, headers=(("x-a", "1"),))


def test_an_endpoint_without_defaults_has_the_empty_options() -> None:
    def endpoint() -> None: ...

    assert route_defaults(endpoint) == DelayOptions()
    endpoint.__cloudtasks_delay_options__ = {"countdown": 5}  # type: ignore[attr-defined]
    assert route_defaults(endpoint) == DelayOptions()


def test_unknown_options_are_named_with_the_known_ones() -> None:
    message = f"unknown delay option(s) countdwn, retries; known: {_ALL}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        merge_options(DelayOptions(), {"retries": 3, "countdwn": 1})


def test_none_restores_the_default() -> None:
    base = DelayOptions(
        countdown=5.0,
        task_id="t",
        hash_task_id=True,
        queue="q",
        headers=(("x-a", "1"),),
        hooks=(first,),
        create_timeout=2.0,
    )
    reset = dict.fromkeys(("countdown", "task_id", "hash_task_id", "queue", "headers"))
    assert merge_options(base, {**reset, "hooks": None, "create_timeout": None}) == DelayOptions()


def test_nothing_given_changes_nothing() -> None:
    base = DelayOptions(countdown=5.0, queue="q", hooks=(first,))
    assert merge_options(base, {}) == base


def test_hooks_run_after_the_ones_already_there() -> None:
    base = merge_options(DelayOptions(), {"hooks": first})
    assert base.hooks == (first,)
    assert merge_options(base, {"hooks": [second, third]}).hooks == (first, second, third)
    assert merge_options(base, {"hooks": ()}).hooks == (first,)


def test_headers_merge_and_a_name_given_again_takes_the_newer_value() -> None:
    base = DelayOptions(headers=(("x-a", "1"), ("x-b", "2")))
    merged = merge_options(base, {"headers": {"x-b": "3", "x-c": "4"}})
    assert merged.headers == (("x-a", "1"), ("x-b", "3"), ("x-c", "4"))
    assert merge_options(base, {"headers": {}}).headers == base.headers


def test_countdown_and_eta_replace_each_other() -> None:
    eta = datetime.now(UTC) + timedelta(hours=1)
    from_eta = merge_options(DelayOptions(eta=eta), {"countdown": 30})
    assert (from_eta.countdown, from_eta.eta) == (30.0, None)
    from_countdown = merge_options(DelayOptions(countdown=30.0), {"eta": eta})
    assert (from_countdown.countdown, from_countdown.eta) == (None, eta)
    # Other options leave them as they are.
    assert merge_options(DelayOptions(eta=eta), {"queue": "q"}).eta == eta
    assert merge_options(DelayOptions(countdown=1.0), {"queue": "q"}).countdown == 1.0


def test_countdown_and_eta_together_are_refused() -> None:
    with pytest.raises(TypeError, match=r"^pass countdown or eta, not both$"):
        merge_options(DelayOptions(), {"countdown": 1, "eta": datetime.now(UTC)})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        (timedelta(minutes=2), 120.0),
        (MAX_SCHEDULE_AHEAD, MAX_SCHEDULE_AHEAD.total_seconds()),
    ],
)
def test_countdown_accepted(value: Any, expected: float) -> None:
    countdown = merge_options(DelayOptions(), {"countdown": value}).countdown
    assert countdown == expected
    assert type(countdown) is float


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (True, TypeError, "countdown: expected seconds or a timedelta, got True"),
        ("5", TypeError, "countdown: expected seconds or a timedelta, got '5'"),
        (-0.5, ValueError, "countdown: must not be negative, got -0.5"),
        (timedelta(seconds=-1), ValueError, "countdown: must not be negative, got -1.0"),
        (
            MAX_SCHEDULE_AHEAD.total_seconds() + 1,
            ValueError,
            "countdown: Cloud Tasks schedules at most 30 days ahead",
        ),
    ],
)
def test_countdown_refused(value: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        merge_options(DelayOptions(), {"countdown": value})


class _NoOffset(tzinfo):
    """A time zone that does not know its offset: Python calls such a datetime naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("2030-01-01", TypeError, "eta: expected a datetime, got '2030-01-01'"),
        (
            datetime(2030, 1, 1),
            ValueError,
            "eta: must be an aware datetime (e.g. datetime.now(UTC) + ...)",
        ),
        (
            datetime(2030, 1, 1, tzinfo=_NoOffset()),
            ValueError,
            "eta: must be an aware datetime (e.g. datetime.now(UTC) + ...)",
        ),
        (
            # A day past the limit: the value is built when tests are collected, minutes before
            # this one runs.
            datetime.now(UTC) + MAX_SCHEDULE_AHEAD + timedelta(days=1),
            ValueError,
            "eta: Cloud Tasks schedules at most 30 days ahead",
        ),
    ],
    ids=["text", "naive", "no-offset", "too-far"],
)
def test_eta_refused(value: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        merge_options(DelayOptions(), {"eta": value})


def test_eta_in_the_past_or_within_30_days_is_kept_as_given() -> None:
    for eta in (
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime.now(UTC) + MAX_SCHEDULE_AHEAD - timedelta(minutes=1),
    ):
        assert merge_options(DelayOptions(), {"eta": eta}).eta is eta


@pytest.mark.parametrize("name", ["queue", "base_url"])
@pytest.mark.parametrize("value", ["", 5, b"q"])
def test_queue_and_base_url_are_non_empty_strings(name: str, value: object) -> None:
    message = f"{name}: expected a non-empty string, got {value!r}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        merge_options(DelayOptions(), {name: value})
    assert getattr(merge_options(DelayOptions(), {name: "kitchen"}), name) == "kitchen"


def test_dispatch_deadline() -> None:
    assert merge_options(DelayOptions(), {"dispatch_deadline": 60}).dispatch_deadline == (
        timedelta(minutes=1)
    )
    message = "dispatch_deadline: must be 15 s to 30 min, got 5 s"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        merge_options(DelayOptions(), {"dispatch_deadline": 5})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([("x-a", "1")], "headers: expected a mapping of names to values, got [('x-a', '1')]"),
        ({"x-a": 1}, "headers: names and values must be strings, got 'x-a': 1"),
        ({1: "a"}, "headers: names and values must be strings, got 1: 'a'"),
    ],
)
def test_headers_refused(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        merge_options(DelayOptions(), {"headers": value})


def test_one_hook_or_a_sequence_of_hooks() -> None:
    assert merge_options(DelayOptions(), {"hooks": first}).hooks == (first,)
    assert merge_options(DelayOptions(), {"hooks": [first, second]}).hooks == (first, second)
    assert merge_options(DelayOptions(), {"hooks": (second,)}).hooks == (second,)
    with pytest.raises(TypeError, match=r"^hooks: 42 is not callable$"):
        merge_options(DelayOptions(), {"hooks": [first, 42]})
    with pytest.raises(TypeError, match=r"^hooks: 'h' is not callable$"):
        merge_options(DelayOptions(), {"hooks": "h"})


def test_hash_task_id_is_a_bool() -> None:
    assert merge_options(DelayOptions(), {"hash_task_id": True}).hash_task_id is True
    assert merge_options(DelayOptions(hash_task_id=True), {"hash_task_id": False}).hash_task_id is (
        False
    )
    with pytest.raises(TypeError, match=r"^hash_task_id: expected True or False, got 1$"):
        merge_options(DelayOptions(), {"hash_task_id": 1})


@pytest.mark.parametrize("value", [0, -1, 0.0, True, "5"])
def test_create_timeout_refused(value: object) -> None:
    message = f"create_timeout: expected positive seconds, got {value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        merge_options(DelayOptions(), {"create_timeout": value})


def test_create_timeout_accepted() -> None:
    timeout = merge_options(DelayOptions(), {"create_timeout": 2}).create_timeout
    assert timeout == 2.0
    assert type(timeout) is float


@pytest.mark.parametrize("value", ["ok-id_1", "a" * 500])
def test_task_id_accepted(value: str) -> None:
    assert merge_options(DelayOptions(), {"task_id": value}).task_id == value


@pytest.mark.parametrize("value", ["", "a" * 501, "no spaces", "slash/no", 7])
def test_task_id_refused(value: object) -> None:
    message = f"task_id: {value!r} must be 1-500 letters, digits, hyphens or underscores"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        merge_options(DelayOptions(), {"task_id": value})


# --- the merge rule, for any two layers of options ---------------------------------------------

_HEADER_NAMES = st.sampled_from(["x-a", "x-b", "x-c"])
_layers = st.fixed_dictionaries(
    {},
    optional={
        "countdown": st.none() | st.integers(min_value=0, max_value=3600),
        "queue": st.none() | st.sampled_from(["a", "b"]),
        "task_id": st.none() | st.sampled_from(["t-1", "t-2"]),
        "headers": st.none() | st.dictionaries(_HEADER_NAMES, st.sampled_from(["1", "2"])),
        "hooks": st.none() | st.lists(st.sampled_from([first, second, third]), max_size=3),
        "create_timeout": st.none() | st.sampled_from([1, 2.5]),
    },
)


@settings(max_examples=100)
@given(route=_layers, call=_layers)
def test_a_call_layers_over_the_route_by_one_rule(
    route: dict[str, Any], call: dict[str, Any]
) -> None:
    base = merge_options(DelayOptions(), route)
    merged = merge_options(base, call)
    for name in ("countdown", "queue", "task_id", "create_timeout"):
        if name not in call:
            assert getattr(merged, name) == getattr(base, name)
        elif call[name] is None:
            assert getattr(merged, name) == getattr(DelayOptions(), name)
        else:
            assert getattr(merged, name) == call[name]
    if "hooks" not in call:
        assert merged.hooks == base.hooks
    elif call["hooks"] is None:
        assert merged.hooks == ()
    else:
        assert merged.hooks == (*base.hooks, *call["hooks"])
    if "headers" not in call:
        assert merged.headers == base.headers
    elif call["headers"] is None:
        assert merged.headers == ()
    else:
        assert dict(merged.headers) == {**dict(base.headers), **call["headers"]}
        assert [name for name, _ in merged.headers][: len(base.headers)] == [
            name for name, _ in base.headers
        ]
