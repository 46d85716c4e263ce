#!/usr/bin/python3
"""restart.py -- how fast the supervisor brings a worker back: time from kill -9 of a worker
until the supervisor reports it ready again, p50/p99 over many kills per worker, as markdown.

    bench/restart.py                 50 kills per worker, table on stdout
    bench/restart.py --kills 200     more kills
    bench/restart.py --json          the figures as JSON (for bench/run)

Each kill is timed from time.time() just before os.kill() to the timestamp of the
supervisor's "<worker> (pid N) ready after X ms" log line (same clock, millisecond log
stamps). The readiness line is the worker's own: mqttd connecting or connected, discoveryd
listening, playerd on the bus, httpd bound. The restart policy's delay is taken out of the
measure by restart_stable_s 1 (a worker up for a second restarts at once) and by killing a
worker only after it has been up that long; the intensity limit is raised. Workers are killed
round robin, so each waits its turn. Runs a private mosquitto; as root, in a private network
namespace (tests/e2e/isolated). Exit status 0 when every kill was followed by a ready worker,
1 otherwise.
"""

import argparse
import calendar
import json
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from procfs import percentile  # noqa: E402

PYTHON = "/usr/bin/python3"
WORKERS = ("mqttd", "discoveryd", "playerd", "httpd")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z supervisor\[\d+\] \w+: (\w+): (.*)$")
# Targets of issue 3: shown next to the figures, never asserted.
TARGET_P50_MS, TARGET_P99_MS = 300.0, 1000.0


def log(fmt, *args):
    sys.stderr.write(("[%s] " % time.strftime("%H:%M:%S")) + (fmt % args if args else fmt) + "\n")
    sys.stderr.flush()


def stamp_seconds(date, millis):
    return calendar.timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000.0


