"""The hand-written stand-ins of ``engine/job.py`` against the library they replace.

``_platform()`` stands for ``platform.platform()`` and ``_iso()`` for
``datetime.isoformat``; each test fails as soon as the stand-in's text differs
from the library's where its docstring says they agree.
"""

from __future__ import annotations

import os
import platform
from collections import namedtuple
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pydra_lite.engine import job

# --- _platform() ----------------------------------------------------------------

# What platform.platform() unpacks from uname() and what _platform() reads: a
# plain tuple, so that no processor field starts a ``uname -p`` subprocess.
FakeUname = namedtuple(
    "FakeUname", ["system", "node", "release", "version", "machine", "processor"]
)

MACHINES = ["x86_64", "aarch64", "armv7l", "i686", "ppc64le", "s390x", "riscv64"]
# Kernel releases as Linux writes them: no space, / \ : ; " ( ), no "--".
RELEASES = st.from_regex(
    r"[0-9]{1,2}\.[0-9]{1,3}(\.[0-9]{1,3})?(-[A-Za-z0-9._+~]{1,12}){0,3}",
    fullmatch=True,
).filter(lambda release: "unknown" not in release)
GLIBC = st.from_regex(r"glibc 2\.[0-9]{1,2}", fullmatch=True)


def _both(
    monkeypatch: pytest.MonkeyPatch, uname: FakeUname, confstr: object
) -> tuple[str, str]:
    """(stand-in, library) for a machine with this uname and this libc answer."""
    monkeypatch.setattr(platform, "uname", lambda: uname)
    monkeypatch.setattr(os, "confstr", confstr)
    monkeypatch.setattr(platform, "_platform_cache", {})  # asked afresh
    return job._platform(), platform.platform()


def _answering(text: str) -> object:
    def confstr(name: str) -> str:
        assert name == "CS_GNU_LIBC_VERSION"
        return text

    return confstr


def _no_glibc(name: str) -> str:
    raise ValueError(name)  # what os.confstr raises for an unknown name


def test_platform_is_the_library_text_on_this_machine() -> None:
    """They agree here, or differ exactly as the docstring says they may."""
    uname = platform.uname()
    if uname.system != "Linux":
        pytest.skip("the equality is documented for Linux with glibc only")
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        glibc = None
    mine, theirs = job._platform(), platform.platform()
    if glibc is None:
        assert theirs.startswith(mine + "-with"), (mine, theirs)
    elif uname.processor in ("", "unknown", uname.machine):
        assert mine == theirs
    else:
        prefix = f"{uname.system}-{uname.release}-{uname.machine}"
        assert mine.startswith(prefix + "-with-"), (mine, theirs)
        assert theirs == mine.replace(prefix, f"{prefix}-{uname.processor}", 1)


@given(
    release=RELEASES,
    machine=st.sampled_from(MACHINES),
    processor=st.sampled_from(["", "unknown", "same"]),
    libc=GLIBC,
)
@example(
    release="6.1.0-18-amd64", machine="x86_64", processor="same", libc="glibc 2.36"
)
@example(
    release="5.15.0-1051-azure",
    machine="aarch64",
    processor="unknown",
    libc="glibc 2.35",
)
def test_platform_equals_the_library_on_linux_with_glibc(
    release: str, machine: str, processor: str, libc: str
) -> None:
    uname = FakeUname(
        "Linux",
        "node",
        release,
        "#1 SMP",
        machine,
        machine if processor == "same" else processor,
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        mine, theirs = _both(monkeypatch, uname, _answering(libc))
    assert mine == theirs


@given(release=RELEASES, libc=GLIBC)
def test_platform_leaves_out_only_a_processor_other_than_the_machine(
    release: str, libc: str
) -> None:
    uname = FakeUname("Linux", "node", release, "#1 SMP", "x86_64", "Intel64")
    with pytest.MonkeyPatch.context() as monkeypatch:
        mine, theirs = _both(monkeypatch, uname, _answering(libc))
    prefix = f"Linux-{release}-x86_64"
    assert mine == f"{prefix}-with-{libc.replace(' ', '')}"
    assert theirs == f"{prefix}-Intel64-with-{libc.replace(' ', '')}"


def test_platform_without_glibc_leaves_out_the_libc_part() -> None:
    uname = FakeUname("Linux", "node", "6.6.7-0-lts", "#1 SMP", "x86_64", "")
    with pytest.MonkeyPatch.context() as monkeypatch:
        mine, theirs = _both(monkeypatch, uname, _no_glibc)
    assert mine == "Linux-6.6.7-0-lts-x86_64"
    assert theirs.startswith(
        mine + "-with"
    )  # then whatever the executable's scan found


# --- _iso() ------------------------------------------------------------------------

FIRST = datetime(1000, 1, 1, tzinfo=UTC).timestamp()
LAST = datetime(9999, 12, 31, 23, 59, 58, tzinfo=UTC).timestamp()


def _library(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")


@given(st.floats(min_value=FIRST, max_value=LAST))
@example(1796327904.7823)  # .7823 * 1e6 is 782299.99...: rounds, never truncates
@example(1700000000.9999996)  # rounds up into the next second
@example(1700000000.0000005)  # a tie, in decimal only: the double decides
@example(0.0)
@example(-0.0000004)  # before the epoch, rounds up to it
@example(-1.9999996)  # before the epoch: the fraction counts down
def test_iso_is_the_library_text(timestamp: float) -> None:
    assert job._iso(timestamp) == _library(timestamp)


@given(st.integers(min_value=0, max_value=4_102_444_800), st.integers(0, 999_999))
def test_iso_of_whole_microseconds_is_the_library_text(second: int, micro: int) -> None:
    """Timestamps as ``time.time()`` gives them, digit by digit."""
    timestamp = second + micro / 1e6
    assert job._iso(timestamp) == _library(timestamp)


def test_iso_of_now_is_the_library_text() -> None:
    timestamps = [datetime.now(UTC).timestamp() + k / 7 for k in range(1000)]
    assert [job._iso(t) for t in timestamps] == [_library(t) for t in timestamps]
