"""Path templates: the file names of a shell task's outputs, made from its inputs.

A template is a :meth:`str.format` string over the task's inputs, e.g.
``"{in_file.stem}_regrid"``. A file or path input stands for its stem (the
name without the format's extension), so ``"{in_file}_out"`` and
``"{in_file.stem}_out"`` are the same; ``.name`` gives the whole file name
and ``.ext`` its extension. Any other input is itself (``"{n:03d}"`` works).
When the output's type has an extension (``.nii.gz`` for ``NiftiGz``) and the
rendered name does not end with it, it is appended.

:func:`check_output_path` is the rule every output path obeys, whatever made
it (a template, a name the user gave): relative, inside the output directory,
one line of printable text. :func:`template_fields` names the inputs a template
uses, so that a check can say where a bad path came from, and run on each
state of a split over only the dimensions the path depends on.
"""

from __future__ import annotations

import os
import re
import string
import types
import typing
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from fileformats.core import FileSet

from pydra_lite.errors import PathTemplateError


class PathValue:
    """A file or path input as a template sees it: its stem, name and extension."""

    def __init__(self, path: str, stem: str) -> None:
        self.path = path
        self.name = os.path.basename(path)
        self.stem = stem
        self.ext = self.name[len(stem) :]

    def __str__(self) -> str:
        return self.stem

    def __format__(self, spec: str) -> str:
        return format(self.stem, spec)


def template_value(value: Any) -> Any:
    """What ``{name}`` stands for in a template when the input holds ``value``."""
    if not isinstance(value, os.PathLike):  # fileformats objects are path-like
        return value
    path = str(os.fspath(value))
    if isinstance(value, FileSet):
        return PathValue(path, fileset_stem(value, path))
    return PathValue(path, Path(path).stem)


def fileset_stem(value: FileSet, path: str) -> str:
    """The file name without the extension of the value's format."""
    try:
        return str(value.stem)  # type: ignore[attr-defined]
    except Exception:  # a generic File has no known extension to strip
        return Path(path).stem


def file_type(annotation: Any) -> type | None:
    """The file class inside ``annotation`` (``NiftiGz | None`` → ``NiftiGz``)."""
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    for member in members:
        if isinstance(member, type) and issubclass(member, FileSet | os.PathLike):
            return member
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def extension(kind: type | None) -> str:
    """The extension that files of ``kind`` carry, or ``""``."""
    if kind is None or not issubclass(kind, FileSet):
        return ""
    ext = getattr(kind, "ext", None)
    return ext if isinstance(ext, str) else ""


def render_path_template(
    template: str, inputs: Mapping[str, Any], kind: type | None = None
) -> str:
    """The file name ``template`` gives for ``inputs``, with the type's extension.

    Raises:
        PathTemplateError: naming the template and the inputs it may use.
    """
    values = {key: template_value(value) for key, value in inputs.items()}
    try:
        name = string.Formatter().vformat(template, (), values)
    except (KeyError, AttributeError, IndexError, ValueError) as exc:
        msg = (
            f"path template {template!r} cannot be rendered ({type(exc).__name__}: "
            f"{exc}); it may use the inputs {', '.join(sorted(inputs))}, and "
            "{name.stem}, {name.name} or {name.ext} of file inputs"
        )
        raise PathTemplateError(msg) from exc
    ext = extension(kind)
    return name if not ext or name.endswith(ext) else name + ext


# --- the rule of every output path ------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_ROOT = re.compile(r"[^.\[]*")


def template_fields(template: str) -> tuple[str, ...]:
    """The input names that ``template`` uses (``{in_file.stem}`` → ``in_file``).

    A template :meth:`str.format` cannot parse uses none; rendering it says why.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return ()
    names: list[str] = []
    for _, field, _, _ in parsed:
        root = "" if field is None else _root(field)
        if root and root not in names:
            names.append(root)
    return tuple(names)


def _root(field: str) -> str:
    match = _FIELD_ROOT.match(field)
    return match.group() if match else ""


def template_skeleton(template: str) -> str | None:
    """``template`` with each field replaced by ``x``: what it gives whatever the
    inputs hold, to refuse at definition a template that always escapes
    (``/tmp/{name}``, ``../{name}``). None when ``str.format`` cannot parse it."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    return "".join(
        text + ("" if field is None else "x") for text, field, _, _ in parsed
    )


def output_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be an output path, or None when it can.

    It must be relative to the output directory and stay inside it after
    normalisation: not absolute, no ``..`` component, not empty nor the
    directory itself (``""``, ``"."``, ``"./"``), and no control character
    (a NUL cannot be in a path; a newline or a tab makes a name no tool
    lists or quotes reliably).
    """
    if _CONTROL.search(path):
        return "contains a control character (a NUL, a newline, a tab, ...)"
    pure = PurePosixPath(path)
    if pure.is_absolute():
        return "is an absolute path"
    if ".." in pure.parts:
        return "has a '..' component (it leads out of the output directory)"
    if not pure.parts:
        return "is empty: it names the output directory itself, not a file in it"
    return None


def check_output_path(task: str, name: str, path: str, source: str) -> str:
    """``path`` itself, when it is a valid output path (see
    :func:`output_path_problem`).

    Args:
        task: the task class's name.
        name: the output's name.
        path: the rendered (or given) path, relative to the output directory.
        source: where ``path`` came from, e.g. ``"the path template '{x}'
            with the input x='../a'"``.

    Raises:
        PathTemplateError: naming the task, the output, the path, its source
            and the fix.
    """
    problem = output_path_problem(path)
    if problem is None:
        return path
    if problem.startswith("contains"):
        fix = "remove the control character from the value"
    else:
        fix = "pass a file name, not a path (e.g. 'out.txt' or 'sub/out.txt')"
    msg = (
        f"{task}: output {name!r} would be written at {path!r}, which {problem}; "
        f"that path comes from {source}. An output path must be relative to the "
        "task's output directory and stay inside it (the task's cache entry, "
        f"where the command runs): {fix}, and copy the output elsewhere after the "
        "run if it must live there"
    )
    raise PathTemplateError(msg)
