"""Node tasks: the pydra_lite task class that runs an ewoks task identifier.

An ewoks node names its task by ``task_type`` and ``task_identifier``:

* ``"class"``: an ewoks-style :class:`~pydra_lite.ewoks.task.Task` subclass,
  or a pydra_lite task class (used as it is), by dotted name or as the object;
* ``"method"``: a function, by dotted name or as the object; its return value
  is the one output ``return_value`` (as in ewokscore).

Every translated task is made with ``python.define``, so the engine runs it
like any other python task. Its identity (the operation hash) is the user's
code, not this module's wrapper: an ewoks class counts as the code of every
class in its MRO below :class:`Task` (``hash_function``, which also follows
the module-level helpers and constants ``run`` reads), passed to
``python.define`` as its ``version``; a function is hashed by
``python.define`` itself. Editing a ``run()`` therefore reruns its nodes.
An ewoks class's task class is made once per process and code identity.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

import attrs

from pydra_lite.compose import python
from pydra_lite.compose.base import UNSET, input_specs, output_specs
from pydra_lite.compose.base import Task as PydraTask
from pydra_lite.errors import WorkflowError
from pydra_lite.ewoks.task import MISSING_DATA, Task
from pydra_lite.hashing import hash_function

TASK_TYPES = ("class", "method")


def import_object(identifier: str, node: str) -> Any:
    """The object named by a dotted path (``"pkg.module.Class"``).

    Tries the longest importable module prefix, then reads the rest as
    attributes, so nested names (``"mod.Outer.Inner"``) work too.
    """
    parts = identifier.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    msg = (
        f"ewoks node {node!r}: cannot find task_identifier {identifier!r}; it must "
        "be an importable dotted name 'package.module.Name' (a class in a script "
        "run as __main__ is '__main__.Name'), or pass the class or function itself"
    )
    raise WorkflowError(msg)


def task_class_for(task_type: str, identifier: Any, node: str) -> type[PydraTask]:
    """The pydra_lite task class standing for one node's task."""
    if task_type not in TASK_TYPES:
        msg = (
            f"ewoks node {node!r}: task_type {task_type!r} is not supported; use "
            f"one of {list(TASK_TYPES)}"
        )
        raise WorkflowError(msg)
    target = (
        import_object(identifier, node) if isinstance(identifier, str) else identifier
    )
    if task_type == "method":
        return _method_task(target, node)
    if isinstance(target, type) and issubclass(target, PydraTask):
        return target
    if isinstance(target, type) and issubclass(target, Task):
        return _ewoks_task(target)
    msg = (
        f"ewoks node {node!r}: task_identifier {identifier!r} is {target!r}, not a "
        "subclass of pydra_lite.ewoks.Task or a pydra_lite task class; use "
        'task_type "method" for a function'
    )
    raise WorkflowError(msg)


def _method_task(func: Any, node: str) -> type[PydraTask]:
    if not callable(func) or isinstance(func, type):
        msg = f"ewoks node {node!r}: a 'method' task_identifier must name a function, got {func!r}"
        raise WorkflowError(msg)
    try:
        return python.define(func, outputs=["return_value"])
    except TypeError as exc:
        msg = f"ewoks node {node!r}: cannot use {func!r} as a method task: {exc}"
        raise WorkflowError(msg) from exc


def _ewoks_task(cls: type[Task]) -> type[PydraTask]:
    """A python task whose function runs ``cls`` on its inputs.

    Its code identity is taken on every call, so an edited class or helper
    still gets a task class of its own (and reruns); the attrs class of one
    identity, which every execute_graph call would otherwise build again, is
    made once per process.
    """
    # A class is hashable; mypy checks the instances' __hash__ instead.
    return _adapter_class(cls, code_identity(cls))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=256)
def _adapter_class(cls: type[Task], version: str) -> type[PydraTask]:
    """The task class of ``cls`` at code identity ``version`` (names included)."""
    outputs = list(cls.output_names())

    def run_ewoks_task(**inputs: Any) -> Any:
        values = cls(inputs).execute()
        ordered = tuple(values[name] for name in outputs)
        return ordered[0] if len(ordered) == 1 else ordered

    run_ewoks_task.__signature__ = _signature(cls)  # type: ignore[attr-defined]
    run_ewoks_task.__doc__ = cls.__doc__
    # Every port is Any, python.define's default: without annotations it has
    # no postponed "Any" strings to compile and evaluate.
    run_ewoks_task.__annotations__ = {}
    return python.define(
        run_ewoks_task, outputs=outputs, name=cls.__name__, version=version
    )


def _signature(cls: type[Task]) -> inspect.Signature:
    """Required inputs first (no default), then optional ones (MISSING_DATA)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    required = [inspect.Parameter(n, keyword) for n in cls.required_input_names()]
    optional = [
        inspect.Parameter(n, keyword, default=MISSING_DATA)
        for n in cls.optional_input_names()
        if n not in cls.required_input_names()
    ]
    return inspect.Signature(required + optional)


def code_identity(cls: type[Task]) -> str:
    """The code of ``cls`` and of its ewoks-task bases, as one label.

    ``hash_function`` of a class covers its own body only; a subclass that
    inherits ``run`` must also change when the parent's ``run`` does.
    """
    own = [k for k in cls.__mro__ if issubclass(k, Task) and k is not Task]
    digests = ":".join(hash_function(k).hex() for k in own)
    names = f"{cls.input_names()}->{cls.output_names()}"
    return f"ewoks:{cls.__module__}.{cls.__qualname__}:{names}:{digests}"


@attrs.frozen
class Ports:
    """The input and output names of one task class, for checking a graph."""

    task: str
    required: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    input_set: frozenset[str]
    output_set: frozenset[str]

    @classmethod
    def of(cls, task_class: type[PydraTask]) -> Ports:
        specs = input_specs(task_class)
        inputs = tuple(s.name for s in specs)
        outputs = tuple(s.name for s in output_specs(task_class))
        required = tuple(s.name for s in specs if s.default is UNSET)
        name = task_class.__name__
        return cls(
            name, required, inputs, outputs, frozenset(inputs), frozenset(outputs)
        )
