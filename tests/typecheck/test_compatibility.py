"""Tests of the static compatibility check of workflow connections."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import pytest
from fileformats.generic import Directory, File
from fileformats.medimage import Nifti

from pydra_lite.typecheck import is_compatible

T = typing.TypeVar("T")


class Animal:
    pass


class Dog(Animal):
    pass


class Quacks(typing.Protocol):
    def quack(self) -> str: ...


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Any, int),
        (int, Any),
        (int, object),
        (T, list[int]),
        (int, int),
        (int, float),
        (np.int64, int),
        (np.float64, float),
        (list[int], list[float]),
        (list[int], Sequence[float]),
        (Sequence[int], list[int]),  # may be a list at run time
        (list[int], tuple[int, ...]),
        (tuple[int, str], tuple[int, str]),
        (tuple[int, int], list[float]),
        (tuple[int, ...], tuple[int, int]),
        (list[int], set[int]),
        (set[int], Iterable[int]),
        (dict[str, int], Mapping[str, float]),
        (dict[str, int], Iterable[str]),
        (File, File),
        (Nifti, File),
        (File, Nifti),  # a downcast: checked at run time
        (str, File),
        (Path, File),
        (File, Path),
        (str, Path),
        (Path, str),
        (Dog, Animal),
        (Animal, Dog),
        (Optional[int], int),  # noqa: UP045 - None fails at run time, an int passes
        (int, Optional[int]),  # noqa: UP045 - the typing form
        (int, int | str),
        (Literal["a", "b"], str),
        (str, Literal["a", "b"]),
        (Literal["a"], Literal["a", "b"]),
        (type[Dog], type[Animal]),
        (bool, bool),
        (list, list[int]),
        (np.ndarray, np.ndarray),
        (int, Quacks),  # cannot be checked: left to run time
        (typing.List, list[int]),  # noqa: UP006 - the bare typing alias
    ],
)
def test_compatible(source: Any, target: Any) -> None:
    assert is_compatible(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (str, int),
        (int, str),
        (float, int),
        (bool, int),
        (bool, float),
        (int, bool),
        (str, bytes),
        (int, list[int]),
        (list[int], int),
        (str, list[str]),
        (list[str], list[int]),
        (tuple[int, str], tuple[int, int]),
        (tuple[int, str], tuple[int, str, str]),
        (tuple[int, str], list[int]),
        (set[int], list[int]),  # a set has no order
        (dict[str, int], list[str]),
        (dict[str, int], dict[int, int]),
        (Directory, File),
        (File, Directory),
        (int, File),
        (Optional[str], int),  # noqa: UP045 - the typing form
        (Literal["a"], Literal["b"]),
        (Literal["a"], int),
        (type[int], type[str]),
        (int, type[int]),
    ],
)
def test_incompatible(source: Any, target: Any) -> None:
    assert not is_compatible(source, target)
