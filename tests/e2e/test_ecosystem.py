"""test_ecosystem.py -- how the bridge fits a home server: systemd's notify protocol (READY,
WATCHDOG, STATUS, RELOADING, STOPPING on a NOTIFY_SOCKET played by the test), the unit file, Home Assistant
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
import urllib.error
import urllib.parse
import urllib.request

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

    def test_reload_says_reloading_then_ready_once_the_restarted_worker_is_back(self):
        broker, ns, bridge = self.run_notified()
        self.assertIsNotNone(ns.wait_for(lambda t: fields(t).get("READY") == "1", 30),
                             ns.datagrams)
        httpd_pid = status_json(bridge)["workers"]["httpd"]["pid"]
        bridge.config["tts_voice"] = "de"
        bridge.write_config()
        ns.datagrams.clear()
        before_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        bridge.signal(signal.SIGHUP)
        reloading = ns.wait_for(lambda t: fields(t).get("RELOADING") == "1", 10)
        self.assertIsNotNone(reloading, ns.datagrams)
        # systemd ignores a RELOADING=1 whose MONOTONIC_USEC is older than the reload it
        # started (Type=notify-reload): it must be later than the signal, to the microsecond.
        usec = int(fields(reloading)["MONOTONIC_USEC"])
        self.assertGreaterEqual(usec, before_us)
        self.assertLess(usec - before_us, 10 * 1000 * 1000)
        ready = ns.wait_for(lambda t: fields(t).get("READY") == "1", 20)
        self.assertIsNotNone(ready, ns.datagrams)
        # READY=1 came only once httpd, which the new voice concerns, was back and ready.
        doc = status_json(bridge)
        self.assertNotEqual(doc["workers"]["httpd"]["pid"], httpd_pid)
        self.assertEqual({w: doc["workers"][w]["state"] for w in WORKERS},
                         {w: "ready" for w in WORKERS})
        self.assertIsNotNone(bridge.wait_log(r"httpd\[\d+\] info: main: .*voice de", 5))
        # A reload that concerns nobody is ready again at once.
        ns.datagrams.clear()
        bridge.signal(signal.SIGHUP)
        self.assertIsNotNone(ns.wait_for(lambda t: fields(t).get("RELOADING") == "1", 10),
                             ns.datagrams)
        self.assertIsNotNone(ns.wait_for(lambda t: fields(t).get("READY") == "1", 3),
                             ns.datagrams)
        # A reload httpd refuses (no such voice) is over as well, and says so; the bridge
        # stays up and the watchdog goes on.
        bridge.config["tts_voice"] = "xx-no-such-voice"
        bridge.write_config()
        ns.datagrams.clear()
        bridge.signal(signal.SIGHUP)
        ready = ns.wait_for(lambda t: fields(t).get("READY") == "1", 15)
        self.assertIsNotNone(ready, ns.datagrams)
        statuses = [fields(t)["STATUS"] for _, t in ns.datagrams if "STATUS" in fields(t)]
        self.assertIn("httpd", statuses[-1], statuses)
        got = ns.poll(3)
        self.assertGreaterEqual(len([t for _, t in got if "WATCHDOG=1" in t]), 2, got)
        self.assertTrue(bridge.running)

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
                    # Only what the broker keeps: a live publish that happens to arrive now
                    # comes without the retain flag.
                    if m.payload and m.retain:
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
        # Announcement: notify renders its command template with the message as value. A
        # message that looks like JSON is still only text to say.
        notify = cfg[("notify", "announce")]
        mark = self.mq.mark()
        message = '{the laundry} is done, "volume": 100'
        ha.publish(notify["command_topic"], render(notify["command_template"], value=message),
                   qos=notify["qos"])
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


# ---------------------------------------------------------------------------------------------
# The status page, its test announcement, /metrics

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def parse_float(text):
    """A sample value as the exposition format allows (Go's ParseFloat plus +Inf/-Inf/NaN)."""
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("+", ""))
    if not re.match(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\Z", text):
        raise ValueError("bad value %r" % text)
    return float(text)


def parse_labels(text):
    """'a="x",b="y\\"z"' -> {'a': 'x', 'b': 'y"z'}; strict about quoting and escapes."""
    labels, i = {}, 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq]
        if not LABEL_NAME.match(name) or name in labels:
            raise ValueError("bad label name %r" % name)
        if text[eq + 1:eq + 2] != '"':
            raise ValueError("label value not quoted in %r" % text)
        j, value = eq + 2, []
        while True:
            if j >= len(text):
                raise ValueError("unterminated label value in %r" % text)
            c = text[j]
            if c == "\\":
                esc = text[j + 1:j + 2]
                if esc not in ('\\', '"', "n"):
                    raise ValueError("bad escape \\%s" % esc)
                value.append("\n" if esc == "n" else esc)
                j += 2
            elif c == '"':
                break
            elif c == "\n":
                raise ValueError("newline in a label value")
            else:
                value.append(c)
                j += 1
        labels[name] = "".join(value)
        i = j + 1
        if i < len(text):
            if text[i] != ",":
                raise ValueError("expected ',' in %r" % text)
            i += 1
    return labels


