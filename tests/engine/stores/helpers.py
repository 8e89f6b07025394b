"""What the store tests share: a checksum, a user's own types, one round trip.

Importing this module never imports h5py: the ``nexus`` parameters skip, with
:data:`NEXUS_REASON`, where h5py cannot be imported.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import attrs
import pytest
from fileformats.generic import File

from pydra_lite.engine.stores import get_store

NEXUS_REASON = "the nexus store needs h5py (pip install 'pydra-lite[nexus]')"


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


needs_h5py = pytest.mark.skipif(not _importable("h5py"), reason=NEXUS_REASON)
"""Mark for a test, or a ``nexus`` parameter, that needs h5py."""

STORES = ["pickle", "json", pytest.param("nexus", marks=needs_h5py)]
"""Every built-in store."""

ENCODED = ["json", pytest.param("nexus", marks=needs_h5py)]
"""The stores that encode values (and files) rather than pickle the outputs."""

CHECKSUM = "0123456789abcdef" * 4


@attrs.frozen
class Point:
    """A user's own class: stored by pickling in every store."""

    x: int
    y: float


class Report(File):
    """A user's own file type, outside the fileformats namespace (no MIME name)."""

    ext = ".rpt"


def round_trip(store_name: str, entry: Path, outputs: dict[str, Any]) -> dict[str, Any]:
    store = get_store(store_name)
    path = str(entry / store.filename)
    store.dump(path, CHECKSUM, outputs)
    return store.load(path, CHECKSUM)


def make_file(directory: Path, name: str = "out.txt", text: str = "data") -> File:
    path = directory / name
    path.write_text(text)
    return File(path)
