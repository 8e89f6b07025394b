"""Issue 16, cases 1 and 5: claiming an entry to run it never leaves a wrong hit.

Once a state is claimed to run, nothing in its entry is a hit until a new
result is published: a rerun that fails or is killed, or a run with another
store, never leaves an old result beside the files it destroyed. An entry
with ``_error.json`` is never a hit. A symlink named like an entry is refused,
never followed, so its target's files are untouched.

Tasks come in two kinds: one returns its file as a ``File`` (the issue's
example; the stores also check such a file's size and mtime when reading a
result), the other only writes it into its output directory, where the user
reads it (nothing but the claim rule protects that one).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import (
    CacheWarning,
    File,
    Submitter,
    TaskFailedError,
    output_dir,
    python,
    workflow,
)
from pydra_lite.engine import cache as cache_module
from pydra_lite.engine.cache import Cache, CacheSpec

REPO = Path(__file__).resolve().parents[2]

# The user program, run as separate processes. FAIL makes the task
# raise after writing half its file; KILL makes it SIGKILL its own process
# there; SLOW writes SLOW chunks of 64 KiB, 5 ms apart, before the end.
# KIND=file runs W, which returns its file; KIND=dir runs V, which returns the
# number of bytes written: the user reads f.txt in the state's output_dir.
SCRIPT = """
import json, os, signal, sys, time
from pathlib import Path
from pydra_lite import File, Submitter, output_dir, python

def write() -> Path:
    path = output_dir() / "f.txt"
    with open(path, "w") as fh:
        fh.write("partial ")
        fh.flush()
        if os.environ.get("FAIL"):
            raise RuntimeError("transient failure")
        if os.environ.get("KILL"):
            os.kill(os.getpid(), signal.SIGKILL)
        for _ in range(int(os.environ.get("SLOW", "0"))):
            fh.write("." * 65536)
            fh.flush()
            time.sleep(0.005)
        fh.write("complete\\n")
    return path

@python.define
def W(x: int) -> File:
    return File(write())

@python.define
def V(x: int) -> int:
    return write().stat().st_size

if __name__ == "__main__":
    kind = os.environ.get("KIND", "file")
    task = W(x=1) if kind == "file" else V(x=1)
    print("ready", flush=True)
    store = os.environ.get("STORE", "pickle")
    with Submitter(cache_dir=Path("cache"), store=store) as sub:
        res = sub(task, rerun=os.environ.get("RERUN") == "1", raise_errors=False)
    text = None
    if not res.errored:
        path = Path(res.outputs.out if kind == "file" else res.output_dir / "f.txt")
        text = path.read_text()[-9:] if path.exists() else "(missing)"
    print(json.dumps({"cached": res.cached, "errored": res.errored, "text": text}))
