"""Tests of the split/combine algebra in pydra_lite.state."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pydra_lite.errors import StateError
from pydra_lite.state import Dim, State, lengths_of

# --- parsing the splitter --------------------------------------------------------


def test_single_name_is_one_dim() -> None:
    state = State.from_splitter("a", {"a": 3})
    assert state.dims == (Dim(("a",), 3),)
    assert state.size == 3


def test_list_is_outer_product() -> None:
    state = State.from_splitter(["a", "b"], {"a": 2, "b": 3})
    assert state.shape == (2, 3)
    assert list(state.indices()) == list(itertools.product(range(2), range(3)))


def test_tuple_zips_names_into_one_dim() -> None:
    state = State.from_splitter(("a", "b"), {"a": 4, "b": 4})
    assert state.dims == (Dim(("a", "b"), 4),)
    assert state.names == ("a", "b")


def test_nested_outer_of_zip() -> None:
    state = State.from_splitter(["a", ("b", "c")], {"a": 2, "b": 3, "c": 3})
    assert state.shape == (2, 3)
    assert state.dim_of("c") == 1


def test_list_inside_list_flattens() -> None:
    state = State.from_splitter(["a", ["b", ["c"]]], {"a": 1, "b": 2, "c": 3})
    assert state.shape == (1, 2, 3)


def test_tuple_inside_tuple_flattens() -> None:
    state = State.from_splitter(("a", ("b", "c")), {"a": 2, "b": 2, "c": 2})
    assert state.dims == (Dim(("a", "b", "c"), 2),)


def test_qualified_names_are_opaque() -> None:
    state = State.from_splitter(["Add.out", "x"], {"Add.out": 2, "x": 2})
    assert state.names == ("Add.out", "x")


def test_zip_of_outer_product_is_refused_with_advice() -> None:
    with pytest.raises(StateError, match="not supported.*itertools.product"):
        State.from_splitter(("a", ["b", "c"]), {"a": 4, "b": 2, "c": 2})


def test_zipped_lengths_must_match_and_are_named() -> None:
    with pytest.raises(StateError, match=r"'a' has 2, 'b' has 3"):
        State.from_splitter(("a", "b"), {"a": 2, "b": 3})


def test_missing_values_name_what_was_given() -> None:
    with pytest.raises(
        StateError, match=r"no values given to split 'b'.*given for 'a'"
    ):
        State.from_splitter(["a", "b"], {"a": 2})


@pytest.mark.parametrize("splitter", [[], (), ["a", []], ("a", ())])
def test_empty_splitter_is_refused(splitter: object) -> None:
    with pytest.raises(StateError, match="empty"):
        State.from_splitter(splitter, {"a": 1})


@pytest.mark.parametrize("splitter", [["a", "a"], ("a", "a"), ["a", ("b", "a")]])
def test_name_twice_is_refused(splitter: object) -> None:
    with pytest.raises(StateError, match="'a' appears twice"):
        State.from_splitter(splitter, {"a": 2, "b": 2})


@pytest.mark.parametrize("splitter", [3, None, ["a", 3], {"a"}])
def test_non_splitter_values_are_refused(splitter: object) -> None:
    with pytest.raises(StateError, match="a splitter is a field name"):
        State.from_splitter(splitter, {"a": 2})


def test_negative_length_is_refused() -> None:
    with pytest.raises(StateError, match="length"):
        State.from_splitter("a", {"a": -1})


# --- the empty state and shapes ----------------------------------------------------


def test_empty_state_has_one_state() -> None:
    state = State.empty()
    assert (state.size, state.shape, state.names, state.splitter) == (1, (), (), None)
    assert list(state.indices()) == [()]
    assert state.nest(["x"]) == ["x"]


def test_split_over_empty_list_has_no_states() -> None:
    state = State.from_splitter(["a", "b"], {"a": 2, "b": 0})
    assert state.size == 0
    assert list(state.indices()) == []
    assert state.nest([], ["b"]) == [[], []]


def test_canonical_splitter_round_trips() -> None:
    splitter = ["a", ("b", "c"), "d"]
    lengths = {"a": 1, "b": 2, "c": 2, "d": 3}
    state = State.from_splitter(splitter, lengths)
    assert state.splitter == splitter
    assert State.from_splitter(state.splitter, lengths) == state
    assert State.from_splitter(("x", "y"), {"x": 1, "y": 1}).splitter == ("x", "y")
    assert State.from_splitter(["x"], {"x": 1}).splitter == "x"


def test_states_are_hashable_values() -> None:
    a = State.from_splitter(["a", "b"], {"a": 2, "b": 3})
    b = State.from_splitter(["a", "b"], {"a": 2, "b": 3})
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.dims = ()  # type: ignore[misc]


def test_dim_of_unknown_name_lists_split_names() -> None:
    state = State.from_splitter("a", {"a": 2})
    with pytest.raises(StateError, match=r"'z' is not split; split names are 'a'"):
        state.dim_of("z")


def test_name_indices_map_each_name_to_its_dim_index() -> None:
    state = State.from_splitter(["a", ("b", "c")], {"a": 2, "b": 3, "c": 3})
    assert state.name_indices((1, 2)) == {"a": 1, "b": 2, "c": 2}


def test_flat_index_checks_the_tuple_length() -> None:
    state = State.from_splitter(["a", "b"], {"a": 2, "b": 3})
    assert state.flat_index((1, 2)) == 5
    with pytest.raises(StateError, match="2 dimensions"):
        state.flat_index((1,))


def test_hundred_thousand_indices_are_all_produced() -> None:
    state = State.from_splitter(
        ["a", ("b", "c"), "d"], {"a": 100, "b": 10, "c": 10, "d": 100}
    )
    assert sum(1 for _ in state.indices()) == 100_000


# --- outer (inheriting upstream states) -----------------------------------------------


def test_outer_appends_new_dims() -> None:
    up = State.from_splitter("A.x", {"A.x": 2})
    own = State.from_splitter("b", {"b": 3})
    assert up.outer(own).shape == (2, 3)
    assert up.outer(own).names == ("A.x", "b")


def test_outer_shares_an_identical_dim() -> None:
    left = State.from_splitter(["A.x", "B.y"], {"A.x": 2, "B.y": 3})
    right = State.from_splitter("A.x", {"A.x": 2})
    assert left.outer(right) == left
    assert State.empty().outer(left) == left


def test_outer_refuses_a_name_in_two_different_dims() -> None:
    left = State.from_splitter(("a", "b"), {"a": 2, "b": 2})
    right = State.from_splitter("a", {"a": 2})
    with pytest.raises(StateError, match="appears twice"):
        left.outer(right)


def test_outer_refuses_a_shared_dim_of_two_sizes() -> None:
    left = State.from_splitter("a", {"a": 2})
    right = State.from_splitter("a", {"a": 3})
    with pytest.raises(StateError, match="2 states on one side and 3"):
        left.outer(right)


# --- combine and nest ------------------------------------------------------------------


def test_combine_splits_kept_and_combined_dims() -> None:
    state = State.from_splitter(["a", "b", "c"], {"a": 2, "b": 3, "c": 4})
    kept, combined = state.combine(["c", "a"])
    assert kept.names == ("b",)
    assert combined.names == ("a", "c")


def test_combining_one_zipped_name_combines_the_whole_dim() -> None:
    state = State.from_splitter(["a", ("b", "c")], {"a": 2, "b": 3, "c": 3})
    kept, combined = state.combine(["b"])
    assert combined.names == ("b", "c")
    assert kept.names == ("a",)


def test_combine_of_unsplit_name_lists_split_names() -> None:
    state = State.from_splitter(["a", "b"], {"a": 2, "b": 2})
    with pytest.raises(StateError, match=r"cannot combine 'z'.*'a', 'b'"):
        state.combine(["z"])


def test_nest_without_combiner_is_the_flat_list() -> None:
    state = State.from_splitter(["a", "b"], {"a": 2, "b": 2})
    assert state.nest([1, 2, 3, 4]) == [1, 2, 3, 4]


def test_nest_groups_combined_inside_kept() -> None:
    state = State.from_splitter(["a", "b"], {"a": 2, "b": 3})
    values = [f"a{a}b{b}" for a, b in state.indices()]
    assert state.nest(values, ["a"]) == [
        ["a0b0", "a1b0"],
        ["a0b1", "a1b1"],
        ["a0b2", "a1b2"],
    ]
    assert state.nest(values, ["b"]) == [
        ["a0b0", "a0b1", "a0b2"],
        ["a1b0", "a1b1", "a1b2"],
    ]


def test_nest_combining_every_dim_is_flat() -> None:
    state = State.from_splitter(["a", "b"], {"a": 2, "b": 2})
    assert state.nest([1, 2, 3, 4], ["a", "b"]) == [1, 2, 3, 4]


def test_nest_accepts_one_name_as_a_string() -> None:
    state = State.from_splitter(["a", "b"], {"a": 2, "b": 2})
    assert state.nest([1, 2, 3, 4], "b") == [[1, 2], [3, 4]]


def test_nest_checks_the_number_of_values() -> None:
    state = State.from_splitter("a", {"a": 3})
    with pytest.raises(StateError, match="got 2 values for 3 states"):
        state.nest([1, 2])


# --- lengths_of --------------------------------------------------------------------------


def test_lengths_of_lists_and_tuples() -> None:
    assert lengths_of({"a": [1, 2], "b": (1,), "c": range(4)}) == {
        "a": 2,
        "b": 1,
        "c": 4,
    }


def test_lengths_of_str_explains_both_readings() -> None:
    message = (
        "split(a='abc') got a str; to split over characters pass list('abc'), "
        "to split over one string pass ['abc']"
    )
    with pytest.raises(StateError) as info:
        lengths_of({"a": "abc"})
    assert str(info.value) == message


def test_lengths_of_bytes_is_refused() -> None:
    with pytest.raises(StateError, match="got a bytes"):
        lengths_of({"a": b"abc"})


@pytest.mark.parametrize("value", [3, None, iter([1, 2]), (x for x in [1])])
def test_lengths_of_non_list_is_refused(value: object) -> None:
    with pytest.raises(StateError, match="not a list of values"):
        lengths_of({"a": value})


@pytest.mark.parametrize("value", [{1, 2}, {"k": 1}])
def test_lengths_of_unordered_is_refused(value: object) -> None:
    with pytest.raises(StateError, match="order"):
        lengths_of({"a": value})


# --- properties (hypothesis) ---------------------------------------------------------------

_sizes = st.integers(min_value=0, max_value=4)


@st.composite
def splitters(draw: st.DrawFn) -> tuple[object, dict[str, int], list[list[str]]]:
    """A random splitter, the lengths of its names, and its dims as name lists."""
    n_dims = draw(st.integers(min_value=1, max_value=4))
    dims: list[list[str]] = []
    lengths: dict[str, int] = {}
    for d in range(n_dims):
        width = draw(st.integers(min_value=1, max_value=3))
        names = [f"n{d}_{i}" for i in range(width)]
        size = draw(_sizes)
        lengths.update(dict.fromkeys(names, size))
        dims.append(names)
    parts: list[object] = [
        n[0] if len(n) == 1 and draw(st.booleans()) else tuple(n) for n in dims
    ]
    splitter: object = parts[0] if len(parts) == 1 and draw(st.booleans()) else parts
    return splitter, lengths, dims


@given(splitters())
def test_size_is_product_of_dim_sizes(
    case: tuple[object, dict[str, int], list[list[str]]],
) -> None:
    splitter, lengths, dims = case
    state = State.from_splitter(splitter, lengths)
    assert state.size == math.prod(lengths[names[0]] for names in dims)
    assert [list(d.names) for d in state.dims] == dims


@given(splitters())
def test_indices_are_unique_and_count_size(
    case: tuple[object, dict[str, int], list[list[str]]],
) -> None:
    state = State.from_splitter(case[0], case[1])
    indices = list(state.indices())
    assert len(indices) == state.size == len(set(indices))
    assert [state.flat_index(idx) for idx in indices] == list(range(state.size))


@given(splitters(), st.data())
def test_combine_sizes_multiply_to_size(
    case: tuple[object, dict[str, int], list[list[str]]], data: st.DataObject
) -> None:
    state = State.from_splitter(case[0], case[1])
    names = data.draw(st.lists(st.sampled_from(state.names), unique=True))
    kept, combined = state.combine(names)
    assert kept.size * combined.size == state.size
    assert set(kept.names) | set(combined.names) == set(state.names)


@given(splitters(), st.data())
def test_nest_then_flatten_round_trips(
    case: tuple[object, dict[str, int], list[list[str]]], data: st.DataObject
) -> None:
    state = State.from_splitter(case[0], case[1])
    names = data.draw(st.lists(st.sampled_from(state.names), unique=True, min_size=1))
    values = list(range(state.size))
    nested = state.nest(values, names)
    kept, combined = state.combine(names)
    if not kept.dims:
        assert nested == values
        return
    assert len(nested) == kept.size and all(len(g) == combined.size for g in nested)
    assert sorted(v for group in nested for v in group) == values
    # each group holds the states that agree on every kept dimension
    kept_pos = [state.dims.index(d) for d in kept.dims]
    as_idx = list(state.indices())
    for group, kept_idx in zip(nested, kept.indices(), strict=True):
        assert all(tuple(as_idx[v][p] for p in kept_pos) == kept_idx for v in group)


@given(st.lists(st.lists(st.integers(), max_size=3), min_size=1, max_size=3))
def test_outer_order_matches_itertools_product(raw: list[list[int]]) -> None:
    names = [f"f{i}" for i in range(len(raw))]
    values = dict(zip(names, raw, strict=True))
    state = State.from_splitter(names, lengths_of(values))
    got = [
        tuple(values[n][i] for n, i in zip(names, idx, strict=True))
        for idx in state.indices()
    ]
    assert got == list(itertools.product(*raw))


@given(st.integers(min_value=0, max_value=5), st.data())
def test_zip_pairs_match_builtin_zip(length: int, data: st.DataObject) -> None:
    a = data.draw(st.lists(st.integers(), min_size=length, max_size=length))
    b = data.draw(st.lists(st.text(), min_size=length, max_size=length))
    state = State.from_splitter(("a", "b"), lengths_of({"a": a, "b": b}))
    pairs = [(a[m["a"]], b[m["b"]]) for m in map(state.name_indices, state.indices())]
    assert pairs == list(zip(a, b, strict=True))


def test_a_zero_dimensional_array_is_refused_as_one_value_not_a_list() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(
        StateError, match=r"split\(a=array\(5\)\).*not a list of values"
    ):
        lengths_of({"a": np.array(5)})
    assert lengths_of({"a": np.array([5, 6])}) == {"a": 2}


def test_a_generator_is_refused_with_the_fix() -> None:
    with pytest.raises(StateError, match=r"list\(\.\.\.\) for an iterator"):
        lengths_of({"a": (i for i in range(3))})
