"""The emulator's notion of "now": wall time plus an offset that tests and demos can advance."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["Clock"]


class Clock:
    """Epoch seconds, advanceable.

    Advancing (never rewinding) lets a test see a task scheduled an hour ahead, or a daily job,
    run without waiting: everything that sleeps until a due time subscribes and is woken.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds):
            raise ValueError(f"the clock moves by a finite number of seconds, not {seconds}")
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
