"""Results -> Markdown: the comparison table, targets, W3, W4, startup, FSM and cli tables."""

from __future__ import annotations

from typing import Any

from bench import fsm
from bench._common import Json

# workload -> the peers' workload it is compared with
PEER_OF = {
    "W1": "W1",
    "W1u": "W1u",
    "W2-redis": "W2",
    "W2-redis-nolock": "W2",
    "W2u-redis": "W2u",
    "W2u-redis-nolock": "W2u",
}
OURS = ("botsessions", "botsessions+aiogram", "botsessions+ptb")
NA = "not available"


def _f(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _cell(s: Json | None, digits: int = 1) -> str:
    if not s:
        return "—"
    return f"{_f(s['median'], digits)} [{_f(s['min'], digits)}, {_f(s['max'], digits)}]"


SCRIPT_COMMANDS = ("evalsha", "eval", "fcall", "evalsha_ro", "eval_ro", "fcall_ro")


def _list(counted: Json) -> str:
    return ", ".join(f"{name} {v:.2f}".rstrip("0").rstrip(".") for name, v in counted.items() if v)


def _cmds(row: Json) -> str:
    counted = row.get("redis_commands_per_update") or row.get("storage_calls_per_update")
    if not counted:
        return "—"
    scripts = {k: v for k, v in counted.items() if k in SCRIPT_COMMANDS}
    if scripts and "redis_commands_per_update" in row:
        # INFO commandstats also counts the commands a script runs inside the server.
        inside = {k: v for k, v in counted.items() if k not in SCRIPT_COMMANDS}
        return f"{_list(scripts)} (inside the scripts: {_list(inside)})"
    return _list(counted)


def _overhead(systems: Json, system: str, workload: str) -> float | None:
    row = systems.get(system, {}).get("workloads", {}).get(workload)
    if not row or "overhead_us" not in row:
        return None
    value: float = row["overhead_us"]["median"]
    return value


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "—"
    return f"{a / b:.2f}×"


def dispatch_table(d: Json) -> list[str]:
    systems: Json = d["systems"]
    lines = [
        "| system | workload | µs/update over own W0, median [min, max] | upd/s (median) "
        "| × grammY | × aiogram | storage commands (or calls) per update "
        "| round trips per update (overhead / GET RTT) | checks |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for system, data in systems.items():
        for name, row in data["workloads"].items():
            if name.startswith("W0"):
                continue
            ours = row.get("overhead_us", {}).get("median")
            peer = PEER_OF.get(name, name if system in ("aiogram", "python-telegram-bot") else None)
            vs_g = _ratio(ours, _overhead(systems, "grammY", peer)) if peer else "—"
            vs_a = _ratio(ours, _overhead(systems, "aiogram", peer)) if peer else "—"
            if system == "grammY":
                vs_g = "1.00×"
            if system == "aiogram":
                vs_a = "1.00×"
            checks = row.get("checks", {})
            check = "ok" if checks.get("ok") else "FAILED"
            lines.append(
                f"| {system} | {name}: {row['label']} | {_cell(row.get('overhead_us'))} "
                f"| {_f(row['updates_per_s']['median'], 0)} | {vs_g} | {vs_a} | {_cmds(row)} "
                f"| {_cell(row.get('round_trips'), 2)} | {check} |"
            )
    return lines


def bare_table(d: Json) -> list[str]:
    lines = [
        "| system | W0 baseline | µs/update | upd/s median [min, max] |",
        "|---|---|---:|---|",
    ]
    for system, data in d["systems"].items():
        row = data["workloads"].get("W0")
        if row:
            ups = row["updates_per_s"]
            lines.append(
                f"| {system} | {row['label']} | {_f(1e6 / ups['median'], 2)} "
                f"| {_f(ups['median'], 0)} [{_f(ups['min'], 0)}, {_f(ups['max'], 0)}] |"
            )
    return lines


def rtt_lines(d: Json) -> list[str]:
    out = []
    for system, data in d["systems"].items():
        if "redis_get_rtt_us" in data:
            out.append(
                f"- {system}: plain client GET round trip {_cell(data['redis_get_rtt_us'])} µs"
            )
    return out


def w3_table(w3: Json) -> list[str]:
    lines = [
        "| system | config | final counter | lost updates | errors | seconds | × serial floor |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in w3["rows"]:
        floor = (
            f"{r['vs_floor']:.2f}× (floor {r['serial_floor_s']:.2f} s)" if "vs_floor" in r else "—"
        )
        lost = f"**{r['lost']}**" if r["lost"] == 0 else str(r["lost"])
        lines.append(
            f"| {r['system']} | {r['config']} | {r['final']} | {lost} | {r['errors']} "
            f"| {r['seconds']:.2f} | {floor} |"
        )
    return lines


def w3_cross_table(cross: Json) -> list[str]:
    lines = [
        "| system | storage, workers × updates | final counter (each run) | lost updates | errors "
        "| seconds, median [min, max] | × serial floor, median [min, max] |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in cross["rows"]:
        finals = " / ".join(str(run["final"]) for run in r["runs"])
        lost = f"**{r['lost']}**" if r["lost"] == 0 else str(r["lost"])
        lines.append(
            f"| {r['system']} | {r['config']} | {finals} | {lost} | {r['errors']} "
            f"| {_cell(r['seconds'], 2)} | {_cell(r['vs_floor'], 2)}× "
            f"(floor {r['serial_floor_s']:.2f} s) |"
        )
    return lines


def w4_table(w4: Json) -> list[str]:
    lines = [
        "| system | TTL | µs/write | bytes/session | expired sessions reclaimed |",
        "|---|---|---:|---:|---|",
    ]
    for system, r in w4["rows"].items():
        if system == "grammY":
            reclaim = (
                f"no: {r['entries_after_expiry']:,} entries still held after expiry + 1,000 writes"
                if not r["reclaimed"]
                else "yes"
            )
            lines.append(
                f"| grammY | 1 s | {r['us_per_write']:.2f} | {r['bytes_per_session']:.0f} "
                f"(V8 heap) | {reclaim} |"
            )
            continue
        if system == "botsessions":
            reclaim = (
                f"{r['reclaimed_fraction'] * 100:.0f}% of their memory given back after "
                f"{r['reclaim_writes']:,} writes by 1,000 live chats (no reads); "
                f"{r['retained_bytes_per_expired_session']:.0f} B per expired session retained"
            )
        else:
            reclaim = "no TTL"
        size = f"{_cell(r['bytes_per_session'], 0)} (tracemalloc"
        if "bytes_per_live_session" in r:  # with a TTL, early sessions expire during the fill
            size += f"; {_cell(r['bytes_per_live_session'], 0)} per session still live"
        lines.append(
            f"| {system} | {'1 s' if r['ttl'] else 'none'} | {_cell(r['us_per_write'], 2)} "
            f"| {size}) | {reclaim} |"
        )
    return lines


def startup_table(startup: Json) -> list[str]:
    lines = [
        "| measurement | system | seconds, median [min, max] | × reference "
        "| modules loaded | peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    imports: Json = startup.get("imports") or {}
    reference = imports.get("python-telegram-bot", {}).get("seconds", {}).get("median")
    for system, row in imports.items():
        lines.append(
            f"| {row['label']} (in the child, interpreter start excluded) | {system} "
            f"| {_cell(row['seconds'], 3)} | {_ratio(row['seconds']['median'], reference)} "
            f"vs telegram.ext | {row['modules']:,} | {_f(row['max_rss_mb']['median'], 0)} |"
        )
    replies: Json = startup.get("first_reply") or {}
    reference = replies.get("grammY", {}).get("seconds", {}).get("median")
    for system, row in replies.items():
        lines.append(
            f"| process start → first reply (`{row['label']}`) | {system} "
            f"| {_cell(row['seconds'], 3)} | {_ratio(row['seconds']['median'], reference)} "
            "vs grammY | — | — |"
        )
    demo: Json = startup.get("demo") or {}
    if demo:
        lines.append(
            f"| demo: process start → first line (“{demo['first_line'][:60]}”) | botsessions "
            f"| {_cell(demo['first_line_s'], 3)} | — | — | — |"
        )
    return lines


REFERENCE_W2 = ("W2-redis", "W2-redis-nolock", "W2-postgres", "W2-postgres-nolock")


def _w2_line(storage: str, name: str, row: Json, rtt: float | None) -> str:
    return (
        f"| {storage} | {name}: {row['label']} | {_cell(row.get('overhead_us'))} "
        f"| {_f(row['updates_per_s']['median'], 0)} | {_f(rtt)} "
        f"| {_cell(row.get('round_trips'), 2)} "
        f"| {_list(row.get('storage_calls_per_update') or {}) or '—'} "
        f"| {_cmds(row) if 'redis_commands_per_update' in row else '—'} "
        f"| {'ok' if row.get('checks', {}).get('ok') else 'FAILED'} |"
    )


def scaleout_w2_table(scale: Json, dispatch: Json | None) -> list[str]:
    """The scale-out W2 rows, under this run's single-Redis and PostgreSQL rows of the bot layer."""
    lines = [
        "| storage | workload | µs/update over own W0, median [min, max] | upd/s (median) "
        "| driver round trip (µs) | round trips per update (overhead / driver RTT) "
        "| storage calls per update | Redis commands per update (all nodes) | checks |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    ours = ((dispatch or {}).get("systems") or {}).get("botsessions") or {}
    rtt = (ours.get("redis_get_rtt_us") or {}).get("median")
    for name in REFERENCE_W2:
        row = ours.get("workloads", {}).get(name)
        if row:
            storage = f"{row.get('storage', '—')} (reference)"
            lines.append(_w2_line(storage, name, row, rtt if "redis" in name else None))
    for kind, found in scale.get("w2", {}).items():
        for name, row in found["workloads"].items():
            lines.append(_w2_line(kind, name, row, found["rtt_us"]))
    return lines


def cli_table(cli: Json) -> list[str]:
    lines = [
        "| storage | sessions | export (sessions/s) | import under the lock (sessions/s) "
        "| import `--no-lock` (sessions/s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, row in cli.items():
        if "error" in row:
            lines.append(f"| {kind} | {NA}: {row['error'][:160]} | | | |")
            continue
        locked = row.get("import_locked_per_s", row.get("import_per_s"))
        direct = row.get("import_no_lock_per_s")
        lines.append(
            f"| {kind} | {row['n']:,} | {_f(row.get('export_per_s'), 0)} | {_f(locked, 0)} "
            f"| {_f(direct, 0) if direct is not None else 'same path (no lock)'} |"
        )
    return lines


def _why(msg: str) -> str:
    lines = msg.strip().splitlines() or [""]
    return lines[-1][:200]


def _with_scaleout(cross: Json | None, scale: Json | None) -> Json | None:
    """One cross-process table: the scale-out storages' rows after the others."""
    if not scale or not scale.get("rows"):
        return cross
    if not cross:
        return scale
    return {
        **cross,
        "rows": cross["rows"] + scale["rows"],
        "failures": {**cross["failures"], **scale["failures"]},
    }


def render(results: Json, targets: list[str]) -> str:
    meta = results["meta"]
    out: list[str] = ["# botsessions benchmark results", ""]
    out.append(f"Command: `{meta['command']}`  ")
    out.append(f"Date: {meta['date']}, total {meta['wall_s'] / 60:.1f} min")
    if meta.get("phase_s"):
        spent = ", ".join(f"{name} {s / 60:.1f} min" for name, s in meta["phase_s"].items())
        out[-1] += "  "
        out.append(f"Phases: {spent}")
    out.append("")
    out.append("| machine | |")
    out.append("|---|---|")
    for key, value in meta["machine"].items():
        out.append(f"| {key} | {value} |")
    out.append("")
    if targets:
        out += ["## Targets", "", *targets, ""]
    d: Any = results.get("dispatch")
    if d:
        out += [
            f"## Session overhead (N={d['n']:,} updates over {d['chats']:,} chats; "
            f"SQLite/files/PostgreSQL N={d['n_sql']:,}; {d['reps']} runs in memory, "
            f"{d['reps_io']} with storages)",
            "",
            *dispatch_table(d),
            "",
            "Client round trips measured in the same runs (Redis phase, client and server "
            "on one CPU):",
            "",
            *rtt_lines(d),
            "",
            "## Bare dispatch (W0)",
            "",
            *bare_table(d),
            "",
        ]
        if d["failures"]:
            out += ["## Not available", ""]
            out += [
                f"- {job}: {NA} ({msg.strip().splitlines()[-1][:200]})"
                for job, msg in d["failures"].items()
            ]
            out.append("")
    scale: Json = results.get("scaleout") or {}
    if scale.get("w2"):
        out += [
            f"## W2 on the scale-out storages (N={scale['n']:,}, {scale['reps']} runs, bot layer)",
            "",
            *scaleout_w2_table(scale, d),
            "",
        ]
    if scale.get("failures"):
        out += ["Scale-out storages not available:", ""]
        out += [f"- {what}: {NA} ({_why(msg)})" for what, msg in scale["failures"].items()]
        out.append("")
    w3: Json = results.get("w3") or {}
    if not w3 and (scale.get("w3") or scale.get("cross_process")):
        w3 = {"k": scale["k"], "rows": [], "failures": {}}
    if w3:
        out += [
            f"## W3: {w3['k']:,} concurrent updates of one chat",
            "",
            *w3_table({"rows": w3["rows"] + scale.get("w3", [])}),
            "",
        ]
        for system, msg in w3["failures"].items():
            out.append(f"- {system}: {NA} ({msg.strip().splitlines()[-1][:200]})")
        if w3["failures"]:
            out.append("")
        cross = _with_scaleout(w3.get("cross_process"), scale.get("cross_process"))
        if cross:
            out += [
                f"### W3 across processes: {cross['processes']} bot processes × "
                f"{cross['per_process']:,} updates of one chat, one shared storage "
                f"({cross['runs']} {'run' if cross['runs'] == 1 else 'runs'} each)",
                "",
                *w3_cross_table(cross),
                "",
            ]
            for what, msg in cross["failures"].items():
                out.append(f"- {what}: {NA} ({msg.strip().splitlines()[-1][:200]})")
            if cross["failures"]:
                out.append("")
    if results.get("w4"):
        out += [f"## W4: {results['w4']['n']:,} memory sessions", "", *w4_table(results["w4"]), ""]
    startup: Any = results.get("startup")
    if startup:
        out += [
            f"## Startup ({startup['runs']} runs each after one warm-up, fresh processes)",
            "",
            *startup_table(startup),
            "",
        ]
        for what, msg in startup["failures"].items():
            out.append(f"- {what}: {NA} ({msg.strip().splitlines()[-1][:200]})")
        if startup["failures"]:
            out.append("")
    fsm_section = fsm.render(results.get("fsm"))
    if fsm_section:
        out += [*fsm_section.strip("\n").split("\n"), ""]
    if results.get("cli"):
        out += ["## Operator command line: export and import", "", *cli_table(results["cli"]), ""]
    if results.get("missing"):
        out += ["## Missing pieces", ""]
        out += [f"- {m}" for m in results["missing"]]
    return "\n".join(out) + "\n"
