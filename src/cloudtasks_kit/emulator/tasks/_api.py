"""The ``google.cloud.tasks.v2.CloudTasks`` gRPC methods: validate, store, answer.

Requests are checked completely before anything is written, so a rejected call leaves no
trace; every answer is built from what was committed.
"""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import Any

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksRestTransport
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, field_mask_pb2

from ..._protocol import (
    DEAD_LETTER_QUEUE,
    DEFAULT_DISPATCH_DEADLINE,
    MAX_BATCH_CREATE,
    MAX_BATCH_DELETE,
    MAX_CONCURRENT_DISPATCHES,
    MAX_DISPATCHES_PER_SECOND,
    TASK_HEADER_RULES,
)
from .._checks import check_duration, check_finite, check_timestamp, set_timestamp
from .._clock import Clock
from .._config import EmulatorConfig
from .._errors import (
    ApiError,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
    shown,
)
from .._http_attempt import rpc_code_for_http
from .._http_target import TargetRules, check_http_target
from .._methods import MethodTable
from .._names import location_of, new_resource_id, parse_queue_name, parse_task_name
from .._operations import OperationsApi
from .._paging import PageTokens, page_size
from .._stats import Stats
from .._store import DuplicateName
from ._dispatcher import Dispatcher
from ._store import TaskRow, TaskStore

__all__ = ["CloudTasksApi"]

SERVICE = "google.cloud.tasks.v2.CloudTasks"

QueuePb = tasks_v2.Queue.pb()
TaskPb = tasks_v2.Task.pb()
BatchCreateResponsePb = tasks_v2.BatchCreateTasksResponse.pb()
BatchCreateMetadataPb = tasks_v2.BatchCreateTasksMetadata.pb()
BatchDeleteMetadataPb = tasks_v2.BatchDeleteTasksMetadata.pb()
# proto-plus enums type-check as plain ints; they are IntEnums at run time.
_State: Any = tasks_v2.Queue.State
# Queue fields a client may set; the rest (name, state, purge_time) are output only.
_UPDATABLE = {
    "rate_limits",
    "retry_config",
    "stackdriver_logging_config",
    "app_engine_routing_override",
    "http_target",
}
_TARGET_RULES = TargetRules("task.http_request", "url", TASK_HEADER_RULES)
_DEFAULT_PAGE = 100
_MAX_PAGE = 1000
# (SUCCEEDED, PARTIALLY_SUCCEEDED) of each method's metadata State: the numbers differ.
_BATCH_STATES = {
    "BatchCreateTasks": (
        int(tasks_v2.BatchCreateTasksMetadata.State.SUCCEEDED),
        int(tasks_v2.BatchCreateTasksMetadata.State.PARTIALLY_SUCCEEDED),
    ),
    "BatchDeleteTasks": (
        int(tasks_v2.BatchDeleteTasksMetadata.State.SUCCEEDED),
        int(tasks_v2.BatchDeleteTasksMetadata.State.PARTIALLY_SUCCEEDED),
    ),
}


