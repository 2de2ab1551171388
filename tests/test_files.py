"""uring_rs.read_files and uring_rs.copy_file: results, errors and shutil semantics."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import uring_rs
from uring_rs import ReadFilesError, copy_file, read_files

SIZES = [0, 1, 4096, 65535, 65536, 65537, 131072, (1 << 20) + 3]


def make(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


# ---- read_files -------------------------------------------------------------------------


def test_read_files_returns_each_file_whole_in_order(tmp_path: Path, descriptors: str) -> None:
    paths = [make(tmp_path / f"f{i}", size) for i, size in enumerate(SIZES)]
    assert read_files(paths) == [p.read_bytes() for p in paths]


@pytest.mark.parametrize("max_in_flight", [1, 3, 64, 1000])
def test_read_files_many_files_any_concurrency(
    tmp_path: Path, max_in_flight: int, descriptors: str
) -> None:
    paths = [make(tmp_path / f"f{i}", (i * 37) % 9000) for i in range(300)]
    assert read_files(paths, max_in_flight=max_in_flight) == [p.read_bytes() for p in paths]


def test_read_files_accepts_str_bytes_and_pathlike(tmp_path: Path) -> None:
    p = make(tmp_path / "f", 10)
    assert read_files([str(p), os.fsencode(p), p]) == [p.read_bytes()] * 3
    assert read_files(iter([p])) == [p.read_bytes()]
    assert read_files([]) == []


def test_read_files_reads_files_whose_size_is_unknown(descriptors: str) -> None:
    # procfs reports st_size 0; the content is still read to its end.
    (status,) = read_files(["/proc/self/status"])
    assert status.startswith(b"Name:")
    assert b"\nPid:" in status


def _builtin_read_error(path: Path) -> OSError:
    try:
        with open(path, "rb") as f:
            f.read()
    except OSError as e:
        return e
    raise AssertionError("the built-in open did not raise")


def test_read_files_raises_one_error_listing_every_failure(
    tmp_path: Path, descriptors: str
) -> None:
    good = make(tmp_path / "good", 100)
    missing = tmp_path / "missing"
    not_dir = good / "child"
    paths = [good, missing, tmp_path, good, not_dir]
    with pytest.raises(ReadFilesError) as ei:
        read_files(paths)
    err = ei.value
    assert err.indices == (1, 2, 4)
    for i, e in zip(err.indices, err.exceptions):
        expected = _builtin_read_error(paths[i])
        assert isinstance(e, OSError) and type(e) is type(expected)
        assert (e.errno, e.filename, str(e)) == (expected.errno, expected.filename, str(expected))
    assert [type(e) for e in err.exceptions] == [
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
    ]
    assert "3 of 5 files could not be read" in str(err)
    assert repr(str(missing)) in str(err)


# `except*` is a syntax error before 3.11: compiled only where it exists.
_EXCEPT_STAR = """
def catch(fn):
    caught = []
    try:
        fn()
    except* FileNotFoundError as group:
        caught.extend(group.exceptions)
    except* IsADirectoryError as group:
        caught.extend(group.exceptions)
    return caught
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is 3.11+")
def test_read_files_error_is_an_exception_group(tmp_path: Path) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_EXCEPT_STAR, "<except*>", "exec"), namespace)
    caught = namespace["catch"](lambda: read_files([tmp_path / "missing", tmp_path]))
    assert [type(e) for e in caught] == [FileNotFoundError, IsADirectoryError]
    assert isinstance(
        _error(read_files, [tmp_path / "missing"]),
        BaseExceptionGroup,  # noqa: F821
    )


def test_read_files_return_exceptions(tmp_path: Path, descriptors: str) -> None:
    good = make(tmp_path / "good", 5)
    out = read_files([good, tmp_path / "missing", good], return_exceptions=True)
    assert out[0] == out[2] == good.read_bytes()
    assert isinstance(out[1], FileNotFoundError)
    assert out[1].filename == str(tmp_path / "missing")


def test_read_files_path_errors_at_submission_are_the_builtin_ones(
    tmp_path: Path, descriptors: str
) -> None:
    # A path longer than PATH_MAX fails when the kernel copies it in (the open's
    # submission), not when it runs: the file's error all the same, the others unaffected.
    good = make(tmp_path / "good", 50)
    long_name = str(tmp_path / ("x" * 5000))
    out = read_files([good, long_name, good], return_exceptions=True)
    assert out[0] == out[2] == good.read_bytes()
    expected = _builtin_read_error(Path(long_name))
    assert type(out[1]) is type(expected) and isinstance(out[1], OSError)
    assert (out[1].errno, out[1].filename) == (expected.errno, long_name)


def test_read_files_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        read_files([3.5])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="embedded null byte"):
        read_files(["a\0b"])
    with pytest.raises(ValueError, match="max_in_flight"):
        read_files([tmp_path], max_in_flight=0)


def test_read_files_leaks_no_descriptor(tmp_path: Path, descriptors: str) -> None:
    paths = [make(tmp_path / f"f{i}", 100) for i in range(50)] + [tmp_path / "missing", tmp_path]
    before = set(os.listdir("/proc/self/fd"))
    read_files(paths, return_exceptions=True)
    assert set(os.listdir("/proc/self/fd")) == before


