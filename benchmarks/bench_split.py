"""The split benchmarks of issue 4: pydra_lite against Pydra 1.0a12 and the bare filesystem.

Every measurement is a fresh process: pydra_lite's side (``lite_side.py``)
runs with this python and this repository on ``PYTHONPATH``, Pydra's side
(``pydra_side.py``) with the python of a separate venv, and the bare
filesystem probe (``probe.py bare``) with this python. Each child prints its
figures as JSON; this script prints a table and writes every figure to
``<workdir>/figures.json``.

Workloads (a trivial ``a + 1`` task unless said):

1. a cold split of 1,000 states, serial: time per state, against Pydra and
   against a bare ``mkdir`` plus an atomic small-file write per state;
2. a rerun in a new process after deleting the split node's own entry (so
   every state is looked up): time per state;
3. the ``cf`` worker with 2 processes: 40 states of ~50 ms of CPU, and 1,000
   trivial states, against serial, with and without the pool's start-up;
4. 100,000 states serial and cold: time against 10,000, peak RSS and disk per
   state, and the time from submission to the first state starting.

Run ``python benchmarks/bench_split.py`` (``--help`` for options). Pydra is
optional: without its venv only pydra_lite's figures are shown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probe import disk_usage, spin_iterations

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYDRA_VENV = Path(os.environ.get("PYDRA_VENV", "/work/pydra-venv"))
PYDRA_SETUP = (
    "python -m venv {venv} && {venv}/bin/pip install --pre pydra==1.0a12\n"
    "(or point PYDRA_VENV / --pydra-venv at an existing venv that has it)"
)
PYDRA_QUOTED_DISK_KB = 46
"""Pydra's disk use per state quoted in issue 4, shown next to our measurement."""

Row = tuple[str, str, str, str, str, str]


