"""One pydra_lite workflow measurement in a fresh process; prints its figures as JSON.

Run by ``bench_workflow.py`` with the current python (and this repository on
``PYTHONPATH``); the Pydra twin is ``pydra_workflow_side.py``. Both take the
same arguments and build the same graphs of a trivial ``Add``::

    python lite_workflow_side.py --cache DIR --n 50 --shape chain|fan

* ``chain``: ``n`` nodes, each adding 1 to the one before.
* ``fan``: one source node, ``n // 2`` nodes reading it (fan-out), and a
  binary tree of ``n // 2 - 1`` nodes summing them pairwise (fan-in).

Timing starts after the imports and the class definitions, right before the
Submitter is made, and stops when its ``with`` block is left; ``call_seconds``
is the ``sub(workflow)`` call alone. ``--prehash`` computes the operation
hashes of both task classes before the timing starts (to show how much of a
warm call they are); the table's goals never use it.
"""

from __future__ import annotations

import argparse
from typing import Any

from graph_shapes import chain, expected, fan
from lite_side import timed_submit
from probe import emit, side_args

from pydra_lite import python, workflow
from pydra_lite.compose.base import operation_hash


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
    if args.prehash:
        operation_hash(Add)
        operation_hash(type(task))
    result, times = timed_submit(args, task)
    if result.outputs.out != expected(args.shape, args.n):
        msg = f"wrong output from {args.shape} {args.n}: {result.outputs.out!r}"
        raise RuntimeError(msg)
    return {
        "side": "pydra_lite",
        "n": args.n,
        "shape": args.shape,
        "seconds": times["seconds"],
        "call_seconds": times["call_seconds"],
        "cached": result.cached,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    return side_args(__doc__.splitlines()[0], argv, workflow=True)


if __name__ == "__main__":
    emit(measure(parse()))
