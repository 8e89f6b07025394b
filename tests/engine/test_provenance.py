"""``_provenance.json`` is formatted by hand; it must be the JSON ``json.dumps`` writes.

``pydra_lite.engine.job._provenance`` builds one state's record as text (see
its docstring for why). These tests build the dict the record stands for,
with the library's own functions (``json.dumps``, ``datetime.isoformat``),
and check that the hand-made bytes parse to exactly that: the same members
in the same order, no member twice, the same values of the same types.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pydra_lite import python
from pydra_lite.compose.base import operation_hash
from pydra_lite.engine import job


@python.define
def Echo(x: int) -> int:
    return x


def _strict_pairs(data: bytes | str) -> list[tuple[str, Any]]:
    """The document as nested (member, value) lists: order and repeats kept."""

    def no_constants(name: str) -> Any:
        raise AssertionError(f"not strict JSON: {name}")

    pairs: list[tuple[str, Any]] = json.loads(
        data, object_pairs_hook=list, parse_constant=no_constants
    )
    return pairs


def _reference(
    worker: str,
    state: job.Job,
    start: float,
    end: float,
    peak: int,
) -> dict[str, Any]:
    """The record as a dict, the way one would write it with ``json.dumps``."""
    return {
        "checksum": state.checksum,
        "inputs": {key: digest.hex() for key, digest in state.input_digests.items()},
        "upstream": dict(state.upstream),
        "start": datetime.fromtimestamp(start, UTC).isoformat(timespec="microseconds"),
        "end": datetime.fromtimestamp(end, UTC).isoformat(timespec="microseconds"),
        "runtime": end - start,
        "process_peak_memory_kb": peak,
        "task": f"{Echo.__module__}.{Echo.__qualname__}",
        "operation_hash": operation_hash(Echo).hex(),
        "worker": worker,
        **job._host(),
    }


def _check(
    worker: str,
    digests: Mapping[str, bytes],
    upstream: Mapping[str, str],
    checksum: str,
    start: float,
    runtime: float,
    peak: int,
) -> None:
    state = job.Job(checksum, {}, dict(digests), dict(upstream))
    end = start + runtime
    usage = types.SimpleNamespace(ru_maxrss=peak)
    fake_resource = types.SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: usage)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(job, "resource", fake_resource)
        data = job._provenance(job._shared_provenance(Echo, worker), state, start, end)
    reference = _reference(worker, state, start, end, peak)
    assert isinstance(data, bytes)
    assert _strict_pairs(data) == _strict_pairs(json.dumps(reference))
    assert json.loads(data) == reference


NAMES = st.text(max_size=8) | st.sampled_from(
    ['a"b', "é", "\\", "\n", "\x00", "\u2028"]
)
DIGESTS = st.dictionaries(NAMES, st.binary(min_size=16, max_size=16), max_size=5)
UPSTREAM = st.dictionaries(NAMES, st.text(max_size=40), max_size=4)
CHECKSUMS = st.binary(min_size=16, max_size=16).map(bytes.hex)
STARTS = st.floats(min_value=0, max_value=4_102_444_800)  # 1970 to 2100
RUNTIMES = st.floats(min_value=0, max_value=86_400) | st.integers(0, 86_400)


@given(
    worker=st.sampled_from(["serial", "cf", "dask", "slurm", 'w"é\\']),
    digests=DIGESTS,
    upstream=UPSTREAM,
    checksum=CHECKSUMS,
    start=STARTS,
    runtime=RUNTIMES,
    peak=st.integers(0, 2**40),
)
@example(
    worker="serial",
    digests={'a"b': b"\x01" * 16, "é": b"\x02" * 16, "\ud800": b"\x03" * 16},
    upstream={"x": "Add-" + "0" * 32, 'q"\\': "é\n"},
    checksum="f" * 32,
    start=1796327904.7823,
    runtime=0.25,
    peak=123456,
)
@example(
    worker="cf",
    digests={},
    upstream={},
    checksum="0" * 32,
    start=0.0,
    runtime=0,
    peak=0,
)
def test_provenance_is_the_json_of_its_dict(
    worker: str,
    digests: dict[str, bytes],
    upstream: dict[str, str],
    checksum: str,
    start: float,
    runtime: float,
    peak: int,
) -> None:
    _check(worker, digests, upstream, checksum, start, runtime, peak)


def test_provenance_of_a_real_run_is_the_json_of_its_dict() -> None:
    """The record a state writes, unpatched: its peak memory is this process's."""
    state = job.Job("ab" * 16, {}, {"x": b"\x07" * 16}, {"x": "Up-" + "cd" * 16})
    data = job._provenance(job._shared_provenance(Echo, "serial"), state, 1.5, 2.75)
    parsed = json.loads(data)
    assert isinstance(parsed["process_peak_memory_kb"], int)
    assert parsed == _reference(
        "serial", state, 1.5, 2.75, parsed["process_peak_memory_kb"]
    )
