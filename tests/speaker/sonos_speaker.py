#!/usr/bin/python3
"""sonos_speaker.py -- an emulated Sonos player that speaks the real protocol, for tests.

One Speaker is one player: the device description over HTTP on ip:1400, SSDP answers (and
alive/byebye NOTIFYs) on loopback multicast only, SOAP control for AVTransport,
RenderingControl, GroupRenderingControl, ZoneGroupTopology and DeviceProperties with the real
envelope and fault shapes, and a transport state machine. When told to play an http URL it
fetches the audio, checks it is valid audio of the stated type and stays PLAYING for the clip's
real duration. Every action it receives is recorded with a timestamp so tests can assert on
what the speaker actually got.

Use it in-process (tests start Speaker objects as threads) or as a CLI:
    /usr/bin/python3 sonos_speaker.py --speaker 127.0.0.2:Kitchen --speaker "127.0.0.3:Living Room"

Standard library only.
"""

import argparse
import http.server
import json
import os
import random
import re
import selectors
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as _xml_escape

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
SSDP_IF = "127.0.0.1"  # tests never multicast anywhere but loopback
ZONEPLAYER_ST = "urn:schemas-upnp-org:device:ZonePlayer:1"
SONOS_PORT = 1400
SOFTWARE_VERSION = "57.4-83220"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_URN = "urn:schemas-upnp-org:service:%s:1"

TRANSPORT_STATES = ("STOPPED", "PLAYING", "PAUSED_PLAYBACK", "TRANSITIONING")
PLAY_MODES = ("NORMAL", "REPEAT_ALL", "REPEAT_ONE", "SHUFFLE_NOREPEAT", "SHUFFLE",
              "SHUFFLE_REPEAT_ONE")
# Sources that have no seekable position: radio streams, line-in, TV.
STREAM_PREFIXES = ("x-sonosapi-stream:", "x-sonosapi-radio:", "x-rincon-mp3radio:",
                   "x-sonosapi-hls:", "x-sonosapi-hls-static:", "x-rincon-stream:",
                   "x-sonos-htastream:", "aac:", "hls-radio:")
NO_PAUSE_PREFIXES = ("x-rincon-stream:", "x-sonos-htastream:")
# Cloud queues (Spotify Connect and the like) are set by the service, never by a controller:
# a SetAVTransportURI with one answers 714, as real players do when a bridge tries to restore.
CLOUD_PREFIXES = ("x-sonos-vli:",)

CONTROL_PATHS = {
    "/MediaRenderer/AVTransport/Control": "AVTransport",
    "/MediaRenderer/RenderingControl/Control": "RenderingControl",
    "/MediaRenderer/GroupRenderingControl/Control": "GroupRenderingControl",
    "/ZoneGroupTopology/Control": "ZoneGroupTopology",
    "/DeviceProperties/Control": "DeviceProperties",
}

# GENA event subscriptions (UPnP Device Architecture 1.1, section 4)
EVENT_PATHS = {
    "/MediaRenderer/AVTransport/Event": "AVTransport",
    "/MediaRenderer/RenderingControl/Event": "RenderingControl",
    "/ZoneGroupTopology/Event": "ZoneGroupTopology",
}
# Actions after which the household's ZoneGroupState may differ (ZoneGroupTopology events)
GROUPING_ACTIONS = ("SetAVTransportURI", "BecomeCoordinatorOfStandaloneGroup")
GENA_DEFAULT_TIMEOUT_S = 3600
GENA_NOTIFY_TIMEOUT_S = 2.0
EVENT_NS = "urn:schemas-upnp-org:event-1-0"

MAX_SOAP_BODY = 256 * 1024
FETCH_TIMEOUT_S = 10.0
FETCH_MAX_BYTES = 50 * 1024 * 1024
QUEUE_TRACK_SECONDS = 200

WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/vnd.wave", "audio/wave")
MP3_TYPES = ("audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg")


def captures_dir():
    """The real-capture directory: $SB_CAPTURES, else ../captures next to this file."""
    env = os.environ.get("SB_CAPTURES")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "captures")


def xml_text(value):
    """Escape a value as XML element text the way players do (& < > and ")."""
    return _xml_escape(str(value), {'"': "&quot;"})


def xml_attr(value):
    return _xml_escape(str(value), {'"': "&quot;", "\n": "&#10;"})


