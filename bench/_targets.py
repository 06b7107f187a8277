"""The targets botsessions holds itself to, checked against one run's results."""

from __future__ import annotations

from bench._common import Json
from bench._scaleout_child import LABELS as LABELS_SCALE
from bench.crossprocess import LABELS


def _median(results: Json, system: str, workload: str, field: str = "overhead_us") -> float | None:
    d = results.get("dispatch") or {}
    row = d.get("systems", {}).get(system, {}).get("workloads", {}).get(workload)
    if not row or field not in row:
        return None
    value: float = row[field]["median"]
    return value


def _startup_ratio(startup: Json, section: str, ours: str, peer: str) -> float | None:
    """``ours`` / ``peer`` of the median seconds in one startup section, if both ran."""
    rows = startup.get(section) or {}
    if ours not in rows or peer not in rows:
        return None
    theirs: float = rows[peer]["seconds"]["median"]
    return None if theirs <= 0 else float(rows[ours]["seconds"]["median"]) / theirs


# Redis round trips per update (overhead / a plain GET's): one lock-and-read and one
# write-and-unlock for a changed update; the unchanged one should cost no more than two.
_ROUND_TRIP_GOALS = (("W2-redis", "changed update", 2.5), ("W2u-redis", "unchanged session", 2.0))


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def check(results: Json) -> list[str]:
    """One Markdown table row per target: measured value, target, met or missed."""
    rows = ["| target | measured | goal | status |", "|---|---|---|---|"]

    def add(
        name: str, value: float | None, goal: str, ok: bool | None, fmt: str = "{:.2f}"
    ) -> None:
        shown = "not available" if value is None else fmt.format(value)
        rows.append(f"| {name} | {shown} | {goal} | {_mark(None if value is None else ok)} |")

    g_w1 = _median(results, "grammY", "W1")
    a_w1 = _median(results, "aiogram", "W1")
    a_w2 = _median(results, "aiogram", "W2")
    for system in ("botsessions", "botsessions+aiogram", "botsessions+ptb"):
        w1 = _median(results, system, "W1")
        r = None if w1 is None or not g_w1 else w1 / g_w1
        # The bot layer is held to half of grammY's cost; the glue, inside a framework's
        # own dispatch, to grammY's.
        limit = 0.5 if system == "botsessions" else 1.0
        add(
            f"{system}: memory session overhead / grammY's",
            r,
            f"≤ {limit}×",
            r is not None and r <= limit,
        )
        r = None if w1 is None or not a_w1 else w1 / a_w1
        add(
            f"{system}: memory session overhead / aiogram FSM's",
            r,
            "≤ 0.25×",
            r is not None and r <= 0.25,
        )
        w2 = _median(results, system, "W2-redis")
        r = None if w2 is None or not a_w2 else w2 / a_w2
        add(
            f"{system}: Redis (lock on) overhead / aiogram FSM's",
            r,
            "≤ 0.4×",
            r is not None and r <= 0.4,
        )
        for workload, what, limit in _ROUND_TRIP_GOALS:
            trips = _median(results, system, workload, "round_trips")
            add(
                f"{system}: Redis, lock on, {what}: overhead / GET round trip",
                trips,
                f"≤ {limit}",
                trips is not None and trips <= limit,
            )
        rt = _median(results, system, "W2-redis", "round_trips")
        locked = _median(results, system, "W2-redis")
        unlocked = _median(results, system, "W2-redis-nolock")
        cost = None if locked is None or unlocked is None else locked - unlocked
        add(f"{system}: uncontended Redis lock cost, µs/update", cost, "reported", True, "{:+.1f}")
        rt_u = _median(results, system, "W2-redis-nolock", "round_trips")
        cost_rt = None if rt is None or rt_u is None else rt - rt_u
        add(
            f"{system}: uncontended Redis lock cost, round trips",
            cost_rt,
            "reported",
            True,
            "{:+.2f}",
        )
        pl = _median(results, system, "W2-postgres")
        pu = _median(results, system, "W2-postgres-nolock")
        cost = None if pl is None or pu is None else pl - pu
        add(
            f"{system}: uncontended PostgreSQL lock cost, µs/update",
            cost,
            "reported",
            True,
            "{:+.1f}",
        )
    for name in ("botsessions", "aiogram"):
        d = results.get("dispatch") or {}
        row = d.get("systems", {}).get(name, {}).get("workloads", {}).get("W0")
        value = None if not row else 1e6 / row["updates_per_s"]["median"]
        add(f"{name}: bare dispatch µs/update", value, "reported side by side", True)
    scale: Json = results.get("scaleout") or {}
    for kind, found in scale.get("w2", {}).items():
        rows_of = found["workloads"]
        locked, unlocked = rows_of.get(f"W2-{kind}"), rows_of.get(f"W2-{kind}-nolock")
        label = LABELS_SCALE[kind]
        rt = None if locked is None else float(locked["round_trips"]["median"])
        add(f"{label}: round trips per changed update, lock on", rt, "reported", True)
        cost = None
        if locked is not None and unlocked is not None:
            cost = locked["overhead_us"]["median"] - unlocked["overhead_us"]["median"]
        add(f"{label}: uncontended lock cost, µs/update", cost, "reported", True, "{:+.1f}")
    w3 = results.get("w3") or {}
    ours = [r for r in w3.get("rows", []) if r["system"].startswith("botsessions")]
    cross = (w3.get("cross_process") or {}).get("rows", [])
    cross = cross + ((scale.get("cross_process") or {}).get("rows") or [])
    scale_w3 = scale.get("w3") or []
    if ours or cross or scale_w3:
        lost = sum(r["lost"] for r in [*ours, *cross, *scale_w3])
        add(
            "W3: lost updates, all botsessions configurations"
            + (" (one process and across processes)" if cross else ""),
            float(lost),
            "0",
            lost == 0,
            "{:.0f}",
        )
    for r in ours:
        one = float(r["vs_floor"])
        add(
            f"W3, one process, {r['system']}, {r['config']}: time / serial floor",
            one,
            "≤ 1.2×",
            one <= 1.2,
        )
    for r in scale_w3:
        one = float(r["vs_floor"])
        label = LABELS_SCALE[r["storage"]]
        add(f"W3, one process, {label}: time / serial floor", one, "≤ 1.2×", one <= 1.2)
    spec = w3.get("cross_process") or scale.get("cross_process")
    if spec:
        found = {r["storage"]: r for r in cross}
        shape = f"{spec['processes']} processes × {spec['per_process']:,}"
        wanted = {**(LABELS if w3.get("cross_process") else {}), **(LABELS_SCALE if scale else {})}
        for backend, label in wanted.items():
            r = found.get(backend)
            ratio = None if r is None else float(r["vs_floor"]["median"])
            runs = "" if r is None else f", median of {len(r['runs'])}"
            add(
                f"W3 across processes, {label} ({shape}): time / serial floor{runs}",
                ratio,
                "≤ 1.2×",
                ratio is not None and ratio <= 1.2,
            )
    w4 = (results.get("w4") or {}).get("rows") or {}
    if "botsessions" in w4 and "grammY" in w4:
        ours_w4 = float(w4["botsessions"]["us_per_write"]["median"])
        theirs = w4["grammY"]["us_per_write"]
        theirs_us = float(theirs["median"] if isinstance(theirs, dict) else theirs)
        r = ours_w4 / theirs_us if theirs_us > 0 else None
        add(
            "W4, 1,000,000 memory sessions: µs per write / grammY's",
            r,
            "≤ 1.0×",
            r is not None and r <= 1.0,
        )
    fsm_rows = (results.get("fsm") or {}).get("rows") or []
    for r in fsm_rows:
        if not str(r["config"]).startswith("FSMStorage"):
            continue
        one = float(r["vs_floor"])
        shape = f" ({r['processes']} processes × {r['per_process']})" if "processes" in r else ""
        add(f"aiogram FSM, {r['config']}{shape}: time / serial floor", one, "≤ 1.5×", one <= 1.5)
    if fsm_rows:
        lost = sum(int(r["lost"]) for r in fsm_rows)
        add(
            "aiogram FSM across processes: lost updates, all configurations",
            float(lost),
            "0",
            lost == 0,
            "{:.0f}",
        )
    startup = results.get("startup")
    if startup:
        r = _startup_ratio(startup, "first_reply", "botsessions", "grammY")
        add(
            "startup: process start → first reply, examples/counter.py / grammY's counter bot",
            r,
            "≤ 1.5×",
            r is not None and r <= 1.5,
        )
        r = _startup_ratio(startup, "imports", "botsessions", "python-telegram-bot")
        add(
            "startup: import botsessions / import telegram.ext",
            r,
            "≤ 0.5×",
            r is not None and r <= 0.5,
        )
        r = _startup_ratio(startup, "imports", "botsessions", "aiogram")
        add("startup: import botsessions / import aiogram", r, "reported", True)
        demo = (startup.get("demo") or {}).get("first_line_s")
        add(
            "startup: the demo's first line, seconds",
            None if demo is None else float(demo["median"]),
            "reported",
            True,
        )
    return rows
