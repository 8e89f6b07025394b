"""The seed's Pydra caching example, in pydra_lite's API with a python task.

``shared/seeds/001_*`` splits mrtrix3's MrGrid over ``("input", "voxel")``;
here a python task that writes a small "resampled" file stands in for it (the
real mrgrid version is ``test_mrgrid.py``). The walk-through is the seed's:
a rerun reuses the split node's directory, changing ``voxel[2]`` runs one
state and gives a different directory, renaming an input keeps every hash.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pydra_lite import File, Submitter, python
from pydra_lite.compose.python import output_dir

VOXEL_SIZES = [0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 1.0, 1.0, 1.0, 1.25]


@python.define
def Resample(input: File, voxel: float) -> File:
    """Write ``input``'s bytes with the voxel size appended: a stand-in for mrgrid."""
    print("EXECUTED", Path(input).name, voxel)
    out = output_dir() / "resampled.txt"
    out.write_bytes(Path(input).read_bytes() + f" @ {voxel}".encode())
    return File(out)


@pytest.fixture
def scans(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "scans"
    folder.mkdir()
    paths = [folder / f"scan{i}.txt" for i in range(10)]
    for i, path in enumerate(paths):
        path.write_text(f"scan {i}")
    return paths


def _resample(inputs: list[Path]) -> Resample:
    return Resample().split(("input", "voxel"), input=inputs, voxel=list(VOXEL_SIZES))


def _executed(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if "EXECUTED" in line]


def test_seed_walkthrough(
    tmp_path: Path, scans: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with Submitter(cache_dir=tmp_path / "cache") as sub:
        result1 = sub(_resample(scans))
    assert len(_executed(capsys)) == 10
    assert [Path(f).read_text() for f in result1.outputs.out][:2] == [
        "scan 0 @ 0.5",
        "scan 1 @ 0.5",
    ]

    task2 = _resample(scans)
    with Submitter(cache_dir=tmp_path / "cache") as sub:
        result2 = sub(task2)
    assert result2.output_dir == result1.output_dir
    assert _executed(capsys) == []

    task2.voxel[2] = 0.25
    with Submitter(cache_dir=tmp_path / "cache") as sub:
        result3 = sub(task2)
    assert result3.output_dir != result1.output_dir
    assert _executed(capsys) == ["EXECUTED scan2.txt 0.25"]
    assert Path(result3.outputs.out[2]).read_text() == "scan 2 @ 0.25"

    renamed = scans[0].rename(scans[0].with_name("first.txt"))
    with Submitter(cache_dir=tmp_path / "cache") as sub:
        result4 = sub(_resample([renamed, *scans[1:]]))
    assert result4.output_dir == result1.output_dir
    assert _executed(capsys) == []


def test_each_state_has_its_own_directory(tmp_path: Path, scans: list[Path]) -> None:
    with Submitter(cache_dir=tmp_path / "cache") as sub:
        result = sub(_resample(scans))
    state_dirs = [state.output_dir for state in result.states]
    assert len(set(state_dirs)) == 10
    assert all(Path(f).parent in state_dirs for f in result.outputs.out)
    assert result.output_dir not in state_dirs
