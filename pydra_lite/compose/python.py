"""Python-function tasks: ``python.define`` in its function and class forms.

Inputs come from the function's signature (annotation → type, default →
default, unannotated → Any) and help text from its Google- or NumPy-style
docstring (``signature.py``). Outputs: one ``out`` by default; ``outputs=["a", "b"]`` unpacks a
tuple return; ``outputs={"a": int}`` also gives types. The class form is a
class with annotated inputs, a static ``function`` and an optional nested
``Outputs`` class of annotated outputs.

The operation hash is the function's (see :func:`pydra_lite.hashing.hash_function`)
unless ``version=`` is given, which replaces the code by that label.

A running function finds its output directory with :func:`output_dir`: the
process's working directory is never changed for it.
"""

from __future__ import annotations

import contextvars
import inspect
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
from pydra_lite.compose.signature import (
    inputs_from_signature,
    output_specs_from,
    parse_docstring_args,
    unpack_returned,
)
from pydra_lite.errors import TaskDefinitionError
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
    outputs = unpack_returned(names, returned)
    if outputs is None:
        msg = (
            f"{cls.__name__} declares {len(names)} outputs {names} but its function "
            f"returned {returned!r} ({type(returned).__name__}); return a tuple of "
            f"{len(names)} values"
        )
        raise TaskDefinitionError(msg)
    return outputs


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
