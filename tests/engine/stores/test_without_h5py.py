"""Without h5py the suite collects and passes: the nexus tests skip, saying why.

h5py is an optional dependency (``pydra-lite[nexus]``): importing pydra_lite
must not even try to import it, and every test that needs it must skip with
:data:`NEXUS_REASON` rather than fail or break collection. A subprocess runs
with a ``sitecustomize.py`` on its path that makes ``import h5py`` raise
ModuleNotFoundError, as if h5py were not installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import NEXUS_REASON

REPO = Path(__file__).resolve().parents[3]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()

INNER = ["tests/engine", "tests/ewoks", "tests/test_exported_members.py"]
"""What the inner run runs: the stores, the cache and the engine, the ewoks
schemes (json and nexus), the public API. Under 20 s; never this file."""

BLOCK_H5PY = '''\
"""Make h5py unimportable in this process, as if it were not installed."""
import sys

ATTEMPTS = []  # every import of h5py that was tried, and refused


class BlockH5py:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "h5py":
            ATTEMPTS.append(name)
            msg = f"No module named {name!r} (blocked: testing without h5py)"
            raise ModuleNotFoundError(msg, name=name)
        return None


sys.meta_path.insert(0, BlockH5py())
'''

IMPORT_CHECK = """\
import json, sys
import sitecustomize
import pydra_lite
from pydra_lite.engine.stores import get_store
get_store("json")
attempts = list(sitecustomize.ATTEMPTS)
try:
    import h5py
    blocked = False
except ModuleNotFoundError:
    blocked = True
print(json.dumps({"attempts": attempts, "blocked": blocked}))
"""


def run_without_h5py(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "no_h5py"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCK_H5PY)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    paths = [str(site), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_suite_collects_and_passes_without_h5py(tmp_path: Path) -> None:
    # importing pydra_lite, and using a store, does not even try h5py
    check = run_without_h5py(tmp_path, "-c", IMPORT_CHECK)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout) == {"attempts": [], "blocked": True}

    pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--ignore", THIS]

    # the whole suite collects
    collect = run_without_h5py(tmp_path, *pytest_args, "--collect-only", "tests")
    assert collect.returncode == 0, collect.stdout + collect.stderr
    assert re.search(r"^\d+ tests collected", collect.stdout, re.MULTILINE)

    # the store, cache and ewoks tests pass; the nexus ones skip, saying why
    run = run_without_h5py(tmp_path, *pytest_args, "-ra", *INNER)
    print(run.stdout[-5000:])
    assert run.returncode == 0, run.stdout + run.stderr
    summary = run.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed, \d+ skipped", summary), summary  # nothing failed
    skipped = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    module_skip = "tests/engine/stores/test_nexus_store.py:"
    assert any(module_skip in line and NEXUS_REASON in line for line in skipped)
    for module in ("stores/test_base.py", "stores/test_encoding.py", "ewoks/"):
        assert any(module in line and NEXUS_REASON in line for line in skipped)
