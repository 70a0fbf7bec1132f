"""Statistics, targets and the printed table of `grok2api bench`."""
from __future__ import annotations

import statistics
from typing import Any

#: Targets, checked against the measured numbers (a MISS is reported, never fatal).
TARGET_STREAM1000_ERRORS = 0
TARGET_STREAM200_TOKEN_RATIO = 0.95
TARGET_STREAM200_ADDED_TTFT_MS = 25.0
TARGET_NONSTREAM_RPS = 1000.0
#: non-stream req/s with managed keys in use, against the same run in open mode
TARGET_KEYS_RPS_RATIO = 0.90
#: memory per open stream at 1,000 open streams, and the RSS a while after a burst against before it
TARGET_RSS_PER_STREAM_KIB = 64.0
TARGET_RSS_SETTLED_RATIO = 1.20
#: against the minimal converter (--floor): added TTFT of a burst, non-stream req/s
TARGET_BURST200_FLOOR_ADDED_TTFT = 1.2
TARGET_BURST1000_FLOOR_ADDED_TTFT = 1.0
TARGET_NONSTREAM_FLOOR_RPS = 0.75


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """One side's raw load result (bench_load) → the reported numbers."""
    elapsed = max(raw["elapsed"], 1e-9)
    return {
        "requests_ok": raw["ok"],
        "errors": raw["errors"],
        "error_reasons": raw["reasons"],
        "tokens": raw["tokens"],
        "elapsed_s": round(elapsed, 3),
        "req_per_s": round(raw["ok"] / elapsed, 1),
        "tokens_per_s": round(raw["tokens"] / elapsed, 1),
        "ttfb_p50_ms": _ms(percentile(raw["ttfb"], 50)),
        "ttfb_p99_ms": _ms(percentile(raw["ttfb"], 99)),
        "ttft_p50_ms": _ms(percentile(raw["ttft"], 50)),
        "ttft_p99_ms": _ms(percentile(raw["ttft"], 99)),
        "loadgen_cpu_pct": round(100 * raw["loadgen_cpu"] / elapsed, 1),
    }


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    gw, sim = result["gateway"], result["simulator"]
    tok = gw["tokens_per_s"] / sim["tokens_per_s"] if sim["tokens_per_s"] else None
    rps = gw["req_per_s"] / sim["req_per_s"] if sim["req_per_s"] else None
    added = (gw["ttft_p50_ms"] - sim["ttft_p50_ms"]
             if gw["ttft_p50_ms"] is not None and sim["ttft_p50_ms"] is not None else None)
    out = {"tokens_per_s": None if tok is None else round(tok, 3),
           "req_per_s": None if rps is None else round(rps, 3),
           "added_ttft_p50_ms": None if added is None else round(added, 2)}
    if "floor" in result:
        out.update(vs_floor(gw, result["floor"], sim))
    if "stack" in result:
        out.update(vs_floor(gw, result["stack"], sim, "stack"))
        if "floor" in result:  # how far the stack alone already is from the floor
            out["stack_floor_req_per_s"] = _ratio(result["stack"]["req_per_s"], result["floor"]["req_per_s"])
            out["stack_floor_cpu_per_request"] = _ratio(_cpu_per_request(result["stack"]),
                                                        _cpu_per_request(result["floor"]))
    if "keyed_phases" in result:
        # each keyed phase against the mean of the open phases right before and after it;
        # the median of those is the figure (one phase disturbed by the machine moves it less)
        opens, keyed = result["open_phases"], result["keyed_phases"]
        phase = [k["req_per_s"] / ((a["req_per_s"] + b["req_per_s"]) / 2)
                 for k, a, b in zip(keyed, opens, opens[1:]) if a["req_per_s"] + b["req_per_s"]]
        out["keys_vs_open_phases"] = [round(r, 3) for r in phase]
        out["keys_vs_open"] = round(statistics.median(phase), 3) if phase else None
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else round(a / b, 3)


def _cpu_per_request(side: dict[str, Any]) -> float | None:
    if side.get("cpu_s") is None or not side.get("requests_ok"):
        return None
    return side["cpu_s"] / side["requests_ok"]


