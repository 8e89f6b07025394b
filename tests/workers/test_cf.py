"""The process-pool worker passes the contract and really uses other processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter
from pydra_lite.workers.cf import ConcurrentFuturesWorker, _context

from .contract import Inc, Pair, Pid, WorkerContract

REPO = Path(__file__).resolve().parents[2]


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


ORPHAN_SCRIPT = """
import os, signal, sys, threading, time
from pydra_lite import Submitter, python

@python.define
def Sleep(a: int, pids: str) -> int:
    import os, time
    open(os.path.join(pids, str(os.getpid())), "w").close()
    time.sleep(120)
    return a

def kill_self_once_running(pids):
    while len(os.listdir(pids)) < 2:
        time.sleep(0.05)
    print("states running", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":
    pids, start = sys.argv[1], sys.argv[2]
    killer = threading.Thread(target=kill_self_once_running, args=(pids,))
    if start == "forkserver":  # a second thread: the pool starts by forkserver
        killer.start()
    with Submitter(cache_dir=sys.argv[3], worker="cf", n_procs=2) as sub:
        if start == "fork":
            killer.start()
        sub(Sleep(pids=pids).split(a=[1, 2]))
"""


@pytest.mark.parametrize("start", ["fork", "forkserver"])
def test_pool_processes_exit_when_the_submitter_is_killed(
    tmp_path: Path, start: str
) -> None:
    """A killed program leaves no pool process computing or holding its stdout:
    a caller reading the output to its end (``communicate()``, ``| tee``) returns."""
    script, pids = tmp_path / "orphans.py", tmp_path / "pids"
    script.write_text(ORPHAN_SCRIPT)
    pids.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(script), str(pids), start, str(tmp_path / "cache")]
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, _ = proc.communicate(timeout=30)  # EOF: every holder of the pipe is gone
        assert b"states running" in out
        assert proc.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while _alive(pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive(pids) == []
    finally:
        proc.kill()
        for pid in _alive(pids):
            os.kill(pid, signal.SIGKILL)


def _alive(pids: Path) -> list[int]:
    alive = []
    for name in os.listdir(pids):
        try:
            os.kill(int(name), 0)
        except ProcessLookupError:
            continue
        alive.append(int(name))
    return alive


TRACEBACK_SCRIPT = """
import json, sys
from pydra_lite import Submitter, python

def helper(a):
    raise ZeroDivisionError(f"cannot invert {a}")

@python.define
def Invert(a: int) -> float:
    return helper(a)

if __name__ == "__main__":
    with Submitter(cache_dir=sys.argv[1], worker="cf", n_procs=2) as sub:
        result = sub(Invert().split(a=[1, 2]), raise_errors=False)
    print(json.dumps(result.errors[0]["traceback"]))
"""


def test_traceback_of_a_script_task_names_its_files_in_error_json(
    tmp_path: Path,
) -> None:
    """A task sent by value to a pool process keeps its code's file names, so
    the ``_error.json`` written there shows the script's lines (cloudpickle
    alone names them ``<dynamic-code>``, with no source)."""
    script = tmp_path / "invert.py"
    script.write_text(TRACEBACK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    traceback = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "<dynamic-code>" not in traceback
    assert f'File "{script}", line 6, in helper' in traceback
    assert 'raise ZeroDivisionError(f"cannot invert {a}")' in traceback
