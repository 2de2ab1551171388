"""uring_rs.aio.os, aio.os.path, aio.tempfile and aio.stat: aiofiles' names, the standard
library's results and errors (type, errno, filename, filename2, message)."""

# Each lambda below is called at once by outcome()/aoutcome(), in the loop iteration
# that made it: the late binding B023 warns about cannot happen. The coroutines check
# what is on disk with plain (blocking) calls on purpose: ASYNC230/ASYNC240.
# ruff: noqa: B023, ASYNC230, ASYNC240

from __future__ import annotations

import asyncio
import importlib.util
import os
import stat as stat_module
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from _support import aio_run
from uring_rs import aio

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _on_each_loop(aio_loop: str) -> str:
    """Every test here runs on asyncio's loop and on uring_rs.Loop (see _support)."""
    return aio_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    result: T = aio_run(coro)
    return result


def outcome(fn: Callable[[], object]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except BaseException as e:  # noqa: BLE001 - compared, not handled
        return ("error", e)


def aoutcome(fn: Callable[[], Awaitable[object]]) -> tuple[str, Any]:
    async def main() -> object:
        return await fn()

    try:
        return ("ok", run(main()))
    except BaseException as e:  # noqa: BLE001 - compared, not handled
        return ("error", e)


def same(expected: tuple[str, Any], got: tuple[str, Any]) -> None:
    assert expected[0] == got[0], (expected, got)
    if expected[0] == "ok":
        if isinstance(expected[1], os.stat_result):
            fields = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size")
            assert [getattr(got[1], f) for f in fields] == [getattr(expected[1], f) for f in fields]
            assert got[1].st_mtime_ns == expected[1].st_mtime_ns
        else:
            assert got[1] == expected[1]
        return
    e, g = expected[1], got[1]
    assert type(g) is type(e), (e, g)
    assert str(g) == str(e)
    if isinstance(e, OSError):
        assert (g.errno, g.filename, g.filename2) == (e.errno, e.filename, e.filename2)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """file, dir/ (with dir/inner), empty/, link -> file, broken -> missing, dirlink -> dir."""
    (tmp_path / "file").write_bytes(b"data")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inner").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "file")
    (tmp_path / "broken").symlink_to(tmp_path / "missing")
    (tmp_path / "dirlink").symlink_to(tmp_path / "dir")
    return tmp_path


NAMES = ["file", "dir", "empty", "link", "broken", "dirlink", "missing", "file/sub", "", "a\0b"]


# ---- stat and the os.path queries ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_stat_and_lstat_as_os(tree: Path, name: str) -> None:
    p = str(tree / name) if name else ""
    same(outcome(lambda: os.stat(p)), aoutcome(lambda: aio.stat(p)))
    same(outcome(lambda: os.stat(p)), aoutcome(lambda: aio.os.stat(p)))
    same(
        outcome(lambda: os.stat(p, follow_symlinks=False)),
        aoutcome(lambda: aio.os.stat(p, follow_symlinks=False)),
    )
    same(outcome(lambda: os.stat(os.fsencode(p))), aoutcome(lambda: aio.stat(os.fsencode(p))))


def test_stat_of_descriptors_dir_fd_and_bad_types(tree: Path) -> None:
    fd = os.open(tree / "file", os.O_RDONLY)
    dfd = os.open(tree, os.O_RDONLY)
    try:
        same(outcome(lambda: os.stat(fd)), aoutcome(lambda: aio.stat(fd)))
        same(outcome(lambda: os.stat(9999)), aoutcome(lambda: aio.stat(9999)))
        same(
            outcome(lambda: os.stat("file", dir_fd=dfd)),
            aoutcome(lambda: aio.stat("file", dir_fd=dfd)),
        )
        same(outcome(lambda: os.stat(3.5)), aoutcome(lambda: aio.stat(3.5)))  # type: ignore[arg-type]
        same(outcome(lambda: os.stat(tree / "file")), aoutcome(lambda: aio.stat(tree / "file")))
    finally:
        os.close(fd)
        os.close(dfd)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "query",
    [
        "exists",
        "isfile",
        "isdir",
        "islink",
        "ismount",
        "getsize",
        "getatime",
        "getmtime",
        "getctime",
        "abspath",
    ],
)
def test_os_path_queries_as_os_path(tree: Path, name: str, query: str) -> None:
    p = str(tree / name) if name else ""
    same(
        outcome(lambda: getattr(os.path, query)(p)),
        aoutcome(lambda: getattr(aio.os.path, query)(p)),
    )


