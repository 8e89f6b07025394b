"""File and directory digests: contents and relative names count, location and
memo state do not; the persistent memo is shared, safe and skips fresh files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
from fileformats.generic import FileSet
from fileformats.medimage import NiftiX

from pydra_lite import files
from pydra_lite.errors import CacheWarning
from pydra_lite.files import Directory, File, hash_file_contents
from pydra_lite.hashing import FORMAT_VERSION, hash_object
from pydra_lite.hashing import memo as hash_memo
from pydra_lite.hashing.memo import MEMO_LAYOUT

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "memo" / "hash-memo.sqlite"
    monkeypatch.setenv("PYDRA_LITE_HASH_MEMO", str(path))
    hash_memo.reset_memo()
    yield path
    hash_memo.reset_memo()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file whose contents the hasher reads, in order."""
    seen: list[str] = []
    real = files._hash_contents

    def counting(path: str, size: int) -> bytes:
        seen.append(path)
        return real(path, size)

    monkeypatch.setattr(files, "_hash_contents", counting)
    return seen


def settle(*paths: Path) -> None:
    """Date files back, as if they had been written a minute ago."""
    when = time.time() - 60
    for path in paths:
        targets = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        )
        for target in targets:
            os.utime(target, (when, when))


def write(path: Path, data: bytes | str, *, settled: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if settled:
        settle(path)
    return path


def memo_rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT kind, path FROM digests ORDER BY path").fetchall()


def test_content_digest_is_blake3_of_the_bytes(tmp_path: Path) -> None:
    small = write(tmp_path / "small.bin", b"hello\n")
    big = write(tmp_path / "big.bin", os.urandom(5 << 20))  # the mmap path
    for path in (small, big):
        assert hash_file_contents(path) == blake3.blake3(path.read_bytes()).digest(16)


def test_renaming_or_moving_a_file_keeps_its_digest(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "input.txt", "data")
    before = hash_object(File(first))
    moved = tmp_path / "b" / "renamed.csv"
    moved.parent.mkdir()
    first.rename(moved)
    assert hash_object(File(moved)) == before


def test_changing_the_contents_changes_the_digest(tmp_path: Path) -> None:
    path = write(tmp_path / "input.txt", "one")
    before = hash_object(File(path))
    write(path, "two", settled=False)
    assert hash_object(File(path)) != before


def test_a_path_value_hashes_the_path_not_the_contents(tmp_path: Path) -> None:
    path = write(tmp_path / "input.txt", "one")
    before = hash_object(path)
    write(path, "two")
    assert hash_object(path) == before
    assert hash_object(File(path)) != before


def test_a_file_and_its_json_sidecar_both_count(tmp_path: Path) -> None:
    image = write(tmp_path / "sub-01.nii", b"\0" * 352)
    sidecar = write(tmp_path / "sub-01.json", json.dumps({"EchoTime": 0.03}))
    before = hash_object(NiftiX(image, sidecar))
    write(sidecar, json.dumps({"EchoTime": 0.04}), settled=False)
    assert hash_object(NiftiX(image, sidecar)) != before
    write(sidecar, json.dumps({"EchoTime": 0.03}), settled=False)
    assert hash_object(NiftiX(image, sidecar)) == before
    write(image, b"\1" * 352, settled=False)
    assert hash_object(NiftiX(image, sidecar)) != before


def test_each_member_counts_under_its_own_name(tmp_path: Path) -> None:
    """Two members swapping contents is a different file set."""
    one = write(tmp_path / "one" / "a.nii", "x")
    write(tmp_path / "one" / "a.json", "y")
    two = write(tmp_path / "two" / "a.nii", "y")
    write(tmp_path / "two" / "a.json", "x")
    assert hash_object(NiftiX(one)) != hash_object(NiftiX(two))


def test_renaming_one_member_changes_the_digest(tmp_path: Path) -> None:
    text = write(tmp_path / "x.txt", "1")
    data = write(tmp_path / "x.dat", "2")
    before = hash_object(FileSet(text, data))
    assert hash_object(FileSet(text, data.rename(tmp_path / "x.csv"))) != before


def test_renaming_a_whole_file_set_keeps_its_digest(tmp_path: Path) -> None:
    image = write(tmp_path / "sub-01.nii", b"\0" * 352)
    sidecar = write(tmp_path / "sub-01.json", "{}")
    before = hash_object(NiftiX(image, sidecar))
    image = image.rename(tmp_path / "sub-02.nii")
    sidecar = sidecar.rename(tmp_path / "sub-02.json")
    assert hash_object(NiftiX(image, sidecar)) == before


def test_the_fileformats_class_does_not_count(tmp_path: Path) -> None:
    path = write(tmp_path / "image.nii", b"\0" * 352)
    from fileformats.medimage import Nifti

    assert hash_object(Nifti(path)) == hash_object(File(path))


def make_tree(root: Path) -> Path:
    write(root / "top.txt", "top")
    write(root / "sub" / "nested.txt", "nested")
    write(root / "sub" / "deeper" / "leaf.bin", b"\1\2\3")
    return root


def test_directory_digest_follows_nested_contents(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    before = hash_object(Directory(root))
    write(root / "sub" / "deeper" / "leaf.bin", b"\1\2\4", settled=False)
    assert hash_object(Directory(root)) != before


def test_directory_digest_follows_renames_inside_it(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    before = hash_object(Directory(root))
    (root / "sub" / "nested.txt").rename(root / "sub" / "renamed.txt")
    assert hash_object(Directory(root)) != before


def test_directory_digest_follows_added_files(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    before = hash_object(Directory(root))
    write(root / "sub" / "new.txt", "")
    assert hash_object(Directory(root)) != before


def test_renaming_the_directory_itself_keeps_its_digest(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    before = hash_object(Directory(root))
    assert hash_object(Directory(root.rename(tmp_path / "other"))) == before


def test_a_memo_hit_does_not_read_the_file(tmp_path: Path, reads: list[str]) -> None:
    path = write(tmp_path / "input.txt", "data")
    first = hash_object(File(path))
    assert reads == [str(path)]
    assert hash_object(File(path)) == first
    hash_memo.reset_memo()  # a new process: the answer now comes from sqlite
    assert hash_object(File(path)) == first
    assert reads == [str(path)]


def test_a_warm_directory_is_one_walk_and_one_lookup(
    tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tree(tmp_path / "tree")
    first = hash_object(Directory(root))
    assert len(reads) == 3
    hash_memo.reset_memo()
    lookups: list[str] = []
    real_get = hash_memo.HashMemo.get

    def counting_get(
        self: hash_memo.HashMemo, kind: str, path: str, sig: bytes
    ) -> bytes | None:
        lookups.append(kind)
        return real_get(self, kind, path, sig)

    monkeypatch.setattr(hash_memo.HashMemo, "get", counting_get)
    assert hash_object(Directory(root)) == first
    assert lookups == ["dir"]
    assert len(reads) == 3


def test_a_fresh_file_is_not_memoised(
    tmp_path: Path, reads: list[str], memo: Path
) -> None:
    """A file written within the mtime granularity could change unseen: re-read it."""
    path = write(tmp_path / "fresh.txt", "data", settled=False)
    hash_object(File(path))
    hash_object(File(path))
    assert reads == [str(path), str(path)]
    assert ("file", str(path)) not in memo_rows(memo)


def test_a_directory_with_a_fresh_file_is_not_memoised(
    tmp_path: Path, reads: list[str]
) -> None:
    root = make_tree(tmp_path / "tree")
    write(root / "fresh.txt", "new", settled=False)
    hash_object(Directory(root))
    hash_object(Directory(root))
    assert reads.count(str(root / "fresh.txt")) == 2
    assert reads.count(str(root / "top.txt")) == 1  # settled files still memoised


def test_the_memo_key_is_path_size_mtime_and_inode(tmp_path: Path) -> None:
    """Rewriting in place with the same size and a forged mtime is not seen:
    proof that a hit never reads the file (and why the key holds the mtime)."""
    path = write(tmp_path / "input.txt", "aaaa")
    stat = path.stat()
    first = hash_file_contents(path)
    with open(path, "r+b") as stream:  # same inode
        stream.write(b"bbbb")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert hash_file_contents(path) == first
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert hash_file_contents(path) != first


SCRIPT = """
import sys
from pydra_lite.files import File
from pydra_lite.hashing import hash_object
print(hash_object(File(sys.argv[1])).hex())
"""


def run_hash(tmp_path: Path, path: Path, memo: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYDRA_LITE_HASH_MEMO": str(memo)}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(path)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def output(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out.strip()


def test_the_memo_is_shared_between_processes(tmp_path: Path, memo: Path) -> None:
    path = write(tmp_path / "input.txt", "aaaa")
    stat = path.stat()
    first = output(run_hash(tmp_path, path, memo))
    with open(path, "r+b") as stream:  # forge: new bytes, same size, mtime, inode
        stream.write(b"bbbb")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert output(run_hash(tmp_path, path, memo)) == first  # answered by the memo
    assert output(run_hash(tmp_path, path, tmp_path / "other.sqlite")) != first


def test_concurrent_processes_share_one_memo(tmp_path: Path, memo: Path) -> None:
    paths = [write(tmp_path / f"f{i}.txt", f"content {i}") for i in range(6)]
    procs = [run_hash(tmp_path, path, memo) for path in paths]
    digests = [output(proc) for proc in procs]
    assert len(set(digests)) == len(paths)
    assert {path for _, path in memo_rows(memo)} == {str(p) for p in paths}


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    path = write(tmp_path / "input.txt", "data")
    parent = hash_file_contents(path)
    write(tmp_path / "other.txt", "other")
    connection = hash_memo.MEMO._db
    assert connection is not None
    pid = os.fork()
    if pid == 0:  # the child hashes a file the parent never saw, through sqlite
        hash_file_contents(tmp_path / "other.txt")
        own = hash_memo.MEMO._db is not None and hash_memo.MEMO._db is not connection
        os._exit(0 if own and hash_memo.MEMO._pid == os.getpid() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert hash_file_contents(path) == parent


def test_env_var_sets_the_memo_location(tmp_path: Path, memo: Path) -> None:
    path = write(tmp_path / "input.txt", "data")
    hash_file_contents(path)
    assert memo_rows(memo) == [("file", str(path))]


def test_default_location_is_keyed_by_format_version_and_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYDRA_LITE_HASH_MEMO")
    location = hash_memo.memo_path()
    assert location.name == f"hash-memo-v{FORMAT_VERSION}.{MEMO_LAYOUT}.sqlite"
    assert "pydra-lite" in str(location)


def test_a_damaged_memo_file_warns_how_to_fix_it_and_still_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = write(tmp_path / "memo.sqlite", "not a database, after a power cut")
    monkeypatch.setenv("PYDRA_LITE_HASH_MEMO", str(damaged))
    hash_memo.reset_memo()
    path = write(tmp_path / "input.txt", "data")
    with pytest.warns(CacheWarning, match="Delete the file if it is damaged"):
        digest = hash_file_contents(path)
    assert digest == blake3.blake3(b"data").digest(16)


def test_an_unusable_memo_warns_and_still_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = write(tmp_path / "not-a-dir", "x")
    monkeypatch.setenv("PYDRA_LITE_HASH_MEMO", str(blocker / "memo.sqlite"))
    hash_memo.reset_memo()
    path = write(tmp_path / "input.txt", "data")
    with pytest.warns(CacheWarning, match="PYDRA_LITE_HASH_MEMO"):
        digest = hash_file_contents(path)
    assert digest == blake3.blake3(b"data").digest(16)
