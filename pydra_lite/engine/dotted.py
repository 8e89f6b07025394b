"""Objects named by dotted path, ``"package.module:Name"``: the registries' loader.

Workers and result stores are both registered by name or by dotted path and
imported only when first named, so that importing pydra_lite imports neither
dask nor h5py. Both load the path here, each raising its own error class.
"""

from __future__ import annotations

import importlib
from typing import Any


def load_dotted(
    kind: str, spec: str, target: str, error: type[Exception], extra: str = ""
) -> Any:
    """The object ``target`` names, for the ``kind`` registered as ``spec``.

    Raises:
        error: the module cannot be imported (the message names the missing
            package and, when ``extra`` is given, the pip extra to install) or
            has no such name.
    """
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"{kind} {spec!r} needs {exc.name!r}, which cannot be imported ({exc})"
        if extra:
            msg += f"; install it with: pip install 'pydra-lite[{extra}]'"
        raise error(msg) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        msg = f"{kind} {spec!r}: module {module_name!r} has no {attr!r}"
        raise error(msg) from None
