"""The common base of every task class: typed fields, split and combine.

A task class is an attrs class whose fields are the task's inputs; it is made by
``python.define``, ``shell.define`` or ``workflow.define`` through
:func:`make_task_class`. Instances are keyword-only, and every field is checked
and coerced (:mod:`pydra_lite.typecheck`) both when the task is built and when a
field is set. A mandatory input may stay unset until the task is submitted, so
that ``Task().split(x=[...])`` and workflow nodes wired later both work; the
submitter asks :func:`check_mandatory` before it runs anything.

``split`` and ``combine`` return new task objects. A split field holds a
:class:`StateArray` (a list of the field's element values); the splitter and
combiner are kept beside the attrs fields, in the instance ``__dict__``.

Running is the engine's job, which sits above this layer: ``task()`` goes
through the runner that the engine registers with :func:`register_runner`.
The engine reads a task only through the free functions of this module
(:func:`input_specs`, :func:`input_values`, :func:`state_of`,
:func:`operation_hash`, :func:`execute`, ...), as attrs' ``fields(cls)``
reads a class: every method name on ``Task`` would reserve a field name.
"""

from __future__ import annotations

import copy
import enum
import keyword
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import attrs

from pydra_lite.compose.lazy import check_connection, is_lazy
from pydra_lite.compose.outputs import LazyOutputsClass
from pydra_lite.errors import StateError, TaskDefinitionError, TaskInputError
from pydra_lite.hashing import combine_digests
from pydra_lite.hashing.code import CodeGuards, guarded
from pydra_lite.state import State, lengths_of
from pydra_lite.typecheck import coerce, type_name


