"""Plan, then apply: bring Cloud Tasks queues or Cloud Scheduler jobs in line with the code.

A :class:`Plan` lists one :class:`Change` per resource (create, update with the differing
fields, delete, or unchanged); ``render()`` prints it as a table for ``--dry-run`` and
``apply()`` carries it out change by change, so that one failure is reported with its
resource and the others still go through. Each change is a single API call (create, update
with a field mask, or delete), so a failed one leaves no resource half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .._action import Action

__all__ = ["Change", "Failure", "Plan"]


@dataclass(frozen=True)
class Change:
    action: Action
    name: str
    fields: tuple[str, ...] = ()
    # The API call that makes the change; none for UNCHANGED.
    call: Callable[[], object] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Failure:
    change: Change
    error: str


@dataclass
class Plan:
    kind: str  # "queue" or "job", for the table's header
    changes: list[Change] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)

    def render(self) -> str:
        rows = [(c.action.value, c.name, ", ".join(c.fields) or "-") for c in self.changes]
        header = ("action", self.kind, "fields")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            for row in [header, *rows]
        ]
        summary = ", ".join(f"{self.count(a)} {a.value}" for a in Action)
        return "\n".join([*(line.rstrip() for line in lines), summary])

    def apply(self) -> list[Failure]:
        failures: list[Failure] = []
        for change in self.changes:
            if change.call is None:
                continue
            try:
                change.call()
            except Exception as exc:  # reported per resource; the rest of the plan goes on
                failures.append(Failure(change, f"{type(exc).__name__}: {exc}"))
        return failures
