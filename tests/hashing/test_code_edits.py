"""Edits inside one process (issue 16, case 2): a notebook that reassigns a
constant, redefines a helper, or reassigns a module attribute at run time
must miss the cache in the same process, as a new process would.

The scenarios use the user API only (``python``, ``workflow``, ``Submitter``),
so that this file also runs against an older checkout; the tests of the
guards themselves import ``pydra_lite.hashing.code`` inside the test.
"""

from __future__ import annotations

import gc
import importlib.util
import itertools
import linecache
import os
import pickle
import sys
import textwrap
import types
import weakref
from pathlib import Path
from typing import Any

import pytest

import pydra_lite
from pydra_lite import Submitter, python, workflow

_counter = itertools.count()


class Notebook:
    """Cells executed into one ``__main__`` without a file, as IPython does:
    each cell's source is registered in ``linecache`` under a made-up name."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
        self.module = types.ModuleType("__main__")
        self.module.__dict__.update(python=python, workflow=workflow)
        monkeypatch.setitem(sys.modules, "__main__", self.module)
        self.cache = cache
        self.names: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def cell(self, source: str) -> None:
        source = textwrap.dedent(source)
        name = f"/tmp/ipykernel_{os.getpid()}/cell_{next(_counter)}.py"
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        self.names.append(name)
        exec(compile(source, name, "exec"), self.module.__dict__)

    def run(self, task: Any) -> tuple[Any, bool]:
        """The task's output and whether it came from the cache."""
        with Submitter(cache_dir=self.cache) as sub:
            result = sub(task)
        return result.outputs.out, result.cached

    def forget(self) -> None:
        for name in self.names:
            linecache.cache.pop(name, None)


@pytest.fixture
def nb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PYDRA_LITE_HASH_MEMO", str(tmp_path / "memo.sqlite"))
    notebook = Notebook(monkeypatch, tmp_path / "cache")
    yield notebook
    notebook.forget()


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write source as a new importable module of the user's (not installed)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> types.ModuleType:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, loaded)
        spec.loader.exec_module(loaded)
        return loaded

    return write


SCALE_TASK = """
SCALE = 2

@python.define
def Scale(x: int) -> int:
    return x * SCALE
"""


def test_a_constant_reassigned_in_a_new_cell_is_seen(nb: Notebook) -> None:
    nb.cell(SCALE_TASK)
    assert nb.run(nb.Scale(x=5)) == (10, False)
    assert nb.run(nb.Scale(x=5)) == (10, True)  # nothing changed: a hit
    nb.cell("SCALE = 3")
    assert nb.run(nb.Scale(x=5)) == (15, False)
    nb.cell("SCALE = 2")  # back to the first value: its entry again
    assert nb.run(nb.Scale(x=5)) == (10, True)


def test_a_helper_redefined_in_a_new_cell_is_seen(nb: Notebook) -> None:
    nb.cell(
        """
        def helper(x):
            return x + 1

        @python.define
        def Use(x: int) -> int:
            return helper(x)
        """
    )
    assert nb.run(nb.Use(x=5)) == (6, False)
    nb.cell(
        """
        def helper(x):
            return x + 100
        """
    )
    assert nb.run(nb.Use(x=5)) == (105, False)


def test_a_constant_read_by_a_helper_of_a_helper_is_seen(nb: Notebook) -> None:
    """The guards are transitive: the task reads none of the constant itself."""
    nb.cell(
        """
        OFFSET = 1

        def inner(x):
            return x + OFFSET

        def outer(x):
            return 2 * inner(x)

        @python.define
        def Deep(x: int) -> int:
            return outer(x)
        """
    )
    assert nb.run(nb.Deep(x=5)) == (12, False)
    nb.cell("OFFSET = 10")
    assert nb.run(nb.Deep(x=5)) == (30, False)


