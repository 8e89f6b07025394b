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
import types
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


def remote_traceback(
    errors: Sequence[Mapping[str, Any]], classes: Mapping[str, type]
) -> RemoteTraceback | None:
    """The first failure's traceback, naming its state, as an exception."""
    if not errors:
        return None
    error = errors[0]
    text = str(error.get("traceback") or f"{error.get('type')}: {error.get('message')}")
    task = classes.get(str(error.get("node") or error.get("task")))
    if task is None:
        task = classes.get(str(error.get("task")))
    text = _with_real_files(text, task)
    head = failure_line(error).split(": ", 1)[0]
    return RemoteTraceback(f"{head}, on {error.get('host', 'its host')}:\n{text}")


_FRAME = re.compile(r'^  File "(.+)", line (\d+), in (.+)$')


def _with_real_files(text: str, task_class: type | None) -> str:
    """``text`` with each frame's file and source line, as this process knows them.

    cloudpickle sends a function defined in a script or notebook by value and
    renames its code's file ``<dynamic-code>``; the frames of the task's own
    function (and of the functions of its module it calls) keep their line
    numbers, so the submitter, which has the code, names them again. A frame
    with no source line (a notebook cell is no file a worker can read) gets
    it from this process's ``linecache``, when it has it.
    """
    codes = _codes_of(task_class) if "<dynamic-code>" in text and task_class else []
    lines = text.splitlines(keepends=True)
    out = []
    for i, line in enumerate(lines):
        match = _FRAME.match(line.rstrip("\n"))
        if not match:
            out.append(line)
            continue
        file, lineno, name = match[1], int(match[2]), match[3]
        code = _code_at(codes, name, lineno) if file == "<dynamic-code>" else None
        if code is not None:
            file = code.co_filename
            line = f'  File "{file}", line {lineno}, in {name}\n'
        out.append(line)
        has_source = i + 1 < len(lines) and lines[i + 1].startswith("    ")
        source = "" if has_source else linecache.getline(file, lineno).strip()
        if source:
            out.append(f"    {source}\n")
    return "".join(out)


def _codes_of(task_class: type) -> list[types.CodeType]:
    """The code objects of a python task's function and of its module's functions."""
    function = getattr(task_class, "_function", None)
    if not isinstance(function, types.FunctionType):
        return []
    functions = [function] + [
        value
        for value in function.__globals__.values()
        if isinstance(value, types.FunctionType)
        and value.__module__ == function.__module__
        and value is not function
    ]
    codes, stack = [], [f.__code__ for f in functions]
    while stack:
        code = stack.pop()
        codes.append(code)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return codes


def _code_at(
    codes: Sequence[types.CodeType], name: str, lineno: int
) -> types.CodeType | None:
    for code in codes:
        if name not in (code.co_name, code.co_qualname):
            continue
        lines = [line for _, _, line in code.co_lines() if line is not None]
        if lines and code.co_firstlineno <= lineno <= max(lines):
            return code
    return None