class Bench:
    """Runs the children of every workload and collects figures and rows."""

    LITE_SIDE = "lite_side.py"
    PYDRA_SIDE = "pydra_side.py"
    WORKLOADS = {"1": "cold_split", "2": "rerun", "3": "cf", "4": "large"}
    FIGURES = "figures.json"
    WORKDIR_PREFIX = "pydra-lite-bench-"

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.workdir)
        self.pydra_python = find_pydra(Path(args.pydra_venv))
        self.figures: dict[str, Any] = {}
        self.rows: list[Row] = []

    # -- children -----------------------------------------------------------

    def lite(self, cache: str, n: int, *options: str) -> dict[str, Any]:
        return self.run_lite(self.LITE_SIDE, cache, n, *options)

    def run_lite(
        self, script: str, cache: str, n: int, *options: str
    ) -> dict[str, Any]:
        """One pydra_lite child: ``script`` with this python and the repository."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
        command = [sys.executable, str(HERE / script), "--cache"]
        return run_child(
            [*command, str(self.work / cache), "--n", str(n), *options], env
        )

    def pydra(self, cache: str, n: int, *options: str) -> dict[str, Any] | None:
        if self.pydra_python is None:
            return None
        env = {
            **os.environ,
            "NO_ET": "1",  # no etelemetry network call inside the timing
            "PYDRA_HASH_CACHE": str(self.work / "pydra-hash-cache"),
            "PYTHONPATH": str(HERE),
        }
        command = [str(self.pydra_python), str(HERE / self.PYDRA_SIDE), "--cache"]
        command += [str(self.work / cache), "--n", str(n), *options]
        figures = run_child(command, env, timeout=self.args.pydra_timeout)
        if "timed_out" in figures:
            print(
                f"Pydra run {cache} took over {self.args.pydra_timeout:.0f} s: left out"
            )
            return None
        return figures

    def bare(self, directory: str, n: int) -> dict[str, Any]:
        command = [sys.executable, str(HERE / "probe.py"), "bare"]
        return run_child(
            [*command, str(self.work / directory), str(n)], dict(os.environ)
        )

    def repeated(self, measure: Callable[[int], Any]) -> list[Any]:
        return [measure(i) for i in range(self.args.repeat)]

    # -- workloads ----------------------------------------------------------

    def cold_split(self) -> None:
        """Workload 1: 1,000 states cold, serial, per state; and the bare cost."""
        n = self.args.states
        pairs = self.repeated(lambda i: self.cold_pair(i, n))
        lite, bare = [p[0] for p in pairs], [p[1] for p in pairs]
        pydra = self.pydra("w1-pydra", n)
        lite_ms, bare_ms = per_state_ms(lite), per_state_ms(bare)
        pydra_ms = per_state_ms([pydra]) if pydra else None
        self.figures["1_cold"] = {"lite": lite, "bare": bare, "pydra": pydra}
        self.add(
            f"1 cold split {n:,}, serial, per state",
            ms(lite_ms),
            ms(pydra_ms),
            *ratio_goal(pydra_ms, lite_ms, 20, at_least=True),
        )
        self.add(
            "1   vs bare mkdir + atomic write",
            ms(lite_ms),
            "bare " + ms(bare_ms),
            *ratio_goal(lite_ms, bare_ms, 2, at_least=False),
        )
        pair_ratios = [per_state_ms([lt]) / per_state_ms([bt]) for lt, bt in pairs]
        self.add(
            "1   same, median of the per-pair ratios",
            "",
            f"{min(pair_ratios):.2f}x to {max(pair_ratios):.2f}x",
            f"{statistics.median(pair_ratios):.2f}x",
            "",
            "",
        )
        self.disk_rows(n)

    def cold_pair(self, i: int, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """One pydra_lite run and one bare probe, back to back, so that both see
        the same state of the filesystem; which goes first alternates, so that
        neither always inherits the other's writeback."""
        if i % 2:
            bare = self.bare(f"w1-bare-{i}", n)
            return self.lite(f"w1-lite-{i}", n), bare
        return self.lite(f"w1-lite-{i}", n), self.bare(f"w1-bare-{i}", n)

    def rerun(self) -> None:
        """Workload 2: a new process, the split entry deleted, every state looked up."""
        n = self.args.states
        lite = self.repeated(lambda i: self.lookup(self.lite, "w1-lite-0", n))
        pydra = self.lookup(self.pydra, "w1-pydra", n) if self.pydra_python else None
        lite_ms = per_state_ms(lite)
        pydra_ms = per_state_ms([pydra]) if pydra else None
        self.figures["2_rerun"] = {"lite": lite, "pydra": pydra}
        self.add(
            f"2 rerun {n:,}, split entry deleted, per state",
            ms(lite_ms),
            ms(pydra_ms),
            *ratio_goal(pydra_ms, lite_ms, 40, at_least=True),
        )

    def lookup(self, side: Callable[..., Any], cache: str, n: int) -> dict[str, Any]:
        """Delete the split node's entry in ``cache``, rerun, check nothing ran."""
        root = self.work / cache
        split_entry = Path(self.figures_of(cache)["output_dir"])
        shutil.rmtree(split_entry)
        before = set(os.listdir(root))
        figures = side(cache, n)
        created = set(os.listdir(root)) - before
        if created != {split_entry.name}:
            msg = f"rerun in {root} created {sorted(created)[:3]}..., not just the split entry"
            raise RuntimeError(msg)
        figures["deleted"] = str(split_entry)
        return figures

    def figures_of(self, cache: str) -> dict[str, Any]:
        """The figures of the cold run that made ``cache``."""
        cold = self.figures["1_cold"]
        runs = [*cold["lite"], cold["pydra"]]
        return next(r for r in runs if r and Path(r["output_dir"]).parent.name == cache)

    def cf(self) -> None:
        """Workload 3: cf with 2 processes against serial."""
        procs = str(self.args.procs)
        turns = spin_iterations(self.args.spin_seconds)
        self.figures["3_spin_turns"] = turns
        spin = ("--task", "spin", "--turns", str(turns))
        self.cf_rows(self.args.spin_states, spin, procs)
        self.cf_rows(self.args.states, (), procs)
        self.parallel_row(self.args.spin_states, turns, procs)
        if self.args.pydra_cf and self.pydra_python:
            self.pydra_cf_row(self.args.spin_states, spin, procs)

    def cf_rows(self, n: int, task: tuple[str, ...], procs: str) -> None:
        key = f"{n}-spin" if task else f"{n}-trivial"
        serial = self.repeated(lambda i: self.lite(f"w3-{key}-serial-{i}", n, *task))
        cf = ("--worker", "cf", "--procs", procs)
        cold = self.repeated(lambda i: self.lite(f"w3-{key}-cf-{i}", n, *task, *cf))
        warm = self.repeated(
            lambda i: self.lite(f"w3-{key}-warm-{i}", n, *task, *cf, "--warm-pool")
        )
        self.figures[f"3_{key}"] = {"serial": serial, "cf": cold, "cf_warm_pool": warm}
        serial_s = median(serial, "seconds")
        label = (
            f"3 {n} x {1000 * serial_s / n:.0f} ms CPU" if task else f"3 {n:,} trivial"
        )
        cold_s, warm_s = median(cold, "seconds"), median(warm, "call_seconds")
        if task:  # CPU-bound: cf must be faster
            goal = (self.args.procs * 0.9, True)
            values = (serial_s, cold_s), (serial_s, warm_s)
        else:  # trivial: cf may only be a little slower
            goal = (2.0, False)
            values = (cold_s, serial_s), (warm_s, serial_s)
        self.add(
            f"{label}, cf {procs} procs vs serial",
            f"cf {cold_s:.2f} s",
            f"serial {serial_s:.2f} s",
            *ratio_goal(*values[0], goal[0], at_least=goal[1]),
        )
        self.add(
            "3   same, pool already started",
            f"cf {warm_s:.2f} s",
            f"serial {serial_s:.2f} s",
            *ratio_goal(*values[1], goal[0], at_least=goal[1]),
        )

    def parallel_row(self, n: int, turns: int, procs: str) -> None:
        """The machine's own ceiling: the same loop on a bare process pool."""
        command = [sys.executable, str(HERE / "probe.py"), "parallel"]
        runs = self.repeated(
            lambda i: run_child([*command, str(n), str(turns), procs], dict(os.environ))
        )
        self.figures["3_bare_pool"] = runs
        serial_s, pool_s = median(runs, "serial_seconds"), median(runs, "pool_seconds")
        self.add(
            f"3   bare multiprocessing pool, same {n} loops",
            "",
            f"pool {pool_s:.2f} s / serial {serial_s:.2f} s",
            f"{serial_s / pool_s:.2f}x",
            "",
            "",
        )

    def pydra_cf_row(self, n: int, task: tuple[str, ...], procs: str) -> None:
        serial = self.pydra("w3-pydra-serial", n, *task)
        cf = self.pydra("w3-pydra-cf", n, *task, "--worker", "cf", "--procs", procs)
        self.figures["3_pydra_cf"] = {"serial": serial, "cf": cf}
        if serial is None or cf is None:
            return
        self.add(
            f"3 Pydra cf {procs} procs, {n} x 50 ms (info)",
            "",
            f"cf {cf['seconds']:.2f} s / serial {serial['seconds']:.2f} s",
            f"{serial['seconds'] / cf['seconds']:.2f}x",
            "",
            "",
        )

    def large(self) -> None:
        """Workload 4: 10,000 and 100,000 states serial cold, pydra_lite only."""
        small, big = self.args.large
        runs = {n: self.marked(self.lite, f"w4-lite-{n}", n) for n in (small, big)}
        pydra = (
            self.marked(self.pydra, f"w4-pydra-{small}", small)
            if self.args.pydra_large
            else None
        )
        self.figures["4_large"] = {"lite": runs, "pydra": pydra}
        ratio = runs[big]["seconds"] / runs[small]["seconds"]
        self.add(
            f"4 time {small:,} / {big:,} states",
            f"{runs[small]['seconds']:.1f} s / {runs[big]['seconds']:.1f} s",
            f"{small:,}: {pydra['seconds']:.0f} s" if pydra else "",
            f"{ratio:.1f}x",
            f"< {big // small + 2}x",
            yes(ratio < big // small + 2),
        )
        self.large_rows(runs[big], pydra, big, small)

    def marked(
        self, side: Callable[..., Any], cache: str, n: int
    ) -> dict[str, Any] | None:
        mark = self.work / f"{cache}.mark"
        figures = side(cache, n, "--task", "mark", "--mark", str(mark))
        if figures is None:
            return None
        first = min(float(line) for line in mark.read_text().split())
        figures["first_state_start_s"] = first - figures["submit_time"]
        figures["disk"] = disk_usage(self.work / cache)
        return figures

    def large_rows(
        self, lite: dict[str, Any], pydra: dict[str, Any] | None, n: int, small: int
    ) -> None:
        rss = rss_per_state(lite, n)
        pydra_rss = f"{small:,}: {rss_per_state(pydra, small):.2f} KB" if pydra else ""
        self.add(
            f"4 peak RSS above baseline per state, {n:,}",
            f"{rss:.2f} KB",
            pydra_rss,
            "",
            "< 1 KB",
            yes(rss < 1),
        )
        apparent = lite["disk"]["apparent_bytes"] / n / 1024
        du = lite["disk"]["du_kb"] / n
        quoted = f"{PYDRA_QUOTED_DISK_KB} KB (issue)"
        self.add(
            f"4 disk per state, apparent (os.walk), {n:,}",
            f"{apparent:.2f} KB",
            quoted,
            "",
            "< 2 KB",
            yes(apparent < 2),
        )
        pydra_du = (
            f"{small:,}: {pydra['disk']['du_kb'] / small:.1f} KB" if pydra else quoted
        )
        self.add(
            f"4 disk per state, du -sk, {n:,}",
            f"{du:.2f} KB",
            pydra_du,
            "",
            "< 2 KB",
            yes(du < 2),
        )
        first = lite["first_state_start_s"]
        pydra_first = (
            f"{small:,}: {pydra['first_state_start_s']:.2f} s" if pydra else ""
        )
        self.add(
            f"4 submit to first state start, {n:,}",
            f"{first:.3f} s",
            pydra_first,
            "",
            "< 1 s",
            yes(first < 1),
        )

    def disk_rows(self, n: int) -> None:
        """Disk per state after workload 1; the bare probe's is the floor."""
        usage = {
            "lite": disk_usage(self.work / "w1-lite-0"),
            "bare": disk_usage(self.work / "w1-bare-0"),
            "pydra": disk_usage(self.work / "w1-pydra") if self.pydra_python else None,
        }
        self.figures["1_disk"] = usage
        for key, unit, label in (
            ("apparent_bytes", 1024, "apparent"),
            ("du_kb", 1, "du -sk"),
        ):
            kb = {side: u[key] / unit / n for side, u in usage.items() if u}
            ref = f"Pydra {kb['pydra']:.1f} KB, " if "pydra" in kb else ""
            self.add(
                f"1   disk per state, {label}",
                f"{kb['lite']:.2f} KB",
                f"{ref}bare {kb['bare']:.2f} KB",
                "",
                "",
                "",
            )

    def add(self, *row: str) -> None:
        self.rows.append(row)  # type: ignore[arg-type]


def find_pydra(venv: Path) -> Path | None:
    """The python of a venv that can import Pydra, or None (and say how to make one)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import pydra.compose, pydra.engine.submitter"]
    if (
        python.exists()
        and subprocess.run(check, capture_output=True, check=False).returncode == 0
    ):
        return python
    print(
        f"Pydra not found in {venv}: showing pydra_lite's figures only. To compare, run:"
    )
    print("  " + PYDRA_SETUP.format(venv=venv).replace("\n", "\n  "))
    return None


def run_child(
    command: list[str], env: dict[str, str], timeout: float | None = None
) -> dict[str, Any]:
    """Run one measuring process and return the JSON figures it printed last.

    The page cache is flushed first, so that no measurement pays for writing
    back what the one before it left dirty.
    """
    os.sync()
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"timed_out": timeout}
    if done.returncode != 0:
        msg = f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        raise RuntimeError(msg)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def per_state_ms(runs: list[dict[str, Any]]) -> float:
    return statistics.median(1000 * run["seconds"] / run["n"] for run in runs)


def rss_per_state(run: dict[str, Any], n: int) -> float:
    return (run["rss_peak_kb"] - run["rss_base_kb"]) / n


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def ratio_goal(
    num: float | None, den: float | None, goal: float, at_least: bool
) -> tuple[str, str, str]:
    """The ratio ``num / den``, the goal on it, and whether it is met."""
    sign = ">=" if at_least else "<="
    if num is None or den is None:
        return "-", f"{sign} {goal:g}x", ""
    value = num / den
    ok = value >= goal if at_least else value <= goal
    return f"{value:.2f}x", f"{sign} {goal:g}x", yes(ok)


def print_table(rows: list[Row], pydra: bool) -> None:
    header = (
        "workload",
        "pydra_lite",
        "Pydra 1.0a12 / ref" if pydra else "reference",
        "ratio",
        "goal",
        "met",
    )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="1234", help="workloads to run, e.g. 12 (2 needs 1)"
    )
    add_runner_options(parser)
    parser.add_argument(
        "--pydra-cf", action="store_true", help="also time Pydra's cf worker"
    )
    parser.add_argument(
        "--pydra-large",
        action="store_true",
        help="also run Pydra at the small size of workload 4",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="pydra_lite runs per figure (median)"
    )
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--spin-states", type=int, default=40)
    parser.add_argument("--spin-seconds", type=float, default=0.05)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--large", type=int, nargs=2, default=[10_000, 100_000])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if "2" in args.only and "1" not in args.only.partition("2")[0]:
        raise SystemExit(
            "--only: workload 2 reruns workload 1's caches; run 1 before 2"
        )
    run_workloads(Bench, args)


def add_runner_options(parser: argparse.ArgumentParser) -> None:
    """Where the caches go (for :func:`run_workloads`) and how the Pydra side runs."""
    parser.add_argument(
        "--workdir", help="where caches go (default: a new temp dir, removed after)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the workdir")
    parser.add_argument("--pydra-venv", default=str(PYDRA_VENV))
    parser.add_argument("--pydra-timeout", type=float, default=600)


def run_workloads(bench_class: type[Bench], args: argparse.Namespace) -> None:
    """Run the workloads ``--only`` names, print the table, write the figures.

    Caches go to ``--workdir``, or a temporary directory removed afterwards
    (unless ``--keep``).
    """
    temporary = args.workdir is None
    prefix = bench_class.WORKDIR_PREFIX
    args.workdir = args.workdir or tempfile.mkdtemp(prefix=prefix)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    bench = bench_class(args)
    try:
        for key in args.only:
            getattr(bench, bench_class.WORKLOADS[key])()
        print_table(bench.rows, bench.pydra_python is not None)
        figures = Path(args.workdir) / bench_class.FIGURES
        figures.write_text(json.dumps(bench.figures, indent=1))
        print(f"\nall figures: {figures}" if args.keep or not temporary else "")
    finally:
        if temporary and not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
