"""The whole service as processes on loopback, for the fault test and the soak benchmark.

Two API processes (`cerflow serve`), Celery workers (`cerflow worker`), beat (`cerflow
beat`), a Redis of the stack's own (`redis-server` on a free port, no persistence, so a
restart forgets the queues as a production Redis without AOF would) and a PostgreSQL
database the caller created. Settings are production's (`CERFLOW_ENVIRONMENT=production`)
except the job timings, shortened so a lost task is re-sent within seconds instead of
minutes, and the rate limits, raised because every client here shares one address.

Each process runs in a session of its own, so a fault can SIGKILL a whole worker (the
parent and its pool children) as the kernel's OOM killer or a node loss would.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

SECRET = "under-fire-secret-" + "q" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cerflow_command() -> list[str]:
    """The `cerflow` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("cerflow")
    if script.exists():
        return [str(script)]
    found = shutil.which("cerflow")
    if found is None:
        raise RuntimeError("the `cerflow` console script is not installed; run `uv sync`")
    return [found]


class RedisServer:
    """A throwaway `redis-server` without persistence: a restart empties it."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Stack:
    """Start, fault and stop the processes; every process logs to `workdir/logs`."""

    def __init__(
        self,
        workdir: Path,
        database_url: str,
        *,
        apis: int = 2,
        workers: int = 2,
        worker_concurrency: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.database_url = database_url
        self.redis = RedisServer(workdir / "redis")
        self.n_apis = apis
        self.n_workers = workers
        self.worker_concurrency = worker_concurrency
        self.extra_env = dict(extra_env or {})
        self.api_ports = [free_port() for _ in range(apis)]
        self.apis: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.beat: subprocess.Popen[bytes] | None = None
        self.all_procs: list[subprocess.Popen[bytes]] = []
        self.log_of: dict[int, Path] = {}  # pid -> its log file

    @property
    def base_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.api_ports]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in [k for k in env if k.startswith("CERFLOW_")]:
            del env[key]  # nothing from the developer's shell leaks into the stack
        env.update(
            {
                "CERFLOW_ENVIRONMENT": "production",
                "CERFLOW_SECRET_KEY": SECRET,
                "CERFLOW_DATABASE_URL": self.database_url,
                "CERFLOW_REDIS_URL": self.redis.url,
                "CERFLOW_DATA_DIR": str(self.data_dir),
                "CERFLOW_LOG_JSON": "true",
                "CERFLOW_DB_POOL_SIZE": "5",
                "CERFLOW_DB_MAX_OVERFLOW": "10",
                # Shortened so a lost task is re-sent within seconds (production: minutes).
                "CERFLOW_JOBS_STALE_AFTER_SECONDS": "4",
                "CERFLOW_JOBS_HEARTBEAT_SECONDS": "1",
                "CERFLOW_JOBS_SWEEP_INTERVAL_SECONDS": "2",
                "CERFLOW_JOBS_RETRY_BACKOFF_SECONDS": "0.5",
                "CERFLOW_JOBS_RETRY_BACKOFF_MAX_SECONDS": "2",
                "CERFLOW_JOBS_MAX_RETRIES": "8",
                # Every client of the test shares 127.0.0.1 and one user.
                "CERFLOW_RATE_LIMIT_PER_USER": "1000000",
                "CERFLOW_RATE_LIMIT_PER_IP": "1000000",
                "CERFLOW_SHUTDOWN_GRACE_SECONDS": "2",
            }
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        path = self.logs / f"{name}-{uuid.uuid4().hex[:4]}.log"
        log = open(path, "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [*cerflow_command(), *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.workdir,
        )
        log.close()  # the child holds its own descriptor
        self.all_procs.append(proc)
        self.log_of[proc.pid] = path
        return proc

    def start(self) -> None:
        self.redis.start()
        for i, port in enumerate(self.api_ports):
            self.apis.append(
                self._spawn(f"api{i}", ["serve", "--host", "127.0.0.1", "--port", str(port)])
            )
        for i in range(self.n_workers):
            self.workers.append(self.start_worker(i))
        self.beat = self._spawn(
            "beat", ["beat", "--schedule", str(self.workdir / "beat" / "schedule")]
        )
        self.wait_api_ready()

    def start_worker(self, index: int) -> subprocess.Popen[bytes]:
        return self._spawn(
            f"worker{index}",
            ["worker", "--queues", "ingest,analysis,reports",
             "--concurrency", str(self.worker_concurrency), "--metrics-port", "0"],
        )  # fmt: skip

    def wait_api_ready(self, bound: float = 90.0) -> None:
        deadline = time.monotonic() + bound
        for url, proc in zip(self.base_urls, self.apis, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the API at {url} exited ({proc.returncode}); see logs")
                try:
                    if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API at {url} not ready after {bound}s; see logs")
                time.sleep(0.2)

    def worker_ready(self, index: int) -> bool:
        """The worker's consumer is up (Celery logged "ready"), so it is taking tasks."""
        path = self.log_of.get(self.workers[index].pid)
        try:
            return path is not None and b"ready." in path.read_bytes()
        except OSError:
            return False

    def kill_worker(self, index: int) -> None:
        """SIGKILL the worker's whole process group, then start a new one in its place."""
        proc = self.workers[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def restart_worker(self, index: int) -> None:
        self.workers[index] = self.start_worker(index)

    def pids(self) -> dict[str, int]:
        """The live top-level process of each role (for RSS sampling)."""
        out = {f"api{i}": p.pid for i, p in enumerate(self.apis)}
        out.update({f"worker{i}": p.pid for i, p in enumerate(self.workers)})
        if self.beat is not None:
            out["beat"] = self.beat.pid
        if self.redis.proc is not None:
            out["redis"] = self.redis.proc.pid
        return out

    def stop(self) -> None:
        live = [p for p in self.all_procs if p.poll() is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.redis.stop()


# (client, kind, method, path) -> response or None: the caller records the timing.
Request = Callable[[httpx.Client, str, str, str], Any]


def read_mix(
    n: int,
    *,
    urls: list[str],
    headers: dict[str, str],
    product: str,
    job_ids: list[str],
    lock: threading.Lock,
    stop: threading.Event,
    request: Request,
    pause: float,
) -> None:
    """One reader of the fault test and the soak benchmark: product detail, a known job's
    status and the report listing in turn, round robin over the API processes."""
    clients = [httpx.Client(base_url=u, headers=headers, timeout=10) for u in urls]
    rnd = random.Random(n)
    i = n
    while not stop.is_set():
        client = clients[i % len(clients)]
        which = i % 3
        i += 1
        with lock:
            some = rnd.choice(job_ids) if job_ids else None
        if which == 0 or some is None:
            request(client, "product", "GET", f"/api/v1/products/{product}")
        elif which == 1:
            request(client, "job", "GET", f"/api/v1/jobs/{some}")
        else:
            request(client, "reports", "GET", "/api/v1/reports")
        time.sleep(pause)
    for c in clients:
        c.close()
