"""The admin endpoints check their input and can never break the emulator: a bad body is a 400
with the reason, nothing changes, and the emulator goes on serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.cloud import tasks_v2

from cloudtasks_kit.testing import EmulatorProcess

PARENT = "projects/test-project/locations/us-central1"
QUEUE = f"{PARENT}/queues/admin"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        process.tasks_client().create_queue(parent=PARENT, queue={"name": QUEUE})
        yield process


def _clock(emulator: EmulatorProcess) -> dict[str, Any]:
    response = httpx.get(f"{emulator.http_url}/admin/clock")
    assert response.status_code == 200, response.text
    clock: dict[str, Any] = response.json()
    return clock


def _still_serving(emulator: EmulatorProcess) -> None:
    assert emulator.returncode is None
    task = tasks_v2.Task(http_request=tasks_v2.HttpRequest(url="http://127.0.0.1:9/x"))
    client = emulator.tasks_client()
    client.pause_queue(name=QUEUE)
    assert client.create_task(parent=QUEUE, task=task).name


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"", "empty body", id="empty"),
        pytest.param(b"   \n", "empty body", id="blank"),
        pytest.param(b"seconds=5", "not JSON", id="form"),
        pytest.param(b"\xff\xfe\x00\x01", "not UTF-8", id="binary"),
        pytest.param(b'{"seconds": NaN}', "NaN", id="nan"),
        pytest.param(b'{"seconds": Infinity}', "Infinity", id="infinity"),
        pytest.param(b'{"seconds": -Infinity}', "Infinity", id="minus-infinity"),
        pytest.param(b'{"seconds": 1e999}', "finite", id="overflowing-float"),
        pytest.param(b'{"seconds": -1}', "0 or more", id="negative"),
        pytest.param(b'{"seconds": 1e300}', "at most", id="absurd"),
        pytest.param(b'{"seconds": ' + b"9" * 5000 + b"}", "not JSON", id="huge-integer"),
        pytest.param(b'{"seconds": 3.2e9}', "at most", id="over-a-century"),
        pytest.param(b'{"seconds": true}', "number", id="boolean"),
        pytest.param(b'{"seconds": "60"}', "number", id="string"),
        pytest.param(b'{"seconds": null}', "number", id="null"),
        pytest.param(b"[60]", "JSON object", id="list"),
        pytest.param(b"60", "JSON object", id="bare-number"),
        pytest.param(b'{"second": 60}', "unknown key", id="typo"),
        pytest.param(b'{"seconds": 60, "extra": 1}', "unknown key", id="extra-key"),
        pytest.param(b"{" * 100_000, "body over", id="oversized"),
    ],
)
def test_a_bad_clock_advance_is_400_and_changes_nothing(
    emulator: EmulatorProcess, body: bytes, reason: str
) -> None:
    before = _clock(emulator)["offset"]

    response = httpx.post(f"{emulator.http_url}/admin/clock/advance", content=body)

    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    assert _clock(emulator)["offset"] == before
    _still_serving(emulator)


def test_the_clock_cannot_be_moved_out_of_the_range_of_a_timestamp(
    emulator: EmulatorProcess,
) -> None:
    # A century at a time, up to the year 9998: past that, every timestamp would break.
    url = f"{emulator.http_url}/admin/clock/advance"
    while (response := httpx.post(url, json={"seconds": 3.15e9})).status_code == 200:
        pass
    assert response.status_code == 400
    assert "9998" in response.json()["error"]
    assert 8000 < 1970 + _clock(emulator)["now"] / (365.25 * 86400) < 9999
    _still_serving(emulator)


def test_a_valid_advance_still_works(emulator: EmulatorProcess) -> None:
    before = _clock(emulator)["offset"]
    response = httpx.post(f"{emulator.http_url}/admin/clock/advance", json={"seconds": 60})
    assert response.status_code == 200
    assert response.json()["offset"] == pytest.approx(before + 60)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        pytest.param(b"not json", 400, "not JSON", id="not-json"),
        pytest.param(b'{"queue": 5}', 400, "queue name", id="not-a-string"),
        pytest.param(b'{"queue": "nope"}', 400, "not a queue name", id="malformed"),
        pytest.param(
            b'{"queue": "' + f"{PARENT}/queues/missing".encode() + b'"}',
            404,
            "does not exist",
            id="missing",
        ),
        pytest.param(b'{"queues": "x"}', 400, "unknown key", id="typo"),
    ],
)
def test_a_bad_reset_is_refused_and_changes_nothing(
    emulator: EmulatorProcess, body: bytes, status: int, reason: str
) -> None:
    client = emulator.tasks_client()
    client.pause_queue(name=QUEUE)
    before = len(list(client.list_tasks(parent=QUEUE)))
    client.create_task(
        parent=QUEUE, task=tasks_v2.Task(http_request={"url": "http://127.0.0.1:9/x"})
    )

    response = httpx.post(f"{emulator.http_url}/admin/reset", content=body)

    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    assert len(list(client.list_tasks(parent=QUEUE))) == before + 1
    _still_serving(emulator)


def test_another_sites_page_can_neither_reset_nor_move_the_clock(
    emulator: EmulatorProcess,
) -> None:
    client = emulator.tasks_client()
    client.pause_queue(name=QUEUE)
    client.create_task(
        parent=QUEUE, task=tasks_v2.Task(http_request={"url": "http://127.0.0.1:9/x"})
    )
    tasks = len(list(client.list_tasks(parent=QUEUE)))
    offset = _clock(emulator)["offset"]
    cross_site = {"Origin": "https://elsewhere.example", "Content-Type": "text/plain"}

    reset = httpx.post(f"{emulator.http_url}/admin/reset", content=b"{}", headers=cross_site)
    advance = httpx.post(
        f"{emulator.http_url}/admin/clock/advance", content=b'{"seconds": 60}', headers=cross_site
    )

    assert (reset.status_code, advance.status_code) == (403, 403)
    assert "another site" in reset.json()["error"]
    assert len(list(client.list_tasks(parent=QUEUE))) == tasks
    assert _clock(emulator)["offset"] == offset
