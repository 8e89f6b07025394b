"""Building a shell task's argument list, running it, and collecting its outputs.

A :class:`Command` is everything a shell task class knows about its command
line: the executable words, the items in command-line order and the outputs
not on the command line. From concrete inputs:

1. :func:`output_names` resolves each output file's path, relative to the
   job's output directory (a template, or the name the user gave), and
   refuses one that would leave it (:func:`check_output_path`), so that a bad
   path fails before the process starts;
2. :func:`command_args` renders every item into words, without a shell;
3. :func:`run_command` runs the words with ``subprocess.run(cwd=output_dir)``,
   raises :class:`CommandError` on a non-zero exit, and returns
   ``return_code``, ``stdout``, ``stderr`` and every declared output, files
   checked to exist and returned as their fileformats type.

Rendering, per value: None and False leave the item out; True gives the option
word alone; a list gives its items, with the option word before each (or once
before all when ``repeat=False``, or one argument joined by ``sep``); a tuple
gives its members after one option word (joined by ``sep`` when given); a file
gives its path; anything else ``str(value)``. An option word ending in ``=`` is
glued to its value.
"""

from __future__ import annotations

import inspect
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from pydra_lite.compose.shell.fields import Arg, Item, Out, OutArg, Word
from pydra_lite.compose.shell.path_template import (
    check_output_path,
    file_type,
    output_path_problem,
    render_path_template,
    template_fields,
    template_skeleton,
)
from pydra_lite.errors import (
    CommandError,
    ExecutableNotFoundError,
    OutputNotFoundError,
    TaskInputError,
    TemplateError,
)

STDERR_LIMIT = 20_000
"""Characters of stderr kept in an error message (its end, where errors are)."""


@attrs.frozen
class Command:
    """What a shell task class runs: its executable, items and extra outputs."""

    task: str
    executable: tuple[str, ...]
    items: tuple[Item, ...]
    outs: tuple[Out, ...] = ()

    def fields(self) -> list[Arg | OutArg]:
        return [item for item in self.items if not isinstance(item, Word)]


# --- the argument list ----------------------------------------------------------


def command_args(command: Command, inputs: Mapping[str, Any]) -> list[str]:
    """The words of the command line for these inputs (output paths relative)."""
    names = output_names(command, inputs)
    words = list(command.executable)
    for item in command.items:
        words += _item_words(item, inputs, names)
    return words


def _item_words(
    item: Item, inputs: Mapping[str, Any], names: Mapping[str, str | None]
) -> list[str]:
    if isinstance(item, Word):
        return [item.text]
    if isinstance(item, OutArg):
        name = names[item.name]
        return [] if name is None else with_option(item.argstr, [name])
    return value_words(item, inputs[item.name])


def value_words(field: Arg, value: Any) -> list[str]:
    """The words of one input value, with its option word."""
    if value is None or value is False:
        return []
    if value is True:
        return [field.argstr] if field.argstr else ["True"]
    if isinstance(value, list):
        return _list_words(field, value)
    if isinstance(value, tuple):
        return with_option(field.argstr, _joined(flat_words(value), field.sep))
    return with_option(field.argstr, [to_word(value)])


def _list_words(field: Arg, value: list[Any]) -> list[str]:
    if field.sep is not None or not field.repeat:
        words = [word for member in value for word in flat_words(member)]
        return with_option(field.argstr, _joined(words, field.sep))
    return [word for member in value for word in value_words(field, member)]


def _joined(words: list[str], sep: str | None) -> list[str]:
    return words if sep is None or not words else [sep.join(words)]


def flat_words(value: Any) -> list[str]:
    """A tuple (nested or not) as its members' words; a value as one word."""
    if isinstance(value, tuple | list):
        return [word for member in value for word in flat_words(member)]
    return [to_word(value)]


def to_word(value: Any) -> str:
    """One value as one command-line word: paths as paths, others by ``str``."""
    if isinstance(value, os.PathLike):  # fileformats objects too: their main path
        return str(os.fspath(value))
    return str(value)


def with_option(argstr: str, words: list[str]) -> list[str]:
    """``words`` after the option word ``argstr`` (glued when it ends in ``=``)."""
    if not words or not argstr:
        return words
    if argstr.endswith("="):
        return [argstr + words[0], *words[1:]]
    return [argstr, *words]


# --- output paths ---------------------------------------------------------------


def output_names(command: Command, inputs: Mapping[str, Any]) -> dict[str, str | None]:
    """The path of each output file relative to the output directory, or None."""
    names = {
        item.name: output_name(command.task, item, inputs.get(item.name, True), inputs)
        for item in command.items
        if isinstance(item, OutArg)
    }
    for out in command.outs:
        if out.path_template is not None:
            names[out.name] = output_name(command.task, out, True, inputs)
    return names


def output_name(
    task: str, field: OutArg | Out, choice: Any, inputs: Mapping[str, Any]
) -> str | None:
    """The relative path of one output file, from its input ``choice``.

    ``True`` (or None) renders the path template, ``False`` leaves an optional
    output out, and a path names the file itself. Either way the path is
    checked to stay inside the output directory (:func:`check_output_path`).
    """
    if choice is False:
        if isinstance(field, OutArg) and field.optional:
            return None
        msg = f"{task}: output {field.name!r} is not optional; set it to True or to a file name"
        raise TemplateError(msg)
    if choice is True or choice is None:
        template = field.path_template or field.name
        path = render_path_template(template, inputs, file_type(field.type))
        if output_path_problem(path) is None:  # the usual case: no message to build
            return path
        source = template_source(template, inputs)
    else:
        path = os.fspath(choice)
        source = f"the input {field.name}={path!r} (the output's file name)"
    return check_output_path(task, field.name, path, source)


