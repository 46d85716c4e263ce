"""test_hostile.py -- hostile input on every interface of a running bridge.

Each test throws one kind of bad input at a real bridge (real mosquitto, emulated speakers on
loopback) and then checks what a user would see: every bad input is refused with a clear
answer, an announcement sent alongside and one sent afterwards still play, and no worker
restarted. Kinds: MQTT payloads, SSDP datagrams and a LOCATION pointing at another host,
device descriptions and SOAP answers that are garbage, huge, hanging or entity bombs, hostile
HTTP at httpd, and the permissions of the runtime directory."""

import json
import os
import random
import select
import socket
import socketserver
import stat
import struct
import subprocess
import threading
import time
import unittest

import harness
import sonos_speaker

KITCHEN_IP = "127.0.0.2"
SSDP_GROUP, SSDP_PORT = "239.255.255.250", 1900
ZONEPLAYER = "urn:schemas-upnp-org:device:ZonePlayer:1"
TERMINAL = ("done", "failed", "expired", "rejected")

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
    "".join('<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1) if i > 1 else "&lol;") * 10)
            for i in range(1, 10)) + ']>')
XXE = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


# ---------------------------------------------------------------------------------------------
# Raw HTTP against httpd

def http_raw(port, data, host="127.0.0.1", timeout=5.0, src=None):
    """Send data on a fresh connection and read until the server closes (bounded). Returns
    (bytes received, seconds until the close)."""
    start = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if src:
            s.bind((src, 0))
        s.connect((host, port))
        s.sendall(data)
        out = b""
        while len(out) < 4 * 1024 * 1024:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out, time.monotonic() - start


def status_of(response):
    """The status code of a raw HTTP response, or None when it is not one."""
    line = response.split(b"\r\n", 1)[0].split(b" ")
    if len(line) < 2 or not line[0].startswith(b"HTTP/1.") or not line[1].isdigit():
        return None
    return int(line[1])


# ---------------------------------------------------------------------------------------------
# Fake LAN devices: an SSDP responder and a hostile "speaker" HTTP server

class SsdpResponder:
    """Answers every ZonePlayer M-SEARCH seen on the loopback SSDP group with LOCATION
    location, sent from ip:1900, as a player would; also multicasts alive NOTIFYs on
    notify(). searches counts the M-SEARCHes answered."""

    def __init__(self, ip, location, uuid, household):
        self.ip, self.location, self.uuid, self.household = ip, location, uuid, household
        self.searches = 0
        self._stop = threading.Event()
        mc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        mc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        mc.bind((SSDP_GROUP, SSDP_PORT))
        mreq = struct.pack("4s4s", socket.inet_aton(SSDP_GROUP), socket.inet_aton("127.0.0.1"))
        mc.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        uc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        uc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        uc.bind((ip, SSDP_PORT))
        uc.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        uc.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        self._mc, self._uc = mc, uc
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _headers(self):
        return ("LOCATION: %s\r\nSERVER: Linux UPnP/1.0 Sonos/57.4-83220 (ZPS9)\r\n"
                "USN: uuid:%s::%s\r\nX-RINCON-HOUSEHOLD: %s\r\nX-RINCON-BOOTSEQ: 7\r\n"
                % (self.location, self.uuid, ZONEPLAYER, self.household))

    def _loop(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self._mc, self._uc], [], [], 0.1)
            for sock in ready:
                try:
                    data, addr = sock.recvfrom(9000)
                except OSError:
                    continue
                if not data.startswith(b"M-SEARCH") or b"ZonePlayer" not in data and \
                        b"ssdp:all" not in data:
                    continue
                self.searches += 1
                answer = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age = 1800\r\nEXT:\r\n" + \
                    self._headers() + "ST: %s\r\n\r\n" % ZONEPLAYER
                self._uc.sendto(answer.encode(), addr)

    def notify(self):
        msg = ("NOTIFY * HTTP/1.1\r\nHOST: %s:%d\r\nCACHE-CONTROL: max-age = 1800\r\n"
               "NT: %s\r\nNTS: ssdp:alive\r\n" % (SSDP_GROUP, SSDP_PORT, ZONEPLAYER)) + \
            self._headers() + "\r\n"
        self._uc.sendto(msg.encode(), (SSDP_GROUP, SSDP_PORT))

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self._mc.close()
        self._uc.close()


