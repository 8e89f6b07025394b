"""The slurm worker passes the contract on a real SLURM, with few sbatch calls.

Every test submits real job arrays with the real ``sbatch``; the module skips
when no controller answers (start one with ``bash .ci/slurm-start.sh``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter, python
from pydra_lite.workers.slurm.queue import has_slurm

from ..contract import Inc, WorkerContract

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        not has_slurm(),
        reason="no SLURM: sbatch/sinfo missing or the controller does not answer "
        "(start one with: bash .ci/slurm-start.sh)",
    ),
]

FAST = {"poll_interval": 0.2, "gather_window": 0.05, "array_tasks": 4}
"""Worker options that keep the tests quick on a local controller: each array
element costs a scheduling cycle of a few seconds on the 2-CPU node, so few,
larger elements (the 200-state test keeps the default array_tasks)."""


class TestSlurmWorker(WorkerContract):
    @pytest.fixture
    def worker(self) -> tuple[Any, dict[str, Any]]:
        return "slurm", dict(FAST)


@python.define
def CancelSelf(a: int) -> int:
    """Has SLURM cancel the array element it runs in, then waits to be killed."""
    import os
    import subprocess
    import time

    if a == 1:
        element = (
            f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
        )
        subprocess.run(["scancel", element], check=True)
        time.sleep(60)
    return a


def test_job_cancelled_by_slurm_is_errored_with_its_state(cache_dir: Path) -> None:
    start = time.monotonic()
    # array_tasks=2: a=0 and a=1 run in separate array elements
    options = {**FAST, "array_tasks": 2}
    with Submitter(cache_dir=cache_dir, worker="slurm", **options) as sub:
        result = sub(CancelSelf().split(a=[0, 1]), raise_errors=False)
    assert time.monotonic() - start < 50, "the cancel must be noticed, not waited out"
    ok, lost = result.states
    assert not ok.errored and ok.outputs.out == 0
    assert lost.errored
    record = json.loads((lost.output_dir / "_error.json").read_text())
    assert record["type"] == "SlurmJobError"
    assert record["slurm"]["state"] == "CANCELLED"
    assert record["slurm"]["reason"]
    assert "ended CANCELLED" in record["message"]
    assert record["slurm"]["job_id"].endswith("_1")
    # not a cache hit: the next run reuses a=0 and runs a=1 again, in a new job
    with Submitter(cache_dir=cache_dir, worker="slurm", **options) as sub:
        again = sub(CancelSelf().split(a=[0, 1]), raise_errors=False)
    ok_again, lost_again = again.states
    assert ok_again.cached and not lost_again.cached and lost_again.errored
    rerun = json.loads((lost_again.output_dir / "_error.json").read_text())
    assert rerun["slurm"]["job_id"] != record["slurm"]["job_id"]


@python.define
def OverrunOne(a: int) -> int:
    """``a == 1`` needs more than a minute: under a 1-minute limit it sleeps past it.

    Under a longer limit it returns at once, so the rerun with the fixed limit
    is quick. Every state appends its ``a`` to ``$PYDRA_TEST_RUNS`` when it starts.
    """
    import os
    import subprocess
    import sys
    import time

    with open(os.environ["PYDRA_TEST_RUNS"], "a") as runs:
        runs.write(f"{a}\n")
    if a == 1:
        limit = subprocess.run(
            ["squeue", "-h", "-j", os.environ["SLURM_JOB_ID"], "-o", "%l"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if limit == "1:00":
            print(f"OverrunOne: a=1 sleeps past its {limit} limit", file=sys.stderr)
            sys.stderr.flush()
            time.sleep(600)
    return a


def _ended_at(job_id: str) -> datetime:
    """When SLURM ended ``job_id`` (an array element, ``<array>_<index>``)."""
    proc = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%e"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SLURM_TIME_FORMAT": "standard"},
    )
    return datetime.fromisoformat(proc.stdout.strip())


@pytest.mark.slow
def test_job_timed_out_by_slurm_is_errored_and_reruns_alone(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 to 90 s: SLURM's shortest limit is a minute, and it checks every 30 s."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("PYDRA_TEST_RUNS", str(runs))
    # array_tasks=2: elements [a=0, 1, 2] and [a=3, 4, 5]; a=1 overruns, so a=0
    # finished in the element that times out and a=2 never starts.
    options = {**FAST, "array_tasks": 2}
    task = OverrunOne().split(a=list(range(6)))
    # "0:10" is ten seconds, which sbatch rounds up to its minimum, one minute
    with Submitter(
        cache_dir=cache_dir, worker="slurm", sbatch_args=["--time=0:10"], **options
    ) as sub:
        result = sub(task, raise_errors=False)
    returned = datetime.now()
    assert [state.errored for state in result.states] == [
        False, True, True, False, False, False
    ]  # fmt: skip
    assert [result.states[i].outputs.out for i in (0, 3, 4, 5)] == [0, 3, 4, 5]
    # a=0 finished in the element that timed out: its entry is kept, not errored
    assert not (result.states[0].output_dir / "_error.json").exists()
    records = [
        json.loads((result.states[a].output_dir / "_error.json").read_text())
        for a in (1, 2)
    ]
    for record in records:
        assert record["type"] == "SlurmJobError"
        slurm = record["slurm"]
        assert (slurm["state"], slurm["reason"]) == ("TIMEOUT", "TimeLimit")
        assert "ended TIMEOUT (reason: TimeLimit)" in record["message"]
        assert "--time" in record["message"], "the hint says how to give more time"
        # the job's stderr: the task's own line, then slurmstepd's
        assert "a=1 sleeps past its 1:00 limit" in slurm["stderr_tail"]
        assert "DUE TO TIME LIMIT" in slurm["stderr_tail"]
        assert slurm["stderr_tail"] in record["message"]
    job_id = records[0]["slurm"]["job_id"]
    assert records[1]["slurm"]["job_id"] == job_id, "a=2 was in a=1's element"
    lag = (returned - _ended_at(job_id)).total_seconds()
    assert lag < 15, f"the timeout was noticed {lag:.0f} s after SLURM ended the job"
    assert sorted(runs.read_text().split()) == ["0", "1", "3", "4", "5"]

    # The same states with the limit fixed: only the two that did not finish run.
    runs.unlink()
    with Submitter(
        cache_dir=cache_dir, worker="slurm", sbatch_args=["--time=5"], **options
    ) as sub:
        again = sub(task)
    assert again.outputs.out == list(range(6))
    assert sorted(runs.read_text().split()) == ["1", "2"]
    assert [state.cached for state in again.states] == [
        True, False, False, True, True, True
    ]  # fmt: skip


@python.define
def KillSelf(a: int) -> int:
    """``a == 1`` SIGKILLs its own Python (as an out-of-memory killer would)."""
    import os
    import signal
    import sys

    if a == 1:
        print("KillSelf: a=1 sends itself SIGKILL", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return a


def test_job_killed_by_a_signal_is_errored_as_failed(cache_dir: Path) -> None:
    # array_tasks=1: one element runs a=0, then dies in a=1; a=2 never starts
    options = {**FAST, "array_tasks": 1}
    with Submitter(cache_dir=cache_dir, worker="slurm", **options) as sub:
        result = sub(KillSelf().split(a=[0, 1, 2]), raise_errors=False)
    ok, killed, never = result.states
    assert not ok.errored and ok.outputs.out == 0
    assert not (ok.output_dir / "_error.json").exists()
    assert killed.errored and never.errored
    records = [
        json.loads((state.output_dir / "_error.json").read_text())
        for state in (killed, never)
    ]
    for record in records:
        assert record["type"] == "SlurmJobError"
        assert record["slurm"]["state"] == "FAILED"
        assert record["slurm"]["reason"] == "NonZeroExitCode"
        assert "ended FAILED (reason: NonZeroExitCode)" in record["message"]
        tail = record["slurm"]["stderr_tail"]
        assert "a=1 sends itself SIGKILL" in tail  # the task's own stderr
        # and the job script's line: SIGKILL leaves Python no chance to say why
        assert tail.endswith("python was killed by signal 9 (SIGKILL)")
    assert records[0]["slurm"]["job_id"] == records[1]["slurm"]["job_id"]


@pytest.fixture
def sbatch_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a logging ``sbatch`` first on PATH; it execs the real one."""
    real = shutil.which("sbatch")
    assert real is not None
    shim_dir, log = tmp_path / "shim", tmp_path / "sbatch.log"
    shim_dir.mkdir()
    shim = shim_dir / "sbatch"
    shim.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_split_of_200_states_takes_at_most_4_sbatch_calls(
    sbatch_log: Path, cache_dir: Path
) -> None:
    with Submitter(cache_dir=cache_dir, worker="slurm", poll_interval=0.2) as sub:
        result = sub(Inc().split(a=list(range(200))))
    assert result.outputs.out == list(range(1, 201))
    calls = sbatch_log.read_text().splitlines()
    assert 1 <= len(calls) <= 4, calls
    assert all("--array=0-" in call for call in calls)
    assert len(os.listdir(cache_dir / ".slurm")) == len(calls)
    elements = list((cache_dir / ".slurm").glob("*/slurm-*.out"))
    assert len(elements) <= 32, "at most array_tasks elements for one node"
