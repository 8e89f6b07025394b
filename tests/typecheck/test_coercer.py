"""Tests of value checking and coercion in pydra_lite.typecheck."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import os
import struct
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NewType, Optional, TypeVar, Union

import attrs
import numpy as np
import pytest
from fileformats.generic import Directory, File
from fileformats.medimage import Nifti, Nifti1

from pydra_lite.errors import TaskInputError
from pydra_lite.typecheck import TypeMismatch, coerce, make_coercer, type_name


def check(value: Any, annotation: Any) -> Any:
    return coerce(value, annotation, task="Add", field="a")


def error_of(value: Any, annotation: Any) -> TaskInputError:
    with pytest.raises(TaskInputError) as info:
        check(value, annotation)
    return info.value


def write_nifti(path: Path) -> Path:
    """A minimal valid NIfTI-1 file: a 348-byte header with magic 'n+1', then data.

    (Nifti.sample() needs fileformats-medimage-extras, which we do not install.)
    """
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)  # sizeof_hdr
    struct.pack_into("<8h", header, 40, 3, 1, 1, 1, 1, 1, 1, 1)  # dim
    struct.pack_into("<hh", header, 70, 2, 8)  # datatype uint8, bitpix
    struct.pack_into("<f", header, 108, 352.0)  # vox_offset
    header[344:348] = b"n+1\0"
    path.write_bytes(bytes(header) + b"\0")
    return path


# --- the message -----------------------------------------------------------------


def test_message_names_task_field_expected_value_type_and_hint() -> None:
    exc = error_of("3", int)
    assert (
        str(exc) == "Add.a: expected int, got '3' (str); pass an int such as int('3')"
    )
    assert (exc.task, exc.field, exc.expected, exc.value) == ("Add", "a", "int", "3")
    assert isinstance(exc, TypeError)


def test_message_truncates_a_long_value() -> None:
    exc = error_of("x" * 1000, int)
    assert "'xxx" in str(exc) and len(str(exc)) < 300


def test_message_qualifies_non_builtin_types() -> None:
    assert "(numpy.float64)" in str(error_of(np.float64(2.5), int))


def test_mismatch_is_internal_and_carries_the_path() -> None:
    with pytest.raises(TypeMismatch) as info:
        make_coercer(list[list[int]])([[1], [2, "x"]])
    assert info.value.path == ["item 1 of list", "item 1 of list"]
    assert info.value.expected == "int" and info.value.value == "x"
    assert not isinstance(info.value, TaskInputError)


# --- anything goes ---------------------------------------------------------------

T = TypeVar("T")


@pytest.mark.parametrize("annotation", [Any, object, None, T, inspect.Parameter.empty])
def test_any_accepts_anything(annotation: Any) -> None:
    value = object()
    assert check(value, annotation) is value


def test_none_type_accepts_only_none() -> None:
    assert check(None, type(None)) is None
    assert "expected None, got 0 (int)" in str(error_of(0, type(None)))


# --- numbers, text, bool -------------------------------------------------------------


def test_int_is_returned_as_is() -> None:
    assert check(3, int) == 3


def test_int_is_widened_to_float() -> None:
    result = check(3, float)
    assert result == 3.0 and type(result) is float


@pytest.mark.parametrize("annotation", [int, float, complex])
def test_bool_is_refused_for_numbers(annotation: type) -> None:
    assert "nearly always a mistake" in str(error_of(True, annotation))


def test_numpy_integer_becomes_int() -> None:
    result = check(np.int64(3), int)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize("value", [np.float64(2.5), np.float32(2.5), np.int32(2)])
def test_numpy_numbers_become_float(value: Any) -> None:
    result = check(value, float)
    assert result == float(value) and type(result) is float


def test_float_is_not_truncated_to_int() -> None:
    assert "round(2.5)" in str(error_of(2.5, int))
    error_of(2.0, int)


def test_str_is_not_parsed_into_float() -> None:
    assert "pass a float such as float('2.5')" in str(error_of("2.5", float))


def test_str_that_is_no_number_has_no_hint() -> None:
    assert str(error_of("abc", int)) == "Add.a: expected int, got 'abc' (str)"


def test_str_and_bytes_do_not_convert() -> None:
    assert "decode" in str(error_of(b"x", str))
    assert "encode" in str(error_of("x", bytes))


def test_number_is_not_text() -> None:
    assert "pass str(3)" in str(error_of(3, str))


def test_pathlike_is_accepted_as_str() -> None:
    assert check(Path("/a/b"), str) == "/a/b"


def test_bool_field_takes_bools_only() -> None:
    assert check(True, bool) is True
    assert check(np.bool_(True), bool) is True
    assert "pass True or False" in str(error_of(1, bool))


def test_int_converts_to_complex() -> None:
    assert check(2, complex) == complex(2)


# --- containers --------------------------------------------------------------------


def test_list_items_are_checked_and_converted() -> None:
    result = check([1, 2.5], list[float])
    assert result == [1.0, 2.5] and all(type(x) is float for x in result)


def test_list_item_error_names_the_item() -> None:
    message = str(error_of([1, 2, "x"], list[int]))
    assert message == (
        "Add.a: expected list[int], got [1, 2, 'x'] (list); "
        "at item 2 of list: expected int, got 'x' (str)"
    )


def test_tuple_is_accepted_for_list() -> None:
    assert check((1, 2), list[int]) == [1, 2]


def test_list_is_a_new_list() -> None:
    value = [1, 2]
    assert check(value, list[int]) is not value


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("ab", "pass ['ab']"),
        ({1, 2}, "sorted"),
        (np.array([1]), "tolist"),
        (iter([1]), "list(value)"),
    ],
)
def test_non_lists_are_refused_for_list_with_a_hint(value: Any, hint: str) -> None:
    assert hint in str(error_of(value, list[Any]))


def test_str_is_not_a_sequence_of_str() -> None:
    error_of("abc", Sequence[str])


def test_nested_containers_report_the_full_path() -> None:
    message = str(error_of({"k": [1, "x"]}, dict[str, list[int]]))
    assert "at value of key 'k', item 1 of list: expected int, got 'x' (str)" in message


def test_dict_keys_are_checked() -> None:
    assert "at key 1 of dict: expected str" in str(error_of({1: 2}, dict[str, int]))


def test_mapping_returns_a_converted_dict() -> None:
    assert check({"a": 1}, Mapping[str, float]) == {"a": 1.0}


@pytest.mark.parametrize("value", [[1, 2], (1, 2)])
def test_list_becomes_tuple(value: Any) -> None:
    assert check(value, tuple[int, ...]) == (1, 2)
    assert check(value, tuple[int, int]) == (1, 2)


def test_fixed_tuple_checks_length_and_each_item() -> None:
    assert check([1, "a"], tuple[int, str]) == (1, "a")
    assert "it needs 2 items, got 3" in str(error_of((1, "a", 2), tuple[int, str]))
    assert "at item 1 of tuple: expected str" in str(error_of((1, 2), tuple[int, str]))


def test_empty_and_bare_tuples() -> None:
    assert check([], tuple[()]) == ()
    error_of((1,), tuple[()])
    assert check([1, "a"], tuple) == (1, "a")


def test_sets_from_sequences() -> None:
    assert check([1, 2, 2], set[float]) == {1.0, 2.0}
    result = check(["a"], frozenset[str])
    assert result == frozenset({"a"}) and type(result) is frozenset
    assert "at item 'x' of set" in str(error_of({"x"}, set[int]))


def test_sequence_keeps_list_or_tuple() -> None:
    assert check((1, 2), Sequence[float]) == (1.0, 2.0)
    assert check([1, 2], Sequence[float]) == [1.0, 2.0]


def test_iterable_reads_a_generator_and_keeps_a_set() -> None:
    assert check((x for x in [1, 2]), Iterable[int]) == [1, 2]
    assert check({1}, Iterable[int]) == {1}
    error_of("ab", Iterable[str])


def test_failing_generator_item_is_located() -> None:
    message = str(error_of((x for x in [1, "b"]), Iterable[int]))
    assert "at item 1 of collection: expected int, got 'b' (str)" in message


def test_bare_containers_accept_any_items() -> None:
    assert check((1, "a"), list) == [1, "a"]
    assert check({"a": object}, dict)["a"] is object
    assert check([1], typing.List) == [1]  # noqa: UP006 - the typing alias


# --- unions, literals, enums ------------------------------------------------------------


def test_optional_accepts_none_and_the_type() -> None:
    assert check(None, Optional[int]) is None  # noqa: UP045 - the typing form
    assert check(2, int | None) == 2


def test_optional_message_keeps_the_inner_hint() -> None:
    message = str(error_of("3", int | None))
    assert (
        message
        == "Add.a: expected int | None, got '3' (str); pass an int such as int('3')"
    )


def test_optional_list_reports_the_item() -> None:
    assert "at item 0 of list: expected int" in str(error_of(["x"], list[int] | None))


@pytest.mark.parametrize(
    ("value", "annotation", "expected_type"),
    [
        (1, int | float, int),
        (1, float | int, int),  # no conversion beats conversion, whatever the order
        (1.5, int | float, float),
        ("a", str | list[str], str),
        (np.int64(1), str | int, int),  # converted by the first member that can
    ],
)
def test_union_prefers_a_member_without_conversion(
    value: Any, annotation: Any, expected_type: type
) -> None:
    assert type(check(value, annotation)) is expected_type


def test_union_mismatch_names_the_union() -> None:
    union = Union[int, str]  # noqa: UP007 - the typing form
    assert str(error_of([], union)) == "Add.a: expected int | str, got [] (list)"


def test_literal_compares_value_and_type() -> None:
    assert check("a", Literal["a", "b"]) == "a"
    assert "choose one of 'a', 'b'" in str(error_of("c", Literal["a", "b"]))
    error_of(True, Literal[1])


class Colour(enum.Enum):
    RED = "red"


def test_enum_from_its_value() -> None:
    assert check("red", Colour) is Colour.RED
    assert "choose one of 'red'" in str(error_of("blue", Colour))


# --- classes, generics, types ------------------------------------------------------------


@attrs.define
class Point:
    x: int


@dataclasses.dataclass
class Box:
    size: int


@pytest.mark.parametrize(("good", "cls"), [(Point(1), Point), (Box(1), Box)])
def test_plain_classes_use_isinstance(good: Any, cls: type) -> None:
    assert check(good, cls) is good
    assert f"expected {cls.__qualname__}, got 1 (int)" in str(error_of(1, cls))


class Holder(typing.Generic[T]):
    pass


def test_unknown_generics_check_their_origin() -> None:
    holder = Holder[int]()
    assert check(holder, Holder[int]) is holder
    array = np.zeros(2)
    assert check(array, np.ndarray[Any, Any]) is array
    assert "expected Holder[int]" in str(error_of(1, Holder[int]))


def test_type_of_checks_subclasses() -> None:
    assert check(bool, type[int]) is bool
    assert check(bool, type[str | int]) is bool
    assert check(int, typing.Type) is int  # noqa: UP006 - the bare typing alias
    assert "expected type[str]" in str(error_of(int, type[str]))
    error_of(3, type)


class Quacks(typing.Protocol):
    def quack(self) -> str: ...


def test_protocol_that_cannot_be_checked_accepts_anything() -> None:
    assert check(3, Quacks) == 3


def test_callables() -> None:
    assert check(len, typing.Callable[[Any], int]) is len
    assert "expected Callable, got 3 (int)" in str(error_of(3, typing.Callable))


def test_annotated_and_newtype_are_transparent() -> None:
    UserId = NewType("UserId", int)
    assert check(3, Annotated[float, "metres"]) == 3.0
    assert check(np.int64(3), UserId) == 3
    assert check(2, Annotated[int, ["unhashable"]]) == 2


def test_forward_reference_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="get_type_hints"):
        make_coercer("int")


def test_coercers_are_memoised() -> None:
    assert make_coercer(list[int]) is make_coercer(list[int])


# --- paths and files --------------------------------------------------------------------


def test_str_becomes_path() -> None:
    assert check("a/b", Path) == Path("a/b")
    assert "an empty string is not a path" in str(error_of("", Path))


def test_existing_file_becomes_file(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    for value in (str(path), path):
        result = check(value, File)
        assert isinstance(result, File) and result.fspath == path


def test_missing_file_says_it_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "none.txt"
    exc = error_of(str(missing), File)
    assert str(exc) == (
        f"Add.a: expected File, got '{missing}' (str); file '{missing}' does not exist"
    )


def test_missing_relative_file_says_where_it_was_looked_for() -> None:
    assert f"(relative to {os.getcwd()})" in str(error_of("no/such.txt", File))


def test_missing_directory_says_directory(tmp_path: Path) -> None:
    assert "directory '" in str(error_of(tmp_path / "nope", Directory))


def test_file_is_not_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    assert "not a valid Directory (generic/directory)" in str(error_of(path, Directory))


def test_nifti_from_its_path(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "brain.nii")
    assert isinstance(check(str(path), Nifti), Nifti)
    assert isinstance(check(path, Nifti1), Nifti1)


def test_wrong_format_gives_fileformats_reason(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("x")
    message = str(error_of(path, Nifti))
    assert "not a valid Nifti (medimage/nifti)" in message and ".nii" in message


def test_subclass_instance_is_accepted_for_file(tmp_path: Path) -> None:
    nifti = Nifti(write_nifti(tmp_path / "brain.nii"))
    assert check(nifti, File) is nifti


def test_generic_file_is_revalidated_as_the_expected_format(tmp_path: Path) -> None:
    good = File(write_nifti(tmp_path / "brain.nii"))
    assert isinstance(check(good, Nifti), Nifti)
    bad = tmp_path / "a.txt"
    bad.write_text("x")
    assert "not a valid Nifti" in str(error_of(File(bad), Nifti))


def test_list_of_files(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    assert "at item 1 of list" in str(error_of([path, tmp_path / "b.txt"], list[File]))


def test_file_field_refuses_a_number() -> None:
    assert "pass the path of an existing file" in str(error_of(3, File))


# --- type_name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (int, "int"),
        (list[int], "list[int]"),
        (typing.List[int], "list[int]"),  # noqa: UP006 - the typing alias
        (Optional[int], "int | None"),  # noqa: UP045 - the typing form
        (int | str | None, "int | str | None"),
        (dict[str, list[float]], "dict[str, list[float]]"),
        (tuple[int, ...], "tuple[int, ...]"),
        (tuple[()], "tuple[()]"),
        (Literal["a", 1], "Literal['a', 1]"),
        (typing.Callable[[int], str], "Callable[[int], str]"),
        (Sequence[File], "Sequence[File]"),
        (Nifti, "Nifti"),
        (Any, "Any"),
        (type(None), "None"),
        (Annotated[int, "x"], "int"),
        (T, "T"),
    ],
)
def test_type_name_renders_as_written(annotation: Any, text: str) -> None:
    assert type_name(annotation) == text
