"""Benchmark: start-up of `cerflow --help` and of the API process, beside their floors.

    uv run python benchmarks/startup.py [--runs 7] [--database-url URL] [--redis-url URL]
                                        [--compile-bytecode]

Wall times, median (and min/max) of `--runs` fresh processes each, measured in the same run,
and beside each the CPU seconds the process itself used (`cpu_median_s`: user + system of
the child, from `getrusage` for commands and from psutil at the moment the server first
answers): on a loaded machine wall time includes waiting for a core, CPU time much less so.

- `python -c pass`: the interpreter's own start-up, the floor under everything else;
- `cerflow --help` (the installed entry script) with the lazy root group, and the same help
  with every command module imported first (`eager_help`: what start-up cost when
  `cerflow.cli` imported all its modules, so the difference is what laziness saves);
- `python -c "import cerflow.cli"` and `python -c "import cerflow.app"`;
- API ready: from spawning `cerflow serve --no-migrate` (uvicorn, one worker, production
  middleware, lifespan with the engine, the job layer and, with `--redis-url`, Redis) until
  `GET /health/live` answers 200; beside it a bare FastAPI app under uvicorn with one
  constant route (the floor for "uvicorn + FastAPI"). The database is migrated once before
  (not timed); by default a throwaway SQLite file, or `--database-url`.

Bytecode: with PYTHONDONTWRITEBYTECODE set (as in the Docker image and on CI) a process
whose source has no compiled `.pyc` beside it compiles every module it imports, each time.
The image ships bytecode (`UV_COMPILE_BYTECODE=1` in its build stage); a checkout usually
has none for `src/`. `--compile-bytecode` runs `python -m compileall` on `src/` first, so the
figures are the image's; `src_bytecode` in the output says how much of `src/cerflow` had
current bytecode when the timing started.

Prints one JSON object, with the load average before and after: on a shared machine the
figures move with the load, so compare the rows of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL_S = 1.5

EAGER_HELP = """
from cerflow.cli import COMMANDS, app, load_commands
for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
    load_commands(module)
app(["--help"], prog_name="cerflow")
"""

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}
"""


def _summary(times: list[float], cpu: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "cpu_median_s": round(statistics.median(cpu), 3),
        "cpu_min_s": round(min(cpu), 3),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_command(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, Any]:
    times, cpu = [], []
    for _ in range(runs):
        cpu_before = _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, cwd=ROOT, timeout=300)
        times.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - cpu_before)  # the child has been waited for
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed: {done.stderr.decode()[-2000:]}")
    return _summary(times, cpu)


def _process_cpu(pid: int) -> float:
    """User + system seconds of a live process and of the children it has waited for."""
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _time_to_live(start_server: Callable[[int], subprocess.Popen[bytes]]) -> tuple[float, float]:
    """Seconds from spawning the server to its first 200 on /health/live, and its CPU then."""
    port = _free_port()
    start = time.perf_counter()
    proc = start_server(port)
    try:
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"server exited with {proc.returncode}: {err[-2000:]}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/health/live", timeout=1
                ) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - start, _process_cpu(proc.pid)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.perf_counter() - start > 120:
                raise SystemExit("server not live after 120 s")
            time.sleep(0.01)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready_summary(
    start_server: Callable[[int], subprocess.Popen[bytes]], runs: int
) -> dict[str, float]:
    pairs = [_time_to_live(start_server) for _ in range(runs)]
    return _summary([w for w, _ in pairs], [c for _, c in pairs])


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _src_bytecode() -> dict[str, int]:
    """How many modules of src/cerflow have a .pyc at least as new as their source."""
    sources = sorted((ROOT / "src" / "cerflow").rglob("*.py"))
    current = 0
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        if cached.exists() and cached.stat().st_mtime >= source.stat().st_mtime:
            current += 1
    return {"modules": len(sources), "with_current_pyc": current}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", default="", help="default: a throwaway SQLite file")
    parser.add_argument("--redis-url", default="", help="default: none (in-process jobs)")
    parser.add_argument(
        "--compile-bytecode",
        action="store_true",
        help="run `python -m compileall` on src/ first (the Docker image ships bytecode)",
    )
    args = parser.parse_args()
    if args.compile_bytecode:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(ROOT / "src")],
            check=True,
            capture_output=True,
        )
    src_bytecode = _src_bytecode()

    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="cerflow-startup-") as tmp:
        env = {
            **os.environ,
            "CERFLOW_DATA_DIR": tmp,
            "CERFLOW_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/cerflow.db",
            "CERFLOW_REDIS_URL": args.redis_url,
            "CERFLOW_LOG_LEVEL": "WARNING",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        subprocess.run(
            [str(BIN / "cerflow"), "db", "upgrade"], env=env, check=True, capture_output=True
        )
        (Path(tmp) / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
        py = sys.executable
        results: dict[str, Any] = {
            "python_pass": _time_command([py, "-c", "pass"], args.runs, env),
            "cerflow_help": _time_command([str(BIN / "cerflow"), "--help"], args.runs, env),
            "eager_help": _time_command([py, "-c", EAGER_HELP], args.runs, env),
            "import_cerflow_cli": _time_command([py, "-c", "import cerflow.cli"], args.runs, env),
            "import_cerflow_app": _time_command([py, "-c", "import cerflow.app"], args.runs, env),
        }

        def serve(port: int) -> subprocess.Popen[bytes]:
            argv = [str(BIN / "cerflow"), "serve", "--no-migrate", "--port", str(port)]
            return subprocess.Popen(
                argv, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )

        def bare(port: int) -> subprocess.Popen[bytes]:
            argv = [py, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--log-level",
                    "warning"]  # fmt: skip
            return subprocess.Popen(
                argv, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )

        results["api_ready"] = _ready_summary(serve, args.runs)
        results["bare_fastapi_ready"] = _ready_summary(bare, args.runs)

    results["goal_s"] = GOAL_S
    results["help_meets_goal"] = results["cerflow_help"]["median_s"] < GOAL_S
    results["api_meets_goal"] = results["api_ready"]["median_s"] < GOAL_S
    results["runs"] = args.runs
    results["database"] = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    results["redis"] = bool(args.redis_url)
    results["src_bytecode"] = src_bytecode
    results["pythondontwritebytecode"] = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    results["cpus"] = os.cpu_count()
    results["load_before"] = load_before
    results["load_after"] = _load()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
