#!/usr/bin/python3
"""discovery.py -- how long the bridge takes from start until every speaker is known and
published: 32 emulated speakers on 127.0.0.2-33, a private mosquitto, the real binaries.

    bench/discovery.py [--speakers 32] [--runs 5] [--bin-dir DIR] [--manual] [--json]

Each run starts a fresh broker and the bridge, and measures from the moment the supervisor is
spawned until sonos/<room>/availability is "online" for every room (what a home-automation
system waits for), plus discoveryd's own figure from its log (the last "found ... ms after
start"). --json prints the figures as one JSON object instead (for bench/run). --manual adds runs where the speakers do not answer SSDP and only one address is
configured: the household is learnt from that speaker's ZoneGroupState. Prints a markdown
table; exit status 0 when every run finished, 1 otherwise. As root it runs itself in a private
network namespace (tests/e2e/isolated), so no packet reaches a real interface.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import harness  # noqa: E402

PYTHON = "/usr/bin/python3"
TARGET_S = 2.0
RUN_TIMEOUT_S = 30.0


def isolate():
    """Re-run inside tests/e2e/isolated when root and not yet there."""
    if os.geteuid() == 0 and not os.environ.get("SB_BENCH_ISOLATED"):
        env = dict(os.environ, SB_BENCH_ISOLATED="1")
        cmd = [os.path.join(REPO, "tests", "e2e", "isolated"), PYTHON] + sys.argv
        os.execve(cmd[0], cmd, env)


def room(i):
    return "Room %02d" % i


def slug(i):
    return "room-%02d" % i


class Speakers:
    """The emulated speakers, in a process of their own (no shared interpreter lock with the
    MQTT client that measures)."""

    def __init__(self, count, ssdp):
        self.ips = ["127.0.0.%d" % (2 + i) for i in range(count)]
        cmd = [PYTHON, os.path.join(REPO, "tests", "speaker", "sonos_speaker.py")]
        for i, ip in enumerate(self.ips):
            cmd += ["--speaker", "%s:%s" % (ip, room(i))]
        if not ssdp:
            cmd.append("--no-ssdp")
        self.log = open(os.path.join(harness.short_tmpdir("sbbench"), "speakers.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        ok = harness.wait_until(lambda: self.proc.poll() is not None or all(
            harness.port_open(1400, ip) for ip in self.ips), 30, 0.2)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("speakers did not start:\n" + harness.tail(self.log.name, 20))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def one_run(count, manual_ip, bin_dir):
    """Start broker and bridge, wait for every availability. Returns (seconds to all online,
    seconds to the first, discoveryd's own ms for the last speaker or None) or raises."""
    broker = harness.Broker().start()
    mq = bridge = None
    try:
        mq = harness.MqttClient(broker, subscribe=["sonos/+/availability"])
        extra = {"log_level": "info"}
        bridge = harness.Bridge(broker, speakers=[manual_ip] if manual_ip else None, extra=extra,
                                binary=os.path.join(bin_dir, "sonos-bridge"))
        want = {"sonos/%s/availability" % slug(i) for i in range(count)}
        t0 = time.time()
        bridge.start()
        done = mq.wait_for(lambda m: want <= {x.topic for x in mq.messages
                                              if x.text == "online"}, RUN_TIMEOUT_S)
        if not done:
            seen = {m.topic for m in mq.messages if m.text == "online"}
            raise RuntimeError("%d of %d speakers online after %.0f s" % (
                len(seen & want), count, RUN_TIMEOUT_S))
        online = [m.t for m in mq.messages if m.topic in want and m.text == "online"]
        found = [int(x) for x in re.findall(r"found by \w+, (\d+) ms after start",
                                            bridge.log_text())]
        return (max(online) - t0, min(online) - t0,
                max(found) if len(found) >= count else None)
    finally:
        if mq:
            mq.close()
        if bridge:
            bridge.cleanup()
        broker.cleanup()


def fmt(values):
    return "%.2f s" % statistics.median(values) if values else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speakers", type=int, default=32)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin-dir", default=os.environ.get("SB_BIN_DIR") or harness.bin_dir())
    ap.add_argument("--manual", action="store_true",
                    help="also measure one manual address, no SSDP")
    ap.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    opts = ap.parse_args()
    if not 1 <= opts.speakers <= 120 or opts.runs < 1:
        ap.error("--speakers 1..120, --runs >= 1")
    isolate()
    modes = [("SSDP", True)] + ([("one manual address, no SSDP", False)] if opts.manual else [])
    rows, failed = [], False
    for name, ssdp in modes:
        speakers = Speakers(opts.speakers, ssdp)
        all_s, first_s, own_ms = [], [], []
        try:
            for _ in range(opts.runs):
                try:
                    t_all, t_first, own = one_run(opts.speakers, None if ssdp else
                                                  speakers.ips[0], opts.bin_dir)
                except RuntimeError as e:
                    print("run failed (%s): %s" % (name, e), file=sys.stderr)
                    failed = True
                    continue
                all_s.append(t_all)
                first_s.append(t_first)
                if own is not None:
                    own_ms.append(own / 1000.0)
        finally:
            speakers.stop()
        if all_s:
            rows.append((name, all_s, first_s, own_ms))
    if opts.json:
        print(json.dumps({"speakers": opts.speakers, "runs": opts.runs, "target_s": TARGET_S,
                          "modes": [{"mode": name, "all_online_s": all_s,
                                     "first_online_s": first_s, "discoveryd_all_s": own}
                                    for name, all_s, first_s, own in rows]}))
        return 1 if failed or not rows else 0
    print("## Discovery: %d speakers, %d runs each\n" % (opts.speakers, opts.runs))
    print("From spawning sonos-bridge until the retained availability of every room is "
          "online on the broker (target: under %.0f s with SSDP). Median, best, worst.\n"
          % TARGET_S)
    print("| discovery | all rooms online | best | worst | first room online | "
          "discoveryd knows all |")
    print("|---|---|---|---|---|---|")
    for name, all_s, first_s, own_ms in rows:
        print("| %s | %s | %.2f s | %.2f s | %s | %s |" % (
            name, fmt(all_s), min(all_s), max(all_s), fmt(first_s), fmt(own_ms)))
    print("\nMedians except best and worst. \"discoveryd knows all\": from its own start, "
          "as it logs it.")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