def test_os_path_of_descriptors_mount_points_and_same_files(tree: Path) -> None:
    fd = os.open(tree / "file", os.O_RDONLY)
    fd2 = os.open(tree / "link", os.O_RDONLY)
    other = os.open(tree / "dir" / "inner", os.O_RDONLY)
    try:
        for q in ("exists", "isfile", "isdir", "getsize"):
            same(
                outcome(lambda: getattr(os.path, q)(fd)),
                aoutcome(lambda: getattr(aio.os.path, q)(fd)),
            )
        for a, b in [(fd, fd2), (fd, other)]:
            same(
                outcome(lambda: os.path.sameopenfile(a, b)),
                aoutcome(lambda: aio.os.path.sameopenfile(a, b)),
            )
        for x, y in [("file", "link"), ("file", "dir"), ("file", "missing"), ("dirlink", "dir")]:
            px, py = str(tree / x), str(tree / y)
            same(
                outcome(lambda: os.path.samefile(px, py)),
                aoutcome(lambda: aio.os.path.samefile(px, py)),
            )
        for mnt in ("/", "/proc", str(tree)):
            same(outcome(lambda: os.path.ismount(mnt)), aoutcome(lambda: aio.os.path.ismount(mnt)))
        same(outcome(lambda: os.path.abspath("rel")), aoutcome(lambda: aio.os.path.abspath("rel")))
    finally:
        for f in (fd, fd2, other):
            os.close(f)


# ---- changes: each against the os function on a twin tree -----------------------------------


