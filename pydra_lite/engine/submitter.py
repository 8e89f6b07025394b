"""The Submitter: runs a task through the cache on a worker and returns a Result.

Algorithm for one task object (a :class:`Node`):

1. Check every input (a missing mandatory input raises before the cache is
   touched) and hash every input value once.
2. A split task first looks up its split node's entry, named from those
   digests and holding the gathered outputs: a warm rerun reads that one file.
3. Otherwise the states' checksums are computed as the states are reached, and
   each state is looked up in the cache (skipped when one scan of the cache
   root showed no entry for it); the misses are sent to the worker in batches
   sized by the worker for the states still to come, with at most
   ``worker.max_in_flight()`` outstanding, so the first batch starts at once
   and memory stays flat however many states there are.
4. Outcomes are gathered in state order, with a flag per state saying whether
   it came from the cache; when every state succeeded the split
   node's entry is published, and the Result is returned (or
   :class:`TaskFailedError` raised: a line per failed state, in state order,
   naming its inputs and its ``_error.json``, the first ten then a count, and
   the first failure's traceback as its ``__cause__``, :class:`RemoteTraceback`).

The warnings a worker carried back in its outcomes are emitted as the
outcomes arrive. States of one split whose inputs are equal by content but
name different files share one entry (content hashing is the contract): the
run warns once, naming them (``collapsed.py``). Failure messages are made
by ``failures.py``, progress bars by ``progress.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from pydra_lite.compose.base import Task, check_mandatory, output_specs, register_runner
from pydra_lite.compose.workflow import WorkflowTask
from pydra_lite.engine.cache import Cache, CacheSpec, default_cache_dir
from pydra_lite.engine.collapsed import warn_collapsed
from pydra_lite.engine.dispatch import Dispatcher
from pydra_lite.engine.failures import remote_traceback, task_failed
from pydra_lite.engine.job import Job, JobBatch, Outcome
from pydra_lite.engine.node import Node
from pydra_lite.engine.progress import progress_bar
from pydra_lite.engine.result import Result, Skipped, StateResults
from pydra_lite.engine.schedule import StateKey, WorkflowRun
from pydra_lite.engine.stores import Store
from pydra_lite.engine.worker import Worker, get_worker
from pydra_lite.engine.workflow import WorkflowGraph


class Submitter:
    """Runs tasks with a cache directory and a worker; use it as a context manager.

    Args:
        cache_dir: where entries are written; defaults to
            :func:`~pydra_lite.engine.cache.default_cache_dir`.
        worker: ``"serial"`` (alias ``"debug"``), ``"cf"``, ``"dask"``,
            ``"slurm"``, a registered name, a dotted path, a Worker class or
            instance.
        readonly_caches: more cache roots searched after ``cache_dir``, never
            written.
        rerun: run every state again even when a valid entry exists.
        store: the result store, ``"pickle"`` (default), ``"json"``, ``"nexus"``.
        progress: show a progress bar; None shows one for long interactive runs.
        **worker_options: passed to the worker, e.g. ``n_procs=4`` for ``cf``.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        worker: str | type[Worker] | Worker = "serial",
        readonly_caches: Sequence[str | os.PathLike[str]] = (),
        rerun: bool = False,
        store: str | Store = "pickle",
        progress: bool | None = None,
        **worker_options: Any,
    ) -> None:
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        readonly = tuple(Path(p) for p in readonly_caches)
        self.cache = Cache(CacheSpec(root.absolute(), readonly, store))
        self.worker = get_worker(worker, **worker_options)
        self.rerun = rerun
        self.progress = progress

    @property
    def cache_dir(self) -> Path:
        return self.cache.root

    def __enter__(self) -> Submitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the worker's processes or cluster."""
        self.worker.close()

    def __call__(
        self, task: Task, rerun: bool | None = None, raise_errors: bool = True
    ) -> Result:
        """Run ``task`` (all its states) and return its Result."""
        rerun = self.rerun if rerun is None else rerun
        if isinstance(task, WorkflowTask):
            result = self._run_workflow(task, rerun)
        else:
            result = _NodeRun(self, Node(task), rerun).run()
        if raise_errors and result.errored:
            error = task_failed(type(task).__name__, result)
            raise error from remote_traceback(result.errors)
        return result

    def _run_workflow(self, task: WorkflowTask, rerun: bool) -> Result:
        if task.splitter is None:
            return _run_graphs(self, [task], rerun)[0]
        node = Node(task)
        states = [type(task)(**job.inputs) for job in node.jobs()]
        return _gather_workflow_states(node, _run_graphs(self, states, rerun))


