"""Graphs that cannot run fail before anything runs, naming the node and the fix."""

from __future__ import annotations

import pytest

from pydra_lite import TaskInputError, WorkflowError
from pydra_lite.ewoks import execute_graph, load_graph
from tests.ewoks.test_execute import T, link, node


def test_unknown_task_identifier_names_it_and_says_importable() -> None:
    graph = {"nodes": [node("n1", "no_such_module.Missing")]}
    with pytest.raises(
        WorkflowError, match=r"'n1'.*'no_such_module\.Missing'.*importable"
    ):
        load_graph(graph)


def test_identifier_of_a_missing_attribute_in_a_real_module() -> None:
    with pytest.raises(WorkflowError, match=r"tests\.ewoks\.tasks\.Nope"):
        load_graph({"nodes": [node("n1", T + "Nope")]})


def test_link_to_a_missing_node() -> None:
    graph = {
        "nodes": [node("a", T + "SumTask", a=1)],
        "links": [link("a", "ghost", ("result", "a"))],
    }
    with pytest.raises(WorkflowError, match=r"target 'ghost'.*not a node"):
        load_graph(graph)


def test_link_from_a_missing_output() -> None:
    nodes = [node("a", T + "SumTask", a=1), node("b", T + "SumTask")]
    graph = {"nodes": nodes, "links": [link("a", "b", ("total", "a"))]}
    with pytest.raises(
        WorkflowError, match=r"output 'total'.*SumTask.*its outputs are: result"
    ):
        load_graph(graph)


def test_link_into_a_missing_input() -> None:
    nodes = [node("a", T + "SumTask", a=1), node("b", T + "SumTask")]
    graph = {"nodes": nodes, "links": [link("a", "b", ("result", "c"))]}
    with pytest.raises(WorkflowError, match=r"input 'c'.*its inputs are: a, b"):
        load_graph(graph)


def test_missing_required_input_names_node_and_input() -> None:
    with pytest.raises(
        TaskInputError, match=r"node 'lonely' \(SumTask\): required input 'a'"
    ) as info:
        execute_graph({"nodes": [node("lonely", T + "SumTask")]})
    assert info.value.task == "lonely" and info.value.field == "a"


def test_missing_argument_of_a_method_node() -> None:
    with pytest.raises(
        TaskInputError, match=r"node 'm' \(multiply\): required input 'a'"
    ):
        load_graph({"nodes": [node("m", T + "multiply", "method")]})


def test_unknown_input_name_in_inputs() -> None:
    inputs = [{"id": "a", "name": "z", "value": 1}]
    with pytest.raises(
        TaskInputError, match=r"node 'a' \(SumTask\).*'z'.*its inputs are: a, b"
    ):
        load_graph({"nodes": [node("a", T + "SumTask", a=1)]}, inputs)


def test_cycle_is_reported_as_a_path() -> None:
    nodes = [node(n, T + "SumTask", a=1) for n in ("start", "x", "y", "z")]
    links = [link("start", "x"), link("x", "y"), link("y", "z"), link("z", "x")]
    with pytest.raises(WorkflowError, match=r"cycle \('x' -> 'y' -> 'z' -> 'x'\)"):
        load_graph({"nodes": nodes, "links": links})


def test_unsupported_task_type() -> None:
    with pytest.raises(WorkflowError, match=r"task_type 'ppfmethod' is not supported"):
        load_graph({"nodes": [node("p", T + "multiply", "ppfmethod")]})


def test_duplicate_node_ids() -> None:
    nodes = [node("a", T + "SumTask", a=1), node("a", T + "SumTask", a=2)]
    with pytest.raises(WorkflowError, match=r"two nodes have the id 'a'"):
        load_graph({"nodes": nodes})


def test_an_input_fed_by_two_links() -> None:
    nodes = [node(n, T + "SumTask", a=1) for n in ("a", "b", "c")]
    links = [link("a", "c", ("result", "a")), link("b", "c", ("result", "a"))]
    with pytest.raises(
        WorkflowError, match=r"input 'a' of node 'c' is fed by two links"
    ):
        load_graph({"nodes": nodes, "links": links})


def test_a_class_that_is_not_a_task() -> None:
    with pytest.raises(
        WorkflowError, match=r"not a subclass of pydra_lite\.ewoks\.Task"
    ):
        load_graph({"nodes": [node("n", "collections.OrderedDict")]})


@pytest.mark.parametrize("graph", [[1, 2], 3, None])
def test_a_graph_that_is_neither_a_dict_nor_a_path_names_its_type(
    graph: object,
) -> None:
    with pytest.raises(
        WorkflowError, match=rf"got a {type(graph).__name__}.*graph dict"
    ):
        execute_graph(graph)  # type: ignore[arg-type]
