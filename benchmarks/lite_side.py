"""One pydra_lite measurement in a fresh process; prints its figures as JSON.

Run by ``bench_split.py`` with the current python (and this repository on
``PYTHONPATH``); the Pydra twin is ``pydra_side.py``. Both take the same
arguments::

    python lite_side.py --cache DIR --n 1000 [--worker cf --procs 2]
        [--task inc|spin|mark] [--turns K] [--mark FILE] [--warm-pool]

Timing starts after the imports and the task definitions, once the input
list is built, right before the Submitter is made; it stops when the
Submitter's ``with`` block is left (so a cf pool's shutdown is included).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from probe import emit, peak_rss_kb, side_args

from pydra_lite import Submitter, python


@python.define
def Inc(a: int) -> int:
    return a + 1


@python.define
def Spin(a: int, turns: int) -> int:
    total = 0
    for i in range(turns):
        total += i & 7
    return total + a


@python.define
def IncMarked(a: int, mark: str) -> int:
    if a == 0:
        with open(mark, "a") as stream:
            stream.write(f"{time.time()!r}\n")
    return a + 1


def build(args: argparse.Namespace) -> tuple[Any, list[int] | None]:
    """The split task for ``args.task`` and the outputs it must give."""
    values = list(range(args.n))
    if args.task == "spin":
        return Spin(turns=args.turns).split(a=values), None
    if args.task == "mark":
        return IncMarked(mark=args.mark).split(a=values), [a + 1 for a in values]
    return Inc().split(a=values), [a + 1 for a in values]


def warm_up(sub: Submitter, procs: int) -> None:
    """Start every pool process, with states unrelated to the measured ones."""
    sub(Spin(turns=2_000_000).split(a=[-1 - i for i in range(2 * procs)]))


def timed_submit(
    args: argparse.Namespace, task: Any, warm_pool: bool = False
) -> tuple[Any, dict[str, float]]:
    """Run ``task`` in a Submitter made as ``args`` say: the result and the
    times (the whole ``with`` block, the ``sub(task)`` call, when it started)."""
    options = {"n_procs": args.procs} if args.worker == "cf" else {}
    start = time.time()
    with Submitter(
        cache_dir=args.cache, worker=args.worker, progress=False, **options
    ) as sub:
        if warm_pool:
            warm_up(sub, args.procs)
        call_start = time.time()
        result = sub(task)
        call_end = time.time()
    times = {"seconds": time.time() - start, "call_seconds": call_end - call_start}
    return result, {**times, "submit_time": start}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rss_base = peak_rss_kb()
    task, expected = build(args)
    result, times = timed_submit(args, task, args.warm_pool)
    if expected is not None and result.outputs.out != expected:
        msg = f"wrong outputs from {args.task}: {result.outputs.out[:5]!r}..."
        raise RuntimeError(msg)
    return {
        "side": "pydra_lite",
        "n": args.n,
        "worker": args.worker,
        **times,
        "rss_base_kb": rss_base,
        "rss_peak_kb": peak_rss_kb(),
        "output_dir": str(result.output_dir),
        "cached": result.cached,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    return side_args(__doc__.splitlines()[0], argv)


if __name__ == "__main__":
    emit(measure(parse()))
