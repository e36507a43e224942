"""``delayer(route)`` and ``scheduled_job(route, ...)`` are typed by the route's own signature:
mypy and pyright both flag a misspelled argument and a wrong type, and accept a correct call.

Each mistake stands on a line of its own, and both checkers must report exactly those lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

ROUTES = """
from fastapi import APIRouter
from pydantic import BaseModel

from cloudtasks_kit import DelayedRoute, ScheduledRoute, delayer, scheduled_job


class Recipe(BaseModel):
    ingredients: list[str]


tasks = APIRouter(route_class=DelayedRoute)
jobs = APIRouter(route_class=ScheduledRoute)


@tasks.post("/{restaurant}/make_dinner")
async def make_dinner(restaurant: str, recipe: Recipe, guests: int = 2) -> None: ...


@jobs.post("/home_cook")
async def home_cook(recipe: Recipe) -> None: ...


R = Recipe(ingredients=["Pav"])


async def calls() -> None:
"""

CORRECT = """
    delayer(make_dinner).delay(restaurant="Taj", recipe=Recipe(ingredients=["Pav"]))
    delayer(make_dinner).options(countdown=60).delay(
        restaurant="Taj", recipe=Recipe(ingredients=[]), guests=4
    )
    await delayer(make_dinner).adelay(restaurant="Taj", recipe=Recipe(ingredients=[]))
    scheduled_job(home_cook, name="cook", schedule="0 7 * * *").schedule(
        recipe=Recipe(ingredients=["Milk"])
    )
"""

# One mistake per line; each line number is what the checkers must name.
WRONG = {
    "misspelled": 'delayer(make_dinner).delay(restaurnt="Taj", recipe=R)',
    "wrong type": (
        "delayer(make_dinner).options(countdown=5)"
        '.delay(restaurant="Taj", recipe=Recipe(ingredients=[]), guests="two")'
    ),
    "async wrong type": "await delayer(make_dinner).adelay(restaurant=7, recipe=R)",
    "job wrong type": 'scheduled_job(home_cook, name="c", schedule="* * * * *").schedule(recipe=1)',
    "unknown option": "delayer(make_dinner).options(countdwn=5)",
}


def _module(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(ROUTES) + body, encoding="utf-8")
    return path


def _wrong_module(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    lines = {}
    body = ""
    first = len(textwrap.dedent(ROUTES).splitlines()) + 1
    for offset, (case, line) in enumerate(WRONG.items()):
        lines[first + offset] = case
        body += f"    {line}\n"
    return _module(tmp_path, "wrong", body), lines


def _mypy(path: Path) -> dict[int, str]:
    out, _, _ = mypy_api.run(
        ["--strict", "--no-incremental", "--show-error-codes", "--no-error-summary", str(path)]
    )
    found: dict[int, str] = {}
    for line in out.splitlines():
        parts = line.split(":", 3)
        if len(parts) == 4 and parts[2].strip() == "error":
            found[int(parts[1])] = found.get(int(parts[1]), "") + parts[3]
    return found


def _pyright(path: Path) -> dict[int, str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--pythonpath",
            sys.executable,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if not done.stdout.strip().startswith("{"):
        pytest.fail(f"pyright did not run: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    found: dict[int, str] = {}
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic["severity"] == "error":
            line = diagnostic["range"]["start"]["line"] + 1
            found[line] = found.get(line, "") + diagnostic["message"]
    return found


CHECKERS = {"mypy": _mypy, "pyright": _pyright}


@pytest.mark.parametrize("checker", CHECKERS)
def test_wrong_calls_are_flagged_where_they_are(checker: str, tmp_path: Path) -> None:
    path, lines = _wrong_module(tmp_path)

    found = CHECKERS[checker](path)

    assert sorted(found) == sorted(lines), (found, lines)
    assert "restaurnt" in found[min(lines)]


@pytest.mark.parametrize("checker", CHECKERS)
def test_correct_calls_pass(checker: str, tmp_path: Path) -> None:
    path = _module(tmp_path, "correct", CORRECT)

    assert CHECKERS[checker](path) == {}
