"""Sphinx configuration: Markdown pages through MyST, warnings as errors (tox -e docs)."""

project = "pydra_lite"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