def test_a_workflow_sees_a_constant_its_node_reads(nb: Notebook) -> None:
    nb.cell(
        SCALE_TASK
        + """
@workflow.define
def Twice(x: int) -> int:
    once = workflow.add(Scale(x=x), name="once").out
    return workflow.add(Scale(x=once), name="twice").out
"""
    )
    assert nb.run(nb.Twice(x=1)) == (4, False)
    assert nb.run(nb.Twice(x=1)) == (4, True)
    nb.cell("SCALE = 3")
    assert nb.run(nb.Twice(x=1)) == (9, False)


def test_a_module_attribute_reassigned_at_run_time_is_seen(
    nb: Notebook, module: Any
) -> None:
    """``helpers.SCALE = 4``: the task reads the global ``helpers``, then its
    attribute ``SCALE``; both bindings are guarded."""
    helpers = module(f"helpers_{next(_counter)}", "SCALE = 3\n")
    nb.module.__dict__["helpers"] = helpers
    nb.cell(
        """
        @python.define
        def ModScale(x: int) -> int:
            return x * helpers.SCALE
        """
    )
    assert nb.run(nb.ModScale(x=5)) == (15, False)
    helpers.SCALE = 4
    assert nb.run(nb.ModScale(x=5)) == (20, False)


def test_a_library_modules_own_global_reassigned_at_run_time_is_seen(
    nb: Notebook, module: Any
) -> None:
    """A helper in another of the user's modules reads its own global; the
    notebook reassigns it from outside (``tools.FACTOR = 5``)."""
    tools = module(
        f"tools_{next(_counter)}",
        """
        FACTOR = 2

        def scale(x):
            return x * FACTOR
        """,
    )
    nb.module.__dict__["scale"] = tools.scale  # from tools import scale
    nb.cell(
        """
        @python.define
        def UseTools(x: int) -> int:
            return scale(x)
        """
    )
    assert nb.run(nb.UseTools(x=5)) == (10, False)
    tools.FACTOR = 5
    assert nb.run(nb.UseTools(x=5)) == (25, False)


def test_code_patched_in_place_is_seen(nb: Notebook) -> None:
    """IPython's autoreload replaces a function's ``__code__`` in place."""
    nb.cell(
        """
        def helper(x):
            return x + 1

        @python.define
        def Patched(x: int) -> int:
            return helper(x)
        """
    )
    assert nb.run(nb.Patched(x=5)) == (6, False)
    nb.cell(
        """
        def _new_helper(x):
            return x + 1000
        helper.__code__ = _new_helper.__code__
        """
    )
    assert nb.run(nb.Patched(x=5)) == (1005, False)


def test_an_object_changed_in_place_is_not_followed(nb: Notebook) -> None:
    """Documented (docs/hashing.md, "Edits inside one process"): the guards
    compare identities, so a dict changed in place keeps the old digest in this
    process; rebinding the name is seen."""
    nb.cell(
        """
        CONFIG = {"k": 1}

        @python.define
        def Configured(x: int) -> int:
            return x + CONFIG["k"]
        """
    )
    assert nb.run(nb.Configured(x=5)) == (6, False)
    nb.cell('CONFIG["k"] = 2')
    assert nb.run(nb.Configured(x=5)) == (6, True)  # not followed in-process
    nb.cell('CONFIG = {**CONFIG, "k": 2}')
    assert nb.run(nb.Configured(x=5)) == (7, False)


# --- the guards themselves (internals: this checkout only) --------------------


def test_an_unchanged_rerun_reuses_the_memo(nb: Notebook) -> None:
    from pydra_lite.compose.base import operation_hash
    from pydra_lite.hashing import hash_function

    nb.cell(SCALE_TASK)
    digest = hash_function(nb.Scale._function)
    assert hash_function(nb.Scale._function) is digest  # the memo, not a new walk
    op_hash = operation_hash(nb.Scale)
    assert operation_hash(nb.Scale) is op_hash
    nb.cell("SCALE = 3")
    assert hash_function(nb.Scale._function) != digest
    assert operation_hash(nb.Scale) != op_hash
    nb.cell("SCALE = 2")
    assert hash_function(nb.Scale._function) == digest  # guards change no digest


