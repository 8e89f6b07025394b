"""End to end across processes: a script run twice, and two runs started together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from pathlib import Path
from pydra_lite import Submitter, python

LOG = Path(sys.argv[2])

@python.define
def Slow(x: int) -> int:
    import time
    with open(LOG, "a") as log:
        log.write(f"{x}\\n")
    time.sleep(float(sys.argv[3]))
    return x * BODY

with Submitter(cache_dir=sys.argv[1]) as sub:
    result = sub(Slow(x=int(sys.argv[4])))
print(json.dumps({"out": result.outputs.out, "dir": str(result.output_dir), "cached": result.cached}))
"""


def _start(
    tmp_path: Path, x: int = 3, body: str = "10", sleep: float = 0.0
) -> subprocess.Popen[str]:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.replace("BODY", body))
    args = [
        sys.executable,
        str(script),
        str(tmp_path / "cache"),
        str(tmp_path / "log"),
        str(sleep),
        str(x),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _executions(tmp_path: Path) -> list[str]:
    log = tmp_path / "log"
    return log.read_text().split() if log.exists() else []


def test_script_run_twice_executes_once(tmp_path: Path) -> None:
    first = _finish(_start(tmp_path))
    second = _finish(_start(tmp_path))
    assert _executions(tmp_path) == ["3"]
    assert first["dir"] == second["dir"]
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["out"] == 30


def test_changed_input_and_edited_body_run_again(tmp_path: Path) -> None:
    base = _finish(_start(tmp_path))
    other_input = _finish(_start(tmp_path, x=4))
    edited = _finish(_start(tmp_path, body="100"))
    assert _executions(tmp_path) == ["3", "4", "3"]
    assert len({base["dir"], other_input["dir"], edited["dir"]}) == 3
    assert edited["out"] == 300 and not edited["cached"]


def test_two_processes_started_together_execute_once(tmp_path: Path) -> None:
    procs = [_start(tmp_path, sleep=1.0) for _ in range(2)]
    results = [_finish(proc) for proc in procs]
    assert _executions(tmp_path) == ["3"]
    assert results[0]["dir"] == results[1]["dir"]
    assert sorted(r["cached"] for r in results) == [False, True]
