"""The template grammar: tokens, fields, types, defaults and positions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fileformats.generic import Directory, File, FsObject
from fileformats.medimage import NiftiGz

from pydra_lite.compose.base import UNSET
from pydra_lite.compose.shell.fields import KEEP, Arg, OutArg, Word
from pydra_lite.compose.shell.template import (
    TemplateError,
    Token,
    parse_default,
    parse_field,
    parse_template,
    parse_type,
    split_top_level,
    tokenize,
)

# --- tokens -------------------------------------------------------------------


def test_tokens_are_words_fields_and_glued_pairs() -> None:
    assert tokenize("cp  <a> -n <n:int> --flag<f>") == [
        Token("cp"),
        Token("", "a"),
        Token("-n"),
        Token("", "n:int"),
        Token("--flag", "f"),
    ]


def test_quoted_default_may_hold_spaces_and_brackets() -> None:
    assert tokenize("echo <s:str='a > b'>") == [
        Token("echo"),
        Token("", "s:str='a > b'"),
    ]


@pytest.mark.parametrize("template", ["cp <a", "cp a>", "cp <a>x", "cp <<a>>"])
def test_malformed_templates_name_the_place(template: str) -> None:
    with pytest.raises(TemplateError, match="at character"):
        tokenize(template)


# --- templates ---------------------------------------------------------------------


def test_leading_words_are_the_executable() -> None:
    executable, items = parse_template("git status --short<short>")
    assert executable == ("git", "status")
    assert [item.name for item in items] == ["short"]  # type: ignore[union-attr]


def test_template_without_executable_is_refused() -> None:
    with pytest.raises(TemplateError, match="must start with the executable"):
        parse_template("<in_file> -n <n:int>")


def test_items_take_their_template_positions() -> None:
    _, items = parse_template(
        "mrgrid <input:file> regrid <out|output:file> -voxel <voxel:float>"
    )
    assert [item.position for item in items] == [1, 2, 3, 4]
    assert items[1] == Word("regrid", position=2)
    assert isinstance(items[2], OutArg)
    assert items[3] == Arg(
        name="voxel", type=float, default=UNSET, argstr="-voxel", position=4
    )


def test_option_word_without_field_is_a_constant() -> None:
    _, items = parse_template("tool -force -n <n:int>")
    assert items[0] == Word("-force", position=1)
    assert isinstance(items[1], Arg)
    assert items[1].argstr == "-n"


# --- fields -------------------------------------------------------------------------


def test_positional_field_has_empty_option_word() -> None:
    field = parse_field("in_file:generic/file", "", glued=False)
    assert field == Arg(name="in_file", type=File, default=UNSET, argstr="")


def test_glued_field_is_a_false_by_default_flag() -> None:
    field = parse_field("recursive", "-R", glued=True)
    assert isinstance(field, Arg)
    assert (field.type, field.default, field.argstr) == (bool, False, "-R")


def test_glued_non_bool_field_is_refused_with_the_spaced_form() -> None:
    with pytest.raises(TemplateError, match="'-n <n:...>'"):
        parse_field("n:int", "-n", glued=True)


def test_option_ending_in_equals_glues_a_value() -> None:
    field = parse_field("out_dir:str", "--out=", glued=True)
    assert isinstance(field, Arg)
    assert (field.type, field.argstr) == (str, "--out=")


def test_untyped_fields_default_by_place() -> None:
    assert parse_field("a", "", glued=False).type is FsObject
    assert parse_field("a", "-a", glued=False).type is str
    assert parse_field("a", "-a", glued=True).type is bool
    assert parse_field("out|a", "", glued=False).type is File


def test_optional_field_is_none_by_default() -> None:
    field = parse_field("n:int?", "-n", glued=False)
    assert isinstance(field, Arg)
    assert (field.type, field.default) == (int | None, None)


def test_one_or_more_is_a_mandatory_list() -> None:
    field = parse_field("xs:int+", "", glued=False)
    assert isinstance(field, Arg)
    assert (field.type, field.default) == (list[int], UNSET)


def test_zero_or_more_is_an_empty_list_by_default() -> None:
    field = parse_field("xs:int*", "-x", glued=False)
    assert isinstance(field, Arg)
    assert (field.type, field.default) == (list[int], [])


@pytest.mark.parametrize(
    ("text", "kind", "default"),
    [
        ("n:int=3", int, 3),
        ("x:float=0.5", float, 0.5),
        ("s:str='a b'", str, "a b"),
        ("mode=fast", str, "fast"),
        ("n=3", int, 3),
        ("size:int,int=(2, 3)", tuple[int, int], (2, 3)),
    ],
)
def test_defaults_are_literals_or_bare_words(
    text: str, kind: Any, default: Any
) -> None:
    field = parse_field(text, "-o", glued=False)
    assert isinstance(field, Arg)
    assert (field.type, field.default) == (kind, default)


def test_output_field_takes_type_template_and_optional() -> None:
    field = parse_field("out|out_file:medimage/nifti-gz$regridded", "", glued=False)
    assert field == OutArg(
        name="out_file",
        type=NiftiGz,
        argstr="",
        path_template="regridded",
        optional=False,
    )
    optional = parse_field("out|log:generic/file?", "-log", glued=False)
    assert isinstance(optional, OutArg)
    assert optional.optional and optional.path_template is KEEP


@pytest.mark.parametrize("text", ["out|a:file+", "out|a:file=x", "out|a:file*"])
def test_output_takes_no_list_or_default(text: str) -> None:
    with pytest.raises(TemplateError, match="an output takes"):
        parse_field(text, "", glued=False)


def test_output_cannot_be_a_flag() -> None:
    with pytest.raises(TemplateError, match="cannot be a flag"):
        parse_field("out|a:file", "-o", glued=True)


@pytest.mark.parametrize("text", ["1abc", "a b", "a:int?extra", ""])
def test_malformed_field_is_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="expected <name>"):
        parse_field(text, "", glued=False)


# --- types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("int", int),
        ("float", float),
        ("str", str),
        ("bool", bool),
        ("path", Path),
        ("file", File),
        ("directory", Directory),
        ("generic/file", File),
        ("medimage/nifti-gz", NiftiGz),
        ("list[int]", list[int]),
        ("tuple[int,int]", tuple[int, int]),
        ("tuple[int, ...]", tuple[int, ...]),
        ("int,str", tuple[int, str]),
        ("float,...", tuple[float, ...]),
        ("list[tuple[int,float]]", list[tuple[int, float]]),
    ],
)
def test_type_names(text: str, kind: Any) -> None:
    assert parse_type(text) == kind


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(TemplateError, match="unknown; use one of int, float"):
        parse_type("integer")


def test_unknown_mime_type_says_how_to_fix() -> None:
    with pytest.raises(TemplateError, match="install the fileformats package"):
        parse_type("nosuchspace/nosuchformat")


def test_only_list_and_tuple_are_generic() -> None:
    with pytest.raises(TemplateError, match="only list"):
        parse_type("dict[str,int]")


def test_split_ignores_commas_inside_brackets() -> None:
    assert split_top_level("tuple[int,int],list[str]") == [
        "tuple[int,int]",
        "list[str]",
    ]


def test_bare_word_default_is_text() -> None:
    assert parse_default(" regrid ") == "regrid"
    assert parse_default("[1, 2]") == [1, 2]
