"""The fields of a shell task: what each input and output means on the command line.

Three kinds of field and one constant, all frozen attrs records:

* :class:`Arg` (made by :func:`arg`): an input rendered on the command line,
  after its option word ``argstr`` (``""`` for a positional argument).
* :class:`OutArg` (made by :func:`outarg`): an output file whose path is named
  on the command line; it is also an input (``str | bool``) that chooses the
  path: ``True`` renders its ``path_template``, a relative path names the file,
  ``False`` leaves an optional one out.
* :class:`Out` (made by :func:`out`): an output not on the command line, either
  computed by a ``callable`` after the command ran or a file at a fixed
  ``path_template`` that the tool writes.
* :class:`Word`: a constant word of the command line (``regrid`` in
  ``mrgrid <in> regrid <out>``).

An attribute left at :data:`KEEP` was not given; that is how an ``arg()`` passed
in ``define(inputs=...)`` overrides only what it names of a template field.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import attrs
from fileformats.generic import File

from pydra_lite.compose.base import UNSET


class _Keep(enum.Enum):
    """Marks an attribute that was not given (keep the template's value)."""

    KEEP = "KEEP"

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep.KEEP
"""The value of a field attribute that was not given."""


@attrs.frozen
class Arg:
    """An input of a shell task and how it is rendered on the command line.

    Attributes:
        name: the field name (set by ``define``).
        type: the field type; in the class form it comes from the annotation.
        default: the default value; ``UNSET`` makes the input mandatory.
        help: one line of help text.
        argstr: the option word before the value; ``""`` for a positional
            argument; ending in ``=`` glues the value to it (``--out=x``).
        position: 1, 2, ... from the start, -1, -2, ... from the end; fields
            without one keep their order between the two groups.
        sep: joins the items of a list or tuple into one argument.
        repeat: for a list, repeat the option word before each item (Pydra's
            choice, the default) or give it once before all the items.
    """

    name: str = ""
    type: Any = KEEP
    default: Any = KEEP
    help: str = KEEP
    argstr: str = KEEP
    position: int | None = KEEP
    sep: str | None = KEEP
    repeat: bool = KEEP

    kind: ClassVar[str] = "arg"


@attrs.frozen
class OutArg:
    """An output file whose path is an argument of the command.

    Attributes:
        name: the field name, of both the output and the input choosing its path.
        type: the output type, e.g. ``NiftiGz``; ``T | None`` when optional.
        help: one line of help text.
        argstr: the option word before the path; ``""`` for a positional one.
        position: as for :class:`Arg`.
        path_template: the file name, formatted with the inputs
            (``"{in_file.stem}_out"``); the type's extension is added when
            missing. Defaults to the field name.
        optional: left off the command line unless its input is set.
    """

    name: str = ""
    type: Any = KEEP
    help: str = KEEP
    argstr: str = KEEP
    position: int | None = KEEP
    path_template: str | None = KEEP
    optional: bool = KEEP

    kind: ClassVar[str] = "outarg"


@attrs.frozen
class Out:
    """An output that is not on the command line.

    Attributes:
        name: the field name.
        type: the output type.
        help: one line of help text.
        callable: computes the value after the command ran; it is called with
            those of ``output_dir``, ``inputs``, ``stdout``, ``stderr``,
            ``return_code`` and the input names that it takes as parameters.
        path_template: the name of a file the tool writes in its working
            directory, formatted like :attr:`OutArg.path_template`.
    """

    name: str = ""
    type: Any = KEEP
    help: str = KEEP
    callable: Callable[..., Any] | None = KEEP
    path_template: str | None = KEEP

    kind: ClassVar[str] = "out"


@attrs.frozen
class Word:
    """A constant word of the command line, e.g. a sub-command."""

    text: str
    position: int | None = None

    kind: ClassVar[str] = "word"


Field = Arg | OutArg | Out
F = TypeVar("F", Arg, OutArg, Out)
Item = Arg | OutArg | Word
"""What the command line is made of, in order."""


def arg(
    *,
    help: str = KEEP,
    default: Any = KEEP,
    argstr: str = KEEP,
    position: int | None = KEEP,
    sep: str | None = KEEP,
    repeat: bool = KEEP,
    type: Any = KEEP,
) -> Any:
    """Describe an input of a shell task (see :class:`Arg` for each option).

    Used as the default of an annotated attribute in the class form, or in
    ``define(template, inputs={"name": arg(...)})`` to add to or change a
    template field. Typed ``Any`` so that ``x: int = shell.arg(...)`` type-checks.
    """
    return Arg(
        type=type, default=default, help=help, argstr=argstr,
        position=position, sep=sep, repeat=repeat,
    )  # fmt: skip


def outarg(
    *,
    help: str = KEEP,
    argstr: str = KEEP,
    position: int | None = KEEP,
    path_template: str | None = KEEP,
    optional: bool = KEEP,
    type: Any = KEEP,
) -> Any:
    """Describe an output file named on the command line (see :class:`OutArg`)."""
    return OutArg(
        type=type, help=help, argstr=argstr, position=position,
        path_template=path_template, optional=optional,
    )  # fmt: skip


def out(
    *,
    help: str = KEEP,
    callable: Callable[..., Any] | None = KEEP,
    path_template: str | None = KEEP,
    type: Any = KEEP,
) -> Any:
    """Describe an output not on the command line (see :class:`Out`)."""
    return Out(type=type, help=help, callable=callable, path_template=path_template)


def given(field: Field) -> dict[str, Any]:
    """The attributes of ``field`` that were given (not :data:`KEEP`)."""
    return {
        key: value
        for key, value in attrs.asdict(field, recurse=False).items()
        if value is not KEEP and key != "name"
    }


def merge(base: F, override: F) -> F:
    """``base`` with the attributes given in ``override``."""
    return attrs.evolve(base, **given(override))


_ARG_DEFAULTS = {
    "type": Any, "default": UNSET, "help": "", "argstr": "",
    "position": None, "sep": None, "repeat": True,
}  # fmt: skip
_OUTARG_DEFAULTS = {
    "type": File, "help": "", "argstr": "", "position": None,
    "path_template": None, "optional": False,
}  # fmt: skip
_OUT_DEFAULTS = {"type": File, "help": "", "callable": None, "path_template": None}


def complete(field: F) -> F:
    """``field`` with every attribute still :data:`KEEP` set to its default."""
    defaults = {"arg": _ARG_DEFAULTS, "outarg": _OUTARG_DEFAULTS, "out": _OUT_DEFAULTS}
    missing: dict[str, Any] = {
        key: value
        for key, value in defaults[field.kind].items()
        if getattr(field, key) is KEEP
    }
    return attrs.evolve(field, **missing)
