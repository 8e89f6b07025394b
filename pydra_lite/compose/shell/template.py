"""Command-line templates: ``"tool <in:generic/file> -n <n:int?> <out|out:file>"``.

The grammar, Pydra's:

* The leading words without ``<>`` (and not starting with ``-``) are the
  executable: ``git status`` runs ``git`` with the constant word ``status``.
* ``<name:type>`` is a positional input; ``-n <name:type>`` an option with a
  value; ``--flag<name>`` (the field glued to the option word) a boolean flag,
  given when True; ``--opt=<name:type>`` glues the value to the option word.
* ``<out|name:type>`` is an output file named on the command line;
  ``<out|name:type$template>`` gives its path template.
* After the type: ``?`` optional (default None, left out when None), ``+`` one
  or more and ``*`` zero or more (a list, one argument per item), ``=value`` a
  default (a Python literal, or a bare word taken as text).
* Types: ``int``, ``float``, ``str``, ``bool``, ``path``, ``file``,
  ``directory``, ``fs-object``, MIME-like fileformats names
  (``medimage/nifti-gz``), ``list[T]``, ``tuple[A,B]``, ``A,B`` (a tuple) and
  ``A,...`` (a tuple of any length). Without a type, a positional input is a
  ``generic/fs-object``, an option value a ``str``, a flag a ``bool``, an output
  a ``generic/file``.
* Any other word is a constant argument at its place (``regrid`` in
  ``mrgrid <in> regrid <out|out>``).

Algorithm: :func:`tokenize` cuts the text into words and ``<...>`` fields
(quotes inside a field may hold spaces and ``>``), :func:`parse_template` walks
the tokens pairing option words with the field after them, and
:func:`parse_field` and :func:`parse_type` read one field. Every item gets the
position of its place in the template (1, 2, ...).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import attrs
from fileformats.core import from_mime
from fileformats.generic import Directory, File, FsObject

from pydra_lite.compose.base import UNSET
from pydra_lite.compose.shell.fields import KEEP, Arg, Item, OutArg, Word
from pydra_lite.errors import TemplateError


@attrs.frozen
class Token:
    """A word of the template, a ``<...>`` field, or a word glued to a field."""

    word: str
    field: str | None = None


_TOKEN = re.compile(
    r"""(?P<word>[^\s<>]*)(?:<(?P<field>(?:[^<>'"]|'[^']*'|"[^"]*")*)>)?"""
)
_FIELD = re.compile(
    r"""(?P<out>out\|)?(?P<name>[A-Za-z_]\w*)
        (?::(?P<type>[^=$?+*]*))?(?P<mult>[?+*])?
        (?:=(?P<default>.*))?(?:\$(?P<template>.*))?""",
    re.VERBOSE | re.DOTALL,
)
_GENERIC = re.compile(r"(?P<origin>\w+)\[(?P<args>.*)\]", re.DOTALL)
_NAMED_TYPES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool, "path": Path,
    "file": File, "directory": Directory, "fs-object": FsObject,
}  # fmt: skip


def tokenize(template: str) -> list[Token]:
    """Cut ``template`` into words and fields.

    Raises:
        TemplateError: for an unclosed ``<``, a stray ``>`` or text glued
            after a field.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(template):
        if template[pos].isspace():
            pos += 1
            continue
        match = _TOKEN.match(template, pos)
        end = match.end() if match else pos
        if match is None or end == pos or not _ends_token(template, end):
            raise _syntax_error(template, end, "expected a word or a <field>")
        tokens.append(Token(match["word"], match["field"]))
        pos = end
    return tokens


def _ends_token(template: str, end: int) -> bool:
    return end == len(template) or template[end].isspace()


def _syntax_error(template: str, pos: int, what: str) -> TemplateError:
    msg = (
        f"shell template {template!r}: {what} at character {pos} "
        f"(near {template[pos : pos + 15]!r}); fields are written <name:type>"
    )
    return TemplateError(msg)


def parse_template(template: str) -> tuple[tuple[str, ...], list[Item]]:
    """The executable words and the command-line items of ``template``."""
    tokens = tokenize(template)
    count = _executable_length(tokens)
    if count == 0:
        msg = f"shell template {template!r} must start with the executable's name"
        raise TemplateError(msg)
    items = _items(tokens[count:])
    positioned = [attrs.evolve(item, position=n) for n, item in enumerate(items, 1)]
    return tuple(token.word for token in tokens[:count]), positioned


def _executable_length(tokens: list[Token]) -> int:
    for count, token in enumerate(tokens):
        if token.field is not None or token.word.startswith("-"):
            return count
    return len(tokens)


def _items(tokens: list[Token]) -> list[Item]:
    items: list[Item] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        value = _option_value(token, tokens[index + 1 : index + 2])
        if token.field is not None:
            items.append(parse_field(token.field, token.word, glued=bool(token.word)))
        elif value is not None:
            items.append(parse_field(value, token.word, glued=False))
            index += 1
        else:
            items.append(Word(token.word))
        index += 1
    return items


def _option_value(token: Token, after: list[Token]) -> str | None:
    """The field that option word ``token`` takes from the token after it, if any."""
    if not token.word.startswith("-") or token.field is not None or not after:
        return None
    return after[0].field if not after[0].word else None


def parse_field(text: str, argstr: str, *, glued: bool) -> Arg | OutArg:
    """The field written ``<text>``, after the option word ``argstr``."""
    match = _FIELD.fullmatch(text.strip())
    if match is None:
        msg = (
            f"shell field <{text}>: expected <name>, <name:type>, <name:type?>, "
            "<name:type=default> or <out|name:type>"
        )
        raise TemplateError(msg)
    if match["out"]:
        return _output_field(match, argstr, glued)
    return _input_field(match, argstr, glued)


def _output_field(match: re.Match[str], argstr: str, glued: bool) -> OutArg:
    name, mult = match["name"], match["mult"]
    if mult in ("+", "*") or match["default"] is not None:
        msg = f"shell output <out|{name}>: an output takes neither {mult or '='} nor a default"
        raise TemplateError(msg)
    if glued and not argstr.endswith("="):
        msg = f"shell output <out|{name}>: an output path cannot be a flag; write '{argstr} <out|{name}>'"
        raise TemplateError(msg)
    return OutArg(
        name=name,
        type=parse_type(match["type"]) if match["type"] else File,
        argstr=argstr,
        path_template=match["template"] or KEEP,
        optional=mult == "?",
    )


def _input_field(match: re.Match[str], argstr: str, glued: bool) -> Arg:
    name, mult = match["name"], match["mult"]
    flag = glued and not argstr.endswith("=")
    default = UNSET if match["default"] is None else parse_default(match["default"])
    if match["type"]:
        kind = parse_type(match["type"])
    else:
        kind = _inferred_type(default, flag, argstr)
    if flag and kind is not bool:
        msg = (
            f"shell field {argstr}<{name}>: a field glued to its option word is a "
            f"boolean flag; write '{argstr} <{name}:...>' for an option with a value"
        )
        raise TemplateError(msg)
    if flag and default is UNSET:
        default = False
    kind, default = _with_multiplicity(kind, default, mult)
    return Arg(name=name, type=kind, default=default, argstr=argstr)


def _inferred_type(default: Any, flag: bool, argstr: str) -> Any:
    if type(default) in (bool, int, float, str):
        return type(default)
    if flag:
        return bool
    return str if argstr else FsObject


def _with_multiplicity(kind: Any, default: Any, mult: str | None) -> tuple[Any, Any]:
    if mult == "?":
        return kind | None, None if default is UNSET else default
    if mult == "+":
        return list.__class_getitem__(kind), default
    if mult == "*":
        return list.__class_getitem__(kind), [] if default is UNSET else default
    return kind, default


def parse_default(text: str) -> Any:
    """A default written in a template: a Python literal, else the bare text."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()


def parse_type(text: str) -> Any:
    """The type written ``text``: a name, a MIME-like name or a list/tuple of them.

    Raises:
        TemplateError: for a name that is neither known nor a fileformats type.
    """
    parts = split_top_level(text)
    if len(parts) > 1:
        return tuple.__class_getitem__(tuple(_tuple_member(part) for part in parts))
    text = text.strip()
    generic = _GENERIC.fullmatch(text)
    if generic:
        return _generic_type(generic["origin"], generic["args"], text)
    if text in _NAMED_TYPES:
        return _NAMED_TYPES[text]
    if "/" in text:
        return _mime_type(text)
    known = ", ".join(_NAMED_TYPES)
    msg = f"shell field type {text!r} is unknown; use one of {known}, list[T], tuple[A,B] or a MIME-like name such as medimage/nifti-gz"
    raise TemplateError(msg)


def _tuple_member(text: str) -> Any:
    return ... if text.strip() == "..." else parse_type(text)


def _generic_type(origin: str, args_text: str, text: str) -> Any:
    args = [_tuple_member(part) for part in split_top_level(args_text)]
    if origin == "tuple":
        return tuple.__class_getitem__(tuple(args))
    if origin == "list" and len(args) == 1 and args[0] is not ...:
        return list.__class_getitem__(args[0])
    msg = f"shell field type {text!r}: only list[T] and tuple[A, B, ...] are generic"
    raise TemplateError(msg)


def _mime_type(text: str) -> Any:
    try:
        return from_mime(text)
    except Exception as exc:  # fileformats raises several kinds for an unknown name
        msg = (
            f"shell field type {text!r} is not a known fileformats type ({exc}); "
            "check the spelling or install the fileformats package of that "
            "namespace (e.g. fileformats-medimage for medimage/...)"
        )
        raise TemplateError(msg) from exc


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """``text`` split at each ``sep`` outside brackets."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == sep and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts
