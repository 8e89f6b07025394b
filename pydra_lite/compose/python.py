"""Python-function tasks: ``python.define`` in its function and class forms.

Inputs come from the function's signature (annotation → type, default →
default, unannotated → Any) and help text from its Google- or NumPy-style
docstring. Outputs: one ``out`` by default; ``outputs=["a", "b"]`` unpacks a
tuple return; ``outputs={"a": int}`` also gives types. The class form is a
class with annotated inputs, a static ``function`` and an optional nested
``Outputs`` class of annotated outputs.

The operation hash is the function's (see :func:`pydra_lite.hash.hash_function`)
unless ``version=`` is given, which replaces the code by that label.

A running function finds its output directory with :func:`output_dir`: the
process's working directory is never changed for it.
"""

from __future__ import annotations

import contextvars
import inspect
import re
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydra_lite.compose.base import (
    UNSET,
    InputSpec,
    OutputSpec,
    Task,
    make_task_class,
)
from pydra_lite.errors import TaskDefinitionError, TaskInputError
from pydra_lite.hashing import combine_digests, hash_function

_OUTPUT_DIR: contextvars.ContextVar[Path] = contextvars.ContextVar("output_dir")


def output_dir() -> Path:
    """The output directory of the python task running now.

    Write files there (``output_dir() / "plot.png"``) and return them as
    ``File`` outputs: they live in the task's cache entry.
    """
    try:
        return _OUTPUT_DIR.get()
    except LookupError:
        msg = "output_dir() is only available while a pydra_lite python task runs"
        raise RuntimeError(msg) from None


@contextmanager
def running_in(directory: Path) -> Iterator[None]:
    """Make :func:`output_dir` return ``directory`` for the enclosed code."""
    token = _OUTPUT_DIR.set(directory)
    try:
        yield
    finally:
        _OUTPUT_DIR.reset(token)


class PythonTask(Task):
    """Base of the task classes made by :func:`define`."""

    _kind = "python"
    _function: Callable[..., Any]
    _version: str | None = None

    @classmethod
    def _compute_operation_hash(cls) -> bytes:
        if cls._version is not None:
            return combine_digests(b"version", cls._version.encode())
        return hash_function(cls._function)

    @classmethod
    def _execute(cls, inputs: Mapping[str, Any], output_dir: Path) -> dict[str, Any]:
        with running_in(output_dir):
            returned = cls._function(**inputs)
        return _outputs_by_name(cls, returned)


def _outputs_by_name(cls: type[PythonTask], returned: Any) -> dict[str, Any]:
    names = [spec.name for spec in cls._output_specs]
    if len(names) == 1:
        return {names[0]: returned}
    if not isinstance(returned, tuple | list) or len(returned) != len(names):
        msg = (
            f"{cls.__name__} declares {len(names)} outputs {names} but its function "
            f"returned {returned!r} ({type(returned).__name__}); return a tuple of "
            f"{len(names)} values"
        )
        raise TaskDefinitionError(msg)
    return dict(zip(names, returned, strict=True))


def define(
    wrapped: Any = None,
    /,
    *,
    outputs: Sequence[str] | Mapping[str, Any] | None = None,
    name: str | None = None,
    version: str | None = None,
) -> Any:
    """Make a python task class from a function or a class.

    Usable bare (``@python.define``) or with options
    (``@python.define(outputs=["mean", "spread"], version="2")``).

    Args:
        wrapped: the function, or a class with annotated inputs and a static
            ``function``.
        outputs: output names (a tuple return is unpacked into them), or a
            mapping of names to types.
        name: the task class name; defaults to the function's name.
        version: replaces the function's code in the operation hash.
    """

    def decorate(obj: Any) -> type[Task]:
        if inspect.isclass(obj):
            return _define_from_class(obj, name=name, version=version)
        return _define_from_function(obj, outputs, name=name, version=version)

    return decorate if wrapped is None else decorate(wrapped)