class CloudTasksApi:
    # What the faces serve (_methods.Api): the gRPC service, and the client whose REST
    # transport's HTTP rules are the REST routes.
    service = SERVICE
    rest_transport = CloudTasksRestTransport

    def __init__(
        self,
        store: TaskStore,
        dispatcher: Dispatcher,
        clock: Clock,
        stats: Stats,
        config: EmulatorConfig,
        tokens: PageTokens | None = None,
        operations: OperationsApi | None = None,
    ) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock
        self._stats = stats
        self._config = config
        self._tokens = tokens or PageTokens()
        # The operations the batch methods answer with (served by their own API, see _server).
        self._operations = operations or OperationsApi(store.database, clock, self.rest_transport)
        self._queues: dict[str, Any] = {}
        for name, body in store.queues():
            self._queues[name] = QueuePb.FromString(body)
            dispatcher.queue_changed(name, self._queues[name])

    # -- wiring ---------------------------------------------------------------------------

    def methods(self) -> MethodTable:
        """What the gRPC and REST faces serve (see ``_server``)."""
        methods: MethodTable = {
            "CreateQueue": (
                self.create_queue,
                tasks_v2.CreateQueueRequest.pb(),
                QueuePb,
            ),
            "GetQueue": (self.get_queue, tasks_v2.GetQueueRequest.pb(), QueuePb),
            "ListQueues": (
                self.list_queues,
                tasks_v2.ListQueuesRequest.pb(),
                tasks_v2.ListQueuesResponse.pb(),
            ),
            "UpdateQueue": (self.update_queue, tasks_v2.UpdateQueueRequest.pb(), QueuePb),
            "DeleteQueue": (
                self.delete_queue,
                tasks_v2.DeleteQueueRequest.pb(),
                empty_pb2.Empty,
            ),
            "PurgeQueue": (self.purge_queue, tasks_v2.PurgeQueueRequest.pb(), QueuePb),
            "PauseQueue": (self.pause_queue, tasks_v2.PauseQueueRequest.pb(), QueuePb),
            "ResumeQueue": (self.resume_queue, tasks_v2.ResumeQueueRequest.pb(), QueuePb),
            "CreateTask": (self.create_task, tasks_v2.CreateTaskRequest.pb(), TaskPb),
            "GetTask": (self.get_task, tasks_v2.GetTaskRequest.pb(), TaskPb),
            "ListTasks": (
                self.list_tasks,
                tasks_v2.ListTasksRequest.pb(),
                tasks_v2.ListTasksResponse.pb(),
            ),
            "DeleteTask": (self.delete_task, tasks_v2.DeleteTaskRequest.pb(), empty_pb2.Empty),
            "RunTask": (self.run_task, tasks_v2.RunTaskRequest.pb(), TaskPb),
            "BatchCreateTasks": (
                self.batch_create_tasks,
                tasks_v2.BatchCreateTasksRequest.pb(),
                operations_pb2.Operation,
            ),
            "BatchDeleteTasks": (
                self.batch_delete_tasks,
                tasks_v2.BatchDeleteTasksRequest.pb(),
                operations_pb2.Operation,
            ),
        }
        return methods

    def declare_queues(self, declared: tuple[bytes, ...]) -> None:
        """Create or update the queues of ``--config`` (declared state wins)."""
        for body in declared:
            queue = QueuePb.FromString(body)
            request = tasks_v2.UpdateQueueRequest.pb()(queue=queue)
            self.update_queue(request)

    # -- resets (the admin side, for test suites) ----------------------------------------------

    def reset(self) -> None:
        """Forget every queue, task and tombstone, as a fresh start on an empty state file
        would (the queues of ``--config`` are declared again)."""
        for name in list(self._queues):
            self._dispatcher.queue_removed(name)
        self._dispatcher.forget_attempts()
        self._queues.clear()
        self._operations.clear()
        self._store.reset()
        self.declare_queues(self._config.declared_queues)

    def reset_queue(self, name: str) -> int:
        """Forget one queue's tasks and their tombstones (the queue stays as it is); the
        number of tasks forgotten."""
        key = str(self._queue(name, "queue").name)
        self._dispatcher.queue_purged(key)
        self._dispatcher.forget_attempts(key)
        return self._store.reset_queue(key)

    # -- queues ---------------------------------------------------------------------------

    def create_queue(self, request: Any) -> Any:
        parent = location_of(request.parent)
        queue = request.queue
        name = parse_queue_name(queue.name, "queue.name")
        if name.parent != parent:
            raise invalid_argument(
                f"queue.name: {queue.name!r} is not in the parent location {parent!r}"
            )
        _check_queue(queue)
        key = str(name)
        if key in self._queues:
            raise already_exists(f"queue {key} already exists")
        if self._store.queue_tombstone(key, self._clock.now()):
            raise failed_precondition(
                f"queue {key}: a queue with this name existed too recently; "
                "choose another name or wait"
            )
        stored = QueuePb()
        stored.CopyFrom(queue)
        stored.ClearField("purge_time")
        stored.state = _State.RUNNING.value
        return self._save_queue(key, stored)

    def get_queue(self, request: Any) -> Any:
        return self._queue(request.name)

    def list_queues(self, request: Any) -> Any:
        parent = location_of(request.parent)
        state = _state_filter(request.filter)
        names = sorted(
            name
            for name, queue in self._queues.items()
            if name.startswith(parent + "/queues/") and (state is None or queue.state == state)
        )
        page, next_token = self._tokens.page(
            f"ListQueues\n{parent}\n{request.filter}",
            names,
            request.page_size,
            request.page_token,
            default=_DEFAULT_PAGE,
            maximum=_MAX_PAGE,
        )
        return tasks_v2.ListQueuesResponse.pb()(
            queues=[self._queues[n] for n in page], next_page_token=next_token
        )

    def update_queue(self, request: Any) -> Any:
        queue = request.queue
        key = str(parse_queue_name(queue.name, "queue.name"))
        paths = list(request.update_mask.paths)
        for path in paths:
            if path.split(".", 1)[0] not in _UPDATABLE:
                raise invalid_argument(
                    f"update_mask: {shown(path)} is not an updatable queue field"
                )
        if paths and not field_mask_pb2.FieldMask(paths=paths).IsValidForDescriptor(
            QueuePb.DESCRIPTOR
        ):
            raise invalid_argument(f"update_mask: {shown(paths)} names a field Queue does not have")
        existing = self._queues.get(key)
        if existing is None:
            # UpdateQueue creates the queue when it does not exist.
            if self._store.queue_tombstone(key, self._clock.now()):
                raise failed_precondition(
                    f"queue {key}: a queue with this name existed too recently"
                )
            updated = QueuePb(name=key, state=_State.RUNNING.value)
        else:
            updated = QueuePb()
            updated.CopyFrom(existing)
        if paths:
            field_mask_pb2.FieldMask(paths=paths).MergeMessage(
                queue, updated, replace_message_field=True
            )
        else:
            for field in _UPDATABLE:
                if queue.HasField(field):
                    updated.ClearField(field)
                    getattr(updated, field).CopyFrom(getattr(queue, field))
        _check_queue(updated)
        return self._save_queue(key, updated)

    def delete_queue(self, request: Any) -> Any:
        key = str(self._queue_name(request.name))
        if key not in self._queues:
            raise not_found(f"queue {key} does not exist")
        self._store.delete_queue(key, self._clock.now() + self._config.queue_tombstone_ttl)
        del self._queues[key]
        self._dispatcher.queue_removed(key)
        return empty_pb2.Empty()

    def purge_queue(self, request: Any) -> Any:
        """Delete every task of the queue. Purged tasks are deleted tasks: their names stay
        taken for the tombstone window, unless ``--hard-reset-on-purge`` releases them (and
        the names the queue's earlier tasks left behind) at once."""
        queue = self._queue(request.name)
        now = self._clock.now()
        purged = QueuePb()
        purged.CopyFrom(queue)
        set_timestamp(purged.purge_time, now)
        if self._config.hard_reset_on_purge:
            self._store.reset_queue(purged.name)
            self._dispatcher.forget_attempts(purged.name)  # their names are free again
        else:
            self._store.purge(purged.name, now + self._config.task_tombstone_ttl)
        self._dispatcher.queue_purged(purged.name)
        return self._save_queue(purged.name, purged)

    def pause_queue(self, request: Any) -> Any:
        return self._set_state(request.name, _State.PAUSED.value)

    def resume_queue(self, request: Any) -> Any:
        return self._set_state(request.name, _State.RUNNING.value)

    def _set_state(self, name: str, state: int) -> Any:
        queue = QueuePb()
        queue.CopyFrom(self._queue(name))
        queue.state = state
        return self._save_queue(queue.name, queue)

    def _queue_name(self, name: str, field: str = "name") -> str:
        return str(parse_queue_name(name, field))

    def _queue(self, name: str, field: str = "name") -> Any:
        key = self._queue_name(name, field)
        queue = self._queues.get(key)
        if queue is None:
            raise not_found(f"queue {key} does not exist")
        return queue

    def _save_queue(self, key: str, queue: Any) -> Any:
        _fill_queue_defaults(queue)
        self._store.put_queue(key, queue.SerializeToString())
        self._queues[key] = queue
        self._dispatcher.queue_changed(key, queue)
        return queue

    # -- tasks ----------------------------------------------------------------------------

    def create_task(self, request: Any) -> Any:
        parent = str(parse_queue_name(request.parent, "parent"))
        now = self._clock.now()
        task = self._normalized_task(request.task, parent, now)
        if parent not in self._queues:
            raise not_found(f"queue {parent} does not exist")
        due = self._insert_task(task, parent, now)
        self._dispatcher.schedule(parent, task.name, due)
        self._stats.metrics.task_created(parent, _dead_letter_from(task))
        return task

    def batch_create_tasks(self, request: Any) -> Any:
        """Up to 100 CreateTask requests for one queue, each checked and stored as CreateTask
        does, in one transaction. One request failing does not stop the others: its index and
        status go to the metadata's ``failed_requests``, the created tasks to the response."""
        parent = self._queue_name(request.parent, "parent")
        requests = request.requests
        _check_batch_size("requests", len(requests), MAX_BATCH_CREATE)
        for index, each in enumerate(requests):
            # Google: "The queue specified in parent field of each CreateTaskRequest will be
            # the same", checked by the handler: a batch spans one queue.
            if each.parent != parent:
                raise invalid_argument(
                    f"requests[{index}].parent: {shown(each.parent)} is not the batch's "
                    f"parent {parent!r}; every task of a batch goes to the same queue"
                )
        if parent not in self._queues:
            raise not_found(f"queue {parent} does not exist")
        now = self._clock.now()
        response = BatchCreateResponsePb()
        metadata = BatchCreateMetadataPb()
        set_timestamp(metadata.start_time, now)
        created: list[tuple[Any, float]] = []
        with self._store.transaction():
            for index, each in enumerate(requests):
                try:
                    task = self._normalized_task(each.task, parent, now)
                    due = self._insert_task(task, parent, now)
                except ApiError as error:
                    _failed(metadata, index, error)
                    continue
                created.append((task, due))
                response.tasks.append(task)
            operation = self._batch_operation(
                "BatchCreateTasks", parent, metadata, response, requests
            )
        # Scheduled and counted once committed: the dispatcher reads what the store holds.
        for task, due in created:
            self._dispatcher.schedule(parent, task.name, due)
            self._stats.metrics.task_created(parent, _dead_letter_from(task))
        return operation

    def _insert_task(self, task: Any, parent: str, now: float) -> float:
        """Store a checked task (named: if its name is free; else a new id); its due time."""
        named = bool(task.name)
        if named:
            reason = self._store.tombstone_reason(task.name, now)
            if reason is not None:
                raise already_exists(
                    f"task {task.name} was {reason} recently; its name cannot be reused yet"
                )
        else:
            task.name = f"{parent}/tasks/{new_resource_id()}"
        due = check_timestamp(task.schedule_time, "task.schedule_time")
        row = TaskRow(task.name, parent, due, task.SerializeToString(), named)
        try:
            self._store.insert_task(row)
        except DuplicateName:
            raise already_exists(f"task {task.name} already exists") from None
        return due

    def _normalized_task(self, source: Any, parent: str, now: float) -> Any:
        config = self._config
        if source.WhichOneof("message_type") != "http_request":
            raise invalid_argument(
                "task.http_request: the emulator runs HTTP target tasks only "
                "(app_engine_http_request is not emulated)"
            )
        task = TaskPb()
        task.CopyFrom(source)
        for output_only in ("dispatch_count", "response_count", "first_attempt", "last_attempt"):
            task.ClearField(output_only)
        task.view = int(tasks_v2.Task.View.BASIC)
        if task.name:
            queue, _ = parse_task_name(task.name, "task.name")
            if queue != parent:
                raise invalid_argument(
                    f"task.name: {task.name!r} belongs to queue {queue!r}, "
                    f"not to the request's parent {parent!r}"
                )
        check_http_target(task.http_request, _TARGET_RULES)
        if task.HasField("schedule_time"):
            due = check_timestamp(task.schedule_time, "task.schedule_time")
            if due > now + config.max_schedule_ahead:
                raise invalid_argument(
                    "task.schedule_time: more than "
                    f"{config.max_schedule_ahead / 86400:g} days in the future"
                )
        else:
            set_timestamp(task.schedule_time, now)
        if task.HasField("dispatch_deadline"):
            seconds = check_duration(task.dispatch_deadline, "task.dispatch_deadline")
            if not config.min_dispatch_deadline <= seconds <= config.max_dispatch_deadline:
                raise invalid_argument(
                    f"task.dispatch_deadline: {seconds:g}s is outside "
                    f"[{config.min_dispatch_deadline:g}s, {config.max_dispatch_deadline:g}s]"
                )
        else:
            task.dispatch_deadline.FromTimedelta(DEFAULT_DISPATCH_DEADLINE)
        set_timestamp(task.create_time, now)
        size = task.ByteSize()
        if size > config.max_task_size:
            raise invalid_argument(
                f"task: {size} bytes is over the task size limit of {config.max_task_size} bytes"
            )
        return task

    def get_task(self, request: Any) -> Any:
        parse_task_name(request.name)
        row = self._store.task(request.name)
        if row is None:
            raise self._missing_task(request.name)
        return _task_view(row, request.response_view)

    def list_tasks(self, request: Any) -> Any:
        parent = str(self._queue(request.parent, "parent").name)
        size = page_size(request.page_size, default=_DEFAULT_PAGE, maximum=_MAX_PAGE)
        scope = f"ListTasks\n{parent}"
        after = self._tokens.decode(scope, request.page_token)
        rows = self._store.tasks(parent, after, size + 1)
        next_token = self._tokens.encode(scope, rows[size - 1].name) if len(rows) > size else ""
        return tasks_v2.ListTasksResponse.pb()(
            tasks=[_task_view(row, request.response_view) for row in rows[:size]],
            next_page_token=next_token,
        )

    def delete_task(self, request: Any) -> Any:
        self._delete_task(request.name, "name")
        return empty_pb2.Empty()

    def batch_delete_tasks(self, request: Any) -> Any:
        """Up to 1000 tasks of one queue, each deleted as DeleteTask does, in one transaction;
        a name that fails (NOT_FOUND, INVALID_ARGUMENT) goes to ``failed_requests``."""
        parent = self._queue_name(request.parent, "parent")
        names = request.names
        _check_batch_size("names", len(names), MAX_BATCH_DELETE)
        if parent not in self._queues:
            raise not_found(f"queue {parent} does not exist")
        metadata = BatchDeleteMetadataPb()
        set_timestamp(metadata.start_time, self._clock.now())
        with self._store.transaction():
            for index, name in enumerate(names):
                try:
                    queue, _ = parse_task_name(name, f"names[{index}]")
                    if queue != parent:
                        raise invalid_argument(
                            f"names[{index}]: {name!r} belongs to queue {queue!r}, not to the "
                            f"request's parent {parent!r}"
                        )
                    self._delete_task(name, f"names[{index}]")
                except ApiError as error:
                    _failed(metadata, index, error)
            return self._batch_operation(
                "BatchDeleteTasks", parent, metadata, empty_pb2.Empty(), names
            )

    def _delete_task(self, name: str, field: str) -> None:
        parse_task_name(name, field)
        until = self._clock.now() + self._config.task_tombstone_ttl
        if not self._store.remove_task(name, until, "deleted"):
            raise self._missing_task(name)

    def _batch_operation(
        self, method: str, parent: str, metadata: Any, response: Any, requests: Sized
    ) -> Any:
        """The batch's operation, done: SUCCEEDED, or PARTIALLY_SUCCEEDED with the failures;
        when every request failed, the operation's error is ABORTED as Google documents for
        BatchDeleteTasks (believed the same for BatchCreateTasks, whose documentation does
        not say) and the metadata still names each failure."""
        succeeded, partially = _BATCH_STATES[method]
        failed = len(metadata.failed_requests)
        metadata.state = partially if failed else succeeded
        set_timestamp(metadata.end_time, self._clock.now())
        location = parent.rsplit("/queues/", 1)[0]
        if failed == len(requests):
            error = (
                grpc.StatusCode.ABORTED,
                f"None of the requests succeeded, refer to {method}Metadata.failed_requests for "
                "individual error details",
            )
            return self._operations.finished(location, metadata, error=error)
        return self._operations.finished(location, metadata, response)

    def run_task(self, request: Any) -> Any:
        parse_task_name(request.name)
        row = self._store.task(request.name)
        if row is None:
            raise self._missing_task(request.name)
        if not self._dispatcher.is_in_flight(row.name):
            row.due = self._clock.now()
            self._store.reschedule(row.name, row.due)
            self._dispatcher.run_now(row)
        return _task_view(row, request.response_view)

    def _missing_task(self, name: str) -> ApiError:
        reason = self._store.tombstone_reason(name, self._clock.now())
        if reason is not None:
            return not_found(f"task {name} does not exist: it was {reason} recently")
        return not_found(f"task {name} does not exist")


