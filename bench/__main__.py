"""``python -m bench``: every benchmark in this folder, in sequence, then one table of figures.

Each figure is a ratio against a baseline measured in the same run (absolute numbers are
printed as context). ``--quick`` is a smoke run; ``--strict`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bench import (
    emulator_console,
    emulator_create,
    emulator_dispatch,
    emulator_scale,
    kit_delay,
    kit_worker,
)
from bench._common import Figure, print_figures

BENCHMARKS: list[tuple[str, Callable[[bool], list[Figure]]]] = [
    ("emulator_dispatch", lambda quick: emulator_dispatch.run(500 if quick else 5000, quick)),
    ("emulator_create", lambda quick: emulator_create.run(500 if quick else 5000, quick)),
    ("emulator_scale", lambda quick: emulator_scale.run(5000 if quick else 100_000, quick)),
    ("emulator_console", lambda quick: emulator_console.run(5000 if quick else 100_000, quick)),
    ("kit_delay", kit_delay.run),
    ("kit_worker", kit_worker.run),
]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run of everything")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--only", action="append", default=[], help="run only this benchmark")
    args = parser.parse_args()
    figures: list[Figure] = []
    started = time.monotonic()
    for name, run in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        began = time.monotonic()
        results = run(args.quick)
        print_figures(results)
        print(f"   ({time.monotonic() - began:.0f} s)", flush=True)
        figures += results
    print(f"\n== summary ({time.monotonic() - started:.0f} s)")
    print_figures(figures)
    missed = [f for f in figures if f.passed is False]
    print(f"\n{len(missed)} target(s) missed" if missed else "\nall targets met")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
