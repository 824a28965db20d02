#!/usr/bin/env python3
"""Summary of a scripts/bench.sh run: reads its raw files, prints the table of cases and goals,
writes results.json / results.csv and the plot's data file. Not meant to be run by hand.

usage: bench-report.py RAW_DIR OUT_DIR PUBLISH_DIR   (settings come in BENCH_* variables)
"""

import csv
import json
import os
import platform
import re
import statistics
import subprocess
import sys

RAW, OUT, PUBLISH = sys.argv[1:4]
E = os.environ
MIB = 1024 * 1024

# name -> (label, group): group 0 = baseline, 1 = ours, 2 = the peer
CASES = [
    ("true", "/bin/true", 0),
    ("static", "static get, 10 entries", 1),
    ("static-big", "static get, %s entries" % format(int(E["BENCH_ENTRIES"]), ","), 1),
    ("ecr-cached", "cached ECR get", 1),
    ("peer-cached", "ecr-login cached get", 2),
    ("gcp-cached", "cached Google get", 1),
    ("ecr-cold", "cold ECR get (moto)", 1),
    ("list", "list, 10 entries", 1),
    ("list-big", "list, %s entries" % format(int(E["BENCH_ENTRIES"]), ","), 1),
    # The fleet's shared token cache (issue 13); only measured when redis-server is installed.
    ("fleet-local-hit", "local hit, shared cache on", 1),
    ("fleet-redis", "served from Redis, cold local", 1),
    ("fleet-mint", "cold mint through Redis", 1),
    ("fleet-no-redis", "cold mint, no shared cache", 1),
    ("fleet-refused", "cold mint, Redis refused", 1),
    ("fleet-skipped", "cold mint, skip marker", 1),
    # The shared store (issue 14); only measured when PostgreSQL is installed.
    ("pg-ttl0", "shared store get, TTL 0", 1),
    ("pg-ttl0-tls", "shared store get, TTL 0, TLS", 1),
    ("pg-hot", "shared store get, fresh copy", 1),
    ("pg-list-big", "shared store list, %s rows" % format(int(E["BENCH_ENTRIES"]), ","), 1),
]
# Measured but kept out of the plot (300 ms would flatten it).
EXTRA = [("fleet-paused", "cold mint, Redis never answers")]


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def rounds(name):
    """Run times (s) per round, in round order."""
    out = []
    pat = re.compile(re.escape(name) + r"\.(\d+)\.json$")
    for f in os.listdir(RAW):
        m = pat.fullmatch(f)
        if m:
            times = json.load(open(os.path.join(RAW, f)))["results"][0]["times"]
            out.append((int(m.group(1)), times))
    return [t for _, t in sorted(out)]


def latency(name):
    per_round = rounds(name)
    times = [t for r in per_round for t in r]
    if not times:
        return None
    ms = lambda v: round(v * 1000, 3)
    return {
        "p50_ms": ms(statistics.median(times)),
        "p10_ms": ms(pct(times, 0.10)),
        "p90_ms": ms(pct(times, 0.90)),
        "p99_ms": ms(pct(times, 0.99)),
        "mean_ms": ms(statistics.fmean(times)),
        "min_ms": ms(min(times)),
        "runs": len(times),
        "round_p50_ms": [ms(statistics.median(r)) for r in per_round],
    }


def read(path):
    try:
        return open(os.path.join(RAW, path)).read()
    except OSError:
        return None


def rss(name):
    text = read("rss." + name)
    if not text:
        return None
    kib = [int(x) for x in text.split() if x.isdigit()]
    return {"max_kib": max(kib), "p50_kib": int(statistics.median(kib)), "runs": len(kib)}


def syscalls(name):
    text = read("strace-c." + name)
    if not text:
        return None
    for line in text.splitlines():
        f = line.split()
        if f and f[-1] == "total":
            return int(f[3])
    return None


def sockets(name):
    text = read("strace-net." + name)
    if text is None:
        return None
    return sum(1 for line in text.splitlines() if re.search(r"\bsocket\(", line))


def instructions(name):
    text = read("valgrind." + name)
    if not text:
        return None
    m = re.search(r"Collected : (\d+)", text)
    return int(m.group(1)) if m else None