def parse_prometheus(text):
    """A strict parser of the text exposition format 0.0.4: returns {family: {"type", "help",
    "samples": [(name, labels, value)]}}. Raises ValueError on anything out of place."""
    if not text.endswith("\n"):
        raise ValueError("the exposition does not end with a newline")
    families, current, seen = {}, None, set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("# "):
            parts = line.split(" ", 3)
            if parts[1] not in ("HELP", "TYPE") or len(parts) < 4:
                raise ValueError("line %d: bad comment %r" % (n, line))
            name = parts[2]
            if not METRIC_NAME.match(name):
                raise ValueError("line %d: bad metric name %r" % (n, name))
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if fam["samples"]:
                raise ValueError("line %d: %s after its samples" % (n, parts[1]))
            key = "help" if parts[1] == "HELP" else "type"
            if fam[key] is not None:
                raise ValueError("line %d: second %s for %s" % (n, parts[1], name))
            if key == "type" and parts[3] not in ("counter", "gauge", "histogram", "summary",
                                                   "untyped"):
                raise ValueError("line %d: bad type %r" % (n, parts[3]))
            fam[key] = parts[3]
            current = name
            continue
        if not line or line.startswith("#"):
            raise ValueError("line %d: empty line or stray comment %r" % (n, line))
        m = re.match(r"([^{ ]+)(?:\{(.*)\})? (\S+)(?: (-?\d+))?\Z", line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (n, line))
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), parse_float(m.group(3))
        if not METRIC_NAME.match(name):
            raise ValueError("line %d: bad metric name %r" % (n, name))
        family = current
        fam = families.get(family)
        ftype = fam and fam["type"]
        allowed = {family} if ftype != "histogram" else {
            family + "_bucket", family + "_sum", family + "_count"}
        if fam is None or ftype is None or name not in allowed:
            raise ValueError("line %d: sample %s outside its family (TYPE first)" % (n, name))
        series = (name, tuple(sorted(labels.items())))
        if series in seen:
            raise ValueError("line %d: duplicate series %r" % (n, series))
        seen.add(series)
        fam["samples"].append((name, labels, value))
    for name, fam in families.items():
        if fam["type"] is None or fam["help"] is None or not fam["samples"]:
            raise ValueError("%s: HELP, TYPE and samples are all needed" % name)
        if fam["type"] == "counter" and not name.endswith("_total"):
            raise ValueError("counter %s does not end in _total" % name)
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    buckets = [(parse_float(l["le"]), v) for n, l, v in samples if n == name + "_bucket"]
    count = [v for n, l, v in samples if n == name + "_count"]
    total = [v for n, l, v in samples if n == name + "_sum"]
    if not buckets or len(count) != 1 or len(total) != 1:
        raise ValueError("%s: buckets, one _sum and one _count needed" % name)
    bounds = [b for b, _ in buckets]
    if bounds != sorted(bounds) or bounds[-1] != float("inf"):
        raise ValueError("%s: le not increasing to +Inf: %r" % (name, bounds))
    values = [v for _, v in buckets]
    if values != sorted(values):
        raise ValueError("%s: buckets not cumulative: %r" % (name, values))
    if values[-1] != count[0]:
        raise ValueError("%s: +Inf bucket %r differs from _count %r" % (name, values[-1], count[0]))


