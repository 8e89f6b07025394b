"""Parsing and validating an ewoks graph dict into nodes, inputs and links.

Accepted (ewokscore's schema, the parts pydra_lite runs)::

    {"graph": {"id": "name"},
     "nodes": [{"id": ..., "task_type": "class" | "method",
                "task_identifier": "pkg.mod.Name",
                "default_inputs": [{"name": ..., "value": ...}]}],
     "links": [{"source": id, "target": id,
                "data_mapping": [{"source_output": ..., "target_input": ...}],
                "map_all_data": bool}]}

Algorithm: index the nodes by id (duplicates refused), resolve each distinct
``task_identifier`` once (:mod:`pydra_lite.ewoks.adapter`), apply
``default_inputs`` then the caller's ``inputs``, turn every link into
``target_input -> (source, source_output)`` entries, order the nodes with
Kahn's algorithm (a cycle is reported as a path), and check that each
required input is given. Every step is a dict lookup per node, input or
link, so loading is linear in the size of the graph.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from pydra_lite.compose.base import Task as PydraTask
from pydra_lite.errors import TaskInputError, WorkflowError
from pydra_lite.ewoks.adapter import Ports, task_class_for

_UNSUPPORTED_LINK_KEYS = ("conditions", "on_error", "sub_target", "sub_source")


@attrs.frozen
class EwoksNode:
    """One ewoks node, resolved: its task class, given values and linked inputs."""

    id: Any
    name: str
    task_class: type[PydraTask]
    ports: Ports
    values: dict[str, Any]
    links: dict[str, tuple[Any, str]]


@attrs.frozen
class EwoksGraph:
    """A validated ewoks graph; ``nodes`` are in topological order."""

    id: str
    nodes: dict[Any, EwoksNode]
    end_nodes: tuple[Any, ...]
    start_nodes: tuple[Any, ...]


def load_graph(
    source: Mapping[str, Any] | str | os.PathLike[str],
    inputs: Sequence[Mapping[str, Any]] | None = None,
) -> EwoksGraph:
    """Parse and validate an ewoks graph (a dict or a JSON file) with ``inputs``.

    Raises:
        WorkflowError: an unknown task, a link to a missing node, output or
            input, or a cycle.
        TaskInputError: a required input that nothing gives.
    """
    data = _read(source)
    raw = _index_nodes(data.get("nodes"))
    classes = _resolve(raw)
    shared = {cls: Ports.of(cls) for cls in set(classes.values())}
    ports = {nid: shared[cls] for nid, cls in classes.items()}
    values = {nid: _default_inputs(node, nid, ports[nid]) for nid, node in raw.items()}
    feeds, successors = _parse_links(data.get("links") or [], ports)
    starts = tuple(nid for nid in raw if not feeds[nid])
    _apply_inputs(values, inputs or [], raw, ports, starts)
    order = _topological_order(raw, successors)
    names = _node_names(order)
    nodes = {}
    for nid in order:
        own = {k: v for k, v in values[nid].items() if k not in feeds[nid]}
        nodes[nid] = EwoksNode(
            nid, names[nid], classes[nid], ports[nid], own, feeds[nid]
        )
        _check_required(nodes[nid])
    ends = tuple(nid for nid in order if not successors[nid])
    return EwoksGraph(_graph_id(data), nodes, ends, starts)


def _read(source: Mapping[str, Any] | str | os.PathLike[str]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    if not isinstance(source, str | os.PathLike):
        msg = (
            f"ewoks graph: got a {type(source).__name__} ({_short(source)}); pass "
            "the graph dict ({'graph': ..., 'nodes': [...], 'links': [...]}) or "
            "the path of its .json file"
        )
        raise WorkflowError(msg)
    path = Path(source)
    if not path.is_file():
        msg = f"ewoks graph {str(source)!r}: not a dict and not a JSON file; pass the graph dict or the path of its .json file"
        raise WorkflowError(msg)
    loaded = json.loads(path.read_text())
    if not isinstance(loaded, Mapping):
        msg = f"ewoks graph file {path}: holds {type(loaded).__name__}, expected a JSON object"
        raise WorkflowError(msg)
    return loaded


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _graph_id(data: Mapping[str, Any]) -> str:
    graph = data.get("graph") or {}
    return (
        str(graph.get("id", "ewoks_graph"))
        if isinstance(graph, Mapping)
        else "ewoks_graph"
    )


def _index_nodes(nodes: Any) -> dict[Any, Mapping[str, Any]]:
    if not isinstance(nodes, list):
        msg = f"ewoks graph: 'nodes' must be a list of node dicts, got {nodes!r}"
        raise WorkflowError(msg)
    indexed: dict[Any, Mapping[str, Any]] = {}
    for position, node in enumerate(nodes):
        if not isinstance(node, Mapping) or "id" not in node:
            msg = f"ewoks graph: node #{position} {node!r} needs an 'id'"
            raise WorkflowError(msg)
        if node["id"] in indexed:
            msg = f"ewoks graph: two nodes have the id {node['id']!r}; node ids must be unique"
            raise WorkflowError(msg)
        indexed[node["id"]] = node
    return indexed


def _resolve(raw: Mapping[Any, Mapping[str, Any]]) -> dict[Any, type[PydraTask]]:
    """Each node's task class; one resolution per distinct (type, identifier)."""
    made: dict[tuple[str, Any], type[PydraTask]] = {}
    classes = {}
    for nid, node in raw.items():
        identifier = node.get("task_identifier")
        if identifier is None:
            msg = f"ewoks node {nid!r}: no 'task_identifier'; name its task, e.g. 'mypackage.tasks.MyTask'"
            raise WorkflowError(msg)
        key = (str(node.get("task_type", "class")), identifier)
        if key not in made:
            made[key] = task_class_for(key[0], identifier, str(nid))
        classes[nid] = made[key]
    return classes