def ir_breakdown(name):
    """Inclusive instruction counts of the parts of a run (callgrind_annotate --inclusive)."""
    text = read("callgrind-annotate." + name)
    if not text:
        return None
    parts = {
        "dynamic_loader": r":_dl_start \[",
        "relocations": r":_dl_relocate_object \[",
        "program": r":__libc_start_main",
        "stack_guard_probe": r":pthread_getattr_np",
    }
    out = {}
    for key, pat in parts.items():
        for line in text.splitlines():
            if re.search(pat, line):
                out[key] = int(line.split()[0].replace(",", ""))
                break
    return out


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "os": _os_name(),
    }


def _os_name():
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


lat = {name: latency(name) for name, _, _ in CASES + [(n, l, 0) for n, l in EXTRA]}
p50 = lambda n: lat[n]["p50_ms"] if lat.get(n) else None


def ratio(a, b):
    """p50(a) / p50(b), and the min/max of the per-round ratios."""
    if not lat.get(a) or not lat.get(b):
        return None, None
    ra, rb = lat[a]["round_p50_ms"], lat[b]["round_p50_ms"]
    per = [x / y for x, y in zip(ra, rb)]
    return round(p50(a) / p50(b), 3), [round(min(per), 3), round(max(per), 3)]


conc = []
words = E.get("BENCH_CONC_RESULTS", "").split()
for i in range(0, len(words) - 2, 3):
    conc.append({"calls": int(words[i]), "identical_answers": int(words[i + 1]), "wall_ms": float(words[i + 2])})
n_conc = int(E["BENCH_CONC"])

bin_bytes = int(E["BENCH_BIN_BYTES"])
static_rss = rss("static")
entries = int(E["BENCH_ENTRIES"])

goals = []


def le(value, limit):
    """True/False against the target; None when the case could not be measured."""
    return None if value is None else value <= limit


def goal(name, value, unit, target, ok, note=""):
    goals.append({"goal": name, "measured": value, "unit": unit, "target": target,
                  "met": ok, "note": note})


r, rr = ratio("static", "true")
goal("static get / /bin/true (p50)", r, "x", "<= 3", le(r, 3), "per-round %s" % rr)
r, rr = ratio("static", "peer-cached")
goal("static get / ecr-login cached get (p50)", r, "x", "<= 0.2", le(r, 0.2),
     "per-round %s" % rr)
r, rr = ratio("ecr-cached", "static")
goal("cached ECR get / static get (p50)", r, "x", "<= 1.2", le(r, 1.2),
     "per-round %s" % rr)
goal("cold ECR get against moto (p50)", p50("ecr-cold"), "ms", "-", None,
     "cache removed before each run; GetAuthorizationToken calls %s runs (incl. warm-ups)"
     % E.get("BENCH_COLD_CALLS", "?"))
r, rr = ratio("gcp-cached", "static")
goal("cached Google get / static get (p50)", r, "x", "-", None,
     "per-round %s; token requests %s (the one minting get)" % (rr, E.get("BENCH_GCP_CALLS", "?")))
r, rr = ratio("static-big", "static")
goal("get with %d / with 10 entries (p50)" % entries, r, "x", "<= 1.1", le(r, 1.1),
     "per-round %s" % rr)
goal("list with %d entries (p50)" % entries, p50("list-big"), "ms", "-", None,
     "store filled with `store` over xargs -P in %.1f s" % (float(E["BENCH_FILL_MS"]) / 1000))
calls = [c["calls"] for c in conc]
goal("%d concurrent cold ECR gets -> GetAuthorizationToken calls" % n_conc,
     max(calls) if calls else None, "calls", "1", bool(calls) and all(c == 1 for c in calls)
     and all(c["identical_answers"] == n_conc for c in conc),
     "per trial %s; identical answers %s" % (calls, [c["identical_answers"] for c in conc]))
fleet = []
words = E.get("BENCH_FLEET_RESULTS", "").split()
for i in range(0, len(words) - 2, 3):
    fleet.append({"calls": int(words[i]), "identical_answers": int(words[i + 1]), "wall_ms": float(words[i + 2])})
n_fleet = int(E.get("BENCH_FLEET_N", "0"))
if fleet:
    calls = [c["calls"] for c in fleet]
    goal("%d machines cold-starting at once -> GetAuthorizationToken calls" % n_fleet,
         max(calls), "calls", "1", all(c == 1 for c in calls)
         and all(c["identical_answers"] == n_fleet for c in fleet),
         "per trial %s; identical answers %s; wall ms %s" % (
             calls, [c["identical_answers"] for c in fleet], [c["wall_ms"] for c in fleet]))


