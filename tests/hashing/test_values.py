"""Digests of values: properties, errors, the registry, and the pinned golden digests."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import enum
import glob
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pydra_lite.errors import HashingError
from pydra_lite.hashing import (
    DIGEST_SIZE,
    FORMAT_VERSION,
    combine_digests,
    hash_object,
    register_serializer,
)

REPO = Path(__file__).resolve().parents[2]
GOLDEN = json.loads((Path(__file__).parent / "golden_digests.json").read_text())


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
keys = scalars | st.tuples(scalars, scalars) | st.frozensets(scalars, max_size=3)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(keys, inner, max_size=4)
        | st.frozensets(keys, max_size=4)
    ),
    max_leaves=20,
)


@given(values)
def test_equal_values_have_equal_digests(value: Any) -> None:
    digest = hash_object(value)
    assert len(digest) == DIGEST_SIZE
    assert hash_object(copy.deepcopy(value)) == digest


@given(st.dictionaries(keys, values, max_size=8), st.randoms())
def test_dict_digest_ignores_insertion_order(mapping: dict[Any, Any], rnd: Any) -> None:
    items = list(mapping.items())
    rnd.shuffle(items)
    assert hash_object(dict(items)) == hash_object(mapping)


@given(st.sets(keys, max_size=8), st.randoms())
def test_set_digest_ignores_order(items: set[Any], rnd: Any) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert hash_object(set(shuffled)) == hash_object(items)
    assert hash_object(frozenset(shuffled)) == hash_object(frozenset(items))
    assert hash_object(set(items)) != hash_object(frozenset(items))


def test_mixed_key_types_in_one_dict() -> None:
    """Keys that cannot be compared with each other still hash (no sorting of keys)."""
    a = {1: "a", "1": "b", None: "c", (1, "x"): "d", b"1": "e", 1.5: "f"}
    b = dict(reversed(list(a.items())))
    assert hash_object(a) == hash_object(b)


def test_one_in_every_type_has_its_own_digest() -> None:
    digests = {hash_object(v) for v in (1, 1.0, True, "1", b"1", bytearray(b"1"))}
    assert len(digests) == 6


@given(st.integers())
def test_an_int_differs_from_its_float_str_and_bytes(n: int) -> None:
    forms = [n, float(n), str(n), str(n).encode(), [n], (n,), {n}, frozenset({n})]
    assert len({hash_object(form) for form in forms}) == len(forms)


@given(st.lists(scalars, max_size=5))
def test_list_and_tuple_differ(items: list[Any]) -> None:
    assert hash_object(items) != hash_object(tuple(items))


def test_nesting_is_unambiguous() -> None:
    assert hash_object([[1, 2], [3]]) != hash_object([[1], [2, 3]])
    assert hash_object(["ab", "c"]) != hash_object(["a", "bc"])
    assert hash_object({"a": "b"}) != hash_object({"b": "a"})
    assert hash_object({"k": [1]}) != hash_object({"k": (1,)})


def test_self_referencing_list_terminates_and_is_deterministic() -> None:
    def build() -> list[Any]:
        cyclic: list[Any] = [1]
        cyclic.append(cyclic)
        return cyclic

    assert hash_object(build()) == hash_object(build())
    assert hash_object(build()) != hash_object([1, [1]])


def test_mutual_recursion_terminates() -> None:
    a: dict[str, Any] = {"name": "a"}
    b: dict[str, Any] = {"name": "b", "other": a}
    a["other"] = b
    assert hash_object(a) != hash_object(b)
    assert hash_object([a, b]) == hash_object([a, b])


def test_shared_references_hash_as_their_contents() -> None:
    shared = [1, 2]
    assert hash_object([shared, shared]) == hash_object([[1, 2], [1, 2]])


@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.0
    label: str = dataclasses.field(default="", compare=False)


@dataclasses.dataclass
class OtherPoint:
    x: int
    y: float = 0.0


@attrs.define
class Sample:
    name: str
    values: list[int]
    note: str = attrs.field(default="", eq=False)


def test_dataclass_hashes_by_class_and_compared_fields() -> None:
    assert hash_object(Point(1, 2.0)) == hash_object(Point(1, 2.0, label="other"))
    assert hash_object(Point(1, 2.0)) != hash_object(Point(1, 3.0))
    assert hash_object(Point(1, 2.0)) != hash_object(OtherPoint(1, 2.0))


def test_attrs_class_hashes_by_class_and_compared_fields() -> None:
    assert hash_object(Sample("a", [1])) == hash_object(Sample("a", [1], note="x"))
    assert hash_object(Sample("a", [1])) != hash_object(Sample("a", [2]))


class Colour(enum.Enum):
    RED = 1
    GREEN = 2


class Level(enum.IntEnum):
    LOW = 1


def test_enums_hash_by_class_and_name() -> None:
    assert hash_object(Colour.RED) != hash_object(Colour.GREEN)
    assert hash_object(Level.LOW) != hash_object(1)
    assert hash_object(Colour.RED) == hash_object(Colour(1))


def test_int_subclass_differs_from_int() -> None:
    class Count(int):
        pass

    assert hash_object(Count(3)) != hash_object(3)


def test_standard_library_values() -> None:
    assert hash_object(pathlib.PurePosixPath("a/b")) == hash_object(Path("a/b"))
    assert hash_object(Path("a/b")) != hash_object("a/b")
    assert hash_object(range(3)) != hash_object(range(4))
    assert hash_object(slice(1, 2)) != hash_object(slice(1, 3))
    assert hash_object(1 + 2j) != hash_object(2 + 1j)
    assert hash_object(decimal.Decimal("1.5")) != hash_object(1.5)
    assert hash_object(datetime.date(2024, 1, 2)) != hash_object(
        datetime.date(2024, 1, 3)
    )
    assert hash_object(datetime.timedelta(1)) != hash_object(datetime.timedelta(2))
    assert hash_object(int) != hash_object(float)
    assert hash_object(None) != hash_object(...)


def test_numpy_arrays_hash_by_dtype_shape_and_data() -> None:
    np = pytest.importorskip("numpy")
    base = np.arange(6, dtype="int64").reshape(2, 3)
    assert hash_object(base) == hash_object(base.copy())
    assert hash_object(base) != hash_object(base.astype("int32"))
    assert hash_object(base) != hash_object(base.reshape(3, 2))
    assert hash_object(base.T) == hash_object(np.ascontiguousarray(base.T))
    assert hash_object(np.array(["a", 1], dtype=object)) != hash_object(
        np.array(["a", 2], dtype=object)
    )
    assert hash_object(np.float64(1.0)) != hash_object(1.0)


@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (object, "builtins.object"),
        (threading.Lock, "_thread.lock"),
        (lambda: open(__file__), "_io.TextIOWrapper"),  # noqa: SIM115
    ],
)
def test_unhashable_value_error_names_type_field_and_fixes(
    make: Any, type_name: str
) -> None:
    value = make()
    try:
        with pytest.raises(HashingError) as info:
            hash_object({"inner": [value]}, field="in_file")
    finally:
        getattr(value, "close", lambda: None)()
    message = str(info.value)
    assert type_name in message
    assert "'in_file'" in message
    assert "register_serializer(" in message
    assert "__bytes_repr__(self, cache)" in message
    assert info.value.field == "in_file"
    assert isinstance(info.value, TypeError)


def test_register_serializer_as_decorator() -> None:
    class Opaque:
        def __init__(self, key: str) -> None:
            self.key = key

    with pytest.raises(HashingError):
        hash_object(Opaque("a"))

    @register_serializer(Opaque)
    def _opaque(obj: Opaque, cache: dict[int, int]) -> Iterator[bytes]:
        yield obj.key.encode()

    assert hash_object(Opaque("a")) == hash_object(Opaque("a"))
    assert hash_object(Opaque("a")) != hash_object(Opaque("b"))
    assert hash_object(Opaque("a")) != hash_object("a")


def test_bytes_repr_method_is_honoured_before_a_registered_base() -> None:
    class Tagged(list):  # type: ignore[type-arg]
        def __bytes_repr__(self, cache: dict[int, int]) -> Iterator[bytes]:
            yield b"only-the-length"
            yield hash_object(len(self), cache=cache)

    assert hash_object(Tagged([1, 2])) == hash_object(Tagged([3, 4]))
    assert hash_object(Tagged([1, 2])) != hash_object([1, 2])


def test_functions_as_values_hash_by_their_code() -> None:
    def double(x: int) -> int:
        return 2 * x

    def triple(x: int) -> int:
        return 3 * x

    assert hash_object(double) != hash_object(triple)
    assert hash_object(len) == hash_object(len)
    assert hash_object(len) != hash_object(abs)


def test_combine_digests_frames_its_parts() -> None:
    assert combine_digests(b"job", b"ab", b"c") != combine_digests(b"job", b"a", b"bc")
    assert combine_digests(b"job", b"a") != combine_digests(b"jo", b"ba")
    assert combine_digests(b"job", b"a", b"b") != combine_digests(b"job", b"b", b"a")
    assert len(combine_digests(b"job")) == DIGEST_SIZE


def test_format_version_is_an_int() -> None:
    assert isinstance(FORMAT_VERSION, int)


# --- golden digests: the format pinned across processes and interpreters ----

GOLDEN_SCRIPT = """
import json, os, sys, types
root, workdir = sys.argv[1], sys.argv[2]
package = types.ModuleType("pydra_lite")  # skip __init__: hashing needs no engine
package.__path__ = [os.path.join(root, "pydra_lite")]
sys.modules["pydra_lite"] = package
sys.path.insert(0, workdir)
from pydra_lite.hashing import hash_object, hash_function, combine_digests
import golden_funcs

