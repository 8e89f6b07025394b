"""What one SLURM array element runs: ``python -m pydra_lite.workers.slurm.run``.

Usage: ``python -m pydra_lite.workers.slurm.run <batch file> <outcome file>``.

The batch file is written by the submitter (:mod:`pydra_lite.workers.slurm.array`):
a plain pickle of ``{"sys_path": [...], "batch": <cloudpickled JobBatch>}``.
The submitter's ``sys.path`` entries that this process lacks are appended, so
that tasks defined in modules it could import (a test package, a script's
folder) import here too; tasks from ``__main__`` or a notebook travel by value
inside the cloudpickle.

The outcomes are cloudpickled and written atomically, so the submitter sees
either no outcome file or a complete one. Any failure outside a task (a module
that does not import here) exits non-zero with the traceback on stderr, which
the submitter copies into every state's ``_error.json``.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import cloudpickle

from pydra_lite.engine.job import run_batch
from pydra_lite.engine.stores import write_atomic

USAGE = "usage: python -m pydra_lite.workers.slurm.run <batch file> <outcome file>"


def main(argv: list[str] | None = None) -> int:
    """Run the batch in ``argv[0]`` and write its outcomes to ``argv[1]``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    batch_file, outcome_file = args
    payload = pickle.loads(Path(batch_file).read_bytes())
    _extend_path(payload["sys_path"])
    outcomes = run_batch(cloudpickle.loads(payload["batch"]))
    write_atomic(outcome_file, cloudpickle.dumps(outcomes))
    return 0


def _extend_path(entries: list[str]) -> None:
    """Append the submitter's import path entries that this process lacks."""
    for entry in entries:
        if entry not in sys.path:
            sys.path.append(entry)


if __name__ == "__main__":
    sys.exit(main())
