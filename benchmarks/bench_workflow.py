"""The workflow benchmarks of issue 5: pydra_lite against Pydra 1.0a12.

Every measurement is a fresh process: pydra_lite's side
(``lite_workflow_side.py``) runs with this python and this repository on
``PYTHONPATH``, Pydra's (``pydra_workflow_side.py``) with the python of a
separate venv; the split reference is ``lite_side.py`` of ``bench_split.py``.
Each child prints its figures as JSON; this script prints a table and writes
every figure to ``<workdir>/workflow_figures.json``.

Workloads (a trivial ``Add``, serial worker):

1. a chain of 50 nodes, warm rerun in a new process: the ``sub(workflow)``
   call, which must execute nothing (goal < 5 ms);
2. that chain cold: the cost of one more node (the slope from 50 to 250
   nodes) against the time per state of a cold 1,000-state split (goal:
   within 2x); ``call / n`` at 50 nodes is shown too;
3. chains and fan-out/fan-in graphs of 100, 300 and 1,000 nodes, cold and
   warm: time per node must stay flat (goal: at 1,000 nodes within 1.5x of
   the time per node at 100).

Run ``python benchmarks/bench_workflow.py`` (``--help`` for options). Pydra
is optional: without its venv only pydra_lite's figures are shown.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import bench_split as split_bench
from bench_split import ratio_goal, yes

PYDRA_VENV = split_bench.PYDRA_VENV


class Bench(split_bench.Bench):
    """Runs the children of every workload and collects figures and rows."""

    LITE_SIDE = "lite_workflow_side.py"
    PYDRA_SIDE = "pydra_workflow_side.py"
    WORKLOADS = {"1": "warm_chain", "2": "cold_chain", "3": "sizes"}
    FIGURES = "workflow_figures.json"
    WORKDIR_PREFIX = "pydra-lite-wf-bench-"

    def pydra(self, cache: str, n: int, *options: str) -> dict[str, Any] | None:
        try:
            return super().pydra(cache, n, *options)
        except RuntimeError as exc:  # Pydra 1.0a12 cannot pickle a 300-node chain
            self.figures.setdefault("pydra_failed", {})[cache] = str(exc)[-300:]
            print(f"Pydra run {cache} failed: {str(exc).splitlines()[-2][:120]}")
            return None

    def split(self, cache: str, n: int) -> dict[str, Any]:
        """The split reference: ``lite_side.py`` of ``bench_split.py``."""
        return self.run_lite(split_bench.Bench.LITE_SIDE, cache, n)

    def cold_warm(
        self, side: Any, cache: str, n: int, *options: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """One cold run into a new cache, then ``--repeat`` warm reruns of it."""
        cold = side(cache, n, *options)
        if cold is None:
            return None, []
        warm = [side(cache, n, *options) for _ in range(self.args.repeat)]
        if not all(run["cached"] in (True, None) for run in warm):
            msg = f"a warm rerun of {cache} executed something: {warm}"
            raise RuntimeError(msg)
        return cold, warm

    # -- workloads ----------------------------------------------------------

    def warm_chain(self) -> None:
        """Workload 1: the 50-node chain, warm, in a new process."""
        n = self.args.chain
        runs = [self.cold_warm(self.lite, f"w1-lite-{i}", n) for i in range(2)]
        warm = [w for _, w in runs for w in w]
        engine = [self.lite(f"w1-lite-{i}", n, "--prehash") for i in range(2)]
        _, pydra_warm = self.cold_warm(self.pydra, "w1-pydra", n)
        self.figures["1_warm_chain"] = {
            "lite": runs,
            "lite_prehashed": engine,
            "pydra_warm": pydra_warm,
        }
        lite_ms = call_ms(warm)
        pydra_ms = call_ms(pydra_warm) if pydra_warm else None
        self.add(
            f"1 chain {n}, warm rerun, new process: sub(wf)",
            f"{lite_ms:.1f} ms",
            f"{pydra_ms:.1f} ms" if pydra_ms else "-",
            f"{pydra_ms / lite_ms:.1f}x faster" if pydra_ms else "",
            "< 5 ms",
            yes(lite_ms < 5),
        )
        self.add(
            "1   same, operation hashes computed before (info)",
            f"{call_ms(engine):.1f} ms",
            "",
            "",
            "",
            "",
        )

    def cold_chain(self) -> None:
        """Workload 2: cold chain per node against a cold split per state.

        A node's overhead is what one more node costs: the slope between a
        chain of ``n`` and one of ``5n`` nodes, run in fresh processes side by
        side with the split. ``call / n`` (the info row) also spreads over the
        nodes what a call pays once per process, the operation hashes first.
        """
        n, states = self.args.chain, self.args.states
        runs = [
            (
                self.lite(f"w2-chain-{i}", n),
                self.lite(f"w2-long-{i}", 5 * n),
                self.split(f"w2-split-{i}", states),
            )
            for i in range(self.args.repeat)
        ]
        chain = [r[0] for r in runs]
        pydra = self.pydra("w2-pydra", n)
        self.figures["2_cold_chain"] = {"runs": runs, "pydra": pydra}
        node_ms = per_node_ms(chain)
        pydra_ms = per_node_ms([pydra]) if pydra else None
        self.add(
            f"2 chain {n}, cold, call / n",
            f"{node_ms:.2f} ms",
            f"{pydra_ms:.2f} ms" if pydra_ms else "-",
            f"{pydra_ms / node_ms:.1f}x faster" if pydra_ms else "",
            "",
            "",
        )
        added = [_slope(short, long) for short, long, _ in runs]
        per_state = [split["call_seconds"] / split["n"] for _, _, split in runs]
        # Medians of ratios taken side by side: a shared disk drifts tenfold.
        self.add(
            f"2   one more node ({n} to {5 * n}) vs a split state",
            f"{1000 * statistics.median(added):.2f} ms",
            f"split {1000 * statistics.median(per_state):.2f} ms",
            *ratio_goal(_paired(added, per_state), 1.0, 2, at_least=False),
        )
        per_node = [c["call_seconds"] / c["n"] for c in chain]
        ratio = _paired(per_node, per_state)
        self.add(
            "2   call / n vs a split state (info)", "", "", f"{ratio:.2f}x", "", ""
        )

    def sizes(self) -> None:
        """Workload 3: per-node time, cold and warm, as the graph grows."""
        for shape in ("chain", "fan"):
            per: dict[int, dict[str, Any]] = {}
            for n in self.args.sizes:
                per[n] = self.size_runs(shape, n)
            self.figures[f"3_{shape}"] = per
            for phase in ("cold", "warm"):
                self.size_row(shape, phase, per)

    def size_runs(self, shape: str, n: int) -> dict[str, Any]:
        cold, warm = self.cold_warm(self.lite, f"w3-{shape}-{n}", n, "--shape", shape)
        pydra_cold: dict[str, Any] | None = None
        pydra_warm: list[dict[str, Any]] = []
        if n <= self.args.pydra_max:
            pydra_cold, pydra_warm = self.cold_warm(
                self.pydra, f"w3-pydra-{shape}-{n}", n, "--shape", shape
            )
        return {
            "cold": [cold],
            "warm": warm,
            "pydra_cold": [pydra_cold] if pydra_cold else [],
            "pydra_warm": pydra_warm,
        }

    def size_row(self, shape: str, phase: str, per: dict[int, dict[str, Any]]) -> None:
        sizes = sorted(per)
        lite = {n: per_node_ms(per[n][phase]) for n in sizes}
        pydra = [
            f"{per_node_ms(per[n][f'pydra_{phase}']):.2f}"
            if per[n][f"pydra_{phase}"]
            else ("failed" if f"w3-pydra-{shape}-{n}" in self.failed() else "-")
            for n in sizes
        ]
        small, big = sizes[0], sizes[-1]
        self.add(
            f"3 {shape} {phase}, per node at {' / '.join(f'{n:,}' for n in sizes)}",
            " / ".join(f"{lite[n]:.3f}" for n in sizes) + " ms",
            " / ".join(pydra) + " ms" if self.pydra_python else "-",
            f"{lite[big] / lite[small]:.2f}x",
            "<= 1.5x",
            yes(lite[big] / lite[small] <= 1.5),
        )

    def failed(self) -> dict[str, str]:
        """The Pydra runs that failed, by cache name, with the error's end."""
        return self.figures.get("pydra_failed", {})  # type: ignore[no-any-return]


def call_ms(runs: list[dict[str, Any]]) -> float:
    return statistics.median(1000 * run["call_seconds"] for run in runs)


def _slope(short: dict[str, Any], long: dict[str, Any]) -> float:
    """Seconds per node between two chains' calls."""
    return (long["call_seconds"] - short["call_seconds"]) / (long["n"] - short["n"])


def _paired(nums: list[float], dens: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(nums, dens, strict=True))


def per_node_ms(runs: list[dict[str, Any]]) -> float:
    return statistics.median(1000 * run["call_seconds"] / run["n"] for run in runs)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="123", help="workloads to run, e.g. 12")
    split_bench.add_runner_options(parser)
    parser.add_argument(
        "--pydra-max", type=int, default=300, help="largest graph Pydra runs in 3"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="pydra_lite runs per figure (median)"
    )
    parser.add_argument("--chain", type=int, default=50)
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    split_bench.run_workloads(Bench, parse(argv))


if __name__ == "__main__":
    main()
