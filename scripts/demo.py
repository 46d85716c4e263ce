"""demo.py -- the quickstart's main job: a local mosquitto, two emulated speakers and the bridge,
one announcement made and its result printed, then everything left running until Ctrl-C.

Run by scripts/quickstart under Debian's /usr/bin/python3. Traffic stays on loopback."""

import json
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import harness  # noqa: E402
import sonos_speaker  # noqa: E402

# MQTT's own port when it is free, so that a plain `mosquitto_pub -t ...` reaches the demo;
# 18830 when a broker already listens there (Debian starts one when mosquitto is installed).
PORT = int(os.environ.get("QUICKSTART_PORT") or
           ("18830" if harness.port_open(1883) else "1883"))
out_lock = threading.Lock()


def say(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def follow(path, stop):
    """Print the bridge's log as it grows (info and above)."""
    while not os.path.exists(path) and not stop.is_set():
        time.sleep(0.1)
    with open(path, errors="replace") as f:
        while not stop.is_set():
            line = f.readline()
            if not line:
                time.sleep(0.1)
            elif " debug: " not in line:
                say("  bridge | " + line.rstrip())


def show_speaker(sp, kind, rec):
    """One line per thing the speaker did; SSDP searches and state polls are left out."""
    if rec.get("action") in ("M-SEARCH", "GetTransportInfo"):
        return
    say("speaker | " + sonos_speaker.describe(sp, kind, rec))


class Stopped(Exception):
    """SIGTERM, SIGHUP (a closed terminal) or SIGINT: stop everything, as Ctrl-C does."""


def stopped(signo, frame):
    raise Stopped()


def main():
    # Before anything starts: a hangup at any point must still stop what was started.
    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGHUP, stopped)
    # Also when started in the background, where SIGINT arrives ignored (kill -INT did nothing).
    signal.signal(signal.SIGINT, stopped)
    if harness.port_open(PORT):
        sys.exit("port %d is taken (is another quickstart running?); stop it, or set "
                 "QUICKSTART_PORT to a free port" % PORT)
    stop = threading.Event()
    broker = harness.Broker(port=PORT).start()
    speakers = []
    bridge = None
    try:
        for ip, room in (("127.0.0.2", "Kitchen"), ("127.0.0.3", "Living Room")):
            sp = sonos_speaker.Speaker(ip, room)
            sp.observers.append(show_speaker)
            try:
                sp.start()
            except OSError as e:
                say("speaker %s:1400 cannot start (%s): is another quickstart or bridge test "
                    "running on this machine? Stop it first." % (ip, e.strerror or e))
                return 1
            speakers.append(sp)
            say("speaker | %s (%s) at %s" % (room, sp.uuid, sp.location))
        bridge = harness.Bridge(broker, extra={"log_level": "info"})
        threading.Thread(target=follow, args=(bridge.log, stop), daemon=True).start()
        bridge.start()
        mq = harness.MqttClient(broker, subscribe=["sonos/#"])
        mq.wait_for(lambda m: m.topic == "sonos/bridge/state" and m.text == "online", 20)
        mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 20)
        say("\n>>> publishing to sonos/kitchen/tts: "
            '{"id": "quickstart", "text": "Hello from sonos bridge"}\n')
        mq.publish("sonos/kitchen/tts", '{"id": "quickstart", "text": "Hello from sonos bridge"}')
        ev = mq.wait_event(lambda e: e.get("id") == "quickstart" and
                           e["status"] in ("done", "failed", "rejected", "expired"), 60)
        say("\n>>> result: %s\n" % json.dumps(ev))
        fetched = [r for r in speakers[0].actions() if r["action"] == "fetch"]
        if fetched:
            say(">>> the Kitchen speaker fetched %s (%s, %.2f s of speech) and played it.\n"
                % (fetched[-1]["url"], fetched[-1]["content_type"], fetched[-1]["duration_s"]))
        say(">>> Status page: http://127.0.0.1:%d/   metrics: http://127.0.0.1:%d/metrics\n"
            % (bridge.http_port, bridge.http_port))
        say(">>> Workers and speakers: build/bin/sonos-bridge status --config %s\n"
            % bridge.config_path)
        say(">>> Running. Try, in another terminal:\n"
            "      mosquitto_pub -p %d -t sonos/kitchen/tts -m \"dinner is ready\"\n"
            "      mosquitto_sub -p %d -t 'sonos/#' -v\n"
            "    Ctrl-C stops everything.\n" % (PORT, PORT))
        mq.close()
        try:
            while not stop.wait(0.5) and bridge.running:
                pass
        except (KeyboardInterrupt, Stopped):
            pass
        return 0 if ev["status"] == "done" else 1
    except (KeyboardInterrupt, Stopped):
        return 130
    finally:
        for signo in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signo, signal.SIG_IGN)  # let the clean-up finish
        stop.set()
        if bridge is not None:
            bridge.stop()
            bridge.cleanup()
        for sp in speakers:
            sp.stop()
        broker.cleanup()


if __name__ == "__main__":
    sys.exit(main())
