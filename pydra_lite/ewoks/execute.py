"""``execute_graph``: run an ewoks graph through pydra_lite's own engine.

Translation: each node becomes its task class (:mod:`pydra_lite.ewoks.adapter`)
added with ``workflow.add``; each link becomes a lazy connection; the selected
outputs become the outputs of a ``workflow.define`` task, which a
:class:`~pydra_lite.Submitter` runs. There is no second executor, so the
engine's hash tree gives ewoks' caching rule: a node's key covers its task's
code, its own inputs and the keys of the upstream outputs it reads, so a
changed value reruns that node and everything downstream of it, nothing else.

Reuse: the workflow class depends only on the graph id and the number of
returned outputs, so a process makes it once (:func:`workflow_class`); its
one constructor, :func:`ewoks_graph`, adds the nodes of the graph that
:func:`building` names for the run, a context variable, so threads and nested
runs each see their own graph.

Caching: ``varinfo={"root_uri": dir, "scheme": "json" | "nexus" | "pickle"}``
caches every node in ``dir`` with that store (``scheme`` defaults to
``"json"``, as in ewokscore). Without ``root_uri`` nothing is kept: the run
uses a temporary cache directory, removed afterwards.
"""

from __future__ import annotations

import contextvars
import functools
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

# The default worker's module is imported with this one, not by the registry
# lookup inside the first execute_graph: an import is not per-graph work.
import pydra_lite.workers.serial  # noqa: F401
from pydra_lite.compose import workflow
from pydra_lite.compose.base import Task as PydraTask
from pydra_lite.engine.submitter import Submitter
from pydra_lite.errors import WorkflowError
from pydra_lite.ewoks.graph import EwoksGraph, load_graph
from pydra_lite.ewoks.task import MISSING_DATA

Selection = list[tuple[Any, str, str]]
"""(node id, output name, name in the returned dict) triples."""


def execute_graph(
    graph: Mapping[str, Any] | str | os.PathLike[str] | EwoksGraph,
    varinfo: Mapping[str, Any] | None = None,
    inputs: Sequence[Mapping[str, Any]] | None = None,
    outputs: Sequence[Mapping[str, Any]] | None = None,
    worker: Any = "serial",
    merge_outputs: bool = True,
    **submitter_options: Any,
) -> dict[str, Any]:
    """Run an ewoks graph and return the outputs of its end nodes.

    Args:
        graph: the graph dict, the path of its JSON file, or a loaded graph.
        varinfo: ``{"root_uri": dir, "scheme": "json"}`` caches into ``dir``.
        inputs: ``[{"id": node, "name": input, "value": v}, ...]`` override
            default inputs (``"label"`` instead of ``"id"``, or neither for the
            start nodes, ``"all": True`` for every node with that input).
        outputs: which outputs to return; default ``[{"all": False}]`` (every
            end node). ``{"all": True}``: every node; ``{"id": n}``: node n;
            ``{"id": n, "name": x, "new_name": y}``: one output, renamed.
        worker: a pydra_lite worker (``"serial"``, ``"cf"``, ...).
        merge_outputs: merge all nodes' outputs into one dict (later nodes
            win); False gives ``{node id: {output: value}}``.
        **submitter_options: passed to :class:`~pydra_lite.Submitter`
            (``rerun=True``, ``n_procs=4``, ...).

    Returns:
        The selected outputs; an output that the task never set is left out.
    """
    loaded = graph if isinstance(graph, EwoksGraph) else load_graph(graph, inputs)
    selection = select_outputs(loaded, outputs)
    returned = tuple((nid, name) for nid, name, _ in selection)
    task = workflow_class(loaded.id, len(returned))()
    with ExitStack() as stack:
        cache_dir, store = _cache_of(varinfo, stack)
        sub = stack.enter_context(
            Submitter(
                cache_dir=cache_dir, store=store, worker=worker, **submitter_options
            )
        )
        stack.enter_context(building(loaded, returned))
        result = sub(task)
    values = [getattr(result.outputs, f"out{i}") for i in range(len(selection))]
    return _arrange(selection, values, merge_outputs)


