"""Shell-command tasks: ``shell.define`` from a template or a class.

::

    Copy = shell.define("cp <in_file:generic/file> <out|out_file:generic/file>")
    Copy(in_file="a.txt").cmdline  # 'cp /abs/a.txt out_file'

The package's modules: :mod:`.template` (the template grammar),
:mod:`.fields` (``arg``, ``outarg``, ``out``), :mod:`.path_template` (output
file names), :mod:`.command` (the argument list, and running it without a
shell), :mod:`.task` (``ShellTask``, its operation hash, building classes) and
:mod:`.definition` (``define``). See ``docs/shell.md``.
"""

from pydra_lite.compose.shell.definition import define
from pydra_lite.compose.shell.fields import arg, out, outarg
from pydra_lite.compose.shell.task import ShellTask
from pydra_lite.errors import (  # the shell's errors, in the tree of errors.py
    CommandError,
    ExecutableNotFoundError,
    OutputNotFoundError,
    PathTemplateError,
    TemplateError,
)

Task = ShellTask
"""The base to subclass in the class form: ``class MrGrid(shell.Task): ...``."""

__all__ = [
    "CommandError",
    "ExecutableNotFoundError",
    "OutputNotFoundError",
    "PathTemplateError",
    "ShellTask",
    "Task",
    "TemplateError",
    "arg",
    "define",
    "out",
    "outarg",
]
