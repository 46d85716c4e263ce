"""harness.py -- helpers for end-to-end tests: a real mosquitto, an MQTT test client, the bridge
binary, emulated speakers and a small file server, all on loopback, all bounded in time.

Typical use (unittest, run with /usr/bin/python3):

    class TestTts(harness.E2ETestCase):
        def test_announce(self):
            broker = self.start_broker()
            kitchen = self.start_speaker("127.0.0.2", "Kitchen")
            bridge = self.start_bridge(broker)
            mq = self.mqtt(broker, subscribe=["sonos/#"])
            mq.wait_for(lambda m: m.topic == "sonos/bridge/state" and m.text == "online", 10)
            mq.publish("sonos/kitchen/tts", '{"id": "t1", "text": "hello"}')
            ev = mq.wait_event(lambda e: e.get("id") == "t1" and e.get("status") == "done", 30)

Every helper registers its own cleanup; on a failing test the cleanup prints the bridge log
tail, the speakers' action records and the broker log tail to stderr.
"""

import array
import http.server
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "speaker"))

import sonos_speaker  # noqa: E402  (path set just above)
from sonos_speaker import Speaker  # noqa: E402,F401  (re-exported for tests)

MOSQUITTO = "/usr/sbin/mosquitto"
_counter = itertools.count(1)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def comm(pid):
    """The process name of pid (/proc/<pid>/comm), or "" when it is gone."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def wait_until(condition, timeout, interval=0.05):
    """Poll condition() until it returns something true or timeout passes; returns the last
    value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def short_tmpdir(prefix="sb"):
    """A private temp dir with a short path (/tmp/sbXXXXXXXX): bus socket paths must stay short."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def bin_dir():
    return os.environ.get("SB_BIN_DIR") or os.path.join(REPO, "build", "bin")


def tail(path, lines=150, skip=None, window=256 * 1024):
    """The last lines of a file (of its last window bytes), leaving out lines matching the
    regex skip."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - window))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(%s)" % e
    kept = text.splitlines()
    if skip is not None:
        rx = re.compile(skip)
        kept = [line for line in kept if not rx.search(line)]
    return "\n".join(kept[-lines:])


# The bridge's routine debug lines (a health survey per worker every second, the speaker
# table every few seconds) would fill a failed test's log dump: what happened is elsewhere.
ROUTINE_LOG = r"debug: bus_reader_drain: (health: MSG_HEALTH_SURVEY|speakers: MSG_SPEAKERS seq)"


# ---------------------------------------------------------------------------------------------
# Audio helpers

def make_wav(duration_s=1.0, rate=22050, channels=1, freq=440.0, bits=16):
    """A RIFF/WAVE PCM clip of the given length: a quiet sine (16-bit) or silence (8-bit)."""
    frames = int(round(duration_s * rate))
    sample_bytes = bits // 8
    if bits == 16:
        samples = array.array("h", (int(3000 * math.sin(2 * math.pi * freq * i / rate))
                                    for i in range(frames) for _ in range(channels)))
        if sys.byteorder != "little":
            samples.byteswap()
        data = samples.tobytes()
    else:
        data = b"\x80" * (frames * channels * sample_bytes)
    byte_rate = rate * channels * sample_bytes
    fmt = struct.pack("<HHIIHH", 1, channels, rate, byte_rate, channels * sample_bytes, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + \
        b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ---------------------------------------------------------------------------------------------
# A file server (clips for speakers, without the bridge)

class FileServer:
    """Serves in-memory files on 127.0.0.1:<free port>. add(path, body, content_type).
    requests is a list of (time, method, path) for every request."""

    def __init__(self, host="127.0.0.1"):
        self.files = {}
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                owner.requests.append((time.time(), self.command, self.path))
                entry = owner.files.get(self.path.split("?")[0])
                if entry is None:
                    self.send_error(404)
                    return
                body, ctype = entry
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_HEAD = do_GET

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True
            block_on_close = False

            def server_bind(self):
                socketserver.TCPServer.server_bind(self)
                self.server_name, self.server_port = self.server_address[:2]

        self.httpd = Server((host, 0), Handler)
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def add(self, path, body, content_type):
        self.files[path] = (body, content_type)
        return self.url(path)

    def url(self, path):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(2)


# ---------------------------------------------------------------------------------------------
# Broker

class Broker:
    """A private mosquitto on 127.0.0.1:<port>. persistence=True keeps sessions and queued
    messages across restart() (for the never-lose-a-request tests)."""

    def __init__(self, port=None, persistence=False, extra_conf=""):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="sbbroker")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.log = os.path.join(self.dir, "mosquitto.log")
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true",
                 "persistence %s" % ("true" if persistence else "false"),
                 "log_dest file %s" % self.log, "log_type all", "log_timestamp true",
                 "log_timestamp_format %H:%M:%S"]
        if persistence:
            lines.append("persistence_location %s/" % self.dir)
            lines.append("autosave_interval 1")
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to 'mosquitto' and cannot log here
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra_conf)
        self.proc = None

    def start(self, timeout=10.0):
        if self.proc and self.proc.poll() is None:
            return self
        self._out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        ok = wait_until(lambda: self.proc.poll() is not None or port_open(self.port), timeout)
        if self.proc.poll() is not None or not ok:
            raise RuntimeError("mosquitto did not start on port %d:\n%s\n%s" % (
                self.port, tail(os.path.join(self.dir, "stdout.log")), tail(self.log)))
        return self

    def stop(self, timeout=10.0):
        """SIGTERM (clean shutdown, persistence saved); returns the exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._out.close()
        wait_until(lambda: not port_open(self.port), 5)
        return self.proc.returncode

    def kill(self):
        """SIGKILL: the broker vanishes without a goodbye (no persistence save)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
            self._out.close()

    def restart(self, down_for=0.0):
        self.stop()
        if down_for:
            time.sleep(down_for)
        return self.start()

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