def _cache_of(varinfo: Mapping[str, Any] | None, stack: ExitStack) -> tuple[Path, str]:
    """(cache directory, store name): the user's, or a temporary one."""
    root = (varinfo or {}).get("root_uri")
    if not root:
        tmp = stack.enter_context(
            tempfile.TemporaryDirectory(prefix="pydra-lite-ewoks-")
        )
        return Path(tmp), "pickle"
    return Path(root), str((varinfo or {}).get("scheme") or "json")


Returned = tuple[tuple[Any, str], ...]
"""(node id, output name) pairs: the workflow's outputs ``out0``, ``out1``, ..."""

_BUILDING: contextvars.ContextVar[tuple[EwoksGraph, Returned]] = contextvars.ContextVar(
    "ewoks_graph_building"
)


@contextmanager
def building(graph: EwoksGraph, returned: Returned) -> Iterator[None]:
    """Make :func:`ewoks_graph` add the nodes of ``graph`` in the enclosed run."""
    token = _BUILDING.set((graph, returned))
    try:
        yield
    finally:
        _BUILDING.reset(token)


def ewoks_graph() -> Any:
    """The constructor of every graph's workflow class: adds the graph being run.

    One module-level function, so that a workflow class serves every graph of
    its name and output count; the graph comes from :func:`building`. Its
    module and name are its operation hash (as library code), so renaming or
    moving it would invalidate every cached graph entry.
    """
    try:
        graph, returned = _BUILDING.get()
    except LookupError:
        msg = "an ewoks graph's workflow task runs only inside execute_graph"
        raise WorkflowError(msg) from None
    added: dict[Any, Any] = {}
    for node in graph.nodes.values():
        values = dict(node.values)
        for field, (source, out) in node.links.items():
            values[field] = getattr(added[source], out)
        added[node.id] = workflow.add(node.task_class(**values), name=node.name)
    lazy = tuple(getattr(added[nid], name) for nid, name in returned)
    return lazy[0] if len(lazy) == 1 else lazy


@functools.lru_cache(maxsize=256)
def workflow_class(graph_id: str, n_outputs: int) -> type[PydraTask]:
    """The workflow task class of graphs named ``graph_id``, made once per process.

    Its outputs are ``out0``, ``out1``, ...: the graph's nodes and selected
    outputs enter the run through :func:`building`, not the class.
    """
    outputs = [f"out{i}" for i in range(n_outputs)]
    return workflow.define(ewoks_graph, outputs=outputs, name=_class_name(graph_id))


def _class_name(graph_id: str) -> str:
    """The graph id as a class (and cache directory) name.

    Every non-word character becomes ``_`` (``str.isalnum`` is the test that
    ``re``'s ``\\w`` makes, without compiling a pattern on a process's first
    call).
    """
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in graph_id)
    return name if name.isidentifier() else f"ewoks_{name}"


def select_outputs(
    graph: EwoksGraph, outputs: Sequence[Mapping[str, Any]] | None
) -> Selection:
    """The (node, output, returned name) triples that ``outputs`` asks for."""
    selection: Selection = []
    for item in outputs if outputs is not None else [{"all": False}]:
        for nid in _output_nodes(graph, item):
            names = graph.nodes[nid].ports.outputs
            if item.get("name") is None:
                selection += [(nid, name, name) for name in names]
                continue
            if item["name"] not in names:
                msg = f"execute_graph: outputs item {dict(item)!r} asks for output {item['name']!r} of node {nid!r}, which has: {', '.join(names) or 'none'}"
                raise WorkflowError(msg)
            selection.append((nid, item["name"], item.get("new_name", item["name"])))
    return selection


def _output_nodes(graph: EwoksGraph, item: Mapping[str, Any]) -> list[Any]:
    if "id" in item:
        if item["id"] not in graph.nodes:
            msg = f"execute_graph: outputs item {dict(item)!r} names node {item['id']!r}, which is not in the graph; its nodes are: {list(graph.nodes)}"
            raise WorkflowError(msg)
        return [item["id"]]
    return list(graph.nodes) if item.get("all") else list(graph.end_nodes)


def _arrange(selection: Selection, values: list[Any], merge: bool) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    by_node: dict[Any, dict[str, Any]] = {}
    for (nid, _, name), value in zip(selection, values, strict=True):
        if value is MISSING_DATA:
            continue
        merged[name] = value
        by_node.setdefault(nid, {})[name] = value
    return merged if merge else by_node