def twin(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "sync", tmp_path / "async"
    for root in (a, b):
        root.mkdir()
        (root / "file").write_bytes(b"data")
        (root / "other").write_bytes(b"other")
        (root / "dir").mkdir()
        (root / "dir" / "inner").write_bytes(b"x")
        (root / "empty").mkdir()
        (root / "link").symlink_to("file")
    return a, b


def listing(root: Path) -> list[tuple[str, str, bytes | str]]:
    out: list[tuple[str, str, bytes | str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        out.append((rel, "d", ""))
        for f in filenames:
            p = Path(dirpath) / f
            out.append(
                (
                    os.path.join(rel, f),
                    "l" if p.is_symlink() else "f",
                    os.readlink(p) if p.is_symlink() else p.read_bytes() if p.exists() else b"",
                )
            )
        dirnames.sort()
    return sorted(out)


# (name, args relative to the tree root: strings are paths, others as is, kwargs)
CHANGES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("remove", ("file",), {}),
    ("remove", ("missing",), {}),
    ("remove", ("dir",), {}),
    ("unlink", ("link",), {}),
    ("unlink", ("file/sub",), {}),
    ("rmdir", ("empty",), {}),
    ("rmdir", ("dir",), {}),
    ("rmdir", ("file",), {}),
    ("rmdir", ("missing",), {}),
    ("mkdir", ("new",), {}),
    ("mkdir", ("new", 0o700), {}),
    ("mkdir", ("dir",), {}),
    ("mkdir", ("missing/new",), {}),
    ("makedirs", ("a/b/c",), {}),
    ("makedirs", ("dir",), {}),
    ("makedirs", ("dir",), {"exist_ok": True}),
    ("makedirs", ("file/x",), {"exist_ok": True}),
    ("makedirs", ("dir/inner/x",), {}),
    ("removedirs", ("dir",), {}),
    ("removedirs", ("empty",), {}),
    ("rename", ("file", "renamed"), {}),
    ("rename", ("file", "other"), {}),
    ("rename", ("missing", "x"), {}),
    ("rename", ("file", "empty"), {}),
    ("rename", ("empty", "dir"), {}),
    ("replace", ("file", "other"), {}),
    ("replace", ("missing", "other"), {}),
    ("renames", ("dir/inner", "x/y/moved"), {}),
    ("renames", ("missing", "x/y"), {}),
    ("link", ("file", "hard"), {}),
    ("link", ("file", "other"), {}),
    ("link", ("missing", "hard"), {}),
    ("link", ("link", "hard"), {"follow_symlinks": False}),
    ("symlink", ("file", "sym"), {}),
    ("symlink", ("file", "other"), {}),
    ("symlink", ("dir", "dsym", True), {}),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs"), CHANGES, ids=[f"{c[0]}-{'-'.join(map(str, c[1]))}" for c in CHANGES]
)
def test_changes_do_and_raise_what_os_does(
    tmp_path: Path, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    a, b = twin(tmp_path)

    def paths(root: Path) -> list[Any]:
        out: list[Any] = []
        for i, x in enumerate(args):
            if isinstance(x, str) and not (name == "symlink" and i == 0):
                out.append(str(root / x))
            else:
                out.append(x)  # a symlink's target stays relative
        return out

    expected = outcome(lambda: getattr(os, name)(*paths(a), **kwargs))
    got = aoutcome(lambda: getattr(aio.os, name)(*paths(b), **kwargs))
    # errors name the tree they ran in: compare them relative to it
    if expected[0] == "error" and isinstance(expected[1], OSError):
        for e, root in ((expected[1], a), (got[1], b)):
            if isinstance(e, OSError):
                e.filename = e.filename and os.path.relpath(e.filename, root)
                e.filename2 = e.filename2 and os.path.relpath(e.filename2, root)
        e, g = expected[1], got[1]
        assert type(g) is type(e) and (g.errno, g.filename, g.filename2) == (
            e.errno,
            e.filename,
            e.filename2,
        )
    else:
        assert got[0] == expected[0] and got[1] == expected[1]
    assert listing(b) == listing(a)
    assert [stat_module.S_IMODE(os.lstat(p).st_mode) for p in sorted(b.rglob("*"))] == [
        stat_module.S_IMODE(os.lstat(p).st_mode) for p in sorted(a.rglob("*"))
    ]


def test_dir_fd_and_argument_errors(tmp_path: Path) -> None:
    a, b = twin(tmp_path)
    for root, fn in ((a, None), (b, aio.os)):
        dfd = os.open(root, os.O_RDONLY)
        try:
            if fn is None:
                os.mkdir("viafd", dir_fd=dfd)
                os.rename("viafd", "moved", src_dir_fd=dfd, dst_dir_fd=dfd)
                os.unlink("file", dir_fd=dfd)
            else:

                async def main(dfd: int = dfd) -> None:
                    await aio.os.mkdir("viafd", dir_fd=dfd)
                    await aio.os.rename("viafd", "moved", src_dir_fd=dfd, dst_dir_fd=dfd)
                    await aio.os.unlink("file", dir_fd=dfd)

                run(main())
        finally:
            os.close(dfd)
    assert listing(b) == listing(a)
    for name in ("remove", "unlink", "rmdir", "mkdir", "makedirs", "removedirs"):
        for bad in (3.5, None, "a\0b", b"a\0b"):
            same(
                outcome(lambda: getattr(os, name)(bad)),
                aoutcome(lambda: getattr(aio.os, name)(bad)),
            )
    for name in ("rename", "replace", "link", "symlink"):
        for pair in ((3.5, "x"), ("x", 3.5), ("a\0", "x"), ("x", b"\0")):
            same(
                outcome(lambda: getattr(os, name)(*pair)),
                aoutcome(lambda: getattr(aio.os, name)(*pair)),
            )


# ---- on the executor ------------------------------------------------------------------------


def test_executor_functions_as_os(tree: Path) -> None:
    for name, args in [
        ("readlink", (str(tree / "link"),)),
        ("readlink", (str(tree / "file"),)),
        ("readlink", (str(tree / "missing"),)),
        ("listdir", (str(tree),)),
        ("listdir", (str(tree / "missing"),)),
        ("access", (str(tree / "file"), os.R_OK)),
        ("access", (str(tree / "missing"), os.F_OK)),
        ("getcwd", ()),
    ]:
        same(
            outcome(lambda: getattr(os, name)(*args)),
            aoutcome(lambda: getattr(aio.os, name)(*args)),
        )
    assert run(aio.os.statvfs(str(tree))).f_bsize == os.statvfs(tree).f_bsize
    same(
        outcome(lambda: os.statvfs(str(tree / "missing"))),
        aoutcome(lambda: aio.os.statvfs(str(tree / "missing"))),
    )

    async def entries() -> list[tuple[str, bool]]:
        with await aio.os.scandir(str(tree)) as it:
            return sorted((e.name, e.is_dir()) for e in it)

    with os.scandir(tree) as it:
        assert run(entries()) == sorted((e.name, e.is_dir()) for e in it)
    same(
        outcome(lambda: os.scandir(str(tree / "missing"))),
        aoutcome(lambda: aio.os.scandir(str(tree / "missing"))),
    )


def test_sendfile(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(100_000))

    async def main() -> int:
        with open(src, "rb") as i, open(tmp_path / "dst", "wb") as o:
            return await aio.os.sendfile(o.fileno(), i.fileno(), 10, 50_000)

    assert run(main()) == 50_000
    assert (tmp_path / "dst").read_bytes() == src.read_bytes()[10:50_010]


def test_fsync_fdatasync_ftruncate_posix_fallocate(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x" * 1000)

    async def main() -> None:
        with open(p, "r+b") as f:
            await aio.os.fsync(f.fileno())
            await aio.os.fdatasync(f)
            await aio.os.ftruncate(f.fileno(), 10)
            assert os.path.getsize(p) == 10
            await aio.os.posix_fallocate(f.fileno(), 0, 5000)
            assert os.path.getsize(p) == 5000

    run(main())
    bad = 9999  # no such descriptor (a closed one could be reused by the loop's ring)
    with open(p, "r+b") as f:
        fd = f.fileno()
        for name, args in [
            ("fsync", (bad,)),
            ("fdatasync", (bad,)),
            ("ftruncate", (bad, 0)),
            ("ftruncate", (fd, -1)),
            ("posix_fallocate", (bad, 0, 10)),
            ("posix_fallocate", (fd, 0, 0)),
        ]:
            same(
                outcome(lambda: getattr(os, name)(*args)),
                aoutcome(lambda: getattr(aio.os, name)(*args)),
            )


# ---- tempfile -------------------------------------------------------------------------------


def test_temporary_file_has_no_name_and_is_read_write(tmp_path: Path) -> None:
    async def main() -> None:
        async with aio.tempfile.TemporaryFile(dir=tmp_path) as f:
            assert isinstance(f, aio.AsyncBinaryFile) and isinstance(f.name, int)
            assert os.listdir(tmp_path) == []
            await f.write(b"hello")
            await f.seek(0)
            assert await f.read() == b"hello"
        f = await aio.tempfile.TemporaryFile("w+", encoding="utf-8", dir=str(tmp_path))
        assert isinstance(f, aio.AsyncTextFile)
        await f.write("\u2603 snow\n")
        await f.seek(0)
        assert [line async for line in f] == ["\u2603 snow\n"]
        await f.close()

    run(main())
    assert os.listdir(tmp_path) == []


def test_named_temporary_file_deletion_modes(tmp_path: Path) -> None:
    async def main() -> str:
        async with aio.tempfile.NamedTemporaryFile(dir=tmp_path, prefix="pre", suffix=".suf") as f:
            name = f.name
            assert os.path.isabs(name) and os.path.basename(name).startswith("pre")
            assert name.endswith(".suf") and os.path.exists(name)
            assert stat_module.S_IMODE(os.stat(name).st_mode) == 0o600
            await f.write(b"x")
        assert not os.path.exists(name)
        async with aio.tempfile.NamedTemporaryFile("w", dir=tmp_path, delete=False) as t:
            kept = t.name
            await t.write("kept")
        assert Path(kept).read_text() == "kept"
        async with aio.tempfile.NamedTemporaryFile(dir=tmp_path, delete_on_close=False) as f:
            later = f.name
            await f.write(b"reopen me")
            await f.close()
            assert Path(later).read_bytes() == b"reopen me"  # closed, still there
        assert not os.path.exists(later)
        f = await aio.tempfile.NamedTemporaryFile(dir=os.fsencode(tmp_path))
        assert isinstance(f.name, bytes)
        await f.close()
        assert not os.path.exists(f.name)
        return str(kept)

    kept = run(main())
    assert os.listdir(tmp_path) == [os.path.basename(kept)]  # only delete=False's is left

    async def mixed() -> None:
        await aio.tempfile.NamedTemporaryFile(dir=tmp_path, prefix=b"x")  # type: ignore[type-var]

    with pytest.raises(TypeError, match="mix bytes"):
        run(mixed())


@pytest.mark.parametrize("mode", ["w+b", "w+"])
def test_spooled_temporary_file_rolls_over_past_max_size(tmp_path: Path, mode: str) -> None:
    data: Any = b"0123456789" if "b" in mode else "0123456789"

    async def main() -> None:
        async with aio.tempfile.SpooledTemporaryFile(max_size=25, mode=mode, dir=tmp_path) as f:
            await f.write(data)
            await f.write(data)
            assert not f._rolled and f.name is None
            assert await f.tell() == 20
            await f.write(data)
            assert f._rolled  # 30 > 25: on disk now, same position and data
            assert await f.tell() == 30
            await f.seek(5)
            assert await f.read(10) == (data * 3)[5:15]
            await f.seek(0)
            assert await f.read() == data * 3
        g = await aio.tempfile.SpooledTemporaryFile(mode=mode)
        await g.write(data)
        fd = await g.fileno()  # rolls over
        assert g._rolled and isinstance(fd, int)
        await g.seek(0)
        assert [line async for line in g] == [data]
        await g.close()
        assert g.closed

    run(main())


def test_temporary_directory(tmp_path: Path) -> None:
    async def main() -> None:
        async with aio.tempfile.TemporaryDirectory(dir=tmp_path, prefix="d") as d:
            assert isinstance(d, str) and os.path.isdir(d)
            assert stat_module.S_IMODE(os.stat(d).st_mode) == 0o700
            (Path(d) / "sub").mkdir()
            (Path(d) / "sub" / "f").write_bytes(b"x")
        assert not os.path.exists(d)
        td = await aio.tempfile.TemporaryDirectory(dir=tmp_path)
        assert os.path.isdir(td.name)
        await td.cleanup()
        assert not os.path.exists(td.name)
        async with aio.tempfile.TemporaryDirectory(dir=tmp_path, delete=False) as keep:
            pass
        assert os.path.isdir(keep)

    run(main())


# ---- names ------------------------------------------------------------------------------------


def test_aio_stat_is_a_coroutine_function_not_the_stat_module() -> None:
    assert asyncio.iscoroutinefunction(aio.stat)
    assert aio.stat is aio.os.stat
    assert aio.os.path is aio.ospath


@pytest.mark.skipif(importlib.util.find_spec("aiofiles") is None, reason="aiofiles not installed")
def test_every_aiofiles_name_is_here() -> None:
    import aiofiles.os  # type: ignore[import-untyped, import-not-found, unused-ignore]
    import aiofiles.ospath  # type: ignore[import-untyped, import-not-found, unused-ignore]
    import aiofiles.tempfile  # type: ignore[import-untyped, import-not-found, unused-ignore]

    helpers = {"wrap", "path"}  # aiofiles' decorator, and the os.path alias
    assert {n for n in aiofiles.os.__all__ if n not in helpers} <= set(aio.os.__all__)
    public = {n for n in dir(aiofiles.ospath) if not n.startswith("_")} - helpers
    assert public <= set(aio.ospath.__all__)
    assert set(aiofiles.tempfile.__all__) <= set(aio.tempfile.__all__)
