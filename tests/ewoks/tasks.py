"""Tasks that the ewoks tests name by dotted path (``tests.ewoks.tasks.X``).

Each run appends a line to the file named by ``$EWOKS_TEST_LOG`` so that a
test can count executions without touching the tasks' code.
"""

from __future__ import annotations

import os

from pydra_lite import python
from pydra_lite.ewoks import Task


def log(line: str) -> None:
    """Record one execution (a no-op when no log file is set)."""
    path = os.environ.get("EWOKS_TEST_LOG")
    if path:
        with open(path, "a") as stream:
            stream.write(line + "\n")


class SumTask(
    Task, input_names=["a"], optional_input_names=["b"], output_names=["result"]
):
    def run(self):
        log(f"SumTask {self.inputs.a} {self.get_input_value('b', 0)}")
        result = self.inputs.a
        if self.inputs.b:
            result += self.inputs.b
        self.outputs.result = result


class SplitTask(Task, input_names=["value"], output_names=["a", "b", "label"]):
    def run(self):
        log(f"SplitTask {self.inputs.value}")
        self.outputs.a = self.inputs.value
        self.outputs.b = 10 * self.inputs.value
        if not self.missing_inputs.value:
            self.outputs.label = f"v{self.inputs.value}"


class HalfSet(Task, input_names=["x"], output_names=["kept", "unset"]):
    def run(self):
        self.outputs.kept = self.inputs.x


def multiply(a, b=2):
    log(f"multiply {a} {b}")
    return a * b


@python.define(outputs=["total", "count"])
def Stats(values: list[int]) -> tuple[int, int]:
    log(f"Stats {values}")
    return sum(values), len(values)


class NoOutput(Task, input_names=["x"]):
    def run(self):
        log(f"NoOutput {self.inputs.x}")
