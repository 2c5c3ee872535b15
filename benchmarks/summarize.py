#!/usr/bin/env python3
"""Summarises benchmarks/results/*.json (written by benchmarks/run.sh): medians over the runs,
ratios taken within each run (then their median), the lean-core targets, PNG charts drawn with
gnuplot, and the table between the markers in benchmarks/README.md.

    summarize.py RESULTS_DIR README COMMAND
"""
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

CLIENTS = [("wrk", "wrk -t1"), ("curl", "libcurl multi"), ("beast", "plain Beast loop"),
           ("shop", "shop-bench (handlers)"), ("shopco", "shop-bench (use_awaitable)")]
SERVERS = [("sim", "simulator (1 thread)"), ("nginx", "nginx (1 worker, static)")]
SHORT = {"wrk": "wrk", "curl": "libcurl", "beast": "Beast loop", "shop": "shop-bench", "shopco": "shop-bench co"}
BEGIN, END = "<!-- run.sh:begin -->", "<!-- run.sh:end -->"


def load(results):
    runs = {}
    for path in glob.glob(os.path.join(results, "*.json")):
        name = os.path.basename(path)[:-5]
        if name == "summary":
            continue
        m = re.fullmatch(r"(.+)-(\d+)", name)
        if not m:
            continue
        with open(path) as f:
            text = f.read().strip()
        if not text:
            continue
        runs.setdefault(m.group(1), {})[int(m.group(2))] = json.loads(text.splitlines()[-1])
    return runs


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def metric(runs, key, pick):
    return med([pick(r) for r in runs.get(key, {}).values()])


def ratio_within_runs(runs, a, b, pick):
    """Median over runs of pick(a)/pick(b), each ratio taken within one run."""
    ra, rb = runs.get(a, {}), runs.get(b, {})
    ratios = []
    for k in sorted(set(ra) & set(rb)):
        x, y = pick(ra[k]), pick(rb[k])
        if x is not None and y:
            ratios.append(x / y)
    return med(ratios), ratios


def rps(r):
    return r["requests_per_second"]


def cpu(r):
    return r["cpu_seconds_per_1000"] or None


def lat(q):
    return lambda r: (r.get("latency_us") or {}).get(q)


