"""The process-pool worker passes the contract and really uses other processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter

from .contract import Pid, WorkerContract


class TestConcurrentFutures(WorkerContract):
    @pytest.fixture
    def worker(self) -> tuple[Any, dict[str, Any]]:
        return "cf", {"n_procs": 2}


def test_cf_runs_states_in_other_processes(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir, worker="cf", n_procs=2) as sub:
        result = sub(Pid().split(a=list(range(8))))
    assert os.getpid() not in result.outputs.out
    assert 1 <= len(set(result.outputs.out)) <= 2