# ---------------------------------------------------------------------------------------------
# MQTT test client

class Message:
    __slots__ = ("topic", "payload", "retain", "qos", "t")

    def __init__(self, topic, payload, retain, qos, t):
        self.topic, self.payload, self.retain, self.qos, self.t = topic, payload, retain, qos, t

    @property
    def text(self):
        return self.payload.decode("utf-8", "replace")

    def json(self):
        """The payload as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.payload)
        except ValueError:
            return None

    def __repr__(self):
        return "Message(%r, %r%s)" % (self.topic, self.payload[:200], ", retain" if self.retain else "")


class MqttClient:
    """A paho-mqtt (1.6) client on its own network thread, recording every message it gets."""

    def __init__(self, broker, client_id=None, clean_session=True, subscribe=(), qos=1,
                 timeout=5.0):
        import paho.mqtt.client as mqtt  # Debian's python3-paho-mqtt, only here

        self.port = broker.port if hasattr(broker, "port") else int(broker)
        self.client_id = client_id or "sbtest-%d-%d" % (os.getpid(), next(_counter))
        self.messages = []
        self._cv = threading.Condition()
        self._connected = False
        self._subacks = set()
        self._c = mqtt.Client(client_id=self.client_id, clean_session=clean_session)
        self._c.on_connect = self._on_connect
        self._c.on_disconnect = self._on_disconnect
        self._c.on_message = self._on_message
        self._c.on_subscribe = self._on_subscribe
        self._c.reconnect_delay_set(0.2, 2)
        self._c.connect("127.0.0.1", self.port, keepalive=30)
        self._c.loop_start()
        if not self._wait(lambda: self._connected, timeout):
            self.close()
            raise RuntimeError("MQTT client could not connect to 127.0.0.1:%d" % self.port)
        for topic in subscribe:
            self.subscribe(topic, qos, timeout)

    def _on_connect(self, client, userdata, flags, rc):
        with self._cv:
            self._connected = rc == 0
            self._cv.notify_all()

    def _on_disconnect(self, client, userdata, rc):
        with self._cv:
            self._connected = False
            self._cv.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted):
        with self._cv:
            self._subacks.add(mid)
            self._cv.notify_all()

    def _on_message(self, client, userdata, msg):
        with self._cv:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain),
                                         msg.qos, time.time()))
            self._cv.notify_all()

    def _wait(self, cond, timeout):
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                value = cond()
                left = deadline - time.monotonic()
                if value or left <= 0:
                    return value
                self._cv.wait(min(left, 0.1))

    @property
    def connected(self):
        return self._connected

    def wait_connected(self, timeout=10.0):
        """After a broker restart paho reconnects by itself; wait for it (bounded)."""
        return self._wait(lambda: self._connected, timeout)

    def subscribe(self, topic, qos=1, timeout=5.0):
        """Subscribe and wait for the SUBACK; retained messages then arrive as usual."""
        rc, mid = self._c.subscribe(topic, qos)
        if rc != 0 or not self._wait(lambda: mid in self._subacks, timeout):
            raise RuntimeError("subscribe %s failed (rc %d)" % (topic, rc))

    def publish(self, topic, payload, qos=1, retain=False, timeout=5.0):
        """Publish and wait (bounded) until the broker has it. payload: str, bytes or a dict
        (sent as JSON)."""
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        info = self._c.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise RuntimeError("publish to %s not acknowledged within %.1f s" % (topic, timeout))
        return info

    def mark(self):
        """An index for wait_for(after=...): only messages arriving from now on."""
        with self._cv:
            return len(self.messages)

    def wait_for(self, predicate, timeout=10.0, after=0):
        """The first message (index >= after) for which predicate(msg) is true, or None."""
        def find():
            for m in self.messages[after:]:
                try:
                    if predicate(m):
                        return m
                except Exception:
                    pass
            return None
        return self._wait(find, timeout)

    def wait_topic(self, topic, timeout=10.0, after=0, text=None):
        return self.wait_for(lambda m: m.topic == topic and (text is None or m.text == text),
                             timeout, after)

    def wait_event(self, predicate, timeout=10.0, after=0, topic="sonos/bridge/event"):
        """The first JSON event on topic for which predicate(dict) is true, as a dict."""
        m = self.wait_for(lambda m: m.topic == topic and isinstance(m.json(), dict)
                          and predicate(m.json()), timeout, after)
        return m.json() if m else None

    def events(self, topic="sonos/bridge/event", after=0):
        with self._cv:
            msgs = self.messages[after:]
        return [m.json() for m in msgs if m.topic == topic and isinstance(m.json(), dict)]

    def on(self, topic):
        with self._cv:
            return [m for m in self.messages if m.topic == topic]

    def last(self, topic):
        found = self.on(topic)
        return found[-1] if found else None

    def close(self):
        try:
            self._c.disconnect()
        except Exception:
            pass
        self._c.loop_stop()


# ---------------------------------------------------------------------------------------------
# The bridge

class Bridge:
    """sonos-bridge under test, with a config file and directories of its own.

    speakers: manual speaker IPs (list or comma string). extra: more config keys (dict);
    a value of None drops a default key. All state lives under a short /tmp/sbXXXX dir."""

    def __init__(self, broker, speakers=None, extra=None, binary=None):
        self.broker = broker
        self.dir = short_tmpdir()
        self.binary = binary or os.path.join(bin_dir(), "sonos-bridge")
        self.http_port = free_port()
        self.state_dir = os.path.join(self.dir, "state")
        self.runtime_dir = os.path.join(self.dir, "run")
        self.log = os.path.join(self.dir, "bridge.log")
        self.config_path = os.path.join(self.dir, "sonos-bridge.conf")
        assert len(self.runtime_dir) < 80, self.runtime_dir
        self.config = {
            "broker_host": "127.0.0.1",
            "broker_port": str(broker.port if hasattr(broker, "port") else broker),
            "base_topic": "sonos",
            "state_dir": self.state_dir,
            "runtime_dir": self.runtime_dir,
            "http_port": str(self.http_port),
            "http_bind": "127.0.0.1",
            "advertise_host": "127.0.0.1",
            "multicast_if": "127.0.0.1",
            "log_level": "debug",
        }
        if speakers:
            self.config["speakers"] = speakers if isinstance(speakers, str) else ",".join(
                s.ip if hasattr(s, "ip") else s for s in speakers)
        for key, value in (extra or {}).items():
            if value is None:
                self.config.pop(key, None)
            else:
                self.config[key] = str(value)
        self.write_config()
        self.proc = None
        self._logf = None

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write("# written by tests/e2e/harness.py\n")
            for key, value in self.config.items():
                f.write("%s %s\n" % (key, value))

    def start(self, args=(), env=None):
        """Start the supervisor; returns self. Does not wait for readiness (see wait_log and
        the MQTT state topic)."""
        if not os.access(self.binary, os.X_OK):
            raise unittest.SkipTest("bridge binary %s not built" % self.binary)
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("SONOS_BRIDGE_")}
        run_env.update(env or {})
        self._logf = open(self.log, "ab")
        self._logf.write(("--- start %s\n" % time.strftime("%H:%M:%S")).encode())
        self._logf.flush()
        self.proc = subprocess.Popen([self.binary, "--config", self.config_path] + list(args),
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=run_env,
                                     start_new_session=True)
        self.pid = self.proc.pid
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=15.0):
        """SIGTERM the supervisor, wait (bounded), SIGKILL its process group if it hangs.
        Returns the exit status (negative = killed by that signal), None if never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._killpg()
                self.proc.wait(5)
        self._killpg()  # workers left behind by a crashed supervisor (our own session only)
        if self._logf:
            self._logf.close()
            self._logf = None
        return self.proc.returncode

    def _killpg(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def restart(self, timeout=15.0):
        status = self.stop(timeout)
        self.start()
        return status

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10.0):
        """The first regex match of pattern in the log (bounded wait), or None."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log_text()), timeout, 0.1)

    def worker_pids(self):
        """pids of the supervisor's children (the workers), from /proc."""
        pids = []
        if not self.running:
            return pids
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(entry))
        return pids

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# unittest base class

