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
   :class:`TaskFailedError` raised, listing every failed state's error file).

The warnings a worker carried back in its outcomes are emitted as the
outcomes arrive. States of one split whose inputs are equal by content but
name different files share one entry (content hashing is the contract): the
run warns once, naming them (:func:`_warn_collapsed`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.std import tqdm

from pydra_lite.compose.base import Task, check_mandatory, output_specs, register_runner
from pydra_lite.compose.workflow import WorkflowTask
from pydra_lite.engine.cache import Cache, CacheSpec, default_cache_dir
from pydra_lite.engine.dispatch import Dispatcher
from pydra_lite.engine.job import Job, JobBatch, Outcome
from pydra_lite.engine.node import Node
from pydra_lite.engine.result import Result, StateResults
from pydra_lite.engine.schedule import WorkflowRun
from pydra_lite.engine.stores import Store
from pydra_lite.engine.worker import Worker, get_worker
from pydra_lite.engine.workflow import WorkflowGraph
from pydra_lite.errors import PydraLiteWarning, TaskFailedError
from pydra_lite.files import FileSet

PROGRESS_MIN_STATES = 50
"""Runs with fewer states than this show no progress bar."""


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
            messages = [
                f"{e['task']}: {e['type']}: {e['message']}" for e in result.errors
            ]
            raise TaskFailedError(type(task).__name__, result.error_files, messages)
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
        _warn_collapsed(self.node, checksums, stacklevel=3)
        return self._result(outputs, entry.output_dir, checksums, None, [], 0.0)

    def _single(self, start: float) -> Result:
        job = next(self.node.jobs())
        outcome = self._lookup(job) or self._run_one(job)
        return Result.from_outcome(self.node.task_class, outcome)

    def _split(self, split_checksum: str, start: float) -> Result:
        self.cache.retract(self.node.name, split_checksum)
        total = self.node.state.size
        gathered: dict[str, list[Any]] = {name: [None] * total for name in self.names}
        errors: list[dict[str, Any]] = []
        checksums: list[str] = []
        cached = bytearray(total)  # 1 where the state came from the cache
        for index, outcome in self._outcomes(checksums):
            cached[index] = outcome.cached
            if outcome.error is not None:
                errors.append(outcome.error)
                continue
            for name in self.names:
                gathered[name][index] = outcome.outputs[name]  # type: ignore[index]
        _warn_collapsed(self.node, checksums, stacklevel=4)
        outputs = self.node.gather(gathered)
        directory = self.cache.entry_dir(self.node.name, split_checksum)
        if not errors:
            directory = self._publish_split(split_checksum, outputs, checksums)
        runtime = time.perf_counter() - start
        return self._result(outputs, directory, checksums, cached, errors, runtime)

    def _result(
        self,
        outputs: dict[str, Any],
        directory: Path,
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
        with _progress_bar(total, self.sub.progress) as bar:
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
    """The Result of graph ``index`` of ``run``, its entry published on success."""
    graph = run.graphs[index]
    name = graph.task_class.__name__
    errors, skipped = run.errors_of(index), run.skipped_of(index)
    if errors or skipped:
        reasons = sorted(set(skipped.values()))
        why = f"{len(skipped)} state(s) skipped: {reasons}" if skipped else None
        directory = cache.entry_dir(name, graph.checksum)
        return Result(None, directory, errored=True, errors=errors, skipped=why)
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
    errors = [error for state in states for error in state.errors]
    gathered = {
        name: [getattr(s.outputs, name) if s.outputs else None for s in states]
        for name in names
    }
    directory = states[0].output_dir.parent if states else Path()
    return Result.of(
        node.task_class,
        node.gather(gathered),
        directory,
        errored=bool(errors),
        cached=all(s.cached for s in states),
        errors=errors,
        states=states,
    )


COLLAPSED_SHOWN = 3
"""How many collapsed states a warning names (it counts them all)."""


def _warn_collapsed(node: Node, checksums: Sequence[str], stacklevel: int) -> None:
    """Warn once when states of ``node`` that name different files share an entry.

    Files are hashed by their contents, not their names: two states given
    files with equal contents have one checksum, so the second reuses the
    first's result. Costs one ``set`` of the checksums; the states' inputs are
    looked at only when two checksums are equal and files were split over.
    """
    if len(set(checksums)) == len(checksums) or not node.splits_files():
        return
    first: dict[str, int] = {}
    pairs = []  # (state, the earlier state it shares an entry with)
    for index, checksum in enumerate(checksums):
        earlier = first.setdefault(checksum, index)
        if earlier != index:
            pairs.append((index, earlier))
    wanted = {i for pair in pairs for i in pair}
    last = max(wanted)
    inputs: dict[int, Mapping[str, Any]] = {}
    for index, job in enumerate(node.jobs(checksums)):
        if index in wanted:
            inputs[index] = job.inputs
        if index >= last:
            break
    collapsed = []
    for index, earlier in pairs:
        renamed = _renamed(inputs[index], inputs[earlier])
        if renamed is not None:
            collapsed.append((index, earlier, *renamed))
    if collapsed:
        text = _collapsed_text(node.name, collapsed)
        warnings.warn(text, PydraLiteWarning, stacklevel=stacklevel + 1)


def _renamed(
    inputs: Mapping[str, Any], earlier: Mapping[str, Any]
) -> tuple[str, str, str] | None:
    """The first input naming other files than ``earlier``'s: (field, now, then)."""
    for field, value in inputs.items():
        paths, before = _file_paths(value), _file_paths(earlier[field])
        if paths != before:
            return field, _listed(paths), _listed(before)
    return None


def _file_paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, FileSet):
        return tuple(sorted(map(str, value.fspaths)))
    if isinstance(value, list | tuple):
        return tuple(path for item in value for path in _file_paths(item))
    return ()


def _listed(paths: tuple[str, ...]) -> str:
    return paths[0] if len(paths) == 1 else repr(list(paths))


def _collapsed_text(name: str, collapsed: list[tuple[int, int, str, str, str]]) -> str:
    shown = "; ".join(
        f"state {index} ({field}={now}) reuses state {earlier} ({field}={then})"
        for index, earlier, field, now, then in collapsed[:COLLAPSED_SHOWN]
    )
    if len(collapsed) > COLLAPSED_SHOWN:
        shown += f"; and {len(collapsed) - COLLAPSED_SHOWN} more"
    field = collapsed[0][2]
    return (
        f"{name}: {len(collapsed)} state(s) of the split share the cache entry of an "
        f"earlier state, because their inputs are equal by content: {shown}. "
        "Files are hashed by their contents, not their names or locations, so "
        "such states get the earlier state's result (a task that reads a file's "
        "name sees the earlier name). If the name matters, give it to the task "
        "in an input of its own, split with the files, e.g. "
        f".split(({field!r}, 'name'), {field}=files, name=[Path(f).name for f in files])."
    )


def _placed(
    dispatcher: Dispatcher[list[int]], bar: Any
) -> Iterator[tuple[int, Outcome]]:
    """Each outcome of the batches done, with its state's index."""
    for indices, outcomes in dispatcher.finished():
        bar.update(len(outcomes))
        yield from zip(indices, outcomes, strict=True)


def _progress_bar(total: int, wanted: bool | None) -> Any:
    """A tqdm bar on a terminal or in Jupyter; disabled otherwise.

    In Jupyter it is a widget when ipywidgets is installed and the text bar
    when it is not: ``tqdm.auto`` would warn "IProgress not found" on import,
    in every notebook of a user who never asked for widgets.
    """
    if wanted is None:
        wanted = total >= PROGRESS_MIN_STATES and _is_interactive()
    if not wanted:  # not even a disabled tqdm: making the first one is slow
        return _NoBar()
    bar = _notebook_bar() if "ipykernel" in sys.modules else None
    return (bar or tqdm)(total=total, unit="state", leave=False)


class _NoBar:
    """What a run without a progress bar updates."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to close."""

    def update(self, n: int = 1) -> None:
        """Nothing to show."""


def _is_interactive() -> bool:
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr.isatty()


def _notebook_bar() -> Any:
    """tqdm's widget bar, or None without ipywidgets (imported only when used)."""
    if importlib.util.find_spec("ipywidgets") is None:
        return None
    from tqdm.notebook import tqdm as notebook_tqdm  # noqa: PLC0415 (optional, heavy)

    return notebook_tqdm


def run_task(task: Task, **submitter_options: Any) -> Any:
    """``task()``: run with a default Submitter and return the outputs."""
    with Submitter(**submitter_options) as sub:
        return sub(task).outputs


register_runner(run_task)