def test_the_guards_name_what_the_walk_read(nb: Notebook, module: Any) -> None:
    from pydra_lite.compose.base import operation_hash

    helpers = module(f"helpers_{next(_counter)}", "SCALE = 3\nOTHER = 1\n")
    nb.module.__dict__["helpers"] = helpers
    nb.cell(
        """
        import json

        def helper(x):
            return json.dumps(x)

        @python.define
        def Reads(x: int) -> str:
            return helper(x * helpers.SCALE)
        """
    )
    operation_hash(nb.Reads)
    guards = nb.Reads.__dict__["_op_hash"][1]
    names = {(space.get("__name__"), name) for space, name, _ in guards.names}
    assert names == {
        ("__main__", "helper"),
        ("__main__", "helpers"),
        ("__main__", "json"),
        (helpers.__name__, "SCALE"),  # not OTHER: only the attribute read
    }
    functions = {ref().__name__ for ref, *_ in guards.functions}
    assert functions == {"Reads", "helper"}
    helpers.OTHER = 2  # not read: still holds
    assert guards.hold()
    helpers.SCALE = 4
    assert not guards.hold()


def test_a_rebound_function_is_not_kept_alive_by_the_memo(nb: Notebook) -> None:
    """A recursive function's guards name the function itself: held weakly."""
    from pydra_lite.hashing import hash_function
    from pydra_lite.hashing.code import _CODE_MEMO

    nb.cell(
        """
        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)
        """
    )
    hash_function(nb.fact)
    old = weakref.ref(nb.fact)
    nb.cell(
        """
        def fact(n):
            return 1 if n < 2 else n * fact(n - 1)
        """
    )
    hash_function(nb.fact)
    gc.collect()
    assert old() is None
    assert len([f for f in _CODE_MEMO if getattr(f, "__name__", "") == "fact"]) == 1


def test_a_pickled_task_class_carries_its_hash_without_guards(nb: Notebook) -> None:
    """What a worker process gets: the digest, no bindings of this process."""
    import cloudpickle

    from pydra_lite.compose.base import operation_hash
    from pydra_lite.hashing.code import CodeGuards

    nb.cell(SCALE_TASK)
    op_hash = operation_hash(nb.Scale)
    assert nb.Scale.__dict__["_op_hash"][1].names  # SCALE is guarded here
    copy = pickle.loads(cloudpickle.dumps(nb.Scale))
    memo = copy.__dict__["_op_hash"]
    assert memo[0] == op_hash
    assert isinstance(memo[1], CodeGuards)
    assert not memo[1].names and not memo[1].functions
    assert operation_hash(copy) == op_hash


# --- a real notebook ------------------------------------------------------------


@pytest.mark.slow
def test_a_real_notebook_sees_a_constant_changed_in_a_later_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cells 1-2 define and run a task, cell 3 changes the constant it reads,
    cell 4 runs it again in the same kernel: the output changes."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    repo = Path(pydra_lite.__file__).resolve().parents[1]  # the checkout under test
    monkeypatch.setenv("PYTHONPATH", str(repo))
    monkeypatch.setenv("PYDRA_LITE_HASH_MEMO", str(tmp_path / "memo.sqlite"))
    cells = [
        f"""
from pydra_lite import Submitter, python

CACHE = {str(tmp_path / "cache")!r}
SCALE = 2

@python.define
def Scale(x: int) -> int:
    return x * SCALE
""",
        """
with Submitter(cache_dir=CACHE) as sub:
    result = sub(Scale(x=5))
print("run1", result.outputs.out, result.cached)
""",
        "SCALE = 3",
        """
with Submitter(cache_dir=CACHE) as sub:
    result = sub(Scale(x=5))
print("run2", result.outputs.out, result.cached)
""",
    ]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    )
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    printed = [
        output.get("text", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    ]
    lines = [line for text in printed for line in text.splitlines()]
    assert "run1 10 False" in lines
    assert "run2 15 False" in lines
