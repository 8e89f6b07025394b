"""``shell.define``: the fields of a shell task from a template or a class.

The template form parses the template (:mod:`.template`), then merges each
``inputs=`` / ``outputs=`` entry into the template field of its name or adds
it. The class form reads ``executable``, the annotated inputs (an ``arg()``
default, or a plain default) and the nested ``Outputs`` class (``outarg()`` and
``out()`` fields); help comes from ``arg(help=...)`` or the docstrings' ``Args:``
sections. Both end in :func:`~.task.build_class`.
"""

from __future__ import annotations

import inspect
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from pydra_lite.compose.base import Task
from pydra_lite.compose.shell import fields as fl
from pydra_lite.compose.shell.fields import KEEP, Arg, F, Item, Out, OutArg, Word
from pydra_lite.compose.shell.task import build_class
from pydra_lite.compose.shell.template import parse_template
from pydra_lite.compose.signature import parse_docstring_args
from pydra_lite.errors import TaskDefinitionError, TemplateError


def define(
    wrapped: Any = None,
    /,
    *,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    name: str | None = None,
    version: str | None = None,
    help: str = "",
) -> Any:
    """Make a shell task class from a command-line template or a class.

    Args:
        wrapped: a template such as ``"cp <in_file:file> <out|out_file:file>"``,
            or a class with ``executable``, annotated ``arg()`` inputs and a
            nested ``Outputs`` class. Usable as ``@shell.define`` and
            ``@shell.define(version="3.0")``.
        inputs: per input name, an ``arg(...)`` changing or adding a field, or
            its help text.
        outputs: per output name, an ``outarg(...)``, an ``out(...)``, a
            callable (``out(callable=...)``) or its help text.
        name: the class name; defaults to the executable in CamelCase.
        version: a label of the tool's version, hashed into every job.
        help: the class's docstring (the template form).
    """
    module = sys._getframe(1).f_globals.get("__name__", "__main__")

    def build(obj: Any) -> type[Task]:
        if isinstance(obj, str):
            return _from_template(obj, inputs, outputs, name, version, help, module)
        if inspect.isclass(obj) and not (inputs or outputs or help):
            return _from_class(obj, name, version)
        if inspect.isclass(obj):
            msg = f"shell.define: class {obj.__name__} describes its fields itself; inputs=, outputs= and help= are for templates"
            raise TaskDefinitionError(msg)
        msg = f"shell.define takes a template string or a class, not {obj!r} ({type(obj).__name__})"
        raise TaskDefinitionError(msg)

    return build if wrapped is None else build(wrapped)


def _from_template(
    template: str,
    inputs: Mapping[str, Any] | None,
    outputs: Mapping[str, Any] | None,
    name: str | None,
    version: str | None,
    help: str,
    module: str,
) -> type[Task]:
    executable, items = parse_template(template)
    outs: list[Out] = []
    for key, value in (inputs or {}).items():
        _override(items, key, _as_input(key, value))
    for key, value in (outputs or {}).items():
        field = _as_output(key, value)
        if isinstance(field, Out):
            outs.append(field)
        else:
            _override(items, key, field)
    task_name = name or default_name(executable)
    return build_class(task_name, executable, items, outs, version, help, module)


def _as_input(key: str, value: Any) -> Arg:
    if isinstance(value, str):
        return Arg(name=key, help=value)
    if isinstance(value, Arg):
        return attrs.evolve(value, name=key)
    msg = f"shell.define(inputs=...): {key!r} must be shell.arg(...) or its help text, not {value!r}"
    raise TaskDefinitionError(msg)


def _as_output(key: str, value: Any) -> OutArg | Out:
    if isinstance(value, str):
        return OutArg(name=key, help=value)
    if isinstance(value, OutArg | Out):
        return attrs.evolve(value, name=key)
    if callable(value):
        return Out(name=key, callable=value)
    msg = f"shell.define(outputs=...): {key!r} must be shell.outarg(...), shell.out(...), a callable or its help text, not {value!r}"
    raise TaskDefinitionError(msg)


