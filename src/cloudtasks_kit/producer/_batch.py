"""``delay_many`` / ``adelay_many`` in BatchCreateTasks calls: at most 100 tasks of one queue per
call, and an outcome per task.

The calls were validated first (``_bulk.prepare_bulk``). Here each becomes the
``CreateTaskRequest`` that ``.delay()`` would send, and they are cut into batches of at most
:data:`~cloudtasks_kit._protocol.MAX_BATCH_CREATE` per queue. A batch is one PRODUCER span
(``create <queue>`` with ``messaging.batch.message_count``, and the ids created in
``cloudtasks_kit.task_ids``); inside it each request goes through the hook chain and the header
checks exactly as a single task's does (so a propagated ``traceparent`` is the batch's span),
then the batch is one BatchCreateTasks call. Its long-running operation (polled within the
create timeout if it is not done at once) maps each failed request to its status:

- ALREADY_EXISTS: ``already_exists``, so a retried batch with the same ids creates nothing twice;
- a transient status (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED, ABORTED):
  sent again with the others that got one, within the create timeout and retries;
- any other: ``failed``, with the service's message.

A whole call failing transiently is retried within the create timeout as CreateTask is, and a
missing queue is created where the settings allow it. Where batches are not available (a client
stand-in without ``batch_create_tasks``, or a service that answers UNIMPLEMENTED, remembered per
client) every task is one CreateTask, as ``.delay()`` creates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from fastapi.routing import APIRoute
from google.api_core import exceptions as api_exceptions
from google.cloud import tasks_v2
from opentelemetry.trace import Span

from .._binding import BoundRequest
from .._errors import (
    CloudTasksKitError,
    InvalidTaskArguments,
    TaskAlreadyExists,
    TaskCreateError,
    TaskCreateTimeout,
)
from .._protocol import MAX_BATCH_CREATE
from ._bulk import BulkItem, abulk_item, bulk_item
from ._enqueue import _TRANSIENT, DelayResult, TaskEnqueuer, _Attempts, delay_result
from ._options import DelayOptions
from ._tracing import BATCH_TASK_IDS, producer_batch_span

__all__: list[str] = []

Prepared = Sequence[tuple[BoundRequest, DelayOptions]]

#: Clients whose service answered BatchCreateTasks with UNIMPLEMENTED: single creates from then on.
_NO_BATCH: weakref.WeakSet[Any] = weakref.WeakSet()
# A batch's requests are also kept under this many bytes: a hundred large tasks would make a
# message past what gRPC servers accept (4 MB by default, the emulator 8 MB).
_MAX_BATCH_BYTES = 3 * 1024 * 1024
_POLL_FIRST = 0.05
_POLL_MAX = 2.0
_ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS.value[0]
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}
_BatchRequestPb: Any = tasks_v2.BatchCreateTasksRequest.pb()
_MetadataPb: Any = tasks_v2.BatchCreateTasksMetadata.pb()
_ResponsePb: Any = tasks_v2.BatchCreateTasksResponse.pb()
_NO_SPAN: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


def batches_on(client: Any) -> bool:
    """Whether ``client`` creates tasks in batches (as far as the kit knows so far)."""
    return client not in _NO_BATCH and callable(getattr(client, "batch_create_tasks", None))


def create_many(
    enqueuer: TaskEnqueuer, route: APIRoute, prepared: Prepared, concurrency: int
) -> list[BulkItem]:
    """The sync client: ``concurrency`` calls at a time from a thread pool."""
    client = enqueuer.client
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        if batches_on(client):
            done = pool.map(
                lambda chunk: _Batch(enqueuer, route, chunk).create(client),
                _chunks(enqueuer, prepared),
            )
            return _in_order(item for items in done for item in items)
        return list(
            pool.map(
                lambda item: bulk_item(item[0], lambda: enqueuer.enqueue(route, *item[1])),
                enumerate(prepared),
            )
        )


async def acreate_many(
    enqueuer: TaskEnqueuer, route: APIRoute, prepared: Prepared, concurrency: int
) -> list[BulkItem]:
    """The async client: ``concurrency`` calls in flight."""
    client = await enqueuer.aclient()
    results: list[BulkItem] = []
    if batches_on(client):
        chunks = iter(_chunks(enqueuer, prepared))

        async def send_batches() -> None:
            for chunk in chunks:
                results.extend(await _Batch(enqueuer, route, chunk).acreate(client))

        await asyncio.gather(*(send_batches() for _ in range(concurrency)))
        return _in_order(results)
    pending = iter(enumerate(prepared))

    async def send_tasks() -> None:
        for index, (bound, options) in pending:
            results.append(await abulk_item(index, enqueuer.aenqueue(route, bound, options)))

    await asyncio.gather(*(send_tasks() for _ in range(concurrency)))
    return _in_order(results)


def _in_order(items: Iterable[BulkItem]) -> list[BulkItem]:
    return sorted(items, key=lambda item: item.index)


def _chunks(
    enqueuer: TaskEnqueuer, prepared: Prepared
) -> list[list[tuple[int, BoundRequest, DelayOptions]]]:
    """The calls by queue, in their order, cut at :data:`MAX_BATCH_CREATE`."""
    queues: dict[str | None, str] = {}
    by_queue: dict[str, list[tuple[int, BoundRequest, DelayOptions]]] = {}
    for index, (bound, options) in enumerate(prepared):
        queue = queues.get(options.queue)
        if queue is None:
            queue = queues[options.queue] = enqueuer.settings.queue_path(options.queue)
        by_queue.setdefault(queue, []).append((index, bound, options))
    return [
        calls[start : start + MAX_BATCH_CREATE]
        for calls in by_queue.values()
        for start in range(0, len(calls), MAX_BATCH_CREATE)
    ]


@dataclass(slots=True)
class _Task:
    """One call of a batch: its request as the hooks left it (and the protobuf under it)."""

    index: int
    request: tasks_v2.CreateTaskRequest
    sent: Any
    options: DelayOptions


class _Batch:
    """One chunk: built, hooked and checked inside its span, then created in as few calls as
    its queues and size allow (one, unless a hook moved tasks to another queue)."""

    def __init__(
        self,
        enqueuer: TaskEnqueuer,
        route: APIRoute,
        chunk: list[tuple[int, BoundRequest, DelayOptions]],
    ) -> None:
        self.enqueuer = enqueuer
        self.route = route
        self.chunk = chunk
        self.items: dict[int, BulkItem] = {}

    # -- the two drivers: the same steps, on the sync or the async client ---------------------

    def create(self, client: Any) -> list[BulkItem]:
        with self._span() as span:
            for group in self._groups(self._hooked()):
                self._send(client, group)
            return self._finish(span)

    async def acreate(self, client: Any) -> list[BulkItem]:
        with self._span() as span:
            for group in self._groups(self._hooked()):
                await self._asend(client, group)
            return self._finish(span)

    def _send(self, client: Any, group: list[_Task]) -> None:
        call = _Call(self, group, client)
        while call.pending:
            try:
                remaining = call.attempts.start()
                try:
                    answer = client.batch_create_tasks(
                        request=call.request(), timeout=remaining, retry=None
                    )
                except api_exceptions.NotFound:
                    call.queue_missing()
                    self.enqueuer.create_missing_queue(client, call.pending[0].request)
                    continue
                except api_exceptions.GoogleAPICallError as exc:
                    time.sleep(call.call_failed(exc, client))
                    continue
                time.sleep(call.answered(self._wait(client, answer.operation, call)))
            except CloudTasksKitError as exc:
                call.give_up(exc)
        for task in call.singles:
            self.items[task.index] = bulk_item(task.index, self._single(client, task))

    async def _asend(self, client: Any, group: list[_Task]) -> None:
        call = _Call(self, group, client)
        while call.pending:
            try:
                remaining = call.attempts.start()
                try:
                    answer = await client.batch_create_tasks(
                        request=call.request(), timeout=remaining, retry=None
                    )
                except api_exceptions.NotFound:
                    call.queue_missing()
                    await self.enqueuer.acreate_missing_queue(client, call.pending[0].request)
                    continue
                except api_exceptions.GoogleAPICallError as exc:
                    await asyncio.sleep(call.call_failed(exc, client))
                    continue
                await asyncio.sleep(
                    call.answered(await self._await(client, answer.operation, call))
                )
            except CloudTasksKitError as exc:
                call.give_up(exc)
        if call.singles:
            await asyncio.gather(*(self._asingle(client, task) for task in call.singles))

    def _wait(self, client: Any, operation: Any, call: _Call) -> Any:
        """The operation once done: polled with GetOperation within the create timeout."""
        poll = _POLL_FIRST
        while not operation.done:
            time.sleep(call.poll_wait(poll))
            poll = min(poll * 2, _POLL_MAX)
            try:
                operation = client.get_operation(
                    request={"name": operation.name}, timeout=call.remaining(), retry=None
                )
            except api_exceptions.GoogleAPICallError as exc:
                call.poll_failed(exc, operation.name)
        return operation

    async def _await(self, client: Any, operation: Any, call: _Call) -> Any:
        poll = _POLL_FIRST
        while not operation.done:
            await asyncio.sleep(call.poll_wait(poll))
            poll = min(poll * 2, _POLL_MAX)
            try:
                operation = await client.get_operation(
                    request={"name": operation.name}, timeout=call.remaining(), retry=None
                )
            except api_exceptions.GoogleAPICallError as exc:
                call.poll_failed(exc, operation.name)
        return operation

    def _single(self, client: Any, task: _Task) -> Callable[[], DelayResult]:
        """One CreateTask of a request the hooks have already seen (after UNIMPLEMENTED)."""

        def create() -> DelayResult:
            created = self.enqueuer._create(client, task.request, task.options)
            return delay_result(task.sent, tasks_v2.Task.pb(created))

        return create

    async def _asingle(self, client: Any, task: _Task) -> None:
        async def create() -> DelayResult:
            created = await self.enqueuer._acreate(client, task.request, task.options)
            return delay_result(task.sent, tasks_v2.Task.pb(created))

        self.items[task.index] = await abulk_item(task.index, create())

    # -- shared steps -------------------------------------------------------------------------

    def _span(self) -> contextlib.AbstractContextManager[Span | None]:
        if not self.enqueuer.settings.tracing:
            return _NO_SPAN
        queue = self.enqueuer.settings.queue_path(self.chunk[0][2].queue)
        return producer_batch_span(queue.rsplit("/", 1)[1], len(self.chunk))

    def _hooked(self) -> list[_Task]:
        """Each call's request, built as ``.delay()`` builds it, through the hooks and the
        header checks; a call whose headers cannot be sent is ``failed`` here."""
        enqueuer, route = self.enqueuer, self.route
        hooked = []
        # The calls of a chunk differ in their task ids only: one target for them all.
        targets: dict[tuple[str | None, object], tuple[str, str]] = {}
        for index, bound, options in self.chunk:
            where = (options.queue, options.base_url)
            target = targets.get(where)
            if target is None:
                target = targets[where] = enqueuer._target(route, options)
            request = enqueuer._request_for(bound, options, *target)
            try:
                request = enqueuer._run_hooks(route, request, options)
            except InvalidTaskArguments as exc:
                self.items[index] = BulkItem(index, "failed", error=str(exc))
                continue
            hooked.append(_Task(index, request, tasks_v2.CreateTaskRequest.pb(request), options))
        return hooked

    def _groups(self, tasks: list[_Task]) -> list[list[_Task]]:
        """One group per queue (hooks may change it), each within the count and size limits."""
        by_queue: dict[str, list[_Task]] = {}
        for task in tasks:
            by_queue.setdefault(task.sent.parent, []).append(task)
        groups: list[list[_Task]] = []
        for members in by_queue.values():
            group: list[_Task] = []
            size = 0
            for task in members:
                task_size = task.sent.ByteSize()
                if group and (
                    len(group) == MAX_BATCH_CREATE or size + task_size > _MAX_BATCH_BYTES
                ):
                    groups.append(group)
                    group, size = [], 0
                group.append(task)
                size += task_size
            groups.append(group)
        return groups

    def _finish(self, span: Span | None) -> list[BulkItem]:
        items = [self.items[index] for index, _, _ in self.chunk]
        if span is not None:
            created = [item.result.task_id for item in items if item.result is not None]
            span.set_attribute(BATCH_TASK_IDS, created)
        return items


class _Call:
    """One group's BatchCreateTasks call and its retries: which requests are still to send,
    the create timeout's policy (``_Attempts``, as for one CreateTask), and what each answer
    settled."""

    def __init__(self, batch: _Batch, group: list[_Task], client: Any) -> None:
        self.batch = batch
        self.pending = group
        self.singles: list[_Task] = []
        if not batches_on(client):  # UNIMPLEMENTED since this bulk call began
            self.singles, self.pending = group, []
        self.queue_created = False
        enqueuer = batch.enqueuer
        first = group[0]
        self.attempts = _Attempts(
            first.request, enqueuer._timeout(first.options), enqueuer.settings
        )

    def request(self) -> tasks_v2.BatchCreateTasksRequest:
        message = _BatchRequestPb(parent=self.pending[0].sent.parent)
        message.requests.extend(task.sent for task in self.pending)
        wrapped: tasks_v2.BatchCreateTasksRequest = tasks_v2.BatchCreateTasksRequest.wrap(message)
        return wrapped

    def remaining(self) -> float:
        return max(0.0, self.attempts.deadline - time.monotonic())

    def queue_missing(self) -> None:
        """NOT_FOUND: the queue is missing. Returns if it may be created (once);
        :raises TaskCreateError: it may not, or it is missing again."""
        if self.queue_created:
            raise TaskCreateError(f"queue {self.pending[0].sent.parent} does not exist")
        self.batch.enqueuer._check_may_create_queue(self.pending[0].request)
        self.queue_created = True

    def call_failed(self, exc: api_exceptions.GoogleAPICallError, client: Any) -> float:
        """The call got no operation: seconds to wait before sending again, or the error that
        ends the call. UNIMPLEMENTED moves every request to ``singles`` (and 0)."""
        if isinstance(exc, api_exceptions.MethodNotImplemented):
            _NO_BATCH.add(client)
            self.singles, self.pending = self.pending, []
            return 0.0
        if isinstance(exc, api_exceptions.Conflict) and not isinstance(exc, _TRANSIENT):
            raise TaskCreateError(f"Cloud Tasks refused the batch: {exc}") from exc
        return self.attempts.failed(exc)

    def answered(self, operation: Any) -> float:
        """Settle each pending request from the done operation; what got a transient status
        stays pending. Seconds to wait before sending those again (0: none left)."""
        metadata = _MetadataPb()
        operation.metadata.Unpack(metadata)
        failures = metadata.failed_requests
        if operation.HasField("error") and not failures:
            # The whole batch failed (state FAILED): as if the call had.
            error = operation.error
            code = _STATUS_CODES.get(error.code, grpc.StatusCode.UNKNOWN)
            exc = api_exceptions.from_grpc_status(code, error.message)
            return self.attempts.failed(exc, answered=True)
        response = _ResponsePb()
        if operation.HasField("response"):
            operation.response.Unpack(response)
        created = iter(response.tasks)
        items = self.batch.items
        again: list[_Task] = []
        transient: api_exceptions.GoogleAPICallError | None = None
        for position, task in enumerate(self.pending):
            if position not in failures:
                answer = next(created, None)
                items[task.index] = (
                    BulkItem(task.index, "created", delay_result(task.sent, answer))
                    if answer is not None
                    else BulkItem(task.index, "failed", error="missing from the batch's answer")
                )
                continue
            status = failures[position]
            code = _STATUS_CODES.get(status.code, grpc.StatusCode.UNKNOWN)
            exc = api_exceptions.from_grpc_status(code, status.message)
            if status.code == _ALREADY_EXISTS:
                error = str(TaskAlreadyExists(task.sent.task.name))
                items[task.index] = BulkItem(task.index, "already_exists", error=error)
            elif isinstance(exc, _TRANSIENT):
                again.append(task)
                transient = exc
            else:
                items[task.index] = BulkItem(
                    task.index, "failed", error=f"Cloud Tasks refused the task: {exc}"
                )
        self.pending = again
        return 0.0 if transient is None else self.attempts.failed(transient, answered=True)

    def poll_wait(self, poll: float) -> float:
        remaining = self.remaining()
        if remaining <= 0:
            raise TaskCreateTimeout(
                f"the batch creating tasks in {self.pending[0].sent.parent} did not finish within "
                f"{self.attempts.timeout:g} s; whether its tasks were created is not known"
            )
        return min(poll, remaining)

    def poll_failed(self, exc: api_exceptions.GoogleAPICallError, name: str) -> None:
        # Sending the batch again could create its unnamed tasks twice: only the polling retries.
        if not isinstance(exc, _TRANSIENT):
            raise TaskCreateError(f"could not follow the batch's operation {name}: {exc}") from exc

    def give_up(self, exc: CloudTasksKitError) -> None:
        for task in self.pending:
            self.batch.items[task.index] = BulkItem(task.index, "failed", error=str(exc))
        self.pending = []
