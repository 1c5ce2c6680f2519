"""Turn one benchmark run (the raw JSON) into the printed table and ``docs/performance.md``.

The page is regenerated on every run. Text between :data:`NOTES_START` and
:data:`NOTES_END` is written by people (what a profile means, what a missed
target would take) and is carried over from the previous page unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tools.bench import audit_scale, gc_share, scale_load, stream_ttfb
from tools.bench import profile as profile_mod

NOTES_START: Final = "<!-- notes:start (kept across runs) -->"
NOTES_END: Final = "<!-- notes:end -->"
MIB: Final = 1024 * 1024

SYSTEM_LABELS: Final = {
    "direct": "direct (wrk/hey -> nginx)",
    "nginx_inject": "nginx-inject",
    "mitmproxy_inject": "mitmproxy-inject",
    "floor": "framework floor (Quart+Hypercorn)",
    "floor_uvicorn": "Quart+Uvicorn (for reference)",
    "tap": "TAP (Uvicorn, the default)",
    "tap_oauth2": "TAP, OAuth 2 (cached token)",
    "tap_hypercorn": "TAP (Hypercorn)",
}


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: str
    met: bool | None
    """None when the run could not measure it."""


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or b is None or not b:
        return None
    return float(a) / float(b)


def _pct(a: Any, b: Any) -> float | None:
    ratio = _ratio(a, b)
    return None if ratio is None else ratio * 100


def targets(results: dict[str, Any]) -> list[Target]:
    """Every target of the performance issue, with what this run measured."""
    sat = {k: _get(v, "saturation", "rps") for k, v in results.get("systems", {}).items()}
    out: list[Target] = []
    cpu = {
        k: _get(v, "cpu", "200", "cpu_ms_per_request")
        for k, v in results.get("systems", {}).items()
    }
    # NOTE: the floor is Quart+Hypercorn. TAP's default server is Uvicorn, so each
    # figure also names the floor under Uvicorn, and TAP under Hypercorn against its own.
    cpu_ratio = _ratio(cpu.get("tap"), cpu.get("floor"))
    out.append(
        Target(
            "CPU per forwarded request <= 1.5x the framework floor's",
            f"{_f(cpu.get('tap'), 3)} vs {_f(cpu.get('floor'), 3)} ms = {_f(cpu_ratio, 2)}x "
            f"(against Quart+Uvicorn {_f(_ratio(cpu.get('tap'), cpu.get('floor_uvicorn')), 2)}x; "
            f"TAP under Hypercorn {_f(_ratio(cpu.get('tap_hypercorn'), cpu.get('floor')), 2)}x)",
            None if cpu_ratio is None else cpu_ratio <= 1.5,
        )
    )
    floor_ratio = _ratio(sat.get("tap"), sat.get("floor"))
    out.append(
        Target(
            "Saturation >= 50% of the framework floor",
            f"{_f(sat.get('tap'), 0)} vs {_f(sat.get('floor'), 0)} req/s = "
            f"{_f(floor_ratio and floor_ratio * 100, 0)}% (against Quart+Uvicorn "
            f"{_f(_pct(sat.get('tap'), sat.get('floor_uvicorn')), 0)}%; TAP under Hypercorn "
            f"{_f(_pct(sat.get('tap_hypercorn'), sat.get('floor')), 0)}%)",
            None if floor_ratio is None else floor_ratio >= 0.5,
        )
    )
    mitm_ratio = _ratio(sat.get("tap"), sat.get("mitmproxy_inject"))
    out.append(
        Target(
            "Saturation above mitmproxy-inject",
            f"{_f(sat.get('tap'), 0)} vs {_f(sat.get('mitmproxy_inject'), 0)} req/s = "
            f"{_f(mitm_ratio, 2)}x",
            None if mitm_ratio is None else mitm_ratio > 1.0,
        )
    )
    oauth2_ratio = _ratio(sat.get("tap_oauth2"), sat.get("tap"))
    out.append(
        Target(
            "OAuth 2 credential (cached token) within 10% of an api-key credential",
            f"{_f(sat.get('tap_oauth2'), 0)} vs {_f(sat.get('tap'), 0)} req/s = "
            f"{_f(oauth2_ratio and oauth2_ratio * 100, 0)}%",
            None if oauth2_ratio is None else oauth2_ratio >= 0.9,
        )
    )
    added = results.get("added_latency_200") or {}
    p50, p99 = added.get("p50_ms"), added.get("p99_ms")
    out.append(
        Target(
            "Added latency over direct at 200 req/s: p50 <= 2 ms",
            f"{_f(p50, 2)} ms",
            None if p50 is None else p50 <= 2.0,
        )
    )
    floor_p99 = _get(results, "systems", "floor", "fixed", "200", "p99_ms")
    tap_p99 = _get(results, "systems", "tap", "fixed", "200", "p99_ms")
    gc_pct = _get(results, "systems", "tap", "gc", "200", "gc_share_pct")
    out.append(
        Target(
            "Added latency over direct at 200 req/s: p99 <= 10 ms",
            f"{_f(p99, 2)} ms (TAP's p99 {_f(tap_p99, 2)} ms, the floor's own "
            f"{_f(floor_p99, 2)} ms; GC {_f(gc_pct, 1)}% of TAP's CPU)",
            None if p99 is None else p99 <= 10.0,
        )
    )
    san = _get(results, "sizes", "10m", "sanitize_ms")
    e2e = _get(results, "sizes", "10m", "added_p50_ms")
    out.append(
        Target(
            "Sanitizing a 10 MiB text response adds <= 50 ms",
            f"{_f(san, 1)} ms in the sanitizer ({_f(e2e, 1)} ms added end to end, p50)",
            None if san is None else san <= 50.0,
        )
    )
    e2e_ratio = _ratio(e2e, san)
    out.append(
        Target(
            "10 MiB text response: added p50 <= 3x the sanitizer's time",
            f"{_f(e2e, 1)} ms added vs {_f(san, 1)} ms in the sanitizer = {_f(e2e_ratio, 2)}x",
            None if e2e_ratio is None else e2e_ratio <= 3.0,
        )
    )
    small = _get(results, "scale", "cached", "10", "p50_ms")
    large = _get(results, "scale", "cached", "10000", "p50_ms")
    growth = _ratio(large, small)
    out.append(
        Target(
            "10,000 agents/credentials: p50 within 10% of 10",
            f"{_f(large, 2)} vs {_f(small, 2)} ms ({_f(growth and (growth - 1) * 100, 1)}%)",
            None if growth is None else growth <= 1.10,
        )
    )
    approval = _get(results, "approval", "p99_ms")
    missing = _get(results, "approval", "missing")
    out.append(
        Target(
            "Decision-to-upstream p99 <= 50 ms",
            f"{_f(approval, 1)} ms (p50 {_f(_get(results, 'approval', 'p50_ms'), 1)} ms, "
            f"{missing if missing is not None else 'n/a'} missing)",
            None if approval is None else approval <= 50.0 and not missing,
        )
    )
    chain = results.get("audit_chain") or {}
    share = chain.get("share_pct")
    out.append(
        Target(
            "Audit hash chain costs <= 5% of throughput",
            f"+{_f(chain.get('extra_us_per_record'), 1)} us/record vs "
            f"{_f(chain.get('tap_cpu_ms_per_request'), 3)} ms CPU/request = {_f(share, 2)}%",
            None if share is None else share <= 5.0,
        )
    )
    out.append(Target(*stream_ttfb.target(results)))
    out += [Target(*row) for row in scale_load.targets(results)]
    out.append(Target(*audit_scale.target(results)))
    rss = _get(results, "systems", "tap", "rss", "largest_process_bytes")
    out.append(
        Target(
            "Peak RSS per worker <= 200 MiB under load",
            f"{_f(rss and rss / MIB, 0)} MiB",
            None if rss is None else rss <= 200 * MIB,
        )
    )
    return out


def _verdict(target: Target) -> str:
    return "not measured" if target.met is None else ("met" if target.met else "MISSED")


def _mib(value: Any) -> str:
    return "n/a" if not value else _f(value / MIB, 0)


def _lat(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "n/a"
    return f"{_f(entry.get('p50_ms'), 2)} / {_f(entry.get('p90_ms'), 2)} / {_f(entry.get('p99_ms'), 2)}"


def _cpu(system: dict[str, Any]) -> str:
    entry = _get(system, "cpu", "200")
    if not isinstance(entry, dict) or "cpu_ms_per_request" not in entry:
        return "n/a"
    text = _f(entry["cpu_ms_per_request"], 3)
    if entry.get("postgres_cpu_ms_per_request"):
        text += f" (+{_f(entry['postgres_cpu_ms_per_request'], 3)} Postgres)"
    return text


def systems_table(results: dict[str, Any]) -> list[list[str]]:
    half = results.get("half_tap_rps")
    rows = [
        [
            "system",
            "saturation req/s",
            "sat. errors",
            "p50/p90/p99 ms @200",
            f"p50/p90/p99 ms @{_f(half, 0)}",
            "fixed-rate errors",
            "peak RSS tree MiB",
            "largest process MiB",
            "CPU ms/request @200",
            "other CPU % (max)",
        ]
    ]
    for key, label in SYSTEM_LABELS.items():
        system = results.get("systems", {}).get(key)
        if not system:
            continue
        fixed = system.get("fixed", {})
        errors = sum(int(v.get("errors", 0)) for v in fixed.values() if isinstance(v, dict))
        rss = system.get("rss") or {}
        rows.append(
            [
                label,
                _f(_get(system, "saturation", "rps"), 0),
                str(_get(system, "saturation", "errors") if system.get("saturation") else "n/a"),
                _lat(fixed.get("200")),
                _lat(fixed.get("half")),
                str(errors),
                _f(rss.get("total_bytes") and rss["total_bytes"] / MIB, 0),
                _f(rss.get("largest_process_bytes") and rss["largest_process_bytes"] / MIB, 0),
                _cpu(system),
                _f(max((system.get("background_cpu_pct") or {}).values(), default=None), 0),
            ]
        )
    return rows


def ratio_rows(results: dict[str, Any]) -> list[list[str]]:
    sat = {k: _get(v, "saturation", "rps") for k, v in results.get("systems", {}).items()}
    rows = [["ratio", "value"]]
    for name, other in (
        ("TAP / framework floor", "floor"),
        ("TAP / mitmproxy-inject", "mitmproxy_inject"),
        ("TAP / nginx-inject", "nginx_inject"),
        ("TAP / direct", "direct"),
        ("TAP (Uvicorn, the default) / TAP (Hypercorn)", None),
    ):
        if other is None:
            value = _ratio(sat.get("tap"), sat.get("tap_hypercorn"))
        else:
            value = _ratio(sat.get("tap"), sat.get(other))
        rows.append([name, f"{_f(value, 2)}x"])
    cpu = {
        k: _get(v, "cpu", "200", "cpu_ms_per_request")
        for k, v in results.get("systems", {}).items()
    }
    for name, mine, other in (
        ("CPU per request, TAP / framework floor", "tap", "floor"),
        ("CPU per request, TAP / Quart+Uvicorn", "tap", "floor_uvicorn"),
        ("CPU per request, TAP (Hypercorn) / framework floor", "tap_hypercorn", "floor"),
        ("CPU per request, TAP / mitmproxy-inject", "tap", "mitmproxy_inject"),
    ):
        rows.append([name, f"{_f(_ratio(cpu.get(mine), cpu.get(other)), 2)}x"])
    for rate in ("200", "half"):
        added = results.get(f"added_latency_{rate}") or {}
        label = "200" if rate == "200" else _f(results.get("half_tap_rps"), 0)
        rows.append(
            [
                f"TAP added latency over direct @{label} req/s (p50 / p90 / p99)",
                f"{_f(added.get('p50_ms'), 2)} / {_f(added.get('p90_ms'), 2)} / "
                f"{_f(added.get('p99_ms'), 2)} ms",
            ]
        )
    return rows


def size_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = [
        [
            "body",
            "direct p50 ms",
            "TAP p50 / p99 ms",
            "added p50 ms",
            "sanitizer ms",
            "sanitizer ms/MiB",
            "errors",
        ]
    ]
    for name, entry in (results.get("sizes") or {}).items():
        rows.append(
            [
                name,
                _f(_get(entry, "direct", "p50_ms"), 2),
                f"{_f(_get(entry, 'tap', 'p50_ms'), 2)} / {_f(_get(entry, 'tap', 'p99_ms'), 2)}",
                _f(entry.get("added_p50_ms"), 2),
                _f(entry.get("sanitize_ms"), 2),
                _f(entry.get("sanitize_ms_per_mib"), 2),
                str((_get(entry, "direct", "errors") or 0) + (_get(entry, "tap", "errors") or 0)),
            ]
        )
    return rows


def scale_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = [
        [
            "agents + credentials",
            "cache",
            "p50 / p90 / p99 ms @200",
            "errors",
            "CPU ms/request (TAP + Postgres)",
            "other CPU %",
        ]
    ]
    for cache in ("cached", "uncached"):
        for count in ("10", "10000"):
            entry = _get(results, "scale", cache, count)
            if entry is None:
                continue
            label = (
                f"on (TTL {results.get('cache_ttl_secs', 30)} s)"
                if cache == "cached"
                else "off (TTL 0)"
            )
            rows.append(
                [
                    f"{int(count):,}",
                    label,
                    _lat(entry),
                    str(entry.get("errors")),
                    f"{_f(entry.get('cpu_ms_per_request'), 3)} + "
                    f"{_f(entry.get('postgres_cpu_ms_per_request'), 3)}",
                    _f(entry.get("background_cpu_pct"), 0),
                ]
            )
    return rows


def render_table(rows: list[list[str]]) -> str:
    """Plain-text table for the terminal."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def terminal(results: dict[str, Any]) -> str:
    parts = [
        render_table(systems_table(results)),
        render_table(ratio_rows(results)),
        render_table(size_rows(results)),
        render_table(scale_rows(results)),
        render_table(
            [["target", "measured", "verdict"]]
            + [[t.name, t.measured, _verdict(t)] for t in targets(results)]
        ),
    ]
    return "\n\n".join(parts)


