"""Checking and coercion of values against type annotations.

This package owns the rules that decide whether a value fits a task field, the
conversions made on the way (``int`` → ``float``, ``list`` → ``tuple``, ``str`` →
``Path`` or a fileformats class), the text of the error when it does not fit, and
the static check of workflow connections (:func:`is_compatible`).

Algorithm:
    :func:`make_coercer` compiles an annotation once (memoised) into a closure that
    returns the coerced value or raises :class:`TypeMismatch`. Scalars check the
    exact type first, so the common case costs one ``type(x) is int``. Containers
    compose the closures of their item types and add the item's position to the
    mismatch's ``path`` as it propagates out. Every annotation has two compiled
    forms: *converting* (the one users get) and *strict* (accepts only values that
    need no conversion). A union tries the strict form of each member first, then
    the converting form, so ``int | float`` keeps ``1`` an ``int``.

Choices:
    * A ``bool`` is refused where a number is expected: although ``bool`` subclasses
      ``int``, a bool in a numeric field is nearly always a mistake.
    * Numbers widen only: ``int`` (and any ``numbers.Real``, e.g. numpy scalars) is
      accepted for ``float``; ``float`` is never truncated to ``int``; numpy
      integers become ``int``. Strings are never parsed into numbers.
    * ``str`` and ``bytes`` are never converted into each other, and a ``str`` is
      never accepted as a collection (not even for ``Sequence[str]``): that is
      nearly always ``x="a"`` meant as ``x=["a"]``.
    * A set is refused for ``list``/``tuple``/``Sequence``: its order is arbitrary.
    * ``os.PathLike`` values (``Path``, fileformats objects) are accepted for
      ``str`` fields as their path text.
    * A fileformats field accepts a path (``str`` / ``Path``) of an existing file
      of that format, and a fileformats object of another class when the files
      also validate as the expected class (a ``File`` given for a ``Nifti``).
    * ``None`` as an annotation object means *no annotation* (attrs uses it), like
      ``Any``, ``object`` and a ``TypeVar``; ``type(None)`` means the value None.

Modules: :mod:`.annotation` (normalising and naming annotations),
:mod:`.mismatch` (the internal error and its message), :mod:`.coercer` (the
compiler, scalars, files, unions), :mod:`.container` (lists, tuples, sets,
mappings) and :mod:`.compatibility` (static checks of connections).
"""

from pydra_lite.typecheck.annotation import type_name
from pydra_lite.typecheck.coercer import coerce, make_coercer
from pydra_lite.typecheck.compatibility import is_compatible
from pydra_lite.typecheck.mismatch import TypeMismatch

__all__ = ["TypeMismatch", "coerce", "is_compatible", "make_coercer", "type_name"]