class Colour(__import__("enum").Enum):
    RED = 1

corpus = {
    "int": 1, "negative": -(2**70), "float": 1.0, "bool": True, "str": "1",
    "unicode": "αβγ", "bytes": b"1", "none": None, "list": [1, "a", None],
    "tuple": (1, 2.5), "dict": {"b": 2, "a": [1, {"x": 1}], 3: (4,)},
    "set": {3, 1, 2}, "frozenset": frozenset({"a", "b"}), "nested": [[[]], {}],
    "range": range(1, 10, 2), "slice": slice(1, None), "complex": 1 - 2j,
    "decimal": __import__("decimal").Decimal("3.14"),
    "datetime": __import__("datetime").datetime(2024, 5, 6, 7, 8, 9),
    "path": __import__("pathlib").PurePosixPath("/data/sub-01.nii"),
    "enum": Colour.RED, "type": int, "builtin": len,
    "combine": None,
}
digests = {key: hash_object(value).hex() for key, value in corpus.items()}
digests["combine"] = combine_digests(b"job", b"op", b"a", b"1" * 16).hex()
for name in ("add", "uses_helper", "with_fstring", "ping", "closure", "lam", "Shape",
             "rich"):
    digests["code:" + name] = hash_function(getattr(golden_funcs, name)).hex()
