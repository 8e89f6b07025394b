"""The nexus store's file: real HDF5 datasets in NeXus groups.

The whole module skips where h5py cannot be imported; the nexus store's share
of the store contract is in test_base.py and test_encoding.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .helpers import NEXUS_REASON

h5py = pytest.importorskip("h5py", reason=NEXUS_REASON)

import numpy as np  # noqa: E402

from pydra_lite.engine.stores import RESULT_FORMAT, get_store  # noqa: E402

from .helpers import CHECKSUM, Point, make_file  # noqa: E402


def test_nexus_writes_real_datasets_in_nexus_groups(entry: Path) -> None:
    outputs = {
        "count": 3,
        "ratio": 0.5,
        "name": "héllo",
        "image": np.arange(6, dtype=np.int32).reshape(2, 3),
        "scalar": np.float32(2.5),
        "xs": [0.5, 1.5, 2.5],
        "params": {"alpha": 1, "beta": [1, "b"]},
        "point": Point(1, 2.0),
        "file": make_file(entry),
    }
    path = entry / "_result.h5"
    get_store("nexus").dump(str(path), CHECKSUM, outputs)
    with h5py.File(path, "r") as handle:
        assert handle.attrs["NX_class"] == "NXroot"
        assert handle.attrs["checksum"] == CHECKSUM
        assert handle.attrs["format"] == RESULT_FORMAT
        assert handle.attrs["creator"].startswith("pydra_lite")
        results = handle["results"]
        assert results.attrs["NX_class"] == "NXentry"
        assert list(results) == list(outputs)  # in output order
        assert_dataset(results["count"], "int64", (), "int")
        assert_dataset(results["ratio"], "float64", (), "float")
        assert results["name"].asstr()[()] == "héllo"
        assert_dataset(results["image"], "int32", (2, 3), "numpy.ndarray")
        assert results["image"][1, 2] == 5
        assert_dataset(results["scalar"], "float32", (), "numpy.generic")
        assert_dataset(results["xs"], "float64", (3,), "list")
        params = results["params"]
        assert isinstance(params, h5py.Group)
        assert params.attrs["NX_class"] == "NXcollection"
        assert_dataset(params["alpha"], "int64", (), "int")
        assert params["beta"].attrs["NX_class"] == "NXcollection"
        assert results["point"].dtype.kind == "V"  # opaque cloudpickle bytes
        assert results["point"].attrs["python_type"] == "pickle"
        assert results["file"].asstr()[()].tolist() == ["out.txt"]
        assert results["file"].attrs["file_type"] == "generic/file"


def assert_dataset(
    node: Any, dtype: str, shape: tuple[int, ...], python_type: str
) -> None:
    assert isinstance(node, h5py.Dataset)
    assert (str(node.dtype), node.shape) == (dtype, shape)
    assert node.attrs["python_type"] == python_type