"""

COMPLETE = "complete\n"
KINDS = ["file", "dir"]


def _report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _assert_not_a_partial_hit(report: dict[str, Any]) -> None:
    assert not report["errored"] and report["text"] == COMPLETE, report
    assert not report["cached"], "the entry of the failed run was a hit"


@pytest.mark.parametrize(
    ("how", "kind"), [("FAIL", "file"), ("KILL", "file"), ("FAIL", "dir")]
)
def test_a_failed_or_killed_rerun_leaves_no_hit(
    run_script: Any, how: str, kind: str
) -> None:
    """Case (a): run; rerun that fails or is killed midway; a plain run reruns."""
    env = {"KIND": kind}
    first = _report(run_script(SCRIPT, env=env))
    assert first == {"cached": False, "errored": False, "text": COMPLETE}
    broken = run_script(SCRIPT, env={**env, how: "1", "RERUN": "1"}, check=False)
    if how == "FAIL":
        assert _report(broken)["errored"]
    else:
        assert broken.returncode == -signal.SIGKILL
    _assert_not_a_partial_hit(_report(run_script(SCRIPT, env=env)))


@pytest.mark.parametrize(("how", "kind"), [("FAIL", "file"), ("KILL", "dir")])
def test_a_run_with_another_store_does_not_leave_the_first_ones_result(
    run_script: Any, how: str, kind: str
) -> None:
    """Case (d): cached with pickle, then run with json and failed or killed
    midway: the pickle result must not be a hit over the destroyed files."""
    env = {"KIND": kind}
    assert not _report(run_script(SCRIPT, env=env))["cached"]
    run_script(SCRIPT, env={**env, how: "1", "STORE": "json"}, check=False)
    _assert_not_a_partial_hit(_report(run_script(SCRIPT, env=env)))
    assert _report(run_script(SCRIPT, env=env))["cached"]  # and it is whole again


def test_kill_drill_never_leaves_a_hit_with_a_partial_file(tmp_path: Path) -> None:
    """Case (c): rerun a slow writer, SIGKILL it at random moments; after
    each kill the entry is a miss or whole, and a plain run agrees. The task
    returns no File, so only the claim rule can keep a partial file out."""
    script = tmp_path / "drill.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SLOW": "30", "KIND": "dir"}

    def start(**extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env={**env, **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    first = start()
    assert json.loads(first.communicate(timeout=60)[0].splitlines()[-1])["text"]
    root = tmp_path / "cache"
    (entry,) = root.glob("V-*")
    cache = Cache(CacheSpec(root))
    checksum = entry.name.removeprefix("V-")
    moments = random.Random(16)
    wrong: list[str] = []
    deadline = time.monotonic() + 12
    trials = 0
    while trials < 8 and time.monotonic() < deadline:
        trials += 1
        proc = start(RERUN="1")
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        delay = moments.uniform(0.0, 0.3)  # the task's writes take ~0.2 s
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        found = cache.load("V", checksum)
        data = entry / "f.txt"
        if found is not None and not (
            data.exists() and data.read_text().endswith(COMPLETE)
        ):
            wrong.append(f"killed after {delay:.3f} s: a hit beside a partial file")
    assert not wrong, wrong
    last = start()
    report = json.loads(last.communicate(timeout=60)[0].splitlines()[-1])
    assert not report["errored"] and report["text"] == COMPLETE


# ------------------------------------------------------------ in this process

_FAIL = "PYDRA_LITE_TEST_FAIL"


def _write(x: int) -> Path:
    path = output_dir() / "f.txt"
    with open(path, "w") as fh:
        fh.write(f"{x} partial ")
        if os.environ.get(_FAIL):
            raise RuntimeError("transient failure")
        fh.write(COMPLETE)
    return path


@python.define
def Half(x: int) -> File:
    """Writes half its file, then fails when asked to; returns the file."""
    return File(_write(x))


@python.define
def HalfInDir(x: int) -> int:
    """Writes half its file, then fails when asked to; returns its size."""
    return _write(x).stat().st_size


@workflow.define
def OneHalf(x: int) -> File:
    return workflow.add(Half(x=x)).out


def _complete(path: Any) -> bool:
    return Path(path).exists() and Path(path).read_text().endswith(COMPLETE)


def _state_file(result: Any) -> Path:
    """The file a state wrote, as its user finds it."""
    if isinstance(result.outputs.out, int):
        return Path(result.output_dir) / "f.txt"
    return Path(result.outputs.out)


@pytest.mark.filterwarnings("ignore::pydra_lite.CacheWarning")  # the changed files
@pytest.mark.parametrize("kind", KINDS)
def test_split_whose_rerun_fails_for_every_state_leaves_no_state_a_hit(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Case (b): a split's rerun fails for all its states; then no state is
    cached with a partial file, looked up through the split or run alone."""
    n, task_class = 200, Half if kind == "file" else HalfInDir
    task = task_class().split(x=list(range(n)))
    with Submitter(cache_dir=cache_dir) as sub:
        assert all(_complete(_state_file(state)) for state in sub(task).states)
        monkeypatch.setenv(_FAIL, "1")
        failed = sub(task, rerun=True, raise_errors=False)
        assert failed.errored and len(failed.errors) == n
        monkeypatch.delenv(_FAIL)
        states = sub(task, raise_errors=False).states
        assert states is not None and len(states) == n
        for state in states:  # errored, or run again: never a hit
            assert not state.cached
            assert state.errored or _complete(_state_file(state))
        for x in range(n):
            alone = sub(task_class(x=x))
            assert _complete(_state_file(alone))


