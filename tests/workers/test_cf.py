"""The process-pool worker passes the contract and really uses other processes."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter
from pydra_lite.workers.cf import ConcurrentFuturesWorker, _context

from .contract import Inc, Pair, Pid, WorkerContract


class TestConcurrentFutures(WorkerContract):
    @pytest.fixture
    def worker(self) -> tuple[Any, dict[str, Any]]:
        return "cf", {"n_procs": 2}


def test_cf_runs_states_in_other_processes(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir, worker="cf", n_procs=2) as sub:
        result = sub(Pid().split(a=list(range(8))))
    assert os.getpid() not in result.outputs.out
    assert 1 <= len(set(result.outputs.out)) <= 2


def test_pool_is_started_before_the_first_batch(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir, worker="cf", n_procs=2):
        deadline = time.monotonic() + 30
        while len(multiprocessing.active_children()) < 2:
            assert time.monotonic() < deadline, "no pool process started"
            time.sleep(0.01)


def test_fork_is_never_used_while_another_thread_runs() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert _context().get_start_method() != "fork"
    finally:
        release.set()
        thread.join()


def test_batches_shrink_as_the_run_ends_but_not_below_a_useful_size() -> None:
    worker = ConcurrentFuturesWorker(n_procs=2)
    try:
        assert [worker.batch_size(n) for n in (4000, 800, 16, 3)] == [256, 100, 2, 1]
        worker.observe(0.1, 1000)  # quick states: batches of at least 100
        assert [worker.batch_size(n) for n in (800, 16, 3)] == [100, 16, 3]
        for _ in range(20):
            worker.observe(5.0, 100)  # long states: shrinking again
        assert [worker.batch_size(n) for n in (800, 16, 3)] == [100, 2, 1]
    finally:
        worker.close()


def test_several_task_classes_share_one_pool(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir, worker="cf", n_procs=2) as sub:
        pairs = sub(Pair().split(("a", "b"), a=[1, 2], b=[3, 4]))
        incs = sub(Inc().split(a=[1, 2]))
        again = sub(Pair().split(("a", "b"), a=[5], b=[6]))
    assert pairs.outputs.total == [4, 6] and incs.outputs.out == [2, 3]
    assert again.outputs.product == [30]
