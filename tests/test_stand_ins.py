"""Hand-written stand-ins for library behaviour, each against the library it replaces.

Written for speed (the reasons are in their docstrings); each test fails as soon
as a stand-in gives another answer than the library on the inputs it is used on.
``engine/job.py``'s stand-ins are checked in ``tests/engine/test_job.py`` and
``tests/test_provenance_equivalence.py``.
"""

from __future__ import annotations

import importlib.metadata
import pickle
import re
from typing import Any

import cloudpickle
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pydra_lite.engine.stores import base as store_base
from pydra_lite.hashing import code, source

# --- hashing/code.py: _distribution_version for importlib.metadata.version -------

INSTALLED = sorted(
    {dist.metadata["Name"] for dist in importlib.metadata.distributions()}
)


@pytest.mark.parametrize("name", INSTALLED)
def test_distribution_version_is_importlib_metadata_version(name: str) -> None:
    assert code._distribution_version(name) == importlib.metadata.version(name)


def test_distribution_version_raises_as_importlib_metadata_does() -> None:
    missing = "surely-no-such-distribution-installed"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version(missing)
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        code._distribution_version(missing)


# --- hashing/source.py: _follows_class for a regular expression --------------------


def _regex_follows_class(text: str, name: str) -> bool:
    pattern = r"(?<!\w)class[ \t\f\r\n\\]+" + re.escape(name) + r"(?!\w)"
    return re.search(pattern, text) is not None


@given(
    text=st.text(alphabet=st.sampled_from(list("clasAB_é1 \t\n\\(:")), max_size=30)
    | st.builds(
        "".join,
        st.lists(
            st.sampled_from(["class", " ", "\\\n", "A", "AB", "_", "é", "x", ":"])
        ),
    ),
    name=st.sampled_from(["A", "AB", "A_", "é", "cls"]),
)
@example(text="class \\\n  A(Base):", name="A")
@example(text="\fclass\tA_", name="A")  # a longer name
@example(text="subclass A", name="A")  # a longer word
@example(text="classA", name="A")  # no space between
@example(text="classclass A", name="A")
@example(text="class AB", name="A")
@example(text="class B: class A", name="A")  # not the first class
@settings(max_examples=500)
def test_follows_class_is_the_regex(text: str, name: str) -> None:
    assert source._follows_class(text, name) is _regex_follows_class(text, name)


# --- engine/stores/base.py: plain pickle for cloudpickle on plain outputs -----------

SCALARS = (
    st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=10)
    | st.binary(max_size=10)
    | st.booleans()
    | st.none()
    | st.complex_numbers()
)
PLAIN = SCALARS | st.lists(SCALARS, max_size=5) | st.tuples(SCALARS, SCALARS)


@given(outputs=st.dictionaries(st.text(max_size=6), PLAIN, max_size=4))
def test_plain_outputs_pickle_to_the_bytes_cloudpickle_writes(
    outputs: dict[str, Any],
) -> None:
    assert store_base._all_plain(outputs)
    payload = (store_base.RESULT_FORMAT, "ab" * 16, outputs)
    protocol = pickle.HIGHEST_PROTOCOL
    assert pickle.dumps(payload, protocol=protocol) == cloudpickle.dumps(
        payload, protocol=protocol
    )


def test_what_is_not_plain_goes_through_cloudpickle() -> None:
    def local() -> None: ...

    assert not store_base._all_plain({"f": local})
    assert not store_base._all_plain({"nested": [[1]]})
    assert not store_base._all_plain({"set": {1}})
