"""The seed tutorial (ewokscore's task output caching), run as scripts twice.

Each script is the tutorial's code verbatim except that it imports from
``pydra_lite.ewoks``; every run is a new Python process, as in the tutorial.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NEXUS_REASON = "the nexus store needs h5py (pip install 'pydra-lite[nexus]')"

SEED = """
from pydra_lite.ewoks import Task


class PassThroughTask(Task, input_names=["object"], output_names=["object"]):
    def run(self):
        print("EXECUTED")
        self.outputs.object = self.inputs.object


workflow = {
    "graph": {"id": "testworkflow", "schema_version": "1.1"},
    "nodes": [
        {
            "id": "task1",
            "task_type": "class",
            "task_identifier": "__main__.PassThroughTask",
        },
    ],
    "links": [],
}
"""

RUN_42 = """
from pydra_lite.ewoks import execute_graph

result = execute_graph(
    workflow,
    varinfo={"root_uri": "myresults", "scheme": "SCHEME"},
    inputs=[{"id": "task1", "name": "object", "value": 42}],
)
print(result)
"""

RUN_ARRAY = """
import numpy
from pydra_lite.ewoks import execute_graph

result = execute_graph(
    workflow,
    varinfo={"root_uri": "myresults", "scheme": "SCHEME"},
    inputs=[{"id": "task1", "name": "object", "value": numpy.arange(5)}],
)
print(result)
print(result["object"].dtype, result["object"].shape)
"""


@pytest.mark.parametrize("scheme", ["json", "nexus"])
def test_second_run_is_loaded_from_the_cache(
    run_script, tmp_path: Path, scheme: str
) -> None:
    if scheme == "nexus":
        pytest.importorskip("h5py", reason=NEXUS_REASON)
    code = SEED + RUN_42.replace("SCHEME", scheme)
    first, second = run_script(code).stdout, run_script(code).stdout
    assert first == "EXECUTED\n{'object': 42}\n"
    assert second == "{'object': 42}\n"
    suffix = {"json": "_result.json", "nexus": "_result.h5"}[scheme]
    assert list((tmp_path / "myresults").glob(f"PassThroughTask-*/{suffix}"))


@pytest.mark.parametrize("scheme", ["json", "nexus"])
def test_numpy_array_is_cached_and_comes_back_equal(run_script, scheme: str) -> None:
    if scheme == "nexus":
        pytest.importorskip("h5py", reason=NEXUS_REASON)
    code = SEED + RUN_ARRAY.replace("SCHEME", scheme)
    first, second = run_script(code).stdout, run_script(code).stdout
    assert first.startswith("EXECUTED\n")
    expected = "{'object': array([0, 1, 2, 3, 4])}\nint64 (5,)\n"
    assert first.removeprefix("EXECUTED\n") == expected
    assert second == expected


def test_new_input_value_executes_again(run_script) -> None:
    run_script(SEED + RUN_42.replace("SCHEME", "json"))
    changed = SEED + RUN_42.replace("SCHEME", "json").replace("42", "43")
    assert run_script(changed).stdout == "EXECUTED\n{'object': 43}\n"


def test_editing_run_executes_again_but_a_comment_does_not(run_script) -> None:
    run_script(SEED + RUN_42.replace("SCHEME", "json"))
    commented = SEED.replace("def run(self):", "def run(self):  # a comment")
    assert (
        "EXECUTED"
        not in run_script(commented + RUN_42.replace("SCHEME", "json")).stdout
    )
    edited = SEED.replace('print("EXECUTED")', 'print("EXECUTED", "v2")')
    assert run_script(edited + RUN_42.replace("SCHEME", "json")).stdout.startswith(
        "EXECUTED v2\n"
    )