def sample(families, family, name=None, **labels):
    if family not in families:
        return None
    for n, l, v in families[family]["samples"]:
        if n == (name or family) and all(l.get(k) == v2 for k, v2 in labels.items()):
            return v
    return None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


def http(url, data=None, headers=None, method=None):
    """(status, headers, body text) without following redirects; never raises on 4xx/5xx."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


class WebDriver:
    """Headless Chromium driven by chromedriver's W3C WebDriver protocol (plain HTTP+JSON)."""

    ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

    def __init__(self, profile_dir):
        chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
        if not chromium or not driver:
            raise unittest.SkipTest("chromium and chromium-driver not installed "
                                    "(scripts/install-deps)")
        self.port = harness.free_port()
        self.log = open(os.path.join(profile_dir, "chromedriver.log"), "wb")
        self.proc = subprocess.Popen([driver, "--port=%d" % self.port], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        if not harness.wait_until(lambda: harness.port_open(self.port), 20):
            self.close()
            raise RuntimeError("chromedriver did not start")
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1400",
                     "--user-data-dir=" + os.path.join(profile_dir, "profile")]}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError("webdriver %s %s: %s" % (method, path, e.read()[:500]))

    def s(self, method, path, body=None):
        if method == "POST" and body is None:
            body = {}
        return self.call(method, "/session/%s%s" % (self.session, path), body)

    def get(self, url):
        self.s("POST", "/url", {"url": url})

    def source(self):
        return self.s("GET", "/source")

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[self.ELEMENT]

    def texts(self, css):
        found = self.s("POST", "/elements", {"using": "css selector", "value": css})
        return [self.s("GET", "/element/%s/text" % e[self.ELEMENT]) for e in found]

    def screenshot(self, path):
        import base64
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))

    def close(self):
        try:
            if getattr(self, "session", None):
                self.call("DELETE", "/session/%s" % self.session)
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


