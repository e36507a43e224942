"""Both halves keep the latest attempts of a task or a job, bounded, numbered as each defines."""

from __future__ import annotations

from cloudtasks_kit.emulator._insight import ATTEMPTS_KEPT, Attempt
from cloudtasks_kit.emulator._store import Database
from cloudtasks_kit.emulator.scheduler._store import JobStore
from cloudtasks_kit.emulator.tasks._store import TaskStore

TRIES = ATTEMPTS_KEPT + 3


def _attempt(number: int) -> Attempt:
    return Attempt(number, 1000.0 + number, 0.01, 500, True, f"try {number}")


def test_a_tasks_attempts_keep_their_numbers_and_only_the_latest_stay() -> None:
    store = TaskStore(Database(None))
    for number in range(1, TRIES + 1):
        store.record_attempt("t", _attempt(number))
    store.record_attempt("other", _attempt(1))

    kept = store.attempts("t")

    assert [a.number for a in kept] == list(range(TRIES, TRIES - ATTEMPTS_KEPT, -1))
    assert kept[0] == _attempt(TRIES)
    assert [a.number for a in store.attempts("other")] == [1]


def test_a_jobs_attempts_are_numbered_over_its_runs_and_only_the_latest_stay() -> None:
    store = JobStore(Database(None))
    for _ in range(TRIES):
        store.record_attempt("j", _attempt(1))  # each run's first attempt: renumbered

    kept = store.attempts("j")

    assert [a.number for a in kept] == list(range(TRIES, TRIES - ATTEMPTS_KEPT, -1))
    assert kept[-1].excerpt == "try 1"