def _check_queue(queue: Any) -> None:
    rate = queue.rate_limits
    per_second, concurrent = rate.max_dispatches_per_second, rate.max_concurrent_dispatches
    field = "queue.rate_limits.max_dispatches_per_second"
    if not (math.isfinite(per_second) and 0 <= per_second <= MAX_DISPATCHES_PER_SECOND):
        raise invalid_argument(
            f"{field}: must be in (0, {MAX_DISPATCHES_PER_SECOND}], got {per_second:g}"
        )
    if concurrent < 0 or concurrent > MAX_CONCURRENT_DISPATCHES:
        raise invalid_argument(
            "queue.rate_limits.max_concurrent_dispatches: "
            f"must be in [1, {MAX_CONCURRENT_DISPATCHES}], got {concurrent}"
        )
    if rate.max_burst_size < 0:
        raise invalid_argument("queue.rate_limits.max_burst_size: must not be negative")
    retry = queue.retry_config
    if retry.max_attempts < -1:
        raise invalid_argument(
            f"queue.retry_config.max_attempts: must be -1 (unlimited) or more, "
            f"got {retry.max_attempts}"
        )
    if retry.max_doublings < 0:
        raise invalid_argument("queue.retry_config.max_doublings: must not be negative")
    for name in ("min_backoff", "max_backoff", "max_retry_duration"):
        if retry.HasField(name):
            check_duration(getattr(retry, name), f"queue.retry_config.{name}")
    if (
        retry.HasField("min_backoff")
        and retry.HasField("max_backoff")
        and retry.min_backoff.ToNanoseconds() > retry.max_backoff.ToNanoseconds()
    ):
        raise invalid_argument("queue.retry_config: min_backoff is greater than max_backoff")
    ratio = check_finite(
        queue.stackdriver_logging_config.sampling_ratio,
        "queue.stackdriver_logging_config.sampling_ratio",
    )
    if not 0 <= ratio <= 1:
        raise invalid_argument("queue.stackdriver_logging_config.sampling_ratio: must be in [0, 1]")