def fmt(v, digits=0, unit=""):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{digits}f}{unit}"


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def commit(root):
    try:
        head = subprocess.check_output(["git", "-C", root, "rev-parse", "--short", "HEAD"], text=True).strip()
        dirty = subprocess.check_output(["git", "-C", root, "status", "--porcelain", "--", ".", ":!benchmarks/results",
                                         ":!benchmarks/README.md"], text=True).strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def charts(runs, results):
    data = os.path.join(results, "chart.dat")
    with open(data, "w") as f:
        # columns: client, req/s (sim, nginx), CPU per 1,000 (sim, nginx), p50 p90 p99 (nginx)
        for c, label in CLIENTS:
            row = [f'"{SHORT[c]}"']
            for s, _ in SERVERS:
                row.append(fmt_raw(metric(runs, f"status-{s}-{c}", rps)))
            for s, _ in SERVERS:
                row.append(fmt_raw(metric(runs, f"status-{s}-{c}", cpu)))
            for q in ("p50", "p90", "p99"):
                row.append(fmt_raw(metric(runs, f"status-nginx-{c}", lat(q))))
            f.write(" ".join(row) + "\n")
    script = f"""
set terminal pngcairo size 1100,420 font ",10"
set datafile missing "NaN"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top left
set output "{results}/throughput.png"
set multiplot layout 1,2 title "GET /orders/status, 64 connections, one client thread (medians)"
set title "requests/s"
set yrange [0:*]
plot "{data}" using 2:xtic(1) title "simulator", "" using 3 title "nginx static"
set title "CPU seconds per 1,000 requests"
plot "{data}" using 4:xtic(1) title "simulator", "" using 5 title "nginx static"
unset multiplot
set terminal pngcairo size 700,420 font ",10"
set output "{results}/latency.png"
set title "latency against nginx static, 64 connections (microseconds, medians of runs)"
set logscale y
set yrange [*:*]
plot "{data}" using 6:xtic(1) title "p50", "" using 7 title "p90", "" using 8 title "p99"
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"gnuplot failed: {e}", file=sys.stderr)
    os.remove(data)


def fmt_raw(v):
    return "NaN" if v is None else f"{v:.6g}"


def main():
    results, readme, command = sys.argv[1], sys.argv[2], sys.argv[3]
    root = os.path.dirname(os.path.dirname(os.path.abspath(readme)))
    runs = load(results)
    n_runs = max((len(v) for v in runs.values()), default=0)
    summary = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
               "commit": commit(root), "command": command, "runs": n_runs, "status": {}, "targets": []}
    out = []
    out.append(f"Measured {summary['date']} on {summary['machine']}, commit {summary['commit']}, "
               f"{n_runs} runs: `{command}`. Medians of the runs; ratios are taken within each run, "
               "then their median. Raw figures: `benchmarks/results/*.json`.")
    out.append("")
    out.append("GET /orders/status, 64 connections, one client thread, client limiter off:")
    out.append("")
    out.append("| server | client | req/s | CPU s / 1,000 req | p50 µs | p90 µs | p99 µs | p99.9 µs | errors |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for s, slabel in SERVERS:
        for c, clabel in CLIENTS:
            key = f"status-{s}-{c}"
            if key not in runs:
                continue
            row = {"rps": metric(runs, key, rps), "cpu_per_1000": metric(runs, key, cpu),
                   "p50": metric(runs, key, lat("p50")), "p90": metric(runs, key, lat("p90")),
                   "p99": metric(runs, key, lat("p99")), "p999": metric(runs, key, lat("p999")),
                   "errors": sum(r.get("errors", 0) for r in runs[key].values())}
            summary["status"][key] = row
            out.append(f"| {slabel} | {clabel} | {fmt(row['rps'])} | {fmt(row['cpu_per_1000'], 4)} | {fmt(row['p50'])} | "
                       f"{fmt(row['p90'])} | {fmt(row['p99'])} | {fmt(row['p999'])} | {row['errors']} |")
    out.append("")
    out.append("Ratios (median of the per-run ratios):")
    out.append("")
    out.append("| server | shop-bench / wrk req/s | shop-bench / wrk CPU per request | shop-bench / libcurl req/s | "
               "plain Beast / wrk req/s | shop-bench (use_awaitable) / wrk req/s |")
    out.append("|---|---|---|---|---|---|")
    ratios = {}
    for s, slabel in SERVERS:
        r1, _ = ratio_within_runs(runs, f"status-{s}-shop", f"status-{s}-wrk", rps)
        r2, _ = ratio_within_runs(runs, f"status-{s}-shop", f"status-{s}-wrk", cpu)
        r3, _ = ratio_within_runs(runs, f"status-{s}-shop", f"status-{s}-curl", rps)
        r4, _ = ratio_within_runs(runs, f"status-{s}-beast", f"status-{s}-wrk", rps)
        r5, _ = ratio_within_runs(runs, f"status-{s}-shopco", f"status-{s}-wrk", rps)
        ratios[s] = {"shop_wrk_rps": r1, "shop_wrk_cpu": r2, "shop_curl_rps": r3, "beast_wrk_rps": r4,
                     "shopco_wrk_rps": r5}
        out.append(f"| {slabel} | {fmt(r1, 2)} | {fmt(r2, 2)} | {fmt(r3, 2)} | {fmt(r4, 2)} | {fmt(r5, 2)} |")
    summary["ratios"] = ratios
    out.append("")
    out.append("Pipelined status (shop-bench `--pipeline-depth`, 8 connections):")
    out.append("")
    out.append("| server | depth 1 req/s | depth 16 req/s | depth 16 / depth 1 | depth 16 p99 µs |")
    out.append("|---|---|---|---|---|")
    summary["pipeline"] = {}
    for s, slabel in SERVERS:
        d1 = metric(runs, f"pipeline-{s}-depth1", rps)
        d16 = metric(runs, f"pipeline-{s}-depth16", rps)
        r, _ = ratio_within_runs(runs, f"pipeline-{s}-depth16", f"pipeline-{s}-depth1", rps)
        summary["pipeline"][s] = {"depth1": d1, "depth16": d16, "ratio": r}
        if d1 is not None:
            out.append(f"| {slabel} | {fmt(d1)} | {fmt(d16)} | {fmt(r, 2)} | "
                       f"{fmt(metric(runs, f'pipeline-{s}-depth16', lat('p99')))} |")
    out.append("")
    out.append("Creates and a mixed load (shop-bench, 64 connections; mixed = every tenth operation a create):")
    out.append("")
    out.append("| workload | server | req/s | CPU s / 1,000 req | p50 µs | p99 µs | errors |")
    out.append("|---|---|---|---|---|---|---|")
    for key, w, slabel in (("create-sim-shop", "create", "simulator"), ("create-nginx-shop", "create", "nginx static"),
                           ("mixed-sim-shop", "mixed", "simulator")):
        if key in runs:
            out.append(f"| {w} | {slabel} | {fmt(metric(runs, key, rps))} | {fmt(metric(runs, key, cpu), 4)} | "
                       f"{fmt(metric(runs, key, lat('p50')))} | {fmt(metric(runs, key, lat('p99')))} | "
                       f"{sum(r.get('errors', 0) for r in runs[key].values())} |")
    summary["memory"] = {}
    peak = None
    for name, how in (("shop", "workers driven by completion handlers"), ("shopco", "workers as use_awaitable coroutines")):
        mem = runs.get(f"memory-slow-{name}", {})
        p = med([r["peak_rss_bytes"] for r in mem.values()])
        per_op = med([r.get("bytes_per_in_flight") for r in mem.values()])
        in_flight = med([r.get("max_in_flight") for r in mem.values()])
        summary["memory"][name] = {"peak_rss_bytes": p, "bytes_per_in_flight": per_op, "max_in_flight": in_flight}
        if name == "shop":
            peak = p
        if p:
            out.append("")
            out.append(f"Memory, {how}: {fmt(in_flight)} status requests in flight at once over 256 connections, "
                       f"the simulator answering after 1 s: peak RSS **{p / 1048576:.1f} MiB**, "
                       f"{fmt(per_op)} bytes per operation in flight (peak minus the RSS before the first request).")
    targets = [
        ("req/s at least 0.9x wrk's (nginx)", ratios.get("nginx", {}).get("shop_wrk_rps"), lambda v: v >= 0.9),
        ("CPU per request at most 1.5x wrk's (nginx)", ratios.get("nginx", {}).get("shop_wrk_cpu"), lambda v: v <= 1.5),
        ("req/s at least 1.5x the libcurl client's (nginx)", ratios.get("nginx", {}).get("shop_curl_rps"),
         lambda v: v >= 1.5),
        ("pipelined depth 16 at least 3x depth 1 (8 connections, simulator)",
         summary["pipeline"].get("sim", {}).get("ratio"), lambda v: v >= 3),
        ("10,000 in flight under 64 MiB peak RSS (workers driven by completion handlers)",
         peak / 1048576 if peak else None, lambda v: v < 64),
    ]
    out.append("")
    out.append("Targets (issue \"A lean, Asio-conventional core\"):")
    out.append("")
    out.append("| target | measured | |")
    out.append("|---|---|---|")
    for name, value, ok in targets:
        verdict = "–" if value is None else ("met" if ok(value) else "**missed**")
        summary["targets"].append({"target": name, "value": value, "met": None if value is None else ok(value)})
        out.append(f"| {name} | {fmt(value, 2)} | {verdict} |")
    out.append("")
    out.append("![requests/s and CPU per request](results/throughput.png)")
    out.append("![latency percentiles](results/latency.png)")
    table = "\n".join(out)
    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    charts(runs, results)
    with open(readme) as f:
        text = f.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(readme, "w") as f:
            f.write(head + BEGIN + "\n" + table + "\n" + END + tail)
    print(table)


if __name__ == "__main__":
    main()
