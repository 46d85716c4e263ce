#!/usr/bin/python3
"""spool.py -- what the inbound spool costs (issue 4): sustained requests per second through
MQTT, the spool and the bus to playerd and back, and the latency the fsync adds.

    bench/spool.py [--bin-dir DIR] [--requests N] [--quick]

Prints a markdown table on stdout (progress on stderr). Standalone: bench/run may call it.

1. fdatasync: the spool's own write pattern (one ~300-byte record appended, then fdatasync),
   timed in this process on the filesystem of the bridge's state directory, p50/p99.
2. Throughput: N requests published back to back (QoS 1, 100 in flight) with an expiry of one
   millisecond to a room that does not exist, so no speaker action is involved: each is
   spooled and fsynced before its PUBACK, handed to playerd, answered `expired` (or `failed`,
   unknown room, when playerd is quicker than a millisecond), acknowledged back to mqttd and
   recorded
   finished: the whole path of a request but the speaker. Requests per second from the first
   publish to the last terminal event; the spool must be empty at the end.
3. Latency to `queued`: requests to an emulated speaker at a steady 20/s; the time from
   publish to the `queued` event (playerd took it), p50/p99, with the state directory on this
   disk and, as root, on a tmpfs (where fdatasync costs nothing) in a private mount
   namespace: the difference is what the fsync adds to a request.

Needs mosquitto, the built bridge (SB_BIN_DIR or --bin-dir, default build/bin) and, for the
emulated speaker, 127.0.0.2 (as root it runs itself in a private network namespace).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

import harness  # noqa: E402
from test_chaos import TERMINAL, read_spool  # noqa: E402


def log(fmt, *args):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), fmt % args if args else fmt))
    sys.stderr.flush()


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def fsync_times(directory, count):
    """Seconds per append+fdatasync of a spool-sized record in directory."""
    path = os.path.join(directory, "bench-fsync")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    record = b"J" * 300
    times = []
    try:
        for _ in range(count):
            t = time.perf_counter()
            os.write(fd, record)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    return times


def filesystem(path):
    out = subprocess.run(["df", "-PT", path], capture_output=True, text=True).stdout.split("\n")
    return out[1].split()[1] if len(out) > 1 and out[1] else "?"


class Observer:
    """Events with their arrival time, by request id."""

    def __init__(self, broker):
        self.mq = harness.MqttClient(broker, subscribe=["sonos/bridge/state",
                                                      "sonos/+/availability"])
        self.mq.subscribe("sonos/bridge/event", qos=2)

    def first(self, status):
        out = {}
        for m in list(self.mq.messages):
            if m.topic != "sonos/bridge/event":
                continue
            e = m.json() or {}
            if e.get("status") in status and e.get("id") not in out:
                out[e["id"]] = m.t
        return out


class Publisher:
    def __init__(self, broker, inflight=100):
        import paho.mqtt.client as mqtt

        self.c = mqtt.Client(client_id="sbbench-pub-%d" % os.getpid(), clean_session=True)
        self.c.max_inflight_messages_set(inflight)
        self.c.max_queued_messages_set(0)
        self.c.connect("127.0.0.1", broker.port, keepalive=30)
        self.c.loop_start()

    def publish(self, topic, payload):
        return self.c.publish(topic, json.dumps(payload), qos=1)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def start_bridge(broker, bin_dir, on_tmpfs=False, extra=None):
    level = os.environ.get("SB_BENCH_LOG_LEVEL", "warn")
    bridge = harness.Bridge(broker, extra=dict({"log_level": level, "request_expiry_s": 3600,
                                                 "discovery_timeout_ms": 300}, **(extra or {})),
                            binary=os.path.join(bin_dir, "sonos-bridge"))
    if on_tmpfs:
        os.makedirs(bridge.state_dir, exist_ok=True)
        wrapper = os.path.join(bridge.dir, "in-tmpfs")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec unshare -m sh -c \'mount -t tmpfs -o size=64m,mode=0700 '
                    'sbspool "$0" && exec "$@"\' "%s" "%s" "$@"\n' % (bridge.state_dir,
                                                                      bridge.binary))
        os.chmod(wrapper, 0o755)
        bridge.binary = wrapper
    bridge.start()
    return bridge


def wait_online(obs, timeout=20):
    if not obs.mq.wait_for(lambda m: m.topic == "sonos/bridge/state" and m.text == "online",
                           timeout):
        raise RuntimeError("bridge not online")


def throughput(bin_dir, count):
    """(requests/s, seconds, spool left) for count requests that expire before playerd."""
    # mosquitto queues at most 1000 messages per client by default and drops the rest: the
    # bench measures the bridge, not that limit.
    with harness.Broker(extra_conf="max_queued_messages 0\n") as broker:
        obs = Observer(broker)
        bridge = start_bridge(broker, bin_dir)
        try:
            wait_online(obs)
            # playerd waits for discovery before it calls a room unknown; let that pass, so
            # that a request that is not expired yet when playerd sees it fails at once.
            time.sleep(9.5)
            pub = Publisher(broker)
            ids = ["t%05d" % i for i in range(count)]
            t0 = time.time()
            for rid in ids:
                pub.publish("sonos/nowhere/tts", {"id": rid, "text": "request %s" % rid,
                                                  "expire_after": 0.001})
            done = harness.wait_until(lambda: len(obs.first(TERMINAL)) >= count,
                                      60 + count / 20.0, 0.05)
            ends = obs.first(TERMINAL)
            if not done:
                raise RuntimeError("only %d of %d requests answered" % (len(ends), count))
            elapsed = max(ends.values()) - t0
            pub.close()
            time.sleep(1)
            bridge.stop()
            live, _ = read_spool(os.path.join(bridge.state_dir, "spool"))
            return count / elapsed, elapsed, len(live)
        finally:
            if os.environ.get("SB_BENCH_KEEP"):  # a directory for the bridge log
                shutil.copy(bridge.log, os.path.join(os.environ["SB_BENCH_KEEP"], "bridge.log"))
            bridge.cleanup()
            obs.mq.close()


def latency(bin_dir, count, on_tmpfs):
    """Seconds from publish to the `queued` event for count requests at 20/s to a speaker."""
    with harness.Broker() as broker:
        speaker = harness.Speaker("127.0.0.2", "Kitchen")
        speaker.start()
        obs = Observer(broker)
        bridge = start_bridge(broker, bin_dir, on_tmpfs)
        try:
            wait_online(obs)
            if not obs.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability" and
                                   m.text == "online", 20):
                raise RuntimeError("speaker not found")
            pub = Publisher(broker, inflight=20)
            sent = {}
            t0 = time.time()
            for i in range(count):
                time.sleep(max(0.0, t0 + i / 20.0 - time.time()))
                rid = "l%05d" % i
                sent[rid] = time.time()
                # A clip from nowhere: queued at once, then it fails fast at the speaker.
                pub.publish("sonos/kitchen/clip", {"id": rid, "url": "http://127.0.0.1:9/x.mp3"})
            harness.wait_until(lambda: len(obs.first(("queued",))) >= count, 30, 0.05)
            queued = obs.first(("queued",))
            pub.close()
            return [queued[r] - sent[r] for r in sent if r in queued], count - len(queued)
        finally:
            bridge.cleanup()
            obs.mq.close()
            speaker.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("SB_BIN_DIR") or
                    os.path.join(REPO, "build", "bin"))
    ap.add_argument("--requests", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    count = args.requests or (500 if args.quick else 3000)
    if os.geteuid() == 0 and not os.environ.get("SB_ISOLATED") and \
            subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        os.environ["SB_ISOLATED"] = "1"
        os.execv(os.path.join(REPO, "tests", "e2e", "isolated"),
                 [os.path.join(REPO, "tests", "e2e", "isolated"), sys.executable] + sys.argv)

    state_parent = tempfile.gettempdir()
    rows = []
    log("fdatasync on %s (%s)", state_parent, filesystem(state_parent))
    t = fsync_times(state_parent, 300 if args.quick else 2000)
    rows.append(("append + fdatasync of one record (%s)" % filesystem(state_parent),
                 "%.2f ms" % (pct(t, 50) * 1e3), "%.2f ms" % (pct(t, 99) * 1e3), len(t)))

    log("throughput: %d requests, expired before they reach a speaker", count)
    rate, elapsed, left = throughput(args.bin_dir, count)
    rows.append(("sustained requests/s, MQTT → spool → playerd → event → finished",
                 "%.0f req/s" % rate, "%.1f s for %d" % (elapsed, count), count))
    rows.append(("requests left in the spool afterwards", str(left), "", ""))

    n = 60 if args.quick else 200
    log("latency to queued, state on disk")
    disk, lost_disk = latency(args.bin_dir, n, False)
    rows.append(("publish → `queued`, state on %s" % filesystem(state_parent),
                 "%.1f ms" % (pct(disk, 50) * 1e3), "%.1f ms" % (pct(disk, 99) * 1e3),
                 len(disk)))
    root = os.geteuid() == 0 and subprocess.run(["unshare", "-m", "true"]).returncode == 0
    if root:
        log("latency to queued, state on tmpfs")
        mem, lost_mem = latency(args.bin_dir, n, True)
        rows.append(("publish → `queued`, state on tmpfs (fsync free)",
                     "%.1f ms" % (pct(mem, 50) * 1e3), "%.1f ms" % (pct(mem, 99) * 1e3),
                     len(mem)))
        rows.append(("latency the fsync adds (disk − tmpfs)",
                     "%.1f ms" % ((pct(disk, 50) - pct(mem, 50)) * 1e3),
                     "%.1f ms" % ((pct(disk, 99) - pct(mem, 99)) * 1e3), ""))

    print("| spool (%s, %d CPUs) | p50 / value | p99 / detail | n |" % (
        os.uname().machine, os.cpu_count()))
    print("|---|---|---|---|")
    for name, a, b, c in rows:
        print("| %s | %s | %s | %s |" % (name, a, b, c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