@pytest.mark.filterwarnings("ignore::pydra_lite.CacheWarning")  # the changed file
@pytest.mark.parametrize("kind", ["split", "workflow"])
def test_aggregate_entry_is_not_a_hit_after_its_states_failed_a_rerun(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A split's or workflow's own entry, after the rerun of its states failed.

    Its outputs name the states' files, which the stores check when reading
    it. (An aggregate whose outputs name no file is not covered by the claim
    rule: the submitter would have to empty its entry before running states.)
    """
    task = Half().split(x=[1, 2, 3]) if kind == "split" else OneHalf(x=1)
    with Submitter(cache_dir=cache_dir) as sub:
        sub(task)
        monkeypatch.setenv(_FAIL, "1")
        assert sub(task, rerun=True, raise_errors=False).errored
        monkeypatch.delenv(_FAIL)
        again = sub(task)
    assert not again.cached, "the aggregate entry of the failed rerun was a hit"


def test_symlinked_entry_is_refused_and_its_target_untouched(
    cache_dir: Path, tmp_path: Path
) -> None:
    """Case (e): a symlink named like an entry, to a directory of the user's."""
    with Submitter(cache_dir=cache_dir) as sub:
        entry = sub(Half(x=5)).output_dir
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "keep.txt").write_text("precious")
    (data / "sub" / "deep.txt").write_text("precious too")
    for child in entry.iterdir():
        child.unlink()
    entry.rmdir()
    entry.symlink_to(data, target_is_directory=True)
    for rerun in (False, True):
        with (
            Submitter(cache_dir=cache_dir) as sub,
            pytest.raises(TaskFailedError, match=re.escape(str(entry))),
        ):
            sub(Half(x=5), rerun=rerun)
        assert sorted(p.name for p in data.rglob("*")) == [
            "deep.txt",
            "keep.txt",
            "sub",
        ]
        assert (data / "keep.txt").read_text() == "precious"


def test_two_entries_linked_together_do_not_destroy_each_other(
    cache_dir: Path,
) -> None:
    """Case (e): one entry's path is a symlink to another's directory."""
    with Submitter(cache_dir=cache_dir) as sub:
        one, two = sub(Half(x=1)).output_dir, sub(Half(x=2)).output_dir
    for child in one.iterdir():
        child.unlink()
    one.rmdir()
    one.symlink_to(two, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in two.iterdir()}
    with (
        Submitter(cache_dir=cache_dir) as sub,
        pytest.warns(CacheWarning, match="written for checksum"),
        pytest.raises(TaskFailedError, match=re.escape(str(one))),
    ):
        sub(Half(x=1))
    assert {p.name: p.read_bytes() for p in two.iterdir()} == before
    with Submitter(cache_dir=cache_dir) as sub:
        still = sub(Half(x=2))
    assert still.cached and (two / "f.txt").read_text() == f"2 partial {COMPLETE}"


# ------------------------------------------------------------------ the Cache


def _entry(cache: Cache, checksum: str, store: str = "pickle") -> Path:
    """A published entry of ``store`` with a task's file in it."""
    writer = Cache(CacheSpec(cache.root, store=store))
    directory = writer.claim("Task", checksum)
    assert isinstance(directory, Path)
    (directory / "data.txt").write_text("complete")
    writer.publish(directory, checksum, {"out": 1}, {"task": "Task"})
    return directory


