#!/usr/bin/env python3
"""Make sure the real PostgreSQL and Redis that the tests need answer.

Checks the configured URLs (CERFLOW_TEST_PG_ADMIN_URL, CERFLOW_TEST_REDIS_URL). When nothing
answers, starts throwaway servers from the system binaries in a temp folder (installing
Debian's packages when running as root) and writes their URLs to `.tmp/services.env` for
the Makefile to source. Never skips silently: if it cannot provide a server it exits 1 and
names exactly what to install. Standard library only, so it runs before `uv sync`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / ".tmp" / "services.env"
PG_URL = os.environ.get(
    "CERFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CERFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def answers(url: str) -> bool:
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or (5432 if parsed.scheme.startswith("postgres") else 6379)
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            if parsed.scheme.startswith("redis"):
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def apt_install(*packages: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    return subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env).returncode == 0


def pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def start_postgres(workdir: Path) -> str:
    bindir = pg_bindir()
    if bindir is None and apt_install("postgresql"):
        bindir = pg_bindir()
    if bindir is None:
        sys.exit(
            "PostgreSQL does not answer at "
            f"{PG_URL} and no server binaries were found.\n"
            "Install them (Debian/Ubuntu: `sudo apt-get install postgresql`) or set "
            "CERFLOW_TEST_PG_ADMIN_URL to a server with trust auth for user postgres."
        )
    data = workdir / "pgdata"
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        workdir.chmod(0o755)
        shutil.chown(workdir, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    # The cluster's default collation is the store's (cerflow.store.collation): bytewise,
    # so databases created from template1 collate like the ones the tests create.
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--lc-collate=C",
            "--lc-ctype=C.UTF-8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(workdir / "pg.log"),
            "-o",
            f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        ],
        check=True,
    )
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def start_redis(workdir: Path) -> str:
    binary = shutil.which("redis-server")
    if binary is None and apt_install("redis-server"):
        binary = shutil.which("redis-server")
    if binary is None:
        sys.exit(
            f"Redis does not answer at {REDIS_URL} and redis-server was not found.\n"
            "Install it (Debian/Ubuntu: `sudo apt-get install redis-server`) or set "
            "CERFLOW_TEST_REDIS_URL to a running Redis."
        )
    port = free_port()
    subprocess.run(
        [
            binary,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        check=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if answers(url):
            break
        time.sleep(0.1)
    return url


def main() -> None:
    ENV_FILE.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    pg_url, redis_url = PG_URL, REDIS_URL
    if not answers(pg_url):
        workdir = Path(tempfile.mkdtemp(prefix="cerflow-pg-"))
        pg_url = start_postgres(workdir)
        print(f"started a throwaway PostgreSQL at {pg_url} in {workdir}")
    if not answers(redis_url):
        workdir = Path(tempfile.mkdtemp(prefix="cerflow-redis-"))
        redis_url = start_redis(workdir)
        print(f"started a throwaway Redis at {redis_url} in {workdir}")
    lines.append(f"export CERFLOW_TEST_PG_ADMIN_URL={pg_url}")
    lines.append(f"export CERFLOW_TEST_REDIS_URL={redis_url}")
    ENV_FILE.write_text("\n".join(lines) + "\n")
    print(f"PostgreSQL: {pg_url}\nRedis: {redis_url}")


if __name__ == "__main__":
    main()