def _define_from_function(
    func: Callable[..., Any],
    outputs: Sequence[str] | Mapping[str, Any] | None,
    *,
    name: str | None,
    version: str | None,
) -> type[Task]:
    helps = parse_docstring_args(func.__doc__ or "")
    inputs = inputs_from_signature(func, helps)
    output_specs = output_specs_from(func, outputs)
    return _make_python_class(
        name or func.__name__, func, inputs, output_specs, version, func.__module__
    )


def _define_from_class(
    cls: type, *, name: str | None, version: str | None
) -> type[Task]:
    func = cls.__dict__.get("function")
    if func is None:
        msg = f"python.define: class {cls.__name__} needs a static method 'function'"
        raise TaskDefinitionError(msg)
    func = func.__func__ if isinstance(func, staticmethod) else func
    hints = typing.get_type_hints(cls)
    helps = parse_docstring_args(cls.__doc__ or "")
    inputs = [
        InputSpec(key, hints[key], getattr(cls, key, UNSET), helps.get(key, ""))
        for key in cls.__annotations__
    ]
    out_cls = cls.__dict__.get("Outputs")
    if out_cls is not None:
        out_hints = typing.get_type_hints(out_cls)
        output_specs = [
            OutputSpec(key, out_hints[key]) for key in out_cls.__annotations__
        ]
    else:
        output_specs = output_specs_from(func, None)
    return _make_python_class(
        name or cls.__name__, func, inputs, output_specs, version, cls.__module__
    )


def _make_python_class(
    name: str,
    func: Callable[..., Any],
    inputs: Sequence[InputSpec],
    outputs: Sequence[OutputSpec],
    version: str | None,
    module: str,
) -> type[Task]:
    namespace = {"_function": staticmethod(func), "_version": version}
    doc = inspect.getdoc(func) or ""
    return make_task_class(
        name, PythonTask, inputs, outputs, namespace, doc=doc, module=module
    )


def inputs_from_signature(
    func: Callable[..., Any], helps: Mapping[str, str]
) -> list[InputSpec]:
    hints = _type_hints(func)
    specs = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            msg = f"python.define: {func.__name__} takes *{param.name}; tasks need named parameters"
            raise TaskDefinitionError(msg)
        default = UNSET if param.default is param.empty else param.default
        annotation = hints.get(param.name, Any)
        specs.append(
            InputSpec(param.name, annotation, default, helps.get(param.name, ""))
        )
    return specs


def output_specs_from(
    func: Callable[..., Any], outputs: Sequence[str] | Mapping[str, Any] | None
) -> list[OutputSpec]:
    returns = _type_hints(func).get("return", Any)
    if isinstance(outputs, Mapping):
        return [OutputSpec(key, typ) for key, typ in outputs.items()]
    if outputs is None:
        return [OutputSpec("out", returns)]
    if isinstance(outputs, str):
        outputs = [outputs]
    types = _tuple_members(returns, len(outputs))
    return [OutputSpec(key, typ) for key, typ in zip(outputs, types, strict=True)]


def _tuple_members(annotation: Any, count: int) -> list[Any]:
    """The member types of ``tuple[A, B]`` when it has ``count`` members, else Any."""
    args = typing.get_args(annotation)
    if (
        typing.get_origin(annotation) is tuple
        and len(args) == count
        and ... not in args
    ):
        return list(args)
    if count == 1:
        return [annotation]
    return [Any] * count


def _type_hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception as exc:  # a forward reference that cannot be resolved
        msg = f"python.define: cannot resolve the annotations of {func.__qualname__}: {exc}"
        raise TaskInputError(msg, task=func.__name__) from exc


_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\(.*?\))?\s*:\s*(.*)$")


def parse_docstring_args(doc: str) -> dict[str, str]:
    """Help text of each argument in a Google-style ``Args:`` section."""
    helps: dict[str, str] = {}
    in_args = False
    for line in inspect.cleandoc(doc).splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args and stripped and not line.startswith(" "):
            in_args = False
        match = _ARG_LINE.match(line) if in_args else None
        if match:
            helps[match.group(1)] = match.group(2).strip()
    return helps
