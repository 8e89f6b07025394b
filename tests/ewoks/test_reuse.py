"""Classes made once per process: reused, yet every run gets its own graph and keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pydra_lite import Submitter
from pydra_lite.errors import WorkflowError
from pydra_lite.ewoks import execute_graph, load_graph
from pydra_lite.ewoks.execute import workflow_class

T = "tests.ewoks.tasks."


def sums(graph_id: str, *bs: int) -> dict:
    """SumTask nodes in a chain: a=1, then + b for each b."""
    nodes = [
        {
            "id": f"s{i}",
            "task_identifier": T + "SumTask",
            "default_inputs": [{"name": "b", "value": b}]
            + ([{"name": "a", "value": 1}] if i == 0 else []),
        }
        for i, b in enumerate(bs)
    ]
    links = [
        {
            "source": f"s{i}",
            "target": f"s{i + 1}",
            "data_mapping": [{"source_output": "result", "target_input": "a"}],
        }
        for i in range(len(bs) - 1)
    ]
    return {"graph": {"id": graph_id}, "nodes": nodes, "links": links}


def test_a_task_class_is_made_once_per_process() -> None:
    first, again = load_graph(sums("g", 1)), load_graph(sums("g", 2))
    assert first.nodes["s0"].task_class is again.nodes["s0"].task_class


def test_graphs_sharing_an_id_share_the_class_not_the_nodes(
    tmp_path: Path, executed: Callable
) -> None:
    varinfo = {"root_uri": str(tmp_path / "results"), "scheme": "json"}
    assert execute_graph(sums("g", 10, 100), varinfo=varinfo) == {"result": 111}
    assert execute_graph(sums("g", 20, 200), varinfo=varinfo) == {"result": 221}
    assert execute_graph(sums("g", 10, 100), varinfo=varinfo) == {"result": 111}
    assert len(executed()) == 4


def test_threads_running_graphs_of_one_id_each_get_their_own() -> None:
    graphs = [sums("g", b, 1000) for b in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(execute_graph, graphs))
    assert results == [{"result": 1 + b + 1000} for b in range(8)]


def test_a_new_process_hits_the_entries_of_reused_classes(
    tmp_path: Path, run_script: Callable, executed: Callable
) -> None:
    """The keys do not depend on whether this process made the classes already."""
    root = tmp_path / "results"
    varinfo = {"root_uri": str(root), "scheme": "json"}
    execute_graph(sums("g", 10, 100), varinfo=varinfo)
    execute_graph(sums("g", 10, 100), varinfo=varinfo)  # classes reused
    entries = sorted(p.name for p in root.iterdir())
    executed()
    script = (
        "from pydra_lite.ewoks import execute_graph\n"
        "from tests.ewoks.test_reuse import sums\n"
        f"print(execute_graph(sums('g', 10, 100), varinfo={json.dumps(varinfo)}))\n"
    )
    assert run_script(script).stdout == "{'result': 111}\n"
    assert executed() == []
    assert sorted(p.name for p in root.iterdir()) == entries


def test_the_graph_workflow_runs_only_inside_execute_graph(tmp_path: Path) -> None:
    task = workflow_class("g", 1)()
    with (
        Submitter(cache_dir=tmp_path) as sub,
        pytest.raises(WorkflowError, match="only inside execute_graph"),
    ):
        sub(task)
