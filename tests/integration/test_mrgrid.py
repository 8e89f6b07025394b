"""Pydra's caching example for real: mrtrix3's mrgrid split over 10 NIfTI files.

Needs ``mrgrid`` (Debian package ``mrtrix3``) on PATH and nibabel to write the
images; skips with the reason when either is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fileformats.medimage import NiftiGz

from pydra_lite import Submitter
from pydra_lite.compose import shell

pytestmark = pytest.mark.skipif(
    shutil.which("mrgrid") is None,
    reason="mrgrid is not on PATH (install the Debian package mrtrix3)",
)
nib = pytest.importorskip("nibabel", reason="nibabel writes the test images")
np = pytest.importorskip("numpy")

MrGrid = shell.define(
    "mrgrid <input:medimage/nifti-gz> regrid <out|output:medimage/nifti-gz> "
    "-voxel <voxel:float>",
    name="MrGrid",
)

VOXEL_SIZES = [0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 1.0, 1.0, 1.0, 1.25]
WORKERS = [
    pytest.param(("serial", {}), id="serial"),
    pytest.param(("cf", {"n_procs": 2}), id="cf"),
]


def write_nifti(path: Path, seed: int) -> Path:
    """A real 8x8x8 float32 image with 1 mm voxels, different for each seed."""
    data = np.random.default_rng(seed).random((8, 8, 8), dtype=np.float32)
    nib.Nifti1Image(data, np.eye(4)).to_filename(path)
    return path


@pytest.fixture
def niftis(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "nifti"
    folder.mkdir()
    return [write_nifti(folder / f"scan{i}.nii.gz", seed=i) for i in range(10)]


def _grid(inputs: list[Path]) -> Any:
    return MrGrid().split(("input", "voxel"), input=inputs, voxel=list(VOXEL_SIZES))


def _voxel_size(path: Any) -> float:
    return float(nib.load(Path(path)).header.get_zooms()[0])


def _state_dirs(result: Any) -> list[Path]:
    return [state.output_dir for state in result.states]


def test_mrgrid_accepts_the_generated_images(
    tmp_path: Path, niftis: list[Path]
) -> None:
    task = MrGrid(input=niftis[0], voxel=0.5)
    assert task.cmdline == f"mrgrid {niftis[0]} regrid output.nii.gz -voxel 0.5"
    with Submitter(cache_dir=tmp_path / "cache") as sub:
        result = sub(task)
    assert isinstance(result.outputs.output, NiftiGz)
    assert _voxel_size(result.outputs.output) == 0.5
    assert nib.load(Path(result.outputs.output)).shape == (16, 16, 16)


@pytest.mark.parametrize("worker", WORKERS)
def test_caching_example(worker: Any, tmp_path: Path, niftis: list[Path]) -> None:
    name, options = worker
    cache = tmp_path / "cache"
    with Submitter(cache_dir=cache, worker=name, **options) as sub:
        first = sub(_grid(niftis))
        assert [_voxel_size(out) for out in first.outputs.output] == VOXEL_SIZES
        assert not first.cached

        # The same task again: every state comes from the cache.
        again = sub(_grid(niftis))
        assert again.output_dir == first.output_dir
        assert again.cached and all(state.cached for state in again.states)
        assert _state_dirs(again) == _state_dirs(first)

        # One voxel size changed: exactly that state runs again.
        changed = _grid(niftis)
        changed.voxel[2] = 0.25
        third = sub(changed)
        assert third.output_dir != first.output_dir
        same = [
            a == b for a, b in zip(_state_dirs(first), _state_dirs(third), strict=True)
        ]
        assert same == [index != 2 for index in range(10)]
        assert _voxel_size(third.outputs.output[2]) == 0.25

        # Renaming an input file keeps every hash: files hash by content.
        renamed = niftis[0].rename(niftis[0].with_name("first.nii.gz"))
        fourth = sub(_grid([renamed, *niftis[1:]]))
        assert fourth.output_dir == first.output_dir
        assert fourth.cached
