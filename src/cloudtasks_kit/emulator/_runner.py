"""What the dispatcher and the job runner share: waiting for due work, and the coroutines
they start and must cancel when the emulator stops.

Both sleep until the next due time *or* a wake-up (a create, a queue change, the clock
advanced), whichever comes first: waits are on events, never plain sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

__all__ = ["Background", "wait_for_event"]


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
    """Return when ``event`` is set or ``seconds`` have passed, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class Background:
    """The coroutines a runner started on the running loop: its loops and its attempts."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(
        self, coroutine: Coroutine[Any, Any, None], name: str | None = None
    ) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        # The loop keeps only a weak reference to a task: this set keeps it alive until done.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
