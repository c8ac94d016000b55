"""The one table `make bench` prints, from the result JSON (also: python -m bench.report F)."""

import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import the package from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

ENDPOINTS = {
    "health": "GET /health",
    "search": "GET /venues/search (date+near+price)",
    "availability": "GET /venues/<id>/availability",
    "booking": "POST /bookings (distinct slots)",
    "login": "POST /auth/login",
    "search_serial": "  search, 1 client",
    "availability_serial": "  availability, 1 client",
}


def _fmt(value, suffix=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{suffix}" if value < 1000 else f"{value:,.0f}{suffix}"
    return f"{value}{suffix}"


def _ratio(value):
    return "-" if value is None else f"{value:.3f}"


def _table(header, rows):
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = [
        "  ".join(
            str(h).ljust(w) if i == 0 else str(h).rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    out.append(line)
    for row in rows:
        out.append(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return out  # fmt: skip


def _errors(result):
    statuses = {k: v for k, v in result.get("statuses", {}).items() if not k.startswith("2")}
    codes = result.get("error_codes", {})
    parts = [f"{k}x{v}" for k, v in statuses.items()] + [f"{k}" for k in codes]
    if result.get("transport_errors"):
        parts.append(f"transport x{result['transport_errors']}")
    return ", ".join(parts) or "none"


def render(report):
    env = report["environment"]
    lines = [
        f"halls benchmark {report['started_at']}  commit {env['git_commit']}"
        + (" (+ uncommitted changes in halls/)" if env["uncommitted_changes_in_halls"] else ""),
        f"backend {env['backend']}, {env['cpus']} CPUs, Python {env['python']}, "
        f"{env['concurrency']} connections, {env['duration_s']} s per endpoint "
        f"after {env['warmup_s']} s warm-up; load generator in its own process",
        "",
    ]
    rows = []
    for run in report["runs"]:
        for name, label in ENDPOINTS.items():
            result = run.get("endpoints", {}).get(name)
            if result is None:
                continue
            rows.append(
                [
                    f"{run['venues']:>6} venues  {label}",
                    _fmt(result["rps"]),
                    _ratio((result.get("paired") or {}).get("median_ratio")),
                    _fmt(result["p50_ms"]),
                    _fmt(result["p95_ms"]),
                    _fmt(result["p99_ms"]),
                    _fmt(result["requests"]),
                    _fmt(result.get("server_cpu_ms_per_request")),
                    _fmt(result.get("client_cpu_pct"), "%"),
                    _errors(result),
                ]
            )
        contention = run.get("contention")
        if contention:
            one, spread = contention["one_slot"], contention["spread"]
            rows.append(
                [
                    f"{run['venues']:>6} venues  contention: {one['clients']} clients, one slot",
                    "-",
                    "-",
                    _fmt(one["p50_ms"]),
                    _fmt(one["p95_ms"]),
                    _fmt(one["p99_ms"]),
                    _fmt(one["requests"]),
                    "-",
                    "-",
                    f"{one['statuses']} all answered in {_fmt(one['all_answered_ms'])} ms: "
                    + ("PASS" if one["passed"] else "FAIL"),
                ]
            )
            check = spread["check"]
            rows.append(
                [
                    f"{run['venues']:>6} venues  contention: {spread['attempts']} bookings, "
                    f"{spread['slots']} slots, {spread['clients']} clients",
                    _fmt(spread["rps"]),
                    "-",
                    _fmt(spread["p50_ms"]),
                    _fmt(spread["p95_ms"]),
                    _fmt(spread["p99_ms"]),
                    _fmt(spread["requests"]),
                    "-",
                    "-",
                    f"{spread['successes']} made, double claims {check['double_claims']}, "
                    f"in {_fmt(spread['all_answered_ms'])} ms: "
                    + ("PASS" if spread["passed"] else "FAIL"),
                ]
            )
        memory = run.get("memory", {})
        if memory:
            parts = [
                f"{name} {item['peak_rss_mib']}"
                for name, item in memory.items()
                if isinstance(item, dict)
            ]
            rows.append(
                [
                    f"{run['venues']:>6} venues  peak RSS (VmHWM), MiB",
                    _fmt(memory["total_peak_rss_mib"]),
                    *["-"] * 7,
                    ", ".join(parts),
                ]
            )
    header = ["figure", "req/s", "x health", "p50 ms", "p95 ms", "p99 ms", "n",
              "server cpu ms/req", "client cpu", "errors / notes"]  # fmt: skip
    lines += _table(header, rows)

    measured = [run for run in report["runs"] if "endpoints" in run]
    if len(measured) > 1:
        lines += ["", "scaling (latency in ms; req/s at full concurrency)"]
        header = ["endpoint"]
        for run in measured:
            header += [f"{run['venues']} req/s", f"{run['venues']} p50", f"{run['venues']} p95",
                       f"{run['venues']} 1-client p50"]  # fmt: skip
        rows = []
        for name in ("search", "availability"):
            row = [ENDPOINTS[name]]
            for run in measured:
                loaded = run["endpoints"][name]
                serial = run["endpoints"].get(f"{name}_serial", {})
                row += [_fmt(loaded["rps"]), _fmt(loaded["p50_ms"]), _fmt(loaded["p95_ms"]),
                        _fmt(serial.get("p50_ms"))]  # fmt: skip
            rows.append(row)
        lines += _table(header, rows)

    lines.append("")
    for run in measured:
        for name in ("search", "booking"):
            pairs = run["endpoints"].get(name, {}).get("paired")
            if pairs:
                rounds = " ".join(_ratio(r) for r in pairs["ratios"])
                lines.append(
                    f"x health, {name} at {run['venues']} venues: median "
                    f"{_ratio(pairs['median_ratio'])} of the rounds {rounds}"
                )
    if env["backend"] == "embedded":
        lines.append(
            "backend embedded: these figures describe the in-process stand-in (mongomock), "
            "not production, and have no target"
        )
    lines.append(f"wall time {report['wall_seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())))
