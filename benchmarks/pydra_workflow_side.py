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

from probe import emit
from pydra.compose import python, workflow
from pydra.engine.submitter import Submitter


@python.define
def Add(a: int, b: int = 1) -> int:
    return a + b


def chain(x: Any, n: int) -> Any:
    out = x
    for i in range(n):
        out = workflow.add(Add(a=out), name=f"n{i}").out
    return out


def fan(x: Any, n: int) -> Any:
    source = workflow.add(Add(a=x), name="source").out
    level = [
        workflow.add(Add(a=source, b=i), name=f"fan{i}").out for i in range(n // 2)
    ]
    depth = 0
    while len(level) > 1:
        pairs = zip(level[::2], level[1::2], strict=False)
        summed = [
            workflow.add(Add(a=a, b=b), name=f"sum{depth}_{i}").out
            for i, (a, b) in enumerate(pairs)
        ]
        level = summed + level[len(summed) * 2 :]
        depth += 1
    return level[0]


@workflow.define
def Chain(x: int, n: int) -> int:
    return chain(x, n)


@workflow.define
def Fan(x: int, n: int) -> int:
    return fan(x, n)


def expected(shape: str, n: int) -> int:
    """The output both sides must give (x = 0)."""
    if shape == "chain":
        return n
    m = n // 2
    return m + m * (m - 1) // 2


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--shape", default="chain", choices=["chain", "fan"])
    parser.add_argument("--worker", default="serial", choices=["serial", "cf"])
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--prehash", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    emit(measure(parse()))