def fmt_hms(seconds):
    seconds = max(0, int(seconds))
    return "%d:%02d:%02d" % (seconds // 3600, (seconds // 60) % 60, seconds % 60)


def parse_hms(text):
    """'H:MM:SS' (optionally with .fraction) to seconds; ValueError when malformed."""
    m = re.fullmatch(r"\s*(\d{1,3}):([0-5]?\d):([0-5]?\d)(?:\.\d+)?\s*", text or "")
    if not m:
        raise ValueError("not H:MM:SS: %r" % (text,))
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


# ---------------------------------------------------------------------------------------------
# Audio validation (pure functions: bytes in, facts or ValueError out)

def parse_wav(data):
    """Check a RIFF/WAVE body is 16-bit PCM, mono/stereo, <= 48 kHz with a data chunk.

    Returns a dict (format, channels, sample_rate, bits, data_bytes, duration_s, warning) or
    raises ValueError with the reason."""
    if len(data) < 12 or data[0:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, fmt, warning = 12, None, None
    for _ in range(64):  # bounded chunk walk
        if pos + 8 > len(data):
            break
        cid = data[pos:pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise ValueError("fmt chunk too short")
            tag, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == 0xFFFE and size >= 40 and body + 40 <= len(data):
                # WAVE_FORMAT_EXTENSIBLE: the real format tag leads the sub-format GUID
                (tag,) = struct.unpack_from("<H", data, body + 24)
            if tag != 1:
                raise ValueError("not PCM (format tag %d)" % tag)
            if bits != 16:
                raise ValueError("PCM %d-bit, players want 16-bit" % bits)
            if channels not in (1, 2):
                raise ValueError("%d channels, players want mono or stereo" % channels)
            if rate < 1 or rate > 48000:
                raise ValueError("sample rate %d Hz not supported (max 48000)" % rate)
            if byte_rate != rate * channels * 2 or align != channels * 2:
                raise ValueError("inconsistent fmt chunk (byte rate %d, block align %d)"
                                 % (byte_rate, align))
            fmt = (channels, rate, bits, byte_rate)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            present = len(data) - body
            nbytes = size
            if size > present:
                # a streamed header (size unknown) or a truncated file: play what is there
                warning = "data chunk declares %d bytes, %d present" % (size, present)
                nbytes = present
            if nbytes <= 0:
                raise ValueError("empty data chunk")
            channels, rate, bits, byte_rate = fmt
            return {"format": "WAV", "channels": channels, "sample_rate": rate, "bits": bits,
                    "data_bytes": nbytes, "duration_s": nbytes / float(byte_rate),
                    "warning": warning}
        pos = body + size + (size & 1)
    raise ValueError("no fmt chunk" if fmt is None else "no data chunk")


_MP3_BITRATES = {  # kbit/s by (version is MPEG1, layer) then index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame(data, pos):
    """Decode the MPEG audio frame header at pos: (frame_len, samples, rate) or None."""
    if pos + 4 > len(data):
        return None
    b0, b1, b2 = data[pos], data[pos + 1], data[pos + 2]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:
        return None
    version = (b1 >> 3) & 3  # 3 = MPEG1, 2 = MPEG2, 0 = MPEG2.5, 1 reserved
    layer = 4 - ((b1 >> 1) & 3)  # 1..3; 4 = reserved
    br_index, sr_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer == 4 or br_index in (0, 15) or sr_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES[(mpeg1, layer)][br_index - 1] * 1000
    rate = _MP3_RATES[version][sr_index]
    if layer == 1:
        return ((12 * bitrate // rate + padding) * 4, 384, rate)
    if layer == 2 or mpeg1:
        return (144 * bitrate // rate + padding, 1152, rate)
    return (72 * bitrate // rate + padding, 576, rate)


def parse_mp3(data):
    """Check a body starts with an ID3v2 tag or an MPEG frame sync and walk its frames.

    Returns a dict (format, sample_rate, frames, duration_s, warning) or raises ValueError."""
    pos = 0
    if data[:3] == b"ID3":
        if len(data) < 10:
            raise ValueError("truncated ID3 tag")
        size = 0
        for b in data[6:10]:
            if b & 0x80:
                raise ValueError("bad ID3 tag size")
            size = (size << 7) | b
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
    first = _mp3_frame(data, pos)
    if first is None:
        raise ValueError("no MPEG frame sync at offset %d" % pos)
    rate = first[2]
    if rate < 16000:
        raise ValueError("MP3 at %d Hz: players want 16 to 48 kHz" % rate)
    frames, samples, warning = 0, 0, None
    while pos < len(data):
        frame = _mp3_frame(data, pos)
        if frame is None or frame[0] <= 4:
            if data[pos:pos + 3] != b"TAG":
                warning = "%d stray bytes after %d frames" % (len(data) - pos, frames)
            break
        if frame[2] != rate:
            warning = "sample rate changes at frame %d" % frames
            break
        frames += 1
        samples += frame[1]
        pos += frame[0]
    return {"format": "MP3", "sample_rate": rate, "frames": frames,
            "duration_s": samples / float(rate), "warning": warning}


def check_audio(content_type, data):
    """Validate data against its Content-Type. Returns the facts dict or raises ValueError."""
    if content_type in WAV_TYPES:
        return parse_wav(data)
    if content_type in MP3_TYPES:
        return parse_mp3(data)
    raise ValueError("content type %r is not audio the emulator can check" % (content_type,))


# ---------------------------------------------------------------------------------------------
# SSDP (pure parsing and formatting)

def parse_ssdp(data):
    """Parse an SSDP datagram leniently: (method line upper-cased, {HEADER: value}) or None."""
    try:
        text = data.decode("latin-1")
    except Exception:
        return None
    lines = re.split(r"\r?\n", text)
    if not lines or not lines[0].strip():
        return None
    headers = {}
    for line in lines[1:64]:
        if ":" not in line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().upper()] = value.strip()
    return lines[0].strip().upper(), headers


# ---------------------------------------------------------------------------------------------
# SOAP

class UPnPFault(Exception):
    def __init__(self, code, reason=""):
        Exception.__init__(self, "UPnP error %d: %s" % (code, reason))
        self.code = code
        self.reason = reason


def soap_envelope(inner):
    return ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>%s'
            '</s:Body></s:Envelope>' % inner)


def soap_response(service, action, outputs):
    """The real response shape: <u:ActionResponse xmlns:u=service-urn> with text outputs."""
    parts = ["<%s>%s</%s>" % (name, xml_text(value), name) for name, value in outputs]
    return soap_envelope('<u:%sResponse xmlns:u="%s">%s</u:%sResponse>'
                         % (action, SERVICE_URN % service, "".join(parts), action))


def soap_fault(code):
    """The real fault shape (HTTP 500): s:Client / UPnPError / errorCode, no description."""
    return soap_envelope('<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError'
                         '</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
                         '<errorCode>%d</errorCode></UPnPError></detail></s:Fault>' % code)


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def safe_xml(data):
    """Parse untrusted XML with ElementTree after refusing DTDs (no entity tricks)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    low = data.lower()
    if b"<!doctype" in low or b"<!entity" in low:
        raise ValueError("DOCTYPE/ENTITY not allowed")
    return ET.fromstring(data)


def parse_soap_request(body):
    """Body bytes to (action namespace, action name, {arg: text}); ValueError when malformed.
    An argument that holds child elements (unescaped XML) is reported as a ValueError."""
    root = safe_xml(body)
    if root.tag != "{%s}Envelope" % SOAP_ENV_NS:
        raise ValueError("not a SOAP envelope")
    soap_body = root.find("{%s}Body" % SOAP_ENV_NS)
    if soap_body is None or len(soap_body) != 1:
        raise ValueError("SOAP body must hold exactly one action")
    act = soap_body[0]
    ns = act.tag[1:].split("}", 1)[0] if act.tag.startswith("{") else ""
    args = {}
    for child in act:
        if len(child):
            raise ValueError("argument %s holds XML elements (not escaped)" % _local(child.tag))
        args[_local(child.tag)] = child.text or ""
    return ns, _local(act.tag), args


# ---------------------------------------------------------------------------------------------
# Real topologies

def captured_topology(name, addresses):
    """The ZoneGroupState document of a real capture (path relative to captures_dir(), e.g.
    "node-sonos-ts/zone-group.GroupState.ChannelMapSet.stereo.xml"), as the text a player puts
    in its GetZoneGroupState answer, with each member's Location host rewritten by addresses
    ({"192.168.1.21": "127.0.0.2"}). Everything else stays as captured."""
    with open(os.path.join(captures_dir(), name), "rb") as f:
        root = safe_xml(f.read())
    node = root if _local(root.tag) == "ZoneGroupState" else next(
        (el for el in root.iter() if _local(el.tag) == "ZoneGroupState"), None)
    if node is None or not (node.text or "").strip():
        raise ValueError("%s holds no ZoneGroupState" % name)
    text = node.text
    for old, new in addresses.items():
        text = text.replace("http://%s:" % old, "http://%s:" % new)
    return text


# ---------------------------------------------------------------------------------------------
# The speaker

_registry_lock = threading.Lock()
_registry = []  # running speakers of this process, for ZoneGroupState and grouping


def _running_speakers(household):
    with _registry_lock:
        return sorted((s for s in _registry if s.household == household and not s.proxy),
                      key=lambda s: socket.inet_aton(s.ip))


def _speaker_by_uuid(uuid, household):
    for s in _running_speakers(household):
        if s.uuid == uuid:
            return s
    return None


class _Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); tests must not wait on it
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    def version_string(self):
        return self.server.speaker.server_header

    def log_message(self, fmt, *args):
        if os.environ.get("SB_SPEAKER_DEBUG"):
            sys.stderr.write("%s %s\n" % (self.server.speaker.room, fmt % args))

    def _send(self, status, body, ctype='text/xml; charset="utf-8"', extra=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        # header names as real players spell them; clients must compare case-insensitively
        self.send_header("CONTENT-LENGTH", str(len(body)))
        self.send_header("CONTENT-TYPE", ctype)
        for name, value in extra:
            if value:
                self.send_header(name, value)
            else:
                self._headers_buffer.append(("%s:\r\n" % name).encode("latin-1"))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        sp = self.server.speaker
        path = urllib.parse.urlsplit(self.path).path
        if path == "/xml/device_description.xml":
            with sp._lock:
                sp.description_fetches += 1
            self._send(200, sp.device_description())
        elif path == "/test/actions":
            self._send(200, json.dumps(sp.actions(), indent=1), "application/json")
        elif path == "/test/state":
            self._send(200, json.dumps(sp.snapshot(), indent=1), "application/json")
        else:
            self._send(404, "<html><body><h1>404 Not Found</h1></body></html>", "text/html")

    do_HEAD = do_GET

    def _event_request(self, method):
        sp = self.server.speaker
        service = EVENT_PATHS.get(urllib.parse.urlsplit(self.path).path)
        if service is None:
            self._send(404, "<html><body><h1>404 Not Found</h1></body></html>", "text/html")
            return
        try:
            length = int(self.headers.get("Content-Length", "0") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > 4096:
            self._send(400, "", "text/plain")
            return
        if length:
            self.rfile.read(length)
        if method == "SUBSCRIBE":
            status, extra = sp.handle_subscribe(service, self.headers)
        else:
            status, extra = sp.handle_unsubscribe(service, self.headers)
        self._send(status, "", "text/plain", extra)
        if status == 200 and method == "SUBSCRIBE":
            sp._gena_kick()  # the initial event goes out after this answer

    def do_SUBSCRIBE(self):
        self._event_request("SUBSCRIBE")

    def do_UNSUBSCRIBE(self):
        self._event_request("UNSUBSCRIBE")

    def do_POST(self):
        sp = self.server.speaker
        service = CONTROL_PATHS.get(urllib.parse.urlsplit(self.path).path)
        if service is None:
            self._send(404, "<html><body><h1>404 Not Found</h1></body></html>", "text/html")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(411, "", "text/plain")
            return
        if length < 0 or length > MAX_SOAP_BODY:
            self._send(413, "", "text/plain")
            return
        body = self.rfile.read(length)
        status, text = sp.handle_soap(service, self.headers.get("SOAPACTION", ""), body)
        self._send(status, text, extra=(("EXT", ""),))


class Speaker:
    """One emulated player. Construct, optionally set_media()/set_fault(), then start().

    All state accessors are thread-safe. Records are dicts; see actions()."""

    def __init__(self, ip, room, uuid=None, model="Sonos Play:1", ssdp=True,
                 household="Sonos_test_household", port=SONOS_PORT, volume=20, mute=0,
                 output_fixed=False, uri="", metadata="", transport_state="STOPPED",
                 queue_length=None, track=1, rel_time="0:00:00", play_mode="NORMAL",
                 bootseq=None, notify=True, model_number="S9", allow_nonlocal_fetch=False,
                 observer=None, topology=None, ssdp_if=SSDP_IF, gena_timeout=None,
                 answer_search=True, ssdp_multicast=True, ssdp_broadcast=None, proxy=False):
        octets = [int(x) for x in ip.split(".")]
        self.ip = ip
        self.room = room
        self.port = port
        self.mac = "00:0E:58:%02X:%02X:%02X" % tuple(octets[1:])  # 00:0E:58 = Sonos OUI
        self.uuid = uuid or "RINCON_%s01400" % self.mac.replace(":", "")
        self.model = model
        self.model_number = model_number
        self.display_name = model[6:] if model.startswith("Sonos ") else model
        self.ssdp = ssdp
        self.notify = notify
        self.household = household
        self.bootseq = bootseq if bootseq is not None else random.randint(10, 200)
        self.allow_nonlocal_fetch = allow_nonlocal_fetch
        self.server_header = "Linux UPnP/1.0 Sonos/%s (ZP%s)" % (SOFTWARE_VERSION, model_number)
        self.observers = [observer] if observer else []
        self.ssdp_reply_delay = 0.05  # real players wait a random part of MX; keep tests quick
        # ZoneGroupState to serve instead of the generated one: the inner document as text
        # (see captured_topology), so tests can replay a real household.
        self.topology = topology
        # Interface (address) SSDP multicast goes out on and is joined on; loopback in tests,
        # a veth address inside a private network namespace.
        self.ssdp_if = ssdp_if
        # False: hear M-SEARCH but never answer; the player is found only by its NOTIFYs.
        self.answer_search = answer_search
        # ssdp_multicast False: not in the SSDP group, M-SEARCH to it goes unheard (a network
        # that drops multicast). ssdp_broadcast: a broadcast address (e.g. 10.77.1.255) whose
        # port 1900 is listened on, so an M-SEARCH sent to it is heard.
        self.ssdp_multicast = ssdp_multicast
        self.ssdp_broadcast = ssdp_broadcast
        # A controller app answering for the household (X-RINCON-PROXY): no player, never in
        # the ZoneGroupState.
        self.proxy = proxy
        self.description_fetches = 0  # GETs of the device description

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._records = []
        self._states = []
        self._faults = {}  # action -> [code, remaining or None]
        self._delays = {}  # action -> seconds
        self._late = {}  # action -> seconds, after the action took effect
        self._fetch_delay = 0.0  # seconds Play stays TRANSITIONING before the fetch starts
        self._stall_after_fetch = False  # a fetched clip never starts (stays TRANSITIONING)
        self._fetch_gate = None  # threading.Event that fetches wait for (hold_fetches)
        self._gen = 0  # bumps on every transport change; stale timers/fetches check it
        self._timer = None
        self._http = None
        self._http_thread = None
        self._ssdp_thread = None
        self._ssdp_socks = []
        self._stop_evt = threading.Event()
        self._running = False
        self._group_seq = random.randint(1, 90)
        # GENA: sid -> subscription dict; see subscriptions(). gena_timeout caps the timeout
        # granted (seconds); gena_drop_notify makes NOTIFYs vanish as with an unreachable
        # callback (they are still recorded, with "dropped": True).
        self.gena_timeout = gena_timeout
        self.gena_drop_notify = False
        self._subs = {}
        self._sub_counter = 0
        self._gena_cv = threading.Condition()
        self._gena_dirty = False
        self._gena_thread = None

        self._volume = int(volume)
        self._mute = int(mute)
        self.output_fixed = bool(output_fixed)
        self._play_mode = play_mode
        self._coordinator = None  # uuid of our group coordinator when we are a member
        self._uri = ""
        self._metadata = ""
        self._queue_size = 10  # tracks in the queue; it survives playing something else
        self._track = 1
        self._pos = 0.0  # position when last stopped/paused/started
        self._started = None  # monotonic time PLAYING began (position runs)
        self._clip_duration = None  # real duration of the fetched http clip
        self._state = "STOPPED"
        self.last_error = None
        self.set_media(uri, metadata, queue_length=queue_length, track=track, rel_time=rel_time)
        self.set_transport_state(transport_state)

    # --- set-up helpers for tests -------------------------------------------------------------

    @property
    def queue_uri(self):
        return "x-rincon-queue:%s#0" % self.uuid

    @property
    def location(self):
        return "http://%s:%d/xml/device_description.xml" % (self.ip, self.port)

    def set_media(self, uri, metadata="", queue_length=None, track=1, rel_time="0:00:00"):
        """Set what the player has loaded (as if another controller did it). queue_length sets
        how many tracks the queue holds (default 10); it is kept while other URIs play."""
        with self._lock:
            self._uri = uri or ""
            self._metadata = metadata or ""
            if queue_length is not None:
                self._queue_size = int(queue_length)
            self._track = int(track)
            self._pos = float(parse_hms(rel_time))
            self._clip_duration = None
            self._changed.notify_all()
        self._gena_kick()

    def set_transport_state(self, state):
        """Force a transport state (initial state, or 'someone pressed play'). No fetch."""
        if state not in TRANSPORT_STATES:
            raise ValueError(state)
        with self._lock:
            self._cancel_timer()
            self._started = time.monotonic() if state == "PLAYING" else None
            self._set_state(state)

    def set_volume(self, volume=None, mute=None):
        with self._lock:
            if volume is not None:
                self._volume = int(volume)
            if mute is not None:
                self._mute = int(mute)
            self._changed.notify_all()
        self._gena_kick()

    def set_fault(self, action, code, count=None):
        """Answer `action` with UPnP error `code` (count times, or always when None).
        code None removes the fault."""
        with self._lock:
            if code is None:
                self._faults.pop(action, None)
            else:
                self._faults[action] = [int(code), count]

    def set_delay(self, action, seconds, after=False):
        """Hold every answer to `action` for `seconds` (a slow or hung player). With after,
        the action takes effect (and its event leaves) first, and only the answer is late."""
        delays = self._late if after else self._delays
        with self._lock:
            if seconds:
                delays[action] = min(float(seconds), 60.0)
            else:
                delays.pop(action, None)

    def set_fetch_delay(self, seconds):
        """Stay TRANSITIONING for `seconds` after Play before fetching an http clip (a slow
        network or a busy player); 0 turns it off."""
        with self._lock:
            self._fetch_delay = min(max(float(seconds), 0.0), 60.0)

    def hold_fetches(self):
        """Fetch no http clip until release_fetches() (at most 60 s): Play is answered and the
        player stays TRANSITIONING, so a test can change the world between Play and the fetch."""
        with self._lock:
            if self._fetch_gate is None:
                self._fetch_gate = threading.Event()

    def release_fetches(self):
        with self._lock:
            gate, self._fetch_gate = self._fetch_gate, None
        if gate is not None:
            gate.set()

    def set_stall_after_fetch(self, on):
        """Fetch an http clip as usual, then never start it: stay TRANSITIONING (a player
        that got the file but does not play it)."""
        with self._lock:
            self._stall_after_fetch = bool(on)

    def join(self, coordinator):
        """Make this speaker a member of coordinator's group (as the Sonos app would)."""
        with self._lock:
            self._cancel_timer()
            self._coordinator = coordinator.uuid
            self._uri, self._metadata = "x-rincon:%s" % coordinator.uuid, ""
            self._set_state("STOPPED")
        self._topology_kick()

    def leave(self):
        with self._lock:
            self._become_standalone()
        self._topology_kick()

    # --- accessors ----------------------------------------------------------------------------

    def actions(self):
        """A copy of every record so far, oldest first. Action records:
        {"t", "service", "action", "args", ["fault"], ["error"]}; fetch records:
        {"t", "action": "fetch", "url", "http_status", "content_type", "bytes", "valid",
         "duration_s", "error", ...}."""
        with self._lock:
            return [dict(r) for r in self._records]

    def actions_named(self, name):
        return [r for r in self.actions() if r.get("action") == name]

    def states(self):
        """Transport state history: [{"t", "state", "uri"}], first entry is the initial state."""
        with self._lock:
            return [dict(s) for s in self._states]

    def clear_actions(self):
        with self._lock:
            self._records = []

    def wait_until(self, condition, timeout=5.0):
        """Poll condition() (no arguments) until true or timeout; returns its last value."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = condition()
                left = deadline - time.monotonic()
                if value or left <= 0:
                    return value
                self._changed.wait(min(left, 0.05))

    def wait_for(self, predicate, timeout=5.0, since=0.0):
        """Wait (bounded) for the first record with t >= since for which predicate(record) is
        true; returns that record (a copy) or None on timeout."""
        def find():
            for r in self._records:
                if r["t"] >= since and predicate(r):
                    return dict(r)
            return None
        return self.wait_until(find, timeout)

    def wait_action(self, name, timeout=5.0, since=0.0):
        return self.wait_for(lambda r: r.get("action") == name, timeout, since)

    def wait_state(self, state, timeout=5.0):
        return self.wait_until(lambda: self._state == state, timeout)

    @property
    def transport_state(self):
        with self._lock:
            return self._state

    @property
    def volume(self):
        with self._lock:
            return self._volume

    @property
    def mute(self):
        with self._lock:
            return self._mute

    @property
    def current_uri(self):
        with self._lock:
            return self._uri

    @property
    def current_metadata(self):
        with self._lock:
            return self._metadata

    @property
    def play_mode(self):
        with self._lock:
            return self._play_mode

    @property
    def coordinator(self):
        """uuid of the group coordinator (our own uuid when standalone)."""
        with self._lock:
            return self._coordinator or self.uuid

    def position(self):
        with self._lock:
            return self._position()

    def snapshot(self):
        with self._lock:
            return {"room": self.room, "ip": self.ip, "uuid": self.uuid,
                    "transport_state": self._state, "uri": self._uri,
                    "metadata": self._metadata, "volume": self._volume, "mute": self._mute,
                    "track": self._track, "position_s": self._position(),
                    "coordinator": self._coordinator or self.uuid,
                    "play_mode": self._play_mode, "last_error": self.last_error}

    # --- life cycle ---------------------------------------------------------------------------

    def _bind_http(self, retry_s):
        deadline = time.monotonic() + retry_s
        while True:
            try:
                return _Server((self.ip, self.port), _Handler, bind_and_activate=True)
            except OSError as e:
                if time.monotonic() >= deadline:
                    raise OSError(e.errno, "speaker %s:%d: %s" % (self.ip, self.port, e.strerror))
                time.sleep(0.1)

    def start(self, bind_retry_s=3.0):
        """Bind HTTP (and SSDP) and serve in daemon threads. A port still taken after
        bind_retry_s (say, by a test of another process finishing) raises OSError."""
        if self._running:
            return self
        self._stop_evt.clear()
        self._http = self._bind_http(bind_retry_s)
        self._http.speaker = self
        self._http_thread = threading.Thread(target=self._http.serve_forever,
                                             kwargs={"poll_interval": 0.05},
                                             name="speaker-http-%s" % self.ip, daemon=True)
        self._http_thread.start()
        try:
            if self.ssdp:
                self._ssdp_open()
        except OSError:
            self._http.shutdown()
            self._http.server_close()
            raise
        with _registry_lock:
            _registry.append(self)
        self._running = True
        self._topology_kick()
        self._gena_thread = threading.Thread(target=self._gena_loop,
                                             name="speaker-gena-%s" % self.ip, daemon=True)
        self._gena_thread.start()
        if self.ssdp:
            self._ssdp_thread = threading.Thread(target=self._ssdp_loop,
                                                 name="speaker-ssdp-%s" % self.ip, daemon=True)
            self._ssdp_thread.start()
            if self.notify:
                self.send_notify("ssdp:alive")
        return self

    def stop(self):
        """Stop serving and release the ports promptly; state and records are kept.
        A later start() is a reboot: BOOTSEQ goes up."""
        if not self._running:
            return
        self._running = False
        if self.ssdp and self.notify:
            try:
                self.send_notify("ssdp:byebye")
            except OSError:
                pass
        with _registry_lock:
            if self in _registry:
                _registry.remove(self)
        self._topology_kick()  # the others' ZoneGroupState no longer lists this one
        self._stop_evt.set()
        self._http.shutdown()
        self._http.server_close()
        self._http_thread.join(2)
        if self._ssdp_thread:
            self._ssdp_thread.join(2)
            self._ssdp_thread = None
        for s in self._ssdp_socks:
            s.close()
        self._ssdp_socks = []
        self._gena_kick()
        if self._gena_thread:
            self._gena_thread.join(GENA_NOTIFY_TIMEOUT_S + 1)
            self._gena_thread = None
        with self._lock:
            self._cancel_timer()
            self._gen += 1
            self._subs = {}  # a rebooted player knows no subscription
        self.bootseq += 1

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- device description -------------------------------------------------------------------

    def device_description(self):
        """The real Playbar description with this speaker's identity substituted."""
        path = os.path.join(captures_dir(), "node-sonos-ts", "device_description.xml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        model = xml_text(self.model)
        room = xml_text(self.room)
        subs = [
            ("RINCON_949F0000A901400", self.uuid),
            ("RINCON_949F006800A901400", self.uuid),
            ("<friendlyName>192.168.10.11 - Sonos Playbar</friendlyName>",
             "<friendlyName>%s - %s</friendlyName>" % (self.ip, model)),
            ("192.168.96.57 - Sonos Playbar Media Server", "%s - %s Media Server" % (self.ip, model)),
            ("TV - Sonos Playbar Media Renderer", "%s - %s Media Renderer" % (room, model)),
            ("<roomName>TV</roomName>", "<roomName>%s</roomName>" % room),
            ("<displayName>Playbar</displayName>",
             "<displayName>%s</displayName>" % xml_text(self.display_name)),
            ("Sonos Playbar", model),
            ("94:9F:00:68:00:A9", self.mac),
            ("94-9F-00-68-00-A9", self.mac.replace(":", "-")),
            ("<modelNumber>S9</modelNumber>", "<modelNumber>%s</modelNumber>"
             % xml_text(self.model_number)),
        ]
        for old, new in subs:
            text = text.replace(old, new)
        return text

    # --- SSDP ---------------------------------------------------------------------------------

    def _ssdp_open(self):
        # Bound to the group address (not 0.0.0.0) so unicast datagrams for port 1900 on
        # 127.0.0.1, e.g. answers to a bridge searching from port 1900, never land here.
        # Our own address: answers (and NOTIFYs) leave from it; unicast M-SEARCH arrives on it.
        # It comes first: send_notify and answers use _ssdp_socks[0].
        uc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        uc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        uc.bind((self.ip, SSDP_PORT))
        uc.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.ssdp_if))
        uc.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        self._ssdp_socks = [uc]
        if self.ssdp_multicast:
            mc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            mc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            mc.bind((SSDP_GROUP, SSDP_PORT))
            mreq = struct.pack("4s4s", socket.inet_aton(SSDP_GROUP),
                               socket.inet_aton(self.ssdp_if))
            mc.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            self._ssdp_socks.append(mc)
        if self.ssdp_broadcast:
            # Bound to the broadcast address itself: only broadcasts to it arrive here.
            bc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            bc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            bc.bind((self.ssdp_broadcast, SSDP_PORT))
            self._ssdp_socks.append(bc)

    def _ssdp_headers(self, st, usn):
        headers = [("CACHE-CONTROL", "max-age = 1800"), ("EXT", ""),
                   ("LOCATION", self.location), ("SERVER", self.server_header),
                   ("ST", st), ("USN", usn), ("X-RINCON-HOUSEHOLD", self.household),
                   ("X-RINCON-BOOTSEQ", str(self.bootseq)), ("X-RINCON-WIFIMODE", "0"),
                   ("X-RINCON-VARIANT", "2")]
        if self.proxy:
            headers.append(("X-RINCON-PROXY", "1"))
        return headers

    def ssdp_answers(self, st):
        """The (ST, USN) pairs a player answers an M-SEARCH for st with (pure)."""
        st_l = st.strip().strip('"').strip().lower()
        zp = (ZONEPLAYER_ST, "uuid:%s::%s" % (self.uuid, ZONEPLAYER_ST))
        if st_l == ZONEPLAYER_ST.lower():
            return [zp]
        if st_l == "ssdp:all":
            return [("upnp:rootdevice", "uuid:%s::upnp:rootdevice" % self.uuid), zp]
        if st_l == "upnp:rootdevice":
            return [("upnp:rootdevice", "uuid:%s::upnp:rootdevice" % self.uuid)]
        if st_l == "uuid:%s" % self.uuid.lower():
            return [("uuid:%s" % self.uuid, "uuid:%s" % self.uuid)]
        return []

    def ssdp_response(self, st, usn):
        lines = ["HTTP/1.1 200 OK"] + ["%s: %s" % (n, v) if v else "%s:" % n
                                       for n, v in self._ssdp_headers(st, usn)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_notify(self, nts="ssdp:alive"):
        """Multicast one NOTIFY (alive or byebye) on loopback, from our own address."""
        if not self._ssdp_socks:
            return
        lines = ["NOTIFY * HTTP/1.1", "HOST: %s:%d" % (SSDP_GROUP, SSDP_PORT)]
        for n, v in self._ssdp_headers(ZONEPLAYER_ST, "uuid:%s::%s" % (self.uuid, ZONEPLAYER_ST)):
            if n == "ST":
                n = "NT"
            if n == "EXT":
                continue
            lines.append("%s: %s" % (n, v))
            if n == "NT":
                lines.append("NTS: %s" % nts)
        self._ssdp_socks[0].sendto(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"),
                                   (SSDP_GROUP, SSDP_PORT))

    def _ssdp_loop(self):
        sel = selectors.DefaultSelector()
        for s in self._ssdp_socks:
            sel.register(s, selectors.EVENT_READ)
        try:
            while not self._stop_evt.is_set():
                for key, _ in sel.select(timeout=0.1):
                    try:
                        data, addr = key.fileobj.recvfrom(4096)
                    except OSError:
                        continue
                    self._ssdp_datagram(data, addr)
        except (OSError, ValueError):
            pass  # sockets closed under us by stop()
        finally:
            sel.close()

    def _ssdp_datagram(self, data, addr):
        parsed = parse_ssdp(data)
        if parsed is None or not parsed[0].startswith("M-SEARCH") or not self.answer_search:
            return  # NOTIFYs from others, answers, noise
        answers = self.ssdp_answers(parsed[1].get("ST", ""))
        if not answers:
            return
        try:
            mx = max(0.0, float(parsed[1].get("MX", "1")))
        except ValueError:
            mx = 1.0
        if addr[0].split(".")[0] != "127" and not (
                self.ssdp_if.split(".")[0] != "127" and
                addr[0].rsplit(".", 1)[0] == self.ssdp_if.rsplit(".", 1)[0]):
            return  # never answer off loopback (or off the private test subnet of ssdp_if)
        self._stop_evt.wait(random.uniform(0, min(mx, self.ssdp_reply_delay)))
        for st, usn in answers:
            try:
                self._ssdp_socks[0].sendto(self.ssdp_response(st, usn), addr)
            except (OSError, IndexError):
                return
        self._record({"t": time.time(), "service": "SSDP", "action": "M-SEARCH",
                      "args": {"ST": parsed[1].get("ST", ""), "from": "%s:%d" % addr}})

    # --- GENA events ---------------------------------------------------------------------------

    def subscriptions(self):
        """Copies of the live subscriptions: [{"sid", "service", "callback", "timeout_s",
        "expires" (monotonic), "seq" (next SEQ)}]."""
        with self._lock:
            return [dict(v, sid=k) for k, v in self._subs.items()]

    def gena_forget(self):
        """Forget every subscription, as a rebooted player does: renewals then get 412."""
        with self._lock:
            self._subs = {}

    def _gena_kick(self):
        with self._gena_cv:
            self._gena_dirty = True
            self._gena_cv.notify_all()

    def _topology_kick(self):
        """The household's grouping changed: every player of it looks at its ZoneGroupTopology
        subscribers (the one that holds them sends the event, as real players do)."""
        for s in _running_speakers(self.household):
            s._gena_kick()

    def _sub_record(self, action, service, headers, status, sid, timeout=None):
        rec = {"t": time.time(), "service": service, "action": action, "status": status,
               "renewal": action == "SUBSCRIBE" and bool((headers.get("SID") or "").strip()),
               "args": {"SID": sid or "", "CALLBACK": headers.get("CALLBACK", "") or "",
                        "TIMEOUT": timeout or headers.get("TIMEOUT", "") or ""}}
        self._record(rec)

    def handle_subscribe(self, service, headers):
        """SUBSCRIBE (new or renewal). Returns (HTTP status, extra header pairs)."""
        sid = (headers.get("SID") or "").strip()
        callback = (headers.get("CALLBACK") or "").strip()
        nt = (headers.get("NT") or "").strip()
        m = re.fullmatch(r"\s*Second-(\d{1,9})\s*", headers.get("TIMEOUT") or "")
        timeout = int(m.group(1)) if m else GENA_DEFAULT_TIMEOUT_S
        if self.gena_timeout:
            timeout = min(timeout, int(self.gena_timeout))
        timeout = max(1, timeout)
        if sid and (callback or nt):
            self._sub_record("SUBSCRIBE", service, headers, 400, sid)
            return 400, ()
        with self._lock:
            if sid:
                sub = self._subs.get(sid)
                if sub is None or sub["service"] != service or sub["expires"] < time.monotonic():
                    self._subs.pop(sid, None)
                    status = 412
                else:
                    sub["timeout_s"] = timeout
                    sub["expires"] = time.monotonic() + timeout
                    status = 200
            else:
                urls = re.findall(r"<(http://[^>\s]+)>", callback)
                if nt != "upnp:event" or not urls:
                    status = 412
                else:
                    self._sub_counter += 1
                    sid = "uuid:%s_sub%010d" % (self.uuid, self._sub_counter)
                    self._subs[sid] = {"service": service, "callback": urls[0],
                                       "timeout_s": timeout,
                                       "expires": time.monotonic() + timeout, "seq": 0,
                                       "sent": None}
                    status = 200
        granted = "Second-%d" % timeout
        self._sub_record("SUBSCRIBE", service, headers, status, sid,
                         granted if status == 200 else None)
        if status != 200:
            return status, ()
        return 200, (("SID", sid), ("TIMEOUT", granted))

    def handle_unsubscribe(self, service, headers):
        sid = (headers.get("SID") or "").strip()
        with self._lock:
            sub = self._subs.get(sid)
            if sub is not None and sub["service"] == service:
                del self._subs[sid]
                status = 200
            else:
                status = 412
        self._sub_record("UNSUBSCRIBE", service, headers, status, sid)
        return status, ()

    def _rc_variables(self):
        """RenderingControl state variables as (name, attrs) in the order players send them."""
        with self._lock:
            vol, mute, fixed = self._volume, self._mute, self.output_fixed
        return [("Volume", (("channel", "Master"), ("val", vol))),
                ("Volume", (("channel", "LF"), ("val", 100))),
                ("Volume", (("channel", "RF"), ("val", 100))),
                ("Mute", (("channel", "Master"), ("val", mute))),
                ("Mute", (("channel", "LF"), ("val", 0))),
                ("Mute", (("channel", "RF"), ("val", 0))),
                ("Bass", (("val", 0),)), ("Treble", (("val", 0),)),
                ("Loudness", (("channel", "Master"), ("val", 1))),
                ("OutputFixed", (("val", 1 if fixed else 0),)),
                ("HeadphoneConnected", (("val", 0),)), ("SpeakerSize", (("val", 3),)),
                ("SubGain", (("val", 0),)), ("SubCrossover", (("val", 0),)),
                ("SubPolarity", (("val", 0),)), ("SubEnabled", (("val", 1),)),
                ("PresetNameList", (("val", "FactoryDefaults"),))]

    def _av_variables(self):
        """AVTransport state variables, all of them (players send the full set each time).
        Called without our lock held: a member asks its coordinator for the transport."""
        args = {"InstanceID": "0"}
        transport = dict(self._a_AVTransport_GetTransportInfo(args))["CurrentTransportState"]
        media = dict(self._a_AVTransport_GetMediaInfo(args))
        pos = dict(self._a_AVTransport_GetPositionInfo(args))
        with self._lock:
            mode, uri = self._play_mode, self._uri
        if uri.startswith(NO_PAUSE_PREFIXES):
            actions = "Set, Play, Stop"
        elif uri.startswith("x-rincon-queue:"):
            actions = "Set, Play, Stop, Pause, Seek, Next, Previous"
        else:
            actions = "Set, Play, Stop, Pause"
        v = lambda x: (("val", x),)  # noqa: E731
        return [("TransportState", v(transport)), ("CurrentPlayMode", v(mode)),
                ("CurrentCrossfadeMode", v(0)), ("NumberOfTracks", v(media["NrTracks"])),
                ("CurrentTrack", v(pos["Track"])), ("CurrentSection", v(0)),
                ("CurrentTrackURI", v(pos["TrackURI"])),
                ("CurrentTrackDuration", v(pos["TrackDuration"])),
                ("CurrentTrackMetaData", v(pos["TrackMetaData"])),
                ("r:NextTrackURI", v("")), ("r:NextTrackMetaData", v("")),
                ("r:EnqueuedTransportURI", v(media["CurrentURI"])),
                ("r:EnqueuedTransportURIMetaData", v(media["CurrentURIMetaData"])),
                ("PlaybackStorageMedium", v("NETWORK")),
                ("AVTransportURI", v(media["CurrentURI"])),
                ("AVTransportURIMetaData", v(media["CurrentURIMetaData"])),
                ("NextAVTransportURI", v("")), ("NextAVTransportURIMetaData", v("")),
                ("CurrentTransportActions", v(actions)),
                ("r:CurrentValidPlayModes", v("SHUFFLE,REPEAT,REPEATONE,CROSSFADE")),
                ("TransportStatus", v("OK")), ("r:SleepTimerGeneration", v(0)),
                ("r:AlarmRunning", v(0)), ("r:SnoozeRunning", v(0)),
                ("r:RestartPending", v(0)), ("TransportPlaySpeed", v("NOT_IMPLEMENTED")),
                ("CurrentMediaDuration", v("NOT_IMPLEMENTED")),
                ("RecordStorageMedium", v("NOT_IMPLEMENTED")),
                ("PossiblePlaybackStorageMedia", v("NONE, NETWORK")),
                ("PossibleRecordStorageMedia", v("NOT_IMPLEMENTED")),
                ("RecordMediumWriteStatus", v("NOT_IMPLEMENTED")),
                ("CurrentRecordQualityMode", v("NOT_IMPLEMENTED")),
                ("PossibleRecordQualityModes", v("NOT_IMPLEMENTED"))]

    def _zgt_variables(self):
        """ZoneGroupTopology state variables as (name, text), in the order of the captured
        event (tests/captures/node-sonos-discovery/zonegroupstate.xml): the ZoneGroupState
        document (the captured one when this speaker replays a household), then this
        player's group."""
        zgs = self.topology if self.topology is not None else self.zone_group_state()
        coord = self.coordinator
        head = _speaker_by_uuid(coord, self.household) or self
        members = [s.uuid for s in _running_speakers(self.household) if s.coordinator == coord]
        return [("ZoneGroupState", zgs),
                ("AlarmRunSequence", "%s:%d:0" % (self.uuid, self.bootseq)),
                ("ZoneGroupName", head.room),
                ("ZoneGroupID", "%s:%d" % (coord, head._group_seq)),
                ("ZonePlayerUUIDsInGroup", ",".join(members))]

    @staticmethod
    def propertyset_body(variables):
        """A NOTIFY body of plain evented variables (ZoneGroupTopology): one e:property per
        variable, its value as element text (an XML document in it escaped once)."""
        props = "".join("<e:property><%s>%s</%s></e:property>" % (name, xml_text(value), name)
                        for name, value in variables)
        return '<e:propertyset xmlns:e="%s">%s</e:propertyset>' % (EVENT_NS, props)

    @staticmethod
    def lastchange_body(service, variables):
        """The NOTIFY body players send: an e:propertyset whose LastChange holds the Event
        document escaped once more (values inside it are attribute-escaped)."""
        ns = {"AVTransport": ' xmlns="urn:schemas-upnp-org:metadata-1-0/AVT/" '
                             'xmlns:r="urn:schemas-rinconnetworks-com:metadata-1-0/"',
              "RenderingControl": ' xmlns="urn:schemas-upnp-org:metadata-1-0/RCS/"'}[service]
        inner = "".join("<%s %s/>" % (name, " ".join('%s="%s"' % (k, xml_attr(val))
                                                      for k, val in attrs))
                        for name, attrs in variables)
        event = '<Event%s><InstanceID val="0">%s</InstanceID></Event>' % (ns, inner)
        return ('<e:propertyset xmlns:e="%s"><e:property><LastChange>%s</LastChange>'
                '</e:property></e:propertyset>' % (EVENT_NS, xml_text(event)))

    def _send_event(self, sid, sub, service, variables):
        """One NOTIFY to a subscriber's callback (loopback only), recorded."""
        with self._lock:
            if self._subs.get(sid) is not sub:
                return  # unsubscribed or forgotten meanwhile
            seq = sub["seq"]
            sub["seq"] = seq + 1 if seq < 0xFFFFFFFF else 1
        if service == "ZoneGroupTopology":
            body = self.propertyset_body(variables).encode("utf-8")
        else:
            body = self.lastchange_body(service, variables).encode("utf-8")
        rec = {"t": time.time(), "service": service, "action": "NOTIFY",
               "args": {"SID": sid, "SEQ": str(seq), "callback": sub["callback"]},
               "bytes": len(body), "status": None, "dropped": bool(self.gena_drop_notify),
               "variables": sorted(set(name for name, _ in variables))}
        parts = urllib.parse.urlsplit(sub["callback"])
        if self.gena_drop_notify:
            rec["error"] = "dropped by the test (callback unreachable)"
        elif not self.allow_nonlocal_fetch and not _loopback_host(parts.hostname):
            rec["error"] = "refused: %r is not a loopback host" % (parts.hostname,)
        else:
            import http.client
            # From our own address, as players do (the bridge takes events from nowhere else).
            src = (self.ip, 0) if _loopback_host(self.ip) and _loopback_host(parts.hostname) \
                else None
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                              timeout=GENA_NOTIFY_TIMEOUT_S, source_address=src)
            try:
                conn.putrequest("NOTIFY", parts.path or "/", skip_host=True,
                                skip_accept_encoding=True)
                for name, value in (("HOST", parts.netloc),
                                    ("CONTENT-TYPE", 'text/xml; charset="utf-8"'),
                                    ("NT", "upnp:event"), ("NTS", "upnp:propchange"),
                                    ("SID", sid), ("SEQ", str(seq)),
                                    ("CONTENT-LENGTH", str(len(body)))):
                    conn.putheader(name, value)
                conn.endheaders(body)
                resp = conn.getresponse()
                resp.read()
                rec["status"] = resp.status
            except (OSError, http.client.HTTPException) as e:
                rec["error"] = "%s: %s" % (type(e).__name__, e)
            finally:
                conn.close()
        self._record(rec)

    def _gena_loop(self):
        """Send events: the full set right after each SUBSCRIBE (SEQ 0), then what changed
        (AVTransport: the full set again, as players do; RenderingControl and
        ZoneGroupTopology: the changed variables). Expired subscriptions are dropped here."""
        while not self._stop_evt.is_set():
            with self._gena_cv:
                if not self._gena_dirty:
                    self._gena_cv.wait(0.2)
                self._gena_dirty = False
            if self._stop_evt.is_set():
                return
            now = time.monotonic()
            with self._lock:
                for sid in [k for k, v in self._subs.items() if v["expires"] < now]:
                    del self._subs[sid]
                subs = list(self._subs.items())
            if not subs:
                continue
            current = {}
            for service in set(v["service"] for _, v in subs):
                try:
                    current[service] = (
                        self._av_variables() if service == "AVTransport"
                        else self._zgt_variables() if service == "ZoneGroupTopology"
                        else self._rc_variables())
                except Exception as e:  # never let a state read kill the notifier
                    sys.stderr.write("speaker %s: GENA state: %s\n" % (self.room, e))
            for sid, sub in subs:
                variables = current.get(sub["service"])
                if variables is None or variables == sub["sent"]:
                    continue
                send = variables
                if sub["sent"] is not None and sub["service"] != "AVTransport":
                    send = [x for x in variables if x not in sub["sent"]]
                sub["sent"] = variables
                self._send_event(sid, sub, sub["service"], send)

    # --- records ------------------------------------------------------------------------------

    def _record(self, rec):
        with self._lock:
            self._records.append(rec)
            self._changed.notify_all()
        for obs in list(self.observers):
            try:
                obs(self, "action" if rec.get("action") != "fetch" else "fetch", rec)
            except Exception:
                pass

    def _set_state(self, state):
        # caller holds the lock
        if self._states and self._states[-1]["state"] == state and \
                self._states[-1]["uri"] == self._uri:
            self._state = state
            return
        self._state = state
        entry = {"t": time.time(), "state": state, "uri": self._uri}
        self._states.append(entry)
        self._changed.notify_all()
        self._gena_kick()
        for obs in list(self.observers):
            try:
                obs(self, "state", dict(entry))
            except Exception:
                pass

    # --- SOAP dispatch ------------------------------------------------------------------------

    def handle_soap(self, service, soapaction, body):
        """One control request: returns (HTTP status, body text). Records it."""
        rec = {"t": time.time(), "service": service, "action": None, "args": {}}
        sa = soapaction.strip().strip('"').strip()
        urn, _, action = sa.partition("#")
        rec["action"] = action or "?"
        try:
            if not action or urn != SERVICE_URN % service:
                raise UPnPFault(401, "SOAPACTION %r does not name a %s action" % (sa, service))
            try:
                ns, body_action, args = parse_soap_request(body)
            except (ValueError, ET.ParseError) as e:
                raise UPnPFault(402, "malformed SOAP body: %s" % e)
            rec["args"] = args
            if body_action != action or ns != urn:
                raise UPnPFault(401, "body action %s:%s does not match SOAPACTION"
                                % (ns, body_action))
            handler = getattr(self, "_a_%s_%s" % (service, action), None)
            if handler is None:
                raise UPnPFault(401, "no action %s on %s" % (action, service))
            with self._lock:
                delay = self._delays.get(action)
                late = self._late.get(action)
                fault = self._faults.get(action)
                if fault is not None:
                    if fault[1] is not None:
                        fault[1] -= 1
                        if fault[1] <= 0:
                            del self._faults[action]
            if delay:
                self._stop_evt.wait(delay)
            if fault is not None:
                raise UPnPFault(fault[0], "injected by the test")
            outputs = handler(args)
            self._record(rec)
            self._gena_kick()
            if action in GROUPING_ACTIONS:
                self._topology_kick()
            if late:
                self._stop_evt.wait(late)
            return 200, soap_response(service, action, outputs)
        except UPnPFault as f:
            rec["fault"] = f.code
            rec["error"] = f.reason
            self._record(rec)
            return 500, soap_fault(f.code)

    # argument helpers

    @staticmethod
    def _arg(args, name):
        if name not in args:
            raise UPnPFault(402, "missing argument %s" % name)
        return args[name]

    def _instance(self, args, code):
        if self._arg(args, "InstanceID").strip() != "0":
            raise UPnPFault(code, "InstanceID %r" % args["InstanceID"])

    def _channel(self, args):
        ch = self._arg(args, "Channel")
        if ch not in ("Master", "LF", "RF"):
            raise UPnPFault(402, "Channel %r" % ch)

    @staticmethod
    def _int_arg(args, name, lo, hi):
        text = Speaker._arg(args, name).strip()
        if not re.fullmatch(r"[+-]?\d{1,6}", text) or not lo <= int(text) <= hi:
            raise UPnPFault(402, "%s %r out of range" % (name, text))
        return int(text)

    @staticmethod
    def _bool_arg(args, name):
        text = Speaker._arg(args, name).strip().lower()
        if text in ("1", "true", "yes"):
            return 1
        if text in ("0", "false", "no"):
            return 0
        raise UPnPFault(402, "%s %r is not a boolean" % (name, text))

    # transport internals (caller holds the lock)

    def _is_member(self):
        return self._coordinator is not None

    def _coordinator_speaker(self):
        if self._coordinator is None:
            return self
        return _speaker_by_uuid(self._coordinator, self.household) or self

    def _member_check(self):
        if self._is_member():
            raise UPnPFault(800, "not the group coordinator")

    def _position(self):
        pos = self._pos
        if self._state == "PLAYING" and self._started is not None:
            pos += time.monotonic() - self._started
        dur = self._track_duration()
        if dur:
            pos = min(pos, dur)
        return pos

    def _track_duration(self):
        if self._uri.startswith("x-rincon-queue:"):
            return QUEUE_TRACK_SECONDS
        return self._clip_duration

    def _cancel_timer(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _freeze_position(self):
        self._pos = self._position()
        self._started = None

    def _become_standalone(self):
        self._coordinator = None
        if self._uri.startswith("x-rincon:"):
            self._uri, self._metadata = "", ""
        self._group_seq += 1
        self._changed.notify_all()

    def _start_playing(self, remaining):
        """Go PLAYING now; when remaining is set, go STOPPED after it (end of clip)."""
        self._cancel_timer()
        self._gen += 1
        self._started = time.monotonic()
        self._set_state("PLAYING")
        if remaining is not None:
            gen = self._gen
            self._timer = threading.Timer(max(0.0, remaining), self._clip_ended, (gen,))
            self._timer.daemon = True
            self._timer.start()

    def _clip_ended(self, gen):
        with self._lock:
            if gen != self._gen or self._state != "PLAYING":
                return
            self._timer = None
            self._gen += 1
            self._pos, self._started = 0.0, None
            self._set_state("STOPPED")

    def _fetch_and_play(self, gen, url):
        with self._lock:
            delay, gate = self._fetch_delay, self._fetch_gate
        if delay:
            self._stop_evt.wait(delay)
        if gate is not None:
            gate.wait(60)
        rec = fetch_audio(url, self.allow_nonlocal_fetch, self.server_header, source=self.ip)
        self._record(rec)
        with self._lock:
            if gen != self._gen or self._state != "TRANSITIONING":
                return  # superseded by Stop/Pause/SetAVTransportURI meanwhile
            if rec["valid"] and self._stall_after_fetch:
                return
            if rec["valid"]:
                self._clip_duration = rec["duration_s"]
                self._pos = 0.0
                self._start_playing(rec["duration_s"])
            else:
                self.last_error = rec["error"]
                self._gen += 1
                self._pos, self._started = 0.0, None
                self._set_state("STOPPED")

    # --- AVTransport --------------------------------------------------------------------------

    def _a_AVTransport_SetAVTransportURI(self, args):
        self._instance(args, 718)
        uri = self._arg(args, "CurrentURI")
        meta = self._arg(args, "CurrentURIMetaData")
        if meta.strip():
            try:
                safe_xml(meta)
            except (ValueError, ET.ParseError) as e:
                raise UPnPFault(402, "CurrentURIMetaData is not well-formed XML: %s" % e)
        if uri.startswith(CLOUD_PREFIXES):
            raise UPnPFault(714, "illegal MIME type for %s" % uri)
        target = None
        if uri.startswith("x-rincon:"):
            target = _speaker_by_uuid(uri[len("x-rincon:"):], self.household)
            if target is None or target is self:
                raise UPnPFault(800, "cannot join %s" % uri)
        with self._lock:
            self._cancel_timer()
            self._gen += 1
            if target is not None:
                coordinator = target._coordinator or target.uuid
                for s in _running_speakers(self.household):
                    if s is not self and s._coordinator == self.uuid:
                        s._coordinator = coordinator  # our members follow us
                self._coordinator = coordinator
            elif self._coordinator is not None:
                self._become_standalone()
            self._uri, self._metadata = uri, meta
            self._track, self._pos, self._started = 1, 0.0, None
            self._clip_duration = None
            if not uri.startswith("x-rincon-queue:"):
                # Shuffle and repeat belong to the queue: a player on anything else reports
                # NORMAL, and going back to the queue does not bring them back.
                self._play_mode = "NORMAL"
            self._set_state("STOPPED")
        return []

    def _a_AVTransport_Play(self, args):
        self._instance(args, 718)
        if self._arg(args, "Speed").strip() != "1":
            raise UPnPFault(402, "Speed %r" % args["Speed"])
        with self._lock:
            self._member_check()
            if not self._uri:
                raise UPnPFault(701, "no media")
            if self._state in ("PLAYING", "TRANSITIONING"):
                return []
            http = self._uri.lower().startswith(("http://", "https://"))
            if http and self._state == "PAUSED_PLAYBACK" and self._clip_duration is not None:
                self._start_playing(self._clip_duration - self._pos)
            elif http:
                self._cancel_timer()
                self._gen += 1
                self._set_state("TRANSITIONING")
                threading.Thread(target=self._fetch_and_play, args=(self._gen, self._uri),
                                 name="speaker-fetch-%s" % self.ip, daemon=True).start()
            else:
                self._start_playing(None)
        return []

    def _a_AVTransport_Pause(self, args):
        self._instance(args, 718)
        with self._lock:
            self._member_check()
            if self._uri.startswith(NO_PAUSE_PREFIXES):
                raise UPnPFault(701, "cannot pause %s" % self._uri)
            if self._state not in ("PLAYING", "TRANSITIONING"):
                raise UPnPFault(701, "not playing")
            self._freeze_position()
            self._cancel_timer()
            self._gen += 1
            self._set_state("PAUSED_PLAYBACK")
        return []

    def _a_AVTransport_Stop(self, args):
        self._instance(args, 718)
        with self._lock:
            self._member_check()
            self._cancel_timer()
            self._gen += 1
            self._pos, self._started = 0.0, None
            self._set_state("STOPPED")
        return []

    def _a_AVTransport_Seek(self, args):
        self._instance(args, 718)
        unit = self._arg(args, "Unit")
        target = self._arg(args, "Target")
        with self._lock:
            self._member_check()
            if not self._uri or self._uri.startswith(STREAM_PREFIXES):
                raise UPnPFault(701, "nothing to seek in %r" % self._uri)
            if unit == "TRACK_NR":
                if not self._uri.startswith("x-rincon-queue:"):
                    raise UPnPFault(701, "TRACK_NR seek outside a queue")
                if not re.fullmatch(r"\d{1,6}", target.strip()):
                    raise UPnPFault(402, "Target %r" % target)
                n = int(target)
                if not 1 <= n <= self._queue_size:
                    raise UPnPFault(711, "track %d of %d" % (n, self._queue_size))
                self._track, self._pos = n, 0.0
            elif unit in ("REL_TIME", "TIME_DELTA"):
                try:
                    secs = parse_hms(target.lstrip("+-"))
                except ValueError:
                    raise UPnPFault(402, "Target %r" % target)
                if unit == "TIME_DELTA":
                    secs = self._position() + (-secs if target.strip().startswith("-") else secs)
                dur = self._track_duration()
                if secs < 0 or (dur is not None and secs > dur):
                    raise UPnPFault(711, "position %s beyond the track" % target)
                self._pos = float(secs)
            else:
                raise UPnPFault(402, "Unit %r" % unit)
            if self._state == "PLAYING":
                self._started = time.monotonic()
                if self._clip_duration is not None and not self._uri.startswith("x-rincon-queue:"):
                    self._start_playing(self._clip_duration - self._pos)
            self._changed.notify_all()
        return []

    def _skip(self, step):
        self._member_check()
        if not self._uri.startswith("x-rincon-queue:"):
            raise UPnPFault(701, "no queue to skip in")
        n = self._track + step
        if not 1 <= n <= self._queue_size:
            raise UPnPFault(711, "no track %d (queue has %d)" % (n, self._queue_size))
        self._track, self._pos = n, 0.0
        if self._state == "PLAYING":
            self._started = time.monotonic()
        self._changed.notify_all()

    def _a_AVTransport_Next(self, args):
        self._instance(args, 718)
        with self._lock:
            self._skip(1)
        return []

    def _a_AVTransport_Previous(self, args):
        self._instance(args, 718)
        with self._lock:
            self._skip(-1)
        return []

    def _a_AVTransport_GetTransportInfo(self, args):
        self._instance(args, 718)
        with self._lock:
            coord = self._coordinator_speaker()
        state = coord.transport_state
        return [("CurrentTransportState", state), ("CurrentTransportStatus", "OK"),
                ("CurrentSpeed", "1")]

    def _a_AVTransport_GetMediaInfo(self, args):
        self._instance(args, 718)
        with self._lock:
            if self._uri.startswith("x-rincon-queue:"):
                tracks = self._queue_size
            else:
                tracks = 1 if self._uri else 0
            return [("NrTracks", str(tracks)), ("MediaDuration", "NOT_IMPLEMENTED"),
                    ("CurrentURI", self._uri), ("CurrentURIMetaData", self._metadata),
                    ("NextURI", ""), ("NextURIMetaData", ""), ("PlayMedium", "NETWORK"),
                    ("RecordMedium", "NOT_IMPLEMENTED"), ("WriteStatus", "NOT_IMPLEMENTED")]

    def _a_AVTransport_GetPositionInfo(self, args):
        self._instance(args, 718)
        with self._lock:
            coord = self._coordinator_speaker()
        if coord is not self:
            return coord._a_AVTransport_GetPositionInfo(args)
        with self._lock:
            pos = self._position()
            if not self._uri:
                track, dur, meta, turi = 0, "0:00:00", "", ""
            elif self._uri.startswith("x-rincon-queue:"):
                track, dur = self._track, fmt_hms(QUEUE_TRACK_SECONDS)
                turi = "x-file-cifs://nas/music/track%02d.mp3" % self._track
                meta = ('<DIDL-Lite xmlns:dc="http://purl.org/dc/elements/1.1/" '
                        'xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/" '
                        'xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/">'
                        '<item id="-1" parentID="-1" restricted="true"><dc:title>Track %d'
                        '</dc:title><upnp:class>object.item.audioItem.musicTrack</upnp:class>'
                        '</item></DIDL-Lite>' % self._track)
            else:
                track, meta, turi = 1, self._metadata, self._uri
                dur = fmt_hms(self._clip_duration or 0)
            return [("Track", str(track)), ("TrackDuration", dur), ("TrackMetaData", meta),
                    ("TrackURI", turi), ("RelTime", fmt_hms(pos)), ("AbsTime", "NOT_IMPLEMENTED"),
                    ("RelCount", "2147483647"), ("AbsCount", "2147483647")]

    def _a_AVTransport_GetTransportSettings(self, args):
        self._instance(args, 718)
        with self._lock:
            return [("PlayMode", self._play_mode), ("RecQualityMode", "NOT_IMPLEMENTED")]

    def _a_AVTransport_SetPlayMode(self, args):
        self._instance(args, 718)
        mode = self._arg(args, "NewPlayMode")
        if mode not in PLAY_MODES:
            raise UPnPFault(712, "play mode %r" % mode)
        with self._lock:
            self._member_check()
            self._play_mode = mode
            self._changed.notify_all()
        return []

    def _a_AVTransport_BecomeCoordinatorOfStandaloneGroup(self, args):
        self._instance(args, 718)
        with self._lock:
            self._become_standalone()
            if not self._uri:
                self._set_state("STOPPED")
            return [("DelegatedGroupCoordinatorID", ""),
                    ("NewGroupID", "%s:%d" % (self.uuid, self._group_seq))]

    # --- RenderingControl ---------------------------------------------------------------------

    def _a_RenderingControl_GetVolume(self, args):
        self._instance(args, 702)
        self._channel(args)
        return [("CurrentVolume", str(self.volume))]

    def _a_RenderingControl_SetVolume(self, args):
        self._instance(args, 702)
        self._channel(args)
        vol = self._int_arg(args, "DesiredVolume", 0, 100)
        if self.output_fixed:
            raise UPnPFault(501, "output is fixed")
        self.set_volume(volume=vol)
        return []

    def _a_RenderingControl_SetRelativeVolume(self, args):
        self._instance(args, 702)
        self._channel(args)
        adj = self._int_arg(args, "Adjustment", -100, 100)
        if self.output_fixed:
            raise UPnPFault(501, "output is fixed")
        with self._lock:
            self._volume = max(0, min(100, self._volume + adj))
            self._changed.notify_all()
            return [("NewVolume", str(self._volume))]

    def _a_RenderingControl_GetMute(self, args):
        self._instance(args, 702)
        self._channel(args)
        return [("CurrentMute", str(self.mute))]

    def _a_RenderingControl_SetMute(self, args):
        self._instance(args, 702)
        self._channel(args)
        self.set_volume(mute=self._bool_arg(args, "DesiredMute"))
        return []

    def _a_RenderingControl_GetOutputFixed(self, args):
        self._instance(args, 702)
        return [("CurrentFixed", "1" if self.output_fixed else "0")]

    # --- GroupRenderingControl (coordinator only) ---------------------------------------------

    def _group_members(self):
        with self._lock:
            if self._is_member():
                raise UPnPFault(701, "not the group coordinator")
        return [s for s in _running_speakers(self.household) if s.coordinator == self.uuid] or [self]

    def _a_GroupRenderingControl_GetGroupVolume(self, args):
        self._instance(args, 702)
        members = self._group_members()
        return [("CurrentVolume", str(sum(m.volume for m in members) // len(members)))]

    def _a_GroupRenderingControl_SetGroupVolume(self, args):
        self._instance(args, 702)
        vol = self._int_arg(args, "DesiredVolume", 0, 100)
        for m in self._group_members():
            if not m.output_fixed:
                m.set_volume(volume=vol)
        return []

    def _a_GroupRenderingControl_GetGroupMute(self, args):
        self._instance(args, 702)
        members = self._group_members()
        return [("CurrentMute", "1" if all(m.mute for m in members) else "0")]

    def _a_GroupRenderingControl_SetGroupMute(self, args):
        self._instance(args, 702)
        mute = self._bool_arg(args, "DesiredMute")
        for m in self._group_members():
            m.set_volume(mute=mute)
        return []

    def _a_GroupRenderingControl_SnapshotGroupVolume(self, args):
        self._instance(args, 702)
        self._group_members()
        return []

    # --- ZoneGroupTopology / DeviceProperties -------------------------------------------------

    def zone_group_state(self):
        """The inner ZoneGroupState document for this process's speakers (real attribute set)."""
        speakers = _running_speakers(self.household)
        groups = {}
        for s in speakers:
            groups.setdefault(s.coordinator, []).append(s)
        out = ["<ZoneGroupState><ZoneGroups>"]
        for coord_uuid, members in groups.items():
            coord = next((m for m in members if m.uuid == coord_uuid), members[0])
            members.sort(key=lambda m: m is not coord)
            out.append('<ZoneGroup Coordinator="%s" ID="%s:%d">'
                       % (xml_attr(coord_uuid), xml_attr(coord_uuid), coord._group_seq))
            for m in members:
                out.append(m._zone_group_member())
            out.append("</ZoneGroup>")
        out.append("</ZoneGroups><VanishedDevices></VanishedDevices></ZoneGroupState>")
        return "".join(out)

    def _zone_group_member(self):
        attrs = [("UUID", self.uuid), ("Location", self.location), ("ZoneName", self.room),
                 ("Icon", "x-rincon-roomicon:living"), ("Configuration", "1"),
                 ("SoftwareVersion", SOFTWARE_VERSION), ("SWGen", "1"),
                 ("MinCompatibleVersion", "56.0-00000"), ("LegacyCompatibleVersion", "36.0-00000"),
                 ("BootSeq", str(self.bootseq)), ("TVConfigurationError", "0"),
                 ("HdmiCecAvailable", "0"), ("WirelessMode", "0"), ("WirelessLeafOnly", "0"),
                 ("HasConfiguredSSID", "0"), ("ChannelFreq", "2412"), ("BehindWifiExtender", "0"),
                 ("WifiEnabled", "1"), ("Orientation", "0"), ("RoomCalibrationState", "4"),
                 ("SecureRegState", "3"), ("VoiceConfigState", "0"), ("MicEnabled", "0"),
                 ("AirPlayEnabled", "0"), ("IdleState", "1"), ("MoreInfo", "")]
        return "<ZoneGroupMember %s/>" % " ".join('%s="%s"' % (n, xml_attr(v)) for n, v in attrs)

    def _a_ZoneGroupTopology_GetZoneGroupState(self, args):
        if self.topology is not None:
            return [("ZoneGroupState", self.topology)]
        return [("ZoneGroupState", self.zone_group_state())]

    def _a_ZoneGroupTopology_GetZoneGroupAttributes(self, args):
        coord = self.coordinator
        members = [s.uuid for s in _running_speakers(self.household) if s.coordinator == coord]
        head = _speaker_by_uuid(coord, self.household) or self
        return [("CurrentZoneGroupName", head.room),
                ("CurrentZoneGroupID", "%s:%d" % (coord, head._group_seq)),
                ("CurrentZonePlayerUUIDsInGroup", ",".join(members)),
                ("CurrentMuseHouseholdId", self.household + ".test")]

    def _a_DeviceProperties_GetZoneAttributes(self, args):
        return [("CurrentZoneName", self.room), ("CurrentIcon", "x-rincon-roomicon:living"),
                ("CurrentConfiguration", "1"), ("CurrentTargetRoomName", self.room)]

    def _a_DeviceProperties_GetHouseholdID(self, args):
        return [("CurrentHouseholdID", self.household)]

    def _a_DeviceProperties_GetZoneInfo(self, args):
        return [("SerialNumber", self.mac.replace(":", "-") + ":D"),
                ("SoftwareVersion", SOFTWARE_VERSION), ("DisplaySoftwareVersion", "11.2.4"),
                ("HardwareVersion", "1.9.1.10-2.2"), ("IPAddress", self.ip),
                ("MACAddress", self.mac), ("CopyrightInfo", "(c) test"), ("ExtraInfo", ""),
                ("HTAudioIn", "0"), ("Flags", "0")]


# ---------------------------------------------------------------------------------------------
# Fetching a clip

def _loopback_host(host):
    if host == "localhost":
        return True
    return bool(re.fullmatch(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}", host or ""))


class _SourceHTTPHandler(urllib.request.HTTPHandler):
    """http:// from a given local address (a speaker fetches from its own)."""

    def __init__(self, source):
        super().__init__()
        self._source = (source, 0)

    def http_open(self, req):
        import http.client

        def connection(host, **kw):
            return http.client.HTTPConnection(host, source_address=self._source, **kw)
        return self.do_open(connection, req)


def fetch_audio(url, allow_nonlocal=False, user_agent="Linux UPnP/1.0 Sonos", source=None):
    """GET url (bounded in time and size) and validate the body, from the local address source
    when it and the url's host are loopback addresses. Returns a fetch record."""
    rec = {"t": time.time(), "action": "fetch", "url": url, "http_status": None,
           "content_type": None, "bytes": 0, "valid": False, "duration_s": None, "error": None}
    parts = urllib.parse.urlsplit(url)
    if not allow_nonlocal and not _loopback_host(parts.hostname):
        rec["error"] = "refused: %r is not a loopback host (tests stay on 127.0.0.0/8)" % (
            parts.hostname,)
        return rec
    handlers = [urllib.request.ProxyHandler({})]
    if source and _loopback_host(source) and _loopback_host(parts.hostname):
        handlers.append(_SourceHTTPHandler(source))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers={"User-Agent": user_agent})
    deadline = time.monotonic() + FETCH_TIMEOUT_S
    try:
        with opener.open(req, timeout=FETCH_TIMEOUT_S) as resp:
            rec["http_status"] = resp.status
            ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            rec["content_type"] = ctype
            chunks, total = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError("fetch took longer than %.0f s" % FETCH_TIMEOUT_S)
                chunk = resp.read(65536)
                if not chunk:
                    break
                total += len(chunk)
                if total > FETCH_MAX_BYTES:
                    raise ValueError("body larger than %d bytes" % FETCH_MAX_BYTES)
                chunks.append(chunk)
            data = b"".join(chunks)
    except urllib.error.HTTPError as e:
        rec["http_status"] = e.code
        rec["error"] = "HTTP %d" % e.code
        return rec
    except Exception as e:  # URLError, timeouts, resets, size
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        return rec
    rec["bytes"] = len(data)
    try:
        facts = check_audio(rec["content_type"], data)
    except ValueError as e:
        rec["error"] = str(e)
        return rec
    rec.update(facts)
    rec["valid"] = True
    return rec


# ---------------------------------------------------------------------------------------------
# CLI

def describe(speaker, kind, rec):
    """One readable line for a record or state change."""
    stamp = time.strftime("%H:%M:%S", time.localtime(rec["t"])) + ".%03d" % (
        int(rec["t"] * 1000) % 1000)
    who = "%-12s" % speaker.room
    if kind == "state":
        return "%s %s state %s" % (stamp, who, rec["state"])
    if kind == "fetch":
        size = "%d KB" % ((rec.get("bytes") or 0) // 1024) if rec.get("bytes", 0) >= 1024 \
            else "%d B" % (rec.get("bytes") or 0)
        if rec.get("valid"):
            verdict = "valid %s %.2f s" % (rec.get("format"), rec["duration_s"])
            if rec.get("warning"):
                verdict += " (%s)" % rec["warning"]
        else:
            verdict = "INVALID: %s" % rec.get("error")
        return "%s %s fetched %s %s %s, %s" % (stamp, who, rec["url"], rec.get("content_type"),
                                              size, verdict)
    args = []
    for k, v in sorted(rec.get("args", {}).items()):
        if k == "InstanceID":
            continue
        v = v if len(v) <= 60 else v[:57] + "..."
        args.append("%s=%s" % (k, v))
    line = "%s %s %s.%s %s" % (stamp, who, rec.get("service"), rec.get("action"), " ".join(args))
    if rec.get("fault"):
        line += "  -> fault %d (%s)" % (rec["fault"], rec.get("error"))
    return line.rstrip()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run emulated Sonos players on loopback addresses.")
    ap.add_argument("--speaker", action="append", required=True, metavar="IP:ROOM",
                    help="a player, e.g. 127.0.0.2:Kitchen (repeat for more)")
    ap.add_argument("--no-ssdp", action="store_true", help="do not answer SSDP (manual IPs)")
    ap.add_argument("--model", default="Sonos Play:1")
    ap.add_argument("--volume", type=int, default=20)
    ap.add_argument("--port", type=int, default=SONOS_PORT)
    ap.add_argument("--uuid", help="UUID of the (single) speaker, e.g. to move one across runs")
    ap.add_argument("--household", default="Sonos_test_household")
    ap.add_argument("--ssdp-if", default=SSDP_IF,
                    help="interface address for SSDP (a private test network only)")
    ap.add_argument("--no-multicast", action="store_true",
                    help="stay out of the SSDP group: M-SEARCH to it goes unheard")
    ap.add_argument("--ssdp-broadcast", metavar="ADDR",
                    help="hear M-SEARCH sent to this broadcast address, e.g. 10.77.1.255")
    ap.add_argument("--no-notify", action="store_true", help="send no alive or byebye")
    ap.add_argument("--no-search-answers", action="store_true",
                    help="never answer M-SEARCH: found only by the NOTIFYs sent on start")
    ap.add_argument("--allow-nonlocal-fetch", action="store_true",
                    help="fetch clips from non-loopback hosts (a private test network only)")
    opts = ap.parse_args(argv)

    out_lock = threading.Lock()

    def observer(sp, kind, rec):
        with out_lock:
            sys.stdout.write(describe(sp, kind, rec) + "\n")
            sys.stdout.flush()

    speakers = []
    for spec in opts.speaker:
        ip, sep, room = spec.partition(":")
        if not sep or not room:
            ap.error("--speaker wants IP:ROOM, got %r" % spec)
        sp = Speaker(ip, room, model=opts.model, ssdp=not opts.no_ssdp, volume=opts.volume,
                     port=opts.port, uuid=opts.uuid if len(opts.speaker) == 1 else None,
                     household=opts.household, ssdp_if=opts.ssdp_if,
                     allow_nonlocal_fetch=opts.allow_nonlocal_fetch,
                     answer_search=not opts.no_search_answers,
                     ssdp_multicast=not opts.no_multicast, ssdp_broadcast=opts.ssdp_broadcast,
                     notify=not opts.no_notify)
        sp.observers.append(observer)
        speakers.append(sp)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        for sp in speakers:
            sp.start()
            with out_lock:
                print("%-12s %s at %s (%s)%s" % (sp.room, sp.uuid, sp.location, sp.model,
                                                  "" if sp.ssdp else ", no SSDP"), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for sp in speakers:
            sp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