class HostileDevice:
    """An HTTP server on ip:1400 that looks like a speaker to SSDP and misbehaves over HTTP.

    description: "valid" (a real description for room), "huge", "laughs", "xxe", "hang",
    "garbage". soap: "garbage", "hang", "huge", "laughs", "chunked" (endless chunks).
    requests lists (method, path) of everything it was asked."""

    def __init__(self, ip, room, description="valid", soap="garbage"):
        self.ip, self.room = ip, room
        self.description, self.soap = description, soap
        self.speaker = sonos_speaker.Speaker(ip, room, ssdp=False,
                                             household="Sonos_hostile_%s" % ip.split(".")[-1])
        self.uuid = self.speaker.uuid
        self.requests = []
        self.stopping = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                owner._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            block_on_close = False

        self.server = harness.wait_until(lambda: self._bind(Server, Handler), 3.0)
        if not self.server:
            raise RuntimeError("cannot bind %s:1400" % ip)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.ssdp = SsdpResponder(ip, "http://%s:1400/xml/device_description.xml" % ip,
                                  self.uuid, self.speaker.household)

    def _bind(self, server_cls, handler):
        try:
            return server_cls((self.ip, 1400), handler)
        except OSError:
            return None

    def _read_request(self, conn):
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return None, None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        first = head.split(b"\r\n")[0].decode("latin-1").split(" ")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        while len(body) < min(length, 1 << 20):
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return (first[0], first[1] if len(first) > 1 else ""), body

    def _handle(self, conn):
        try:
            req, _ = self._read_request(conn)
            if req is None:
                return
            self.requests.append(req)
            mode = self.description if req[0] == "GET" else self.soap
            self._misbehave(conn, mode)
        except OSError:
            pass

    def _send_xml(self, conn, body, status="200 OK"):
        body = body.encode("utf-8")
        conn.sendall(b"HTTP/1.1 %s\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (status.encode(), len(body))
                     + body)

    def _misbehave(self, conn, mode):
        if mode == "valid":
            self._send_xml(conn, self.speaker.device_description())
        elif mode == "garbage":
            conn.sendall(bytes(random.Random(1).getrandbits(8) for _ in range(3000)))
        elif mode == "hang":
            self.stopping.wait(60)  # never answers; the client must give up by itself
        elif mode == "huge":
            # Claims 100 MB and keeps sending until the client hangs up (bounded).
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                         b"Content-Length: 104857600\r\n\r\n<a>")
            block = b"<b>lots</b>" * 6000
            deadline = time.monotonic() + 30
            while not self.stopping.is_set() and time.monotonic() < deadline:
                conn.sendall(block)
        elif mode == "chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            deadline = time.monotonic() + 30
            while not self.stopping.is_set() and time.monotonic() < deadline:
                conn.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")
        elif mode == "laughs":
            self._send_xml(conn, BILLION_LAUGHS + "<root><device><UDN>uuid:%s</UDN><roomName>"
                           "&lol9;</roomName></device><s:Envelope xmlns:s=\"x\"><s:Body>"
                           "<u:GetZoneGroupStateResponse><ZoneGroupState>&lol9;"
                           "</ZoneGroupState></u:GetZoneGroupStateResponse></s:Body>"
                           "</s:Envelope></root>" % self.uuid)
        elif mode == "xxe":
            self._send_xml(conn, XXE + "<root><device><UDN>uuid:%s</UDN><roomName>&x;"
                           "</roomName></device></root>" % self.uuid)
        else:
            raise ValueError(mode)

    def close(self):
        self.stopping.set()
        self.ssdp.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(2)


class TrapServer:
    """Accepts TCP connections on ip:port and counts them: nothing should ever come here."""

    def __init__(self, ip, port=1400):
        self.hits = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.hits += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


# ---------------------------------------------------------------------------------------------

