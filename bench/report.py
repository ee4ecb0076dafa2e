"""The benchmark table (Markdown), with the issue's targets beside the figures."""

from __future__ import annotations

from typing import Any


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(results: dict[str, Any]) -> str:
    """Every figure of a run, each with its target where the issue sets one."""
    m = results["machine"]
    small, large = results["labels"]["small"], results["labels"]["large"]
    lines = [
        f"Run {m['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['postgresql_client']}; server: `frontdoor serve --workers {m['server_workers']}`"
        + (" (QUICK mode: smaller and shorter)" if m["quick"] else "")
        + f"; load average {m['load_average_at_start']} at the start, {m.get('load_average_at_end')} at the end"
        + f"; {m.get('minutes')} minutes in all",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]

    def row(figure: str, value: str, target: str = "") -> None:
        lines.append(f"| {figure} | {value} | {target} |")

    for name, load in results["load"].items():
        if "per_second" in load:
            row(f"load {name} referrals (simulate)", f"{load['seconds']} s ({load['per_second']:,}/s)")
        elif "children_added" in load:
            row(f"load to {name} (filler)", f"{load['children_added']:,} added in {load['seconds']} s")
    for count, figures in results["intake"].items():
        ratio = figures["intake_over_floor"]
        target = ""
        if count == "64":
            ok = ratio >= 0.25 and figures["intake_p99_ms"] < 300
            target = f">= 0.25 and p99 < 300 ms: {_mark(ok)}"
        row(
            f"intake, {count} connections",
            f"{figures['intake_rps']:.0f}/s, p50 {figures['intake_p50_ms']:.1f} ms, "
            f"p99 {figures['intake_p99_ms']:.1f} ms"
            f" (non-2xx: {figures['intake_non_2xx']})",
        )
        row(
            f"floor (GET /healthz), {count} connections",
            f"{figures['floor_rps']:.0f}/s, p50 {figures['floor_p50_ms']:.1f} ms, p99 {figures['floor_p99_ms']:.1f} ms",
        )
        row(f"intake / floor, {count} connections", f"{ratio:.3f}", target)
        row(
            f"CPU per request, {count} connections: intake / floor",
            f"workers {figures['intake_worker_cpu_ms']:.2f} / {figures['floor_worker_cpu_ms']:.2f} ms, "
            f"PostgreSQL {figures['intake_postgres_cpu_ms']:.2f} / {figures['floor_postgres_cpu_ms']:.2f} ms",
        )
    for count, figures in results.get("intake_keyed", {}).items():
        row(
            f"intake with an Idempotency-Key on each referral, {count} connections",
            f"{figures['intake_rps']:.0f}/s, p50 {figures['intake_p50_ms']:.1f} ms, "
            f"p99 {figures['intake_p99_ms']:.1f} ms (non-2xx: {figures['intake_non_2xx']}); "
            f"/ floor {figures['intake_over_floor']:.3f}",
        )
    for page in ("first_page", "filtered_page"):
        a, b = results["queue"][small][page], results["queue"][large][page]
        row(f"queue {page.replace('_', ' ')}, {small}", f"p50 {a['p50_ms']:.2f} ms, p95 {a['p95_ms']:.2f} ms")
        row(f"queue {page.replace('_', ' ')}, {large}", f"p50 {b['p50_ms']:.2f} ms, p95 {b['p95_ms']:.2f} ms")
        ratio = b["p95_ms"] / a["p95_ms"]
        row(f"queue {page.replace('_', ' ')} p95 {large}/{small}", f"{ratio:.2f}", f"<= 1.5: {_mark(ratio <= 1.5)}")
    history = results["history"]
    for label, figures in history.items():
        row(
            f"history match, {figures['children_on_record']:,} children ({label})",
            f"p50 {figures['p50_ms']:.2f} ms, p95 {figures['p95_ms']:.2f} ms ({figures['share_found']:.0%} found)",
        )
    labels = list(history)
    ratio = history[labels[1]]["p95_ms"] / history[labels[0]]["p95_ms"]
    row(f"history p95 {labels[1]}/{labels[0]}", f"{ratio:.2f}", f"<= 1.5: {_mark(ratio <= 1.5)}")
    if len(labels) > 2:
        ratio = history[labels[2]]["p95_ms"] / history[labels[1]]["p95_ms"]
        row(f"history p95 {labels[2]}/{labels[1]}", f"{ratio:.2f}")
    for label, figures in results["summary"].items():
        target = ""
        if label == large:
            target = f"< 2 s: {_mark(figures['median_ms'] < 2000)}"
        row(
            f"one-year summary, {label} ({figures['referrals_in_year']:,} referrals in the year)",
            f"median {figures['median_ms']:.0f} ms (min {figures['min_ms']:.0f}, max {figures['max_ms']:.0f})",
            target,
        )
    peak = results["memory"]["peak_rss_mb"]
    row("peak RSS of one server worker through the intake runs", f"{peak:.0f} MB", f"< 200 MB: {_mark(peak < 200)}")
    return "\n".join(lines)
