"""Sphinx configuration for the pydra_lite site (``tox -e docs``: warnings are errors).

Pages are Markdown (MyST); the tutorials are the notebooks of ``notebooks/``,
rendered by myst-nb from the outputs stored in them (they are never executed
here: ``tests/integration/test_notebooks.py`` executes them, and with
``PYDRA_LITE_UPDATE_NOTEBOOKS=1`` writes the executed notebooks back). The API
page is generated from the docstrings by autodoc and napoleon.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))  # autodoc imports this checkout's pydra_lite

from pydra_lite import __version__  # noqa: E402

project = "pydra_lite"
author = "the pydra_lite developers"
copyright = f"2026, {author}"  # noqa: A001 (Sphinx's name)
version = release = __version__

extensions = [
    "myst_nb",  # Markdown pages (it includes myst_parser) and notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
root_doc = "index"
html_theme = "alabaster"
html_title = f"pydra_lite {release}"
html_theme_options = {
    "description": "Typed, cached, parallel scientific tasks",
    "fixed_sidebar": True,
    "page_width": "1200px",  # room for 88-column code and wide tables
    "body_max_width": "none",
}

# MyST: heading anchors for [text](page.md#section) links; ```{directive} fences.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# myst-nb: render the outputs stored in each notebook, never run a kernel here.
nb_execution_mode = "off"
nb_merge_streams = True
nb_render_markdown_format = "myst"  # Markdown outputs with tables (not CommonMark)

# autodoc + napoleon: Google-style docstrings. Docstrings name internal classes
# with :class:`Foo` roles that have no page of their own; those references stay
# plain text (nitpicky off) instead of failing the -W build.
nitpicky = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False

# The tutorials: notebooks/NN_name.ipynb is copied to docs/tutorials/ (kept out
# of git by docs/tutorials/.gitignore) so that Sphinx, which reads only
# docs/, renders it. A copy is rewritten only when its notebook changed, and a
# copy whose notebook is gone is removed, so renames need no manual cleanup.
NOTEBOOKS = REPO / "notebooks"
TUTORIALS = DOCS / "tutorials"


def copy_notebooks() -> None:
    TUTORIALS.mkdir(exist_ok=True)
    wanted = {path.name: path for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}
    for stale in TUTORIALS.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name, source in wanted.items():
        target = TUTORIALS / name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)


copy_notebooks()
