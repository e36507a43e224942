"""Look at queues and tasks and act on them, against Google and the emulator alike: the
official client, the settings' project and location, and every call within the settings'
deadline (``_rpc``). Behind ``cloudtasks-kit queues list|describe|pause|resume|purge`` and
``cloudtasks-kit tasks list|describe|run|delete``.

``NotFound`` and the API's other refusals pass through, for the caller to word; no answer at
all becomes ``ServiceUnreachable``, refused credentials a ``ConfigurationError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from google.cloud import tasks_v2

from .._errors import ConfigurationError
from .._protocol import TASK_ID
from .._rpc import CLOUD_TASKS, call_options, rpc_errors
from ..settings import KitSettings

__all__ = ["CloudTasksInspector"]

# The largest page Cloud Tasks serves.
_PAGE = 1000


class CloudTasksInspector:
    """Queues and tasks of the settings' project and location, through ``client``.

    A queue is named as everywhere in the kit: a key of ``queues``, a queue id or a full path;
    a task by its id or its full name.
    """

    def __init__(self, settings: KitSettings, client: tasks_v2.CloudTasksClient) -> None:
        self.settings = settings
        self._client = client

    # -- queues ---------------------------------------------------------------------------

    def location(self) -> str:
        """``projects/P/locations/L``, from the settings.

        :raises ConfigurationError: project or location is not set.
        """
        settings = self.settings
        if settings.project is None or settings.location is None:
            raise ConfigurationError(
                "cannot list queues: CLOUDTASKS_PROJECT and CLOUDTASKS_LOCATION must be set "
                "(or project and location in config/)"
            )
        return f"projects/{settings.project}/locations/{settings.location}"

    def queue_path(self, queue: str) -> str:
        return self.settings.queue_path(queue)

    def queues(self) -> list[tasks_v2.Queue]:
        """Every queue of the location, by name."""
        request = tasks_v2.ListQueuesRequest(parent=self.location(), page_size=_PAGE)
        with rpc_errors(self.settings, CLOUD_TASKS):
            pager = self._client.list_queues(request=request, **call_options(self.settings))
            return sorted(pager, key=lambda queue: queue.name)

    def queue(self, queue: str) -> tasks_v2.Queue:
        answer: tasks_v2.Queue = self._call("get_queue", name=self.queue_path(queue))
        return answer

    def pause(self, queue: str) -> tasks_v2.Queue:
        answer: tasks_v2.Queue = self._call("pause_queue", name=self.queue_path(queue))
        return answer

    def resume(self, queue: str) -> tasks_v2.Queue:
        answer: tasks_v2.Queue = self._call("resume_queue", name=self.queue_path(queue))
        return answer

    def purge(self, queue: str) -> tasks_v2.Queue:
        answer: tasks_v2.Queue = self._call("purge_queue", name=self.queue_path(queue))
        return answer

    # -- tasks ----------------------------------------------------------------------------

    def task_path(self, queue: str, task: str) -> str:
        """A task's full name from its queue and its id (a full name is kept as it is).

        :raises ConfigurationError: ``task`` is neither an id nor a full name.
        """
        if "/tasks/" in task:
            return task
        if not TASK_ID.fullmatch(task):
            raise ConfigurationError(
                f"task {task!r} is neither a task id (letters, digits, - and _) nor a full "
                "task name (projects/P/locations/L/queues/Q/tasks/T)"
            )
        return f"{self.queue_path(queue)}/tasks/{task}"

    def tasks(
        self,
        queue: str,
        *,
        limit: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[tasks_v2.Task]:
        """The queue's tasks in Cloud Tasks' order, page by page; ``limit`` 0: all of them.

        :param progress: called with the count so far after each page.
        """
        page = min(limit, _PAGE) if limit else _PAGE
        request = tasks_v2.ListTasksRequest(parent=self.queue_path(queue), page_size=page)
        seen = 0
        with rpc_errors(self.settings, CLOUD_TASKS):
            pager = self._client.list_tasks(request=request, **call_options(self.settings))
            for response in pager.pages:
                for task in response.tasks:
                    yield task
                    seen += 1
                    if seen == limit:
                        return
                if progress is not None:
                    progress(seen)

    def task(self, queue: str, task: str) -> tasks_v2.Task:
        """The task, with its body (the FULL view)."""
        request = tasks_v2.GetTaskRequest(
            name=self.task_path(queue, task), response_view=tasks_v2.Task.View.FULL
        )
        answer: tasks_v2.Task = self._call("get_task", request=request)
        return answer

    def run(self, queue: str, task: str) -> tasks_v2.Task:
        answer: tasks_v2.Task = self._call("run_task", name=self.task_path(queue, task))
        return answer

    def delete(self, queue: str, task: str) -> str:
        name = self.task_path(queue, task)
        self._call("delete_task", name=name)
        return name

    def _call(self, method: str, **arguments: Any) -> Any:
        with rpc_errors(self.settings, CLOUD_TASKS):
            return getattr(self._client, method)(**arguments, **call_options(self.settings))
