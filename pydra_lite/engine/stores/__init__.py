"""Result stores: how a job's outputs are written to and read from its entry.

``base.py`` holds the :class:`Store` contract, the built-in pickle store, the
registry and the one atomic write; ``json_store.py`` and ``nexus_store.py``
are the other built-in formats, imported only when named, and
``encoding.py`` the value encoding they share.
"""

from pydra_lite.engine.stores.base import (
    RESULT_FORMAT,
    PickleStore,
    Store,
    atomic_target,
    check_payload,
    get_store,
    register_store,
    write_atomic,
)

__all__ = [
    "RESULT_FORMAT",
    "PickleStore",
    "Store",
    "get_store",
    "atomic_target",
    "check_payload",
    "register_store",
    "write_atomic",
]