class _NodeRun:
    """Runs the states of one node through the cache and the worker.

    A split node's state checksums are computed as the states are reached
    (:meth:`Node.jobs`), so the first batch starts before the last checksum
    is known; the split entry's own checksum needs only the input digests.
    """

    def __init__(self, submitter: Submitter, node: Node, rerun: bool) -> None:
        self.sub = submitter
        self.cache = submitter.cache
        self.node = node
        self.rerun = rerun
        self.names = [spec.name for spec in output_specs(node.task_class)]
        self._known: set[str] | None = None  # entry names in the root, if scanned

    def run(self) -> Result:
        start = time.perf_counter()
        if not self.node.is_split:
            return self._single(start)
        split_checksum = self.node.split_checksum()
        entry = None if self.rerun else self.cache.load(self.node.name, split_checksum)
        if entry is None:
            return self._split(split_checksum, start)
        outputs = {k: v for k, v in entry.outputs.items() if k != "_states"}
        checksums = entry.outputs.get("_states") or self.node.checksums()
        warn_collapsed(self.node, checksums, stacklevel=3)
        return self._result(outputs, entry.output_dir, checksums, None, [], 0.0)

    def _single(self, start: float) -> Result:
        job = next(self.node.jobs())
        outcome = self._lookup(job) or self._run_one(job)
        return Result.from_outcome(self.node.task_class, outcome)

    def _split(self, split_checksum: str, start: float) -> Result:
        self.cache.retract(self.node.name, split_checksum)
        total = self.node.state.size
        gathered: dict[str, list[Any]] = {name: [None] * total for name in self.names}
        failed: list[tuple[int, dict[str, Any]]] = []  # (state, record), as they come
        checksums: list[str] = []
        cached = bytearray(total)  # 1 where the state came from the cache
        for index, outcome in self._outcomes(checksums):
            cached[index] = outcome.cached
            if outcome.error is not None:
                failed.append((index, outcome.error))
                continue
            for name in self.names:
                gathered[name][index] = outcome.outputs[name]  # type: ignore[index]
        warn_collapsed(self.node, checksums, stacklevel=4)
        outputs = self.node.gather(gathered)
        failed.sort(key=lambda item: item[0])
        errors = [{**record, "state": index} for index, record in failed]
        directory = None  # no entry for a split with a failed state
        if not errors:
            directory = self._publish_split(split_checksum, outputs, checksums)
        runtime = time.perf_counter() - start
        return self._result(outputs, directory, checksums, cached, errors, runtime)

    def _result(
        self,
        outputs: dict[str, Any],
        directory: Path | None,
        checksums: list[str],
        cached: bytearray | None,
        errors: list[dict[str, Any]],
        runtime: float,
    ) -> Result:
        """The split Result; ``cached`` flags each state (None: all from the cache)."""
        task_class = self.node.task_class
        return Result.of(
            task_class,
            outputs,
            directory,
            errored=bool(errors),
            cached=cached is None or all(cached),
            runtime=runtime,
            errors=errors,
            states=StateResults(self.cache, task_class, checksums, cached),
        )

    def _publish_split(
        self, split_checksum: str, outputs: dict[str, Any], checksums: list[str]
    ) -> Path:
        provenance = {
            "task": self.node.name,
            "checksum": split_checksum,
            "splitter": repr(self.node.state.splitter),
            "combiner": list(self.node.task.combiner),
            "states": len(checksums),
        }
        payload = {**outputs, "_states": checksums}
        return self.cache.publish_entry(
            self.node.name, split_checksum, payload, provenance
        )

    def _outcomes(self, checksums: list[str]) -> Iterator[tuple[int, Outcome]]:
        """Every state's outcome, cached ones first-come, others as batches end.

        Appends each state's checksum to ``checksums`` as it is computed. Batch
        sizes are asked of the worker for the states still to come, so they
        shrink towards the end and no process idles behind a long last batch.
        """
        worker = self.sub.worker
        total = self.node.state.size
        if not self.rerun:
            self._known = self.cache.entry_names(4 * total + 64)
        dispatcher: Dispatcher[list[int]] = Dispatcher(worker)
        batch: list[Job] = []
        indices: list[int] = []
        size = worker.batch_size(total)
        with progress_bar(total, self.sub.progress) as bar:
            for index, job in enumerate(self.node.jobs()):
                checksums.append(job.checksum)
                found = self._lookup(job)
                if found is not None:
                    bar.update(1)
                    yield index, found
                    continue
                batch.append(job)
                indices.append(index)
                if len(batch) >= size:
                    dispatcher.send(self._batch(batch), indices)
                    batch, indices = [], []
                    size = worker.batch_size(total - index - 1)
                    while not dispatcher.has_room():
                        yield from _placed(dispatcher, bar)
            if batch:
                dispatcher.send(self._batch(batch), indices)
            while dispatcher.busy():
                yield from _placed(dispatcher, bar)

    def _lookup(self, job: Job) -> Outcome | None:
        if self.rerun:
            return None
        entry = self.cache.load(self.node.name, job.checksum, self._known)
        if entry is None:
            return None
        return Outcome(job.checksum, entry.output_dir, entry.outputs, cached=True)

    def _batch(self, jobs: list[Job]) -> JobBatch:
        worker = self.sub.worker
        return JobBatch(
            self.node.task_class, self.cache.spec, jobs, worker.name, self.rerun
        )

    def _run_one(self, job: Job) -> Outcome:
        dispatcher: Dispatcher[None] = Dispatcher(self.sub.worker)
        dispatcher.send(self._batch([job]), None)
        ((_, outcomes),) = dispatcher.finished()
        return outcomes[0]


