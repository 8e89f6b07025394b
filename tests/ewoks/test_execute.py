"""execute_graph: the engine's caching rule on ewoks graphs, node kinds, outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pydra_lite.ewoks import MISSING_DATA, execute_graph, load_graph
from tests.ewoks import tasks

T = "tests.ewoks.tasks."
NEXUS_REASON = "the nexus store needs h5py (pip install 'pydra-lite[nexus]')"


def node(nid: str, identifier: str, task_type: str = "class", **defaults: Any) -> dict:
    items = [{"name": k, "value": v} for k, v in defaults.items()]
    return {
        "id": nid,
        "task_type": task_type,
        "task_identifier": identifier,
        "default_inputs": items,
    }


def link(source: str, target: str, *pairs: tuple[str, str], **extra: Any) -> dict:
    mapping = [{"source_output": s, "target_input": t} for s, t in pairs]
    return {"source": source, "target": target, "data_mapping": mapping, **extra}


def chain_with_branch() -> dict:
    """first -> middle -> last, and first -> side."""
    nodes = [
        node("first", T + "SumTask", a=1),
        node("middle", T + "SumTask", b=10),
        node("last", T + "SumTask", b=100),
        node("side", T + "SumTask", b=1000),
    ]
    links = [
        link("first", "middle", ("result", "a")),
        link("middle", "last", ("result", "a")),
        link("first", "side", ("result", "a")),
    ]
    return {"graph": {"id": "chain"}, "nodes": nodes, "links": links}


def json_cache(tmp_path: Path) -> dict[str, str]:
    return {"root_uri": str(tmp_path / "results"), "scheme": "json"}


def test_end_nodes_outputs_are_merged(tmp_path: Path, executed: Callable) -> None:
    result = execute_graph(
        chain_with_branch(), varinfo=json_cache(tmp_path), merge_outputs=False
    )
    assert result == {"last": {"result": 111}, "side": {"result": 1001}}
    assert len(executed()) == 4


def test_second_run_executes_nothing(tmp_path: Path, executed: Callable) -> None:
    varinfo = json_cache(tmp_path)
    first = execute_graph(chain_with_branch(), varinfo=varinfo)
    executed()
    assert execute_graph(chain_with_branch(), varinfo=varinfo) == first
    assert executed() == []


def test_changed_upstream_input_reruns_it_and_downstream_only(
    tmp_path: Path, executed: Callable
) -> None:
    varinfo = json_cache(tmp_path)
    execute_graph(chain_with_branch(), varinfo=varinfo)
    executed()
    inputs = [{"id": "middle", "name": "b", "value": 20}]
    result = execute_graph(
        chain_with_branch(), varinfo=varinfo, inputs=inputs, merge_outputs=False
    )
    assert result["last"] == {"result": 121} and result["side"] == {"result": 1001}
    assert sorted(executed()) == ["SumTask 1 20", "SumTask 21 100"]


def test_changed_start_input_reruns_everything_downstream(
    tmp_path: Path, executed: Callable
) -> None:
    varinfo = json_cache(tmp_path)
    execute_graph(chain_with_branch(), varinfo=varinfo)
    executed()
    execute_graph(
        chain_with_branch(),
        varinfo=varinfo,
        inputs=[{"id": "first", "name": "a", "value": 2}],
    )
    assert len(executed()) == 4


def test_without_varinfo_nothing_is_cached(tmp_path: Path, executed: Callable) -> None:
    graph = chain_with_branch()
    assert execute_graph(graph) == execute_graph(graph)
    assert len(executed()) == 8
    assert not (tmp_path / "results").exists()


def test_numpy_array_round_trips_in_json_and_nexus(tmp_path: Path) -> None:
    array = np.arange(12, dtype=">i2").reshape(3, 4)
    for scheme in ("json", "nexus"):
        if scheme == "nexus":  # the json half has run and passed
            pytest.importorskip("h5py", reason=NEXUS_REASON)
        varinfo = {"root_uri": str(tmp_path / scheme), "scheme": scheme}
        graph = {"nodes": [node("t", T + "SumTask")]}
        inputs = [{"id": "t", "name": "a", "value": array}]
        execute_graph(graph, varinfo=varinfo, inputs=inputs)
        again = execute_graph(graph, varinfo=varinfo, inputs=inputs)["result"]
        assert again.dtype == array.dtype and again.shape == array.shape
        assert np.array_equal(again, array)


def test_method_node_returns_return_value(tmp_path: Path, executed: Callable) -> None:
    graph = {
        "nodes": [
            node("m", T + "multiply", "method", a=3),
            node("s", T + "SumTask", b=1),
        ],
        "links": [link("m", "s", ("return_value", "a"))],
    }
    varinfo = json_cache(tmp_path)
    assert execute_graph(graph, varinfo=varinfo, outputs=[{"all": True}]) == {
        "return_value": 6,
        "result": 7,
    }
    execute_graph(graph, varinfo=varinfo)
    assert executed() == ["multiply 3 2", "SumTask 6 1"]


def test_map_all_data_feeds_inputs_of_the_same_names() -> None:
    graph = {
        "nodes": [node("split", T + "SplitTask", value=4), node("sum", T + "SumTask")],
        "links": [{"source": "split", "target": "sum", "map_all_data": True}],
    }
    assert execute_graph(graph) == {"result": 44}


def test_pydra_lite_task_class_as_a_class_node() -> None:
    graph = {
        "nodes": [
            node("stats", T + "Stats", values=[1, 2, 3]),
            node("sum", T + "SumTask"),
        ],
        "links": [link("stats", "sum", ("total", "a"), ("count", "b"))],
    }
    assert execute_graph(graph) == {"result": 9}


def test_task_given_as_objects_not_names() -> None:
    graph = {
        "nodes": [{"id": "m", "task_type": "method", "task_identifier": tasks.multiply}]
    }
    assert execute_graph(graph, inputs=[{"id": "m", "name": "a", "value": 5}]) == {
        "return_value": 10
    }


def test_outputs_selection_and_renaming() -> None:
    graph = chain_with_branch()
    picked = [{"id": "first", "name": "result", "new_name": "start"}, {"id": "side"}]
    assert execute_graph(graph, outputs=picked) == {"start": 1, "result": 1001}
    every = execute_graph(graph, outputs=[{"all": True}], merge_outputs=False)
    assert list(every) == ["first", "middle", "side", "last"]


def test_unset_output_is_left_out_and_missing_downstream() -> None:
    graph = {"nodes": [node("h", T + "HalfSet", x=1)]}
    assert execute_graph(graph) == {"kept": 1}
    assert repr(MISSING_DATA) == "MISSING_DATA" and not MISSING_DATA


def test_inputs_without_id_go_to_start_nodes_having_that_input(
    executed: Callable,
) -> None:
    result = execute_graph(
        chain_with_branch(), inputs=[{"name": "a", "value": 5}], merge_outputs=False
    )
    assert result["last"] == {"result": 115}


def test_loading_is_independent_of_node_order_in_the_list() -> None:
    graph = chain_with_branch()
    graph["nodes"].reverse()
    assert list(load_graph(graph).nodes) == ["first", "middle", "side", "last"]


def test_end_node_without_outputs_still_runs(executed: Callable) -> None:
    graph = {"nodes": [node("quiet", T + "NoOutput", x=7)]}
    assert execute_graph(graph) == {}
    assert executed() == ["NoOutput 7"]
