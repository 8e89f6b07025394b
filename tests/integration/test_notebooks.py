"""Every tutorial in notebooks/ runs top to bottom in a real Jupyter kernel.

The tutorials are numbered without gaps (``01_...``, ``02_...``), and each is
stored with the outputs of such a run, which the docs site renders without
executing anything (``docs/conf.py``). Each executed notebook is saved to
``docs/_build/notebooks/``; with ``PYDRA_LITE_UPDATE_NOTEBOOKS=1`` it is also
written back over its source, which refreshes the stored outputs::

    PYDRA_LITE_UPDATE_NOTEBOOKS=1 python -m pytest tests/integration/test_notebooks.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXECUTED = REPO / "docs" / "_build" / "notebooks"
UPDATE = os.environ.get("PYDRA_LITE_UPDATE_NOTEBOOKS") == "1"
REFRESH = (
    "PYDRA_LITE_UPDATE_NOTEBOOKS=1 python -m pytest tests/integration/test_notebooks.py"
)


def _outputs(notebook: nbformat.NotebookNode, kind: str) -> list[dict]:
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == kind
    ]


def test_notebooks_are_numbered_without_gaps() -> None:
    names = [path.name for path in NOTEBOOKS]
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", name) for name in names), names
    assert [int(name[:2]) for name in names] == list(range(1, len(names) + 1)), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout
    stored = nbformat.read(path, as_version=4)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        record_timing=False,  # no per-cell timestamps in the saved notebook
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    assert not _outputs(notebook, "error")
    streams = [output.get("text", "") for output in _outputs(notebook, "stream")]
    # Jupyter without ipywidgets: the text bar, and no "IProgress not found" warning.
    assert not [text for text in streams if "IProgress" in text]

    EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, EXECUTED / path.name)
    if UPDATE:
        nbformat.write(notebook, path)
        return
    # The stored notebook is what the docs show: it must be a complete run, in
    # order, with an output wherever this run has one.
    code = [cell for cell in stored.cells if cell.cell_type == "code"]
    fresh = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.get("execution_count") for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name} is not stored as run top to bottom (execution counts "
        f"{counts}); refresh it: {REFRESH}"
    )
    missing = [
        index
        for index, (old, new) in enumerate(zip(code, fresh, strict=True))
        if new.get("outputs") and not old.get("outputs")
    ]
    assert not missing, (
        f"{path.name}: code cells {missing} have no stored outputs; refresh: {REFRESH}"
    )
