"""The worker registry: a misspelt option is named where it was made."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydra_lite import Submitter, WorkerError
from pydra_lite.workers.serial import SerialWorker


def test_pydra_cache_root_names_the_submitter_option(tmp_path: Path) -> None:
    with pytest.raises(
        WorkerError, match=r"no option 'cache_root'.*cache_dir="
    ) as info:
        Submitter(cache_root=tmp_path)
    assert "takes no arguments" not in str(info.value)


def test_misspelt_worker_option_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match=r"'cf'.*no option 'n_proc'.*'n_procs'"):
        Submitter(cache_dir=tmp_path, worker="cf", n_proc=2)


def test_options_given_with_a_ready_worker_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match=r"\['n_procs'\].*ready worker"):
        Submitter(cache_dir=tmp_path, worker=SerialWorker(), n_procs=2)


def test_worker_classes_get_their_options_checked_too(tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match="SerialWorker.*no option 'x'"):
        Submitter(cache_dir=tmp_path, worker=SerialWorker, x=1)