def _default_inputs(node: Mapping[str, Any], nid: Any, ports: Ports) -> dict[str, Any]:
    values = {}
    for item in node.get("default_inputs") or []:
        if not isinstance(item, Mapping) or "name" not in item or "value" not in item:
            msg = f"ewoks node {nid!r}: default input {item!r} needs 'name' and 'value'"
            raise WorkflowError(msg)
        _check_input_name(nid, ports, item["name"], "default_inputs")
        values[item["name"]] = item["value"]
    return values


def _check_input_name(nid: Any, ports: Ports, name: Any, where: str) -> None:
    if name not in ports.input_set:
        msg = (
            f"ewoks node {nid!r} ({ports.task}): {where} gives input {name!r}, which "
            f"it does not have; its inputs are: {', '.join(ports.inputs) or 'none'}"
        )
        raise TaskInputError(msg, task=str(nid), field=str(name))


def _apply_inputs(
    values: dict[Any, dict[str, Any]],
    inputs: Iterable[Mapping[str, Any]],
    raw: Mapping[Any, Mapping[str, Any]],
    ports: Mapping[Any, Ports],
    starts: Sequence[Any],
) -> None:
    """Caller's inputs override default_inputs: by id, by label, or to many nodes.

    Without ``id`` or ``label`` an item goes to the start nodes (``"all": True``:
    to every node) that have an input of that name, as in ewokscore.
    """
    for item in inputs:
        if "name" not in item or "value" not in item:
            msg = f"execute_graph: input {item!r} needs 'name' and 'value' (and 'id' to pick a node)"
            raise WorkflowError(msg)
        for nid in _input_targets(item, raw, ports, starts):
            values[nid][item["name"]] = item["value"]


def _input_targets(
    item: Mapping[str, Any],
    raw: Mapping[Any, Mapping[str, Any]],
    ports: Mapping[Any, Ports],
    starts: Sequence[Any],
) -> list[Any]:
    name = item["name"]
    if "id" in item:
        if item["id"] not in raw:
            msg = f"execute_graph: input {item!r} names node {item['id']!r}, which is not in the graph; its nodes are: {list(raw)}"
            raise WorkflowError(msg)
        _check_input_name(item["id"], ports[item["id"]], name, "inputs")
        return [item["id"]]
    if "label" in item:
        chosen = [n for n, node in raw.items() if node.get("label", n) == item["label"]]
    else:
        chosen = list(raw) if item.get("all") else list(starts)
    return [n for n in chosen if name in ports[n].input_set]


def _parse_links(
    links: Any, ports: Mapping[Any, Ports]
) -> tuple[dict[Any, dict[str, tuple[Any, str]]], dict[Any, list[Any]]]:
    """(inputs fed by links, per target; successors, per source)."""
    if not isinstance(links, list):
        msg = f"ewoks graph: 'links' must be a list of link dicts, got {links!r}"
        raise WorkflowError(msg)
    feeds: dict[Any, dict[str, tuple[Any, str]]] = {nid: {} for nid in ports}
    successors: dict[Any, list[Any]] = {nid: [] for nid in ports}
    for link in links:
        source, target = _link_ends(link, ports)
        successors[source].append(target)
        for out, into in _link_pairs(link, ports[source], ports[target]):
            _check_link_pair(link, out, into, ports, feeds[target])
            feeds[target][into] = (source, out)
    return feeds, successors