def _kept_notes(previous: str | None) -> str:
    if previous and NOTES_START in previous and NOTES_END in previous:
        start = previous.index(NOTES_START) + len(NOTES_START)
        return previous[start : previous.index(NOTES_END)].strip("\n")
    return "_No notes yet._"


def markdown(results: dict[str, Any], previous: str | None) -> str:
    """The whole of ``docs/performance.md`` for ``results``."""
    meta = results.get("meta", {})
    machine = meta.get("machine", {})
    versions = meta.get("versions", {})
    settings = meta.get("settings", {})
    profile = results.get("profile") or {}
    approval = results.get("approval") or {}
    chain = results.get("audit_chain") or {}
    lines = [
        "# Performance",
        "",
        "<!-- Generated by `make bench` (tools/bench/run.py); edit only the notes section. -->",
        "",
        f"Latest run: {meta.get('finished', 'n/a')}, `{meta.get('command', 'make bench')}`, "
        f"{_f(meta.get('elapsed_secs'), 0)} s end to end. Raw numbers: `tools/bench/out/` "
        "(git-ignored).",
        "",
        "## Machine",
        "",
        f"- CPU: {machine.get('cpu', 'n/a')}, {machine.get('cores', 'n/a')} cores; "
        f"RAM {machine.get('ram', 'n/a')}",
        f"- OS: {machine.get('os', 'n/a')}, kernel {machine.get('kernel', 'n/a')}",
        "- Software: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        "## How it was measured",
        "",
        "Everything runs on 127.0.0.1, started and stopped by the script, all systems in one run.",
        "The upstream is nginx (1 worker) answering a fixed "
        f"{meta.get('fixed_json_bytes', 'n/a')}-byte JSON. "
        "Measurements run in rounds that visit every system in turn, so outside load lands on "
        f"all of them. Saturation: `wrk -t1 -c{settings.get('connections')}`, best of "
        f"{settings.get('rounds')} rounds of {settings.get('sat_secs')} s after a "
        f"{settings.get('warm_secs')} s warm-up. Fixed rates: {settings.get('rounds')} rounds of "
        f"{settings.get('fixed_secs')} s, requests pooled, from evenly phased single-worker "
        "`hey -q` processes (25 req/s each at most, see `tools/bench/loadgen.py`); latency is "
        "per request, errors are non-2xx answers plus requests that got none. Peak RSS is sampled every 0.25 s over the process tree "
        "(parent and workers) during that system's load phases; Postgres is listed separately. "
        "CPU ms/request is the CPU time of the system's process tree during the 200 req/s "
        "rounds divided by the requests answered (TAP's Postgres work shown apart). Its absolute "
        "value moves between runs (CPU frequency, the host), but its ratios between systems in "
        "one run hardly move with outside load: they are the steadiest figures here. "
        '"Other CPU" is the share of the machine used by processes outside the benchmark '
        "during a phase (busy time in /proc/stat minus the harness's process trees): above a "
        "few percent, that phase's figures are disturbed by other work on the machine. "
        "TAP: `tap-proxy`, `TAP_WORKERS=2`, a real Postgres 18 (the embedded server, started by "
        "the harness and given to TAP as `POSTGRES_DATABASE_URL`), audit log on, one api-key "
        "credential and agent made with the `tap` CLI, `POST /forward` of an auto-approved GET "
        "(default gated policy), secret injected and response sanitized, under Uvicorn (its "
        "default server: uvloop, httptools, TAP's connection limits). TAP (Hypercorn) is the "
        "same `tap-proxy` with the same environment and `TAP_SERVER=hypercorn`. The framework "
        "floor, as the performance issue defines it, is a Quart app returning the same JSON "
        "under Hypercorn with TAP's settings (`tools/bench/floor_app.py`); Quart+Uvicorn is the "
        "same app under Uvicorn, the floor of TAP's default server. Load "
        "generator, proxies and upstream share the 2 cores. "
        + str(meta.get("pinning") or "Nothing was pinned."),
        "",
        "## Systems",
        "",
        f"Other processes used {_f(results.get('background_cpu_before_pct'), 0)}% of the CPU "
        "in the 3 s before the run.",
        "",
        render_markdown_table(systems_table(results)),
        "",
        "Postgres during TAP's phases: peak PSS "
        f"{_mib(_get(results, 'postgres_rss', 'total_pss_bytes'))} MiB over its processes "
        "(shared buffers split between them); the RSS sum, which counts shared buffers once "
        f"per process, was {_mib(_get(results, 'postgres_rss', 'total_bytes'))} MiB. "
        "TAP's own tree: peak PSS "
        f"{_mib(_get(results, 'systems', 'tap', 'rss', 'total_pss_bytes'))} MiB.",
        "",
        "## Ratios",
        "",
        render_markdown_table(ratio_rows(results)),
        "",
        "Added latency is TAP's percentile minus direct's percentile at the same offered rate.",
        "",
        "## Response size (sequential requests through TAP; sanitizer timed in-process)",
        "",
        render_markdown_table(size_rows(results)),
        "",
        "## Agents and credentials in the database",
        "",
        render_markdown_table(scale_rows(results)),
        "",
        "Four `tap-proxy` instances (2 workers each) run side by side on two databases of the "
        "same Postgres, each warmed with 100 requests, and are loaded in turn, in interleaved "
        "rounds. The `bench` agent makes every request; the other agents and credentials are "
        "seeded with SQL (`tools/bench/seed.py`), each agent granted its own credential. With "
        "the cache off (`TAP_CACHE_TTL_SECS=0`) every request reads the agent and the "
        "credential from Postgres.",
        "",
        *gc_share.markdown(results),
        *stream_ttfb.markdown(results),
        *scale_load.markdown(results),
        *audit_scale.markdown(results),
        "## Approval path",
        "",
        f"{approval.get('samples', 'n/a')} approvals, one at a time on an idle TAP: time from the "
        "commit of the operator's vote (`app.approvals.decisions.vote`, as `tap approve` does) "
        "to nginx logging the forwarded request: "
        f"p50 {_f(approval.get('p50_ms'), 1)} ms, p90 {_f(approval.get('p90_ms'), 1)} ms, "
        f"p99 {_f(approval.get('p99_ms'), 1)} ms, max {_f(approval.get('max_ms'), 1)} ms, "
        f"{approval.get('missing', 'n/a')} not delivered within 5 s.",
        "",
        "## Audit hash chain",
        "",
        f"{chain.get('records', 'n/a')} records in batches of {chain.get('batch', 'n/a')}, "
        "interleaved rounds (`tools/bench/audit_chain.py`). CPU time per record, of the "
        "writing process and its Postgres backend together: the chained append "
        f"{_f(chain.get('chained_us_per_record'), 1)} us, the write before the chain "
        f"{_f(chain.get('plain_us_per_record'), 1)} us (wall "
        f"{_f(chain.get('chained_wall_us_per_record'), 1)} and "
        f"{_f(chain.get('plain_wall_us_per_record'), 1)} us; hashing alone "
        f"{_f(chain.get('hash_us_per_record'), 1)} us). The difference is "
        f"{_f(chain.get('share_pct'), 2)}% of TAP's CPU time per request (worker plus "
        "Postgres, at 200 req/s): the throughput the chain costs.",
        "",
        "## Targets",
        "",
        render_markdown_table(
            [["target", "measured", "verdict"]]
            + [[t.name, t.measured, _verdict(t)] for t in targets(results)]
        ),
        "",
        "## Profile (py-spy, TAP workers at saturation)",
        "",
        f"{profile.get('samples', 'n/a')} samples of the `tap-proxy` process tree during "
        f"`wrk -c{settings.get('connections')}`, idle time excluded. Inclusive shares leave out "
        "the start-up and event-loop frames that sit under every sample.",
        "",
    ]
    if profile.get("self"):
        rows = [["self %", "function (leaf)"]] + [[_f(p, 1), n] for n, p in profile["self"]]
        lines += [render_markdown_table(rows), ""]
        inclusive = [(n, p) for n, p in profile["inclusive"] if not profile_mod.is_boilerplate(n)]
        rows = [["inclusive %", "function"]] + [[_f(p, 1), n] for n, p in inclusive[:25]]
        lines += [render_markdown_table(rows), ""]
    lines += [
        "## Notes",
        "",
        NOTES_START,
        _kept_notes(previous),
        NOTES_END,
        "",
    ]
    if results.get("failures"):
        lines += ["## Phases that failed in this run", ""]
        lines += [f"- {failure}" for failure in results["failures"]]
        lines.append("")
    return "\n".join(lines)


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    previous = path.read_text() if path.exists() else None
    path.write_text(markdown(results, previous))
