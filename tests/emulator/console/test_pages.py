"""The console's pages and actions over plain HTTP: what they show of tasks created through the
client and attempted by a real worker, paging, filters, and actions done through the API."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from google.cloud import scheduler_v1, tasks_v2

from cloudtasks_kit.emulator._insight import ATTEMPTS_KEPT
from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.console.conftest import PARENT, QueueFactory, later_task
from tests.support import RecordingWorker, Reply, wait_until


def get(emulator: EmulatorProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(emulator.http_url + path, headers=headers, timeout=30)


def act(
    emulator: EmulatorProcess, action: str, name: str, back: str = "/", confirmed: bool = True
) -> httpx.Response:
    form = {"action": action, "name": name, "next": back}
    if confirmed:
        form["confirmed"] = "1"
    return httpx.post(emulator.http_url + "/console/actions", data=form, timeout=30)


def tasks_on(page: httpx.Response) -> list[str]:
    return [name.rsplit("/", 1)[1] for name in re.findall(r'data-task="([^"]+)"', page.text)]


def attempts_on(page: httpx.Response) -> list[tuple[int, str]]:
    """(number, status) of each attempt row, as shown."""
    rows = re.findall(r'data-attempt="(\d+)".*?data-status="(\d+)"', page.text, re.S)
    return [(int(number), status) for number, status in rows]


def test_a_queue_pages_by_name_and_filters(
    emulator: EmulatorProcess, client: Any, make_queue: QueueFactory, url: str
) -> None:
    queue = make_queue()
    for index in range(55):
        client.create_task(parent=queue, task=later_task(url, name=f"{queue}/tasks/t-{index:03}"))
    for index in range(3):
        client.create_task(parent=queue, task=later_task(url, name=f"{queue}/tasks/x-{index}"))

    first = get(emulator, "/" + queue)
    following = re.search(r'href="(\?[^"]*after=[^"]*)" rel="next"', first.text)
    assert following is not None
    second = get(emulator, "/" + queue + following[1].replace("&amp;", "&"))
    only_x = get(emulator, f"/{queue}?q=x")
    attempted = get(emulator, f"/{queue}?state=attempted")

    assert first.status_code == 200
    assert tasks_on(first) == [f"t-{index:03}" for index in range(50)]
    assert tasks_on(second) == [f"t-{index:03}" for index in range(50, 55)] + ["x-0", "x-1", "x-2"]
    assert 'rel="next"' not in second.text
    assert tasks_on(only_x) == ["x-0", "x-1", "x-2"]
    assert tasks_on(attempted) == []
    assert "No task matches." in attempted.text
    assert re.search(r'data-count="waiting">58<', first.text)


def test_a_task_shows_its_request_and_every_attempt_after_it_ended(
    emulator: EmulatorProcess,
    client: Any,
    make_queue: QueueFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    queue = make_queue(backoff=0.05)
    token = tasks_v2.OidcToken(
        service_account_email="tasks@console-project.iam.gserviceaccount.com",
        audience="https://worker.example.com",
    )
    task = client.create_task(
        parent=queue,
        task=later_task(url, body=b'{"n": 1}', headers={"X-Order": "o-7"}, oidc=token),
    )
    recorder.script(path, Reply(status=500, body=b"boom: the oven is cold"), Reply(body=b"done"))
    before = get(emulator, "/" + task.name)

    ran = act(emulator, "run_task", task.name, back="/" + task.name)
    recorder.wait_for(path, 2)
    wait_until(lambda: len(attempts_on(get(emulator, "/" + task.name))) == 2)
    after = get(emulator, "/" + task.name)
    in_queue = get(emulator, f"/{queue}?state=attempted")

    assert "tasks@console-project.iam.gserviceaccount.com" in before.text
    assert "https://worker.example.com" in before.text
    assert "X-Order" in before.text
    assert "&#34;n&#34;: 1" in before.text  # the JSON body, pretty-printed and escaped
    assert "No attempt yet." in before.text
    assert ran.status_code == 303
    assert ran.headers["location"] == f"/{task.name}?notice=task+{task.name.rsplit('/', 1)[1]}+sent"
    # The task completed on its second attempt; its history stays readable.
    assert after.status_code == 200
    assert "It completed: its last attempt succeeded." in after.text
    assert attempts_on(after) == [(2, "200"), (1, "500")]
    assert "boom: the oven is cold" in after.text
    assert tasks_on(in_queue) == []


def test_a_task_keeps_its_latest_attempts_only(
    emulator: EmulatorProcess,
    client: Any,
    make_queue: QueueFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    tries = ATTEMPTS_KEPT + 3
    queue = make_queue(backoff=0.01, max_attempts=tries)
    recorder.script(path, *[Reply(status=503)] * tries)
    task = client.create_task(parent=queue, task=later_task(url, in_seconds=0))
    recorder.wait_for(path, tries)

    def shown() -> list[tuple[int, str]]:
        return attempts_on(get(emulator, "/" + task.name))

    wait_until(lambda: shown() and shown()[0][0] == tries)
    assert shown() == [(number, "503") for number in range(tries, 3, -1)]


def test_purging_a_queue_forgets_its_tasks_attempts(
    emulator: EmulatorProcess,
    client: Any,
    make_queue: QueueFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    queue = make_queue()
    recorder.script(path, Reply(status=503))
    task = client.create_task(parent=queue, task=later_task(url))
    act(emulator, "run_task", task.name)
    wait_until(lambda: attempts_on(get(emulator, "/" + task.name)) == [(1, "503")])

    purged = act(emulator, "purge_queue", queue, back="/" + queue)

    assert purged.status_code == 303
    assert get(emulator, "/" + task.name).status_code == 404
    assert tasks_on(get(emulator, "/" + queue)) == []


def test_actions_ask_first_then_go_through_the_api(
    emulator: EmulatorProcess, client: Any, make_queue: QueueFactory
) -> None:
    queue = make_queue()
    back = f"/{queue}?q=t"

    asked = act(emulator, "pause_queue", queue, back=back, confirmed=False)
    still_running = client.get_queue(name=queue).state
    done = act(emulator, "pause_queue", queue, back=back)
    again = act(emulator, "pause_queue", queue, back=f"{back}&notice=old")

    assert asked.status_code == 200
    assert "Pause queue" in asked.text
    assert 'name="confirmed" value="1"' in asked.text
    assert still_running == tasks_v2.Queue.State.RUNNING
    assert done.status_code == 303
    assert done.headers["location"] == f"{back}&notice=queue+{queue.rsplit('/', 1)[1]}+paused"
    assert client.get_queue(name=queue).state == tasks_v2.Queue.State.PAUSED
    assert again.headers["location"].count("notice=") == 1


def test_a_refused_action_says_why(emulator: EmulatorProcess, jobs: Any, url: str) -> None:
    job = jobs.create_job(
        parent=PARENT,
        job=scheduler_v1.Job(
            name=f"{PARENT}/jobs/j-{uuid.uuid4().hex[:8]}",
            schedule="0 0 1 1 *",
            http_target=scheduler_v1.HttpTarget(uri=url),
        ),
    )

    refused = act(emulator, "resume_job", job.name, back="/" + job.name)
    shown = httpx.get(emulator.http_url + refused.headers["location"], timeout=30)

    assert refused.status_code == 303
    assert "only a PAUSED job resumes" in shown.text
    assert 'role="alert"' in shown.text


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"action": "format_disk", "name": "x"}, 400),
        ({"action": "pause_queue", "name": ""}, 400),
    ],
)
def test_an_unknown_action_is_refused(
    emulator: EmulatorProcess, form: dict[str, str], status: int
) -> None:
    answer = httpx.post(emulator.http_url + "/console/actions", data=form, timeout=30)
    assert answer.status_code == status


@pytest.mark.parametrize(
    "back", ["https://elsewhere.example/", "//elsewhere.example/x", "/\\x.example"]
)
def test_an_action_comes_back_to_this_site_only(
    emulator: EmulatorProcess, make_queue: QueueFactory, back: str
) -> None:
    queue = make_queue()
    answer = act(emulator, "pause_queue", queue, back=back)
    assert answer.headers["location"].startswith("/?notice=")


def test_another_sites_page_cannot_act(
    emulator: EmulatorProcess, client: Any, make_queue: QueueFactory
) -> None:
    queue = make_queue()
    form = {"action": "pause_queue", "name": queue, "next": "/", "confirmed": "1"}

    def post(origin: str) -> httpx.Response:
        return httpx.post(
            emulator.http_url + "/console/actions",
            data=form,
            headers={"Origin": origin},
            timeout=30,
        )

    refused = post("https://elsewhere.example")
    state = client.get_queue(name=queue).state
    accepted = post(emulator.http_url)

    assert refused.status_code == 403
    assert state == tasks_v2.Queue.State.RUNNING
    assert accepted.status_code == 303
    assert client.get_queue(name=queue).state == tasks_v2.Queue.State.PAUSED


def test_a_job_runs_from_the_console_and_shows_its_attempt(
    emulator: EmulatorProcess, jobs: Any, recorder: RecordingWorker, url: str, path: str
) -> None:
    job = jobs.create_job(
        parent=PARENT,
        job=scheduler_v1.Job(
            name=f"{PARENT}/jobs/j-{uuid.uuid4().hex[:8]}",
            schedule="30 6 * * 1-5",
            time_zone="Asia/Kolkata",
            http_target=scheduler_v1.HttpTarget(uri=url, body=b"tick"),
        ),
    )

    act(emulator, "run_job", job.name, back="/" + job.name)
    recorder.wait_for(path, 1)
    wait_until(lambda: attempts_on(get(emulator, "/" + job.name)) == [(1, "200")])
    page = get(emulator, "/" + job.name)
    home = get(emulator, "/")

    assert "30 6 * * 1-5" in page.text
    assert "Asia/Kolkata" in page.text
    assert job.name in home.text


def test_the_live_part_is_all_that_a_refresh_gets(
    emulator: EmulatorProcess, make_queue: QueueFactory
) -> None:
    queue = make_queue()

    whole = get(emulator, "/" + queue)
    live = get(emulator, "/" + queue, **{"X-Console-Live": "1"})

    assert "<html" in whole.text
    assert "<html" not in live.text
    assert re.findall(r'<div id="(\w+)" data-live>', live.text) == ["summary", "tasks"]
    assert 'class="filters"' in whole.text
    assert 'class="filters"' not in live.text


@pytest.mark.parametrize(
    "path",
    [
        f"/{PARENT}/queues/no-such-queue",
        f"/{PARENT}/queues/no-such-queue/tasks/t",
        f"/{PARENT}/jobs/no-such-job",
    ],
)
def test_a_missing_resource_is_a_404_page(emulator: EmulatorProcess, path: str) -> None:
    page = get(emulator, path)
    assert page.status_code == 404
    assert "does not exist" in page.text
