"""The public surface is a deliberate list (as httpx does it)."""

import importlib

import pytest

import cloudtasks_kit

PUBLIC = [
    "Action",
    "BlockingDelayWarning",
    "BoundRequest",
    "BulkItem",
    "BulkResult",
    "CloudTasksKitError",
    "ConfigurationError",
    "Container",
    "ContainerNotWired",
    "DelayOptions",
    "DelayResult",
    "DelayedRoute",
    "DelayedTaskHook",
    "Delayer",
    "InvalidTaskArguments",
    "JobRetry",
    "JobScheduler",
    "KitSettings",
    "RouteNotDelayable",
    "ScheduleResult",
    "ScheduledJob",
    "ScheduledJobHook",
    "ScheduledRoute",
    "TaskAlreadyExists",
    "TaskCreateError",
    "TaskCreateTimeout",
    "TaskEnqueuer",
    "chained_hook",
    "deadline_delayed_hook",
    "deadline_scheduled_hook",
    "delayer",
    "load_settings",
    "oidc_delayed_hook",
    "oidc_scheduled_hook",
    "queue_path",
    "scheduled",
    "scheduled_job",
    "task_default_options",
    "trace_propagation_hook",
]


def test_all_is_the_deliberate_list() -> None:
    assert cloudtasks_kit.__all__ == PUBLIC


def test_all_is_sorted() -> None:
    assert cloudtasks_kit.__all__ == sorted(cloudtasks_kit.__all__)


def test_every_public_name_is_importable() -> None:
    for name in cloudtasks_kit.__all__:
        assert getattr(cloudtasks_kit, name) is not None, name


@pytest.mark.parametrize(
    "module",
    [
        "binding",
        "clients",
        "container",
        "delayed",
        "enqueue",
        "errors",
        "hooks",
        "mounting",
        "pytest_plugin",
        "queues",
        "reconcile",
        "scheduled",
        "schedules",
        "settings",
        "testing",
        "tracing",
    ],
)
def test_each_module_declares_what_it_exports(module: str) -> None:
    imported = importlib.import_module(f"cloudtasks_kit.{module}")

    assert imported.__all__ == sorted(imported.__all__)
    for name in imported.__all__:
        assert hasattr(imported, name), f"{module}.{name}"
