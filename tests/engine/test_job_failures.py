"""A task that ends its process, as a user meets it (issue 17, cases 1 and 7).

``sys.exit()`` inside a task errors that state only, on any worker, and its
``_error.json`` says what happened; a cf pool process that dies (SIGKILL,
``os._exit``) errors its batch's states with a WorkerError naming the signal
or exit code and a hint. ``_provenance.json`` names its peak memory for what it is.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from pydra_lite import Submitter
from pydra_lite.compose import python
from pydra_lite.errors import WorkerError
from pydra_lite.workers.cf import dead_process_error


@python.define
def Exits(x: int) -> int:
    if x == 3:
        sys.exit(3)
    return x


@python.define
def KillsItself(x: int) -> int:
    if x == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


@python.define
def Crashes(x: int) -> int:
    import ctypes  # noqa: PLC0415
    import faulthandler  # noqa: PLC0415

    faulthandler.disable()  # pytest's, inherited by a forked process: no dump
    ctypes.string_at(0)  # reads address 0: a segfault
    return x


@python.define
def ExitsHard(x: int) -> int:
    os._exit(7)


def _errors(cache_dir: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(cache_dir.rglob("_error.json"))]


@pytest.mark.parametrize(
    ("worker", "options"), [("serial", {}), ("cf", {"n_procs": 2})]
)
def test_sys_exit_in_a_task_errors_its_state_and_the_program_continues(
    cache_dir: Path, worker: str, options: dict[str, int]
) -> None:
    with Submitter(cache_dir=cache_dir, worker=worker, **options) as sub:
        result = sub(Exits().split(x=[1, 3]), raise_errors=False)
    assert result.errored
    assert result.outputs is None or result.outputs.out[0] == 1
    (error,) = _errors(cache_dir)
    assert error["type"] == "SystemExit"
    assert error["message"] == (
        "the task called sys.exit(3) (argparse's parser.error() does this); exit code 3"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_cf_state_killed_by_sigkill_records_the_signal_and_a_hint(
    cache_dir: Path,
) -> None:
    with Submitter(cache_dir=cache_dir, worker="cf", n_procs=2) as sub:
        result = sub(KillsItself().split(x=[1]), raise_errors=False)
    assert result.errored
    (error,) = _errors(cache_dir)
    assert error["type"] == "WorkerError"
    message = str(error["message"])
    assert "was killed by SIGKILL (signal 9)" in message
    assert "out-of-memory killer: give the state more memory or split it" in message
    assert "BrokenProcessPool" in str(error["traceback"])  # chained from it
    (process,) = error["worker_processes"]  # type: ignore[misc]
    assert process["exitcode"] == -9 and process["signal"] == "SIGKILL"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_cf_state_that_segfaults_records_a_crash_in_compiled_code(
    cache_dir: Path,
) -> None:
    with Submitter(cache_dir=cache_dir, worker="cf", n_procs=1) as sub:
        result = sub(Crashes(x=1), raise_errors=False)
    assert result.errored
    (error,) = _errors(cache_dir)
    assert "was killed by SIGSEGV (signal 11): a crash in compiled code" in str(
        error["message"]
    )


def test_a_cf_state_calling_os_exit_records_the_exit_code(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir, worker="cf", n_procs=1) as sub:
        result = sub(ExitsHard(x=1), raise_errors=False)
    assert result.errored
    (error,) = _errors(cache_dir)
    assert "exited with code 7: the process called os._exit(7)" in str(error["message"])


def test_the_worker_error_of_a_pool_whose_exit_status_is_unknown() -> None:
    error = dead_process_error({})
    assert isinstance(error, WorkerError)
    assert "could not be read" in str(error)


def test_provenance_names_the_peak_memory_of_the_process(cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir) as sub:
        result = sub(Exits(x=1))
    assert result.output_dir is not None
    provenance = json.loads((result.output_dir / "_provenance.json").read_text())
    assert "peak_memory_kb" not in provenance
    assert provenance["process_peak_memory_kb"] > 0
