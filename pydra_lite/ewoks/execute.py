"""``execute_graph``: run an ewoks graph through pydra_lite's own engine.

Translation: each node becomes its task class (:mod:`pydra_lite.ewoks.adapter`)
added with ``workflow.add``; each link becomes a lazy connection; the selected
outputs become the outputs of a ``workflow.define`` task, which a
:class:`~pydra_lite.Submitter` runs. There is no second executor, so the
engine's hash tree gives ewoks' caching rule: a node's key covers its task's
code, its own inputs and the keys of the upstream outputs it reads, so a
changed value reruns that node and everything downstream of it, nothing else.

Caching: ``varinfo={"root_uri": dir, "scheme": "json" | "nexus" | "pickle"}``
caches every node in ``dir`` with that store (``scheme`` defaults to
``"json"``, as in ewokscore). Without ``root_uri`` nothing is kept: the run
uses a temporary cache directory, removed afterwards.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

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
    task = translate(loaded, [(nid, name) for nid, name, _ in selection])()
    with ExitStack() as stack:
        cache_dir, store = _cache_of(varinfo, stack)
        sub = stack.enter_context(
            Submitter(
                cache_dir=cache_dir, store=store, worker=worker, **submitter_options
            )
        )
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


def translate(
    graph: EwoksGraph, returned: Sequence[tuple[Any, str]]
) -> type[PydraTask]:
    """A workflow task class that adds every node and returns ``returned``."""

    def construct() -> Any:
        added: dict[Any, Any] = {}
        for node in graph.nodes.values():
            values = dict(node.values)
            for field, (source, out) in node.links.items():
                values[field] = getattr(added[source], out)
            added[node.id] = workflow.add(node.task_class(**values), name=node.name)
        lazy = tuple(getattr(added[nid], name) for nid, name in returned)
        return lazy[0] if len(lazy) == 1 else lazy

    construct.__qualname__ = "ewoks_graph"
    outputs = [f"out{i}" for i in range(len(returned))]
    return workflow.define(construct, outputs=outputs, name=_class_name(graph.id))


def _class_name(graph_id: str) -> str:
    """The graph id as a class (and cache directory) name."""
    name = re.sub(r"\W", "_", graph_id)
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