def p99(n):
    return lat[n]["p99_ms"] if lat.get(n) else None


def diff(a, b):
    """p50(a) - p50(b) in ms, and the min/max of the per-round differences."""
    if not lat.get(a) or not lat.get(b):
        return None, None
    per = [x - y for x, y in zip(lat[a]["round_p50_ms"], lat[b]["round_p50_ms"])]
    return round(p50(a) - p50(b), 3), [round(min(per), 3), round(max(per), 3)]


def span_us(kind):
    """Median of the strace-measured Redis spans (microseconds) and the number of runs."""
    text = read("fleet-span." + kind)
    xs = [int(x) for x in (text or "").split() if x.isdigit()]
    return (int(statistics.median(xs)), len(xs)) if xs else (None, 0)


if lat.get("fleet-redis"):
    r, rr = ratio("fleet-redis", "fleet-local-hit")
    r99 = round(p99("fleet-redis") / p99("fleet-local-hit"), 3) if lat.get("fleet-local-hit") else None
    goal("get served from Redis (cold local) / local hit (p50)", r, "x", "<= 2", le(r, 2),
         "%s / %s ms; per-round %s; p99 %s / %s ms = %sx" % (
             p50("fleet-redis"), p50("fleet-local-hit"), rr, p99("fleet-redis"),
             p99("fleet-local-hit"), r99))
    r, rr = ratio("fleet-local-hit", "ecr-cached")
    goal("local hit with the shared cache on / without (p50)", r, "x", "-", None,
         "per-round %s; sockets %s" % (rr, sockets("fleet-local-hit")))
    goal("cold mint (p50 / p99)", p50("fleet-mint"), "ms", "-", None,
         "through Redis (lock, mint, publish); p99 %s ms; without a shared cache %s / %s ms" % (
             p99("fleet-mint"), p50("fleet-no-redis"), p99("fleet-no-redis")))
    d, dr = diff("fleet-refused", "fleet-no-redis")
    goal("cost of a refused Redis on a cold get (p50 difference)", d, "ms", "<= 1", le(d, 1),
         "%s vs %s ms; per-round %s; syscalls %s vs %s" % (
             p50("fleet-refused"), p50("fleet-no-redis"), dr, syscalls("fleet-refused"),
             syscalls("fleet-no-redis")))
    us, n = span_us("refused")
    goal("refused Redis: socket() to the marker's rename() (strace, median)",
         None if us is None else round(us / 1000, 3), "ms", "<= 1", le(None if us is None else us / 1000, 1),
         "%d runs under strace -ttt -T (an upper bound: strace slows every syscall)" % n)
    us, n = span_us("marker")
    goal("skip marker holding: reading it (strace, median)",
         None if us is None else round(us / 1000, 3), "ms", "~0", None,
         "%d runs; openat() to close() of the marker; no Redis socket" % n)
    d, dr = diff("fleet-skipped", "fleet-no-redis")
    sk, base = sockets("fleet-skipped"), sockets("fleet-no-redis")
    goal("cost while the skip marker holds (p50 difference)", d, "ms", "0", None if sk is None else sk == base,
         "per-round %s; sockets %s vs %s (no Redis connection); syscalls %s vs %s (reading the marker)" % (
             dr, sk, base, syscalls("fleet-skipped"), syscalls("fleet-no-redis")))
    d, _ = diff("fleet-paused", "fleet-no-redis")
    goal("cost of a Redis that never answers (p50 difference)", d, "ms", "-", None,
         "SIGSTOPped Redis: the 300 ms read timeout once, then the marker spares 30 s of gets")

if lat.get("pg-ttl0"):
    goal("shared-store get through PostgreSQL, TTL 0, loopback (p50)", p50("pg-ttl0"), "ms", "<= 5",
         le(p50("pg-ttl0"), 5),
         "scram-sha-256, sslmode=disable; p10 %s p90 %s ms; verify-full TLS %s ms (p90 %s); sockets %s; "
         "peak RSS %s KiB" % (lat["pg-ttl0"]["p10_ms"], lat["pg-ttl0"]["p90_ms"], p50("pg-ttl0-tls"),
                             lat["pg-ttl0-tls"]["p90_ms"] if lat.get("pg-ttl0-tls") else None,
                             sockets("pg-ttl0"), (rss("pg-ttl0") or {}).get("max_kib")))
    r, rr = ratio("pg-hot", "static")
    goal("shared-store get from a fresh local copy / local-store get (p50)", r, "x", "<= 1.2",
         le(r, 1.2), "%s / %s ms; per-round %s; sockets %s" % (
             p50("pg-hot"), p50("static"), rr, sockets("pg-hot")))
    goal("shared-store list of %s rows (p50)" % E.get("BENCH_PG_ROWS", "?"), p50("pg-list-big"), "ms",
         "-", None, "one query for every row, then each opened; local store: %s ms" % p50("list-big"))