def output_fields(command: Command) -> list[OutArg | Out]:
    """The output files of ``command``: on its command line, then the others."""
    files: list[OutArg | Out] = [i for i in command.items if isinstance(i, OutArg)]
    return files + [out for out in command.outs if out.path_template is not None]


def template_source(template: str, inputs: Mapping[str, Any]) -> str:
    """``the path template '{name}' with the input name='../x'``: where a path came from."""
    used = [name for name in template_fields(template) if name in inputs]
    if not used:
        return f"the path template {template!r} (whatever the inputs)"
    values = ", ".join(f"{name}={_shown(inputs[name])}" for name in used)
    return (
        f"the path template {template!r} with the input{'s' * (len(used) > 1)} {values}"
    )


def _shown(value: Any) -> str:
    text = repr(to_word(value)) if isinstance(value, os.PathLike) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def check_template(task: str, field: OutArg | Out) -> None:
    """At definition: refuse a template that is not a string, or that gives a
    path outside the output directory whatever the inputs (``/tmp/{x}``)."""
    template = field.path_template
    if template is None:
        return
    if not isinstance(template, str):
        msg = (
            f"{task}: path_template of output {field.name!r} must be a str.format "
            f"string over the inputs, not {template!r}; compute an output with "
            "shell.out(callable=...) instead"
        )
        raise TemplateError(msg)
    skeleton = template_skeleton(template)
    if skeleton is not None and output_path_problem(skeleton) is not None:
        source = f"the path template {template!r}, whatever the inputs"
        check_output_path(task, field.name, skeleton, source)


# --- running ------------------------------------------------------------------


def run_command(
    command: Command, inputs: Mapping[str, Any], output_dir: Path
) -> dict[str, Any]:
    """Run the command in ``output_dir``; return every output by name."""
    words = command_args(command, inputs)
    program = find_executable(command)
    proc = subprocess.run(
        words,
        executable=program,
        cwd=output_dir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        raise _command_error(command.task, words, proc)
    ran = {"return_code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
    return {**ran, **collect_outputs(command, inputs, output_dir, ran, words)}


def find_executable(command: Command) -> str:
    """The absolute path of the command's executable, looked up on PATH."""
    name = command.executable[0]
    found = shutil.which(name)
    if found is None:
        msg = (
            f"{command.task}: executable {name!r} is not on PATH (or is not "
            "executable); install it, or give its full path in the template"
        )
        raise ExecutableNotFoundError(msg)
    return os.path.abspath(found)


def _command_error(
    task: str, words: list[str], proc: subprocess.CompletedProcess[str]
) -> CommandError:
    cmdline = shlex.join(words)
    msg = (
        f"{task}: command exited with code {proc.returncode}\n"
        f"command: {cmdline}\nstderr:\n{tail(proc.stderr)}"
    )
    return CommandError(
        msg, task=task, cmdline=cmdline, return_code=proc.returncode, stderr=proc.stderr
    )


def tail(text: str, limit: int = STDERR_LIMIT) -> str:
    """The end of ``text``, marked as cut when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters cut ...]\n{text[-limit:]}"


# --- outputs --------------------------------------------------------------------


def collect_outputs(
    command: Command,
    inputs: Mapping[str, Any],
    output_dir: Path,
    ran: Mapping[str, Any],
    words: list[str],
) -> dict[str, Any]:
    """Every declared output: files checked and typed, then callables called."""
    names = output_names(command, inputs)
    files = {
        name: _output_file(command, name, relative, output_dir, ran, words)
        for name, relative in names.items()
    }
    context = {**inputs, **files, **ran, "output_dir": output_dir}
    context["inputs"] = {key: context[key] for key in inputs}
    calls = {
        out.name: call_with(out.callable, context)
        for out in command.outs
        if out.callable is not None
    }
    return {**files, **calls}


def _output_file(
    command: Command,
    name: str,
    relative: str | None,
    output_dir: Path,
    ran: Mapping[str, Any],
    words: list[str],
) -> Any:
    if relative is None:
        return None
    path = output_dir / relative
    if not path.exists():
        msg = (
            f"{command.task}: output {name!r} was not written: expected {relative!r} "
            f"in {output_dir}\ncommand: {shlex.join(words)}\n"
            f"stderr:\n{tail(ran['stderr'], 2000)}"
        )
        raise OutputNotFoundError(msg)
    return _typed_path(command, name, path)


def _typed_path(command: Command, name: str, path: Path) -> Any:
    field = _file_field(command, name)
    kind = file_type(field.type)
    if kind is None:
        return path
    try:
        return kind(path)
    except (TypeError, ValueError) as exc:  # fileformats' FormatMismatchError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        msg = f"{command.task}: output {name!r} ({path}) is not a valid {kind.__name__}: {reason}"
        raise TaskInputError(
            msg, task=f"{command.task}.Outputs", field=name, value=path
        ) from exc


def _file_field(command: Command, name: str) -> OutArg | Out:
    fields: list[OutArg | Out] = [
        f for f in (*command.items, *command.outs) if isinstance(f, OutArg | Out)
    ]
    return next(f for f in fields if f.name == name)


def call_with(func: Callable[..., Any], context: Mapping[str, Any]) -> Any:
    """Call ``func`` with the entries of ``context`` named by its parameters."""
    params = inspect.signature(func).parameters
    return func(**{key: context[key] for key in params if key in context})
