"""Fixtures of the store tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import CHECKSUM


@pytest.fixture
def entry(tmp_path: Path) -> Path:
    """An entry directory inside a cache root."""
    directory = tmp_path / "cache" / f"Task-{CHECKSUM}"
    directory.mkdir(parents=True)
    return directory