goal("peak RSS of one static get", round(static_rss["max_kib"] / 1024, 2) if static_rss else None,
     "MiB", "<= 8", bool(static_rss) and static_rss["max_kib"] <= 8 * 1024,
     "max of %d runs (/usr/bin/time %%M)" % (static_rss["runs"] if static_rss else 0))
goal("stripped binary size", round(bin_bytes / MIB, 2), "MiB", "<= 12",
     bin_bytes <= 12 * MIB and E["BENCH_BIN_STRIPPED"] == "true",
     "%d bytes, stripped=%s" % (bin_bytes, E["BENCH_BIN_STRIPPED"]))
goal("release build time (%s)" % E["BENCH_BUILD_KIND"], round(float(E["BENCH_BUILD_MS"]) / 1000, 1),
     "s", "-", None, {
         "scratch": "from scratch into its own target dir (cargo build --release --locked), load %s at start"
                    % E.get("BENCH_BUILD_LOAD", "?"),
         "skipped": "prebuilt binary given with --bin",
     }.get(E["BENCH_BUILD_KIND"],
           "no-op/incremental `cargo build --release`; pass --build-time for a from-scratch build"))
sock = sockets("ecr-cached")
goal("sockets opened by a cached ECR get", sock, "socket()", "0", sock == 0 if sock is not None else None,
     "strace -f -e trace=network; cold get opens %s" % sockets("ecr-cold"))
sock = sockets("gcp-cached")
goal("sockets opened by a cached Google get", sock, "socket()", "0", sock == 0 if sock is not None else None,
     "strace -f -e trace=network; minting get opens %s" % sockets("gcp-cold"))

