"""The Cloud Tasks half: the ``CloudTasks`` methods and the dispatcher that runs due tasks."""

from ._api import CloudTasksApi
from ._dispatcher import Dispatcher
from ._store import TaskStore

__all__ = ["CloudTasksApi", "Dispatcher", "TaskStore"]
