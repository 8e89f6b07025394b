"""One Pydra 1.0a12 workflow measurement in a fresh process; prints its figures as JSON.

Run by ``bench_workflow.py`` with the Pydra venv's python (it never imports
pydra_lite). Same arguments, graphs and timing window as
``lite_workflow_side.py``; Pydra's ``debug`` worker is its serial one.
``--prehash`` is accepted and ignored (Pydra has no operation hash to warm).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from graph_shapes import chain, expected, fan
from probe import emit, side_args
from pydra.compose import python, workflow
from pydra.engine.submitter import Submitter


@python.define
def Add(a: int, b: int = 1) -> int:
    return a + b


@workflow.define
def Chain(x: int, n: int) -> int:
    return chain(workflow, Add, x, n)


@workflow.define
def Fan(x: int, n: int) -> int:
    return fan(workflow, Add, x, n)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    task = (Chain if args.shape == "chain" else Fan)(x=0, n=args.n)
    worker = "debug" if args.worker == "serial" else args.worker
    options = {"n_procs": args.procs} if args.worker == "cf" else {}
    start = time.time()
    with Submitter(cache_root=args.cache, worker=worker, **options) as sub:
        call_start = time.time()
        result = sub(task, raise_errors=True)
        call_end = time.time()
    end = time.time()
    if result.outputs.out != expected(args.shape, args.n):
        msg = f"wrong output from {args.shape} {args.n}: {result.outputs.out!r}"
        raise RuntimeError(msg)
    return {
        "side": "pydra",
        "n": args.n,
        "shape": args.shape,
        "seconds": end - start,
        "call_seconds": call_end - call_start,
        "cached": None,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    return side_args(__doc__.splitlines()[0], argv, workflow=True)


if __name__ == "__main__":
    emit(measure(parse()))
