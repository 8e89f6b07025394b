"""Everything that turns something into a digest: values, files' contents, code.

The modules form a stack, each importing only those below it:

* ``digest.py``: the leaf. Digest size, format version, :func:`combine_digests`.
* ``values.py``: the value registry (:func:`hash_object`,
  :func:`register_serializer`); ``memo.py``: the persistent memo of digests
  whose inputs (a file's signature, a bytecode) are unchanged.
* ``source.py``: the canonical source of a function or class, memoised.
* ``code.py``: the operation hash of code (:func:`hash_function`), which
  registers the serializers of function values.

Importing the package imports ``code.py`` after ``values.py``, so a function
inside any value hashes as its code. ``docs/hashing.md`` fixes the format.
"""

from pydra_lite.hashing.code import hash_function
from pydra_lite.hashing.digest import (
    DIGEST_SIZE,
    FORMAT_VERSION,
    combine_digests,
    combine_hasher,
)
from pydra_lite.hashing.values import bytes_repr, hash_object, register_serializer

__all__ = [
    "DIGEST_SIZE",
    "FORMAT_VERSION",
    "bytes_repr",
    "combine_digests",
    "combine_hasher",
    "hash_function",
    "hash_object",
    "register_serializer",
]
