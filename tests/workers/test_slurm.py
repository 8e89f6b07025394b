"""The slurm worker passes the contract on a real SLURM, with few sbatch calls.

Every test submits real job arrays with the real ``sbatch``; the module skips
when no controller answers (start one with ``bash .ci/slurm-start.sh``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter, python
from pydra_lite.workers.slurm_queue import has_slurm

from .contract import Inc, WorkerContract

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
    # it is not cached: the next run tries it again
    with Submitter(cache_dir=cache_dir, worker="slurm", **FAST) as sub:
        again = sub(Inc(a=1))
    assert again.outputs.out == 2


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
