"""Path templates: the file names of a shell task's outputs, made from its inputs.

A template is a :meth:`str.format` string over the task's inputs, e.g.
``"{in_file.stem}_regrid"``. A file or path input stands for its stem (the
name without the format's extension), so ``"{in_file}_out"`` and
``"{in_file.stem}_out"`` are the same; ``.name`` gives the whole file name
and ``.ext`` its extension. Any other input is itself (``"{n:03d}"`` works).
When the output's type has an extension (``.nii.gz`` for ``NiftiGz``) and the
rendered name does not end with it, it is appended.
"""

from __future__ import annotations

import os
import string
import types
import typing
from collections.abc import Mapping
from pathlib import Path
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
