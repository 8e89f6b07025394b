"""The two graph shapes both workflow benchmarks build, for either framework.

Imported by ``lite_workflow_side.py`` and ``pydra_workflow_side.py`` so that
the two sides build the very same graphs; each passes its own ``workflow``
module and its own ``Add(a, b=1)`` task class. Standard library only.
"""

from __future__ import annotations

from typing import Any


def chain(workflow: Any, add: Any, x: Any, n: int) -> Any:
    """``n`` nodes, each adding 1 to the one before."""
    out = x
    for i in range(n):
        out = workflow.add(add(a=out), name=f"n{i}").out
    return out


def fan(workflow: Any, add: Any, x: Any, n: int) -> Any:
    """One source, ``n // 2`` nodes reading it, a binary tree summing them."""
    source = workflow.add(add(a=x), name="source").out
    level = [
        workflow.add(add(a=source, b=i), name=f"fan{i}").out for i in range(n // 2)
    ]
    depth = 0
    while len(level) > 1:
        pairs = zip(level[::2], level[1::2], strict=False)
        summed = [
            workflow.add(add(a=a, b=b), name=f"sum{depth}_{i}").out
            for i, (a, b) in enumerate(pairs)
        ]
        level = summed + level[len(summed) * 2 :]
        depth += 1
    return level[0]


def expected(shape: str, n: int) -> int:
    """The output both sides must give (x = 0)."""
    if shape == "chain":
        return n
    m = n // 2
    return m + m * (m - 1) // 2
