"""test_ecosystem.py -- how the bridge fits a home server: systemd's notify protocol (READY,
WATCHDOG, STATUS, STOPPING on a NOTIFY_SOCKET played by the test), the unit file, Home Assistant
MQTT discovery, the status page and /metrics on httpd's port.

Everything asserted is what the other side sees: the datagrams a service manager receives, the
retained messages Home Assistant would read from the broker, the HTTP answers a browser or
Prometheus gets."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness

WORKERS = ("mqttd", "discoveryd", "playerd", "httpd")


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET; records every datagram
    with its arrival time."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="sbn", dir="/tmp")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "sbtest-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self.dir, "notify")
            self.sock.bind(self.address)
        self.sock.settimeout(0.2)
        self.datagrams = []

    def poll(self, timeout):
        """Receive for up to timeout seconds; returns what arrived."""
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            got.append((time.monotonic(), data.decode("utf-8", "replace")))
        self.datagrams += got
        return got

    def wait_for(self, predicate, timeout):
        """The first datagram (text) satisfying predicate, receiving for at most timeout s."""
        for _, text in self.datagrams:
            if predicate(text):
                return text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            text = data.decode("utf-8", "replace")
            self.datagrams.append((time.monotonic(), text))
            if predicate(text):
                return text
        return None

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def fields(datagram):
    """'READY=1\\nSTATUS=x' -> {'READY': '1', 'STATUS': 'x'}"""
    out = {}
    for line in datagram.split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def status_json(bridge):
    out = subprocess.run([bridge.binary, "status", "--json", "--config", bridge.config_path],
                         capture_output=True, text=True, timeout=10)
    return json.loads(out.stdout) if out.returncode == 0 else None


def proc_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


class SystemdTest(harness.E2ETestCase):

    def notify_socket(self, **kw):
        ns = NotifySocket(**kw)
        self.addCleanup(ns.close)
        return ns

    def run_notified(self, abstract=False):
        broker = self.start_broker()
        ns = self.notify_socket(abstract=abstract)
        bridge = self.start_bridge(broker, start=False)
        bridge.start(env={"NOTIFY_SOCKET": ns.address, "WATCHDOG_USEC": "1000000"})
        return broker, ns, bridge

    def check_notify_cycle(self, abstract):
        broker, ns, bridge = self.run_notified(abstract)
        ready = ns.wait_for(lambda t: fields(t).get("READY") == "1", 30)
        self.assertIsNotNone(ready, "no READY=1 within 30 s: %r" % ns.datagrams)
        # READY=1 is sent once every worker is ready: they all are when we look.
        doc = status_json(bridge)
        self.assertEqual({w: doc["workers"][w]["state"] for w in WORKERS},
                         {w: "ready" for w in WORKERS})
        # The workers neither inherit the socket nor the watchdog settings.
        for w in WORKERS:
            env = proc_environ(doc["workers"][w]["pid"])
            self.assertTrue(env, "cannot read the environment of %s" % w)
            self.assertFalse([e for e in env if e.startswith((b"NOTIFY_SOCKET=", b"WATCHDOG_"))],
                             w)
        # Watchdog pings follow on the health rounds (1 s), with the healthcheck line as STATUS.
        got = ns.poll(4)
        pings = [t for _, t in got if fields(t).get("WATCHDOG") == "1"]
        self.assertGreaterEqual(len(pings), 2, "watchdog pings in 4 s: %r" % got)
        status = ns.wait_for(lambda t: fields(t).get("STATUS", "").startswith("healthy"), 10)
        self.assertIsNotNone(status, "no healthy STATUS: %r" % ns.datagrams)
        self.assertIn("4 workers ready, broker connected", fields(status)["STATUS"])
        self.assertEqual(sum(fields(t).get("READY") == "1" for _, t in ns.datagrams), 1)
        # A broker that goes away shows in STATUS, but the watchdog keeps going: a broker outage
        # is not a reason for the service manager to restart the bridge.
        broker.stop()
        down = ns.wait_for(lambda t: "not connected to the broker" in fields(t).get("STATUS", ""),
                           15)
        self.assertIsNotNone(down, "STATUS did not report the broker: %r" % ns.datagrams[-5:])
        got = ns.poll(3)
        self.assertGreaterEqual(len([t for _, t in got if "WATCHDOG=1" in t]), 2, got)
        # SIGTERM: STOPPING=1, then a clean exit.
        bridge.signal(signal.SIGTERM)
        self.assertIsNotNone(ns.wait_for(lambda t: fields(t).get("STOPPING") == "1", 10),
                             ns.datagrams[-5:])
        self.assertEqual(bridge.proc.wait(15), 0)

    def test_notify_ready_watchdog_status_stopping(self):
        self.check_notify_cycle(abstract=False)

    def test_notify_abstract_socket(self):
        """systemd itself passes an abstract socket name ('@...')."""
        self.check_notify_cycle(abstract=True)

    def test_not_ready_while_a_worker_cannot_start(self):
        """httpd's port is taken: it keeps failing, so READY=1 must not be sent, and STATUS
        says which worker is the trouble."""
        broker = self.start_broker()
        ns = self.notify_socket()
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bridge = self.start_bridge(broker, start=False)
        blocker.bind(("127.0.0.1", bridge.http_port))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        bridge.start(env={"NOTIFY_SOCKET": ns.address, "WATCHDOG_USEC": "1000000"})
        ns.poll(6)
        self.assertFalse([t for _, t in ns.datagrams if "READY=1" in t], ns.datagrams)
        self.assertFalse([t for _, t in ns.datagrams if "WATCHDOG=1" in t], ns.datagrams)
        statuses = [fields(t)["STATUS"] for _, t in ns.datagrams if "STATUS" in fields(t)]
        self.assertTrue([s for s in statuses if "httpd" in s], statuses)

    def test_unit_file_verifies(self):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            raise unittest.SkipTest("systemd-analyze not installed")
        unit = os.path.join(harness.REPO, "deploy", "sonos-bridge.service")
        with open(unit) as f:
            text = f.read()
        binary = os.path.join(harness.bin_dir(), "sonos-bridge")
        self.assertIn("ExecStart=/usr/bin/sonos-bridge run", text)
        for key in ("Type=notify", "WatchdogSec=", "NotifyAccess=main", "DynamicUser=yes",
                    "ProtectSystem=strict", "StateDirectory=sonos-bridge",
                    "RuntimeDirectory=sonos-bridge", "NoNewPrivileges=yes", "Restart=on-failure",
                    "RestartPreventExitStatus=78"):
            self.assertIn(key, text)
        d = tempfile.mkdtemp(prefix="sbunit")
        self.addCleanup(shutil.rmtree, d, True)
        copy = os.path.join(d, "sonos-bridge.service")
        with open(copy, "w") as f:
            f.write(text.replace("/usr/bin/sonos-bridge", binary))
        out = subprocess.run([analyze, "verify", copy], capture_output=True, text=True,
                             timeout=60)
        complaints = [l for l in (out.stdout + out.stderr).splitlines()
                      if "sonos-bridge" in l]
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(complaints, [])


if __name__ == "__main__":
    unittest.main()
