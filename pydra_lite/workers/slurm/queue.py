"""The SLURM command line as the slurm worker uses it: sbatch, squeue, scancel.

Every call is one subprocess; nothing here keeps state. ``squeue`` is asked
once for all the arrays still outstanding, with ``-r`` (one line per array
element) and ``-t all`` (finished elements too, for as long as the controller
keeps them: ``MinJobAge``, 300 s by default). An element that squeue no longer
lists is reported as :data:`GONE`; the caller decides what that means.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from pydra_lite.errors import SlurmError

ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
    }
)
"""States after which an array element may still write its outcome."""

_TIMEOUT = 60.0
"""Seconds a SLURM command may take before the controller counts as unreachable."""


@attrs.frozen
class ElementState:
    """What squeue says about one array element."""

    state: str
    reason: str

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


GONE = ElementState("UNKNOWN", "no longer listed by squeue")


def has_slurm() -> bool:
    """True when sbatch is on PATH and the controller answers ``sinfo``."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def sbatch_array(script: Path, size: int, args: Sequence[str]) -> str:
    """Submit ``script`` as ``--array=0-(size-1)``; return the array's job id.

    ``args`` come last, so the user's options override ours.
    """
    command = ["sbatch", "--parsable", f"--array=0-{size - 1}", *args, str(script)]
    proc = _run(command)
    if proc.returncode != 0:
        msg = (
            f"slurm worker: sbatch refused the job array in {script.parent} "
            f"(exit {proc.returncode}): {proc.stderr.strip()}; check the worker's "
            f"sbatch_args, passed as: {' '.join(args)}"
        )
        raise SlurmError(msg, command=command, stderr=proc.stderr)
    # --parsable prints "<job id>[;<cluster>]"
    return proc.stdout.strip().split(";")[0]


def query_states(job_ids: Iterable[str]) -> dict[tuple[str, int], ElementState]:
    """The state of every element of ``job_ids`` that squeue still lists: one call."""
    ids = sorted(set(job_ids))
    command = ["squeue", "-h", "-r", "-t", "all", "-j", ",".join(ids)]
    command += ["-o", "%F|%K|%T|%r"]
    proc = _run(command)
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:  # one id given, and it is purged
            return {}
        msg = f"slurm worker: squeue failed (exit {proc.returncode}): {proc.stderr.strip()}"
        raise SlurmError(msg, command=command, stderr=proc.stderr)
    return dict(_parse_line(line) for line in proc.stdout.splitlines() if line)


def _parse_line(line: str) -> tuple[tuple[str, int], ElementState]:
    job_id, task_id, state, reason = line.split("|", 3)
    # e.g. "CANCELLED by 0" -> "CANCELLED"
    return (job_id, int(task_id)), ElementState(state.split()[0], reason)


def cancel(job_ids: Iterable[str]) -> bool:
    """``scancel`` the given arrays; False when scancel could not run at all.

    A job that has already ended is no error; nor is a failure here, which
    happens while closing, where raising would hide the error being handled.
    """
    ids = sorted(set(job_ids))
    try:
        return not ids or _run(["scancel", *ids]).returncode == 0
    except SlurmError:
        return False


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            env={**os.environ, "SLURM_TIME_FORMAT": "standard"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        msg = (
            f"slurm worker: {command[0]} could not run ({exc}); is SLURM installed "
            "and its controller reachable (try: sinfo)?"
        )
        raise SlurmError(msg, command=command, stderr=str(exc)) from exc