class SupervisorLog:
    """Reads the bridge's log as it grows and keeps the supervisor's lines: (time, func, text)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = ""
        self.lines = []

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        text = self.partial + data.decode("utf-8", "replace")
        *complete, self.partial = text.split("\n")
        for line in complete:
            m = STAMP.match(line)
            if m:
                self.lines.append((stamp_seconds(m.group(1), m.group(2)), m.group(3), m.group(4)))

    def find(self, pattern, since_index=0):
        """(index, time, match) of the first supervisor line from since_index matching."""
        rx = re.compile(pattern)
        for i in range(since_index, len(self.lines)):
            m = rx.search(self.lines[i][2])
            if m:
                return i, self.lines[i][0], m
        return None


def reexec_isolated(bin_dir):
    if os.environ.get("SB_BENCH_INNER") or os.geteuid() != 0:
        return
    env = dict(os.environ, SB_BENCH_INNER="1", SB_BIN_DIR=bin_dir)
    isolated = os.path.join(REPO, "tests", "e2e", "isolated")
    os.execve(isolated, [isolated, PYTHON, os.path.abspath(__file__)] + sys.argv[1:], env)


def current_pids(slog, since=0):
    """Worker name -> pid of its last "ready" line."""
    pids = {}
    for _, func, text in slog.lines[since:]:
        m = re.match(r"(\w+) \(pid (\d+)\) ready after", text)
        if m and func == "ready_line":
            pids[m.group(1)] = int(m.group(2))
    return pids


def measure(bin_dir, kills, workers, timeout_s=10.0):
    """Kill each worker `kills` times; returns {worker: [samples]} where a sample is a dict of
    seconds: total (kill -> ready), noticed (kill -> exit seen), spawn (exit seen -> started),
    ready (started -> ready)."""
    broker = harness.Broker().start()
    bridge = harness.Bridge(broker, binary=os.path.join(bin_dir, "sonos-bridge"),
                            extra={"log_level": "info", "restart_stable_s": 1,
                                   "restart_intensity": 100, "restart_period_s": 1})
    samples = {w: [] for w in workers}
    failures = []
    try:
        bridge.start()
        slog = SupervisorLog(bridge.log)
        ready_at = {}
        deadline = time.monotonic() + 20
        while set(current_pids(slog)) != set(WORKERS):
            if time.monotonic() > deadline:
                raise RuntimeError("the bridge did not become ready:\n" + harness.tail(bridge.log))
            time.sleep(0.02)
            slog.poll()
        now = time.time()
        for w in WORKERS:
            ready_at[w] = now
        for round_no in range(kills):
            for w in workers:
                pid = current_pids(slog)[w]
                # Up at least restart_stable_s, so the policy restarts it at once.
                wait = ready_at[w] + 1.05 - time.time()
                if wait > 0:
                    time.sleep(wait)
                mark = len(slog.lines)
                t_kill = time.time()
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    raise RuntimeError("%s (pid %d) is gone before its kill; the supervisor "
                                       "said:\n%s" % (w, pid, harness.tail(bridge.log, 20)))
                found = None
                end = time.monotonic() + timeout_s
                while found is None and time.monotonic() < end:
                    time.sleep(0.002)
                    slog.poll()
                    found = slog.find(r"^%s \(pid (\d+)\) ready after (\d+) ms" % w, mark)
                if found is None:
                    failures.append("%s kill %d: not ready within %.0f s" % (w, round_no, timeout_s))
                    continue
                _, t_ready, _ = found
                exited = slog.find(r"^%s \(pid %d\) killed by signal 9" % (w, pid), mark)
                started = slog.find(r"^started %s \(pid (\d+)\)" % w, mark)
                sample = {"total": t_ready - t_kill}
                if exited and started:
                    sample["noticed"] = exited[1] - t_kill
                    sample["spawn"] = started[1] - exited[1]
                    sample["ready"] = t_ready - started[1]
                samples[w].append(sample)
                ready_at[w] = t_ready
            if (round_no + 1) % 10 == 0:
                log("%d/%d rounds", round_no + 1, kills)
        if not bridge.running:
            failures.append("the supervisor exited (status %s)" % bridge.proc.returncode)
    finally:
        status = bridge.stop()
        if status not in (0, None):
            failures.append("the bridge stopped with status %s" % status)
        if failures:
            log("bridge log tail:\n%s", harness.tail(bridge.log, 40))
        bridge.cleanup()
        broker.cleanup()
    return samples, failures


def summarize(samples):
    out = {}
    for w, lst in samples.items():
        row = {"kills": len(lst)}
        for key in ("total", "noticed", "spawn", "ready"):
            vals = [s[key] * 1000.0 for s in lst if key in s]
            row[key] = {"p50": percentile(vals, 50), "p90": percentile(vals, 90),
                        "p99": percentile(vals, 99), "max": max(vals) if vals else None}
        out[w] = row
    return out


def fmt(v):
    return "-" if v is None else ("%.0f" % v if v >= 10 else "%.1f" % v)


def markdown(summary):
    lines = ["| worker | kills | p50 ms | p90 ms | p99 ms | max ms | exit seen p50 | "
             "spawn p50 | start to ready p50 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for w, row in summary.items():
        t = row["total"]
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            w, row["kills"], fmt(t["p50"]), fmt(t["p90"]), fmt(t["p99"]), fmt(t["max"]),
            fmt(row["noticed"]["p50"]), fmt(row["spawn"]["p50"]), fmt(row["ready"]["p50"])))
    lines.append("")
    lines.append("Kill -9 to ready again, as the supervisor logs it (target: p50 under %.0f ms, "
                 "p99 under %.0f ms). The last three columns split the p50: kill to the "
                 "supervisor seeing the exit, exit to the new process started, start to its "
                 "readiness line." % (TARGET_P50_MS, TARGET_P99_MS))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=50, help="kills per worker (default 50)")
    ap.add_argument("--workers", default=",".join(WORKERS), help="comma separated")
    ap.add_argument("--bin-dir", default=os.environ.get("SB_BIN_DIR") or
                    os.path.join(REPO, "build", "bin"))
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    workers = [w for w in args.workers.split(",") if w]
    if args.kills < 1 or any(w not in WORKERS for w in workers):
        ap.error("--kills must be positive; workers are %s" % ", ".join(WORKERS))
    bin_dir = os.path.abspath(args.bin_dir)
    if not os.access(os.path.join(bin_dir, "sonos-bridge"), os.X_OK):
        ap.error("no sonos-bridge in %s (build first, or --bin-dir)" % bin_dir)
    reexec_isolated(bin_dir)
    log("%d kills per worker of %s, bridge from %s", args.kills, ", ".join(workers), bin_dir)
    try:
        samples, failures = measure(bin_dir, args.kills, workers)
    except RuntimeError as e:
        log("FAILED: %s", e)
        return 1
    summary = summarize(samples)
    if args.json:
        print(json.dumps({"restart": summary, "failures": failures}, indent=1))
    else:
        print(markdown(summary))
    for f in failures:
        log("FAILED: %s", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
