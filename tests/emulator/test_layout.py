"""The emulator's public surface and the import rules that keep its two halves apart."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import cloudtasks_kit.emulator as emulator

PACKAGE = emulator.__name__
ROOT = Path(emulator.__file__).parent
MODULES = sorted(
    module.name
    for module in pkgutil.walk_packages([str(ROOT)], prefix=f"{PACKAGE}.")
    if not module.name.endswith(".__main__")  # runs the command when imported
)


def _imports(module: str) -> set[str]:
    """Absolute names of the modules ``module`` imports (relative imports resolved)."""
    path = ROOT.joinpath(*module.split(".")[2:])
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_public_surface() -> None:
    assert emulator.__all__ == ["Clock", "Emulator", "EmulatorConfig"]


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_what_it_exports(module: str) -> None:
    loaded = importlib.import_module(module)
    exported = loaded.__dict__.get("__all__")
    assert isinstance(exported, list), f"{module} has no __all__"
    missing = [name for name in exported if not hasattr(loaded, name)]
    assert not missing, f"{module}.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize(("half", "other"), [("tasks", "scheduler"), ("scheduler", "tasks")])
def test_the_halves_never_import_each_other(half: str, other: str) -> None:
    forbidden = f"{PACKAGE}.{other}"
    offenders = {
        module: sorted(name for name in _imports(module) if name.startswith(forbidden))
        for module in MODULES
        if module.startswith(f"{PACKAGE}.{half}")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_shared_modules_import_neither_half() -> None:
    halves = (f"{PACKAGE}.tasks", f"{PACKAGE}.scheduler")
    shared = [
        module
        for module in MODULES
        if not module.startswith(halves)
        # The server wires both halves; the old import paths re-export shared modules.
        and module != f"{PACKAGE}._server"
    ]
    offenders = {
        module: sorted(name for name in _imports(module) if name.startswith(halves))
        for module in shared
    }
    assert {module: names for module, names in offenders.items() if names} == {}
