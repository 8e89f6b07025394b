"""One SLURM job array on disk: its folder, script, batch payloads, outcomes, logs.

Layout of ``<cache root>/.slurm/<submission id>/`` (one folder per sbatch call):

* ``job.sh``: the batch script; element ``i`` runs
  ``<python> -m pydra_lite.workers.slurm.run batch-<i>.pkl outcome-<i>.pkl``
  and, when a signal killed that Python, says which on its stderr; a comment
  records the sbatch options it was submitted with;
* ``batch-<i>.pkl``: element ``i``'s JobBatch (see :mod:`.run`);
* ``outcome-<i>.pkl``: its cloudpickled outcomes, written atomically;
* ``slurm-<i>.out`` / ``slurm-<i>.err``: its stdout and stderr;
* ``job_id``: the array's SLURM job id.

An element's payload and outcome files are deleted once its outcomes are read;
scripts and logs stay, and a failed element keeps everything, so the folder
can be read to debug. ``.slurm`` may be deleted whenever no run is active.

An element that SLURM reports ended without an outcome file is waited for a
little (a shared filesystem may show a new file late), then every state of
its batch that has no valid cache entry gets an ``_error.json`` naming SLURM's
state and reason and the tail of the element's stderr.
"""

from __future__ import annotations

import os
import secrets
import shlex
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

import attrs
import cloudpickle

from pydra_lite.engine.job import JobBatch, Outcome
from pydra_lite.errors import SlurmJobError
from pydra_lite.workers.slurm.queue import (
    GONE,
    ElementState,
    sbatch_array,
)

_GRACE = 3.0
"""Seconds an ended element may take to show its outcome file before it fails."""

_GRACE_COMPLETED = 60.0
"""The same for an element SLURM says completed (exit 0): it did write one."""

_TAIL_LINES = 20

_HINTS = {
    "TIMEOUT": "give it more time, e.g. sbatch_args=['--time=60'] (minutes)",
    "DEADLINE": "give it an earlier start or a later --deadline",
    "OUT_OF_MEMORY": "ask for more memory, e.g. sbatch_args=['--mem=8G']",
    "CANCELLED": "it was cancelled (scancel, or an administrator); run again",
    "NODE_FAIL": "its node failed; run again",
    "BOOT_FAIL": "its node failed to boot; run again",
    "PREEMPTED": "it was preempted; run again, or use a partition without preemption",
}
_DEFAULT_HINT = (
    "the job exited before writing its outcome; its log says why (does the "
    "compute node see the same Python environment and cache directory?)"
)


@attrs.define(eq=False)
class Element:
    """One batch, cloudpickled, and the future that its outcomes resolve."""

    batch: JobBatch
    payload: bytes
    future: Future[list[Outcome]]


