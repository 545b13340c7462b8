"""``tasktail bench``: compare the queue strategies and peers, honestly and reproducibly.

Every workload runs each subject in the same process, interleaved (A B C A B C ...), for
several repetitions; rows show medians and min-max, and every ratio divides by the floor
measured in the same configuration of the same run. See BENCHMARKS.md for a recorded run.

Python API::

    from tasktail.benchmarks import BenchConfig, quick_config, run_benchmarks
    report = run_benchmarks(quick_config(tasks=[10], workloads=["connected"], memory=False))
"""

from __future__ import annotations

import argparse
import shlex
import sys

from ._report import format_report, write_json, write_png
from ._runner import SCHEMA, BenchConfig, quick_config, run_benchmarks
from ._subjects import SUBJECTS
from ._workloads import WORKLOADS

__all__ = ["main", "BenchConfig", "quick_config", "run_benchmarks", "format_report", "SCHEMA"]


def _ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: expected integers >= 1")
    return values


def _names(choices: list[str]):
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        bad = [n for n in names if n not in choices]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"unknown {bad or text!r}; expected some of {', '.join(choices)}")
        return names
    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tasktail bench", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repetitions (about 2.5 minutes)")
    p.add_argument("--tasks", type=_ints, help="task counts, e.g. 10,100,1000 (default 10,100,1000,10000)")
    p.add_argument("--messages", type=int, help="messages per task (default: a fixed total per workload, divided by tasks)")
    p.add_argument("--repeat", type=int, help="measured repetitions per subject (default 5, quick 3)")
    p.add_argument("--only", type=_names(list(WORKLOADS)), help=f"workloads: {','.join(WORKLOADS)}")
    p.add_argument("--subjects", type=_names(list(SUBJECTS)), help="subjects (the floor is always added)")
    p.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    p.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    p.add_argument("--no-redis", action="store_true",
                   help="skip the Redis backend's rows (they need redis-server; quick: 10 tasks x 50)")
    p.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    p.add_argument("--png", metavar="PATH", help="write a chart (needs the plot extra)")
    p.add_argument("--list", action="store_true", help="list workloads and subjects, then exit")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for name, (_, text) in WORKLOADS.items():
            print(f"workload {name:<18} {text}")
        for name, subject in SUBJECTS.items():
            print(f"subject  {name:<18} {subject.description}")
        return 0
    config = quick_config() if args.quick else BenchConfig()
    if args.tasks:
        config.tasks = args.tasks
    if args.messages is not None:
        if args.messages < 1:
            print("tasktail bench: --messages must be >= 1", file=sys.stderr)
            return 2
        config.messages = args.messages
    if args.repeat is not None:
        if args.repeat < 1:
            print("tasktail bench: --repeat must be >= 1", file=sys.stderr)
            return 2
        config.repeat = args.repeat
    if args.only:
        config.workloads = args.only
    if args.subjects:
        config.subjects = args.subjects
        config.memory_subjects = [s for s in config.memory_subjects if s in args.subjects]
    config.backend = args.backend
    config.memory = not args.no_memory
    config.command = "tasktail bench " + shlex.join(argv) if argv else "tasktail bench"

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    report = run_benchmarks(config, log)
    print(format_report(report))
    if not args.no_redis:
        from ._redis import format_redis, redis_rows

        sizes = dict(tasks=[10], messages=500, repeat=1, memory_messages=1000) if args.quick else \
            dict(tasks=[10, 100], messages=2000, repeat=3, memory_messages=10000)
        report["redis"] = redis_rows(backend=config.backend, log=log, **sizes)
        print()
        print(format_redis(report["redis"]))
    if args.json:
        write_json(report, args.json)
        print(f"\nJSON written to {args.json}")
    if args.png:
        problem = write_png(report, args.png)
        print(f"\n{problem}" if problem else f"\nchart written to {args.png}")
    return 0