class WebTest(harness.E2ETestCase):

    def setUp(self):
        self.broker = self.start_broker()
        self.mq = self.mqtt(self.broker, subscribe=["sonos/#"])

    def start_rooms(self, rooms=(("127.0.0.2", "Kitchen"), ("127.0.0.3", "Living Room")),
                    extra=None):
        speakers = [self.start_speaker(ip, room) for ip, room in rooms]
        bridge = self.start_bridge(self.broker, extra=extra)
        self.url = "http://127.0.0.1:%d" % bridge.http_port
        for sp in speakers:
            slug = re.sub(r"[^a-z0-9]+", "-", sp.room.lower()).strip("-")
            self.assertIsNotNone(self.mq.wait_for(
                lambda m, s=slug: m.topic == "sonos/%s/availability" % s and m.text == "online",
                20), sp.room)
        return bridge, speakers

    def announce(self, room, text, rid):
        mark = self.mq.mark()
        self.mq.publish("sonos/%s/tts" % room, json.dumps({"id": rid, "text": text}))
        return self.mq.wait_event(lambda e: e.get("id") == rid and
                                  e["status"] in ("done", "failed", "rejected"), 60, after=mark)

    def page(self, path="/"):
        """The status page once mqttd's facts have caught up (a health round, 1 s)."""
        status, headers, body = http(self.url + path)
        self.assertEqual(status, 200, body[:500])
        return headers, body

    def page_until(self, pattern, timeout=10):
        """The page once it matches pattern (facts reach the supervisor once a second)."""
        found = harness.wait_until(lambda: (lambda b: b if re.search(pattern, b) else None)(
            self.page()[1]), timeout)
        self.assertTrue(found, "the page never showed %r:\n%s" % (pattern, self.page()[1]))
        return found

    def test_page_shows_workers_speakers_and_announcements(self):
        self.start_rooms()
        self.assertEqual(self.announce("kitchen", "dinner is <b>ready</b> & \"hot\"", "p-1")
                         ["status"], "done")
        body = self.page_until(r'<td>p-1</td>.*<td class="ok">done</td>')
        headers, _ = self.page()
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
        self.assertEqual(headers["Cache-Control"], "no-store")
        for w in WORKERS:
            self.assertRegex(body, r'<tr class="worker"><td>%s</td><td class="ok">ready</td>' % w)
        self.assertIn("<td>Kitchen</td><td>kitchen</td>", body)
        self.assertIn("<td>Living Room</td><td>living-room</td>", body)
        # The text as sent, escaped: no markup of ours comes from the data.
        self.assertIn("dinner is &lt;b&gt;ready&lt;/b&gt; &amp; &quot;hot&quot;", body)
        self.assertNotIn("<b>ready</b>", body)
        self.assertRegex(body, r'<td>p-1</td><td>Kitchen</td><td>tts</td><td>[^<]*</td>'
                               r'<td class="ok">done</td>')
        # HEAD: the same head, no body.
        status, headers, text = http(self.url + "/", method="HEAD")
        self.assertEqual((status, text), (200, ""))
        self.assertGreater(int(headers["Content-Length"]), 1000)

    def test_hostile_room_names_are_escaped(self):
        evil = '<script>alert(1)</script>"\'&'
        self.start_rooms(rooms=(("127.0.0.2", evil),))
        body = self.page_until(r'class="speaker"')
        self.assertNotIn("<script>", body)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&apos;&amp;", body)

    def post_form(self, fields, origin=True, headers=None, raw=None):
        data = raw if raw is not None else urllib.parse.urlencode(fields).encode()
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin:
            h["Origin"] = self.url
        h.update(headers or {})
        return http(self.url + "/announce", data=data, headers=h, method="POST")

    def test_form_announcement_goes_through_mqttd_and_its_spool(self):
        bridge, (kitchen, _) = self.start_rooms()
        mark = self.mq.mark()
        status, headers, _ = self.post_form({"room": "kitchen", "text": "the form works",
                                             "volume": "35"})
        self.assertEqual(status, 303)
        m = re.match(r"/\?sent=(web-[0-9a-f]{12})#recent\Z", headers["Location"])
        self.assertTrue(m, headers["Location"])
        rid = m.group(1)
        ev = self.mq.wait_event(lambda e: e.get("id") == rid and e["status"] == "done", 60,
                                after=mark)
        self.assertIsNotNone(ev, self.mq.events(after=mark))
        self.assertEqual(ev["speaker"], "Kitchen")
        # mqttd took it like an MQTT request: into the spool first.
        self.assertTrue(bridge.wait_log(r"%s: tts for kitchen spooled" % rid, 5))
        self.assertTrue(kitchen.actions_named("Play"))
        self.assertIn(35, [a.get("args", {}).get("DesiredVolume") and
                           int(a["args"]["DesiredVolume"]) for a in
                           kitchen.actions_named("SetVolume")])
        _, body = self.page(headers["Location"])
        self.assertIn("Test announcement %s sent" % rid, body)
        self.page_until(r'<td>%s</td><td>Kitchen</td><td>tts</td><td>the form works</td>'
                        r'<td class="ok">done</td>' % rid)

    def test_form_refusals(self):
        bridge, (kitchen, _) = self.start_rooms()
        mark = self.mq.mark()
        ok = {"room": "kitchen", "text": "hello"}
        # Another origin, no origin at all, a cross-site fetch: refused, nothing played.
        self.assertEqual(self.post_form(ok, headers={"Origin": "http://evil.example"})[0], 403)
        self.assertEqual(self.post_form(ok, origin=False)[0], 403)
        self.assertEqual(self.post_form(ok, headers={"Sec-Fetch-Site": "cross-site"})[0], 403)
        self.assertEqual(self.post_form(ok, origin=False, headers={
            "Referer": "http://evil.example/x"})[0], 403)
        # Same origin by Referer alone is fine.
        status, headers, _ = self.post_form(ok, origin=False,
                                            headers={"Referer": self.url + "/"})
        self.assertEqual(status, 303)
        good_id = headers["Location"].split("=")[1].split("#")[0]
        # Bad input.
        self.assertEqual(self.post_form(ok, headers={"Content-Type": "text/plain"})[0], 415)
        for fields, why in (({"room": "kitchen", "text": ""}, "empty"),
                            ({"room": "kitchen", "text": "   "}, "empty"),
                            ({"room": "../etc", "text": "x"}, "choose a room"),
                            ({"room": "kitchen/tts", "text": "x"}, "choose a room"),
                            ({"room": "kitchen", "text": "x", "volume": "500"}, "volume"),
                            ({"room": "kitchen", "text": "x", "volume": "5a"}, "volume"),
                            ({"room": "kitchen", "text": "x" * 1001}, "longer than 1000")):
            status, _, body = self.post_form(fields)
            self.assertEqual(status, 400, fields)
            self.assertIn(why, body)
        status, _, body = self.post_form(None, raw=b"room=kitchen&text=%ff%fe")
        self.assertEqual((status, "UTF-8" in body), (400, True))
        status, _, body = self.post_form(None, raw=b"room=kitchen&text=%zz")
        self.assertEqual(status, 400)
        status, _, _ = self.post_form(None, raw=b"room=kitchen&text=" + b"a" * 5000)
        self.assertEqual(status, 413)
        # A GET cannot announce.
        self.assertEqual(http(self.url + "/announce?room=kitchen&text=x")[0], 404)
        # Only the good one was played.
        self.assertIsNotNone(self.mq.wait_event(
            lambda e: e.get("id") == good_id and e["status"] == "done", 60, after=mark))
        time.sleep(1)
        ids = {e.get("id") for e in self.mq.events(after=mark)}
        self.assertEqual(ids, {good_id})
        self.assertEqual(len(kitchen.actions_named("Play")), 1)

    def test_metrics_format_and_values(self):
        self.start_rooms()
        self.assertEqual(self.announce("kitchen", "one", "m-1")["status"], "done")
        self.mq.publish("sonos/kitchen/tts", '{"text": "x", "volume": 500}')  # rejected
        fams = None

        def scraped():
            nonlocal fams
            status, headers, body = http(self.url + "/metrics")
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["Content-Type"],
                             "text/plain; version=0.0.4; charset=utf-8")
            fams = parse_prometheus(body)
            return sample(fams, "sonos_bridge_announcements_total", outcome="rejected") == 1
        self.assertTrue(harness.wait_until(scraped, 10), fams)
        for w in WORKERS:
            self.assertEqual(sample(fams, "sonos_bridge_worker_up", worker=w), 1)
            self.assertEqual(sample(fams, "sonos_bridge_worker_restarts_total", worker=w), 0)
        self.assertEqual(sample(fams, "sonos_bridge_announcements_total", outcome="done"), 1)
        self.assertEqual(sample(fams, "sonos_bridge_requests_total", kind="tts",
                                outcome="done"), 1)
        self.assertEqual(sample(fams, "sonos_bridge_broker_connected"), 1)
        self.assertEqual(sample(fams, "sonos_bridge_broker_reconnects_total"), 0)
        self.assertEqual(sample(fams, "sonos_bridge_speakers_known"), 2)
        self.assertEqual(sample(fams, "sonos_bridge_clip_cache_entries"), 1)
        self.assertGreater(sample(fams, "sonos_bridge_clip_cache_bytes"), 1000)
        lat = "sonos_bridge_announcement_latency_seconds"
        self.assertEqual(fams[lat]["type"], "histogram")
        self.assertEqual(sample(fams, lat, lat + "_count"), 1)
        self.assertEqual(sample(fams, lat, lat + "_bucket", le="+Inf"), 1)
        self.assertGreater(sample(fams, lat, lat + "_sum"), 0)
        # The parser is strict: it refuses what a Prometheus server would.
        for bad in ("x 1", "# TYPE x counter\nx 1\n", "# HELP a b\n# TYPE a gauge\na{l=\"1} 1\n",
                    "# HELP a b\n# TYPE a gauge\na 1\na 2\n",
                    "# HELP h b\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                    "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"):
            self.assertRaises(ValueError, parse_prometheus, bad)
        # A worker killed and restarted shows in the counters.
        doc = status_json(self.bridge_under_test())
        os.kill(doc["workers"]["discoveryd"]["pid"], signal.SIGKILL)
        self.assertTrue(harness.wait_until(lambda: sample(parse_prometheus(
            http(self.url + "/metrics")[2]), "sonos_bridge_worker_restarts_total",
            worker="discoveryd") == 1, 15))

    def bridge_under_test(self):
        return self._bridge

    def start_bridge(self, broker, **kw):
        self._bridge = super().start_bridge(broker, **kw)
        return self._bridge

    def test_page_off(self):
        self.start_rooms(rooms=(("127.0.0.2", "Kitchen"),), extra={"status_page": 0})
        self.assertEqual(http(self.url + "/")[0], 404)
        self.assertEqual(self.post_form({"room": "kitchen", "text": "x"})[0], 405)
        self.assertEqual(http(self.url + "/metrics")[0], 200)

    def test_in_headless_chromium(self):
        """A real browser: the page renders (screenshot), shows workers, rooms and the last
        announcement; its form sends a test announcement that is played."""
        tmp = tempfile.mkdtemp(prefix="sbchrome")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.start_rooms()
        self.assertEqual(self.announce("living-room", "the mail has arrived", "c-1")["status"],
                         "done")
        self.page_until(r'<td>c-1</td>.*<td class="ok">done</td>')
        browser = WebDriver(tmp)
        self.addCleanup(browser.close)
        browser.get(self.url + "/")
        self.assertEqual(browser.s("GET", "/title"), "sonos-bridge")
        workers = [t.split()[0] for t in browser.texts("tr.worker")]
        self.assertEqual(sorted(workers), sorted(WORKERS))
        rooms = [t.split("\t")[0].split(" ")[0] for t in browser.texts("tr.speaker")]
        self.assertIn("Kitchen", " ".join(browser.texts("tr.speaker")))
        self.assertIn("Living Room", " ".join(browser.texts("tr.speaker")))
        last = browser.texts("tr.announcement")[0]
        self.assertIn("the mail has arrived", last)
        self.assertIn("done", last)
        shot = os.path.join(tmp, "status-page.png")
        browser.screenshot(shot)
        with open(shot, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(png), 10000, "a blank page?")
        # The form, as a user fills it.
        mark = self.mq.mark()
        select = browser.find("select[name=room]")
        browser.s("POST", "/element/%s/click" % browser.find("option[value=kitchen]"))
        text = browser.find("input[name=text]")
        browser.s("POST", "/element/%s/clear" % text)
        browser.s("POST", "/element/%s/value" % text, {"text": "sent from chromium"})
        browser.s("POST", "/element/%s/click" % browser.find("button[type=submit]"))
        self.assertTrue(harness.wait_until(lambda: "sent=web-" in browser.s("GET", "/url"), 10))
        ev = self.mq.wait_event(lambda e: e.get("id", "").startswith("web-") and
                                e["status"] == "done", 60, after=mark)
        self.assertIsNotNone(ev, self.mq.events(after=mark))
        self.assertEqual(ev["speaker"], "Kitchen")
        self.page_until(r'sent from chromium</td><td class="ok">done')
        browser.get(self.url + "/")
        self.assertIn("sent from chromium", browser.texts("tr.announcement")[0])
        browser.screenshot(os.path.join(tmp, "after-form.png"))
        self.assertTrue(select and rooms)


# ---------------------------------------------------------------------------------------------
# The container recipe (no Docker engine here: deploy/build-image-root.sh is run by scripts/test;
# these check that the Dockerfile and compose file say what docs/deployment.md promises)

class DeployFilesTest(unittest.TestCase):

    def read(self, name):
        with open(os.path.join(harness.REPO, "deploy", name)) as f:
            return f.read()

    def test_dockerfile(self):
        text = self.read("Dockerfile")
        # Instructions, continuation lines joined, comments dropped.
        lines = [l for l in re.sub(r"\\\n", " ", text).splitlines()
                 if l.strip() and not l.lstrip().startswith("#")]
        instr = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1].strip()) for l in lines]
        froms = [a for i, a in instr if i == "FROM"]
        self.assertEqual(len(froms), 2, froms)
        self.assertTrue(all(f.startswith("debian:bookworm-slim") for f in froms), froms)
        runs = [a for i, a in instr if i == "RUN"]
        # The build stage's build is the tested script and nothing else.
        self.assertIn("deploy/build-image-root.sh /src /build /image-root", runs)
        self.assertIn(("COPY", "--from=build /image-root/ /"), instr)
        self.assertTrue([r for r in runs if "/tmp/runtime-packages" in r])
        users = [a for i, a in instr if i == "USER"]
        self.assertEqual(users, ["sonos-bridge"])
        self.assertTrue([r for r in runs if "useradd" in r and "--uid 10001" in r])
        self.assertIn(("VOLUME", '["/var/lib/sonos-bridge"]'), instr)
        env = " ".join(a for i, a in instr if i == "ENV")
        self.assertIn("SONOS_BRIDGE_STATE_DIR=/var/lib/sonos-bridge", env)
        self.assertIn("SONOS_BRIDGE_RUNTIME_DIR=/run/sonos-bridge", env)
        health = [a for i, a in instr if i == "HEALTHCHECK"]
        self.assertEqual(len(health), 1)
        self.assertTrue(health[0].endswith('CMD ["sonos-bridge", "healthcheck"]'), health)
        self.assertIn(("ENTRYPOINT", '["sonos-bridge"]'), instr)
        # The runtime packages named there are real lines of the list the script checks.
        pkgs = [l.strip() for l in self.read("runtime-packages").splitlines()
                if l.strip() and not l.startswith("#")]
        self.assertIn("libmosquitto1", pkgs)
        self.assertIn("espeak-ng-data", pkgs)

    def test_compose(self):
        try:
            import yaml
        except ImportError:
            raise unittest.SkipTest("python3-yaml not installed")
        doc = yaml.safe_load(self.read("docker-compose.yml"))
        bridge, broker = doc["services"]["sonos-bridge"], doc["services"]["mosquitto"]
        self.assertEqual(bridge["network_mode"], "host")
        self.assertEqual(bridge["build"]["dockerfile"], "deploy/Dockerfile")
        self.assertIn("sonos-bridge-state:/var/lib/sonos-bridge", bridge["volumes"])
        self.assertTrue(str(bridge["environment"]["SONOS_BRIDGE_BROKER_HOST"]))
        self.assertTrue(broker["image"].startswith("eclipse-mosquitto"))
        self.assertIn("1883:1883", broker["ports"])
        conf_mount = [v for v in broker["volumes"] if v.endswith("/mosquitto/config/mosquitto.conf:ro")]
        self.assertEqual(len(conf_mount), 1)
        conf = self.read(conf_mount[0].split(":")[0].replace("./", ""))
        self.assertRegex(conf, r"(?m)^persistence true$")
        self.assertRegex(conf, r"(?m)^persistence_location /mosquitto/data/$")
        self.assertTrue([v for v in broker["volumes"] if v.endswith(":/mosquitto/data")])
        # Host networking is explained where it is set.
        text = self.read("docker-compose.yml")
        self.assertIn("SSDP", text)
        self.assertIn("fetch", text)


if __name__ == "__main__":
    unittest.main()