def test_read_files_from_threads(tmp_path: Path, descriptors: str) -> None:
    paths = [make(tmp_path / f"f{i}", i * 100) for i in range(40)]
    expected = [p.read_bytes() for p in paths]
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                assert read_files(paths, max_in_flight=8) == expected
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_read_files_is_exported() -> None:
    assert uring_rs.read_files is read_files
    assert {"read_files", "copy_file", "ReadFilesError"} <= set(uring_rs.__all__)


# ---- copy_file --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, 4096 * 3, 4096 * 3 + 1, 100_000])
@pytest.mark.parametrize(("chunk", "depth"), [(4096, 1), (4096, 4), (1 << 20, 4), (1000, 7)])
def test_copy_file_copies_the_bytes(tmp_path: Path, size: int, chunk: int, depth: int) -> None:
    src = make(tmp_path / "src", size)
    dst = tmp_path / "dst"
    assert copy_file(src, dst, chunk_size=chunk, depth=depth) == dst
    assert dst.read_bytes() == src.read_bytes()


def test_copy_file_large_with_defaults(tmp_path: Path) -> None:
    src = make(tmp_path / "src", (8 << 20) + 12345)
    dst = tmp_path / "dst"
    copy_file(str(src), str(dst))
    assert dst.read_bytes() == src.read_bytes()


def test_copy_file_truncates_an_existing_destination_and_keeps_its_mode(tmp_path: Path) -> None:
    src = make(tmp_path / "src", 10)
    dst = make(tmp_path / "dst", 5000)
    dst.chmod(0o640)
    src.chmod(0o755)
    copy_file(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(dst.stat().st_mode) == 0o640


def test_copy_file_does_not_copy_the_mode_as_shutil_copyfile(tmp_path: Path) -> None:
    src = make(tmp_path / "src", 10)
    src.chmod(0o700)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    copy_file(src, ours)
    shutil.copyfile(src, theirs)
    assert stat.S_IMODE(ours.stat().st_mode) == stat.S_IMODE(theirs.stat().st_mode)


def _error(fn: object, *args: object, **kwargs: object) -> BaseException:
    try:
        fn(*args, **kwargs)  # type: ignore[operator]
    except BaseException as e:  # noqa: BLE001 - compared, not handled
        return e
    raise AssertionError(f"{fn} did not raise")


@pytest.mark.parametrize("case", ["same", "missing", "src_dir", "dst_dir", "dst_no_dir", "fifo"])
def test_copy_file_raises_what_shutil_copyfile_raises(tmp_path: Path, case: str) -> None:
    src = make(tmp_path / "src", 10)
    if case == "same":
        args: tuple[object, object] = (src, src)
    elif case == "missing":
        args = (tmp_path / "missing", tmp_path / "dst")
    elif case == "src_dir":
        args = (tmp_path, tmp_path / "dst")
    elif case == "dst_dir":
        args = (src, tmp_path)
    elif case == "dst_no_dir":
        args = (src, str(tmp_path / "nodir") + "/")
    else:
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        args = (fifo, tmp_path / "dst")
    expected = _error(shutil.copyfile, *args)
    got = _error(copy_file, *args)
    assert type(got) is type(expected)
    assert str(got) == str(expected)


def test_copy_file_symlinks(tmp_path: Path) -> None:
    src = make(tmp_path / "src", 10)
    link = tmp_path / "link"
    link.symlink_to(src)
    copy_file(link, tmp_path / "followed")
    assert (tmp_path / "followed").read_bytes() == src.read_bytes()
    assert not (tmp_path / "followed").is_symlink()
    copy_file(link, tmp_path / "kept", follow_symlinks=False)
    assert (tmp_path / "kept").is_symlink()
    assert os.readlink(tmp_path / "kept") == str(src)


def test_copy_file_from_and_to_devices(tmp_path: Path) -> None:
    dst = make(tmp_path / "dst", 100)
    copy_file("/dev/null", dst)  # a character device: the sequential path
    assert dst.read_bytes() == b""
    copy_file(make(tmp_path / "src", 70_000), "/dev/null", chunk_size=4096)


def test_copy_file_argument_errors(tmp_path: Path) -> None:
    src = make(tmp_path / "src", 1)
    with pytest.raises(ValueError, match="chunk_size"):
        copy_file(src, tmp_path / "d", chunk_size=0)
    with pytest.raises(ValueError, match="depth"):
        copy_file(src, tmp_path / "d", depth=0)


def test_copy_file_pipes_close_when_closed_or_freed() -> None:
    from uring_rs import _native

    before = set(os.listdir("/proc/self/fd"))
    pipes = _native._Pipes(3, 1 << 16)
    assert len(pipes.fds) == 3 and pipes.sized
    assert len(set(os.listdir("/proc/self/fd")) - before) == 6
    pipes.close()
    pipes.close()
    assert pipes.fds == [] and set(os.listdir("/proc/self/fd")) == before
    # Never closed: freeing it closes them (as when a Ctrl-C skips copy_file's cleanup).
    pipes = _native._Pipes(2, 1 << 16)
    del pipes
    assert set(os.listdir("/proc/self/fd")) == before