class E2ETestCase(unittest.TestCase):
    """Helpers that start things and always clean them up; a failing test gets the bridge
    log tail, the speakers' records and the broker log tail on stderr (SB_E2E_VERBOSE=1: always)."""

    def _failed(self):
        # outcome.success is reset inside each cleanup, so look for this test in the result
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return False
        bad = list(getattr(result, "failures", [])) + list(getattr(result, "errors", []))
        return any(getattr(test, "test_case", test) is self for test, _ in bad)

    def _dump(self, title, text):
        sys.stderr.write("\n===== %s: %s =====\n%s\n" % (self.id(), title, text))
        sys.stderr.flush()

    def _verbose(self):
        return self._failed() or os.environ.get("SB_E2E_VERBOSE")

    def start_broker(self, **kw):
        broker = Broker(**kw).start()

        def done():
            if self._verbose():
                self._dump("broker log (tail)", tail(broker.log, 60))
            broker.cleanup()
        self.addCleanup(done)
        return broker

    def mqtt(self, broker, **kw):
        client = MqttClient(broker, **kw)
        self.addCleanup(client.close)
        return client

    def start_speaker(self, ip, room, **kw):
        sp = Speaker(ip, room, **kw)
        sp.start()

        def done():
            sp.stop()
            if self._verbose():
                items = [(r["t"], "fetch" if r.get("action") == "fetch" else "action", r)
                         for r in sp.actions()]
                items += [(s["t"], "state", s) for s in sp.states()]
                items.sort(key=lambda item: item[0])
                lines = [sonos_speaker.describe(sp, kind, r) for _, kind, r in items]
                self._dump("speaker %s %s" % (sp.ip, sp.room), "\n".join(lines) or "(nothing)")
        self.addCleanup(done)
        return sp

    def start_bridge(self, broker, speakers=None, extra=None, start=True, **kw):
        bridge = Bridge(broker, speakers=speakers, extra=extra, **kw)

        def done():
            status = bridge.stop()
            if self._verbose():
                self._dump("bridge log (tail without routine lines, exit status %s)" % status,
                           tail(bridge.log, 400, ROUTINE_LOG, 2 << 20))
            bridge.cleanup()
        self.addCleanup(done)
        if start:
            bridge.start()
        return bridge

    def file_server(self):
        fs = FileServer()
        self.addCleanup(fs.close)
        return fs