def _check_batch_size(field: str, size: int, maximum: int) -> None:
    if size == 0:
        raise invalid_argument(f"{field}: required, and empty")
    if size > maximum:
        raise invalid_argument(f"{field}: {size} in one batch, over the maximum of {maximum}")


def _failed(metadata: Any, index: int, error: ApiError) -> None:
    """Request ``index`` of a batch failed with ``error``: into ``failed_requests``."""
    status = metadata.failed_requests[index]
    status.code = error.code.value[0]
    status.message = error.message


def _fill_queue_defaults(queue: Any) -> None:
    """Google's defaults for what the client left unset (zero means unset in proto3)."""
    rate = queue.rate_limits
    rate.max_dispatches_per_second = rate.max_dispatches_per_second or 500.0
    rate.max_burst_size = rate.max_burst_size or 100
    rate.max_concurrent_dispatches = rate.max_concurrent_dispatches or 1000
    retry = queue.retry_config
    retry.max_attempts = retry.max_attempts or 100
    retry.max_doublings = retry.max_doublings or 16
    if not retry.HasField("min_backoff"):
        retry.min_backoff.FromMilliseconds(100)
    if not retry.HasField("max_backoff"):
        retry.max_backoff.FromSeconds(3600)
    if not retry.HasField("max_retry_duration"):
        retry.max_retry_duration.FromSeconds(0)
    if queue.state == _State.STATE_UNSPECIFIED.value:
        queue.state = _State.RUNNING.value


