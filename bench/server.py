"""The API under test: gunicorn with the repository's gunicorn.conf.py on a free loopback port."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.wire import LOOPBACK, Client

ROOT = Path(__file__).resolve().parent.parent

# What the benchmark changes from the defaults, and why.
BENCH_ENV = {
    # The load generator is one client address: the per-client limits would answer 429.
    "RATELIMIT_ENABLED": "false",
    # Tokens issued at load time must outlive the longest run (10,000 venues, --scaling).
    "JWT_ACCESS_TTL_SECONDS": "86400",
    # A search over 10,000 venues under load may queue for long; a killed worker would take the
    # embedded database with it.
    "GUNICORN_TIMEOUT": "300",
    "GUNICORN_GRACEFUL_TIMEOUT": "5",
    "HALLS_DEMO_DATA": "false",
    # The server gets this environment only: a developer's .env (a MONGO_URI, other limits)
    # must not reach it.
    "FLASK_SKIP_DOTENV": "1",
}


def free_port():
    """A port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def read_status(pid):
    """VmHWM and VmRSS of a process in KiB, from /proc/<pid>/status ({} when it is gone)."""
    found = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[name] = int(value.split()[0])
    return found


def cpu_seconds(pid):
    """User + system CPU seconds a process has used, from /proc/<pid>/stat (0 when gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid):
    """The direct children of a process (gunicorn's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class Server:
    """Start, wait for, measure and stop one gunicorn."""

    def __init__(self, log_path, mongo_uri=None, mongo_db=None, extra_env=None):
        self.log_path = Path(log_path)
        self.mongo_uri, self.mongo_db = mongo_uri, mongo_db
        self.extra_env = extra_env or {}
        self.port = None
        self.proc = None

    def start(self, wait_seconds=60):
        self.port = free_port()
        env = {key: value for key, value in os.environ.items() if key != "MONGO_URI"}
        env.update(BENCH_ENV)
        env["BIND"] = f"{LOOPBACK}:{self.port}"
        if self.mongo_uri:
            env.update(MONGO_URI=self.mongo_uri, MONGO_DB=self.mongo_db)
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self._wait_up(wait_seconds)
        return self

    def _wait_up(self, wait_seconds):
        client = Client(self.port, timeout=5)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}: {self._tail()}")
            try:
                status, _ = client.raw("GET", "/health")
                if status == 200:
                    client.close()
                    return
            except OSError:
                client.close()
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /health in {wait_seconds} s: {self._tail()}")

    def _tail(self, lines=15):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pids(self):
        return [self.proc.pid, *children(self.proc.pid)]

    def cpu_seconds(self):
        """CPU seconds used so far by the master and its workers."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def wait_idle(self, limit=180, busy_below=0.15):
        """Wait until the server uses under busy_below of a core (abandoned requests done)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = self.cpu_seconds()
            time.sleep(0.5)
            if (self.cpu_seconds() - before) / 0.5 < busy_below:
                return True
        return False

    def memory(self):
        """Peak (VmHWM) and current RSS of the master and each worker, in MiB."""
        master = self.proc.pid
        processes = {"master": read_status(master)}
        for number, pid in enumerate(children(master), 1):
            processes[f"worker{number}"] = read_status(pid)
        report = {
            name: {
                "peak_rss_mib": round(status.get("VmHWM", 0) / 1024, 1),
                "rss_mib": round(status.get("VmRSS", 0) / 1024, 1),
            }
            for name, status in processes.items()
        }
        report["total_peak_rss_mib"] = round(
            sum(item["peak_rss_mib"] for item in report.values()), 1
        )
        return report

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
