"""What every benchmark here shares: time-bounded rate loops and the common command-line options."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_CALLS_PER_MEASURE", "BenchError", "bench_arguments", "check_arguments", "print_result", "rate"]

# Bounds a loop by count as well as time, so a very fast call cannot spin for long on a clock hiccup.
MAX_CALLS_PER_MEASURE = 1_000_000


class BenchError(RuntimeError):
    """A benchmark that cannot measure what it claims (a fixture drifted, a server did not start)."""


def print_result(run: Callable[[], dict[str, Any]]) -> int:
    """Run a benchmark and print its JSON on standard output; exit status 1 with the reason on a BenchError."""
    try:
        output = run()
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    json.dump(output, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def rate(call: Callable[[], object], seconds: float, max_calls: int = MAX_CALLS_PER_MEASURE) -> float:
    """Calls per second of ``call`` over a time-bounded loop (at least one call)."""
    clock = time.perf_counter
    calls = 0
    start = clock()
    deadline = start + seconds
    while True:
        call()
        calls += 1
        now = clock()
        if now >= deadline or calls >= max_calls:
            return calls / (now - start)


def bench_arguments(description: str | None, known: list[str]) -> argparse.ArgumentParser:
    """A parser with --seconds, --rounds and --docs; a benchmark adds its own options before parsing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each timed loop (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, best kept (default 3)")
    parser.add_argument("--docs", help=f"comma-separated subset of: {', '.join(known)}")
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, known: list[str]) -> argparse.Namespace:
    """Bound the run (the machine is shared) and turn --docs into a list of known names."""
    if not args.seconds > 0 or args.seconds > 60:
        parser.error("--seconds must be in (0, 60]")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    if args.docs is not None:
        names = [n.strip() for n in args.docs.split(",") if n.strip()]
        unknown = sorted(set(names) - set(known))
        if unknown or not names:
            parser.error(f"unknown documents {unknown}; choose from {', '.join(known)}")
        args.docs = names
    return args
