"""The serial worker passes the contract and runs in the submitter's process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
import pytest

from pydra_lite import Submitter
from pydra_lite.engine.job import JobBatch, Outcome, run_batch
from pydra_lite.workers.serial import SerialWorker

from .contract import Pid, WorkerContract


class DyingSerialWorker(SerialWorker):
    """Serial, but "dies" on a :class:`DieOnMarker` state whose marker exists:
    the batch is lost there, after the states before it ran, as a process
    killed mid-batch would leave it (the test's own process cannot die)."""

    def run_inline(self, batch: JobBatch) -> list[Outcome]:
        outcomes = []
        for job in batch.jobs:
            if job.inputs.get("a") == 1 and os.path.exists(job.inputs["marker"]):
                raise ChildProcessError("simulated: the batch's process died")
            outcomes += run_batch(attrs.evolve(batch, jobs=[job]))
        return outcomes


class TestSerial(WorkerContract):
    @pytest.fixture(params=["serial", "debug"])
    def worker(self, request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any]]:
        return request.param, {}

    def dying(self, worker: tuple[Any, dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
        return DyingSerialWorker, {}


def test_serial_runs_in_this_process(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir, worker="serial") as sub:
        result = sub(Pid(a=1))
    assert result.outputs.out == os.getpid()
