"""The dask worker passes the contract on a real LocalCluster and owns only what it starts."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import wait
from pathlib import Path
from typing import Any

import pytest

from pydra_lite import Submitter, WorkerError, python
from pydra_lite.engine.cache import CacheSpec
from pydra_lite.engine.job import JobBatch
from pydra_lite.engine.node import Node
from pydra_lite.workers import pickled

from .contract import FailOdd, Inc, Pid, WorkerContract

distributed = pytest.importorskip(
    "distributed", reason="the dask worker needs pip install 'pydra-lite[dask]'"
)
dask_worker = pytest.importorskip("pydra_lite.workers.dask")
DaskWorker = dask_worker.DaskWorker


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One 2-process LocalCluster shared by this module, its hash memo under tmp."""
    memo = tmp_path_factory.mktemp("dask-memo") / "hash-memo.sqlite"
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        env={"PYDRA_LITE_HASH_MEMO": str(memo)},
    )
    with cluster, distributed.Client(cluster) as connected:
        yield connected


class TestDaskWorker(WorkerContract):
    @pytest.fixture
    def worker(self, client: Any) -> tuple[Any, dict[str, Any]]:
        return "dask", {"address": client}


def test_address_of_existing_cluster_runs_on_its_workers(
    client: Any, cache_dir: Path
) -> None:
    address = client.scheduler.address
    with Submitter(cache_dir=cache_dir, worker="dask", address=address) as sub:
        result = sub(Pid().split(a=list(range(8))))
        own_client = sub.worker.client
    worker_pids = set(client.run(os.getpid).values())
    assert set(result.outputs.out) <= worker_pids
    assert own_client.status == "closed"
    assert len(client.nthreads()) == 2, "closing the worker must leave the cluster up"


def test_failed_state_is_errored_with_its_error_json(
    client: Any, cache_dir: Path
) -> None:
    with Submitter(cache_dir=cache_dir, worker="dask", address=client) as sub:
        result = sub(FailOdd().split(a=[2, 3]), raise_errors=False)
    failed = result.states[1]
    assert failed.errored and not result.states[0].errored
    record = json.loads((failed.output_dir / "_error.json").read_text())
    assert (record["type"], record["message"]) == ("ValueError", "odd 3")
    assert "raise ValueError" in record["traceback"]


def test_given_client_is_left_open(client: Any, cache_dir: Path) -> None:
    with Submitter(cache_dir=cache_dir, worker="dask", address=client) as sub:
        assert sub(Inc(a=1)).outputs.out == 2
    assert client.status == "running"
    assert client.submit(sum, [1, 2], pure=False).result() == 3


@python.define
def Sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_close_cancels_batches_in_flight_and_keeps_a_given_client(
    client: Any, cache_dir: Path
) -> None:
    node = Node(Sleep(seconds=2.0))
    jobs = list(node.jobs(node.checksums()))
    batch = JobBatch(node.task_class, CacheSpec(cache_dir), jobs, "dask")
    worker = DaskWorker(address=client)
    future = worker.submit(batch)
    worker.close()
    wait([future], timeout=60)
    assert future.cancelled()
    assert client.status == "running"


@python.define
def Half(a: float) -> float:
    """Run by one test only, so no dask process has unpickled it before."""
    return a / 2


def test_task_class_is_unpickled_once_per_dask_process(
    client: Any, cache_dir: Path
) -> None:
    """Every batch carries the class's bytes; each process unpickles them once.

    Counted as cache hits: a batch cancelled by an earlier test may still
    start on a dask worker meanwhile and add a miss, never a hit for ``Half``.
    """
    node = Node(Half().split(a=[float(a) for a in range(6)]))
    jobs = list(node.jobs(node.checksums()))
    worker = DaskWorker(address=client)
    before = _class_hits(client)
    futures = [
        worker.submit(JobBatch(node.task_class, CacheSpec(cache_dir), [job], "dask"))
        for job in jobs
    ]
    outcomes = [future.result(timeout=60)[0] for future in futures]
    worker.close()
    assert [outcome.outputs for outcome in outcomes] == [
        {"out": a / 2} for a in range(6)
    ]
    assert _class_hits(client) - before >= len(jobs) - len(client.nthreads())


