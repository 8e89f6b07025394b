"""Running flattened workflows: demand-driven, as soon as each input is ready.

One :class:`WorkflowRun` runs one or several graphs together (the graphs of
the states of a split workflow), so that their independent states share the
worker. Algorithm (as ewoks' lazy evaluation over its hash tree):

1. *Demand.* Start from the states each graph returns and from every sink
   node's states. A demanded state with a valid cache entry is loaded and
   demands nothing more; one without is pending, and demands the upstream
   states it reads. So a warm run loads only what the workflow returns, and
   editing node k of a chain reruns nodes k..end only. Two pending states with
   the same checksum (the same job in two graphs) run once: the second
   follows the first and receives its outcome. One scan of the cache root
   (:meth:`Cache.entry_names`) says which entries exist, so a cold run pays
   no failed read per state.
2. *Run.* A pending state is ready when every pending state it reads is done
   (no barrier on a whole upstream split). Ready states wait in one queue per
   task class, so that a batch holds states of one class, from any graph.
   Batches go to the worker through the one :class:`Dispatcher` loop while
   fewer than ``worker.max_in_flight()`` are outstanding, the class whose most downstream ready state comes last in
   its graph first: results flow down the graph instead of piling up.
3. *Failure.* A failed state's dependants, transitively, are skipped, each
   with the failed state that caused it; every other state still runs and is
   cached. A batch lost as a whole (its process died) settles its states as failed or found, by
   the dispatcher's lost-batch rule.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydra_lite.engine.dispatch import Dispatcher
from pydra_lite.engine.job import JobBatch, Outcome
from pydra_lite.engine.workflow import GraphNode, WorkflowGraph

if TYPE_CHECKING:
    from pydra_lite.engine.cache import Cache
    from pydra_lite.engine.worker import Worker

StateKey = tuple[GraphNode, int]
_Queued = tuple[int, int, int, StateKey]
"""A ready state in its class's queue: (-node order, graph, state, key)."""


