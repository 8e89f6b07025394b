"""Ewoks graphs on pydra_lite: per-node cost cold and warm, and graph loading.

    python benchmarks/bench_ewoks.py [NODES] [REPEATS]

1. A linear graph of NODES (default 20) ewoks-style class nodes is run with
   ``varinfo={"scheme": "json"}`` into an empty directory (cold), then again
   in a *new* process (warm: every node cached). The same cold run with the
   ``pickle`` store is the reference. Each figure is the median over REPEATS
   fresh processes of the time spent inside ``execute_graph`` (imports and
   interpreter start-up excluded), divided by NODES. Goals: warm < 0.2 ms per
   node; json cold within 2x of pickle cold. For reference, not a goal: the
   warm call repeated REPEATS times in one process (its classes made once).
2. If ``/work/ewoks-venv`` (or ``$EWOKS_PYTHON``) has ewokscore, the same
   graph is run there with the json scheme and the ratios are printed;
   otherwise that part is skipped with a note.
3. ``load_graph`` on chains of 1k, 10k and 100k links: microseconds per link,
   which stays flat when loading is linear.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EWOKS_PYTHON = os.environ.get("EWOKS_PYTHON", "/work/ewoks-venv/bin/python")

PRELOAD = {
    # Imports are not per-node work: load the store module before timing.
    "pydra_lite.ewoks": "from pydra_lite import get_store; get_store(varinfo['scheme'])",
    "ewokscore": "",
}

TASKS = """
from {package} import Task


class AddOne(Task, input_names=["x"], output_names=["x"]):
    def run(self):
        self.outputs.x = self.inputs.x + 1
"""

CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
from {package} import execute_graph
import chain_tasks

graph = json.loads({graph!r})
varinfo = {{"root_uri": {root!r}, "scheme": {scheme!r}}}
{preload}
elapsed = []
for _ in range({calls}):
    start = time.perf_counter()
    result = execute_graph(graph, varinfo=varinfo)
    elapsed.append(time.perf_counter() - start)
    assert result == {{"x": {expected}}}, result
print(json.dumps(elapsed))
"""


def chain(nodes: int) -> dict:
    """A linear graph of AddOne nodes, node i feeding node i+1."""
    items = [
        {"id": f"n{i}", "task_type": "class", "task_identifier": "chain_tasks.AddOne"}
        for i in range(nodes)
    ]
    items[0]["default_inputs"] = [{"name": "x", "value": 0}]
    links = [
        {
            "source": f"n{i}",
            "target": f"n{i + 1}",
            "data_mapping": [{"source_output": "x", "target_input": "x"}],
        }
        for i in range(nodes - 1)
    ]
    return {"graph": {"id": "chain"}, "nodes": items, "links": links}


def run_child(
    python: str, package: str, root: Path, scheme: str, nodes: int, calls: int = 1
) -> list[float]:
    """Seconds spent in each of ``calls`` execute_graph calls by one new process."""
    here = root.parent / f"tasks-{package.replace('.', '_')}"
    here.mkdir(exist_ok=True)
    (here / "chain_tasks.py").write_text(TASKS.format(package=package))
    code = CHILD.format(
        here=str(here),
        package=package,
        preload=PRELOAD[package],
        graph=json.dumps(chain(nodes)),
        root=str(root),
        scheme=scheme,
        expected=nodes,
        calls=calls,
    )
    proc = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cold_and_warm(
    python: str, package: str, scheme: str, nodes: int, repeats: int
) -> tuple[float, float]:
    """Median (cold, warm) milliseconds per node over ``repeats`` fresh caches."""
    colds, warms = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "cache"
            colds += run_child(python, package, root, scheme, nodes)
            warms += run_child(python, package, root, scheme, nodes)
    per_node = 1000 / nodes
    return statistics.median(colds) * per_node, statistics.median(warms) * per_node


def has_ewokscore() -> bool:
    if not Path(EWOKS_PYTHON).exists():
        return False
    probe = subprocess.run(
        [EWOKS_PYTHON, "-c", "import ewokscore"], capture_output=True, check=False
    )
    return probe.returncode == 0


