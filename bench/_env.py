"""What a benchmark child process gets from the runner, and the per-phase driver."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bench._common import Json, Workload, progress, run_once, run_workloads
from bench._servers import redis_commands, redis_get_rtt_us, redis_reset

PHASES = ("memory", "redis", "sql")
COUNT_UPDATES = 5000


@dataclass(frozen=True)
class Env:
    """Parameters of one child run."""

    n: int
    chats: int
    reps: int
    rotation: int
    redis_url: str
    postgres_dsn: str
    workdir: str
    count_ops: bool
    k: int = 1000


WorkloadFactory = Callable[[str, Env], Awaitable[Sequence[Workload]]]


async def drive(system: str, phase: str, env: Env, factory: WorkloadFactory) -> Json:
    """Time one phase of one system; add Redis command counts and the client RTT."""
    workloads = list(await factory(phase, env))
    if not workloads:
        return {"system": system, "phase": phase, "workloads": {}}
    result: Json = {"system": system, "phase": phase}
    if phase == "redis":
        await redis_reset(env.redis_url)
        result["redis_get_rtt_us"] = await redis_get_rtt_us(env.redis_url)
    result["workloads"] = await run_workloads(system, workloads, env.n, env.reps, env.rotation)
    if env.count_ops:
        # Storage phases count over at most 5,000 updates (the counts per changed update do
        # not depend on N; first-visit writes are chats / N either way).
        n = env.n if phase == "memory" else min(env.n, COUNT_UPDATES)
        for w in workloads[1:]:
            if w.counts_redis:
                progress(f"{system} command counts {w.name}")
                await redis_reset(env.redis_url)
                await run_once(w, n)
                commands = await redis_commands(env.redis_url)
                result["workloads"][w.name]["redis_commands_per_update"] = {
                    name: calls / n for name, calls in sorted(commands.items())
                }
            if w.count_calls is not None:
                progress(f"{system} storage calls {w.name}")
                result["workloads"][w.name]["storage_calls_per_update"] = await w.count_calls(n)
    return result
