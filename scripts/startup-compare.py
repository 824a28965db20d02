#!/usr/bin/env python3
"""Side-by-side start-up cost of whole processes, each fed the same stdin file.

    scripts/startup-compare.py --stdin FILE [--runs N] [--env K=V ...] -- NAME=CMD [NAME=CMD ...]

Runs the commands in turn (A B C A B C ...) N times each after 20 unmeasured warm-up rounds,
each started with posix_spawn (stdin from FILE, stdout/stderr to /dev/null) and timed from just
before the spawn to just after waitpid on a monotonic clock. Interleaving keeps the comparison
fair when the machine's speed drifts. Prints, per command, p10/p50/p90 in milliseconds and the
p50 ratio to the first command (the yardstick, e.g. /bin/true), and the median of the per-round
ratios. Every run must exit 0 (a failing `get` is not a hot `get`). Used for BENCHMARKS.md,
"The static binary".
"""
import argparse
import os
import shlex
import statistics
import sys
import time


def spawn_once(argv, env, stdin_path):
    fd = os.open(stdin_path, os.O_RDONLY)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, fd, 0),
                (os.POSIX_SPAWN_DUP2, null, 1),
                (os.POSIX_SPAWN_DUP2, null, 2),
            ],
        )
        _, status = os.waitpid(pid, 0)
        t1 = time.perf_counter_ns()
    finally:
        os.close(fd)
        os.close(null)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"startup-compare: {shlex.join(argv)} exited {os.waitstatus_to_exitcode(status)}")
    return (t1 - t0) / 1e6


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdin", required=True)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("cmds", nargs="+")
    a = ap.parse_args()
    env = {"PATH": "/usr/bin:/bin"}
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    cmds = []
    for c in a.cmds:
        name, _, cmd = c.partition("=")
        argv = shlex.split(cmd)
        if not os.path.isabs(argv[0]):
            sys.exit(f"startup-compare: give {argv[0]} as an absolute path")
        cmds.append((name, argv))
    times = {n: [] for n, _ in cmds}
    for r in range(20 + a.runs):
        for n, argv in cmds:
            t = spawn_once(argv, env, a.stdin)
            if r >= 20:
                times[n].append(t)
    base = cmds[0][0]
    print(f"{'command':<28} {'p10 ms':>8} {'p50 ms':>8} {'p90 ms':>8} {'p50/' + base:>12} {'per-round':>10}")
    for n, _ in cmds:
        xs = times[n]
        rounds = [x / b for x, b in zip(xs, times[base])]
        print(
            f"{n:<28} {pct(xs, 10):8.3f} {statistics.median(xs):8.3f} {pct(xs, 90):8.3f} "
            f"{statistics.median(xs) / statistics.median(times[base]):12.3f} {statistics.median(rounds):10.3f}"
        )


if __name__ == "__main__":
    main()
