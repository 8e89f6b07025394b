"""The docs site builds with warnings as errors and has every page it promises.

One ``sphinx-build -W -b html`` into a temporary directory (about ten seconds,
hence ``slow``), then checks on the HTML: the landing page, install,
quickstart, one page per notebook showing the outputs stored in it, the
how-to guides, and an API page with every name of ``pydra_lite.__all__``.
The Python blocks of the pages are run too, so that they keep working against
the current API. Needs the ``docs`` extra (Sphinx, myst-nb); skipped without it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

import pydra_lite

pytest.importorskip("sphinx", reason="the docs need Sphinx: pip install -e '.[docs]'")
pytest.importorskip("myst_nb", reason="the docs need myst-nb: pip install -e '.[docs]'")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
HOWTOS = ["debug-failed-state", "share-cache", "slurm", "dask", "port-pydra-task"]
MODULES = {"python", "shell", "workflow"}  # in __all__ as modules: documented by define


class _Text(HTMLParser):
    """The text of a page, and the ids and classes of its elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.ids: set[str] = set()
        self.classes: list[str] = []
        self.tags: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        self.classes.append(values.get("class") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def _page(site: Path, name: str) -> _Text:
    path = site / f"{name}.html"
    assert path.is_file(), f"the site has no page {name}.html"
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q"]
    build = subprocess.run(
        [*command, "-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, f"sphinx-build -W failed:\n{build.stderr}"
    return out


def test_landing_page_says_what_it_is_and_shows_the_tour(site: Path) -> None:
    page = _page(site, "index")
    assert "Typed, cached, parallel scientific tasks" in page.text
    assert "A short tour" in page.text
    assert "from pydra_lite import Submitter" in page.text
    assert "the pydra_lite developers" in page.text  # the footer's copyright
    for caption in ("Getting started", "How-to guides", "Reference"):
        assert caption in page.text


@pytest.mark.parametrize(
    "name",
    ["install", "quickstart", "tutorials", *(f"howto/{h}" for h in HOWTOS)],
)
def test_page_exists(site: Path, name: str) -> None:
    assert _page(site, name).text


def test_reference_pages_are_in_the_site(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    for name in ("caching", "splitting", "workflows", "hashing", "shell", "stores"):
        assert f'href="{name}.html"' in index
    for name in ("workers", "ewoks", "architecture", "api"):
        assert f'href="{name}.html"' in index


def test_api_page_documents_every_public_name(site: Path) -> None:
    page = _page(site, "api")
    for shown in ("Submitter", "python.define", "shell.define", "workflow.define"):
        assert shown in page.text
    assert "pydra_lite.ewoks.execute_graph" in page.ids
    missing = [
        name
        for name in pydra_lite.__all__
        if (f"pydra_lite.{name}.define" if name in MODULES else f"pydra_lite.{name}")
        not in page.ids
    ]
    assert not missing, f"the API page does not document {missing}"


def _output_lines(notebook: nbformat.NotebookNode) -> list[str]:
    """The first line of each stored text output (streams and plain results)."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            if output.get("output_type") == "stream":
                text = output.get("text", "")
            elif "text/markdown" not in data and "text/html" not in data:
                text = data.get("text/plain", "")
            else:
                continue
            first = next((line for line in text.splitlines() if line.strip()), "")
            if first:
                lines.append(" ".join(first.split()))
    return lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_page_shows_its_executed_outputs(site: Path, path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    with_outputs = [
        cell for cell in notebook.cells if cell.cell_type == "code" and cell.outputs
    ]
    assert with_outputs, (
        f"{path.name} is stored without outputs: run PYDRA_LITE_UPDATE_NOTEBOOKS=1 "
        "python -m pytest tests/integration/test_notebooks.py"
    )
    page = _page(site, f"tutorials/{path.stem}")
    shown = [c for c in page.classes if "cell_output" in c.split()]
    assert len(shown) == len(with_outputs)
    missing = [line for line in _output_lines(notebook) if line not in page.text]
    assert not missing, f"tutorials/{path.stem}.html lacks the outputs {missing}"
    tables = [  # Markdown outputs holding a table are rendered as tables
        output
        for cell in with_outputs
        for output in cell.outputs
        if "| --- |" in output.get("data", {}).get("text/markdown", "")
    ]
    assert page.tags.count("table") >= len(tables)


def test_tutorials_page_lists_every_notebook(site: Path) -> None:
    html = (site / "tutorials.html").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f'href="tutorials/{path.stem}.html"' in html


# --- the pages' code runs -------------------------------------------------------

SNIPPET_PAGES = [
    "index",
    "quickstart",
    "howto/debug-failed-state",
    "howto/share-cache",
    "howto/port-pydra-task",
    "howto/dask",  # a LocalCluster; slurm.md needs a cluster and is left out
]


@pytest.mark.parametrize("name", SNIPPET_PAGES)
def test_page_code_runs(name: str, tmp_path: Path) -> None:
    """The page's ```python blocks, in order, as one script in a new directory.

    A block whose first line is ``# <file>.py`` is written to that file (and run
    as a script when it has a ``__main__`` guard); blocks importing Pydra itself
    (the "before" of the porting guide) are left out.
    """
    if name == "howto/dask":
        pytest.importorskip("distributed", reason="the dask extra is not installed")
    text = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks, f"{name}.md has no python blocks"
    scripts, main = [], []
    for block in blocks:
        if re.search(r"^(from pydra\.|import pydra$)", block, flags=re.M):
            continue
        first = block.splitlines()[0]
        if re.fullmatch(r"# \w+\.py", first):
            (tmp_path / first[2:]).write_text(block)
            if '__name__ == "__main__"' in block:
                scripts.append(first[2:])
        else:
            main.append(block)
    (tmp_path / "page.py").write_text("\n".join(main))
    for script in [*scripts, "page.py"]:
        run = subprocess.run(
            [sys.executable, script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
        assert run.returncode == 0, f"{name}.md, {script}:\n{run.stderr[-3000:]}"