def vs_floor(gw: dict[str, Any], floor: dict[str, Any], sim: dict[str, Any],
             prefix: str = "floor") -> dict[str, float | None]:
    """The gateway's figures as ratios to a minimal converter's (bench_floor.py, or with
    prefix "stack" bench_floor_stack.py), same run. Added TTFT is each converter's p50 over
    the simulator alone's; when the floor's is not above it (the machine's other load
    outweighed what the floor adds) there is no ratio."""
    def added(side: dict[str, Any]) -> float | None:
        if side["ttft_p50_ms"] is None or sim["ttft_p50_ms"] is None:
            return None
        return max(side["ttft_p50_ms"] - sim["ttft_p50_ms"], 0.0)

    floor_added = added(floor)
    return {f"{prefix}_tokens_per_s": _ratio(gw["tokens_per_s"], floor["tokens_per_s"]),
            f"{prefix}_req_per_s": _ratio(gw["req_per_s"], floor["req_per_s"]),
            f"{prefix}_added_ttft_p50": _ratio(added(gw), floor_added) if floor_added and floor_added >= 1.0
            else None,
            f"{prefix}_ttft_p50": _ratio(gw["ttft_p50_ms"], floor["ttft_p50_ms"]),
            f"{prefix}_cpu_s": _ratio(gw.get("cpu_s"), floor.get("cpu_s")),
            f"{prefix}_cpu_per_request": _ratio(_cpu_per_request(gw), _cpu_per_request(floor)),
            f"{prefix}_peak_rss": _ratio(gw.get("peak_rss_mb"), floor.get("peak_rss_mb")),
            f"{prefix}_rss_per_stream": _ratio(gw.get("rss_per_stream_kib"), floor.get("rss_per_stream_kib"))}


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PASS/MISS lines for the scenarios that ran (by name)."""
    by_name = {r["scenario"]: r for r in results}
    out: list[dict[str, Any]] = []
    if "stream1000" in by_name:
        errors = by_name["stream1000"]["gateway"]["errors"]
        out.append({"target": "stream1000: 0 errors", "measured": f"{errors} errors",
                    "pass": errors <= TARGET_STREAM1000_ERRORS})
    if "stream200" in by_name:
        r = by_name["stream200"]["ratios"]
        tok, added = r["tokens_per_s"], r["added_ttft_p50_ms"]
        out.append({"target": f"stream200: tokens/s >= {TARGET_STREAM200_TOKEN_RATIO:.0%} of simulator",
                    "measured": "n/a" if tok is None else f"{tok:.1%}",
                    "pass": tok is not None and tok >= TARGET_STREAM200_TOKEN_RATIO})
        out.append({"target": f"stream200: added TTFT p50 <= {TARGET_STREAM200_ADDED_TTFT_MS:g} ms",
                    "measured": "n/a" if added is None else f"{added:+.1f} ms",
                    "pass": added is not None and added <= TARGET_STREAM200_ADDED_TTFT_MS})
    if "nonstream" in by_name:
        rps = by_name["nonstream"]["gateway"]["req_per_s"]
        out.append({"target": f"nonstream: >= {TARGET_NONSTREAM_RPS:g} req/s", "measured": f"{rps:.0f} req/s",
                    "pass": rps >= TARGET_NONSTREAM_RPS})
    for name in ("stream1000", "stream1000-burst"):
        kib = by_name[name]["gateway"].get("rss_per_stream_kib") if name in by_name else None
        if kib is not None:
            out.append({"target": f"{name}: RSS per open stream <= {TARGET_RSS_PER_STREAM_KIB:g} KiB",
                        "measured": f"{kib:.1f} KiB", "pass": kib <= TARGET_RSS_PER_STREAM_KIB})
    for r in results:
        gw = r.get("gateway", {})
        if "rss_settled_mb" in gw and gw.get("rss_before_mb"):
            back = gw["rss_settled_mb"] / gw["rss_before_mb"]
            out.append({"target": f"{r['scenario']}: RSS {gw['settle_s']:g} s after <= "
                                  f"{TARGET_RSS_SETTLED_RATIO:.0%} of before",
                        "measured": f"{back:.0%}", "pass": back <= TARGET_RSS_SETTLED_RATIO})
    for name, limit in (("stream200-burst", TARGET_BURST200_FLOOR_ADDED_TTFT),
                        ("stream1000-burst", TARGET_BURST1000_FLOOR_ADDED_TTFT)):
        ratio = by_name[name]["ratios"].get("floor_added_ttft_p50") if name in by_name else None
        if name in by_name and "floor" in by_name[name]:
            out.append({"target": f"{name}: added TTFT p50 <= {limit:g}x the floor's",
                        "measured": "n/a" if ratio is None else f"{ratio:.2f}x",
                        "pass": ratio is not None and ratio <= limit})
    if "nonstream" in by_name and "floor" in by_name["nonstream"]:
        ratio = by_name["nonstream"]["ratios"].get("floor_req_per_s")
        out.append({"target": f"nonstream: req/s >= {TARGET_NONSTREAM_FLOOR_RPS:g}x the floor's",
                    "measured": "n/a" if ratio is None else f"{ratio:.2f}x",
                    "pass": ratio is not None and ratio >= TARGET_NONSTREAM_FLOOR_RPS})
    if "nonstream-keys" in by_name:
        keyed = by_name["nonstream-keys"]["ratios"].get("keys_vs_open") or 0.0
        out.append({"target": f"nonstream-keys: >= {TARGET_KEYS_RPS_RATIO:.0%} of open mode's req/s",
                    "measured": f"{keyed:.1%}", "pass": keyed >= TARGET_KEYS_RPS_RATIO})
    return out


def _f(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def render(results: list[dict[str, Any]], setup: dict[str, Any]) -> str:
    lines = [f"grok2api bench — {setup['accounts']} accounts × max_inflight {setup['max_inflight']}, "
             f"gateway 1 worker, {setup['cpus']} CPUs, python {setup['python']}"]
    ramps = sorted({r["params"]["ramp"] for r in results if r["params"]["stream"]})
    if ramps:
        lines.append("stream clients start spread over " + "/".join(f"{x:g}" for x in ramps) + " s (--ramp)")
    lines.append("")
    head = (f"{'scenario':<16} {'side':<9} {'req/s':>8} {'tok/s':>9} {'TTFB p50/p99 ms':>17} "
            f"{'TTFT p50/p99 ms':>17} {'errors':>6} {'CPU s':>6} {'CPU%':>6} {'RSS MB pre/peak/end/later':>26} "
            f"{'KiB/str':>7} {'sim CPU%':>8} {'lg CPU%':>7}")
    lines += [head, "-" * len(head)]
    for r in results:
        for side in (side for side in ("gateway", "floor", "stack", "simulator") if side in r):
            s = r[side]
            rss = "/".join(_f(s.get(k)) for k in ("rss_before_mb", "peak_rss_mb", "rss_end_mb", "rss_settled_mb")
                           if k in s or k != "rss_settled_mb") if "peak_rss_mb" in s else "-"
            lines.append(
                f"{r['scenario']:<16} {side:<9} {_f(s['req_per_s']):>8} {_f(s['tokens_per_s'], '{:.0f}'):>9} "
                f"{_f(s['ttfb_p50_ms']) + '/' + _f(s['ttfb_p99_ms']):>17} "
                f"{_f(s['ttft_p50_ms']) + '/' + _f(s['ttft_p99_ms']):>17} {s['errors']:>6} "
                f"{_f(s.get('cpu_s'), '{:.2f}'):>6} {_f(s.get('cpu_pct')):>6} {rss:>26} "
                f"{_f(s.get('rss_per_stream_kib')):>7} {_f(s.get('sim_cpu_pct')):>8} "
                f"{_f(s['loadgen_cpu_pct']):>7}")
            if s["errors"]:
                lines.append(f"{'':<24} error reasons: {s['error_reasons']}")
    lines.append("")
    for r in results:
        ra = r["ratios"]
        if "keyed_phases" in r:
            keyed = " ".join(f"{p['req_per_s']:.0f}" for p in r["keyed_phases"])
            opens = " ".join(f"{p['req_per_s']:.0f}" for p in r["open_phases"])
            each = " ".join(f"{x:.1%}" for x in ra["keys_vs_open_phases"])
            lines.append(f"nonstream-keys: req/s with {r['keys']} keys {keyed}; open mode "
                         f"around them {opens}; each keyed phase {each} of the open ones "
                         f"around it; median {_f(ra.get('keys_vs_open'), '{:.1%}')}")
        if not r["params"]["stream"]:
            lines.append(f"{r['scenario']}: gateway {r['gateway']['req_per_s']:.0f} req/s, simulator alone "
                         f"{r['simulator']['req_per_s']:.0f} req/s, gateway/simulator req/s = "
                         f"{_f(ra['req_per_s'], '{:.2f}')}")
        else:
            lines.append(f"{r['scenario']}: gateway/simulator tokens/s = {_f(ra['tokens_per_s'], '{:.2f}')}, "
                         f"added TTFT p50 = {_f(ra['added_ttft_p50_ms'], '{:+.1f}')} ms")
        for floor in (side for side in ("floor", "stack") if side in r):
            lines.append(f"{r['scenario']}: gateway/{floor} " + ", ".join(
                f"{label} {_f(ra.get(f'{floor}_{key}'), '{:.2f}')}" for key, label in (
                    ("req_per_s", "req/s"), ("tokens_per_s", "tokens/s"),
                    ("added_ttft_p50", "added TTFT p50"), ("ttft_p50", "TTFT p50"),
                    ("cpu_s", "CPU s"), ("cpu_per_request", "CPU/request"), ("peak_rss", "peak RSS"),
                    ("rss_per_stream", "RSS/stream")) if ra.get(f"{floor}_{key}") is not None))
        if ra.get("stack_floor_req_per_s") is not None:
            lines.append(f"{r['scenario']}: stack/floor req/s {ra['stack_floor_req_per_s']:.2f}, "
                         f"CPU/request {_f(ra.get('stack_floor_cpu_per_request'), '{:.2f}')} "
                         "(the gateway's stack alone, no feature)")
    checks = targets(results)
    if checks:
        lines += ["", "targets:"]
        lines += [f"  {'PASS' if c['pass'] else 'MISS'}  {c['target']:<48} measured {c['measured']}" for c in checks]
    lines += ["", "CPU s, CPU% and RSS are the converter's (gateway, floor or stack); CPU% = CPU seconds over the "
              "scenario's wall time (100% = one core); sim = simulator, lg = load generator.",
              "RSS: before the load, its peak, at its end, and --settle s later (bursts); KiB/str = "
              "(peak - before) / open streams."]
    if any("floor" in r or "stack" in r for r in results):
        lines.append("floor = the minimal converter on aiohttp (ops/bench_floor.py); stack = the same on "
                     "Hypercorn and curl_cffi (ops/bench_floor_stack.py).")
    return "\n".join(lines)
