"""The producer side: route arguments -> a validated request -> a Cloud Tasks task."""

from ._bulk import BulkItem, BulkResult
from ._delayer import Delayer
from ._enqueue import DelayResult, TaskEnqueuer
from ._options import DelayOptions, OptionArguments, task_default_options
from ._route import DelayedRoute, delayer

__all__ = [
    "BulkItem",
    "BulkResult",
    "DelayOptions",
    "DelayResult",
    "DelayedRoute",
    "Delayer",
    "OptionArguments",
    "TaskEnqueuer",
    "delayer",
    "task_default_options",
]
