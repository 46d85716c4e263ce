#!/usr/bin/python3
"""speakers.py -- emulated speakers for the benchmark, in a process of their own, with timing.

The benchmark runs its speakers apart from the MQTT publisher so that the two do not share
one Python interpreter lock. Each speaker is tests/speaker/sonos_speaker.py's Speaker with
three additions, all local to the benchmark:

- every SOAP record also carries "t_accept" (the server thread accepted the connection),
  "t_handle" (the handler thread started), "t_done" (the answer was written) and
  "peer_port" (the client's TCP port, to match a bridge's connect() in a trace), so the
  speaker's own share of a request (t_accept -> t) is known and can be taken out;
- a clip plays for play_scale times its real duration, but at least 0.6 s (the bridge ends its
  wait as soon as the speaker reports STOPPED), so a thousand announcements fit in minutes;
- the records can be read from the parent over a pipe.

Line protocol on stdin/stdout (one JSON object per line):
    start -> {"speakers": [{"ip", "room", "uuid", "slug"}]}
    "records <since>"  -> {"<ip>": [record, ...]} (records with t >= since, fetches included)
    "quit"             -> speakers stopped, process exits
"""

import argparse
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "speaker"))

import sonos_speaker  # noqa: E402  (path set just above)

ROOMS = ("Kitchen", "Living Room", "Bedroom", "Office", "Bathroom", "Hall", "Garage", "Garden",
         "Attic", "Cellar", "Study", "Porch", "Nursery", "Pantry", "Gym", "Den")

MIN_PLAY_S = 0.6
SWITCH_INTERVAL_S = 0.0002
_local = threading.local()


def slug(room):
    return room.lower().replace(" ", "-")


class TimedServer(sonos_speaker._Server):
    """Notes when each connection was accepted (server thread, before the handler thread)."""

    def process_request(self, request, client_address):
        with self.accept_lock:
            self.accepted[client_address] = time.time()
        super().process_request(request, client_address)


class SerialServer(TimedServer):
    """Answers each connection in the server thread itself, one at a time: no thread is
    started per request, so the speaker adds less time and less lock contention. A request
    is small and its handler quick (a clip fetch runs in a thread of its own)."""

    def process_request(self, request, client_address):
        with self.accept_lock:
            self.accepted[client_address] = time.time()
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class TimedHandler(sonos_speaker._Handler):
    """Carries the connection's accept time to the record and stamps when the answer left."""

    def handle(self):
        with self.server.accept_lock:
            t_accept = self.server.accepted.pop(self.client_address, None)
        _local.times = (t_accept, time.time(), self.client_address[1])
        _local.rec = None
        try:
            super().handle()
        finally:
            if _local.rec is not None:
                _local.rec["t_done"] = time.time()
            _local.times = None
            _local.rec = None


class BenchSpeaker(sonos_speaker.Speaker):
    def __init__(self, ip, room, play_scale=1.0, serial=True, **kw):
        super().__init__(ip, room, **kw)
        self.play_scale = play_scale
        self.server_class = SerialServer if serial else TimedServer

    def _bind_http(self, retry_s):
        deadline = time.monotonic() + retry_s
        while True:
            try:
                server = self.server_class((self.ip, self.port), TimedHandler,
                                           bind_and_activate=True)
                server.accepted = {}
                server.accept_lock = threading.Lock()
                return server
            except OSError as e:
                if time.monotonic() >= deadline:
                    raise OSError(e.errno, "speaker %s:%d: %s" % (self.ip, self.port, e.strerror))
                time.sleep(0.1)

    def _record(self, rec):
        times = getattr(_local, "times", None)
        if times is not None and rec.get("action") != "fetch":
            rec["t_accept"], rec["t_handle"], rec["peer_port"] = times
            _local.rec = rec
        super()._record(rec)

    def _start_playing(self, remaining):
        # A clip shorter than MIN_PLAY_S plays whole: the bridge polls the transport state
        # and must see PLAYING at least once (it polls every 250 ms).
        if remaining is not None:
            remaining = min(remaining, max(MIN_PLAY_S, remaining * self.play_scale))
        super()._start_playing(remaining)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--first-ip", type=int, default=2, help="last octet of the first 127.0.0.x")
    ap.add_argument("--play-scale", type=float, default=0.1)
    ap.add_argument("--no-ssdp", action="store_true")
    ap.add_argument("--playing", action="store_true", help="start playing a queue, as at home")
    ap.add_argument("--threaded", action="store_true",
                    help="a thread per request, as tests/speaker does (default: serial)")
    opts = ap.parse_args(argv)
    # Threads hand the interpreter lock over every 5 ms by default: a request arriving while
    # another thread runs would wait that long before it is even accepted.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if not 1 <= opts.count <= len(ROOMS):
        ap.error("--count must be 1..%d" % len(ROOMS))

    speakers = []
    out = sys.stdout
    try:
        for i in range(opts.count):
            sp = BenchSpeaker("127.0.0.%d" % (opts.first_ip + i), ROOMS[i],
                              play_scale=opts.play_scale, serial=not opts.threaded,
                              ssdp=not opts.no_ssdp)
            if opts.playing:
                sp.set_media(sp.queue_uri, queue_length=10, track=3, rel_time="0:01:10")
                sp.set_transport_state("PLAYING")
            sp.start()
            speakers.append(sp)
        out.write(json.dumps({"speakers": [{"ip": s.ip, "room": s.room, "uuid": s.uuid,
                                            "slug": slug(s.room)} for s in speakers]}) + "\n")
        out.flush()
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "records":
                since = float(words[1]) if len(words) > 1 else 0.0
                reply = {s.ip: [r for r in s.actions() if r["t"] >= since] for s in speakers}
            elif words[0] == "quit":
                break
            else:
                reply = {"error": "unknown command %r" % words[0]}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        for sp in speakers:
            sp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