def _run_graphs(
    sub: Submitter, tasks: Sequence[WorkflowTask], rerun: bool
) -> list[Result]:
    """Run unsplit workflows: each one's own entry first, then, for those
    missing, all their graphs together in one run, so that the states of a
    split workflow share the worker."""
    start = time.perf_counter()
    graphs = [_workflow_graph(task) for task in tasks]
    results = [None if rerun else _cached_workflow(sub.cache, g) for g in graphs]
    todo = [i for i, found in enumerate(results) if found is None]
    if todo:
        for i in todo:  # its nodes run again: it is no hit until republished
            sub.cache.retract(graphs[i].task_class.__name__, graphs[i].checksum)
        run = WorkflowRun([graphs[i] for i in todo], sub.cache, sub.worker, rerun)
        run.run()
        for position, i in enumerate(todo):
            results[i] = _graph_result(sub.cache, run, position, start)
    return results  # type: ignore[return-value]


def _workflow_graph(task: WorkflowTask) -> WorkflowGraph:
    check_mandatory(task)
    return WorkflowGraph(task)


def _cached_workflow(cache: Cache, graph: WorkflowGraph) -> Result | None:
    """The workflow's own entry, holding its outputs: all a warm rerun reads."""
    entry = cache.load(graph.task_class.__name__, graph.checksum)
    return None if entry is None else Result.from_entry(graph.task_class, entry)


def _graph_result(cache: Cache, run: WorkflowRun, index: int, start: float) -> Result:
    """The Result of graph ``index`` of ``run``, its entry published on success.

    With a failed state, no entry: the outputs that exist, None for those of
    failed or skipped states, and each skipped state with the failure that
    caused it.
    """
    graph = run.graphs[index]
    name = graph.task_class.__name__
    errors, skipped = run.errors_of(index), run.skipped_of(index)
    if errors or skipped:
        return Result.of(
            graph.task_class,
            graph.output_values(run.outputs, partial=True),
            None,
            errored=True,
            cached=not run.ran_in(index),
            runtime=time.perf_counter() - start,
            errors=errors,
            skipped=_skipped(skipped),
        )
    outputs = graph.output_values(run.outputs)
    provenance = {"task": name, "checksum": graph.checksum, "nodes": list(graph.nodes)}
    directory = cache.publish_entry(name, graph.checksum, outputs, provenance)
    return Result.of(
        graph.task_class,
        outputs,
        directory,
        cached=not run.ran_in(index),
        runtime=time.perf_counter() - start,
    )


def _gather_workflow_states(node: Node, states: list[Result]) -> Result:
    """One Result for a split workflow: outputs as lists over its states."""
    names = [spec.name for spec in output_specs(node.task_class)]
    errors = [
        {**error, "workflow_state": i}
        for i, state in enumerate(states)
        for error in state.errors
    ]
    skipped = [
        attrs.evolve(skip, workflow_state=i)
        for i, state in enumerate(states)
        for skip in state.skipped
    ]
    gathered = {
        name: [getattr(s.outputs, name) if s.outputs else None for s in states]
        for name in names
    }
    dirs = [s.output_dir for s in states if s.output_dir is not None]
    directory = dirs[0].parent if dirs else None
    return Result.of(
        node.task_class,
        node.gather(gathered),
        directory,
        errored=bool(errors),
        cached=all(s.cached for s in states),
        errors=errors,
        states=states,
        skipped=skipped,
    )


def _skipped(skipped: Mapping[StateKey, StateKey]) -> list[Skipped]:
    """The skipped states, in node and state order, each with its cause."""
    keys = sorted(skipped, key=lambda key: (key[0].order, key[1]))
    records = []
    for node, flat in keys:
        up, up_flat = skipped[node, flat]
        records.append(Skipped(node.name, flat, up.name, up_flat))
    return records


def _placed(
    dispatcher: Dispatcher[list[int]], bar: Any
) -> Iterator[tuple[int, Outcome]]:
    """Each outcome of the batches done, with its state's index."""
    for indices, outcomes in dispatcher.finished():
        bar.update(len(outcomes))
        yield from zip(indices, outcomes, strict=True)


def run_task(task: Task, **submitter_options: Any) -> Any:
    """``task()``: run with a default Submitter and return the outputs."""
    with Submitter(**submitter_options) as sub:
        return sub(task).outputs


register_runner(run_task)