class HostileTest(harness.E2ETestCase):

    def setUp(self):
        self.broker = self.start_broker()
        self.mq = self.mqtt(self.broker, subscribe=["sonos/#"])

    def start_online(self, **kw):
        bridge = self.start_bridge(self.broker, **kw)
        self.assertTrue(self.mq.wait_for(
            lambda m: m.topic == "sonos/bridge/state" and m.text == "online", 20))
        return bridge

    def wait_speaker(self, slug, timeout=20):
        return self.mq.wait_for(lambda m: m.topic == "sonos/%s/availability" % slug
                                and m.text == "online", timeout)

    def final_event(self, request_id, timeout=60, after=0):
        return self.mq.wait_event(lambda e: e.get("id") == request_id and
                                  e.get("status") in TERMINAL, timeout, after=after)

    def announce_ok(self, request_id, text="all is well", room="kitchen"):
        """A normal announcement after the storm: it must play."""
        mark = self.mq.mark()
        self.mq.publish("sonos/%s/tts" % room, {"id": request_id, "text": text})
        final = self.final_event(request_id, 60, after=mark)
        self.assertIsNotNone(final, "no terminal event for %s" % request_id)
        self.assertEqual(final["status"], "done", final)
        return final

    def assert_no_restart(self, bridge, pids):
        self.assertTrue(bridge.running)
        self.assertEqual(sorted(bridge.worker_pids()), sorted(pids),
                         "a worker was restarted:\n" + harness.tail(bridge.log, 40))
        log = bridge.log_text()
        for bad in ("restarting ", "killed by signal", "ERROR: AddressSanitizer",
                    "runtime error:"):
            self.assertNotIn(bad, log)

    def adopt(self, thing):
        self.addCleanup(thing.close)
        return thing

    # --- MQTT ---------------------------------------------------------------------------------

    def test_mqtt_payloads(self):
        self.start_speaker(KITCHEN_IP, "Kitchen")
        # A retained request would replay at every (re)subscription: never executed.
        self.mq.publish("sonos/kitchen/tts", {"id": "m13", "text": "retained"}, retain=True)
        bridge = self.start_online()
        self.assertTrue(self.wait_speaker("kitchen"))
        ev = self.final_event("m13", 20)
        self.assertEqual(ev and ev["status"], "rejected", ev)
        self.assertIn("retained", ev["error"])
        mark = self.mq.mark()
        self.mq.publish("sonos/kitchen/tts", b"", retain=True)  # clears it; arrives as empty
        self.assertTrue(self.mq.wait_event(lambda e: e.get("error") == "empty payload", 10,
                                           after=mark))
        pids = bridge.worker_pids()
        self.assertEqual(len(pids), 4, pids)

        # An announcement in flight while the garbage arrives must not be lost.
        mark0 = self.mq.mark()
        self.mq.publish("sonos/kitchen/tts", {"id": "before", "text": "first of all"})

        nested = '{"a":' * 10000 + "1" + "}" * 10000  # under the size limit, over the depth
        cases = [
            # (topic, payload, retain, words the reason must contain)
            ("sonos/kitchen/tts", b"\xff\xfe\xfd not UTF-8", False, "invalid UTF-8"),
            ("sonos/kitchen/tts", b"caf\xc3", False, "invalid UTF-8"),
            ("sonos/kitchen/tts", b"\xed\xa0\x80 surrogate", False, "invalid UTF-8"),
            ("sonos/kitchen/tts", '{"id": "m1", "text": ', False, "malformed JSON"),
            ("sonos/kitchen/tts", '{"id": "m2", "text": "a", "text": "b"}', False,
             "malformed JSON"),
            ("sonos/kitchen/tts", nested, False, "JSON"),
            ("sonos/kitchen/tts", '{"id": "m3", "text": 5}', False, "expected a string"),
            ("sonos/kitchen/tts", '{"id": "m4", "text": "hi", "volume": 500}', False,
             "volume out of range"),
            ("sonos/kitchen/tts", '{"id": "m5", "text": "hi", "volume": -1}', False,
             "volume out of range"),
            ("sonos/kitchen/tts", '{"id": "m6", "text": "hi", "volume": "loud"}', False,
             "volume"),
            ("sonos/kitchen/tts", '{"id": "m7", "text": "hi", "expire_after": -5}', False,
             "expire_after"),
            ("sonos/kitchen/tts", '{"id": "m8", "text": "hi", "expire_after": "soon"}', False,
             "expire_after"),
            ("sonos/kitchen/tts", '{"id": "m9", "text": "   "}', False, "empty"),
            ("sonos/kitchen/tts", '{"id": "m10", "text": "a\\u0000b"}', False, "JSON"),
            ("sonos/kitchen/tts", '{"id": "m11", "text": "hi", "voice": "../../etc/x"}', False,
             "voice"),
            ("sonos/kitchen/tts", '{"id": "bad\\nid", "text": "hi"}', False, "id"),
            ("sonos/kitchen/tts", '{"id": "m20", "volume": 10}', False, "text is missing"),
            ("sonos/kitchen/tts", "x" * 200000, False, "longer than"),
            ("sonos/kitchen/tts", '{"id": "m12", "text": "%s"}' % ("y" * 200000), False,
             "larger than"),
            ("sonos/kitchen/clip", '{"id": "m14", "url": "file:///etc/passwd"}', False,
             "http://"),
            ("sonos/kitchen/clip", '{"id": "m15", "url": "http://"}', False, "no host"),
            ("sonos/kitchen/clip", '{"id": "m16", "url": "http://a b/c"}', False, "printable"),
            ("sonos/kitchen/set", '{"id": "m17", "volume": 500}', False, "volume"),
            ("sonos/kitchen/set", '{"id": "m18", "command": "self-destruct"}', False, ""),
            ("sonos/kitchen/set", '{"id": "m19", "bogus": 1}', False, "unknown key"),
            ("sonos/kitchen/set", b"pause\x00junk", False, "NUL"),
        ]
        for topic, payload, retain, words in cases:  # one at a time: events carry no order
            with self.subTest(topic=topic, payload=payload[:60]):
                mark = self.mq.mark()
                self.mq.publish(topic, payload, retain=retain)
                ev = self.mq.wait_event(lambda e: e.get("status") in TERMINAL and
                                        e.get("id") != "before", 10, after=mark)
                self.assertIsNotNone(ev, "no event for %r" % (payload[:60],))
                self.assertEqual(ev["status"], "rejected", ev)
                self.assertIn(words, ev.get("error", ""), ev)
                if retain:  # do not leave it for the next subscriber
                    self.mq.publish(topic, b"", retain=True)

        # A duplicate key is refused by name under the publisher's id: an automation that waits
        # for the event of its id hears why.
        for topic, payload, key in (
                ("sonos/kitchen/tts", '{"id": "dup-1", "text": "a", "text": "b"}', "text"),
                ("sonos/kitchen/set", '{"id": "dup-2", "volume": 5, "volume": 6}', "volume")):
            mark = self.mq.mark()
            self.mq.publish(topic, payload)
            ev = self.mq.wait_event(lambda e: e.get("status") in TERMINAL and
                                    e.get("id") != "before", 10, after=mark)
            self.assertIsNotNone(ev, payload)
            self.assertEqual((ev["id"], ev["status"]), (json.loads(payload)["id"], "rejected"),
                             ev)
            self.assertIn("duplicate object key near '\"%s\"'" % key, ev["error"])

        # Topics that are not requests are ignored without a crash.
        for topic in ("sonos/../tts", "sonos/Kitchen Room/tts", "sonos/kitchen/tts/extra",
                      "sonos//tts", "sonos/kitchen/TTS"):
            self.mq.publish(topic, "hello")

        before = self.final_event("before", 60, after=mark0)
        self.assertEqual(before and before["status"], "done", before)
        self.announce_ok("after-mqtt")
        self.assert_no_restart(bridge, pids)

    def test_mqtt_broker_packet_limit(self):
        """libmosquitto reads a whole packet into memory before the bridge sees a byte of it,
        so only the broker can bound what reaches mqttd. With the `max_packet_size` that
        deploy/mosquitto/mosquitto.conf ships, a 20 MB publish never reaches the bridge (the
        broker drops its publisher), mqttd's memory stays flat, and requests under the limit
        but over the bridge's own still get a `rejected` event with the reason."""
        conf = os.path.join(harness.REPO, "deploy", "mosquitto", "mosquitto.conf")
        with open(conf) as f:
            limit = [line.split() for line in f if line.startswith("max_packet_size ")]
        self.assertEqual(len(limit), 1, "deploy/mosquitto/mosquitto.conf sets no max_packet_size")
        limit = int(limit[0][1])
        self.assertGreaterEqual(limit, 128 * 1024, "too small for the bridge's own 64 KB")
        self.assertLessEqual(limit, 16 << 20)
        self.broker = self.start_broker(extra_conf="max_packet_size %d\n" % limit)
        self.mq = self.mqtt(self.broker, subscribe=["sonos/#"])
        self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_online()
        self.assertTrue(self.wait_speaker("kitchen"))
        pids = bridge.worker_pids()
        def comm(pid):
            with open("/proc/%d/comm" % pid) as f:
                return f.read().strip()
        mqttd = [p for p in pids if comm(p) == "sb-mqttd"]
        self.assertEqual(len(mqttd), 1, pids)

        def peak_kb():
            with open("/proc/%d/status" % mqttd[0]) as f:
                return int([line.split()[1] for line in f if line.startswith("VmHWM")][0])
        before = peak_kb()

        # Over the bridge's limit, under the broker's: refused by the bridge, with a reason.
        mark = self.mq.mark()
        self.mq.publish("sonos/kitchen/tts", '{"id": "big", "text": "%s"}' % ("y" * 100000))
        ev = self.mq.wait_event(lambda e: e.get("status") in TERMINAL, 10, after=mark)
        self.assertEqual(ev and ev["status"], "rejected", ev)
        self.assertIn("larger than", ev["error"])

        # Over the broker's: its publisher is disconnected; the bridge never sees it.
        def varint(n):
            out = b""
            while True:
                n, byte = n >> 7, n & 0x7F
                out += bytes([byte | (0x80 if n else 0)])
                if not n:
                    return out

        def packet(kind, body):
            return bytes([kind]) + varint(len(body)) + body

        def utf8(text):
            return struct.pack("!H", len(text)) + text.encode()
        s = socket.create_connection(("127.0.0.1", self.broker.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(packet(0x10, utf8("MQTT") + b"\x04\x02\x00\x3c" + utf8("sbtest-huge")))
        self.assertEqual(s.recv(4), b"\x20\x02\x00\x00")
        size = 20 << 20
        topic = utf8("sonos/kitchen/tts")
        s.sendall(b"\x30" + varint(len(topic) + size) + topic)
        sent, chunk = 0, b"\xc3\xa9" * 32768
        try:
            while sent < size:
                s.sendall(chunk)
                sent += len(chunk)
            cut = s.recv(1) == b""
        except OSError:
            cut = True
        self.assertTrue(cut, "the broker took the whole 20 MB packet")
        self.assertLess(sent, size)

        time.sleep(1)
        self.assertLess(peak_kb() - before, 4096, "mqttd grew by more than 4 MB")
        self.assertNotIn("offline", [m.text for m in self.mq.on("sonos/bridge/state")])
        self.announce_ok("after-huge")
        self.assert_no_restart(bridge, pids)

    # --- httpd --------------------------------------------------------------------------------

    def test_http(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_online()
        self.assertTrue(self.wait_speaker("kitchen"))
        self.announce_ok("clip-maker", "make a clip")
        pids = bridge.worker_pids()
        port = bridge.http_port
        url = [r for r in kitchen.actions() if r["action"] == "fetch"][0]["url"]
        path = url[url.index("/clips/"):]
        name = path[len("/clips/"):-len(".wav")]
        self.assertEqual(len(name), 64, path)

        # A slow client: one byte of a request head every second. It must be cut off by the
        # request head timeout (10 s) while everything else below goes on.
        slow = {"closed_after": None}

        def slowloris():
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            start = time.monotonic()
            try:
                for ch in b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: " + \
                        b"a" * 200:
                    s.sendall(bytes([ch]))
                    try:
                        if s.recv(1024) == b"":
                            break
                    except socket.timeout:
                        pass
                    except OSError:
                        break
                    if time.monotonic() - start > 60:
                        return
                slow["closed_after"] = time.monotonic() - start
            except OSError:
                slow["closed_after"] = time.monotonic() - start
            finally:
                s.close()
        slow_thread = threading.Thread(target=slowloris, daemon=True)
        slow_thread.start()

        def get(target, extra=b""):
            resp, took = http_raw(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra +
                                  b"Connection: close\r\n\r\n")
            self.assertLess(took, 5, target)
            return resp

        # The clip it made is served; nothing else is.
        ok = get(path.encode())
        self.assertEqual(status_of(ok), 200, ok[:200])
        self.assertIn(b"RIFF", ok)

        cache = os.path.join(bridge.state_dir, "cache")
        os.symlink("/etc/passwd", os.path.join(cache, "f" * 64 + ".wav"))
        os.mkdir(os.path.join(cache, "e" * 64 + ".wav"))
        hostile = [
            b"/clips/../../../../etc/passwd", b"/clips/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            b"/clips/..%2f..%2f..%2fetc%2fpasswd", b"/clips/%252e%252e%252fetc%252fpasswd",
            b"/clips/..\\..\\etc\\passwd", b"/etc/passwd", b"//etc/passwd", b"/clips//etc/passwd",
            b"http://127.0.0.1/etc/passwd", b"http://127.0.0.1/clips/../../etc/passwd",
            b"/clips/../client_id", b"/clips/../../state/client_id",
            path.encode() + b"?x=1", path.encode() + b"#frag", path.encode() + b"/..",
            path.upper().encode(), path.encode().replace(b".wav", b".WAV"),
            path.encode()[:-5] + b".wav", b"/clips/" + name.encode() + b"%2ewav",
            path.encode() + b"%00", b"/clips/" + b"f" * 64 + b".wav",
            b"/clips/" + b"e" * 64 + b".wav", b"/clips/", b"/clips", b"*",
        ]  # "/" is the status page (tests/e2e/test_ecosystem.py)
        for target in hostile:
            with self.subTest(target=target):
                resp = get(target)
                self.assertIn(status_of(resp), (400, 404), resp[:200])
                self.assertNotIn(b"root:", resp)
                self.assertNotIn(b"RIFF", resp)

        # Oversized and malformed requests: an error status, then the connection closes.
        gena = (b"NOTIFY /gena/RINCON_000E5800000201400/AVTransport HTTP/1.1\r\nHost: x\r\n"
                b"NT: upnp:event\r\nNTS: upnp:propchange\r\nSEQ: 0\r\nConnection: close\r\n%s")
        raw_cases = [
            (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", (414, 431)),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", (431,)),
            (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n", (431,)),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n", (400,)),
            (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", (400,)),
            (b"GET / HTTP/1.1\r\n\r\n", (400,)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", (400,)),
            (b"GET %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode(),
             (501,)),
            (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" % path.encode(),
             (405,)),
            (b"DELETE %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode(),
             (405,)),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, 505)),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64), (400,)),
            (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", (505,)),
            (b"get / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (405,)),
            # GENA NOTIFYs from a stranger: checked before any body is read.
            (gena % b"" + b"Content-Length: 4\r\n\r\nabcd", (412,)),
            (gena % b"SID: uuid:x\r\n" + b"Content-Length: 100000000\r\n\r\n", (413,)),
            (gena % b"SID: uuid:x\r\n" + b"\r\n", (411,)),
            (b"NOTIFY /etc/passwd HTTP/1.1\r\nHost: x\r\nSID: uuid:x\r\nNT: upnp:event\r\n"
             b"NTS: upnp:propchange\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
             (404,)),
            (b"NOTIFY /gena/../../etc/AVTransport HTTP/1.1\r\nHost: x\r\nSID: uuid:x\r\n"
             b"NT: upnp:event\r\nNTS: upnp:propchange\r\nContent-Length: 1\r\n"
             b"Connection: close\r\n\r\nx", (404,)),
        ]
        for data, statuses in raw_cases:
            with self.subTest(request=data[:40]):
                resp, took = http_raw(port, data)
                self.assertIn(status_of(resp), statuses, resp[:200])
                self.assertLess(took, 5)

        # The slow client was cut off by the request head timeout, not before it.
        slow_thread.join(70)
        self.assertIsNotNone(slow["closed_after"], "slow client was never cut off")
        self.assertGreater(slow["closed_after"], 8)
        self.assertLess(slow["closed_after"], 20)

        # Many connections at once. One address gets at most 8; the rest are closed at once.
        def open_idle(src, n):
            socks = []
            for _ in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((src, 0))
                s.settimeout(3)
                try:
                    s.connect(("127.0.0.1", port))
                except OSError:
                    s.close()
                    continue
                socks.append(s)
                self.addCleanup(s.close)
            return socks

        def still_open(socks):
            time.sleep(1.0)
            alive = 0
            for s in socks:
                s.setblocking(False)
                try:
                    alive += s.recv(1) != b""  # data would be a surprise too
                except BlockingIOError:
                    alive += 1
                except OSError:
                    pass
            return alive

        flood = open_idle("127.0.0.9", 40)
        self.assertGreaterEqual(len(flood), 8)
        self.assertEqual(still_open(flood), 8)
        # Eight more addresses fill every slot with idle connections; a speaker must still
        # get its clip (the oldest connection of an address holding the most makes room).
        others = []
        for i in range(10, 18):
            others += open_idle("127.0.0.%d" % i, 8)
        self.announce_ok("during-flood", "still here")
        for s in flood + others:
            s.close()

        # The bind address is honoured: httpd listens on 127.0.0.1 only.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.3", port), timeout=2).close()

        self.announce_ok("after-http")
        self.assert_no_restart(bridge, pids)

    def test_http_fairness(self):
        """Connections a host holds in the middle of a NOTIFY body or of a response it never
        reads, from a few addresses, must not lock a speaker out of its clip; and an address at
        its own limit is refused without closing anyone else's connection."""
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_online()
        self.assertTrue(self.wait_speaker("kitchen"))
        self.announce_ok("clip-maker", "make a longer clip to hold the line " * 8)
        pids = bridge.worker_pids()
        port = bridge.http_port
        url = [r for r in kitchen.actions() if r["action"] == "fetch"][0]["url"]
        path = url[url.index("/clips/"):].encode()
        time.sleep(2)  # the speaker's events after the announcement are through

        def connect(src, data=b"", rcvbuf=None):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.bind((src, 0))
            s.settimeout(3)
            s.connect(("127.0.0.1", port))
            if data:
                s.sendall(data)
            return s

        def is_open(s):
            s.setblocking(False)
            try:
                return s.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                return True
            except OSError:
                return False

        # Every slot taken, 8 (the per-address limit) by each of 127.0.0.10-16, 7 by
        # 127.0.0.17, and the oldest by a bystander. More from 127.0.0.10 are refused, and
        # the bystander keeps its connection.
        bystander = connect("127.0.0.30")
        held = [connect("127.0.0.%d" % i) for i in range(10, 17) for _ in range(8)]
        held += [connect("127.0.0.17") for _ in range(7)]
        time.sleep(0.5)
        self.assertTrue(all(is_open(s) for s in held + [bystander]))
        extra = [connect("127.0.0.10") for _ in range(3)]
        time.sleep(1.0)
        self.assertFalse(any(is_open(s) for s in extra), "over the per-address limit")
        self.assertTrue(is_open(bystander),
                        "an address at its limit closed another client's connection")
        for s in held + extra + [bystander]:
            s.close()

        # The lockout: 127.0.0.10-13 send NOTIFY heads and never the body, 127.0.0.14-17 ask
        # for the clip 8 times over and read nothing; each refills what it loses.
        notify = (b"NOTIFY /gena/RINCON_X/AVTransport HTTP/1.1\r\nHost: x\r\nSID: uuid:x\r\n"
                  b"SEQ: 1\r\nContent-Length: 60000\r\n\r\n")
        unread = (b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n") * 8
        stop = threading.Event()
        socks = {}

        def keeper():
            while not stop.is_set():
                for i in range(10, 18):
                    src = "127.0.0.%d" % i
                    mine = [s for s in socks.get(src, []) if is_open(s) or s.close()]
                    while len(mine) < 16 and not stop.is_set():
                        try:
                            mine.append(connect(src, notify if i < 14 else unread,
                                                None if i < 14 else 1024))
                        except OSError:
                            break
                    socks[src] = mine
                time.sleep(0.2)
        attacker = threading.Thread(target=keeper, daemon=True)
        attacker.start()
        self.addCleanup(lambda: [s.close() for v in list(socks.values()) for s in v])
        self.addCleanup(stop.set)
        time.sleep(3)

        # The speaker's address gets its clip, and an announcement plays.
        resp, _ = http_raw(port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n", src=KITCHEN_IP, timeout=10)
        self.assertEqual(status_of(resp), 200, resp[:200])
        fetches = len(kitchen.actions_named("fetch"))
        plays = len(kitchen.actions_named("Play"))
        self.announce_ok("during-lockout", "still heard")
        fetch = kitchen.actions_named("fetch")[fetches:]
        self.assertTrue(fetch and fetch[-1]["valid"], fetch)
        self.assertGreater(len(kitchen.actions_named("Play")), plays)
        stop.set()
        attacker.join(10)
        for v in socks.values():
            for s in v:
                s.close()

        self.announce_ok("after-lockout")
        self.assert_no_restart(bridge, pids)

    def test_gena_spoofed_notify(self):
        """NOTIFYs that name the kitchen's real subscriptions, with a high SEQ, but come from
        another address: the bridge's state of the kitchen does not change, the status counts
        them, and the kitchen's own next event is not taken for a late one."""
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_online(extra={"state_poll_ms": 60000})
        self.assertTrue(self.wait_speaker("kitchen"))
        def subscribed():  # both services, each with its initial event sent
            subs = {s["service"]: s for s in kitchen.subscriptions() if s["seq"] > 0 and
                    s["service"] in ("AVTransport", "RenderingControl")}
            return subs if len(subs) == 2 else None
        self.assertTrue(harness.wait_until(subscribed, 20), kitchen.subscriptions())
        self.assertIsNotNone(self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/state", 20))
        time.sleep(1)
        sids = subscribed()
        before = self.mq.last("sonos/kitchen/state").json()
        self.assertFalse(before["mute"])
        pids = bridge.worker_pids()

        mark = self.mq.mark()
        for service, variables in (
                ("RenderingControl", [("Volume", [("channel", "Master"), ("val", "97")]),
                                      ("Mute", [("channel", "Master"), ("val", "1")])]),
                ("AVTransport", [("TransportState", [("val", "PLAYING")]),
                                 ("AVTransportURI", [("val", "x-rincon-mp3radio://evil")])])):
            body = sonos_speaker.Speaker.lastchange_body(service, variables).encode()
            sub = sids[service]
            for src in ("127.0.0.99", "127.0.0.1"):
                req = (b"NOTIFY /gena/%s/%s HTTP/1.1\r\nHost: x\r\nNT: upnp:event\r\n"
                       b"NTS: upnp:propchange\r\nSID: %s\r\nSEQ: %d\r\n"
                       b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                       % (kitchen.uuid.encode(), service.encode(), sub["sid"].encode(),
                          sub["seq"] + 5, len(body))) + body
                resp, _ = http_raw(bridge.http_port, req, src=src)
                self.assertEqual(status_of(resp), 200, resp[:200])
        time.sleep(2)
        changed = [m.json() for m in self.mq.messages[mark:] if m.topic == "sonos/kitchen/state"]
        self.assertEqual(changed, [], "a stranger's NOTIFY changed the state")
        self.assertEqual(self.mq.last("sonos/kitchen/state").json(), before)

        # The kitchen's own next event (SEQ one up, below the spoofed ones) is applied.
        mark = self.mq.mark()
        kitchen.set_volume(31)
        doc = self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/state" and
                               m.json().get("volume") == 31, 5, after=mark)
        self.assertIsNotNone(doc, "the speaker's real event was dropped")
        self.assertFalse(doc.json()["mute"])

        out = subprocess.run([bridge.binary, "status", "--json", "--config",
                              bridge.config_path], capture_output=True, text=True, timeout=10)
        events = json.loads(out.stdout)["workers"]["playerd"]["health"]["events"]
        self.assertEqual(events["strangers"], 4, events)
        log = bridge.log_text()
        for src in ("127.0.0.99", "127.0.0.1"):
            warned = [line for line in log.splitlines() if "NOTIFY from %s for" % src in line
                      and "not the speaker's address 127.0.0.2" in line]
            self.assertEqual(len(warned), 1, "warned once per source: %r" % warned)
        self.assert_no_restart(bridge, pids)

    # --- SSDP and device descriptions -----------------------------------------------------------

    def test_ssdp(self):
        self.start_speaker(KITCHEN_IP, "Kitchen")
        # A responder that points at another host, and a trap on that host.
        trap = self.adopt(TrapServer("127.0.0.77"))
        liar = self.adopt(SsdpResponder("127.0.0.66",
                                        "http://127.0.0.77:1400/xml/device_description.xml",
                                        "RINCON_000E5800006601400", "Sonos_liar"))
        # Responders whose own descriptions are hostile.
        bad = [self.adopt(HostileDevice("127.0.0.%d" % (70 + i), "Bad %d" % i, description=mode))
               for i, mode in enumerate(["huge", "laughs", "xxe", "hang", "garbage"])]
        bridge = self.start_online()
        self.assertTrue(self.wait_speaker("kitchen"))
        pids = bridge.worker_pids()
        liar.notify()

        # Garbage on the SSDP group, bounded: 2000 datagrams, some over the size limit.
        rnd = random.Random(7)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        sock.bind(("127.0.0.88", 0))
        self.addCleanup(sock.close)
        templates = [
            b"NOTIFY * HTTP/1.1\r\nNTS: ssdp:alive\r\nNT: %s\r\nUSN: uuid:RINCON_%d\r\n"
            b"LOCATION: http://127.0.0.77:1400/x\r\n\r\n",
            b"NOTIFY * HTTP/1.1\r\nNTS: ssdp:byebye\r\nNT: %s\r\nUSN: uuid:%s\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nST: %s\r\nUSN: uuid:RINCON_%d\r\nLOCATION: %s\r\n\r\n",
        ]
        for i in range(2000):
            kind = i % 5
            if kind == 0:
                data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 600)))
            elif kind == 1:
                data = b"NOTIFY * HTTP/1.1\r\n" + b"X: " + b"y" * 6000 + b"\r\n\r\n"
            elif kind == 2:
                data = templates[0] % (ZONEPLAYER.encode(), i)
            elif kind == 3:  # a byebye for the real speaker, from a stranger
                data = templates[1] % (ZONEPLAYER.encode(), b"RINCON_000E58000002014000")
            else:
                data = templates[2] % (ZONEPLAYER.encode(), i, b"http://" + b"9" * 300)
            try:
                sock.sendto(data, (SSDP_GROUP, SSDP_PORT))
            except OSError:
                pass
            if i % 200 == 0:
                time.sleep(0.02)

        # The bridge saw the liar and refused to follow it; nothing reached the trap.
        self.assertTrue(harness.wait_until(lambda: liar.searches > 0, 10))
        self.assertTrue(bridge.wait_log(r"on another host: ignored", 15),
                        "the liar's answer was not refused")
        # Every hostile description was fetched (the bridge asked), refused and logged; the
        # hanging one timed out and the huge one was cut at the size limit.
        for dev in bad:
            self.assertTrue(harness.wait_until(lambda: dev.requests, 15), dev.description)
            self.assertTrue(bridge.wait_log(
                r"http://%s:1400/xml/device_description.xml \(ssdp\): .*not retried"
                % dev.ip.replace(".", r"\."), 20), dev.description)
        self.assertEqual(trap.hits, 0)
        for slug in ["bad-%d" % i for i in range(5)] + ["kitchen-liar"]:
            self.assertIsNone(self.mq.last("sonos/%s/availability" % slug))
        self.assertNotIn("root:", bridge.log_text())
        # The real speaker is still known (the stranger's byebyes did not remove it).
        self.assertEqual(self.mq.last("sonos/kitchen/availability").text, "online")
        self.announce_ok("after-ssdp")
        self.assert_no_restart(bridge, pids)

    # --- a speaker that answers SOAP badly ------------------------------------------------------

    def test_speaker_answers(self):
        self.start_speaker(KITCHEN_IP, "Kitchen")
        modes = ["garbage", "hang", "huge", "laughs", "chunked"]
        devs = [self.adopt(HostileDevice("127.0.0.%d" % (20 + i), "Evil %s" % m, soap=m))
                for i, m in enumerate(modes)]
        bridge = self.start_online()
        self.assertTrue(self.wait_speaker("kitchen"))
        for m in modes:
            self.assertTrue(self.wait_speaker("evil-%s" % m, 30), m)
        pids = bridge.worker_pids()

        # One announcement to each bad speaker and one to the kitchen, all at once.
        mark = self.mq.mark()
        for m in modes:
            self.mq.publish("sonos/evil-%s/tts" % m, {"id": "evil-" + m, "text": "nope"})
        self.mq.publish("sonos/kitchen/tts", {"id": "good", "text": "the good one"})
        good = self.final_event("good", 60, after=mark)
        self.assertEqual(good and good["status"], "done", good)
        for m in modes:
            with self.subTest(mode=m):
                ev = self.final_event("evil-" + m, 60, after=mark)
                self.assertIsNotNone(ev, m)
                self.assertEqual(ev["status"], "failed", ev)
                self.assertTrue(ev.get("error"), ev)
        self.assertTrue(all(d.requests for d in devs))
        self.announce_ok("after-speakers")
        self.assert_no_restart(bridge, pids)

    # --- the runtime directory ------------------------------------------------------------------

    def test_runtime_permissions(self):
        self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_online()
        self.assertTrue(self.wait_speaker("kitchen"))
        mode = stat.S_IMODE(os.stat(bridge.runtime_dir).st_mode)
        self.assertEqual(mode, 0o700, oct(mode))
        sockets = [e for e in os.scandir(bridge.runtime_dir)
                   if stat.S_ISSOCK(e.stat(follow_symlinks=False).st_mode)]
        self.assertGreaterEqual(len(sockets), 4, os.listdir(bridge.runtime_dir))
        for e in sockets:
            with self.subTest(socket=e.name):
                m = stat.S_IMODE(e.stat(follow_symlinks=False).st_mode)
                self.assertEqual(m & 0o077, 0, "%s is %s" % (e.name, oct(m)))
        for d in (bridge.state_dir, os.path.join(bridge.state_dir, "cache")):
            m = stat.S_IMODE(os.stat(d).st_mode)
            self.assertEqual(m & 0o077, 0, "%s is %s" % (d, oct(m)))


if __name__ == "__main__":
    unittest.main()
