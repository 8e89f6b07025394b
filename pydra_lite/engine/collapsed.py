"""States of one split that collapse into one entry because their inputs are equal by content.

Content hashing is the contract: two files with the same bytes under
different names are one input value. A task that reads a file's name would
then see the earlier state's name, so the run warns once, naming the states
and the fix (give the name as an input of its own).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from pydra_lite.engine.node import Node
from pydra_lite.errors import PydraLiteWarning
from pydra_lite.files import FileSet

COLLAPSED_SHOWN = 3
"""How many collapsed states a warning names (it counts them all)."""


def warn_collapsed(node: Node, checksums: Sequence[str], stacklevel: int) -> None:
    """Warn once when states of ``node`` that name different files share an entry.

    Files are hashed by their contents, not their names: two states given
    files with equal contents have one checksum, so the second reuses the
    first's result. Costs one ``set`` of the checksums; the states' inputs are
    looked at only when two checksums are equal and files were split over.
    """
    if len(set(checksums)) == len(checksums) or not node.splits_files():
        return
    first: dict[str, int] = {}
    pairs = []  # (state, the earlier state it shares an entry with)
    for index, checksum in enumerate(checksums):
        earlier = first.setdefault(checksum, index)
        if earlier != index:
            pairs.append((index, earlier))
    wanted = {i for pair in pairs for i in pair}
    last = max(wanted)
    inputs: dict[int, Mapping[str, Any]] = {}
    for index, job in enumerate(node.jobs(checksums)):
        if index in wanted:
            inputs[index] = job.inputs
        if index >= last:
            break
    collapsed = []
    for index, earlier in pairs:
        renamed = _renamed(inputs[index], inputs[earlier])
        if renamed is not None:
            collapsed.append((index, earlier, *renamed))
    if collapsed:
        text = _collapsed_text(node.name, collapsed)
        warnings.warn(text, PydraLiteWarning, stacklevel=stacklevel + 1)


def _renamed(
    inputs: Mapping[str, Any], earlier: Mapping[str, Any]
) -> tuple[str, str, str] | None:
    """The first input naming other files than ``earlier``'s: (field, now, then)."""
    for field, value in inputs.items():
        paths, before = _file_paths(value), _file_paths(earlier[field])
        if paths != before:
            return field, _listed(paths), _listed(before)
    return None


def _file_paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, FileSet):
        return tuple(sorted(map(str, value.fspaths)))
    if isinstance(value, list | tuple):
        return tuple(path for item in value for path in _file_paths(item))
    return ()


def _listed(paths: tuple[str, ...]) -> str:
    return paths[0] if len(paths) == 1 else repr(list(paths))


def _collapsed_text(name: str, collapsed: list[tuple[int, int, str, str, str]]) -> str:
    shown = "; ".join(
        f"state {index} ({field}={now}) reuses state {earlier} ({field}={then})"
        for index, earlier, field, now, then in collapsed[:COLLAPSED_SHOWN]
    )
    if len(collapsed) > COLLAPSED_SHOWN:
        shown += f"; and {len(collapsed) - COLLAPSED_SHOWN} more"
    field = collapsed[0][2]
    return (
        f"{name}: {len(collapsed)} state(s) of the split share the cache entry of an "
        f"earlier state, because their inputs are equal by content: {shown}. "
        "Files are hashed by their contents, not their names or locations, so "
        "such states get the earlier state's result (a task that reads a file's "
        "name sees the earlier name). If the name matters, give it to the task "
        "in an input of its own, split with the files, e.g. "
        f".split(({field!r}, 'name'), {field}=files, name=[Path(f).name for f in files])."
    )
