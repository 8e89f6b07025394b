"""Fixtures of the ewoks tests: an execution log and a cache directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def executed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], list[str]]:
    """Return a function giving the executions logged so far, and forget them."""
    log = tmp_path / "executed.log"
    monkeypatch.setenv("EWOKS_TEST_LOG", str(log))

    def read() -> list[str]:
        lines = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return lines

    return read
