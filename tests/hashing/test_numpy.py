"""numpy values: plain arrays keep their digests; subclasses and padding (issue 16).

Masked arrays count their mask and fill value, structured arrays with padding
hash field by field, and an ndarray subclass pydra_lite does not know is refused
rather than hashed as its data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pydra_lite import Submitter, python, register_serializer
from pydra_lite.errors import HashingError
from pydra_lite.hashing import hash_object

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # matrix

CALLS: list[str] = []


@python.define
def Mean(x: np.ndarray) -> float:
    CALLS.append("Mean")
    return float(np.mean(x))


@python.define
def Total(x: np.ndarray) -> float:
    CALLS.append("Total")
    return float(x["a"].sum() + x["b"].sum())


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def run(task: Any, cache_dir: Path) -> Any:
    with Submitter(cache_dir=cache_dir, worker="serial") as sub:
        return sub(task)


# --- masked arrays ----------------------------------------------------------


def test_a_masked_mean_is_not_served_to_the_same_data_unmasked(tmp_path: Path) -> None:
    data = [1.0, 2.0, 6.0]
    masked = run(Mean(x=np.ma.array(data, mask=[0, 1, 0])), tmp_path)
    unmasked = run(Mean(x=np.ma.array(data, mask=[0, 0, 0])), tmp_path)
    no_mask = run(Mean(x=np.ma.array(data)), tmp_path)
    again = run(Mean(x=np.ma.array(data, mask=[0, 1, 0])), tmp_path)
    assert (masked.outputs.out, masked.cached) == (3.5, False)
    assert (unmasked.outputs.out, unmasked.cached) == (3.0, False)
    assert (no_mask.outputs.out, no_mask.cached) == (3.0, False)
    assert (again.outputs.out, again.cached) == (3.5, True)
    assert CALLS == ["Mean"] * 3


def test_masked_arrays_hash_data_mask_and_fill_value() -> None:
    def masked(data: Any = (1.0, 2.0, 6.0), **kw: Any) -> Any:
        kw.setdefault("mask", [0, 1, 0])
        return np.ma.array(data, **kw)

    digest = hash_object(masked())
    assert digest == hash_object(masked())
    others = [
        masked(mask=[0, 0, 1]),
        masked(mask=[0, 0, 0]),
        np.ma.array([1.0, 2.0, 6.0]),  # no mask: `.mask` is not an array
        masked(fill_value=-1.0),  # `filled()` differs
        masked((1.0, 99.0, 6.0)),  # the data under the mask counts too
        masked(dtype="f4"),
        np.array([1.0, 2.0, 6.0]),
    ]
    digests = [hash_object(value) for value in others]
    assert len({digest, *digests}) == len(others) + 1
    # The mask's shape and the data's class count through their own digests.
    assert hash_object(np.ma.array(np.matrix([[1, 2]]), mask=[[0, 1]])) != (
        hash_object(np.ma.array(np.array([[1, 2]]), mask=[[0, 1]]))
    )
    assert hash_object(np.ma.masked) == hash_object(np.ma.masked)


@pytest.mark.parametrize("dtype", ["U3", "S2", object, "M8[s]", "V4", "c16", "?"])
def test_masked_arrays_of_every_kind_of_dtype_hash(dtype: Any) -> None:
    def make() -> Any:
        return np.ma.array(np.zeros(3, dtype=dtype), mask=[1, 0, 0])

    assert hash_object(make()) == hash_object(make())


# --- structured arrays --------------------------------------------------------

ALIGNED = np.dtype([("a", "i1"), ("b", "<f8")], align=True)  # 7 bytes of padding
NESTED = np.dtype([("p", ALIGNED), ("q", ALIGNED, (2,)), ("c", "<i2")], align=True)


def with_garbage(dtype: Any, values: list[Any], garbage: bytes) -> Any:
    """A structured array whose padding holds ``garbage`` (repeated)."""
    size = len(values) * dtype.itemsize
    raw = (garbage * (size // max(len(garbage), 1) + 1))[:size]
    arr = np.frombuffer(bytearray(raw), dtype=dtype)
    arr[...] = np.array(values, dtype=dtype)
    return arr


def test_padding_bytes_never_count() -> None:
    values = [(1, 0.5), (2, 1.5), (3, 2.5)]
    clean = np.array(values, dtype=ALIGNED)
    dirty = with_garbage(ALIGNED, values, b"\xab\xcd")
    assert clean.tobytes() != dirty.tobytes()
    assert hash_object(clean) == hash_object(dirty)
    assert hash_object(clean[1]) == hash_object(dirty[1])  # a record (np.void)
    assert hash_object(clean) != hash_object(np.array(values[::-1], dtype=ALIGNED))
    # The layout is part of the dtype: packed and aligned records differ.
    packed = np.array(values, dtype=[("a", "i1"), ("b", "<f8")])
    assert hash_object(clean) != hash_object(packed)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-128, 127), st.floats(allow_nan=False)), max_size=5),
    st.binary(min_size=1, max_size=16),
)
def test_nested_padded_records_hash_by_their_fields(
    rows: list[tuple[int, float]], garbage: bytes
) -> None:
    values = [(row, [row, row], row[0]) for row in rows]
    assert hash_object(with_garbage(NESTED, values, garbage)) == hash_object(
        np.array(values, dtype=NESTED)
    )


def test_a_padded_array_rebuilt_with_other_garbage_is_a_cache_hit(
    tmp_path: Path,
) -> None:
    values = [(1, 0.5), (2, 1.5)]
    first = run(Total(x=with_garbage(ALIGNED, values, b"\x00")), tmp_path)
    second = run(Total(x=with_garbage(ALIGNED, values, b"\xff\x13")), tmp_path)
    assert (first.outputs.out, first.cached) == (5.0, False)
    assert (second.outputs.out, second.cached) == (5.0, True)
    assert CALLS == ["Total"]


def test_object_fields_hash_their_items_not_pointers() -> None:
    dtype = [("i", "<i4"), ("o", object)]
    one = np.array([(1, [1, 2]), (2, "x")], dtype=dtype)
    two = np.array([(1, [1, 2]), (2, "x")], dtype=dtype)
    assert hash_object(one) == hash_object(two)
    assert hash_object(one[0]) == hash_object(two[0])
    two[0]["o"].append(3)  # same object, new contents
    assert hash_object(one) != hash_object(two)


# --- subclasses -------------------------------------------------------------


class Tagged(np.ndarray):
    """A subclass with state its data does not show."""

    unit = "m"


@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (lambda: np.zeros(3).view(Tagged), f"{__name__}.Tagged"),
        (
            lambda: np.ma.array([1.0]).view(type("MyMasked", (np.ma.MaskedArray,), {})),
            "MyMasked",
        ),
        (lambda: np.char.array(["a"]), "chararray"),  # deprecated by numpy
    ],
)
def test_an_unknown_ndarray_subclass_is_refused(make: Any, type_name: str) -> None:
    with pytest.raises(HashingError) as info:
        hash_object({"x": [make()]}, field="image")
    message = str(info.value)
    assert type_name in message
    assert "numpy.ndarray subclass" in message
    assert "'image'" in message
    assert "register_serializer(" in message
    assert "numpy.asarray(value)" in message
    assert info.value.field == "image"


def test_a_registered_subclass_is_hashed_by_its_serializer() -> None:
    class Unit(np.ndarray):
        unit = "m"

    @register_serializer(Unit)
    def _unit(obj: Any, cache: Any) -> Any:
        yield obj.unit.encode()
        yield hash_object(np.asarray(obj), cache=cache)

    assert hash_object(np.zeros(2).view(Unit)) == hash_object(np.zeros(2).view(Unit))
    assert hash_object(np.zeros(2).view(Unit)) != hash_object(np.zeros(2))


def test_known_subclasses(tmp_path: Path) -> None:
    grid = np.array([[1.0, 2.0], [3.0, 4.0]])
    # A memmap counts by its content, as the same plain array.
    mapped = np.memmap(tmp_path / "m.dat", dtype="<f8", mode="w+", shape=(2, 2))
    mapped[:] = grid
    assert hash_object(mapped) == hash_object(grid)
    assert hash_object(mapped[1:]) == hash_object(grid[1:])
    # A matrix and a recarray are their data and their class.
    assert hash_object(np.matrix(grid)) != hash_object(grid)
    records = np.array([(1, 2.0)], dtype=[("a", "<i8"), ("b", "<f8")])
    assert hash_object(records.view(np.recarray)) != hash_object(records)


# --- plain arrays keep their digests ------------------------------------------


def plain_arrays() -> dict[str, Any]:
    grid = np.arange(24, dtype="<f8").reshape(2, 3, 4) / 8
    return {
        "f8 C": grid,
        "f8 F": np.asfortranarray(grid),
        "f8 transposed": grid.T,
        "f8 strided view": grid[:, ::-1, 1::2],
        "f8 0-d": np.array(2.5),
        "f8 empty": np.zeros((0, 3)),
        ">i4 F": np.asfortranarray(np.arange(12, dtype=">i4").reshape(3, 4)),
        "i1 view": np.arange(-10, 10, dtype="i1")[::3],
        "u2 C": np.arange(6, dtype="<u2").reshape(2, 3),
        "bool": np.array([[True, False], [False, True]]),
        "c16": np.array([1 + 2j, -0.5j]),
        "f4 F": np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)),
        "M8[s]": np.array(["2024-01-01T00:00", "1970-01-01T00:00:01"], dtype="<M8[s]"),
        "U3": np.array([["ab", "c"], ["", "xyz"]], dtype="<U3"),
        "S2": np.array([b"a", b"bc"], dtype="S2"),
        "object": np.array([1, "a", None, 2.5], dtype=object),
        "packed record": np.array(
            [(1, 2.0), (3, 4.5)], dtype=[("a", "<i4"), ("b", "<f8")]
        ),
        "matrix": np.matrix([[1.0, 2.0], [3.0, 4.0]]),
        "recarray": np.rec.fromarrays(
            [np.arange(3, dtype="<i8"), np.arange(3.0)], names="a,b"
        ),
        "scalar f8": np.float64(2.5),
        "scalar i2": np.int16(-7),
    }


# Computed by the code before format 3 (commit 3b086e5, numpy 2.4).
OLD_DIGESTS = {
    "f8 C": "66622aa01658f2a81b234eaf63bf2e2a",
    "f8 F": "66622aa01658f2a81b234eaf63bf2e2a",
    "f8 transposed": "be52824d28a4aee638f9f0b8acc42e8c",
    "f8 strided view": "7e4f45a180ea1165153efbf08a446299",
    "f8 0-d": "294e443da1952042c5cd0b51b1166f26",
    "f8 empty": "ba97a8822dd20f82e47b233bd849850e",
    ">i4 F": "b4a082cf79abe8d2008d7b540ce867d2",
    "i1 view": "2a7f8887a75b2a544f3062a8f67899f6",
    "u2 C": "6b2c8f923c6ab4fea17f5343c4e9bc4e",
    "bool": "a111896a17d092ae3b325294cce74a1e",
    "c16": "1f8974a81efca4fe420908c1105b4edd",
    "f4 F": "5530948f0f77ff9ce70503951309f24f",
    "M8[s]": "9e08c1e2a5e70d32a449b5b24756b989",
    "U3": "8ee0b00f1119ea9737b3c50df1a965f3",
    "S2": "84583f153eb1c268f6b16214adf11e08",
    "object": "587fa9997700c8af66025c8c07b8a2ea",
    "packed record": "75ba04817d83649993b46e5d545d4363",
    "matrix": "c77feda9bf4bcc3d62786303f45404c0",
    "recarray": "b015b10c534f26feac37635a1d8a6007",
    "scalar f8": "f8ba0dff8cacc58b0a8cd0e8508c12b3",
    "scalar i2": "0598568be3cc195793a6ebd40a2bfdef",
}


@pytest.mark.parametrize("name", sorted(OLD_DIGESTS))
def test_plain_array_digests_are_those_of_format_2(name: str) -> None:
    assert hash_object(plain_arrays()[name]).hex() == OLD_DIGESTS[name]


def test_hashing_a_plain_array_does_not_import_numpy_ma() -> None:
    code = (
        "import sys, numpy\n"
        "from pydra_lite.hashing import hash_object\n"
        "hash_object(numpy.zeros(3)); hash_object(numpy.float64(1))\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