try:
    import attrs
    from pydra_lite import files
    from fileformats.generic import Directory, File
except ImportError as exc:
    print("no extras:", exc, file=sys.stderr)
else:
    Pair = attrs.make_class("Pair", ["a", "b"])
    Pair.__module__ = "golden"
    digests["attrs"] = hash_object(Pair(1, [2])).hex()
    digests["file"] = hash_object(File(os.path.join(workdir, "data", "a.txt"))).hex()
    digests["dir"] = hash_object(Directory(os.path.join(workdir, "data"))).hex()
print(json.dumps(digests, sort_keys=True))
"""

GOLDEN_FUNCS = '''
import golden_helpers

LIMIT = 10


def helper(x):
    return x * 2


def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b  # the simplest task


def uses_helper(xs):
    return [helper(x) for x in xs if x < LIMIT] + golden_helpers.offsets(xs)


def with_fstring(name, width=8):
    return f"{name!r:>{width}} and {name.upper()=}"


def ping(n):
    return pong(n - 1) if n else 0


def pong(n):
    return ping(n - 1) if n else 1


def make_closure(k):
    def inner(x):
        return x + k
    return inner


closure = make_closure(3)
lam = lambda x, *, y=2: {x: y, **{}}  # noqa: E731


def rich(a, /, b: int = 1, *args: "x", c, d=2, **kw) -> dict[str, int]:
    match a:
        case [1, *rest] if rest:
            pass
        case {"k": v, **others}:
            pass
        case Point(x=0) | None:
            pass
    try:
        x = [i for i in range(3) if (j := i)]
    except* ValueError:
        raise
    finally:
        del b
    y = {k: v for k, v in {}.items()}, a[1:2, ::3, ...], 1_000 + 0x10 + 1e3 + 1j
    with open(a) as f, open(b):
        print(f"{x!a:{y}}", f"{{}}{c=}", rf"\\d{d:}", end="")
    return (lambda q=1, *r, s, **t: q)(s=x) if x else not y or kw and f


class Shape:
    sides = 4

    def area(self, side):
        return helper(side) ** 2 / self.sides
'''


def _golden_workdir(root: Path) -> Path:
    (root / "data" / "sub").mkdir(parents=True, exist_ok=True)
    (root / "data" / "a.txt").write_bytes(b"hello\n")
    (root / "data" / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (root / "golden_funcs.py").write_text(GOLDEN_FUNCS)
    (root / "golden_helpers.py").write_text("def offsets(xs):\n    return [1]\n")
    (root / "golden.py").write_text(GOLDEN_SCRIPT)
    return root


def _run_golden(python: str, workdir: Path, seed: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYDRA_LITE_HASH_MEMO"] = str(workdir / f"memo-{seed}.sqlite")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [python, str(workdir / "golden.py"), str(REPO), str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def golden_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _golden_workdir(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("seed", ["0", "12345"])
def test_golden_digests_in_a_new_process(golden_dir: Path, seed: str) -> None:
    """The pinned digests, in processes with different str hash seeds."""
    assert _run_golden(sys.executable, golden_dir, seed) == GOLDEN


def _find_python(version: str) -> str | None:
    """An interpreter of that version that runs (pyenv shims may not)."""
    pattern = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")
    for candidate in [*sorted(glob.glob(pattern)), shutil.which(f"python{version}")]:
        if candidate and subprocess.run([candidate, "-c", ""]).returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="session")
def python_with_extras(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A venv per Python version with the libraries file hashing needs."""

    def make(version: str) -> str:
        base = _find_python(version)
        if base is None:
            pytest.skip(f"python{version} is not installed on this machine")
        venv = tmp_path_factory.mktemp(f"venv{version}")
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
        python = str(venv / "bin" / "python")
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        proc = subprocess.run(
            [*pip, "attrs", "blake3", "fileformats", "platformdirs"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.skip(
                f"pip could not install into a python{version} venv "
                f"(offline?): {proc.stderr.strip()[-300:]}"
            )
        return python

    return make


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_golden_digests_on_other_pythons(
    python_with_extras: Any, golden_dir: Path, version: str
) -> None:
    """Every supported Python gives the same digests for values, files and code."""
    python = python_with_extras(version)
    assert _run_golden(python, golden_dir, "7") == GOLDEN
