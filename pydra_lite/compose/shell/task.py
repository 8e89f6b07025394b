"""The base class of shell tasks, its operation hash, and building task classes.

:class:`ShellTask` runs its :class:`~.command.Command` in the job's output
directory and shows it as :attr:`ShellTask.cmdline`. :func:`build_class` turns
the fields of a definition (made by :mod:`.definition` from a template or a
class) into a checked command and a task class whose inputs are the arguments
plus one ``str | bool`` input per output file (the file's name, ``True`` for
its template, ``False`` to leave an optional one out), and whose outputs are
``return_code``, ``stdout``, ``stderr`` and the declared outputs.

The operation hash covers the executable's name and every field's name, type,
option word, position, separator and path template, plus the code of callable
outputs and the ``version=`` label; not help text or defaults (the inputs'
values are hashed with each job) and not the executable's binary: bump
``version=`` when a new release of the tool changes its outputs.
"""

from __future__ import annotations

import inspect
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, get_args, get_origin

import attrs
from fileformats.core import FileSet

from pydra_lite.compose.base import (
    InputSpec,
    OutputSpec,
    StateArray,
    Task,
    input_values,
    make_task_class,
)
from pydra_lite.compose.lazy import is_lazy
from pydra_lite.compose.shell import fields as fl
from pydra_lite.compose.shell.command import (
    Command,
    check_relative,
    command_args,
    run_command,
)
from pydra_lite.compose.shell.fields import KEEP, Arg, Item, Out, OutArg
from pydra_lite.errors import StateError, TemplateError, WorkflowError
from pydra_lite.hashing import combine_digests, hash_function

RESERVED = ("return_code", "stdout", "stderr")
CALLABLE_PARAMETERS = ("output_dir", "inputs", "stdout", "stderr", "return_code")


class ShellTask(Task):
    """Base of the task classes made by ``shell.define``; subclass it in the class form."""

    _kind = "shell"
    _command: ClassVar[Command]
    _version: ClassVar[str | None] = None

    @property
    def cmdline(self) -> str:
        """The command line these inputs give, quoted for a POSIX shell.

        Output files appear as their paths relative to the job's output
        directory, where the command runs.
        """
        if self.splitter is not None:
            msg = f"{type(self).__name__} is split; cmdline shows one state, so ask an unsplit copy"
            raise StateError(msg)
        self._check_mandatory()
        inputs = input_values(self)
        lazy = [key for key, value in inputs.items() if is_lazy(value)]
        if lazy:
            msg = f"{type(self).__name__}: inputs {lazy} are workflow connections; cmdline is known when they run"
            raise WorkflowError(msg)
        return shlex.join(command_args(self._command, inputs))

    def _check_mandatory(self) -> None:
        super()._check_mandatory()
        for item in self._command.items:
            if isinstance(item, OutArg):
                _check_output_choice(self._command.task, item, getattr(self, item.name))

    @classmethod
    def _compute_operation_hash(cls) -> bytes:
        return operation_digest(cls._command, cls._version)

    @classmethod
    def _execute(cls, inputs: Mapping[str, Any], output_dir: Path) -> dict[str, Any]:
        return run_command(cls._command, inputs, output_dir)


def _check_output_choice(task: str, field: OutArg, value: Any) -> None:
    choices = value if isinstance(value, StateArray) else [value]
    for choice in choices:
        if choice is False and not field.optional:
            msg = f"{task}: output {field.name!r} is not optional; set it to True or to a file name"
            raise TemplateError(msg)
        if isinstance(choice, str):
            check_relative(task, field.name, choice)


# --- the operation hash -------------------------------------------------------------


def operation_digest(command: Command, version: str | None) -> bytes:
    """Digest of the command's definition (see the module docstring)."""
    parts = [repr(command.executable).encode()]
    parts += [_describe(item).encode() for item in command.items]
    for out in command.outs:
        parts.append(_describe(out).encode())
        if out.callable is not None:
            parts.append(hash_function(out.callable))
    if version is not None:
        parts.append(b"version:" + version.encode())
    return combine_digests(b"shell", *parts)


def _describe(item: Item | Out) -> str:
    skip = ("help", "default", "callable")
    values = attrs.asdict(item, recurse=False, filter=lambda a, _: a.name not in skip)
    if "type" in values:
        values["type"] = type_key(values["type"])
    return repr((item.kind, sorted(values.items())))


def type_key(annotation: Any) -> str:
    """A stable text for a type: MIME-like names for file formats."""
    if isinstance(annotation, type) and issubclass(annotation, FileSet):
        return str(annotation.mime_like)
    if isinstance(annotation, type):
        return f"{annotation.__module__}.{annotation.__qualname__}"
    origin = get_origin(annotation)
    if origin is None:
        return repr(annotation)
    args = ", ".join(type_key(arg) for arg in get_args(annotation))
    return f"{type_key(origin)}[{args}]"


