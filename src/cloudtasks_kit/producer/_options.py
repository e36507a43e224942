"""Options of a task: what ``task_default_options`` sets per route and ``.options()`` per call.

:class:`DelayOptions` and every check of an option live here together: an option is checked
when it is given (so a bad one fails before any argument binding or RPC), and merging a
call's options over the route's defaults follows one rule, :func:`merge_options`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, TypeVar, Unpack

from .._hooks import DelayedTaskHook
from .._protocol import MAX_SCHEDULE_AHEAD, TASK_ID, check_deadline, header_problems

__all__ = ["DelayOptions", "OptionArguments", "task_default_options"]


@dataclass(frozen=True, slots=True)
class DelayOptions:
    """Per-route defaults (``task_default_options``) merged with per-call ``.options()``.

    All checked when given, so a bad option fails before any argument binding or RPC.
    """

    countdown: float | None = None
    eta: datetime | None = None
    task_id: str | None = None
    hash_task_id: bool = False
    queue: str | None = None
    base_url: str | None = None
    dispatch_deadline: timedelta | None = None
    headers: tuple[tuple[str, str], ...] = ()
    hooks: tuple[DelayedTaskHook, ...] = ()
    create_timeout: float | None = None


class OptionArguments(TypedDict, total=False):
    """The keywords of ``.options()`` and ``task_default_options()``, for type checkers.

    ``None`` for any of them means its default (``hooks=None`` drops the route's hooks).
    """

    countdown: float | timedelta | None
    eta: datetime | None
    task_id: str | None
    hash_task_id: bool | None
    queue: str | None
    base_url: str | None
    dispatch_deadline: float | timedelta | None
    headers: Mapping[str, str] | None
    hooks: DelayedTaskHook | Sequence[DelayedTaskHook] | None
    create_timeout: float | None


_OPTION_NAMES = tuple(f.name for f in fields(DelayOptions))
# ``None`` for an option means its default: no countdown, no headers, no extra hooks, ...
_OPTION_DEFAULTS = {f.name: f.default for f in fields(DelayOptions)}
# Frozen: one instance serves every route without defaults.
_NO_OPTIONS = DelayOptions()
# Route defaults by endpoint, set by task_default_options before the route exists.
_DEFAULTS_ATTRIBUTE = "__cloudtasks_delay_options__"

_F = TypeVar("_F", bound=Callable[..., Any])


def task_default_options(**options: Unpack[OptionArguments]) -> Callable[[_F], _F]:
    """Per-route defaults for ``.delay()``: ``countdown``, ``eta``, ``task_id``,
    ``hash_task_id``, ``queue``, ``base_url``, ``dispatch_deadline``, ``headers``, ``hooks``,
    ``create_timeout``. Checked here, where they are written."""
    parsed = merge_options(DelayOptions(), options)

    def decorate(endpoint: _F) -> _F:
        # Kept on the function and read at each call (route_defaults), so the decorator works
        # above or below the router's: the route may not exist yet.
        setattr(endpoint, _DEFAULTS_ATTRIBUTE, parsed)
        return endpoint

    return decorate


def route_defaults(endpoint: Callable[..., Any]) -> DelayOptions:
    """The options ``task_default_options`` gave an endpoint, or none."""
    defaults = getattr(endpoint, _DEFAULTS_ATTRIBUTE, None)
    return defaults if isinstance(defaults, DelayOptions) else _NO_OPTIONS


def merge_options(base: DelayOptions, options: Mapping[str, Any]) -> DelayOptions:
    """``options`` (checked now) over ``base``.

    ``hooks`` run after the base's, ``headers`` merge over them (a name given again, in any
    case, takes the newer value), a ``countdown`` replaces a base ``eta`` and the other way
    round, and ``None`` restores an option's default.

    :raises TypeError: an unknown option, a value of the wrong type, countdown and eta both.
    :raises ValueError: a value out of range.
    """
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"unknown delay option(s) {', '.join(unknown)}; known: {', '.join(_OPTION_NAMES)}"
        )
    changes: dict[str, Any] = {
        name: (_OPTION_CHECKS[name](value) if value is not None else _OPTION_DEFAULTS[name])
        for name, value in options.items()
    }
    if changes.get("countdown") is not None and changes.get("eta") is not None:
        raise TypeError("pass countdown or eta, not both")
    # Given as None, they are reset above; given empty, they add nothing (and drop nothing).
    if options.get("hooks") is not None:
        # Hooks add to the route's (and earlier .options()'), and run after them, in order.
        changes["hooks"] = (*base.hooks, *changes["hooks"])
    if options.get("headers") is not None:
        # Headers merge over the route's; a name given again takes the newer value.
        changes["headers"] = merge_headers(base.headers, changes["headers"])
    merged = replace(base, **changes)
    # A countdown given per call replaces a default eta, and the other way round.
    if changes.get("countdown") is not None:
        merged = replace(merged, eta=None)
    if changes.get("eta") is not None:
        merged = replace(merged, countdown=None)
    return merged


def _countdown(value: Any) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"countdown: expected seconds or a timedelta, got {value!r}")
    if value < 0:
        raise ValueError(f"countdown: must not be negative, got {value}")
    if value > MAX_SCHEDULE_AHEAD.total_seconds():
        raise ValueError("countdown: Cloud Tasks schedules at most 30 days ahead")
    return float(value)


def _eta(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"eta: expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("eta: must be an aware datetime (e.g. datetime.now(UTC) + ...)")
    if value - datetime.now(UTC) > MAX_SCHEDULE_AHEAD:
        raise ValueError("eta: Cloud Tasks schedules at most 30 days ahead")
    return value


def check_task_id(value: Any) -> str:
    if not isinstance(value, str) or not TASK_ID.fullmatch(value):
        raise ValueError(
            f"task_id: {value!r} must be 1-500 letters, digits, hyphens or underscores"
        )
    return value


def _text(name: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name}: expected a non-empty string, got {value!r}")
        return value

    return check


def _deadline(value: Any) -> timedelta:
    return check_deadline(value, "dispatch_deadline")


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise TypeError(f"headers: expected a mapping of names to values, got {value!r}")
    pairs = tuple(value.items())
    for key, item in pairs:
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"headers: names and values must be strings, got {key!r}: {item!r}")
    # CR/LF, NUL and other control characters, names that are not tokens, one name in two
    # cases, over 80 KB: refused now, before any RPC (a task holding them cannot be sent).
    problems = header_problems(dict(pairs))
    if problems:
        raise ValueError("headers: " + "; ".join(problems))
    return pairs


def merge_headers(
    base: Iterable[tuple[str, str]], newer: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """``newer`` over ``base``: a header named again, in any case, takes the newer value (and
    spelling). Header names are case-insensitive, and a task carries each header once."""
    merged = dict(base)
    for name, value in newer:
        for known in [known for known in merged if known.lower() == name.lower()]:
            del merged[known]
        merged[name] = value
    return tuple(merged.items())


def _hooks(value: Any) -> tuple[DelayedTaskHook, ...]:
    hooks = tuple(value) if isinstance(value, Sequence) else (value,)
    for hook in hooks:
        if not callable(hook):
            raise TypeError(f"hooks: {hook!r} is not callable")
    return hooks


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"hash_task_id: expected True or False, got {value!r}")
    return value


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"create_timeout: expected positive seconds, got {value!r}")
    return float(value)


_OPTION_CHECKS: dict[str, Callable[[Any], Any]] = {
    "countdown": _countdown,
    "eta": _eta,
    "task_id": check_task_id,
    "hash_task_id": _flag,
    "queue": _text("queue"),
    "base_url": _text("base_url"),
    "dispatch_deadline": _deadline,
    "headers": _headers,
    "hooks": _hooks,
    "create_timeout": _timeout,
}
