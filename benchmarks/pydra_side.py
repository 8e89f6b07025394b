"""One Pydra 1.0a12 measurement in a fresh process; prints its figures as JSON.

Run by ``bench_split.py`` with the Pydra venv's python (it never imports
pydra_lite). Same arguments and timing window as ``lite_side.py``; Pydra's
``debug`` worker is its serial one. ``--warm-pool`` is not supported here.

Pydra runs a split task as an implicit one-node workflow; ``output_dir`` is
that workflow's cache directory (``workflow-<hash>``), which holds the
gathered outputs, and each state has its own ``python-<hash>`` directory.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from probe import emit, peak_rss_kb, side_args
from pydra.compose import python
from pydra.engine.submitter import Submitter


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


def timed_submit(args: argparse.Namespace, task: Any) -> tuple[Any, dict[str, float]]:
    """Run ``task`` in a Pydra Submitter made as ``args`` say: the result and
    the times (the whole ``with`` block, the call, when it started)."""
    worker = "debug" if args.worker == "serial" else args.worker
    options = {"n_procs": args.procs} if args.worker == "cf" else {}
    start = time.time()
    with Submitter(cache_root=args.cache, worker=worker, **options) as sub:
        call_start = time.time()
        result = sub(task, raise_errors=True)
        call_end = time.time()
    times = {"seconds": time.time() - start, "call_seconds": call_end - call_start}
    return result, {**times, "submit_time": start}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rss_base = peak_rss_kb()
    task, expected = build(args)
    result, times = timed_submit(args, task)
    if expected is not None and list(result.outputs.out) != expected:
        msg = f"wrong outputs from {args.task}: {result.outputs.out[:5]!r}..."
        raise RuntimeError(msg)
    return {
        "side": "pydra",
        "n": args.n,
        "worker": args.worker,
        **times,
        "rss_base_kb": rss_base,
        "rss_peak_kb": peak_rss_kb(),
        "output_dir": str(result.cache_dir),
        "cached": None,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    return side_args(__doc__.splitlines()[0], argv)


if __name__ == "__main__":
    emit(measure(parse()))
