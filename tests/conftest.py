"""Fixtures shared by every test: an isolated cache and hash memo, no leaked registries."""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from pydra_lite.engine import worker
from pydra_lite.engine.stores import base as store_base
from pydra_lite.hashing import memo, values

REPO = Path(__file__).resolve().parent.parent
_module_counter = itertools.count()


def _registries() -> dict[str, object]:
    return {
        "workers": dict(worker._REGISTRY),
        "stores": dict(store_base._STORES),
        "serializers": dict(values.bytes_repr.registry),
    }


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the default cache and the persistent hash memo into ``tmp_path``."""
    cache = tmp_path / "default-cache"
    monkeypatch.setenv("PYDRA_LITE_CACHE_DIR", str(cache))
    monkeypatch.setenv("PYDRA_LITE_HASH_MEMO", str(tmp_path / "hash-memo.sqlite"))
    memo.reset_memo()
    before = _registries()
    yield cache
    memo.reset_memo()
    after = _registries()
    # Lazily registered serializers (numpy, ...) may appear; none may vanish or change.
    for name, entries in before.items():
        for key, value in entries.items():  # type: ignore[attr-defined]
            assert after[name].get(key) is value, f"{name} registry changed: {key}"  # type: ignore[attr-defined]
    assert after["workers"] == before["workers"], "a test left a worker registered"
    assert after["stores"] == before["stores"], "a test left a store registered"


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """Write source as a new module with a unique name and import it."""

    def load(source: str, name: str | None = None) -> ModuleType:
        name = name or f"user_mod_{next(_module_counter)}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def run_script(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run Python source in a new process with the repo importable; return stdout."""

    def run(
        code: str, *args: str, env: dict[str, str] | None = None, check: bool = True
    ):  # type: ignore[no-untyped-def]
        script = tmp_path / f"script_{abs(hash_text(code))}.py"
        script.write_text(code)
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        proc = subprocess.run(
            [sys.executable, str(script), *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"script failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


def hash_text(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())
