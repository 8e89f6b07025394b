"""One Pydra 1.0a12 workflow measurement in a fresh process; prints its figures as JSON.

Run by ``bench_workflow.py`` with the Pydra venv's python (it never imports
pydra_lite). Same arguments, graphs and timing window as
``lite_workflow_side.py``; Pydra's ``debug`` worker is its serial one.
``--prehash`` is accepted and ignored (Pydra has no operation hash to warm).
"""

from __future__ import annotations

import argparse
from typing import Any

from graph_shapes import chain, expected, fan
from probe import emit, side_args
from pydra.compose import python, workflow
from pydra_side import timed_submit


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
    result, times = timed_submit(args, task)
    if result.outputs.out != expected(args.shape, args.n):
        msg = f"wrong output from {args.shape} {args.n}: {result.outputs.out!r}"
        raise RuntimeError(msg)
    return {
        "side": "pydra",
        "n": args.n,
        "shape": args.shape,
        "seconds": times["seconds"],
        "call_seconds": times["call_seconds"],
        "cached": None,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    return side_args(__doc__.splitlines()[0], argv, workflow=True)


if __name__ == "__main__":
    emit(measure(parse()))
