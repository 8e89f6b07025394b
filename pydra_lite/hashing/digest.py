"""Digest primitives: the leaf every other hashing module builds on.

Owns the digest size, the format version that names every on-disk digest, and
the one way to combine byte strings into a digest. It imports nothing of
pydra_lite, so the value registry (``values.py``), the persistent memo
(``memo.py``), canonical source (``source.py``) and code identity
(``code.py``) can all stand on it without importing each other.

Algorithm: a digest is BLAKE2b-128 of a *head* (the chunk count and every
chunk's length, u64 little-endian) followed by the chunks; no two chunk
sequences share a preimage. ``docs/hashing.md`` fixes the format.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DIGEST_SIZE",
    "FORMAT_VERSION",
    "blake2b",
    "combine_digests",
    "combine_hasher",
    "head",
    "int_bytes",
    "qualified_name",
]

DIGEST_SIZE = 16
#: Bumped by every change to any digest; the persistent memo's file is named by it
#: (the default cache directory by the engine's CACHE_FORMAT_VERSION, bumped with it).
FORMAT_VERSION = 3

blake2b = hashlib.blake2b
_HEADS = {n: struct.Struct(f"<{n + 1}Q").pack for n in range(1, 33)}


def head(chunks: Sequence[bytes]) -> bytes:
    """Chunk count and lengths: what makes a chunk sequence unambiguous."""
    count = len(chunks)
    pack = _HEADS.get(count) or struct.Struct(f"<{count + 1}Q").pack
    return pack(count, *map(len, chunks))


def qualified_name(obj: Any) -> str:
    """``module.Qualname`` of a class or function, ``?`` for what is missing."""
    module = getattr(obj, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
    return f"{module}.{name}"


def int_bytes(value: int) -> bytes:
    """The shortest signed little-endian bytes of an int (0 is one byte)."""
    return value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)


def combine_digests(tag: bytes, *parts: bytes) -> bytes:
    """Digest of a tag and an ordered sequence of byte strings.

    Args:
        tag: what is being combined (``b"job"``, ``b"split"``, ...).
        parts: digests or short labels, in a meaningful order.

    Returns:
        The digest of the chunks ``b"combine:" + tag, *parts``.
    """
    chunks = (b"combine:" + tag, *parts)
    preimage = head(chunks) + b"".join(chunks)
    return blake2b(preimage, digest_size=DIGEST_SIZE).digest()


def combine_hasher(tag: bytes, lengths: Sequence[int]) -> Any:
    """A BLAKE2b fed the head and tag of ``combine_digests(tag, *parts)``.

    For parts of the given ``lengths``, updating it with the parts in order
    gives the same digest as :func:`combine_digests`. Computing many digests
    that share a head and a prefix (the states of a split) then costs one
    ``copy()`` and one ``update()`` each instead of rebuilding the preimage.
    """
    first = b"combine:" + tag
    head_ = struct.pack(f"<{len(lengths) + 2}Q", len(lengths) + 1, len(first), *lengths)
    return blake2b(head_ + first, digest_size=DIGEST_SIZE)