@pytest.mark.filterwarnings("ignore::pydra_lite.CacheWarning")  # claim reads it first
@pytest.mark.parametrize("method", ["claim", "claim-rerun", "prepare", "record_error"])
def test_cache_refuses_a_symlinked_entry_naming_it(tmp_path: Path, method: str) -> None:
    cache = Cache(CacheSpec(tmp_path / "root"))
    target = _entry(cache, "ab" * 16)
    (target / "_error.json").write_text("{}")  # record_error must not remove it
    files = {p.name: p.read_bytes() for p in target.iterdir()}
    link = cache.entry_dir("Task", "cd" * 16)
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(FileExistsError, match=re.escape(str(link))):
        if method == "record_error":
            cache.record_error(link, {"message": "boom"})
        elif method == "prepare":
            cache.prepare("Task", "cd" * 16)
        else:
            cache.claim("Task", "cd" * 16, check=method == "claim")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == files


def test_claim_removes_the_result_of_every_store_and_the_error(tmp_path: Path) -> None:
    """Case (d) in the Cache: a result of another store is not kept."""
    cache = Cache(CacheSpec(tmp_path, store="json"))
    directory = _entry(cache, "ef" * 16, store="pickle")
    (directory / "_error.json").write_text("{}")
    assert cache.claim("Task", "ef" * 16) == directory
    assert list(directory.iterdir()) == []


def test_record_error_removes_any_result(tmp_path: Path) -> None:
    """An errored entry is never a hit, even for another store (a lost batch
    settles a state it never claimed)."""
    pickle_cache = Cache(CacheSpec(tmp_path))
    directory = _entry(pickle_cache, "12" * 16)
    Cache(CacheSpec(tmp_path, store="json")).record_error(directory, {"x": 1})
    assert pickle_cache.load("Task", "12" * 16) is None
    assert (directory / "_error.json").exists() and (directory / "data.txt").exists()


def test_results_go_before_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim interrupted after its first removal of a task's file leaves no
    result behind (the drill above, made deterministic)."""
    cache = Cache(CacheSpec(tmp_path))
    directory = _entry(cache, "34" * 16)
    for name in ("a.txt", "z.txt", "_result.json"):
        (directory / name).write_text("x")
    remove = cache_module._remove

    def killed_after_a_task_file(name: str, dir_fd: int) -> None:
        remove(name, dir_fd)
        if not name.startswith("_"):
            raise KeyboardInterrupt  # as a kill at this moment

    monkeypatch.setattr(cache_module, "_remove", killed_after_a_task_file)
    with pytest.raises(KeyboardInterrupt):
        cache.claim("Task", "34" * 16, check=False)
    left = {p.name for p in directory.iterdir()}
    assert not any(name.startswith("_result.") for name in left)
    assert cache.load("Task", "34" * 16) is None


def test_a_symlink_inside_an_entry_is_unlinked_not_followed(tmp_path: Path) -> None:
    """The old code unlinked such a link too: this guards the new removal."""
    cache = Cache(CacheSpec(tmp_path / "root"))
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "keep.txt").write_text("precious")
    directory = _entry(cache, "56" * 16)
    (directory / "link").symlink_to(outside, target_is_directory=True)
    (directory / "real").mkdir()
    (directory / "real" / "inner").symlink_to(outside, target_is_directory=True)
    assert cache.claim("Task", "56" * 16, check=False) == directory
    assert list(directory.iterdir()) == []
    assert (outside / "sub" / "keep.txt").read_text() == "precious"


def test_a_file_named_like_an_entry_is_refused(tmp_path: Path) -> None:
    cache = Cache(CacheSpec(tmp_path))
    path = cache.entry_dir("Task", "78" * 16)
    path.write_text("not an entry")
    with (
        pytest.warns(CacheWarning),
        pytest.raises(FileExistsError, match=re.escape(str(path))),
    ):
        cache.claim("Task", "78" * 16)
    assert path.read_text() == "not an entry"