def _link_ends(link: Any, ports: Mapping[Any, Ports]) -> tuple[Any, Any]:
    if not isinstance(link, Mapping):
        msg = f"ewoks graph: link {link!r} must be a dict with 'source' and 'target'"
        raise WorkflowError(msg)
    source, target = link.get("source"), link.get("target")
    if source not in ports or target not in ports:
        key, missing = ("source", source) if source not in ports else ("target", target)
        msg = (
            f"ewoks graph: link {_describe(link)} has {key} {missing!r}, which is "
            f"not a node of the graph; its nodes are: {list(ports)}"
        )
        raise WorkflowError(msg)
    unsupported = [k for k in _UNSUPPORTED_LINK_KEYS if link.get(k)]
    if unsupported:
        msg = f"ewoks graph: link {_describe(link)} uses {unsupported}, which pydra_lite does not run; remove them"
        raise WorkflowError(msg)
    return source, target


def _link_pairs(
    link: Mapping[str, Any], source: Ports, target: Ports
) -> list[tuple[str, str]]:
    """(source_output, target_input) pairs; ``map_all_data`` maps equal names."""
    pairs = []
    if link.get("map_all_data"):
        pairs += [(n, n) for n in source.outputs if n in target.input_set]
    for item in link.get("data_mapping") or ():
        try:
            pairs.append((item["source_output"], item["target_input"]))
        except (KeyError, TypeError):
            msg = f"ewoks graph: link {_describe(link)}: data_mapping item {item!r} needs 'source_output' and 'target_input'"
            raise WorkflowError(msg) from None
    return pairs


def _check_link_pair(
    link: Mapping[str, Any],
    out: str,
    into: str,
    ports: Mapping[Any, Ports],
    fed: Mapping[str, tuple[Any, str]],
) -> None:
    source, target = ports[link["source"]], ports[link["target"]]
    if out not in source.output_set:
        known = ", ".join(source.outputs) or "none"
        msg = f"ewoks graph: link {_describe(link)} reads output {out!r}, which {source.task} does not have; its outputs are: {known}"
        raise WorkflowError(msg)
    if into not in target.input_set:
        known = ", ".join(target.inputs) or "none"
        msg = f"ewoks graph: link {_describe(link)} feeds input {into!r}, which {target.task} does not have; its inputs are: {known}"
        raise WorkflowError(msg)
    if into in fed:
        other = fed[into]
        msg = f"ewoks graph: input {into!r} of node {link['target']!r} is fed by two links ({other[0]!r}.{other[1]} and {link['source']!r}.{out}); keep one"
        raise WorkflowError(msg)


def _describe(link: Mapping[str, Any]) -> str:
    return f"{link.get('source')!r} -> {link.get('target')!r}"


def _topological_order(
    raw: Mapping[Any, Any],
    successors: Mapping[Any, list[Any]],
) -> list[Any]:
    """Kahn's algorithm over every link; ties keep the order nodes were listed."""
    waiting = dict.fromkeys(raw, 0)
    for targets in successors.values():
        for target in targets:
            waiting[target] += 1
    ready = deque(nid for nid, count in waiting.items() if count == 0)
    order = []
    while ready:
        nid = ready.popleft()
        order.append(nid)
        for target in successors[nid]:
            waiting[target] -= 1
            if waiting[target] == 0:
                ready.append(target)
    if len(order) < len(raw):
        cycle = _find_cycle([n for n, c in waiting.items() if c > 0], successors)
        path = " -> ".join(repr(n) for n in cycle)
        msg = f"ewoks graph: the links form a cycle ({path}); pydra_lite runs acyclic graphs only, remove one of these links"
        raise WorkflowError(msg)
    return order


def _find_cycle(left: list[Any], successors: Mapping[Any, list[Any]]) -> list[Any]:
    """A closed path among the nodes Kahn's algorithm left over, from the first listed.

    Each of them waits for a predecessor that is also left over, so walking
    predecessors must come back to a node already seen.
    """
    members = set(left)
    predecessor = {t: s for s in left for t in successors[s] if t in members}
    path: list[Any] = []
    seen: dict[Any, int] = {}
    node = left[0]
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = predecessor[node]
    cycle = path[seen[node] :][::-1]
    first = min(range(len(cycle)), key=lambda i: left.index(cycle[i]))
    cycle = cycle[first:] + cycle[:first]
    return [*cycle, cycle[0]]


def _node_names(order: Sequence[Any]) -> dict[Any, str]:
    """Workflow node names: the id as text, unless it has a dot or is taken."""
    names: dict[Any, str] = {}
    taken: set[str] = set()
    for position, nid in enumerate(order):
        name = str(nid)
        if "." in name or name in taken:
            name = f"node{position}"
        names[nid] = name
        taken.add(name)
    return names


def _check_required(node: EwoksNode) -> None:
    for name in node.ports.required:
        if name not in node.values and name not in node.links:
            msg = (
                f"ewoks node {node.id!r} ({node.ports.task}): required input "
                f"{name!r} has no value; give it in the node's default_inputs, in "
                f"execute_graph(inputs=[{{'id': {node.id!r}, 'name': {name!r}, "
                "'value': ...}]), or link an upstream output to it"
            )
            raise TaskInputError(msg, task=str(node.id), field=name)
