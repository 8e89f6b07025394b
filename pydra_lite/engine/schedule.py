"""Running a flattened workflow: demand-driven, as soon as each input is ready.

Algorithm (as ewoks' lazy evaluation over its hash tree):

1. *Demand.* Start from the states the workflow returns and from every sink
   node's states. A demanded state with a valid cache entry is loaded and
   demands nothing more; one without is pending, and demands the upstream
   states it reads. So a warm run loads only what the workflow returns, and
   editing node k of a chain reruns nodes k..end only.
2. *Run.* A pending state is ready when every pending state it reads is done
   (no barrier on a whole upstream split). Ready states go to the worker in
   batches of one node each; as batches finish, their dependants become ready.
3. *Failure.* A failed state's dependants, transitively, are skipped with the
   reason recorded; every other state still runs and is cached.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Any

from pydra_lite.engine.job import JobBatch, Outcome
from pydra_lite.engine.workflow import GraphNode, WorkflowGraph

if TYPE_CHECKING:
    from pydra_lite.engine.cache import Cache
    from pydra_lite.workers.base import Worker

StateKey = tuple[str, int]


class WorkflowRun:
    """One run of a flattened workflow through the cache and a worker."""

    def __init__(
        self, graph: WorkflowGraph, cache: Cache, worker: Worker, rerun: bool
    ) -> None:
        self.graph = graph
        self.cache = cache
        self.worker = worker
        self.rerun = rerun
        self.outputs: dict[str, list[dict[str, Any] | None]] = {
            name: [None] * node.state.size for name, node in graph.nodes.items()
        }
        self.pending: set[StateKey] = set()
        self.waiting: dict[StateKey, int] = {}
        self.dependants: dict[StateKey, list[StateKey]] = defaultdict(list)
        self.errors: list[dict[str, Any]] = []
        self.skipped: dict[StateKey, str] = {}
        self.executed = 0

    def run(self) -> None:
        """Demand, then run every pending state; results land in ``outputs``."""
        self._demand()
        self._link()
        ready = [key for key in self.pending if self.waiting[key] == 0]
        self._execute(ready)

    # -- 1. demand ----------------------------------------------------------------
    def _demand(self) -> None:
        stack = [
            (node, k)
            for node, _ in self.graph.outputs.values()
            for k in range(node.kept.size)
        ]
        stack += [(node, k) for node in self.graph.sinks for k in range(node.kept.size)]
        seen: set[StateKey] = set()
        while stack:
            node, kept = stack.pop()
            for flat in node.groups[kept]:
                if (node.name, flat) in seen:
                    continue
                seen.add((node.name, flat))
                if not self._load(node, flat):
                    self.pending.add((node.name, flat))
                    stack.extend(node.dependencies(flat))

    def _load(self, node: GraphNode, flat: int) -> bool:
        if self.rerun:
            return False
        entry = self.cache.load(node.task_class.__name__, node.checksums[flat])
        if entry is None:
            return False
        self.outputs[node.name][flat] = entry.outputs
        return True

    def _link(self) -> None:
        """Count, for each pending state, the pending states it waits for."""
        for key in self.pending:
            node = self.graph.nodes[key[0]]
            count = 0
            for up, kept in node.dependencies(key[1]):
                for flat in up.groups[kept]:
                    if (up.name, flat) in self.pending:
                        self.dependants[up.name, flat].append(key)
                        count += 1
            self.waiting[key] = count

    # -- 2. run ---------------------------------------------------------------------
    def _execute(self, ready: list[StateKey]) -> None:
        in_flight: dict[Future[list[Outcome]], list[StateKey]] = {}
        while ready or in_flight:
            for keys in self._batches(ready):
                in_flight[self._submit(keys)] = keys
            ready = []
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                keys = in_flight.pop(future)
                for key, outcome in zip(keys, future.result(), strict=True):
                    ready += self._finish(key, outcome)

    def _batches(self, ready: list[StateKey]) -> Iterator[list[StateKey]]:
        by_node: dict[str, list[StateKey]] = defaultdict(list)
        for key in ready:
            by_node[key[0]].append(key)
        for keys in by_node.values():
            size = self.worker.batch_size(len(keys))
            for start in range(0, len(keys), size):
                yield sorted(keys[start : start + size])

    def _submit(self, keys: list[StateKey]) -> Future[list[Outcome]]:
        node = self.graph.nodes[keys[0][0]]
        jobs = [node.job(flat, self.outputs) for _, flat in keys]
        batch = JobBatch(
            node.task_class, self.cache.spec, jobs, self.worker.name, self.rerun
        )
        return self.worker.submit(batch)

    def _finish(self, key: StateKey, outcome: Outcome) -> list[StateKey]:
        """Record one outcome; return the dependants it made ready."""
        self.executed += not outcome.cached
        if outcome.error is not None:
            self.errors.append(outcome.error)
            self._skip_dependants(key, f"upstream {key[0]} state {key[1]} failed")
            return []
        self.outputs[key[0]][key[1]] = outcome.outputs
        ready = []
        for dependant in self.dependants.get(key, []):
            self.waiting[dependant] -= 1
            if self.waiting[dependant] == 0 and dependant not in self.skipped:
                ready.append(dependant)
        return ready

    # -- 3. failure ---------------------------------------------------------------
    def _skip_dependants(self, key: StateKey, reason: str) -> None:
        stack = list(self.dependants.get(key, []))
        while stack:
            dependant = stack.pop()
            if dependant not in self.skipped:
                self.skipped[dependant] = reason
                stack.extend(self.dependants.get(dependant, []))

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.skipped)
