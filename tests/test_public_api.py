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
    "DropTask",
    "InvalidTaskArguments",
    "InvalidTaskHeaders",
    "JobRetry",
    "JobScheduler",
    "JwksCache",
    "KitSettings",
    "OidcVerifier",
    "RetryLater",
    "RouteNotDelayable",
    "ScheduleResult",
    "ScheduledJob",
    "ScheduledJobHook",
    "ScheduledRoute",
    "TaskAlreadyExists",
    "TaskCaller",
    "TaskContext",
    "TaskContextDep",
    "TaskCreateError",
    "TaskCreateTimeout",
    "TaskEnqueuer",
    "TaskTracingMiddleware",
    "attempt_guard",
    "chained_hook",
    "deadline_delayed_hook",
    "deadline_scheduled_hook",
    "delayer",
    "install_task_handlers",
    "load_settings",
    "oidc_delayed_hook",
    "oidc_scheduled_hook",
    "oidc_verifier",
    "queue_path",
    "scheduled",
    "scheduled_job",
    "task_context",
    "task_default_options",
    "trace_propagation_hook",
    "verify_task_caller",
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
        "auth",
        "binding",
        "clients",
        "consumer_tracing",
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
        "worker",
    ],
)
def test_each_module_declares_what_it_exports(module: str) -> None:
    imported = importlib.import_module(f"cloudtasks_kit.{module}")

    assert imported.__all__ == sorted(imported.__all__)
    for name in imported.__all__:
        assert hasattr(imported, name), f"{module}.{name}"
