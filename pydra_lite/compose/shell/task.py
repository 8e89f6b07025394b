"""The base class of shell tasks, its operation hash, and building task classes.

:class:`ShellTask` runs its :class:`~.command.Command` in the job's output
directory and shows it as :attr:`ShellTask.cmdline`. :func:`build_class` turns
the fields of a definition (made by :mod:`.definition` from a template or a
class) into a checked command and a task class whose inputs are the arguments
plus one ``str | bool`` input per output file (the file's name, ``True`` for
its template, ``False`` to leave an optional one out), and whose outputs are
``return_code``, ``stdout``, ``stderr`` and the declared outputs.

Every output path stays inside the job's output directory (the rule is
:func:`~.path_template.check_output_path`). :func:`check_output_paths` applies
it to what the inputs already decide when a task is made, split, submitted or
asked its ``cmdline``; the job applies it again, before the process starts, to
paths that depended on workflow connections.

The operation hash covers the executable's name and every field's name, type,
option word, position, separator and path template, plus the code of callable
outputs and the ``version=`` label; not help text or defaults (the inputs'
values are hashed with each job) and not the executable's binary: bump
``version=`` when a new release of the tool changes its outputs.
"""

from __future__ import annotations

import inspect
import itertools
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self, get_args, get_origin

import attrs
from fileformats.core import FileSet

from pydra_lite.compose.base import (
    UNSET,
    InputSpec,
    OutputSpec,
    StateArray,
    Task,
    input_values,
    make_task_class,
    state_of,
)
from pydra_lite.compose.lazy import is_lazy
from pydra_lite.compose.shell import fields as fl
from pydra_lite.compose.shell.command import (
    Command,
    check_template,
    command_args,
    output_fields,
    output_name,
    run_command,
)
from pydra_lite.compose.shell.fields import KEEP, Arg, Item, Out, OutArg
from pydra_lite.compose.shell.path_template import template_fields
from pydra_lite.errors import StateError, TemplateError, WorkflowError
from pydra_lite.hashing import combine_digests, hash_function

RESERVED = ("return_code", "stdout", "stderr")
CALLABLE_PARAMETERS = ("output_dir", "inputs", "stdout", "stderr", "return_code")


class ShellTask(Task):
    """Base of the task classes made by ``shell.define``; subclass it in the class form."""

    _kind = "shell"
    _command: ClassVar[Command]
    _version: ClassVar[str | None] = None

    def __init__(self, **inputs: Any) -> None:
        """Set the inputs, then refuse output paths they make that leave the
        output directory (:func:`check_output_paths`)."""
        super().__init__(**inputs)
        check_output_paths(self)

    def split(self, splitter: Any = None, /, **values: Iterable[Any]) -> Self:
        """As :meth:`Task.split`; then every state's output paths are checked,
        so that a split inside a workflow is refused when it is built."""
        new = super().split(splitter, **values)
        check_output_paths(new)
        return new

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
        check_output_paths(self)

    @classmethod
    def _compute_operation_hash(cls) -> bytes:
        return operation_digest(cls._command, cls._version)

    @classmethod
    def _execute(cls, inputs: Mapping[str, Any], output_dir: Path) -> dict[str, Any]:
        return run_command(cls._command, inputs, output_dir)


# --- output paths, before anything runs -----------------------------------------------


def check_output_paths(task: ShellTask) -> None:
    """Render and check every output path that the task's inputs already decide.

    Called when the task is made and again when it is submitted (or its
    ``cmdline`` asked), so that a path leaving the output directory, or an
    optional-only ``False``, is refused before any state runs. An output
    whose path depends on an input that has no value yet or is a workflow
    connection is left to the job, which checks it again before the process
    starts. A split task is checked state by state, over only the dimensions
    of the inputs each path depends on: one bad state refuses the whole task.

    Raises:
        PathTemplateError: a path that leaves the output directory, or a
            template over known inputs that cannot be rendered from their
            values (a template naming an unknown input fails when rendered
            for the command line, saying which inputs it may use).
        TemplateError: ``False`` for an output that is not optional.
    """
    command = task._command
    values = input_values(task)
    for field in output_fields(command):
        own = [field.name] if isinstance(field, OutArg) else []
        names = template_fields(field.path_template or field.name)
        known = all(name in values for name in names)  # else rendering says why
        used = own + [name for name in names if name in values and name not in own]
        for inputs in _state_inputs(task, values, used):
            choice = inputs[field.name] if own else True
            if not _decided(choice):
                continue
            templated = choice is True or choice is None
            if templated and not (known and all(_decided(inputs[n]) for n in names)):
                continue
            output_name(command.task, field, choice, inputs)


def _decided(value: Any) -> bool:
    if isinstance(value, StateArray):
        return all(_decided(member) for member in value)
    return value is not UNSET and not is_lazy(value)


def _state_inputs(
    task: ShellTask, values: Mapping[str, Any], names: list[str]
) -> Iterator[dict[str, Any]]:
    """``values`` with the split ones among ``names`` set to each state's value.

    Each combination of the dimensions holding ``names`` once: a path that
    depends on no split input is rendered once, however many states.
    """
    split = [name for name in names if isinstance(values[name], StateArray)]
    if not split:
        yield dict(values)
        return
    state = state_of(task)
    dims = sorted({state.dim_of(name) for name in split})
    for combination in itertools.product(*(range(state.shape[d]) for d in dims)):
        at = dict(zip(dims, combination, strict=True))
        yield {
            **values,
            **{name: values[name][at[state.dim_of(name)]] for name in split},
        }


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
    if isinstance(field, OutArg):
        check_template(task, field)
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
    check_template(task, out)
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
