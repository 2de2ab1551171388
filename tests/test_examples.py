"""The examples run as scripts, on small inputs."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _support import restore_sigint

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=EXAMPLES.parent,
    )


def test_aio_read_files_prints_a_digest_per_file(tmp_path: Path) -> None:
    files = []
    for i in range(30):
        p = tmp_path / f"f{i}.txt"
        p.write_bytes(b"line\n" * i + os.urandom(i * 10))
        files.append(p)
    out = run_example(str(EXAMPLES / "aio_read_files.py"), "--concurrency", "7", *map(str, files))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 30
    for line, p in zip(lines, files):
        digest, size, _count, name = line.split()
        data = p.read_bytes()
        assert name == str(p)
        assert int(size) == len(data)
        assert hashlib.sha256(data).hexdigest().startswith(digest)
    assert "30 files" in out.stderr


def test_aio_read_files_text_mode_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("a\nb\r\nc\n", encoding="utf-8")
    out = run_example(str(EXAMPLES / "aio_read_files.py"), "--text", str(p), str(tmp_path / "no"))
    assert out.returncode == 1
    digest, size, count, _ = out.stdout.split()
    assert (int(size), int(count)) == (7, 3)
    assert hashlib.sha256(p.read_bytes()).hexdigest().startswith(digest)
    assert "No such file or directory" in out.stderr


def test_echo_server_selftest() -> None:
    out = run_example(
        str(EXAMPLES / "echo_server.py"), "--selftest", "--clients", "8", "--size", "100000"
    )
    assert out.returncode == 0, out.stderr
    assert "selftest ok: 8 clients" in out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _connect(port: int, deadline: float) -> socket.socket:
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_echo_server_serves_n_connections_then_exits() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "echo_server.py"),
            "--port",
            str(port),
            "--connections",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        for msg in (b"hello", b"world" * 1000):
            with _connect(port, deadline) as c:
                c.sendall(msg)
                c.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := c.recv(65536):
                    got += chunk
                assert got == msg
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "served 2 connections" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_echo_server_stops_on_ctrl_c() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "echo_server.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=restore_sigint,
    )
    try:
        with _connect(port, time.monotonic() + 10) as c:
            c.sendall(b"x")
            assert c.recv(1) == b"x"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130
        assert "interrupted" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_read_many_reads_a_tree_and_matches_a_loop(tmp_path: Path) -> None:
    for d in range(3):
        sub = tmp_path / f"d{d}"
        sub.mkdir()
        for i in range(20):
            (sub / f"{i}").write_bytes(os.urandom(d * 1000 + i))
    out = run_example(
        str(EXAMPLES / "read_many.py"), str(tmp_path), "--compare", "--max-in-flight", "5"
    )
    assert out.returncode == 0, out.stderr
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert f"read_files: 60 files, {total} bytes" in out.stdout
    assert "identical" in out.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-0 files")
def test_read_many_reports_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "ok").write_bytes(b"x")
    secret = tmp_path / "secret"
    secret.write_bytes(b"x")
    secret.chmod(0)
    out = run_example(str(EXAMPLES / "read_many.py"), str(tmp_path))
    assert out.returncode == 1
    assert "PermissionError" in out.stderr


def test_loop_echo_streams_checks_every_echo() -> None:
    out = run_example(str(EXAMPLES / "loop_echo_streams.py"), "--clients", "10", "--messages", "50")
    assert out.returncode == 0, out.stderr
    assert "500 echoes from 10 clients" in out.stdout
    assert "on Loop" in out.stdout


def test_loop_http_server_answers_every_request() -> None:
    out = run_example(str(EXAMPLES / "loop_http_server.py"), "--requests", "100")
    assert out.returncode == 0, out.stderr
    assert "100/100 responses OK" in out.stdout
