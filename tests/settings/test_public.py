"""The surface of cloudtasks_kit.settings is a deliberate list; its modules are private."""

from __future__ import annotations

import importlib
import pkgutil

from cloudtasks_kit import settings

PUBLIC = [
    "KitSettings",
    "OidcSettings",
    "QueueSettings",
    "RateLimitSettings",
    "RetrySettings",
    "WorkerAuthSettings",
    "load_settings",
    "queue_path",
]


def test_public_names() -> None:
    assert settings.__all__ == PUBLIC
    assert all(hasattr(settings, name) for name in PUBLIC)


def test_modules_are_private_and_declare_what_they_share() -> None:
    modules = [info.name for info in pkgutil.iter_modules(settings.__path__)]
    assert modules  # the package is found at all
    for name in modules:
        assert name.startswith("_"), name
        module = importlib.import_module(f"{settings.__name__}.{name}")
        assert module.__doc__, name
        assert all(hasattr(module, shared) for shared in module.__all__), name
