#!/usr/bin/env python3
"""wrk's text output (with --latency) and GNU time's "%U %S" as one JSON object in the shape
the C++ benchmarks write (bench_report.hpp). wrk reports no 99.9th percentile: p999 is null.

    wrk_json.py WRK_OUTPUT TIME_OUTPUT URL CONNECTIONS
"""
import json
import re
import sys


def to_us(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[unit]


def main():
    out, timing, url, connections = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    text = open(out).read()
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
    m = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", text)
    requests = int(m.group(1))
    seconds = to_us(m.group(2) + m.group(3)) / 1e6
    percentiles = {}
    for q, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M):
        percentiles[q] = to_us(v)
    errors = {}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors["HTTP non-2xx"] = int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        for name, n in zip(("connect", "read", "write", "timeout"), sock.groups()):
            if int(n):
                errors["socket " + name] = int(n)
    user, system = (float(x) for x in open(timing).read().split()[:2])
    cpu = user + system
    ok = requests - errors.get("HTTP non-2xx", 0)
    print(json.dumps({
        "client": "wrk", "workload": "status", "url": url,
        "connections": connections, "concurrency": connections, "pipeline_depth": 1, "threads": 1,
        "limiter": False, "seconds": seconds, "requests": ok,
        "requests_per_second": rps,
        "latency_us": {"p50": percentiles.get("50"), "p90": percentiles.get("90"),
                       "p99": percentiles.get("99"), "p999": None},
        "cpu_seconds": cpu,
        "cpu_seconds_per_1000": cpu * 1000.0 / ok if ok else 0,
        "errors": sum(errors.values()), "errors_by_code": errors,
    }))


if __name__ == "__main__":
    main()
