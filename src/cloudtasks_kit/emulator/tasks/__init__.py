"""The Cloud Tasks half: the ``CloudTasks`` methods and the dispatcher that runs due tasks."""

from ._api import CloudTasksApi
from ._dispatcher import Dispatcher

__all__ = ["CloudTasksApi", "Dispatcher"]
