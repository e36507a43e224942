"""Shared by the settings tests: an empty directory and environment per test, file helpers."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from cloudtasks_kit._errors import ConfigurationError
from cloudtasks_kit.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in an empty directory with no CLOUDTASKS_* variables set."""
    for name in list(os.environ):
        if name.upper().startswith("CLOUDTASKS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: str, text: str) -> Path:
    """Write ``text`` (dedented) to ``path`` relative to the current (temporary) directory."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(text), encoding="utf-8")
    return file


def config_error(**overrides: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**overrides)
    return str(caught.value)


def walk_fields(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every leaf field of the settings tree by dotted name (dict keys shown as ``*``)."""
    leaves: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if get_origin(annotation) is dict:
            leaves.update(walk_fields(args[-1], f"{prefix}{name}.*."))
        elif len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            leaves.update(walk_fields(args[0], f"{prefix}{name}."))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves.update(walk_fields(annotation, f"{prefix}{name}."))
        else:
            leaves[prefix + name] = annotation
    return leaves
