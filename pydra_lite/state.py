"""The split/combine algebra: splitter expressions and lengths in, index tuples out.

This module owns :class:`State`, the shape of a split task, and knows nothing of
tasks or values: it sees field names and the lengths of their value lists only.

Model:
    A state is an ordered tuple of *dimensions* (:class:`Dim`). A dimension is a
    tuple of field names zipped together and the common length of their lists.
    The states of a task are the outer product (``itertools.product`` order, the
    last dimension varying fastest) over its dimensions; in one state every name
    of a dimension takes that dimension's index. An empty state (no split) has
    exactly one state, the index tuple ``()``.

Splitter grammar (Pydra's):
    ``"a"``                a name (``"Node.field"`` is a name too: names are opaque)
    ``["a", "b"]``         outer product: one dimension per element
    ``("a", "b")``         zip: one dimension holding both names
    ``["a", ("b", "c")]``  nesting; a list inside a list flattens, a tuple inside
                           a tuple flattens; a list inside a tuple is refused.

Algorithm:
    :meth:`State.from_splitter` flattens the expression into dimensions, then checks
    every name has a length and every zip has equal lengths. :meth:`State.indices`
    is ``itertools.product`` over ``range(size)`` of each dimension. Combining
    splits the dimensions into *kept* and *combined* (a zipped dimension is
    combined whole); :meth:`State.nest` regroups a flat per-state list by computing
    each state's flat offset as the sum of its kept and combined parts, each part
    an ``itertools.product`` over strides, so no index tuple is decoded twice.
"""

from __future__ import annotations

import itertools
import math
import reprlib
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from typing import Any, TypeVar

import attrs

from pydra_lite.errors import StateError

__all__ = ["Dim", "State", "lengths_of"]

T = TypeVar("T")

_short = reprlib.Repr()  # keyword limits need Python 3.12
_short.maxstring, _short.maxother, _short.maxlist, _short.maxtuple = 60, 60, 6, 6


@attrs.frozen
class Dim:
    """One dimension of a state: names zipped together and their common length."""

    names: tuple[str, ...]
    size: int


def _as_dims(dims: Iterable[Dim]) -> tuple[Dim, ...]:
    return tuple(dims)


