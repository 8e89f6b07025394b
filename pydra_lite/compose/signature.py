"""Task fields from a function's signature and docstring, and returns unpacked.

Shared by every ``define`` that reads a function (``python.define`` from the
task's function, ``workflow.define`` from its constructor, ``shell.define``
for help text): annotation → type, default → default, unannotated → Any,
Google-style ``Args:`` lines → help. Outputs: one ``out`` by default;
``outputs=["a", "b"]`` unpacks a tuple return; ``outputs={"a": int}`` also
gives types.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydra_lite.compose.base import UNSET, InputSpec, OutputSpec
from pydra_lite.errors import TaskDefinitionError, TaskInputError


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


def unpack_returned(names: Sequence[str], returned: Any) -> dict[str, Any] | None:
    """What a function returned, by output name; None when it does not fit.

    One output takes the value whole; several take the items of a tuple or
    list of that length. The caller says, in its own terms, what was wrong.
    """
    if len(names) == 1:
        return {names[0]: returned}
    if not isinstance(returned, tuple | list) or len(returned) != len(names):
        return None
    return dict(zip(names, returned, strict=True))
