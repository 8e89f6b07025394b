"""The serial worker passes the contract and runs in the submitter's process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter

from .contract import Pid, WorkerContract


class TestSerial(WorkerContract):
    @pytest.fixture(params=["serial", "debug"])
    def worker(self, request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any]]:
        return request.param, {}


def test_serial_runs_in_this_process(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir, worker="serial") as sub:
        result = sub(Pid(a=1))
    assert result.outputs.out == os.getpid()