# ---------------------------------------------------------------------------------------------
# A minimal SOAP client (to act as another controller, or to poke a speaker in tests)

def soap_call(ip, service, action, args=(), port=1400, timeout=5.0):
    """POST one SOAP action; returns (HTTP status, {output: text} or {"errorCode": n})."""
    import http.client
    import xml.etree.ElementTree as ET
    from xml.sax.saxutils import escape

    path = next(p for p, s in sonos_speaker.CONTROL_PATHS.items() if s == service)
    urn = sonos_speaker.SERVICE_URN % service
    inner = "".join("<%s>%s</%s>" % (k, escape(str(v)), k) for k, v in args)
    body = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/'
            'soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
            '<u:%s xmlns:u="%s">%s</u:%s></s:Body></s:Envelope>' % (action, urn, inner, action))
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("POST", path, body.encode("utf-8"),
                     {"Content-Type": 'text/xml; charset="utf-8"',
                      "SOAPACTION": '"%s#%s"' % (urn, action)})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    root = ET.fromstring(data)
    out = {}
    code = root.find(".//{urn:schemas-upnp-org:control-1-0}errorCode")
    if code is not None:
        out["errorCode"] = int(code.text)
    else:
        body_el = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        for child in body_el[0]:
            out[child.tag] = child.text or ""
    return resp.status, out
