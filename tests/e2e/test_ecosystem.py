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


# ---------------------------------------------------------------------------------------------
# Home Assistant MQTT discovery

KITCHEN_IP, LIVING_IP = "127.0.0.2", "127.0.0.3"
ENTITIES = {  # (component, object id): what it must point at
    ("notify", "announce"): "tts", ("number", "volume"): "set", ("switch", "mute"): "set",
    ("button", "play"): "set", ("button", "pause"): "set", ("button", "next"): "set",
    ("button", "previous"): "set", ("sensor", "transport"): None, ("sensor", "track"): None,
}


def render(template, **variables):
    """Render a Home Assistant template the way it would (plain Jinja2 covers what we use)."""
    try:
        import jinja2
    except ImportError:
        raise unittest.SkipTest("python3-jinja2 not installed (scripts/install-deps)")
    env = jinja2.Environment()
    env.filters["tojson"] = lambda v: json.dumps(v)
    return env.from_string(template).render(**variables)


class HassTest(harness.E2ETestCase):

    def setUp(self):
        self.broker = self.start_broker()
        self.mq = self.mqtt(self.broker, subscribe=["sonos/#"])

    def configs(self, prefix="homeassistant", timeout=15, expect=None):
        """The retained discovery messages a Home Assistant starting now would read:
        {(component, node, object): Message}."""
        found = {}

        def collect():
            client = harness.MqttClient(self.broker, subscribe=["%s/+/+/+/config" % prefix])
            try:
                time.sleep(0.5)
                for m in client.messages:
                    parts = m.topic.split("/")
                    if m.payload:
                        found[(parts[1], parts[2], parts[3])] = m
            finally:
                client.close()
            return expect is None or len(found) >= expect
        deadline = time.monotonic() + timeout
        while not collect() and time.monotonic() < deadline:
            found.clear()
            time.sleep(0.3)
        return found

    def start_rooms(self, extra=None):
        self.kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.living = self.start_speaker(LIVING_IP, "Living Room")
        bridge = self.start_bridge(self.broker, extra=extra)
        for room in ("kitchen", "living-room"):
            self.assertIsNotNone(self.mq.wait_for(
                lambda m, r=room: m.topic == "sonos/%s/availability" % r and m.text == "online",
                20), room)
        return bridge

    def test_configs_point_at_the_real_topics(self):
        self.start_rooms()
        rooms = {self.kitchen.uuid: ("Kitchen", "kitchen"),
                 self.living.uuid: ("Living Room", "living-room")}
        configs = self.configs(expect=2 * len(ENTITIES))
        self.assertEqual(set(configs), {(c, u, o) for u in rooms for (c, o) in ENTITIES})
        unique_ids = set()
        for (component, uuid, obj), m in configs.items():
            self.assertTrue(m.retain, m.topic)
            doc = m.json()
            self.assertIsInstance(doc, dict, m.topic)
            room, slug = rooms[uuid]
            unique_ids.add(doc["unique_id"])
            self.assertEqual(doc["device"]["identifiers"], ["sonos_bridge_%s" % uuid])
            self.assertEqual(doc["device"]["name"], room)
            self.assertEqual(doc["device"]["manufacturer"], "Sonos")
            self.assertEqual(doc["origin"]["name"], "sonos-bridge")
            self.assertEqual(doc["availability_mode"], "all")
            self.assertEqual([a["topic"] for a in doc["availability"]],
                             ["sonos/bridge/state", "sonos/%s/availability" % slug])
            leaf = ENTITIES[(component, obj)]
            if leaf:
                self.assertEqual(doc["command_topic"], "sonos/%s/%s" % (slug, leaf))
                self.assertEqual(doc["qos"], 1)
                self.assertNotIn("retain", doc)  # commands must not be retained
            if "state_topic" in doc:
                self.assertEqual(doc["state_topic"], "sonos/%s/state" % slug)
        self.assertEqual(len(unique_ids), len(configs))
        # Every topic they name exists on the broker, retained, with the values they expect.
        self.assertEqual(self.mq.last("sonos/bridge/state").text, "online")

    def test_home_assistant_drives_a_speaker(self):
        """Do what Home Assistant does with the configurations: render their templates against
        the retained state, publish their commands; the speaker must obey."""
        self.start_rooms()
        kitchen = self.kitchen
        configs = self.configs(expect=2 * len(ENTITIES))
        cfg = {(c, o): m.json() for (c, u, o), m in configs.items() if u == kitchen.uuid}
        ha = self.mqtt(self.broker)
        kitchen.set_media(kitchen.queue_uri, queue_length=5, track=2)
        kitchen.set_transport_state("PLAYING")
        # Volume: the slider's command.
        number = cfg[("number", "volume")]
        ha.publish(number["command_topic"], render(number["command_template"], value=33.0),
                   qos=number["qos"])
        self.assertTrue(kitchen.wait_until(lambda: kitchen.volume == 33, 10), kitchen.volume)
        state = self.mq.wait_for(lambda m: m.topic == number["state_topic"] and
                                 m.json().get("volume") == 33, 15)
        self.assertIsNotNone(state, "no state with volume 33")
        value = state.json()
        self.assertEqual(render(number["value_template"], value_json=value), "33")
        self.assertEqual(render(cfg[("sensor", "transport")]["value_template"],
                                value_json=value), "PLAYING")
        self.assertEqual(render(cfg[("switch", "mute")]["value_template"], value_json=value),
                         "OFF")
        # Unknown fields make the entities unknown ("None"), not 0 or OFF.
        self.assertEqual(render(number["value_template"], value_json={"volume": None}), "None")
        self.assertEqual(render(cfg[("switch", "mute")]["value_template"],
                                value_json={"mute": None}), "None")
        track = cfg[("sensor", "track")]
        self.assertEqual(render(track["value_template"], value_json={"track": None}), "None")
        self.assertEqual(render(track["value_template"],
                                value_json={"track": {"artist": "A", "title": "T"}}), "A - T")
        self.assertEqual(len(render(track["value_template"],
                                    value_json={"track": {"title": "x" * 400}})), 255)
        json.loads(render(track["json_attributes_template"], value_json=value))
        # Mute switch on.
        switch = cfg[("switch", "mute")]
        ha.publish(switch["command_topic"], switch["payload_on"], qos=switch["qos"])
        self.assertTrue(kitchen.wait_until(lambda: kitchen.mute, 10))
        muted = self.mq.wait_for(lambda m: m.topic == switch["state_topic"] and
                                 m.json().get("mute") is True, 15)
        self.assertEqual(render(switch["value_template"], value_json=muted.json()), "ON")
        # Pause button.
        button = cfg[("button", "pause")]
        ha.publish(button["command_topic"], button["payload_press"], qos=button["qos"])
        self.assertTrue(kitchen.wait_until(
            lambda: kitchen.transport_state == "PAUSED_PLAYBACK", 10), kitchen.transport_state)
        # Announcement: notify publishes the message text as it is.
        notify = cfg[("notify", "announce")]
        mark = self.mq.mark()
        ha.publish(notify["command_topic"], "the laundry is done", qos=notify["qos"])
        playing = self.mq.wait_event(lambda e: e.get("speaker") == "Kitchen" and
                                     e["status"] == "playing", 60, after=mark)
        self.assertIsNotNone(playing, self.mq.events(after=mark))
        ev = self.mq.wait_event(lambda e: e.get("id") == playing["id"] and
                                e["status"] in ("done", "failed"), 60, after=mark)
        self.assertEqual(ev and ev["status"], "done", ev)
        self.assertTrue(kitchen.actions_named("Play"))

    def test_republished_when_home_assistant_comes_online(self):
        self.start_rooms()
        self.configs(expect=2 * len(ENTITIES))
        watcher = self.mqtt(self.broker, subscribe=["homeassistant/+/+/+/config"])
        time.sleep(0.5)
        mark = watcher.mark()
        # Home Assistant's will: nothing happens.
        watcher.publish("homeassistant/status", "offline")
        time.sleep(2)
        self.assertEqual(watcher.messages[mark:], [])
        # Its birth message: every configuration again.
        watcher.publish("homeassistant/status", "online")
        got = harness.wait_until(lambda: len(set(m.topic for m in watcher.messages[mark:]))
                                 >= 2 * len(ENTITIES), 10)
        self.assertTrue(got, [m.topic for m in watcher.messages[mark:]])
        for m in watcher.messages[mark:]:
            self.assertIsInstance(m.json(), dict, m.topic)

    def test_removed_when_a_speaker_leaves(self):
        bridge = self.start_rooms(extra={"search_interval_s": 2, "hass_remove_after_s": 0})
        kitchen_uuid = self.kitchen.uuid
        configs = self.configs(expect=2 * len(ENTITIES))
        watcher = self.mqtt(self.broker, subscribe=["homeassistant/+/%s/+/config" % kitchen_uuid])
        time.sleep(0.5)
        mark = watcher.mark()
        self.kitchen.notify = False  # gone without a goodbye
        self.kitchen.stop()
        self.assertIsNotNone(self.mq.wait_for(
            lambda m: m.topic == "sonos/kitchen/availability" and m.text == "offline", 40))
        # Empty retained payloads on each of its configuration topics.
        removed = harness.wait_until(
            lambda: {m.topic for m in watcher.messages[mark:] if m.payload == b""}, 30)
        ok = harness.wait_until(lambda: len({m.topic for m in watcher.messages[mark:]
                                             if m.payload == b""}) == len(ENTITIES), 15)
        self.assertTrue(ok, removed)
        left = self.configs()
        self.assertFalse([k for k in left if k[1] == kitchen_uuid], left)
        self.assertEqual(len([k for k in left if k[1] == self.living.uuid]), len(ENTITIES))
        with open(os.path.join(bridge.state_dir, "hass-speakers")) as f:
            listed = f.read()
        self.assertNotIn(kitchen_uuid, listed)
        self.assertIn(self.living.uuid, listed)
        self.assertTrue(configs)

    def test_kept_while_a_speaker_is_only_off(self):
        """With the default hass_remove_after_s (a day) a speaker that is switched off stays in
        Home Assistant, unavailable."""
        self.start_rooms(extra={"search_interval_s": 2})
        self.configs(expect=2 * len(ENTITIES))
        self.kitchen.notify = False
        self.kitchen.stop()
        self.assertIsNotNone(self.mq.wait_for(
            lambda m: m.topic == "sonos/kitchen/availability" and m.text == "offline", 40))
        time.sleep(12)  # past the settling time after start
        left = self.configs()
        self.assertEqual(len([k for k in left if k[1] == self.kitchen.uuid]), len(ENTITIES))

    def test_prefix_setting_and_off(self):
        self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_bridge(self.broker, extra={"hass_discovery_prefix": "ha-test"})
        configs = self.configs(prefix="ha-test", expect=len(ENTITIES))
        self.assertEqual(len(configs), len(ENTITIES))
        watcher = self.mqtt(self.broker, subscribe=["ha-test/+/+/+/config"])
        time.sleep(0.5)
        mark = watcher.mark()
        watcher.publish("ha-test/status", "online")
        self.assertTrue(harness.wait_until(lambda: len(watcher.messages) - mark >= len(ENTITIES),
                                           10))
        self.assertEqual(self.configs(timeout=1), {})  # nothing under homeassistant/
        bridge.stop()
        # Off: an empty prefix publishes nothing.
        broker = self.start_broker()
        self.broker = broker
        self.start_bridge(broker, speakers=[KITCHEN_IP], extra={"hass_discovery_prefix": ""})
        mq = self.mqtt(broker, subscribe=["#"])
        self.assertIsNotNone(mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 20))
        time.sleep(1)
        self.assertFalse([m.topic for m in mq.messages if not m.topic.startswith("sonos/")])


if __name__ == "__main__":
    unittest.main()
