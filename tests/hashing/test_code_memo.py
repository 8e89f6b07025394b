"""The operation hash across processes: memoised source and bytecode reads.

A warm process answers from the persistent memo without reading a line of
source, disassembling anything or reading a package's metadata; an edit anywhere the digest depends on
gives the digest a fresh memo gives; an edit the file's signature cannot show
(within the mtime granularity) is never answered from the memo.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
import types
from pathlib import Path
from typing import Any

import pytest

from pydra_lite.hashing import code as code_hash

HELPERS = """
def scale(x):
    return 2 * x
"""

TASKS = """
import attr  # installed as "attrs": a library counts by its version
import helpers
from pydra_lite import python


class Offset:
    def apply(self, x):
        return x + 1


def double_then_offset(x):
    assert not attr.has(Offset)
    return Offset().apply(helpers.scale(x))


@python.define
def Scale(x: int) -> int:
    return double_then_offset(x)
"""

PRINT_DIGESTS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import tasks
from pydra_lite.compose.base import operation_hash
from pydra_lite.hashing import hash_function

if "--no-source" in sys.argv:  # a warm process needs none of these
    import dis, importlib.metadata, linecache

    def refuse(*args, **kwargs):
        raise AssertionError("source, bytecode or package metadata was read")

    linecache.getlines = linecache.updatecache = dis.get_instructions = refuse
    importlib.metadata.distribution = importlib.metadata.packages_distributions = refuse

print(json.dumps([
    hash_function(tasks.double_then_offset).hex(),
    operation_hash(tasks.Scale).hex(),
]))
"""


def _write(path: Path, text: str, age_seconds: float = 3600) -> None:
    """Write a module as if it was saved ``age_seconds`` ago (settled)."""
    path.write_text(textwrap.dedent(text))
    then = time.time() - age_seconds
    os.utime(path, (then, then))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    _write(code / "helpers.py", HELPERS)
    _write(code / "tasks.py", TASKS)
    return code


def _digests(run_script: Any, code: Path, *flags: str, memo: Path | None = None):
    env = {"PYDRA_LITE_HASH_MEMO": str(memo)} if memo else None
    out = run_script(PRINT_DIGESTS, str(code), *flags, env=env).stdout
    return json.loads(out)


def test_a_warm_process_reads_no_source_bytecode_or_package_metadata(
    project: Path, run_script: Any
) -> None:
    cold = _digests(run_script, project)
    assert _digests(run_script, project, "--no-source") == cold


def test_an_edited_helper_in_another_module_gives_a_fresh_memos_digest(
    project: Path, run_script: Any, tmp_path: Path
) -> None:
    before = _digests(run_script, project)
    _write(project / "helpers.py", HELPERS.replace("2 * x", "3 * x"), 1800)
    after = _digests(run_script, project)
    assert after[0] != before[0] and after[1] != before[1]
    assert after == _digests(run_script, project, memo=tmp_path / "fresh.sqlite")


def test_an_edit_the_signature_cannot_show_is_not_answered_from_the_memo(
    project: Path, run_script: Any, tmp_path: Path
) -> None:
    """Same size and mtime: only a file saved within SETTLE_SECONDS can be
    rewritten so, and such a file is never memoised."""
    (project / "helpers.py").write_text(textwrap.dedent(HELPERS))  # just saved
    stat = (project / "helpers.py").stat()
    before = _digests(run_script, project)
    (project / "helpers.py").write_text(textwrap.dedent(HELPERS).replace("2", "5"))
    os.utime(project / "helpers.py", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = _digests(run_script, project)
    assert after[0] != before[0]
    assert after == _digests(run_script, project, memo=tmp_path / "fresh.sqlite")


def test_a_retargeted_symlink_to_a_module_gives_a_fresh_memos_digest(
    project: Path, run_script: Any, tmp_path: Path
) -> None:
    """The memo is keyed by the path as imported; its signature is the target's."""
    versions = tmp_path / "versions"
    versions.mkdir()
    _write(versions / "one.py", HELPERS)
    _write(versions / "two.py", HELPERS.replace("2 * x", "7 * x"), 1800)
    (project / "helpers.py").unlink()
    (project / "helpers.py").symlink_to(versions / "one.py")
    before = _digests(run_script, project)
    (project / "helpers.py").unlink()
    (project / "helpers.py").symlink_to(versions / "two.py")
    after = _digests(run_script, project)
    assert after[0] != before[0]
    assert after == _digests(run_script, project, memo=tmp_path / "fresh.sqlite")


def test_a_path_through_a_symlink_and_dotdot_is_signed_by_the_file_read(
    run_script: Any, tmp_path: Path
) -> None:
    """``proj/link/..`` is ``real/`` to the OS (``link`` -> ``real/sub``) but
    ``proj/`` as text: the signature must come from the file Python reads."""
    real, proj = tmp_path / "real", tmp_path / "proj"
    (real / "sub").mkdir(parents=True)
    proj.mkdir()
    (proj / "link").symlink_to(real / "sub")
    for where in (real, proj):  # proj/ holds same-named decoys, never imported
        _write(where / "helpers.py", HELPERS)
        _write(where / "tasks.py", TASKS)
    through = str(proj / "link" / "..")
    before = _digests(run_script, Path(through))
    _write(real / "helpers.py", HELPERS.replace("2 * x", "7 * x"), 1800)
    after = _digests(run_script, Path(through))
    assert after[0] != before[0]
    assert after == _digests(run_script, Path(through), memo=tmp_path / "fresh.sqlite")


def _stdlib_codes() -> list[types.CodeType]:
    import ast
    import inspect
    import json as json_module
    import shutil

    modules = (ast, inspect, json_module.decoder, shutil, textwrap)
    funcs = [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, types.FunctionType)
    ]
    return [func.__code__ for func in funcs]


def test_memoised_global_names_are_the_disassembled_ones() -> None:
    codes = _stdlib_codes()
    assert len(codes) > 50
    for code in codes:
        computed = code_hash._global_names(code)  # disassembles and memoises
        assert computed == code_hash._disassembled_names(code)
        assert code_hash._global_names(code) == computed  # from the memo
