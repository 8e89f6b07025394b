"""pydra_lite: typed, cached, parallel scientific tasks.

Define tasks with ``python.define``, ``shell.define`` and ``workflow.define``,
split them over lists of values, and run them with
``with Submitter(cache_dir=...) as sub: result = sub(task)``. This module only
re-exports the public API; see the package's modules for the parts.
"""

from pydra_lite._version import __version__
from pydra_lite.compose import python, shell, workflow
from pydra_lite.compose.python import output_dir
from pydra_lite.engine.cache import default_cache_dir
from pydra_lite.engine.result import Result
from pydra_lite.engine.stores import Store, get_store, register_store, write_atomic
from pydra_lite.engine.submitter import Submitter
from pydra_lite.engine.worker import Worker, get_worker, register_worker
from pydra_lite.errors import (
    CacheEntryError,
    CacheError,
    CacheWarning,
    CommandError,
    ConnectionTypeError,
    ExecutableNotFoundError,
    HashingError,
    InputModifiedError,
    InvalidEntryError,
    OutputNotFoundError,
    PathTemplateError,
    PydraLiteError,
    PydraLiteWarning,
    SlurmError,
    SlurmJobError,
    StateError,
    StoreError,
    TaskDefinitionError,
    TaskFailedError,
    TaskInputError,
    TemplateError,
    WorkerError,
    WorkflowError,
)
from pydra_lite.files import Directory, File
from pydra_lite.hashing import hash_object, register_serializer

__all__ = [
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
