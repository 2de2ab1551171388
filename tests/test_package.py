"""The package as a user meets it: import cost, lazy submodules, version, public names."""

from __future__ import annotations

import pickle
import re

import pytest
import uring_rs
from _support import REPO, run_python


def test_import_is_light_and_aio_is_an_attribute_on_first_use() -> None:
    proc = run_python(
        """
        import sys
        import uring_rs
        print("asyncio" in sys.modules, "uring_rs.aio" in sys.modules)
        print(uring_rs.aio.open is sys.modules["uring_rs.aio"].open)
        print("aio" in dir(uring_rs), uring_rs.files.read_files is uring_rs.read_files)
        print(uring_rs.ops.read is uring_rs._native.read)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "True", "True", "True", "True"]


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'uring_rs' has no attribute 'nope'"):
        uring_rs.nope  # type: ignore[attr-defined]  # noqa: B018


def test_version_is_the_one_written_in_cargo_toml() -> None:
    cargo = (REPO / "Cargo.toml").read_text()
    match = re.search(r'^version = "([^"]+)"', cargo, re.MULTILINE)
    assert match is not None
    assert uring_rs.__version__ == match.group(1)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert not re.search(r"^version\s*=", pyproject, re.MULTILINE)


@pytest.mark.parametrize("name", ["UringError", "UringValueError", "IoUringError"])
def test_exceptions_show_their_public_module(name: str) -> None:
    cls = getattr(uring_rs, name)
    assert cls.__module__ == "uring_rs"
    assert repr(cls) in (f"<class 'uring_rs.{name}'>", f"<enum '{name}'>")


def test_errors_print_and_pickle_by_their_public_name() -> None:
    with pytest.raises(uring_rs.UringValueError) as ei:
        uring_rs.Ring(3)
    proc = run_python(
        """
        import uring_rs
        uring_rs.Ring(3)
        """
    )
    assert "uring_rs.UringValueError: entries must be a power of two" in proc.stderr
    again = pickle.loads(pickle.dumps(ei.value))
    assert type(again) is uring_rs.UringValueError
    assert again.kind is uring_rs.IoUringError.ENTRIES_NOT_POWER_OF_TWO


RUST_CLASSES = [
    "Ring",
    "Sqe",
    "Cqe",
    "Probe",
    "BufferRing",
    "ProvidedBuffer",
    "Statx",
    "MsgHdr",
    "Siginfo",
]


@pytest.mark.parametrize("name", RUST_CLASSES)
def test_rust_classes_show_their_public_module(name: str) -> None:
    assert getattr(uring_rs, name).__module__ == "uring_rs"