class _Unset(enum.Enum):
    """The value of a mandatory input that has not been given yet."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset.UNSET
"""Marks a mandatory input without a value (picklable as a singleton)."""


class StateArray(list):
    """The values of a split field: one element per state along its dimension."""


@attrs.frozen
class InputSpec:
    """One input field of a task class, before it becomes an attrs field."""

    name: str
    type: Any = Any
    default: Any = UNSET
    help: str = ""


@attrs.frozen
class OutputSpec:
    """One output field of a task class."""

    name: str
    type: Any = Any
    help: str = ""


_Runner = Callable[..., Any]
_RUNNER: list[_Runner] = []


def register_runner(runner: _Runner) -> None:
    """Install the function that ``task()`` calls (the engine does, at import).

    Kept as an injection point so that this layer never imports the engine.
    """
    _RUNNER[:] = [runner]


class Task:
    """Base of every task class. Subclasses are made by the ``define`` functions."""

    _kind: ClassVar[str] = "task"
    _input_specs: ClassVar[tuple[InputSpec, ...]] = ()
    _output_specs: ClassVar[tuple[OutputSpec, ...]] = ()
    Outputs: ClassVar[type]
    _op_hash: ClassVar[tuple[bytes, CodeGuards] | None] = None  # operation_hash's memo

    def __init__(self, **inputs: Any) -> None:
        unknown = set(inputs) - {spec.name for spec in self._input_specs}
        if unknown:
            raise _unknown_input_error(type(self), sorted(unknown))
        self.__dict__["_splitter"] = None
        self.__dict__["_combiner"] = ()
        self.__attrs_init__(**inputs)  # type: ignore[attr-defined]

    # -- splitting -----------------------------------------------------------
    @property
    def splitter(self) -> Any:
        """The splitter expression given to :meth:`split`, or None."""
        return self.__dict__.get("_splitter")

    @property
    def combiner(self) -> tuple[str, ...]:
        """The names given to :meth:`combine`, in order."""
        return self.__dict__.get("_combiner", ())

    def split(self, splitter: Any = None, /, **values: Iterable[Any]) -> Self:
        """Return a copy of this task split over the given lists of values.

        Args:
            splitter: a name, a list of names (outer product) or a tuple of
                names (zipped); nestable. Defaults to the outer product of the
                names given as keywords.
            **values: the list of values of each split field.
        """
        name = type(self).__name__
        if self.splitter is not None:
            msg = f"{name} is already split by {self.splitter!r}; give every split field in one split() call"
            raise StateError(msg)
        if not values:
            msg = f"{name}.split() needs the values to split over, e.g. split(x=[1, 2])"
            raise StateError(msg)
        if splitter is None:
            splitter = next(iter(values)) if len(values) == 1 else list(values)
        _check_split_names(type(self), values)
        _refuse_lazy_split(type(self), values)
        # An iterator (``dir.iterdir()``) is taken in full; lengths_of refuses
        # a str, a set or a mapping, whose items would make a surprising split.
        given = {
            k: list(v) if isinstance(v, Iterator) else v for k, v in values.items()
        }
        lengths = lengths_of(given)
        state = State.from_splitter(splitter, lengths)
        new = copy.copy(self)
        new.__dict__["_splitter"] = splitter
        for key, vals in given.items():
            setattr(new, key, list(vals))
        new.__dict__["_state"] = state
        _check_combiner(new, new.combiner)  # a combine() given before this split
        return new

    def combine(self, names: str | Sequence[str]) -> Self:
        """Return a copy of this task whose split results are grouped by ``names``.

        A plain name must be a field this task is split over (or will be, when
        :meth:`split` comes after); ``"Node.field"`` names a field an upstream
        workflow node is split over, and is checked when the workflow is built.

        Raises:
            StateError: for a name that can never be combined here.
        """
        combiner = (names,) if isinstance(names, str) else tuple(names)
        _check_combiner(self, combiner)
        new = copy.copy(self)
        new.__dict__["_combiner"] = combiner
        return new

    def split_names(self) -> tuple[str, ...]:
        """Names of the fields this task is split over (not qualified)."""
        return tuple(
            spec.name
            for spec in self._input_specs
            if isinstance(getattr(self, spec.name), StateArray)
        )

    # -- hooks of each kind of task (called through the functions below) -----
    def _check_mandatory(self) -> None:
        for spec in self._input_specs:
            if getattr(self, spec.name) is UNSET:
                cls = type(self).__name__
                msg = (
                    f"{cls}: mandatory input {spec.name!r} ({type_name(spec.type)}) "
                    f"has no value; set it, e.g. {cls}({spec.name}=...)"
                )
                raise TaskInputError(
                    msg, task=cls, field=spec.name, expected=type_name(spec.type)
                )

    @classmethod
    def _compute_operation_hash(cls) -> bytes:
        raise NotImplementedError

    @classmethod
    def _execute(cls, inputs: Mapping[str, Any], output_dir: Path) -> dict[str, Any]:
        """Run the task once on concrete inputs; return its outputs by name."""
        raise NotImplementedError

    def __call__(self, **submitter_options: Any) -> Any:
        """Run this task now and return its outputs (the engine's shorthand)."""
        if not _RUNNER:
            msg = "no runner registered; import pydra_lite to load the engine"
            raise RuntimeError(msg)
        return _RUNNER[0](self, **submitter_options)


# --- the engine's view of a task ---------------------------------------------
# Free functions over the class's reserved members, as attrs' ``fields(cls)``:
# the engine, the workers and the ewoks adapter read a task only through these,
# and a task's attribute namespace stays free for the user's field names.


def input_specs(task: Task | type[Task]) -> tuple[InputSpec, ...]:
    """The input fields of a task class (or of a task's class), in order."""
    return task._input_specs


def output_specs(task: Task | type[Task]) -> tuple[OutputSpec, ...]:
    """The output fields of a task class (or of a task's class), in order."""
    return task._output_specs


def input_values(task: Task) -> dict[str, Any]:
    """The current value of every input field, by name."""
    return {spec.name: getattr(task, spec.name) for spec in task._input_specs}


def state_of(task: Task) -> State:
    """The state of ``task`` alone (ignoring any upstream workflow state).

    Built once by :meth:`Task.split` and kept: a state is immutable. Setting a
    split field again drops it, and it is rebuilt here from the new lengths.
    """
    state = task.__dict__.get("_state")
    if state is None:
        if task.splitter is None:
            return State.empty()
        lengths = {name: len(getattr(task, name)) for name in task.split_names()}
        state = task.__dict__["_state"] = State.from_splitter(task.splitter, lengths)
    return state


def check_mandatory(task: Task) -> None:
    """Raise TaskInputError naming the first mandatory input with no value.

    A kind of task may check more (a shell task: its output choices). Also
    raises StateError for a combiner name this task is not split over: the
    task is submitted alone, so nothing upstream can split it.
    """
    task._check_mandatory()
    if task.combiner:
        names = state_of(task).names
        for name in task.combiner:
            if name not in names:
                raise _combiner_error(type(task), name, task.split_names())


def operation_hash(task_class: type[Task]) -> bytes:
    """Digest of what a task class does (its code or command), memoised on it.

    The memo keeps the guards of the code digests it used: when a name that
    code read was rebound (a constant or a helper redefined in a notebook
    cell), the guards fail and the hash is computed again. Pickled into a
    worker, the memo keeps its digest and no guards.
    """
    memo = task_class.__dict__.get("_op_hash")
    if memo is not None and memo[1].hold():
        return memo[0]
    op_hash, guards = guarded(
        lambda: combine_digests(
            b"operation",
            task_class._kind.encode(),
            task_class._compute_operation_hash(),
        )
    )
    task_class._op_hash = (op_hash, guards)
    return op_hash


def execute(
    task_class: type[Task], inputs: Mapping[str, Any], output_dir: Path
) -> dict[str, Any]:
    """Run a task once on concrete inputs in ``output_dir``; its outputs by name."""
    return task_class._execute(inputs, output_dir)


def _unknown_input_error(cls: type[Task], unknown: list[str]) -> TaskInputError:
    known = ", ".join(spec.name for spec in cls._input_specs) or "none"
    msg = f"{cls.__name__}: unknown input(s) {', '.join(map(repr, unknown))}; its inputs are: {known}"
    return TaskInputError(msg, task=cls.__name__, field=unknown[0])


def _check_split_names(cls: type[Task], values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - {spec.name for spec in cls._input_specs})
    if unknown:
        raise _unknown_input_error(cls, unknown)


def _check_combiner(task: Task, combiner: Sequence[str]) -> None:
    """Refuse the combiner names that can never be valid for ``task``.

    A plain name is always this task's own field (a workflow qualifies it as
    ``"Node.name"``): it must be an input, and one of the split fields once
    the task is split. A dotted name is left to the workflow, where it may
    name an upstream node's split field.
    """
    cls = type(task)
    inputs = {spec.name for spec in cls._input_specs}
    split = task.split_names() if task.splitter is not None else None
    for name in combiner:
        if not isinstance(name, str) or not name:
            msg = (
                f"{cls.__name__}.combine() takes field names (str), got {name!r}; "
                "e.g. .split(x=[1, 2]).combine('x')"
            )
            raise StateError(msg)
        if "." in name:
            continue
        if name not in inputs or (split is not None and name not in split):
            raise _combiner_error(cls, name, split)


def _combiner_error(
    cls: type[Task], name: str, split: Sequence[str] | None
) -> StateError:
    task = cls.__name__
    if "." in name:
        what = f"{name!r} names a workflow node's field, but {task} is submitted alone"
    elif name not in {spec.name for spec in cls._input_specs}:
        known = ", ".join(spec.name for spec in cls._input_specs) or "none"
        what = f"{task} has no input {name!r} (its inputs: {known})"
    else:
        what = f"{task} is not split over {name!r}"
    if split:
        fix = f"combine a field it is split over: {', '.join(map(repr, split))}"
    else:
        field = name.rsplit(".", 1)[-1]
        fix = f"split it first, e.g. {task}().split({field}=[...]).combine({field!r})"
    return StateError(f"{task}.combine({name!r}): {what}; {fix}")


def _refuse_lazy_split(cls: type[Task], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if is_lazy(value):
            msg = (
                f"{cls.__name__}.split({key}=...) got the lazy output {value!r}; "
                "splitting over another node's output is not supported: split "
                "over a concrete list, or split the upstream node instead and let "
                "this node inherit its states"
            )
            raise StateError(msg)


def _convert_field(value: Any, task: Task, field: attrs.Attribute) -> Any:
    """attrs converter: check and coerce a field value when it is set."""
    name = type(task).__name__
    if value is UNSET:
        return value
    if is_lazy(value):
        check_connection(value, name, field.name, field.type)
        return value
    if task.__dict__.get("_splitter") is not None and isinstance(value, list):
        task.__dict__.pop("_state", None)  # the lengths may change: state_of rebuilds
        return StateArray(
            coerce(item, field.type, task=name, field=field.name) for item in value
        )
    return coerce(value, field.type, task=name, field=field.name)


_MEMBERS: dict[type, frozenset[str]] = {}


def _members(base: type[Task]) -> frozenset[str]:
    """The public attribute names every task of kind ``base`` has (and ``self``)."""
    members = _MEMBERS.get(base)
    if members is None:
        public = {n for n in dir(base) if not n.startswith("_")}
        members = _MEMBERS[base] = frozenset({*public, "Outputs", "self"})
    return members


def _name_problem(name: str, members: frozenset[str], kind: str) -> str | None:
    if not isinstance(name, str) or not name.isidentifier():
        return "it is not a Python identifier"
    if keyword.iskeyword(name):
        return "it is a Python keyword"
    if name.startswith("__") and name.endswith("__"):
        return "it is a dunder name, reserved by Python"
    if name.startswith("_"):
        return "names starting with '_' are reserved for pydra_lite's own members"
    if name in members:
        if name == "self":
            return "it is the name of the instance in the task's methods"
        return f"every {kind} task has a member {name!r}"
    return None


def _renamed(name: str) -> str:
    stripped = str(name).strip("_")
    if stripped.isidentifier() and not name.startswith("_"):
        return f"{stripped}_"
    return stripped if stripped.isidentifier() else "value"


def check_field_names(
    task: str,
    base: type[Task],
    inputs: Sequence[InputSpec],
    outputs: Sequence[OutputSpec],
) -> None:
    """Raise TaskDefinitionError for an input or output name that cannot work.

    Refused: keywords (attrs' generated ``__init__`` would not compile),
    names starting with ``_`` (dunders, and what attrs and the task classes
    keep for themselves), ``self``, and for inputs the members of the kind of
    task (``split``, ``combine``, ``splitter``, ``cmdline``, ``Outputs``, ...),
    which a field of that name would hide.
    """
    kind = base._kind
    sides: tuple[tuple[str, Sequence[Any], frozenset[str]], ...] = (
        ("input", inputs, _members(base)),
        ("output", outputs, frozenset({"self"})),
    )
    for side, specs, members in sides:
        for spec in specs:
            problem = _name_problem(spec.name, members, kind)
            if problem is not None:
                msg = (
                    f"{task}: {side} field {spec.name!r} cannot be used: {problem}; "
                    f"rename it, e.g. {_renamed(spec.name)!r}"
                )
                raise TaskDefinitionError(msg)


def make_task_class(
    name: str,
    base: type[Task],
    inputs: Sequence[InputSpec],
    outputs: Sequence[OutputSpec],
    namespace: Mapping[str, Any] | None = None,
    *,
    doc: str = "",
    module: str | None = None,
) -> type[Task]:
    """Build an attrs task class with typed, keyword-only, coerced inputs.

    Raises:
        TaskDefinitionError: for a field name that cannot work (see
            :func:`check_field_names`).
    """
    check_field_names(name, base, inputs, outputs)
    converter = attrs.Converter(_convert_field, takes_self=True, takes_field=True)  # type: ignore[call-overload]
    fields = {
        spec.name: attrs.field(
            default=spec.default,
            converter=converter,
            type=spec.type,
            metadata={"help": spec.help},
        )
        for spec in inputs
    }
    ns = dict(namespace or {})
    ns.update(
        _input_specs=tuple(inputs),
        _output_specs=tuple(outputs),
        Outputs=LazyOutputsClass(name, tuple(outputs)),
        __doc__=doc,
    )
    if module:
        ns["__module__"] = module
    cls = type(name, (base,), ns)
    task_class = attrs.define(
        cls, kw_only=True, slots=False, init=False, order=False, these=fields
    )
    task_class.__annotations__ = {spec.name: spec.type for spec in inputs}
    return task_class