def _task_view(row: TaskRow, view: int) -> Any:
    task = TaskPb.FromString(row.body)
    # Both views hold the same fields for HTTP tasks (BASIC omits only App Engine bodies).
    task.view = view or int(tasks_v2.Task.View.BASIC)
    set_timestamp(task.schedule_time, row.due)
    task.dispatch_count = row.dispatch_count
    task.response_count = row.response_count
    if row.first_dispatch is not None:
        set_timestamp(task.first_attempt.dispatch_time, row.first_dispatch)
    if row.last_dispatch is not None:
        last = task.last_attempt
        set_timestamp(last.dispatch_time, row.last_dispatch)
        if row.last_response is not None:
            set_timestamp(last.response_time, row.last_response)
        if row.last_status is not None:
            last.response_status.code = rpc_code_for_http(row.last_status)
            last.response_status.message = (
                f"HTTP {row.last_status}"
                if row.last_response is not None
                else f"no response (recorded as HTTP {row.last_status})"
            )
    return task


def _dead_letter_from(task: Any) -> str | None:
    """The queue a dead letter came from (its kit header), for ``/metrics``."""
    header = DEAD_LETTER_QUEUE.lower()
    for name, value in task.http_request.headers.items():
        if name.lower() == header:
            return str(value)
    return None


def _state_filter(text: str) -> int | None:
    if not text.strip():
        return None
    key, _, value = text.partition(":")
    if key.strip() != "state" or value.strip() not in _State.__members__:
        raise invalid_argument(
            f"filter: {shown(text)} is not supported; the emulator filters on 'state: PAUSED' "
            "(or another state) only"
        )
    return int(_State[value.strip()].value)