def _class_hits(client: Any) -> int:
    infos = client.run(pickled.unpickled_class.cache_info).values()
    return sum(info.hits for info in infos)


def test_batches_shrink_as_the_run_ends_but_not_below_a_useful_size() -> None:
    worker = DaskWorker(n_workers=2)  # a LocalCluster's threads are known unstarted
    assert [worker.batch_size(n) for n in (4000, 400, 16, 3)] == [256, 100, 4, 1]
    worker.observe(0.1, 1000)  # quick states: batches of at least 0.1 s
    assert [worker.batch_size(n) for n in (400, 16, 3)] == [256, 16, 3]
    for _ in range(20):
        worker.observe(5.0, 100)  # 50 ms states: shrinking again, to 2 states
    assert [worker.batch_size(n) for n in (400, 16, 3)] == [100, 4, 2]
    assert worker.cluster is None, "sizing batches must not start a cluster"


def test_own_local_cluster_is_closed_on_submitter_exit(cache_dir: Path) -> None:
    with Submitter(
        cache_dir=cache_dir, worker="dask", n_workers=1, dashboard_address=":0"
    ) as sub:
        assert sub.worker.cluster is None, "the cluster starts on first use"
        assert sub(Inc(a=1)).outputs.out == 2
        cluster, own_client = sub.worker.cluster, sub.worker.client
        assert len(own_client.nthreads()) == 1
    assert cluster.status == distributed.core.Status.closed
    assert own_client.status == "closed"
    assert sub.worker.cluster is None and sub.worker.client is None


@python.define
def DieLogged(a: int, log: str) -> int:
    """Appends its pid to ``log``, then SIGKILLs its process for ``a == 1``."""
    import os
    import signal

    with open(log, "a") as stream:
        stream.write(f"{a} {os.getpid()}\n")
    if a == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return a


def test_own_cluster_loses_a_dying_batch_once_not_on_every_process(
    cache_dir: Path, tmp_path: Path
) -> None:
    """A state that kills its process is not retried on the next one (dask
    would, three times): it is errored after one death, its siblings run."""
    log = tmp_path / "attempts"
    task = DieLogged(log=str(log)).split(a=[0, 1, 2])
    with Submitter(
        cache_dir=cache_dir, worker="dask", n_workers=2, dashboard_address=":0"
    ) as sub:
        result = sub(task, raise_errors=False)
    attempts = [line.split()[0] for line in log.read_text().splitlines()]
    assert attempts.count("1") == 1
    assert result.states[1].errored
    assert "KilledWorker" in result.errors[0]["type"]


def test_task_defined_in_main_travels_by_value(client: Any, run_script) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys\n"
        "from pydra_lite import Submitter, python\n"
        "@python.define\n"
        "def Square(a: int) -> int:\n"
        "    return a * a\n"
        "with Submitter(cache_dir='c', worker='dask', address=sys.argv[1]) as sub:\n"
        "    print(sub(Square().split(a=[1, 2, 3])).outputs.out)\n"
    )
    proc = run_script(code, client.scheduler.address)
    assert proc.stdout.strip().splitlines()[-1] == "[1, 4, 9]"


def test_missing_distributed_says_how_to_install(run_script) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None\n"
        "from pydra_lite import Submitter, WorkerError\n"
        "try:\n"
        "    Submitter(worker='dask')\n"
        "except WorkerError as exc:\n"
        "    print(exc)\n"
    )
    out = run_script(code).stdout
    assert "needs 'distributed'" in out
    assert "pip install 'pydra-lite[dask]'" in out


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"address": "tcp://127.0.0.1:1", "n_workers": 2}, "n_workers=2"),
        ({"address": 8786}, "address must be None"),
    ],
)
def test_options_that_cannot_apply_are_refused(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(WorkerError, match=match):
        Submitter(worker="dask", **options)


def test_unreachable_scheduler_names_the_address(cache_dir: Path) -> None:
    address = "tcp://127.0.0.1:9"
    with Submitter(
        cache_dir=cache_dir, worker="dask", address=address, timeout=1
    ) as sub:
        with pytest.raises(WorkerError, match="127.0.0.1:9"):
            sub(Inc(a=1))
