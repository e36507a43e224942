"""ARCHITECTURE.md stays true: the paths it names exist and the import rules it states hold."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "src" / "cloudtasks_kit"
MAP = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")

LEAVES = ("_protocol", "_errors", "_marks", "_telemetry", "_action")
SIBLINGS = ("producer", "scheduler", "worker")
ABOVE_THE_SIBLINGS = ("_container", "ops", "cli", "testing")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the kit's modules ``path`` imports at run time or for type checking."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {each for each in found if each.startswith("cloudtasks_kit")}


def _files(part: str) -> list[Path]:
    target = PACKAGE / part
    return sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]


def _part_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def test_every_path_named_exists() -> None:
    named = set(re.findall(r"(?:src|tests|bench|examples)/[A-Za-z0-9_./-]+", MAP))
    missing = sorted(path for path in named if not (ROOT / path.rstrip(".")).exists())
    assert not missing


def test_every_part_of_the_package_is_on_the_map() -> None:
    parts = sorted(
        path.name
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.name != "__init__.py")
    )
    unmapped = [part for part in parts if part not in MAP]
    assert not unmapped


@pytest.mark.parametrize("leaf", LEAVES)
def test_the_leaves_import_nothing_of_the_kit(leaf: str) -> None:
    assert _imports(PACKAGE / f"{leaf}.py") == set()


@pytest.mark.parametrize("part", SIBLINGS)
def test_producer_scheduler_and_worker_import_no_sibling_and_nothing_above(part: str) -> None:
    forbidden = {*SIBLINGS, *ABOVE_THE_SIBLINGS, "emulator"} - {part}
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            each for each in _imports(path) if _part_of(each) in forbidden
        )
        for path in _files(part)
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_kit_never_imports_the_emulator_and_the_emulator_only_the_facts() -> None:
    kit = [path for path in PACKAGE.rglob("*.py") if "emulator" not in path.parts]
    into_emulator = {
        str(path.relative_to(PACKAGE))
        for path in kit
        if any(_part_of(each) == "emulator" for each in _imports(path))
    }
    # The CLI loads the emulator's command on demand, inside a function, for its sub-command.
    assert into_emulator == {"cli/_emulator.py"}
    from_emulator = {
        each
        for path in (PACKAGE / "emulator").rglob("*.py")
        for each in _imports(path)
        if _part_of(each) != "emulator"
    }
    assert from_emulator <= {"cloudtasks_kit", "cloudtasks_kit._protocol"} | {
        name for name in from_emulator if name.startswith("cloudtasks_kit._protocol.")
    }