def loading_per_link() -> None:
    from pydra_lite.ewoks import load_graph

    sys.path.insert(0, _tasks_dir())
    for nodes in (1_000, 10_000, 100_000):
        graph = chain(nodes)
        start = time.perf_counter()
        load_graph(graph)
        elapsed = time.perf_counter() - start
        print(
            f"load_graph  {nodes - 1:>7} links  {elapsed * 1e6 / (nodes - 1):7.2f} µs/link"
        )


def _tasks_dir() -> str:
    here = Path(tempfile.mkdtemp(prefix="bench-ewoks-"))
    (here / "chain_tasks.py").write_text(TASKS.format(package="pydra_lite.ewoks"))
    return str(here)


def main(nodes: int, repeats: int) -> None:
    print(f"-- linear graph of {nodes} nodes; ms per node, median of {repeats} runs")
    lite = {}
    for scheme in ("json", "pickle"):
        cold, warm = cold_and_warm(
            sys.executable, "pydra_lite.ewoks", scheme, nodes, repeats
        )
        lite[scheme] = (cold, warm)
        print(
            f"pydra_lite {scheme:>6}  cold {cold:8.3f}  warm (new process) {warm:8.3f}"
        )
    print(
        f"json cold / pickle cold: {lite['json'][0] / lite['pickle'][0]:.2f} (goal <= 2)"
    )
    print(f"json warm per node: {lite['json'][1]:.3f} ms (goal < 0.2)")
    repeated_call(nodes, repeats)
    marginal_cost(nodes, repeats, lite["json"])
    compare_with_ewokscore(nodes, max(1, repeats // 2), lite["json"])
    print("-- graph loading")
    loading_per_link()


def repeated_call(nodes: int, repeats: int) -> None:
    """Warm calls after the first in one process: what a long-lived process
    (a server, a notebook) pays per graph once its classes are made."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "cache"
        run_child(sys.executable, "pydra_lite.ewoks", root, "json", nodes)
        calls = run_child(
            sys.executable, "pydra_lite.ewoks", root, "json", nodes, repeats + 1
        )
    again = statistics.median(calls[1:]) * 1000 / nodes
    print(f"pydra_lite   json  warm, call repeated in one process {again:8.3f}")


def marginal_cost(nodes: int, repeats: int, small: tuple[float, float]) -> None:
    """Per-node cost once per-process fixed costs (class building, code hashing)
    are taken out: the slope between ``nodes`` and ``10 * nodes`` nodes."""
    big = 10 * nodes
    cold, warm = cold_and_warm(sys.executable, "pydra_lite.ewoks", "json", big, repeats)
    print(
        f"pydra_lite   json  cold {cold:8.3f}  warm (new process) {warm:8.3f}  ({big} nodes)"
    )
    slope = [
        (b * big - s * nodes) / (big - nodes)
        for s, b in zip(small, (cold, warm), strict=True)
    ]
    print(
        f"marginal per node (json, {nodes} -> {big} nodes): cold {slope[0]:.3f}  warm {slope[1]:.3f}"
    )


def compare_with_ewokscore(nodes: int, repeats: int, lite: tuple[float, float]) -> None:
    if not has_ewokscore():
        print(f"ewokscore comparison skipped: no ewokscore at {EWOKS_PYTHON}")
        return
    for size in sorted({5, nodes}):
        cold, warm = cold_and_warm(EWOKS_PYTHON, "ewokscore", "json", size, repeats)
        print(
            f"ewokscore    json  cold {cold:8.3f}  warm (new process) {warm:8.3f}  ({size} nodes)"
        )
    print(
        f"ewokscore / pydra_lite (json, {nodes} nodes): cold {cold / lite[0]:.0f}x, "
        f"warm {warm / lite[1]:.0f}x"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """NODES and REPEATS, both optional, as before; ``--help`` explains them."""
    parser = argparse.ArgumentParser(
        description="Ewoks graphs on pydra_lite: per-node cost cold and warm, "
        "the ewokscore comparison, and graph loading."
    )
    parser.add_argument(
        "nodes", nargs="?", type=int, default=20, help="nodes of the linear graph"
    )
    parser.add_argument(
        "repeats",
        nargs="?",
        type=int,
        default=5,
        help="fresh processes per figure (the median is shown)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    main(args.nodes, args.repeats)