@attrs.frozen
class State:
    """The shape of a split task: an ordered tuple of dimensions.

    Build one with :meth:`from_splitter` or :meth:`empty`; every operation returns
    a new state.
    """

    dims: tuple[Dim, ...] = attrs.field(default=(), converter=_as_dims)
    _dim_by_name: dict[str, int] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )
    _shape: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False, hash=False)
    _size: int = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        by_name: dict[str, int] = {}
        for pos, dim in enumerate(self.dims):
            for name in dim.names:
                if name in by_name:
                    msg = f"{name!r} appears twice in the splitter {self.splitter!r}"
                    raise StateError(msg)
                by_name[name] = pos
        object.__setattr__(self, "_dim_by_name", by_name)
        # Asked for on every state of a run: computed once, as a state is immutable.
        shape = tuple(dim.size for dim in self.dims)
        object.__setattr__(self, "_shape", shape)
        object.__setattr__(self, "_size", math.prod(shape))

    @classmethod
    def empty(cls) -> State:
        """The state of a task that is not split: one state, no dimensions."""
        return cls(())

    @classmethod
    def from_splitter(cls, splitter: Any, lengths: Mapping[str, int]) -> State:
        """Build the state of a splitter expression.

        Args:
            splitter: a name, a list (outer product) or a tuple (zip), nested.
            lengths: the length of the value list of every name in the splitter.

        Raises:
            StateError: for an empty or malformed splitter, a repeated name, a name
                with no length, or zipped names whose lengths differ.
        """
        groups = _parse(splitter, top=splitter)
        return cls(tuple(_make_dim(names, lengths) for names in groups))

    def qualified(self, prefix: str) -> State:
        """This state with every name prefixed (``"a"`` → ``"Node.a"`` for ``"Node."``)."""
        dims = (Dim(tuple(prefix + n for n in d.names), d.size) for d in self.dims)
        return State(tuple(dims))

    @property
    def names(self) -> tuple[str, ...]:
        """Every split name, in dimension order."""
        return tuple(name for dim in self.dims for name in dim.names)

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension."""
        return self._shape

    @property
    def size(self) -> int:
        """The number of states (1 for an empty state)."""
        return self._size

    @property
    def splitter(self) -> str | tuple[str, ...] | list[str | tuple[str, ...]] | None:
        """A canonical splitter expression for this state (None when empty)."""
        parts = [d.names[0] if len(d.names) == 1 else d.names for d in self.dims]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else parts

    def indices(self) -> Iterator[tuple[int, ...]]:
        """One dimension-index tuple per state, in outer-product order."""
        return itertools.product(*(range(dim.size) for dim in self.dims))

    def dim_of(self, name: str) -> int:
        """The position of the dimension that holds ``name``."""
        try:
            return self._dim_by_name[name]
        except KeyError:
            msg = f"{name!r} is not split; split names are {_listing(self.names)}"
            raise StateError(msg) from None

    def name_indices(self, idx: tuple[int, ...]) -> dict[str, int]:
        """Map every split name to its index into its own value list at ``idx``."""
        return {name: idx[pos] for name, pos in self._dim_by_name.items()}

    def flat_index(self, idx: tuple[int, ...]) -> int:
        """The position of the state ``idx`` in :meth:`indices` order."""
        if len(idx) != len(self.dims):
            msg = f"index {idx!r} has {len(idx)} entries; the state has {len(self.dims)} dimensions"
            raise StateError(msg)
        flat = 0
        for i, dim in zip(idx, self.dims, strict=True):
            flat = flat * dim.size + i
        return flat

    def index_of(self, flat: int) -> tuple[int, ...]:
        """The dimension indices of the state at position ``flat`` (inverse of flat_index)."""
        index = []
        for dim in reversed(self.dims):
            flat, i = divmod(flat, dim.size)
            index.append(i)
        return tuple(reversed(index))

    def outer(self, other: State) -> State:
        """This state's dimensions followed by those of ``other`` not already here.

        A dimension of ``other`` with exactly the same names as one of ours is the
        same dimension (a workflow node inheriting a state from two upstream paths)
        and is kept once.

        Raises:
            StateError: when a name is in both states but in different dimensions,
                or a shared dimension has two different sizes.
        """
        dims = list(self.dims)
        for dim in other.dims:
            mine = [d for d in self.dims if d.names == dim.names]
            if not mine:
                dims.append(dim)
            elif mine[0].size != dim.size:
                msg = (
                    f"dimension {_dim_text(dim)} has {mine[0].size} states on one "
                    f"side and {dim.size} on the other"
                )
                raise StateError(msg)
        return State(tuple(dims))

    def combine(self, names: Sequence[str]) -> tuple[State, State]:
        """Split the dimensions into (kept, combined) for a combiner.

        Combining any name of a zipped dimension combines the whole dimension. Both
        states keep this state's dimension order.

        Raises:
            StateError: when a name is not split.
        """
        if isinstance(names, str):
            names = [names]
        positions = {self._combine_pos(name) for name in names}
        kept = tuple(d for pos, d in enumerate(self.dims) if pos not in positions)
        combined = tuple(d for pos, d in enumerate(self.dims) if pos in positions)
        return State(kept), State(combined)

    def nest(
        self, values: Sequence[T], combiner_names: Sequence[str] = ()
    ) -> list[Any]:
        """Reshape a flat list of per-state values into the combined result.

        Args:
            values: one value per state, in :meth:`indices` order.
            combiner_names: the names combined (empty for no combiner).

        Returns:
            Without a combiner, the values in state order. With one, a list over
            the kept states (product order) of lists over the combined states
            (product order). When every dimension is combined, a flat list.
        """
        if len(values) != self.size:
            msg = (
                f"got {len(values)} values for {self.size} states of {self.splitter!r}"
            )
            raise StateError(msg)
        if isinstance(combiner_names, str):
            combiner_names = [combiner_names]
        kept, combined = self.combine(combiner_names)
        if not combiner_names or not kept.dims:
            return list(values)
        kept_offsets = self._offsets(kept)
        inner_offsets = self._offsets(combined)
        return [[values[k + c] for c in inner_offsets] for k in kept_offsets]

    def _combine_pos(self, name: str) -> int:
        if name not in self._dim_by_name:
            msg = (
                f"cannot combine {name!r}: it is not split; "
                f"split names are {_listing(self.names)}"
            )
            raise StateError(msg)
        return self._dim_by_name[name]

    def _offsets(self, part: State) -> list[int]:
        """Flat-offset contribution of each state of ``part`` (a subset of our dims)."""
        strides = self._strides()
        pos = [self.dims.index(dim) for dim in part.dims]
        ranges = [
            [i * strides[p] for i in range(d.size)]
            for d, p in zip(part.dims, pos, strict=True)
        ]
        return [sum(combo) for combo in itertools.product(*ranges)]

    def _strides(self) -> list[int]:
        strides = [1] * len(self.dims)
        for pos in range(len(self.dims) - 2, -1, -1):
            strides[pos] = strides[pos + 1] * self.dims[pos + 1].size
        return strides


def lengths_of(values: Mapping[str, object]) -> dict[str, int]:
    """The length of every value list to split over, checking each is a list.

    Raises:
        StateError: for a str or bytes (nearly always meant as one value), an
            unordered set or a mapping (their order is not a state order), or a
            value with no length (a number, a generator).
    """
    return {name: _length(name, value) for name, value in values.items()}


def _length(name: str, value: object) -> int:
    shown = _short.repr(value)
    if isinstance(value, (str, bytes)):
        kind = type(value).__name__
        one = "string" if isinstance(value, str) else "bytes value"
        msg = (
            f"split({name}={shown}) got a {kind}; to split over characters pass "
            f"list({shown}), to split over one {one} pass [{shown}]"
        )
        raise StateError(msg)
    if isinstance(value, (Set, Mapping)):
        kind = type(value).__name__
        msg = (
            f"split({name}={shown}) got a {kind}, whose order is not a state order; "
            f"pass a list, e.g. sorted(...) or list(d.values())"
        )
        raise StateError(msg)
    try:
        if isinstance(value, Iterable):
            return len(value)  # type: ignore[arg-type]
    except TypeError:  # has __len__ but no length: a 0-d numpy array
        pass
    kind = type(value).__name__
    msg = (
        f"split({name}={shown}) got a {kind}, which is not a list of values; "
        f"pass a list, e.g. [{shown}] for one state or list(...) for an iterator"
    )
    raise StateError(msg)


def _parse(node: Any, *, top: Any) -> list[tuple[str, ...]]:
    """Flatten a splitter expression into groups of zipped names, one per dim."""
    if isinstance(node, str):
        return [(node,)]
    if isinstance(node, list):
        if not node:
            msg = f"empty splitter {top!r}: name at least one field to split over"
            raise StateError(msg)
        return [group for item in node for group in _parse(item, top=top)]
    if isinstance(node, tuple):
        return [_zip_names(node, top=top)]
    msg = (
        f"splitter {top!r} contains {node!r} ({type(node).__name__}); a splitter is "
        f"a field name, a list of splitters (outer product) or a tuple (zip)"
    )
    raise StateError(msg)


def _zip_names(node: tuple[Any, ...], *, top: Any) -> tuple[str, ...]:
    if not node:
        msg = f"empty zip () in splitter {top!r}: name the fields to zip"
        raise StateError(msg)
    names: list[str] = []
    for item in node:
        if isinstance(item, tuple):
            names += _zip_names(item, top=top)
        elif isinstance(item, str):
            names.append(item)
        elif isinstance(item, list):
            msg = (
                f"splitter {top!r} zips an outer product {item!r}, which is not "
                f"supported; zip plain names only, e.g. pass every zipped field a "
                f"list of the same length (expand the product with itertools.product "
                f"yourself), or split the product in an upstream node"
            )
            raise StateError(msg)
        else:
            _parse(item, top=top)  # raises: not a splitter at all
    return tuple(names)


def _make_dim(names: tuple[str, ...], lengths: Mapping[str, int]) -> Dim:
    missing = [name for name in names if name not in lengths]
    if missing:
        msg = (
            f"no values given to split {_listing(missing)}; "
            f"values were given for {_listing(sorted(lengths))}"
        )
        raise StateError(msg)
    sizes = {lengths[name] for name in names}
    if any(size < 0 for size in sizes):
        msg = f"negative length given for {_listing(names)}: {sorted(sizes)}"
        raise StateError(msg)
    if len(sizes) > 1:
        detail = ", ".join(f"{name!r} has {lengths[name]}" for name in names)
        msg = f"zipped fields {names!r} must have lists of the same length: {detail}"
        raise StateError(msg)
    return Dim(names, sizes.pop())


def _listing(names: Iterable[str]) -> str:
    shown = ", ".join(repr(n) for n in names)
    return shown or "(none)"


def _dim_text(dim: Dim) -> str:
    return repr(dim.names[0]) if len(dim.names) == 1 else repr(dim.names)
