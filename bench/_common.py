"""What every benchmark here shares: time-bounded rate loops and the common command-line options."""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_CALLS_PER_MEASURE",
    "BenchError",
    "Profiled",
    "bench_arguments",
    "check_arguments",
    "print_result",
    "profile",
    "rate",
]

# (filename, line, function name) → (primitive calls, calls, self seconds, cumulative seconds, callers)
Function = tuple[str, int, str]
Entry = tuple[int, int, float, float, Any]

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


@dataclass(frozen=True)
class Profiled:
    """A cProfile run of one call repeated: per-call figures. cProfile slows Python more than C: read shares."""

    calls: int
    stats: dict[Function, Entry]

    @property
    def total(self) -> float:
        return sum(entry[2] for entry in self.stats.values()) or 1.0

    def ms_per_call(self, seconds: float) -> float:
        return round(1000 * seconds / self.calls, 3)

    def area_shares(self, area: Callable[[Function], str], limit: int | None = None) -> dict[str, float]:
        """Self time by area (whose code it is), as shares of the total, largest first."""
        areas: dict[str, float] = defaultdict(float)
        for function, entry in self.stats.items():
            areas[area(function)] += entry[2]
        ranked = sorted(areas.items(), key=lambda item: -item[1])[:limit]
        return {name: round(share / self.total, 3) for name, share in ranked}

    def top_self_time(self, where: Callable[[Function], str], count: int) -> list[dict[str, Any]]:
        top = sorted(self.stats.items(), key=lambda item: item[1][2], reverse=True)[:count]
        return [
            {
                "function": where(function),
                "calls_per_op": round(entry[1] / self.calls, 1),
                "self_ms_per_op": self.ms_per_call(entry[2]),
                "cumulative_ms_per_op": self.ms_per_call(entry[3]),
                "self_share": round(entry[2] / self.total, 3),
            }
            for function, entry in top
        ]


def profile(call: Callable[[], object], seconds: float, max_calls: int = MAX_CALLS_PER_MEASURE) -> Profiled:
    """Run ``call`` under cProfile for about ``seconds`` (at least once)."""
    profiler = cProfile.Profile()
    calls = 0
    deadline = time.perf_counter() + seconds
    profiler.enable()
    while calls == 0 or (time.perf_counter() < deadline and calls < max_calls):
        call()
        calls += 1
    profiler.disable()
    stats: dict[Function, Entry] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return Profiled(calls, stats)