def _override(items: list[Item], key: str, field: Arg | OutArg) -> None:
    """Merge ``field`` into the template item of that name, or add it."""
    for index, item in enumerate(items):
        if isinstance(item, Word) or item.name != key:
            continue
        items[index] = _merged(item, field)
        return
    if set(fl.given(field)) <= {"help"}:
        maker = "arg(type=...)" if isinstance(field, Arg) else "outarg(...)"
        msg = f"shell.define: {key!r} is not in the template; add it with shell.{maker}"
        raise TemplateError(msg)
    items.append(field)


def _merged(item: Arg | OutArg, field: Arg | OutArg) -> Arg | OutArg:
    if isinstance(item, Arg) and isinstance(field, Arg):
        return fl.merge(item, field)
    if isinstance(item, OutArg) and isinstance(field, OutArg):
        return fl.merge(item, field)
    msg = f"shell.define: {item.name!r} is an {item.kind} in the template, not an {field.kind}"
    raise TemplateError(msg)


def default_name(executable: tuple[str, ...]) -> str:
    """``("mrgrid",)`` → ``Mrgrid``; ``("git", "status")`` → ``GitStatus``."""
    words = [Path(executable[0]).name, *executable[1:]]
    parts = [p for w in words for p in re.split(r"[^0-9A-Za-z]+", w) if p]
    name = "".join(part[:1].upper() + part[1:] for part in parts)
    return name if name[:1].isalpha() else f"Shell{name}"


def _from_class(cls: type, name: str | None, version: str | None) -> type[Task]:
    executable = _class_executable(cls)
    helps = parse_docstring_args(cls.__doc__ or "")
    items: list[Item] = [
        _class_input(cls, key, annotation, helps.get(key, ""))
        for key, annotation in _annotations(cls).items()
        if key != "executable"
    ]
    outs: list[Out] = []
    out_cls: type = cls.__dict__.get("Outputs") or _NoOutputs
    out_helps = parse_docstring_args(out_cls.__doc__ or "")
    for key, annotation in _annotations(out_cls).items():
        field = _class_output(out_cls, key, annotation, out_helps.get(key, ""))
        if isinstance(field, Out):
            outs.append(field)
        else:
            items.append(field)
    doc = inspect.getdoc(cls) or ""
    task_name = name or cls.__name__
    return build_class(task_name, executable, items, outs, version, doc, cls.__module__)


class _NoOutputs:
    """The outputs of a class without a nested Outputs class: none declared."""


def _class_executable(cls: type) -> tuple[str, ...]:
    value = cls.__dict__.get("executable")
    words = shlex.split(value) if isinstance(value, str) else list(value or ())
    if not words or not all(isinstance(word, str) for word in words):
        msg = f"shell.define: class {cls.__name__} needs executable = 'tool' (a str or a list of str)"
        raise TemplateError(msg)
    return tuple(words)


def _annotations(cls: type) -> dict[str, Any]:
    try:
        return inspect.get_annotations(cls, eval_str=True)
    except NameError as exc:  # a type defined in a function, under `from __future__`
        msg = f"shell.define: cannot resolve the annotations of {cls.__qualname__}: {exc}; define the types at module level"
        raise TemplateError(msg) from exc


def _class_input(owner: type, key: str, annotation: Any, help: str) -> Arg:
    value = owner.__dict__.get(key, KEEP)
    if isinstance(value, OutArg | Out):
        msg = f"shell.define: output {key!r} of {owner.__qualname__} belongs in its nested Outputs class"
        raise TemplateError(msg)
    field = value if isinstance(value, Arg) else Arg(default=value)
    return _annotated(field, key, annotation, help)


def _class_output(owner: type, key: str, annotation: Any, help: str) -> OutArg | Out:
    value = owner.__dict__.get(key)
    if isinstance(value, OutArg):
        return _annotated(value, key, annotation, help)
    if isinstance(value, Out):
        return _annotated(value, key, annotation, help)
    msg = f"shell.define: output {key!r} of {owner.__qualname__} needs shell.outarg(...) or shell.out(...)"
    raise TemplateError(msg)


def _annotated(field: F, key: str, annotation: Any, help: str) -> F:
    """``field`` named ``key``, with the annotation and help unless it gives its own."""
    changes: dict[str, Any] = {"name": key}
    if field.type is KEEP:
        changes["type"] = annotation
    if field.help is KEEP:
        changes["help"] = help
    return attrs.evolve(field, **changes)