class ArraySubmission:
    """The folder and state of one sbatch job array, element ``i`` = batch ``i``."""

    def __init__(self, directory: Path, elements: Sequence[Element]) -> None:
        self.directory = directory
        self.remaining: dict[int, Element] = dict(enumerate(elements))
        self.size = len(elements)
        self.job_id = ""
        self.submitted = time.time()
        self._ended_since: dict[int, float] = {}

    @classmethod
    def write(
        cls, root: Path, elements: Sequence[Element], python: str
    ) -> ArraySubmission:
        """Create a new submission folder under ``root`` with payloads and script."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        directory = root / f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"
        directory.mkdir(parents=True)
        for index, element in enumerate(elements):
            (directory / f"batch-{index}.pkl").write_bytes(element.payload)
        submission = cls(directory, elements)
        submission.script.write_text(_script(directory, python))
        return submission

    @property
    def script(self) -> Path:
        return self.directory / "job.sh"

    @property
    def done(self) -> bool:
        return not self.remaining

    def submit(self, sbatch_args: Sequence[str]) -> None:
        """Call sbatch once for the whole array; our options come before the user's."""
        task = self.remaining[0].batch.task_class.__name__
        args = [
            f"--job-name=pydra-{task}",
            f"--output={self.directory}/slurm-%a.out",
            f"--error={self.directory}/slurm-%a.err",
            *sbatch_args,
        ]
        with self.script.open("a") as stream:
            stream.write(f"# submitted as: sbatch --array=0-{self.size - 1} ")
            stream.write(f"{shlex.join(args)} job.sh\n")
        self.job_id = sbatch_array(self.script, self.size, args)
        (self.directory / "job_id").write_text(f"{self.job_id}\n")

    def collect(self) -> None:
        """Resolve the futures of the elements whose outcome file has appeared."""
        names = set(os.listdir(self.directory))
        for index in [i for i in self.remaining if f"outcome-{i}.pkl" in names]:
            self._resolve(index)

    def settle(self, states: Mapping[tuple[str, int], ElementState]) -> None:
        """Fail the elements that SLURM has ended and that wrote no outcome."""
        now = time.monotonic()
        for index in list(self.remaining):
            state = states.get((self.job_id, index), GONE)
            if state.is_active:
                self._ended_since.pop(index, None)
            elif self._outcome(index).exists():
                self._resolve(index)
            elif now - self._ended_since.setdefault(index, now) >= _grace(state):
                self._fail(index, state)

    def abandon(self, exc: BaseException) -> None:
        """Fail every outstanding future with ``exc`` (the worker is closing)."""
        for element in self.remaining.values():
            if not element.future.done():
                element.future.set_exception(exc)
        self.remaining.clear()

    def _outcome(self, index: int) -> Path:
        return self.directory / f"outcome-{index}.pkl"

    def _resolve(self, index: int) -> None:
        element = self.remaining.pop(index)
        path = self._outcome(index)
        try:
            outcomes = cloudpickle.loads(path.read_bytes())
        except Exception as exc:  # unreadable outcomes: report it and keep the files
            element.future.set_exception(exc)
            return
        element.future.set_result(outcomes)
        path.unlink()
        (self.directory / f"batch-{index}.pkl").unlink(missing_ok=True)

    def _fail(self, index: int, state: ElementState) -> None:
        element = self.remaining.pop(index)
        log = self.directory / f"slurm-{index}.err"
        tail = _tail(log)
        job_id = f"{self.job_id}_{index}"
        exc = _job_error(element.batch, job_id, state, tail, log)
        details = {
            "slurm": {
                "job_id": job_id,
                "state": state.state,
                "reason": state.reason,
                "stderr_tail": tail,
                "log": str(log),
                "submission": str(self.directory),
            }
        }
        exc.details = details
        element.future.set_exception(exc)  # the engine settles the batch's states


def _script(directory: Path, python: str) -> str:
    """The batch script: Python runs without ``exec``, to report a killing signal.

    A Python killed by a signal (SIGKILL from an out-of-memory killer) leaves
    no traceback, and were it the job's own process, SLURM (22.05) would report
    the job ``FAILED`` with the misleading reason ``JobLaunchFailure``. Here the
    script exits 128 + the signal's number (``FAILED``, ``NonZeroExitCode``)
    after a stderr line naming the signal, which the stderr tail then shows.
    """
    here = shlex.quote(str(directory))
    return (
        "#!/bin/bash\n"
        "# pydra_lite slurm worker: array element i runs batch-i.pkl, writes outcome-i.pkl\n"
        f"{shlex.quote(python)} -m pydra_lite.workers.slurm.run \\\n"
        f'    {here}/batch-"$SLURM_ARRAY_TASK_ID".pkl \\\n'
        f'    {here}/outcome-"$SLURM_ARRAY_TASK_ID".pkl\n'
        "status=$?\n"
        'if [ "$status" -gt 128 ]; then\n'
        '    echo "pydra_lite slurm worker: python was killed by signal'
        ' $((status - 128)) (SIG$(kill -l "$status"))" >&2\n'
        "fi\n"
        'exit "$status"\n'
    )


def _grace(state: ElementState) -> float:
    return _GRACE_COMPLETED if state.state in {"COMPLETED", GONE.state} else _GRACE


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(lines[-_TAIL_LINES:])


def _job_error(
    batch: JobBatch, job_id: str, state: ElementState, tail: str, log: Path
) -> SlurmJobError:
    hint = _HINTS.get(state.state, _DEFAULT_HINT)
    msg = (
        f"{batch.task_class.__name__}: SLURM job {job_id} ended {state.state} "
        f"(reason: {state.reason}) before its {len(batch.jobs)} state(s) finished; "
        f"{hint}. Its stderr ({log}) ends with:\n{tail}"
    )
    return SlurmJobError(msg, job_id=job_id, state=state.state, reason=state.reason)
