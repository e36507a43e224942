"""Many tasks of one route at once: every item validated first, then one outcome per item.

``delay_many`` / ``adelay_many`` bind and check every call before the first RPC, so a bad
item fails the whole batch with nothing sent; after that each item comes back ``created``,
``already_exists`` (its ``task_id`` was taken: a retried batch creates nothing twice) or
``failed`` with the reason, in the order of the calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from .._binding import BoundRequest, RouteBinder
from .._errors import CloudTasksKitError, InvalidTaskArguments, TaskAlreadyExists
from ._enqueue import DelayResult
from ._options import DelayOptions, check_task_id

__all__ = ["BulkItem", "BulkResult"]


@dataclass(frozen=True, slots=True)
class BulkItem:
    index: int
    status: Literal["created", "already_exists", "failed"]
    result: DelayResult | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Per-item outcomes of ``delay_many`` / ``adelay_many``, in the order of the calls."""

    items: tuple[BulkItem, ...]

    @property
    def created(self) -> list[BulkItem]:
        return [item for item in self.items if item.status == "created"]

    @property
    def failed(self) -> list[BulkItem]:
        return [item for item in self.items if item.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed


def prepare_bulk(
    binder: RouteBinder,
    label: str,
    options: DelayOptions,
    calls: Iterable[Mapping[str, Any]],
    task_ids: Sequence[str] | None,
) -> list[tuple[BoundRequest, DelayOptions]]:
    """Bind every call and check every id first: a bad item fails the batch before any RPC.

    :raises InvalidTaskArguments: naming every bad item by its index.
    :raises ValueError: ``task_ids`` and ``calls`` differ in length.
    """
    calls = list(calls)
    if task_ids is not None and len(task_ids) != len(calls):
        raise ValueError(f"task_ids: {len(task_ids)} ids for {len(calls)} calls")
    prepared: list[tuple[BoundRequest, DelayOptions]] = []
    errors: list[str] = []
    for index, kwargs in enumerate(calls):
        try:
            bound = binder.bind(**kwargs)
            item_options = (
                options
                if task_ids is None
                else replace(options, task_id=check_task_id(task_ids[index]))
            )
        except (InvalidTaskArguments, ValueError) as exc:
            errors.append(f"item {index}: {exc}")
            continue
        prepared.append((bound, item_options))
    if errors:
        raise InvalidTaskArguments(label, errors)
    return prepared


def bulk_item(index: int, enqueue: Callable[[], DelayResult]) -> BulkItem:
    try:
        return BulkItem(index, "created", enqueue())
    except TaskAlreadyExists as exc:
        return BulkItem(index, "already_exists", error=str(exc))
    except CloudTasksKitError as exc:
        return BulkItem(index, "failed", error=str(exc))


async def abulk_item(index: int, enqueue: Awaitable[DelayResult]) -> BulkItem:
    try:
        return BulkItem(index, "created", await enqueue)
    except TaskAlreadyExists as exc:
        return BulkItem(index, "already_exists", error=str(exc))
    except CloudTasksKitError as exc:
        return BulkItem(index, "failed", error=str(exc))


def check_concurrency(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"concurrency: expected a positive integer, got {value!r}")
    return value
