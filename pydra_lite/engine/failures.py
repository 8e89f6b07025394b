"""What a user reads when states fail: the TaskFailedError and its cause.

One line per failed state, in state order, naming its inputs and its
``_error.json``, the first ten then a count (:func:`task_failed`); the first
failure's traceback, with real file names and source lines, as the error's
``__cause__`` (:class:`RemoteTraceback`, as concurrent.futures attaches a
worker's traceback).
"""

from __future__ import annotations

import linecache
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydra_lite.engine.result import Result
from pydra_lite.errors import TaskFailedError

INPUTS_SHOWN = 120
"""How many characters of a failed state's inputs its line of the message shows."""


def task_failed(name: str, result: Result) -> TaskFailedError:
    """The error for a Result with failed states: a line per failure, in order."""
    messages = [failure_line(error) for error in result.errors]
    return TaskFailedError(name, result.error_files, messages)


def failure_line(error: Mapping[str, Any]) -> str:
    """``Invert state 3 (a=3): ZeroDivisionError: division by zero; see <file>``."""
    where = str(error.get("node") or error["task"])
    if error.get("workflow_state") is not None:
        where = f"{where} (workflow state {error['workflow_state']})"
    if error.get("state") is not None:
        where = f"{where} state {error['state']}"
    inputs = ", ".join(f"{k}={v}" for k, v in (error.get("inputs") or {}).items())
    if len(inputs) > INPUTS_SHOWN:
        inputs = inputs[: INPUTS_SHOWN - 3] + "..."
    lines = str(error.get("message", "")).strip().splitlines()
    first = lines[0] + (" ..." if len(lines) > 1 else "") if lines else ""
    written = error.get("error_file")
    if written:  # "not written: <why>"
        where_file = f"its _error.json was {written}"
    else:
        where_file = f"see {Path(error['output_dir']) / '_error.json'}"
    if inputs:
        where = f"{where} ({inputs})"
    return f"{where}: {error.get('type')}: {first}; {where_file}"


class RemoteTraceback(Exception):  # noqa: N818 (concurrent.futures' name for it)
    """The traceback of a failed state, as the process that ran it formatted it.

    The ``__cause__`` of a :class:`TaskFailedError` (as concurrent.futures
    attaches a worker's traceback): printed under the error, it shows the
    original exception with its real file names and source lines.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text.rstrip()}\n"""'


def remote_traceback(errors: Sequence[Mapping[str, Any]]) -> RemoteTraceback | None:
    """The first failure's traceback, naming its state, as an exception."""
    if not errors:
        return None
    error = errors[0]
    text = str(error.get("traceback") or f"{error.get('type')}: {error.get('message')}")
    text = _with_real_files(text)
    head = failure_line(error).split(": ", 1)[0]
    return RemoteTraceback(f"{head}, on {error.get('host', 'its host')}:\n{text}")


_FRAME = re.compile(r'^  File "(.+)", line (\d+), in (.+)$')


def _with_real_files(text: str) -> str:
    """``text`` with each frame's missing source line, as this process knows it.

    A task sent by value keeps its code's file names (workers/pickled.py), but
    a notebook cell is no file a worker can read: its frames come back with
    no source line, which this process's ``linecache`` (the kernel's cells)
    gives.
    """
    lines = text.splitlines(keepends=True)
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        match = _FRAME.match(line.rstrip("\n"))
        if not match:
            continue
        has_source = i + 1 < len(lines) and lines[i + 1].startswith("    ")
        source = "" if has_source else linecache.getline(match[1], int(match[2]))
        if source.strip():
            out.append(f"    {source.strip()}\n")
    return "".join(out)
