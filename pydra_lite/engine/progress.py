"""Progress bars: tqdm on a terminal or in Jupyter, nothing otherwise."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from tqdm.std import tqdm

PROGRESS_MIN_STATES = 50
"""Runs with fewer states than this show no progress bar."""


def progress_bar(total: int, wanted: bool | None) -> Any:
    """A tqdm bar on a terminal or in Jupyter; disabled otherwise.

    In Jupyter it is a widget when ipywidgets is installed and the text bar
    when it is not: ``tqdm.auto`` would warn "IProgress not found" on import,
    in every notebook of a user who never asked for widgets.
    """
    if wanted is None:
        wanted = total >= PROGRESS_MIN_STATES and _is_interactive()
    if not wanted:  # not even a disabled tqdm: making the first one is slow
        return _NoBar()
    bar = _notebook_bar() if "ipykernel" in sys.modules else None
    return (bar or tqdm)(total=total, unit="state", leave=False)


class _NoBar:
    """What a run without a progress bar updates."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to close."""

    def update(self, n: int = 1) -> None:
        """Nothing to show."""


def _is_interactive() -> bool:
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr.isatty()


def _notebook_bar() -> Any:
    """tqdm's widget bar, or None without ipywidgets (imported only when used)."""
    if importlib.util.find_spec("ipywidgets") is None:
        return None
    from tqdm.notebook import tqdm as notebook_tqdm  # noqa: PLC0415 (optional, heavy)

    return notebook_tqdm
