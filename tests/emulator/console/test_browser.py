"""The console in a real browser: Debian's Chromium, driven by Playwright.

What a user does: open the console, find the queue and the task created through the client,
press "Run now" and see the attempt appear, pause the queue and see its state change, and see
a change made elsewhere (through the API) arrive without a reload. Screenshots of the pages
land in ``artifacts/console/`` (git-ignored) for a person to look at.

The browser is the system's (``/usr/bin/chromium``; ``make test`` installs Debian's package
where it can); Playwright never downloads one of its own here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import scheduler_v1, tasks_v2
from playwright.sync_api import Browser, Page, expect, sync_playwright

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.console.conftest import PARENT, QueueFactory, later_task
from tests.support import RecordingWorker, Reply

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "console"
# As the machine's notes say: without the background-networking flags Chromium keeps trying
# to reach Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no browser at {CHROMIUM}: `make test` installs Debian's chromium where it runs as "
            "root with apt-get; elsewhere install it (apt-get install chromium) to run this test"
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    expect.set_options(timeout=WAIT_MS)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    # Every action asks first; the test says yes, as a user would.
    opened.on("dialog", lambda dialog: dialog.accept())
    try:
        yield opened
    finally:
        context.close()


def test_find_run_and_pause_through_the_console(
    page: Page,
    emulator: EmulatorProcess,
    client: Any,
    jobs: Any,
    make_queue: QueueFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    queue = make_queue()
    queue_id = queue.rsplit("/", 1)[1]
    task = client.create_task(
        parent=queue,
        task=later_task(
            url,
            body=b'{"order": 42, "dishes": ["dal", "rice"]}',
            headers={"Content-Type": "application/json"},
        ),
    )
    job = jobs.create_job(
        parent=PARENT,
        job=scheduler_v1.Job(
            name=f"{PARENT}/jobs/nightly-{uuid.uuid4().hex[:6]}",
            schedule="0 3 * * *",
            time_zone="Europe/Paris",
            http_target=scheduler_v1.HttpTarget(uri=url),
        ),
    )
    recorder.script(path, Reply(status=503, body=b"kitchen closed"))

    # The queue and the job, on the first page.
    page.goto(emulator.http_url + "/")
    row = page.locator(f'tr[data-queue="{queue}"]')
    expect(row).to_contain_text("running")
    expect(row.locator("td").nth(2)).to_have_text("1")  # waiting
    expect(page.locator(f'tr[data-job="{job.name}"]')).to_contain_text("0 3 * * *")
    page.screenshot(path=ARTIFACTS / "home.png", full_page=True)

    # The task, in its queue.
    row.get_by_role("link", name=queue_id).click()
    expect(page.locator("h1")).to_have_text(f"Queue {queue_id}")
    task_row = page.locator(f'tr[data-task="{task.name}"]')
    expect(task_row).to_contain_text("not attempted")
    page.screenshot(path=ARTIFACTS / "queue.png", full_page=True)

    task_row.get_by_role("link").click()
    expect(page.locator("pre.body")).to_contain_text('"dishes": [')  # pretty-printed JSON
    expect(page.get_by_text("No attempt yet.")).to_be_visible()

    # Run now: the worker gets it, and the attempt appears on the page.
    page.locator('button[data-action="run_task"]').click()
    expect(page.locator(".flash.notice")).to_contain_text("sent")
    attempt = page.locator('tr[data-attempt="1"]')
    expect(attempt.locator("[data-status]")).to_have_text("503")
    expect(attempt).to_contain_text("kitchen closed")
    assert len(recorder.wait_for(path, 1)) == 1
    page.screenshot(path=ARTIFACTS / "task.png", full_page=True)

    # Pause the queue: the page says so, and so does the API.
    page.get_by_role("link", name=queue_id).click()
    page.locator('button[data-action="pause_queue"]').click()
    expect(page.locator("#queue-state [data-state]")).to_have_attribute("data-state", "PAUSED")
    assert client.get_queue(name=queue).state == tasks_v2.Queue.State.PAUSED
    expect(task_row).to_contain_text("503")
    page.screenshot(path=ARTIFACTS / "queue-paused.png", full_page=True)

    # A change made through the API arrives without a reload.
    page.evaluate("window.notReloaded = true")
    client.resume_queue(name=queue)
    expect(page.locator("#queue-state [data-state]")).to_have_attribute("data-state", "RUNNING")
    assert page.evaluate("window.notReloaded") is True


def test_dark_look(browser: Browser, emulator: EmulatorProcess, make_queue: QueueFactory) -> None:
    """The same pages in the dark scheme: a dark background, light text."""
    make_queue()
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    try:
        dark = context.new_page()
        dark.goto(emulator.http_url + "/")
        background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
        text = dark.evaluate("getComputedStyle(document.body).color")
        dark.screenshot(path=ARTIFACTS / "home-dark.png", full_page=True)
    finally:
        context.close()

    assert _luminance(background) < 0.2 < 0.8 < _luminance(text)


def _luminance(css: str) -> float:
    red, green, blue = (int(part) for part in css[css.index("(") + 1 : -1].split(",")[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255