class WorkflowRun:
    """One run of flattened workflow graphs through the cache and a worker."""

    def __init__(
        self,
        graphs: Sequence[WorkflowGraph],
        cache: Cache,
        worker: Worker,
        rerun: bool,
    ) -> None:
        self.graphs = list(graphs)
        self.cache = cache
        self.worker = worker
        self.rerun = rerun
        self.graph_of = {
            node: i
            for i, graph in enumerate(self.graphs)
            for node in graph.nodes.values()
        }
        self.outputs: dict[GraphNode, list[dict[str, Any] | None]] = {
            node: [None] * node.state.size for node in self.graph_of
        }
        self.pending: set[StateKey] = set()
        self.waiting: dict[StateKey, int] = {}
        self.dependants: dict[StateKey, list[StateKey]] = defaultdict(list)
        self.followers: dict[StateKey, list[StateKey]] = defaultdict(list)
        self.leader_of: dict[StateKey, StateKey] = {}
        self.errors: dict[int, list[tuple[int, int, dict[str, Any]]]] = defaultdict(
            list
        )  # per graph: (node order, state, record)
        self.skipped: dict[
            StateKey, StateKey
        ] = {}  # -> the failed state that caused it
        self.skipped_by_graph: dict[int, dict[StateKey, StateKey]] = defaultdict(dict)
        self.ran: set[int] = set()  # graphs with a state executed, not found
        self._queues: dict[type, list[_Queued]] = defaultdict(list)
        self._known: set[str] | None = None  # entry names in the root, if scanned

    def run(self) -> None:
        """Demand, then run every pending state; results land in ``outputs``."""
        if not self.rerun:
            states = sum(node.state.size for node in self.graph_of)
            self._known = self.cache.entry_names(4 * states + 64)
        self._demand()
        self._link()
        for key in self.pending:
            if self.waiting[key] == 0 and key not in self.leader_of:
                self._enqueue(key)
        self._execute()

    # -- what each graph got ---------------------------------------------------
    def errors_of(self, graph: int) -> list[dict[str, Any]]:
        """The error records of the failed states of graph ``graph``, in node
        and state order, each with its ``node`` and ``state`` (None: unsplit)."""
        found = sorted(self.errors.get(graph, []), key=lambda item: item[:2])
        return [record for _, _, record in found]

    def skipped_of(self, graph: int) -> dict[StateKey, StateKey]:
        """The skipped states of graph ``graph``, each with the failed state
        that caused the skip."""
        return self.skipped_by_graph.get(graph, {})

    def ran_in(self, graph: int) -> bool:
        """Whether any state of graph ``graph`` was executed (not found cached)."""
        return graph in self.ran

    # -- 1. demand ----------------------------------------------------------------
    def _demand(self) -> None:
        stack = [
            (node, k)
            for graph in self.graphs
            for node in _demanded(graph)
            for k in range(node.kept.size)
        ]
        seen: set[StateKey] = set()
        leaders: dict[tuple[type, str], StateKey] = {}
        while stack:
            node, kept = stack.pop()
            for flat in node.groups[kept]:
                key = (node, flat)
                if key in seen:
                    continue
                seen.add(key)
                if self._load(node, flat):
                    continue
                self.pending.add(key)
                leader = leaders.setdefault(
                    (node.task_class, node.checksums[flat]), key
                )
                if leader is not key:
                    self.followers[leader].append(key)
                    self.leader_of[key] = leader
                stack.extend(node.dependencies(flat))

    def _load(self, node: GraphNode, flat: int) -> bool:
        if self.rerun:
            return False
        checksum = node.checksums[flat]
        entry = self.cache.load(node.task_class.__name__, checksum, self._known)
        if entry is None:
            return False
        self.outputs[node][flat] = entry.outputs
        return True

    def _link(self) -> None:
        """Count, for each pending state, the pending states it waits for."""
        for key in self.pending:
            node = key[0]
            count = 0
            for up, kept in node.dependencies(key[1]):
                for flat in up.groups[kept]:
                    if (up, flat) in self.pending:
                        self.dependants[up, flat].append(key)
                        count += 1
            self.waiting[key] = count

    # -- 2. run ---------------------------------------------------------------------
    def _enqueue(self, key: StateKey) -> None:
        node, flat = key
        entry = (-node.order, self.graph_of[node], flat, key)
        heapq.heappush(self._queues[node.task_class], entry)

    def _execute(self) -> None:
        dispatcher: Dispatcher[list[StateKey]] = Dispatcher(self.worker)
        while self._queues or dispatcher.busy():
            while self._queues and dispatcher.has_room():
                keys = self._next_batch()
                dispatcher.send(self._batch(keys), keys)
            for keys, outcomes in dispatcher.finished():
                self._finish_batch(keys, outcomes)

    def _next_batch(self) -> list[StateKey]:
        """Up to a batch of ready states of the class whose best state goes first."""
        task_class = min(self._queues, key=lambda cls: self._queues[cls][0])
        queue = self._queues[task_class]
        size = self.worker.batch_size(len(queue))
        keys = [heapq.heappop(queue)[3] for _ in range(min(size, len(queue)))]
        if not queue:
            del self._queues[task_class]
        return keys

    def _batch(self, keys: list[StateKey]) -> JobBatch:
        jobs = [node.job(flat, self.outputs) for node, flat in keys]
        return JobBatch(
            keys[0][0].task_class, self.cache.spec, jobs, self.worker.name, self.rerun
        )

    def _finish_batch(self, keys: list[StateKey], outcomes: list[Outcome]) -> None:
        for key, outcome in zip(keys, outcomes, strict=True):
            self._finish(key, outcome)

    def _finish(self, key: StateKey, outcome: Outcome) -> None:
        """Record one outcome (and its followers'); queue the dependants it readied."""
        for done in (key, *self.followers.get(key, ())):
            graph = self.graph_of[done[0]]
            if not outcome.cached:
                self.ran.add(graph)
            if outcome.error is not None:
                node, flat = done
                state = flat if node.state.dims else None
                record = {**outcome.error, "node": node.name, "state": state}
                self.errors[graph].append((node.order, flat, record))
                self._skip_dependants(done)
                continue
            self.outputs[done[0]][done[1]] = outcome.outputs
            for dependant in self.dependants.get(done, ()):
                self.waiting[dependant] -= 1
                if self.waiting[dependant] == 0 and self._is_runnable(dependant):
                    self._enqueue(dependant)

    def _is_runnable(self, key: StateKey) -> bool:
        return key not in self.skipped and key not in self.leader_of

    # -- 3. failure ---------------------------------------------------------------
    def _skip_dependants(self, key: StateKey) -> None:
        stack = list(self.dependants.get(key, []))
        while stack:
            dependant = stack.pop()
            if dependant not in self.skipped:
                self.skipped[dependant] = key
                graph = self.graph_of[dependant[0]]
                self.skipped_by_graph[graph][dependant] = key
                stack.extend(self.dependants.get(dependant, []))
                stack.extend(self.followers.get(dependant, []))


def _demanded(graph: WorkflowGraph) -> Iterator[GraphNode]:
    """The nodes whose states a run must have: those returned, and the sinks."""
    yield from (node for node, _ in graph.outputs.values())
    yield from graph.sinks
