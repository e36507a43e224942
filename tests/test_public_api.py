"""The public surface is a deliberate choice, pinned by the modules' own declarations.

Every module declares ``__all__``: the names it makes public (none, for what only the kit's
own modules use). A package exports exactly what its private modules declare, and the
top-level package exactly what its private modules and its role subpackages declare; so a name
becomes public in one place, its module, and no list is copied here to drift.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import cloudtasks_kit

# Public packages of their own, which cloudtasks_kit does not re-export.
OWN_NAMESPACES = ("cloudtasks_kit.cli", "cloudtasks_kit.emulator", "cloudtasks_kit.testing")
# Packages whose exports are the union of their parts' (the emulator is checked on its own).
KIT_PACKAGES = (
    "cloudtasks_kit",
    "cloudtasks_kit.cli",
    "cloudtasks_kit.ops",
    "cloudtasks_kit.producer",
    "cloudtasks_kit.scheduler",
    "cloudtasks_kit.settings",
    "cloudtasks_kit.testing",
    "cloudtasks_kit.worker",
)


def _isort_style(names: list[str]) -> list[str]:
    """The order ruff keeps ``__all__`` in: CONSTANTS, then Classes, then the rest."""

    def key(name: str) -> tuple[int, str]:
        if name.isupper() and len(name) > 1:
            return 0, name
        return (1 if name[:1].isupper() else 2), name

    return sorted(names, key=key)


def _modules() -> list[str]:
    names = ["cloudtasks_kit"]
    for info in pkgutil.walk_packages(cloudtasks_kit.__path__, "cloudtasks_kit."):
        if not info.name.endswith(".__main__"):
            names.append(info.name)
    return sorted(names)


def _parts(package: ModuleType) -> list[ModuleType]:
    """What a package re-exports: its private modules, and for the top level its role
    subpackages (every public subpackage that is not a namespace of its own)."""
    parts = []
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        short = info.name.rsplit(".", 1)[1]
        private = short.startswith("_") and short != "__main__"
        role = package is cloudtasks_kit and info.ispkg and info.name not in OWN_NAMESPACES
        if private or role:
            parts.append(importlib.import_module(info.name))
    return parts


@pytest.mark.parametrize("name", _modules())
def test_each_module_declares_what_it_exports(name: str) -> None:
    module = importlib.import_module(name)

    assert module.__doc__, f"{name} says what it is for"
    exported = module.__all__
    assert exported == _isort_style(exported), name
    for each in exported:
        assert not each.startswith("_"), f"{name} exports the private name {each}"
        assert hasattr(module, each), f"{name}.{each}"


@pytest.mark.parametrize("name", KIT_PACKAGES)
def test_a_package_exports_what_its_parts_declare(name: str) -> None:
    package = importlib.import_module(name)

    declared = _isort_style(list({each for part in _parts(package) for each in part.__all__}))

    assert package.__all__ == declared
    for each in declared:
        owners = [part for part in _parts(package) if each in part.__all__]
        assert len(owners) == 1, f"{each} is declared by {[p.__name__ for p in owners]}"
        assert getattr(package, each) is getattr(owners[0], each), each


def test_the_top_level_keeps_the_names_fastapi_cloud_tasks_users_know() -> None:
    known = {
        "DelayedRoute",
        "ScheduledRoute",
        "chained_hook",
        "deadline_delayed_hook",
        "deadline_scheduled_hook",
        "oidc_delayed_hook",
        "oidc_scheduled_hook",
        "queue_path",
        "task_default_options",
    }
    assert known <= set(cloudtasks_kit.__all__)
