"""The servers under test, each in its own process, and what is measured of them.

Every server listens on 127.0.0.1 on a free port, with websocket compression
off. livecon and the python-socketio peer run under the same uvicorn command
line (``--ws websockets-sansio --ws-per-message-deflate false``; uvicorn picks
uvloop); the ``websockets`` peer runs its own server, on uvloop too. A server
is asked to die with its parent (``PR_SET_PDEATHSIG``), so a killed benchmark
leaves nothing running.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import psutil

__all__ = ["LIVECON_SECRET", "ServerOptions", "ServerProcess", "start_server"]

ROOT: Final = Path(__file__).resolve().parent.parent
LIVECON_SECRET: Final = "bench-secret-0123456789abcdef"
_PR_SET_PDEATHSIG: Final = 1
_UVICORN_WS_FLAGS: Final = [
    "--ws",
    "websockets-sansio",
    "--ws-per-message-deflate",
    "false",
    "--log-level",
    "warning",
]


@dataclass(frozen=True)
class ServerOptions:
    """livecon's settings for a run; the peers have none to set."""

    tick_ms: int = 100
    viewer_chat_cap: int = 1000
    data_dir: Path | None = None
    cpu: int | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _livecon_env(options: ServerOptions) -> dict[str, str]:
    settings = {
        "rate_per_s": {"viewer": 100_000},
        "burst": 100_000,
        "viewer_chat_cap": options.viewer_chat_cap,
        "max_connections_per_address": 1_000_000,
    }
    return {
        "LIVECON_SECRET": LIVECON_SECRET,
        "LIVECON_ADMIN_KEY": "bench-admin-key",
        "LIVECON_DATA": str(options.data_dir or tempfile.mkdtemp(prefix="livecon-bench-")),
        "LIVECON_TICK_MS": str(options.tick_ms),
        "LIVECON_NODE": "bench",
        "LIVECON_REDIS_URL": "",
        "LIVECON_HUB_SETTINGS": json.dumps(settings),
    }


def _command(name: str, port: int) -> list[str]:
    listen = ["--host", "127.0.0.1", "--port", str(port)]
    if name == "livecon":
        app = ["console.app:app_from_env", "--factory"]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            *app,
            *listen,
            "--ws-max-size",
            "65536",
            *_UVICORN_WS_FLAGS,
        ]
    if name == "python-socketio":
        app = ["loadtests.peers.socketio_server:app"]
        return [sys.executable, "-m", "uvicorn", *app, *listen, *_UVICORN_WS_FLAGS]
    if name == "ws-broadcast":
        return [sys.executable, "-m", "loadtests.peers.ws_broadcast", *listen]
    raise ValueError(f"unknown server {name!r}; expected livecon, python-socketio or ws-broadcast")


@dataclass
class ServerProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def info(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds this server process has used so far."""
        times = self.info.cpu_times()
        return float(times.user + times.system)

    def system_cpu_seconds(self) -> float:
        """The kernel's part of :meth:`cpu_seconds` (socket writes land here)."""
        return float(self.info.cpu_times().system)

    def rss_bytes(self) -> int:
        return int(self.info.memory_info().rss)

    def nofile(self) -> int:
        return int(self.info.rlimit(psutil.RLIMIT_NOFILE)[0])

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def livecon_stats(self) -> dict[str, Any] | None:
        """livecon's ``/healthz`` body (its counters), or ``None`` for the peers."""
        if self.name != "livecon":
            return None
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: dict[str, Any] = json.loads(response.read())
        except (OSError, ValueError) as exc:
            return {"error": repr(exc)}
        return body

    def log_problems(self) -> list[str]:
        """Lines of the server's log that report an error or a traceback."""
        words = ("Traceback", "ERROR", "Error", "Exception")
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if any(word in line for word in words)][:20]

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.is_alive():
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} exited during startup:\n{tail}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5),
            ):
                if self.name == "livecon":
                    self._allow_floods()
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not listen on port {self.port} in {timeout_s}s")

    def _allow_floods(self) -> None:
        """Lift the room's comment policy (per-viewer limits, default banned words): the
        benchmark measures fan-out, and its publisher is one viewer sending every payload."""
        body = json.dumps({"banned": {}, "per_minute": 10**9, "max_chars": 500}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/rooms/bench/moderation",
            data=body,
            method="PUT",
            headers={"Authorization": "Bearer bench-admin-key", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def stop(self) -> None:
        if self.is_alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, options: ServerOptions, log_dir: Path) -> ServerProcess:
    """Start one server and wait until it accepts connections."""
    port = _free_port()
    env = {**os.environ, **(_livecon_env(options) if name == "livecon" else {})}
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(name, port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    server = ServerProcess(name, port, process, log_path)
    if options.cpu is not None:
        os.sched_setaffinity(process.pid, {options.cpu})
    server.wait_ready()
    return server
