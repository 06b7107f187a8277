"""``python -m bench``: botsessions against grammY, aiogram and python-telegram-bot.

Runs every workload in one invocation (W0 bare dispatch, W1 memory sessions, W2/W2'
persistent storages, W3 concurrency in one process and across processes, W2/W3 on a Redis
Cluster and MariaDB/MySQL, W4 one million memory sessions, the startup phase: import cost,
process start to first reply, the demo's first line; the aiogram FSM across processes, and
the operator command line's export/import throughput), prints the
comparison as Markdown on stdout, shows progress on stderr, and writes
``bench/results/latest.json`` and ``bench/results/latest.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from bench import _scaleout, cli, concurrency, crossprocess, dispatch, fsm, memory, startup
from bench._common import Json
from bench._report import render
from bench._runner import BENCH_DIR, NODE_DIR, Progress, ensure_node_modules, node_child, run_child
from bench._servers import DEFAULT_POSTGRES_DSN, RedisServer, postgres_rtt_us
from bench._targets import check

WORKLOADS = ("W0", "W1", "W2", "W3", "W4", "startup", "fsm", "cli")
RESULTS_DIR = BENCH_DIR / "results"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small N and few repetitions (smoke run)")
    p.add_argument(
        "--only", default=",".join(WORKLOADS), help="comma list of W0,W1,W2,W3,W4,startup,fsm,cli"
    )
    p.add_argument("--reps", type=int, help="repetitions of W0-W2 (default 5, quick 2)")
    p.add_argument("--reps-io", type=int, help="repetitions of the Redis/SQL phases (default 3)")
    p.add_argument("--n", type=int, help="updates per W0-W2 run (default 20000, quick 2000)")
    p.add_argument(
        "--n-sql", type=int, help="updates per SQLite/files/PostgreSQL run (default 2000)"
    )
    p.add_argument("--chats", type=int, default=1000)
    p.add_argument("--k", type=int, help="W3 concurrent updates (default 1000, quick 200)")
    p.add_argument(
        "--w3-processes", type=int, default=4, help="W3 across processes: workers (default 4)"
    )
    p.add_argument("--w3-runs", type=int, help="W3 across processes: bursts per storage (3)")
    p.add_argument("--w4-n", type=int, help="W4 sessions (default 1000000, quick 50000)")
    p.add_argument("--systems", help="comma list to restrict W0-W3 to some systems")
    p.add_argument(
        "--startup-runs", type=int, help="timed runs of each startup measurement (5, quick 2)"
    )
    p.add_argument(
        "--slow-peers", action="store_true", help="also aiogram RedisEventIsolation (~2 min)"
    )
    p.add_argument(
        "--postgres-dsn", default=os.environ.get("BOTSESSIONS_POSTGRES_DSN", DEFAULT_POSTGRES_DSN)
    )
    p.add_argument(
        "--mysql-url",
        default=os.environ.get(_scaleout.MYSQL_ENV, _scaleout.DEFAULT_MYSQL_URL),
        help="MariaDB/MySQL of the scale-out W2/W3 rows (BOTSESSIONS_MYSQL_URL)",
    )
    p.add_argument("--no-cluster", action="store_true", help="skip the Redis Cluster rows of W2/W3")
    p.add_argument("--no-mysql", action="store_true", help="skip the MariaDB/MySQL rows of W2/W3")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="where latest.json/.md go")
    p.add_argument("--no-save", action="store_true", help="print only; write no result files")
    p.add_argument(
        "--render", type=Path, help="re-render the Markdown of a saved JSON; run nothing"
    )
    a = p.parse_args(argv)
    a.reps = a.reps or (2 if a.quick else 5)
    a.reps_io = a.reps_io or min(a.reps, 3)
    a.n = a.n or (2000 if a.quick else 20_000)
    a.n_sql = a.n_sql or (300 if a.quick else 2000)
    a.k = a.k or (200 if a.quick else 1000)
    a.w3_runs = a.w3_runs or (1 if a.quick else 3)
    a.w4_n = a.w4_n or (50_000 if a.quick else 1_000_000)
    a.startup_runs = a.startup_runs or (2 if a.quick else 5)
    if a.w3_processes < 1 or a.w3_processes > a.k:
        p.error(f"--w3-processes must be between 1 and --k ({a.k})")
    spelled = {w.upper(): w for w in WORKLOADS}
    a.only = {spelled.get(w.strip().upper(), w.strip()) for w in a.only.split(",") if w.strip()}
    unknown = a.only - set(WORKLOADS)
    if unknown:
        p.error(f"unknown workload(s) {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    return a


def _sh(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "not available"


def machine(redis: RedisServer, postgres_dsn: str) -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _sh("lscpu").splitlines()
            if "Model name" in line
        ),
        platform.processor(),
    )
    npm = json.loads(_sh("npm", "ls", "--json", "--depth=0", "--prefix", str(NODE_DIR)) or "{}")
    node_pkgs = ", ".join(f"{k} {v['version']}" for k, v in npm.get("dependencies", {}).items())
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "node": _sh("node", "--version"),
        "node packages": node_pkgs,
        "redis-server": redis.version(),
        "postgres": postgres_dsn.rsplit("@", 1)[-1],
    }


def main(argv: list[str] | None = None) -> Json:
    args = _parse(argv)
    if args.render:
        saved: Json = json.loads(args.render.read_text())
        markdown = render(saved, check(saved))
        args.render.with_suffix(".md").write_text(markdown)
        sys.stdout.write(markdown)
        return saved
    started = time.monotonic()
    cpu = 1 if (os.cpu_count() or 1) >= 2 else 0
    systems = args.systems.split(",") if args.systems else None
    phases = [p for p, w in (("memory", "W1"), ("redis", "W2"), ("sql", "W2")) if w in args.only]
    if "W0" in args.only and not phases:
        phases = ["memory"]
    w3_systems = [s for s in concurrency.SYSTEMS if systems is None or s in systems]
    total = len(dispatch.jobs(phases, systems))
    cross = "W3" in args.only and (systems is None or "botsessions" in systems)
    total += len(w3_systems) if "W3" in args.only else 0
    total += 1 if cross else 0
    scale_kinds = [
        kind
        for kind in _scaleout.KINDS
        if not getattr(args, f"no_{kind}") and (systems is None or "botsessions" in systems)
    ]
    scale_only = args.only & {"W2", "W3"}
    total += _scaleout.steps(scale_only, scale_kinds) if scale_kinds else 0
    total += startup.STEPS if "startup" in args.only else 0
    total += 1 if "fsm" in args.only else 0
    total += 1 if "cli" in args.only else 0
    progress = Progress(total)
    ensure_node_modules()
    redis = RedisServer(cpu)
    redis.start()
    results: Json = {}
    phase_s: dict[str, float] = {}
    try:
        meta = machine(redis, args.postgres_dsn)
        try:
            meta["postgres SELECT 1 round trip (µs)"] = (
                f"{asyncio.run(postgres_rtt_us(args.postgres_dsn)):.0f}"
            )
        except Exception as exc:  # the PostgreSQL rows will say why they are missing
            meta["postgres SELECT 1 round trip (µs)"] = f"not available ({exc})"
        meta["pinning"] = f"Redis phase: redis-server and client pinned to CPU {cpu} (taskset)"
        if phases:
            mark = time.monotonic()
            results["dispatch"] = dispatch.run(
                n=args.n,
                n_sql=args.n_sql,
                chats=args.chats,
                reps=args.reps,
                reps_io=args.reps_io,
                phases=phases,
                redis_url=redis.url,
                redis_port=redis.port,
                postgres_dsn=args.postgres_dsn,
                cpu=cpu,
                progress=progress,
                systems=systems,
            )
            phase_s["W0-W2"] = time.monotonic() - mark
        if "W3" in args.only:
            mark = time.monotonic()
            results["w3"] = concurrency.run(
                k=args.k,
                redis_url=redis.url,
                redis_port=redis.port,
                postgres_dsn=args.postgres_dsn,
                workdir=str(BENCH_DIR),
                cpu=cpu,
                progress=progress,
                slow_peers=args.slow_peers,
                systems=w3_systems,
            )
            phase_s["W3"] = time.monotonic() - mark
        if cross:
            mark = time.monotonic()
            progress.show("W3 across processes")
            results.setdefault("w3", {"k": args.k, "rows": [], "failures": {}})
            try:
                results["w3"]["cross_process"] = crossprocess.run(
                    k=args.k,
                    processes=args.w3_processes,
                    runs=args.w3_runs,
                    redis_url=redis.url,
                    postgres_dsn=args.postgres_dsn,
                    progress=progress,
                )
            except Exception as exc:  # reported as not available, the rest still runs
                results["w3"]["failures"]["botsessions across processes"] = repr(exc)
            progress.step()
            phase_s["W3 across processes"] = time.monotonic() - mark
        if scale_kinds and scale_only:
            mark = time.monotonic()
            results["scaleout"] = _scaleout.run(
                only=scale_only,
                kinds=scale_kinds,
                n=args.n_sql,
                chats=args.chats,
                reps=args.reps_io,
                k=args.k,
                processes=args.w3_processes,
                runs=args.w3_runs,
                mysql_url=args.mysql_url,
                cpu=cpu,
                progress=progress,
            )
            for kind, server in results["scaleout"]["servers"].items():
                meta[f"{_scaleout.LABELS[kind]} server"] = server
            phase_s["W2/W3 scale-out"] = time.monotonic() - mark
        if "W4" in args.only:
            mark = time.monotonic()

            def grammy(n: int) -> Json:
                progress.show("W4 grammY")
                return run_child(node_child(["w4", "--w4-n", str(n)]), progress, None)

            progress.show("W4")
            results["w4"] = memory.run(args.w4_n, 1, grammy)
            phase_s["W4"] = time.monotonic() - mark
        if "startup" in args.only:
            mark = time.monotonic()
            results["startup"] = startup.run(args.startup_runs, progress)
            phase_s["startup"] = time.monotonic() - mark
        if "fsm" in args.only:
            mark = time.monotonic()
            results["fsm"] = fsm.run(
                redis_url=redis.url, postgres_dsn=args.postgres_dsn, progress=progress
            )
            progress.step()
            phase_s["fsm"] = time.monotonic() - mark
        if "cli" in args.only:
            mark = time.monotonic()
            cli_n = 2000 if args.quick else 20_000
            results["cli"] = cli.run(cli_n, redis.url, args.postgres_dsn, progress)
            phase_s["cli"] = time.monotonic() - mark
    finally:
        redis.stop()
        progress.finish()
    results["meta"] = {
        "command": "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": time.monotonic() - started,
        "phase_s": phase_s,
        "machine": meta,
        "params": {
            "n": args.n,
            "n_sql": args.n_sql,
            "reps_io": args.reps_io,
            "chats": args.chats,
            "reps": args.reps,
            "k": args.k,
            "w3_processes": args.w3_processes,
            "w3_runs": args.w3_runs,
            "w4_n": args.w4_n,
            "startup_runs": args.startup_runs,
            "scale_out": scale_kinds if scale_only else [],
        },
    }
    markdown = render(results, check(results))
    sys.stdout.write(markdown)
    if not args.no_save:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "quick" if args.quick else "latest"
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
        (args.out / f"{stem}.md").write_text(markdown)
        print(f"wrote {args.out / stem}.json and .md", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
