"""The public API of the ``pydra_lite`` façade: what it exports and how."""

from __future__ import annotations

import inspect
import pickle
import types
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

import pydra_lite
from pydra_lite import errors
from pydra_lite.compose import shell

EXPORTED = [
    "CacheEntryError",
    "CacheError",
    "CacheWarning",
    "CommandError",
    "ConnectionTypeError",
    "Directory",
    "ExecutableNotFoundError",
    "File",
    "HashingError",
    "InputModifiedError",
    "InvalidEntryError",
    "OutputNotFoundError",
    "PathTemplateError",
    "PydraLiteError",
    "PydraLiteWarning",
    "Result",
    "SlurmError",
    "SlurmJobError",
    "StateError",
    "Store",
    "StoreError",
    "Submitter",
    "TaskDefinitionError",
    "TaskFailedError",
    "TaskInputError",
    "TemplateError",
    "Worker",
    "WorkerError",
    "WorkflowError",
    "__version__",
    "default_cache_dir",
    "get_store",
    "get_worker",
    "hash_object",
    "output_dir",
    "python",
    "register_serializer",
    "register_store",
    "register_worker",
    "shell",
    "workflow",
    "write_atomic",
]


def test_all_is_sorted_and_pinned() -> None:
    """A change to the public API is deliberate: it edits this list."""
    assert pydra_lite.__all__ == sorted(pydra_lite.__all__)
    assert pydra_lite.__all__ == EXPORTED


def test_every_exported_name_resolves() -> None:
    missing = [name for name in pydra_lite.__all__ if not hasattr(pydra_lite, name)]
    assert missing == []


def test_every_public_non_module_attribute_is_exported() -> None:
    """Submodules appear as attributes when imported; anything else must be in __all__."""
    public = {
        name
        for name, value in vars(pydra_lite).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(pydra_lite.__all__)


def test_the_three_ways_to_define_a_task_are_exported() -> None:
    assert pydra_lite.shell is shell
    assert callable(pydra_lite.shell.define)
    assert callable(pydra_lite.python.define)
    assert callable(pydra_lite.workflow.define)


def _error_classes() -> list[type[BaseException]]:
    return [
        value
        for value in vars(errors).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    ]


def test_every_error_and_warning_of_the_tree_is_exported() -> None:
    names = {cls.__name__ for cls in _error_classes()}
    assert names <= set(pydra_lite.__all__)


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("CommandError", RuntimeError),
        ("ExecutableNotFoundError", FileNotFoundError),
        ("OutputNotFoundError", FileNotFoundError),
        ("TemplateError", ValueError),
        ("PathTemplateError", ValueError),
    ],
)
def test_shell_errors_belong_to_the_tree(name: str, builtin: type) -> None:
    """``except PydraLiteError`` and ``except <builtin>`` both catch them, from
    wherever they are imported."""
    cls = getattr(pydra_lite, name)
    assert issubclass(cls, pydra_lite.PydraLiteError)
    assert issubclass(cls, builtin)
    assert getattr(shell, name) is cls is getattr(errors, name)


def _example(cls: type[BaseException]) -> BaseException:
    """An instance of ``cls`` with every keyword its ``__init__`` takes set."""
    if cls is errors.TaskFailedError:
        return cls("Invert", [Path("/c/Invert-1/_error.json")], ["Invert: boom"])
    params = inspect.signature(cls.__init__).parameters.values()
    keywords = {p.name: f"<{p.name}>" for p in params if p.kind is p.KEYWORD_ONLY}
    if "type_" in keywords:
        keywords["type_"] = complex
    if "details" in keywords:
        keywords["details"] = {"slurm": {"job_id": "7_1"}}
    return cls(f"{cls.__name__}: what went wrong", **keywords)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
@pytest.mark.parametrize(
    "cls",
    [c for c in _error_classes() if issubclass(c, Exception)],
    ids=lambda c: c.__name__,
)
def test_every_error_survives_pickling_with_its_attributes(
    cls: type[Exception], dumps: Any
) -> None:
    """Errors cross process boundaries (workers); the context must come along."""
    error = _example(cls)
    copy = pickle.loads(dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)


def test_command_error_survives_pickling_with_its_attributes() -> None:
    """Errors cross process boundaries (workers); the context must come along."""
    error = pydra_lite.CommandError(
        "Cat: exited 1", task="Cat", cmdline="cat x", return_code=1, stderr="no x"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is pydra_lite.CommandError and str(copy) == "Cat: exited 1"
    assert (copy.task, copy.cmdline, copy.return_code, copy.stderr) == (
        "Cat",
        "cat x",
        1,
        "no x",
    )