results = {
    "machine": machine(),
    "tools": {
        "hyperfine": version([E["BENCH_HF"], "--version"]),
        "peer": E.get("BENCH_PEER", ""),
        "peer_version": E.get("BENCH_PEER_VERSION", ""),
        "rustc": version(["rustc", "--version"]),
    },
    "settings": {"runs": int(E["BENCH_RUNS"]), "rounds": int(E["BENCH_ROUNDS"]),
                 "entries": entries, "load_start": float(E["BENCH_LOAD_START"]),
                 "load_end": float(E["BENCH_LOAD_END"])},
    "latency": {name: dict(lat[name], label=label) for name, label, _ in CASES + [(n, l, 0) for n, l in EXTRA]
                if lat[name]},
    "goals": goals,
    "concurrency": conc,
    "fleet": {"machines": n_fleet, "trials": fleet},
    "rss_kib": {n: rss(n) for n in ("true", "static", "ecr-cached", "gcp-cached", "list-big", "peer-cached")
                if rss(n)},
    "syscalls": {n: syscalls(n) for n in ("true", "static", "ecr-cached", "gcp-cached", "peer-cached",
                                          "fleet-local-hit", "fleet-redis", "fleet-no-redis",
                                          "fleet-refused", "fleet-skipped")
                 if syscalls(n) is not None},
    "sockets": {n: sockets(n) for n in ("static", "ecr-cached", "ecr-cold", "gcp-cached", "gcp-cold",
                                        "fleet-local-hit", "fleet-redis", "fleet-no-redis",
                                        "fleet-refused", "fleet-skipped")
                if sockets(n) is not None},
    "instructions": {n: instructions(n) for n in ("true", "static", "static-big", "ecr-cached", "gcp-cached")
                     if instructions(n) is not None},
    "instructions_static_breakdown": ir_breakdown("static"),
    "binary_bytes": bin_bytes,
    "relocations": dict(zip(("relative", "symbol"), E.get("BENCH_RELOCS", "? ?").split())),
    "build": {"kind": E["BENCH_BUILD_KIND"], "seconds": round(float(E["BENCH_BUILD_MS"]) / 1000, 1)},
    "fill": {"entries": entries, "seconds": round(float(E["BENCH_FILL_MS"]) / 1000, 1),
             "how": "`store` over xargs -P nproc, 250 per shell"},
}

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
with open(os.path.join(PUBLISH, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
with open(os.path.join(OUT, "results.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["kind", "name", "value", "unit", "target", "met", "note"])
    for name, label, _ in CASES:
        if lat[name]:
            w.writerow(["latency_p50", label, lat[name]["p50_ms"], "ms", "", "",
                        "p10 %s p90 %s runs %s" % (lat[name]["p10_ms"], lat[name]["p90_ms"], lat[name]["runs"])])
    for g in goals:
        w.writerow(["goal", g["goal"], g["measured"], g["unit"], g["target"], g["met"], g["note"]])
    for n, v in results["syscalls"].items():
        w.writerow(["syscalls", n, v, "calls", "", "", "strace -c -f"])
    for n, v in results["instructions"].items():
        w.writerow(["instructions", n, v, "Ir", "", "", "valgrind callgrind"])
    for n, v in results["rss_kib"].items():
        w.writerow(["peak_rss", n, v["max_kib"], "KiB", "", "", "p50 %s KiB" % v["p50_kib"]])
with open(os.path.join(OUT, "plot.dat"), "w") as f:
    f.write("# label p50 p10 p90 group(0 baseline, 1 ours, 2 peer)\n")
    for name, label, group in CASES:
        if lat[name]:
            f.write('"%s" %s %s %s %d\n' % (label, lat[name]["p50_ms"], lat[name]["p10_ms"],
                                            lat[name]["p90_ms"], group))

# --- the table ---
m = results["machine"]
print()
print("docker-credential-beta9 benchmarks: %s, %s CPUs (%s), kernel %s" % (m["os"], m["nproc"], m["cpu"], m["kernel"]))
print("hyperfine %s, -N --input, %s rounds x %s runs (cold ECR %s, big list %s per round); load %s -> %s"
      % (results["tools"]["hyperfine"].split()[-1], E["BENCH_ROUNDS"], E["BENCH_RUNS"],
         max(int(E["BENCH_RUNS"]) // 10, 10), max(int(E["BENCH_RUNS"]) // 20, 5),
         E["BENCH_LOAD_START"], E["BENCH_LOAD_END"]))
print("peer: %s (%s), cached path from a pre-filled cache, no network"
      % (results["tools"]["peer"] or "not installed", results["tools"]["peer_version"]))
print()
print("%-32s %9s %9s %9s %9s %6s   %s" % ("case", "p50 ms", "p10 ms", "p90 ms", "p99 ms", "runs", "per-round p50"))
for name, label, _ in CASES + [(n, l, 0) for n, l in EXTRA]:
    v = lat[name]
    if v:
        print("%-32s %9.3f %9.3f %9.3f %9.3f %6d   %s" % (label, v["p50_ms"], v["p10_ms"], v["p90_ms"], v["p99_ms"],
                                                        v["runs"], " ".join("%.3f" % x for x in v["round_p50_ms"])))
    else:
        print("%-32s %9s" % (label, "n/a"))
print()
print("%-58s %10s %-8s %-7s %s" % ("goal", "measured", "target", "met", "note"))
for g in goals:
    met = {True: "yes", False: "NO", None: "-"}[g["met"]]
    val = "n/a" if g["measured"] is None else "%s %s" % (g["measured"], g["unit"] if g["unit"] != "x" else "x")
    print("%-58s %10s %-8s %-7s %s" % (g["goal"], val, g["target"], met, g["note"]))
print()
print("syscalls (strace -c -f, one run): %s" % ", ".join("%s %s" % kv for kv in results["syscalls"].items()))
print("socket() calls (strace -e trace=network): %s" % ", ".join("%s %s" % kv for kv in results["sockets"].items()))
print("peak RSS KiB (max of 20): %s" % ", ".join("%s %s" % (k, v["max_kib"]) for k, v in results["rss_kib"].items()))
if results["instructions"]:
    print("instructions (callgrind Ir): %s" % ", ".join("%s %s" % kv for kv in results["instructions"].items()))
if results["instructions_static_breakdown"]:
    print("  static get breakdown (inclusive Ir): %s" % ", ".join(
        "%s %s" % kv for kv in results["instructions_static_breakdown"].items()))
print("  load-time relocations: %s relative, %s by symbol (readelf -r)" % tuple(E.get("BENCH_RELOCS", "? ?").split()))
print("results: %s/results.json, %s/results.csv" % (OUT, OUT))
