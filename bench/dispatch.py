"""W0-W2': sequential dispatch of the synthetic stream, per system and storage.

Every (system, phase) runs in a fresh child process, so no framework's objects (parsed
updates, caches, GC generations) slow another's. Inside a child, W0 and the session
workloads run in rotating order after a warm-up pass, ``reps`` times, and the overhead of
a workload is (t(Wx) − t(W0)) / N within the same repetition of that child.

Phases: ``memory`` (unpinned), ``redis`` (client and the dedicated redis-server pinned
to one CPU), ``sql`` (SQLite, files, PostgreSQL; unpinned: the shared PostgreSQL server is
not ours to pin; N is smaller there, as every write reaches the disk).
Run alone: ``python -m bench.dispatch``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

from bench._common import Json, summary
from bench._runner import ChildFailed, Progress, node_child, python_child, run_child

PHASE_SYSTEMS: dict[str, tuple[str, ...]] = {
    "memory": (
        "botsessions",
        "botsessions+aiogram",
        "botsessions+ptb",
        "grammY",
        "aiogram",
        "python-telegram-bot",
    ),
    "redis": ("botsessions", "botsessions+aiogram", "botsessions+ptb", "grammY", "aiogram"),
    "sql": ("botsessions", "botsessions+aiogram", "botsessions+ptb"),
}
PINNED_PHASES = ("redis",)


def jobs(phases: Sequence[str], systems: Sequence[str] | None = None) -> list[tuple[str, str]]:
    return [
        (system, phase)
        for phase in phases
        for system in PHASE_SYSTEMS[phase]
        if systems is None or system in systems
    ]


def _argv(
    system: str,
    phase: str,
    *,
    n: int,
    chats: int,
    reps: int,
    redis_url: str,
    redis_port: int,
    postgres_dsn: str,
    workdir: str,
) -> list[str]:
    if system == "grammY":
        args = [phase, "--n", str(n), "--chats", str(chats), "--reps", str(reps)]
        args += ["--redis-port", str(redis_port), "--count-ops", "1"]
        return node_child(args)
    args = [system, phase, "--n", str(n), "--chats", str(chats), "--reps", str(reps)]
    args += ["--redis-url", redis_url, "--postgres-dsn", postgres_dsn, "--workdir", workdir]
    return python_child([*args, "--count-ops"])


def run(
    *,
    n: int,
    n_sql: int,
    chats: int,
    reps: int,
    reps_io: int,
    phases: Sequence[str],
    redis_url: str,
    redis_port: int,
    postgres_dsn: str,
    cpu: int | None,
    progress: Progress,
    systems: Sequence[str] | None = None,
) -> Json:
    """Run every (system, phase) ``reps`` times; return per-workload summaries."""
    todo = jobs(phases, systems)
    raw: dict[tuple[str, str], list[Json]] = {job: [] for job in todo}
    failures: dict[str, str] = {}
    workdir = tempfile.mkdtemp(prefix="botsessions-bench-")
    for system, phase in todo:
        progress.show(f"{system} {phase}")
        argv = _argv(
            system,
            phase,
            n=n_sql if phase == "sql" else n,
            chats=chats,
            reps=reps if phase == "memory" else reps_io,
            redis_url=redis_url,
            redis_port=redis_port,
            postgres_dsn=postgres_dsn,
            workdir=workdir,
        )
        try:
            raw[(system, phase)].append(
                run_child(argv, progress, cpu if phase in PINNED_PHASES else None)
            )
        except ChildFailed as exc:
            failures[f"{system}/{phase}"] = str(exc)[-1500:]
        progress.step()
    return {
        "systems": _aggregate(raw),
        "failures": failures,
        "n": n,
        "n_sql": n_sql,
        "chats": chats,
        "reps": reps,
        "reps_io": reps_io,
    }


def _aggregate(raw: dict[tuple[str, str], list[Json]]) -> Json:
    out: dict[str, Json] = {}
    for (system, phase), runs in raw.items():
        if not runs:
            continue
        rows: dict[str, Json] = out.setdefault(system, {"workloads": {}, "versions": {}})[
            "workloads"
        ]
        out[system]["versions"] = runs[-1].get("versions", {})
        rtts = [r["redis_get_rtt_us"] for r in runs if "redis_get_rtt_us" in r]
        if rtts:
            out[system]["redis_get_rtt_us"] = summary(rtts)
        for name in runs[0]["workloads"]:
            per_run = [r["workloads"][name] for r in runs]
            key = name if name != "W0" else ("W0" if phase == "memory" else f"W0@{phase}")
            row: Json = {
                "label": per_run[0]["label"],
                "phase": phase,
                "updates_per_s": summary([u for r in per_run for u in r["updates_per_s"]]),
                "checks": per_run[-1]["checks"],
            }
            for extra in ("storage", "locking", "handler"):
                if extra in per_run[0]:
                    row[extra] = per_run[0][extra]
            if "overhead_us" in per_run[0]:
                overheads = [o for r in per_run for o in r["overhead_us"]]
                row["overhead_us"] = summary(overheads)
                if rtts:
                    # one RTT probe per child run, shared by that run's repetitions
                    per_rep = [
                        t for r, t in zip(per_run, rtts, strict=False) for _ in r["overhead_us"]
                    ]
                    row["round_trips"] = summary(
                        [o / t for o, t in zip(overheads, per_rep, strict=True)]
                    )
            for counted in ("redis_commands_per_update", "storage_calls_per_update"):
                found = [r[counted] for r in per_run if counted in r]
                if found:
                    row[counted] = found[0]
            rows[key] = row
    return out


def main() -> None:
    from bench.__main__ import main as run_all

    run_all(["--only", "W0,W1,W2"])


if __name__ == "__main__":
    main()
