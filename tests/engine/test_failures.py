"""What a user reads and gets when states fail (issue 17, cases 3 and 4).

The TaskFailedError names each failed state's inputs, in state order, the
first ten then "and N more", points only to ``_error.json`` files that
exist, and has the original traceback (real file names and source lines) as
its ``__cause__``, on every worker. A workflow with a failed branch still
gives the outputs of what succeeded, and says which states were skipped
because of which failure.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter, TaskFailedError, output_dir, python, workflow

WORKERS = [
    pytest.param(("serial", {}), id="serial"),
    pytest.param(("cf", {"n_procs": 2}), id="cf"),
]


@python.define
def Invert(a: int) -> float:
    if a in (3, 7):
        time.sleep(0.3 if a == 3 else 0.0)  # on cf, state 3 ends after state 7
        raise ZeroDivisionError(f"cannot invert {a}")
    return 1 / a


@python.define
def Always(a: int) -> int:
    raise ValueError(f"bad {a}")


@python.define
def Double(a: int) -> int:
    return 2 * a


@python.define
def Explode(a: int) -> int:
    if a == 2:
        raise RuntimeError("two explodes")
    return a


@python.define
def Vanish(a: int) -> int:
    shutil.rmtree(output_dir())  # its _error.json cannot be written
    raise ValueError(f"vanished {a}")


def _run(worker: tuple[str, dict[str, Any]], cache_dir: Path, task: Any, **kw: Any):  # type: ignore[no-untyped-def]
    name, options = worker
    with Submitter(cache_dir=cache_dir, worker=name, **options) as sub:
        return sub(task, **kw)


@pytest.mark.parametrize("worker", WORKERS)
def test_the_message_names_each_failed_state_by_its_inputs_in_state_order(
    worker: Any, cache_dir: Path
) -> None:
    with pytest.raises(TaskFailedError) as info:
        _run(worker, cache_dir, Invert().split(a=list(range(1, 13))))
    lines = str(info.value).splitlines()
    assert lines[0] == "Invert: 2 state(s) failed:"
    assert lines[1].startswith("  Invert state 2 (a=3): ZeroDivisionError: cannot ")
    assert lines[2].startswith("  Invert state 6 (a=7): ZeroDivisionError: cannot ")
    assert len(lines) == 3
    files = info.value.error_files
    assert len(files) == 2 and all(f.is_file() for f in files)
    assert f"see {files[0]}" in lines[1] and f"see {files[1]}" in lines[2]


def test_a_hundred_failures_are_the_first_ten_and_a_count(cache_dir: Path) -> None:
    with pytest.raises(TaskFailedError) as info:
        _run(("serial", {}), cache_dir, Always().split(a=list(range(100))))
    lines = str(info.value).splitlines()
    assert len(lines) <= 15
    assert lines[0] == "Always: 100 state(s) failed:"
    shown = [f"  Always state {i} (a={i}): ValueError: bad {i};" for i in range(10)]
    assert [line.split(" see ")[0] for line in lines[1:11]] == shown
    assert lines[11].startswith("  and 90 more")
    assert len(info.value.messages) == 100 and len(info.value.error_files) == 100


@pytest.mark.parametrize("worker", WORKERS)
def test_the_cause_is_the_original_traceback_with_file_and_source_line(
    worker: Any, cache_dir: Path
) -> None:
    with pytest.raises(TaskFailedError) as info:
        _run(worker, cache_dir, Always(a=5))
    cause = info.value.__cause__
    assert cause is not None
    text = str(cause)
    assert f'File "{__file__}", line ' in text
    assert 'raise ValueError(f"bad {a}")' in text
    assert text.rstrip().endswith('ValueError: bad 5\n"""')


SCRIPT = """
import sys
from pydra_lite import Submitter, TaskFailedError, python


@python.define
def Invert(a: int) -> float:
    return 1 / (a - 3)


if __name__ == "__main__":
    with Submitter(cache_dir=sys.argv[2], worker=sys.argv[1]) as sub:
        sub(Invert().split(a=[1, 2, 3, 4]))
"""


@pytest.mark.parametrize("worker", ["serial", "cf"])
def test_a_script_task_failing_shows_its_file_and_source_line(
    worker: str, run_script: Any, tmp_path: Path
) -> None:
    """A task defined in ``__main__`` travels by value to a cf process, where
    cloudpickle names its code ``<dynamic-code>``: the traceback printed
    names the script and the line anyway."""
    proc = run_script(SCRIPT, worker, str(tmp_path / "cache"), check=False)
    assert proc.returncode == 1
    err = proc.stderr
    assert "<dynamic-code>" not in err, err
    script = next(tmp_path.glob("script_*.py"))
    assert f'File "{script}", line 8, in Invert\n    return 1 / (a - 3)\n' in err, err
    assert "The above exception was the direct cause" in err
    assert "Invert state 2 (a=3): ZeroDivisionError: division by zero;" in err


def test_an_error_file_not_written_is_named_so(cache_dir: Path) -> None:
    with pytest.raises(TaskFailedError) as info:
        _run(("serial", {}), cache_dir, Vanish().split(a=[1, 2]))
    assert info.value.error_files == []
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    for line, a in zip(lines[1:], [1, 2], strict=True):
        assert (
            f"(a={a}): ValueError: vanished {a}; its _error.json was not written: "
            in line
        )
        assert "see " not in line


@workflow.define(outputs=["doubled", "exploded", "after"])
def TwoBranches(xs: list[int]) -> tuple[list[int], list[int], list[int]]:
    doubled = workflow.add(Double().split(a=xs))
    exploded = workflow.add(Explode().split(a=xs))
    after = workflow.add(Double(a=exploded.out), name="After")
    return doubled.out, exploded.out, after.out


@pytest.mark.parametrize("worker", WORKERS)
def test_a_failed_branch_leaves_the_other_branch_outputs_and_says_what_was_skipped(
    worker: Any, cache_dir: Path
) -> None:
    result = _run(worker, cache_dir, TwoBranches(xs=[1, 2, 3]), raise_errors=False)
    assert result.errored
    assert result.outputs.doubled == [2, 4, 6]
    assert result.outputs.exploded == [1, None, 3]
    assert result.outputs.after == [2, None, 6]
    skipped = [(s.node, s.state, s.upstream, s.upstream_state) for s in result.skipped]
    assert skipped == [("After", 1, "Explode", 1)]
    assert str(result.skipped[0]) == (
        "After state 1 skipped: upstream Explode state 1 failed"
    )
    assert [(e["node"], e["state"]) for e in result.errors] == [("Explode", 1)]
    assert result.output_dir is None  # the workflow's entry is not published
    assert not list(cache_dir.glob("TwoBranches-*"))
    with pytest.raises(TaskFailedError, match=r"Explode state 1 \(a=2\)"):
        _run(worker, cache_dir, TwoBranches(xs=[1, 2, 3]))