# --- the class ------------------------------------------------------------------------


def build_class(
    name: str,
    executable: tuple[str, ...],
    items: list[Item],
    outs: list[Out],
    version: str | None,
    doc: str,
    module: str,
) -> type[Task]:
    """The task class of a checked, ordered command."""
    done = order_items([_complete(item) for item in items])
    done_outs = [_complete_out(out) for out in outs]
    command = Command(name, executable, tuple(done), tuple(done_outs))
    check_command(command)
    namespace = {"_command": command, "_version": version}
    return make_task_class(
        name, ShellTask, input_specs(command), output_specs(command),
        namespace, doc=doc, module=module,
    )  # fmt: skip


def _complete(item: Item) -> Item:
    if isinstance(item, Arg):
        return fl.complete(item)
    if isinstance(item, OutArg):
        return fl.complete(item)
    return item


def _complete_out(out: Out) -> Out:
    if out.type is KEEP and out.callable is not None:
        out = attrs.evolve(out, type=_return_type(out.callable))
    return fl.complete(out)


def _return_type(func: Callable[..., Any]) -> Any:
    try:
        return inspect.get_annotations(func, eval_str=True).get("return", Any)
    except (TypeError, NameError):  # a callable object, or an unresolvable name
        return Any


def order_items(items: list[Item]) -> list[Item]:
    """Positions 1, 2, ... first, then unpositioned items in order, then -2, -1."""

    def key(pair: tuple[int, Item]) -> tuple[int, int]:
        index, item = pair
        if item.position is None:
            return (1, index)
        return (0, item.position) if item.position > 0 else (2, item.position)

    return [item for _, item in sorted(enumerate(items), key=key)]


def input_specs(command: Command) -> list[InputSpec]:
    """One input per argument, and one ``str | bool`` per output file argument."""
    specs = []
    for field in command.fields():
        if isinstance(field, Arg):
            specs.append(InputSpec(field.name, field.type, field.default, field.help))
        else:
            help = field.help or "the output file's name, True for its template"
            specs.append(InputSpec(field.name, str | bool, not field.optional, help))
    return specs


def output_specs(command: Command) -> list[OutputSpec]:
    """``return_code``, ``stdout``, ``stderr``, then the declared outputs."""
    specs = [
        OutputSpec("return_code", int, "the command's exit code"),
        OutputSpec("stdout", str, "what the command wrote on standard output"),
        OutputSpec("stderr", str, "what the command wrote on standard error"),
    ]
    for field in command.fields():
        if isinstance(field, OutArg):
            kind = field.type | None if field.optional else field.type
            specs.append(OutputSpec(field.name, kind, field.help))
    specs += [OutputSpec(out.name, out.type, out.help) for out in command.outs]
    return specs


def check_command(command: Command) -> None:
    """Raise TemplateError for names, positions or fields that cannot work."""
    names = [f.name for f in command.fields()] + [o.name for o in command.outs]
    _check_names(command.task, names)
    positions = [i.position for i in command.items if i.position is not None]
    for position in positions:
        if position == 0 or positions.count(position) > 1:
            msg = f"{command.task}: position {position} is {'taken by the executable' if position == 0 else 'given twice'}; positions count 1, 2, ... from the start and -1, -2, ... from the end"
            raise TemplateError(msg)
    for field in command.fields():
        _check_field(command.task, field)
    files = [o.name for o in command.outs if o.path_template is not None]
    known = [f.name for f in command.fields()] + files
    for out in command.outs:
        _check_out(command.task, out, known)


def _check_names(task: str, names: list[str]) -> None:
    for name in names:
        if name in RESERVED or names.count(name) > 1 or not name.isidentifier():
            why = "reserved" if name in RESERVED else "used twice or not an identifier"
            msg = f"{task}: field name {name!r} is {why}; every shell task has the outputs {', '.join(RESERVED)}"
            raise TemplateError(msg)


def _check_field(task: str, field: Arg | OutArg) -> None:
    if (
        isinstance(field, Arg)
        and field.type in (bool, bool | None)
        and not field.argstr
    ):
        msg = f"{task}: boolean input {field.name!r} needs an option word (argstr) to give when True"
        raise TemplateError(msg)


def _check_out(task: str, out: Out, names: list[str]) -> None:
    if (out.callable is None) == (out.path_template is None):
        msg = f"{task}: output {out.name!r} needs exactly one of callable= or path_template="
        raise TemplateError(msg)
    if out.callable is not None:
        _check_callable(task, out.name, out.callable, names)


def _check_callable(
    task: str, name: str, func: Callable[..., Any], names: list[str]
) -> None:
    known = {*CALLABLE_PARAMETERS, *names}
    for param in inspect.signature(func).parameters.values():
        if param.name not in known and param.default is param.empty:
            msg = f"{task}: callable of output {name!r} takes {param.name!r}; it may take {', '.join(sorted(known))}"
            raise TemplateError(msg)
