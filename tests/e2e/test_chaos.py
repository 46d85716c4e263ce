"""test_chaos.py -- never lose or repeat a request (issue 4): the inbound spool, acknowledged
delivery to playerd, de-duplication by request id, under real faults.

Real mosquitto (persistence on), real bridge, emulated speakers. What is asserted is what a user
sees: the events on sonos/bridge/event, each speaker's own record of what it fetched and played,
the broker's own log, and the spool file the bridge leaves behind.

- test_spool_write_failure: the spool sits on a 256 KiB tmpfs (a private mount namespace) that
  the test fills: the request is not acknowledged to the broker, which redelivers it (its log
  shows the DUP resend); once there is room again it plays exactly once.
- test_playerd_killed_while_playing / test_mqttd_killed_with_requests_in_flight: one kill -9
  each, every request ends with exactly one terminal event and plays at most once.
- test_burst_of_requests: 1500 requests at once, each answered exactly once, none left.
- test_lost_session_is_reported: a broker restarted without persistence loses the session;
  mqttd says so.
- ExactlyOnceTest: one terminal event per request and speaker, and the true one, whatever the
  timing of its deadline, a playerd kill, a stop or a broker outage; retained state back after
  a broker restart.
- test_chaos: a publisher sends TTS requests (some with a deadline of seconds) and set
  commands at a steady rate to three speakers while a fault injector kill -9s every worker
  twice, restarts mosquitto twice and kill -9s the whole supervisor once. Small in CI (about
  25 s); SB_CHAOS_FULL=1 runs the full one (240 requests, one broker outage of 65 s, about
  3 minutes). SB_CHAOS_SEED fixes the random order; SB_CHAOS_KEEP=<dir> keeps the bridge and
  broker logs there.
"""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import struct
import sys
import threading
import time
import unittest
import zlib

import harness

SPEAKERS = [("127.0.0.2", "Kitchen"), ("127.0.0.3", "Living Room"), ("127.0.0.4", "Office")]
WORKERS = ("mqttd", "discoveryd", "playerd", "httpd")
TERMINAL = ("done", "failed", "expired", "rejected")


# ---------------------------------------------------------------------------------------------
# Helpers

def read_spool(path):
    """The spool file as the bridge would read it back: (live ids in order, finished ids).
    Format: common/journal.h framing, mqttd/spool_core.h bodies."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return [], set()
    live, done, pos = [], set(), 0
    while pos + 12 <= len(data):
        magic, n, crc = struct.unpack_from("<III", data, pos)
        body = data[pos + 12:pos + 12 + n]
        if magic != 0x4c4e524a or n == 0 or len(body) != n or zlib.crc32(body) != crc:
            pos += 1
            continue
        op, idlen = body[0], body[24]
        rid = body[25:25 + idlen].decode("utf-8", "replace")
        if op == 1 and rid not in done and rid not in live:
            live.append(rid)
        elif op == 2:
            done.add(rid)
            if rid in live:
                live.remove(rid)
        pos += 12 + n
    return live, done


def clip_name(text, voice="en"):
    """httpd's content-addressed clip file name (httpd/clip.c)."""
    return hashlib.sha256(voice.encode() + b"\0" + text.encode()).hexdigest() + ".wav"


def worker_pid(bridge, name):
    """pid of the bridge's worker `name` (its process is named sb-<name>), or None."""
    for pid in bridge.worker_pids():
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == "sb-" + name:
                    return pid
        except OSError:
            pass
    return None


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def bridge_processes(bridge):
    """pids of live processes running with this bridge's configuration (supervisor + workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if bridge.config_path in cmdline and pid_alive(int(entry)):
            found.append(int(entry))
    return found


def fetches(speakers):
    """Clip fetches per clip file name across all speakers: {name: [(speaker room, record)]}."""
    out = {}
    for sp in speakers:
        for r in sp.actions():
            if r.get("action") == "fetch":
                out.setdefault(r["url"].rsplit("/", 1)[-1], []).append((sp.room, r))
    return out


def clip_plays(speakers):
    """Play actions per clip file name across all speakers, from each speaker's own record: a
    Play the speaker took while the transport URI it had been given was that clip.
    {name: [room, ...]}"""
    out = {}
    for sp in speakers:
        uri = None
        for r in sp.actions():
            if r.get("fault") is not None:
                continue
            if r.get("action") == "SetAVTransportURI":
                uri = r["args"].get("CurrentURI", "")
            elif r.get("action") == "Play" and uri and "/clips/" in uri:
                out.setdefault(uri.rsplit("/", 1)[-1], []).append(sp.room)
    return out


class ChaosBase(harness.E2ETestCase):

    def observer(self, broker):
        """A subscriber with a persistent session, as an automation has: events at QoS 2 (each
        exactly once, across broker restarts too), the rest at QoS 1."""
        mq = self.mqtt(broker, client_id="sbobs-%d" % os.getpid(), clean_session=False,
                       subscribe=["sonos/bridge/state", "sonos/+/availability"])
        mq.subscribe("sonos/bridge/event", qos=2)
        return mq

    def start_online(self, broker, mq, **kw):
        bridge = self.start_bridge(broker, **kw)
        ok = mq.wait_for(lambda m: m.topic == "sonos/bridge/state" and m.text == "online", 20)
        self.assertTrue(ok, "bridge never said online")
        return bridge

    def wait_known(self, mq, slugs, timeout=30):
        """Wait until every room slug has said online (playerd learns the same table)."""
        def online(slug):
            last = mq.last("sonos/%s/availability" % slug)
            return last is not None and last.text == "online"
        ok = harness.wait_until(lambda: all(online(s) for s in slugs), timeout, 0.1)
        self.assertTrue(ok, "speakers %s not all online" % (slugs,))

    def terminal(self, mq, rid):
        return [e for e in mq.events() if e.get("id") == rid and e.get("status") in TERMINAL]


# ---------------------------------------------------------------------------------------------

class SpoolTest(ChaosBase):

    def test_spool_write_failure(self):
        broker = self.start_broker()
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        cache = harness.short_tmpdir("sbcache")
        self.addCleanup(shutil.rmtree, cache, True)
        bridge = self.start_bridge(broker, start=False, extra={"cache_dir": cache})
        os.makedirs(bridge.state_dir, exist_ok=True)
        # The supervisor runs in a mount namespace of its own where state_dir is a small tmpfs.
        wrapper = os.path.join(bridge.dir, "in-tmpfs")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec unshare -m sh -c \'mount -t tmpfs -o size=256k,mode=0700 '
                    'sbspool "$0" && exec "$@"\' "%s" "%s" "$@"\n'
                    % (bridge.state_dir, bridge.binary))
        os.chmod(wrapper, 0o755)
        real_binary, bridge.binary = bridge.binary, wrapper
        if os.geteuid() != 0 or os.system("unshare -m true 2>/dev/null") != 0:
            self.skipTest("needs root for a private mount namespace")
        bridge.start()
        self.assertTrue(mq.wait_for(lambda m: m.topic == "sonos/bridge/state" and
                                    m.text == "online", 20))
        self.wait_known(mq, ["kitchen"])
        client_id = bridge.wait_log(r"client id (\S+)", 5).group(1)
        inside = "/proc/%d/root%s" % (bridge.pid, bridge.state_dir)
        self.assertTrue(os.path.exists(os.path.join(inside, "spool")), os.listdir(inside))

        # Fill the tmpfs to the last byte.
        filler = os.path.join(inside, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        text = "spool full, then room again"
        mark = mq.mark()
        mq.publish("sonos/kitchen/tts", text)  # plain text: the id is derived
        self.assertIsNotNone(bridge.wait_log(r"spool write failed: No space left on device", 10),
                             "mqttd did not refuse the request")
        # Refused means unacknowledged: the broker sends it again, flagged as a duplicate.
        dup = r"Sending PUBLISH to %s \(d1, q1, r0, m\d+, 'sonos/kitchen/tts'" % re.escape(client_id)
        self.assertTrue(harness.wait_until(lambda: re.search(dup, broker.log_text()), 15),
                        "the broker never redelivered the refused request")
        time.sleep(1)
        self.assertEqual(mq.events(after=mark), [], "nothing may happen while it is refused")
        self.assertEqual(fetches([kitchen]), {})

        os.unlink(filler)
        done = mq.wait_event(lambda e: e.get("status") in TERMINAL, 60, after=mark)
        self.assertIsNotNone(done, "not delivered once the spool had room again")
        self.assertEqual(done["status"], "done", done)
        self.assertTrue(done["id"].startswith("auto-"), done)
        time.sleep(2)
        terminal = [e for e in mq.events(after=mark) if e.get("status") in TERMINAL]
        self.assertEqual(len(terminal), 1, terminal)
        self.assertEqual(list(fetches([kitchen])), [clip_name(text)])
        self.assertEqual(len(fetches([kitchen])[clip_name(text)]), 1)
        bridge.binary = real_binary

    def test_playerd_killed_while_playing(self):
        broker = self.start_broker()
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge = self.start_online(broker, mq)
        self.wait_known(mq, ["kitchen"])
        long_text = "this announcement is long enough to be cut short by a kill of the player"
        mq.publish("sonos/kitchen/tts", {"id": "p-1", "text": long_text})
        mq.publish("sonos/kitchen/tts", {"id": "p-2", "text": "the one queued behind it"})
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "p-1" and
                                           e.get("status") == "playing", 30))
        os.kill(worker_pid(bridge, "playerd"), signal.SIGKILL)
        for rid in ("p-1", "p-2"):
            self.assertIsNotNone(mq.wait_event(lambda e, rid=rid: e.get("id") == rid and
                                               e.get("status") in TERMINAL, 60), rid)
        time.sleep(2)
        first, second = self.terminal(mq, "p-1"), self.terminal(mq, "p-2")
        self.assertEqual(len(first), 1, first)
        self.assertEqual(first[0]["status"], "failed", first)
        self.assertIn("interrupted", first[0]["error"])
        self.assertEqual(len(second), 1, second)
        self.assertEqual(second[0]["status"], "done", second)
        clips = fetches([kitchen])
        self.assertEqual(len(clips[clip_name(long_text)]), 1, "played again after the restart")
        self.assertEqual(len(clips[clip_name("the one queued behind it")]), 1)

    def test_mqttd_killed_with_requests_in_flight(self):
        broker = self.start_broker(persistence=True)
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.observer(broker)
        bridge = self.start_online(broker, mq)
        self.wait_known(mq, ["kitchen"])
        texts = {"m-%d" % i: "request %d before mqttd dies" % i for i in range(5)}
        for rid, text in texts.items():
            mq.publish("sonos/kitchen/tts", {"id": rid, "text": text})
        self.assertIsNotNone(bridge.wait_log(r"m-4: tts for kitchen spooled", 10))
        os.kill(worker_pid(bridge, "mqttd"), signal.SIGKILL)
        for rid in texts:
            self.assertIsNotNone(mq.wait_event(lambda e, rid=rid: e.get("id") == rid and
                                               e.get("status") in TERMINAL, 90), rid)
        time.sleep(2)
        clips = fetches([kitchen])
        for rid, text in texts.items():
            ends = self.terminal(mq, rid)
            self.assertEqual([e["status"] for e in ends], ["done"], ends)
            self.assertEqual(len(clips.get(clip_name(text), [])), 1, rid)
        self.assertEqual(bridge.stop(), 0)
        live, _ = read_spool(os.path.join(bridge.state_dir, "spool"))
        self.assertEqual(live, [])

    def test_burst_of_requests(self):
        """1500 requests at once: none lost on the bus (mqttd keeps at most 512 unanswered
        requests with playerd, the rest wait in the spool), each answered once."""
        broker = self.start_broker(extra_conf="max_queued_messages 0\n")
        mq = self.observer(broker)
        bridge = self.start_online(broker, mq, extra={"discovery_timeout_ms": 300,
                                                      "log_level": "info"})
        time.sleep(9.5)  # playerd's grace for discovery: an unknown room then fails at once
        pub = Publisher(broker)
        self.addCleanup(pub.close)
        ids = ["b%04d" % i for i in range(1500)]
        for rid in ids:
            # Expired by the time playerd sees it (or failed: no such room): no speaker needed.
            pub.publish("sonos/nowhere/tts", {"id": rid, "text": rid, "expire_after": 0.001})

        def answered():
            return {e["id"] for e in mq.events() if e.get("status") in TERMINAL}
        self.assertTrue(harness.wait_until(lambda: len(answered()) >= len(ids), 60, 0.2),
                        "%d of %d answered" % (len(answered()), len(ids)))
        time.sleep(1)
        ends = [e["id"] for e in mq.events() if e.get("status") in TERMINAL]
        self.assertEqual(sorted(ends), ids)
        self.assertEqual(bridge.stop(), 0)
        live, done = read_spool(os.path.join(bridge.state_dir, "spool"))
        self.assertEqual(live, [])
        self.assertEqual(len(done), len(ids))

    def test_lost_session_is_reported_and_the_bridge_subscribes_again(self):
        # A broker restarted without persistence forgets the session and its subscriptions:
        # the bridge says so and subscribes again, or no request would ever reach it.
        broker = self.start_broker(persistence=False)
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge = self.start_online(broker, mq)
        self.wait_known(mq, ["kitchen"])
        self.assertIsNone(bridge.wait_log("has no session", 1))
        mark = mq.mark()
        broker.restart()
        mq.wait_connected(10)
        mq.subscribe("sonos/#")
        self.assertIsNotNone(mq.wait_topic("sonos/bridge/state", 20, after=mark, text="online"))
        self.assertIsNotNone(bridge.wait_log(r"has no session for client id", 5))
        mq.publish("sonos/kitchen/set", {"id": "ls-1", "volume": 23})
        ev = mq.wait_event(lambda e: e.get("id") == "ls-1" and e.get("status") in TERMINAL, 20)
        self.assertIsNotNone(ev, "a request after the restart got no answer")
        self.assertEqual(ev["status"], "done", ev)
        self.assertTrue([a for a in kitchen.actions_named("SetVolume")
                         if a["args"].get("DesiredVolume") == "23"])


# ---------------------------------------------------------------------------------------------

# About 15 s of speech: still playing well after a deadline of a few seconds.
LONG = ("this announcement is long enough to still be playing when its deadline has passed, "
        "and when the player process is killed in the middle of it we want to see exactly "
        "what is reported to whoever is listening on the event topic of the bridge")


class ExactlyOnceTest(ChaosBase):
    """Each request gets exactly one terminal event per speaker, the one that is true, whatever
    the timing of its deadline, a playerd kill or a broker outage."""

    def assert_once(self, mq, rid, status):
        ends = self.terminal(mq, rid)
        self.assertEqual([e["status"] for e in ends], [status], (rid, ends))
        return ends[0]

    def test_interrupted_after_its_deadline_is_failed_not_expired(self):
        """playerd dies mid-announcement after the request's deadline: mqttd sends it again,
        and the new playerd reports what happened (it started: failed, interrupted), not
        `expired`: it did play."""
        broker = self.start_broker()
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge = self.start_online(broker, mq)
        self.wait_known(mq, ["kitchen"])
        t0 = time.time()
        mq.publish("sonos/kitchen/tts", {"id": "x-1", "text": LONG, "expire_after": 5})
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "x-1" and
                                           e.get("status") == "playing", 30))
        time.sleep(max(0, t0 + 6.5 - time.time()))  # past its deadline, still playing
        self.assertEqual(self.terminal(mq, "x-1"), [])
        os.kill(worker_pid(bridge, "playerd"), signal.SIGKILL)
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "x-1" and
                                           e.get("status") in TERMINAL, 60))
        time.sleep(2)
        end = self.assert_once(mq, "x-1", "failed")
        self.assertIn("interrupted", end["error"])
        self.assertEqual(len(fetches([kitchen]).get(clip_name(LONG), [])), 1)
        self.assertEqual(clip_plays([kitchen]).get(clip_name(LONG)), ["Kitchen"])

    def test_broker_away_longer_than_the_wait_for_its_acknowledgements(self):
        """The broker is away longer than mqttd waits for it to take terminal events (60 s;
        3 s here through the test knob): the events queued for it meanwhile go out once on
        reconnect, and playerd is not asked for a second copy of them while it is away."""
        broker = self.start_broker(persistence=True)
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.observer(broker)
        bridge = self.start_bridge(broker, start=False)
        bridge.start(env={"SB_TEST_PUBACK_WAIT_MS": "3000"})
        self.assertTrue(mq.wait_for(lambda m: m.topic == "sonos/bridge/state" and
                                    m.text == "online", 20))
        self.wait_known(mq, ["kitchen"])
        short = "the short one queued behind"
        t0 = time.time()
        mq.publish("sonos/kitchen/tts", {"id": "y-1", "text": LONG})
        mq.publish("sonos/kitchen/tts", {"id": "y-2", "text": short, "expire_after": 16})
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "y-1" and
                                           e.get("status") == "playing", 30))
        broker.stop()
        self.assertIsNotNone(bridge.wait_log(r"y-2 \S+( \([^)]*\))?: done", 60),
                             "y-2 never finished")
        # Away for more than twice the wait, and until y-2 is past its deadline.
        time.sleep(max(8, t0 + 17 - time.time()))
        connects = len(re.findall(r"connected to \S+ as ", bridge.log_text()))
        broker.start()
        self.assertTrue(mq.wait_connected(15))
        self.assertTrue(harness.wait_until(lambda: len(re.findall(
            r"connected to \S+ as ", bridge.log_text())) > connects, 60, 0.2), "no reconnect")
        for rid in ("y-1", "y-2"):
            self.assertIsNotNone(mq.wait_event(lambda e, rid=rid: e.get("id") == rid and
                                               e.get("status") in TERMINAL, 20), rid)
        time.sleep(6)  # twice the wait again, connected: nothing more may come
        self.assert_once(mq, "y-1", "done")
        self.assert_once(mq, "y-2", "done")
        plays = clip_plays([kitchen])
        self.assertEqual(plays.get(clip_name(LONG)), ["Kitchen"])
        self.assertEqual(plays.get(clip_name(short)), ["Kitchen"])
        self.assertEqual(bridge.stop(), 0)
        live, _ = read_spool(os.path.join(bridge.state_dir, "spool"))
        self.assertEqual(live, [])

    def test_speaker_state_is_retained_again_after_a_broker_restart(self):
        """A broker restarted without persistence has forgotten every retained message: the
        bridge publishes each speaker's state again, not only availability."""
        broker = self.start_broker(persistence=False)
        self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge = self.start_online(broker, mq)
        self.wait_known(mq, ["kitchen"])
        self.assertIsNotNone(mq.wait_topic("sonos/kitchen/state", 20))
        time.sleep(1)
        before = mq.last("sonos/kitchen/state").json()
        connects = len(re.findall(r"connected to \S+ as ", bridge.log_text()))
        broker.restart()
        self.assertTrue(harness.wait_until(lambda: len(re.findall(
            r"connected to \S+ as ", bridge.log_text())) > connects, 60, 0.2), "no reconnect")
        fresh = self.mqtt(broker, subscribe=["sonos/bridge/state"])
        self.assertIsNotNone(fresh.wait_topic("sonos/bridge/state", 10, text="online"))
        fresh.subscribe("sonos/kitchen/availability")
        fresh.subscribe("sonos/kitchen/state")
        self.assertIsNotNone(fresh.wait_topic("sonos/kitchen/availability", 5, text="online"))
        state = fresh.wait_topic("sonos/kitchen/state", 5)
        self.assertIsNotNone(state, "sonos/kitchen/state not retained after the restart")
        self.assertTrue(state.retain)
        self.assertEqual(state.json(), before)

    def test_command_queued_past_its_deadline_is_expired(self):
        """A volume command waiting behind a long announcement until after its deadline
        (request_expiry_s: commands take no expire_after) is reported expired and never
        reaches the speaker."""
        broker = self.start_broker()
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        self.start_online(broker, mq, extra={"request_expiry_s": 4})
        self.wait_known(mq, ["kitchen"])
        mq.publish("sonos/kitchen/tts", {"id": "e-1", "text": LONG})
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "e-1" and
                                           e.get("status") == "playing", 30))
        mq.publish("sonos/kitchen/set", {"id": "e-2", "volume": 37})
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "e-2" and
                                           e.get("status") in TERMINAL, 60))
        time.sleep(1)
        self.assert_once(mq, "e-1", "done")
        self.assert_once(mq, "e-2", "expired")
        self.assertEqual([a for a in kitchen.actions_named("SetVolume")
                          if a["args"].get("DesiredVolume") == "37"], [])

    def test_announcement_whose_clip_is_ready_past_its_deadline_is_expired(self):
        """Speech synthesis (httpd stopped for a while here) outlasts the deadline: the
        announcement is expired, not played late."""
        broker = self.start_broker()
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge = self.start_online(broker, mq)
        self.wait_known(mq, ["kitchen"])
        text = "made too late to be worth saying"
        httpd = worker_pid(bridge, "httpd")
        os.kill(httpd, signal.SIGSTOP)
        self.addCleanup(lambda: pid_alive(httpd) and os.kill(httpd, signal.SIGCONT))
        t0 = time.time()
        mq.publish("sonos/kitchen/tts", {"id": "e-3", "text": text, "expire_after": 1.5})
        queued = mq.wait_event(lambda e: e.get("id") == "e-3", 5)
        # Under 3 s: the supervisor takes three missed health checks for a hung worker.
        time.sleep(max(0, t0 + 2.4 - time.time()))
        os.kill(httpd, signal.SIGCONT)
        self.assertIsNotNone(queued)
        self.assertEqual(queued["status"], "queued", queued)
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "e-3" and
                                           e.get("status") in TERMINAL, 30))
        time.sleep(1)
        end = self.assert_once(mq, "e-3", "expired")
        self.assertIn("clip", end.get("error", ""))
        self.assertEqual(fetches([kitchen]).get(clip_name(text)), None)
        self.assertEqual(clip_plays([kitchen]).get(clip_name(text)), None)

    def test_announcement_waiting_for_its_clip_when_the_bridge_stops_plays_after_restart(self):
        """The bridge stops while an announcement waits for its speech (httpd stopped here):
        playerd stops at once instead of waiting up to a minute for the clip, and the
        announcement, which had not reached the speaker, plays after the restart, once,
        instead of being lost as failed. Once with a clean stop, once with the supervisor
        killed (the workers follow it)."""
        broker = self.start_broker()
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge = self.start_online(broker, mq)
        self.wait_known(mq, ["kitchen"])

        def comm(pid):
            try:
                with open("/proc/%d/comm" % pid) as f:
                    return f.read().strip()
            except OSError:
                return None

        for rid, how in (("s-1", "stop"), ("s-2", "kill")):
            text = "said once after the restart, %s" % rid
            httpd = worker_pid(bridge, "httpd")
            os.kill(httpd, signal.SIGSTOP)
            self.addCleanup(lambda pid=httpd: pid_alive(pid) and os.kill(pid, signal.SIGCONT))
            mq.publish("sonos/kitchen/tts", {"id": rid, "text": text})
            queued = mq.wait_event(lambda e, rid=rid: e.get("id") == rid, 5)
            self.assertEqual(queued and queued["status"], "queued", queued)
            time.sleep(0.5)
            if how == "stop":
                bridge.stop()
            else:
                os.kill(bridge.pid, signal.SIGKILL)
                bridge.proc.wait(5)
                # Only httpd, stopped, may still be there.
                self.assertTrue(harness.wait_until(lambda: all(
                    comm(p) == "sb-httpd" for p in bridge_processes(bridge)), 10, 0.1),
                    [comm(p) for p in bridge_processes(bridge)])
                os.kill(httpd, signal.SIGCONT)
                self.assertTrue(harness.wait_until(lambda: not bridge_processes(bridge), 10))
            self.assertEqual(self.terminal(mq, rid), [], "reported before the restart")
            bridge.start()
            self.assertIsNotNone(mq.wait_event(lambda e, rid=rid: e.get("id") == rid and
                                               e.get("status") in TERMINAL, 30), rid)
            time.sleep(1)
            if how == "stop":
                self.assert_once(mq, rid, "done")
                self.assertEqual(len(fetches([kitchen]).get(clip_name(text), [])), 1)
                self.assertEqual(clip_plays([kitchen]).get(clip_name(text)), ["Kitchen"])
            else:
                # After a SIGKILLed supervisor, playerd mostly takes its start back in time
                # (then it plays, once) but not always (seen once in 5 runs: then it is
                # reported interrupted and not played). Either way: one terminal event, and
                # never played twice.
                end = self.terminal(mq, rid)
                self.assertEqual(len(end), 1, end)
                plays = clip_plays([kitchen]).get(clip_name(text)) or []
                if end[0]["status"] == "done":
                    self.assertEqual(plays, ["Kitchen"])
                else:
                    self.assertEqual(end[0]["status"], "failed", end)
                    self.assertIn("interrupted", end[0].get("error", ""), end)
                    self.assertEqual(plays, [])
            self.wait_known(mq, ["kitchen"])

# ---------------------------------------------------------------------------------------------

class Publisher:
    """A paho client of its own (persistent session) that publishes without waiting, the way
    an automation does: while the broker is down paho keeps the messages and sends them after
    it reconnects."""

    def __init__(self, broker):
        import paho.mqtt.client as mqtt

        self.c = mqtt.Client(client_id="sbpub-%d" % os.getpid(), clean_session=False)
        self.c.max_queued_messages_set(0)
        self.c.max_inflight_messages_set(50)
        self.c.reconnect_delay_set(0.2, 2)
        self.c.connect("127.0.0.1", broker.port, keepalive=30)
        self.c.loop_start()

    def publish(self, topic, payload):
        self.c.publish(topic, json.dumps(payload), qos=1)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class ChaosTest(ChaosBase):

    # A failed request is one a fault cut short while it played, nothing else.
    FAILED_BY_FAULT = ("interrupted", "cut short")

    def test_chaos(self):
        full = os.environ.get("SB_CHAOS_FULL") == "1"
        seed = int(os.environ.get("SB_CHAOS_SEED", str(int(time.time()))))
        rng = random.Random(seed)
        count, rate = (240, 3.0) if full else (48, 3.0)
        drain_s = 240 if full else 45
        # Full: one of the broker restarts is an outage longer than mqttd's 60 s wait for the
        # broker to take terminal events (test_broker_away_longer_than_...).
        long_outage_s = 65 if full else 0

        broker = self.start_broker(persistence=True)
        speakers = [self.start_speaker(ip, room) for ip, room in SPEAKERS]
        slugs = ["kitchen", "living-room", "office"]
        mq = self.observer(broker)
        bridge = self.start_online(broker, mq, extra={"request_expiry_s": 900})
        self.wait_known(mq, slugs)
        keep = os.environ.get("SB_CHAOS_KEEP")  # a directory to keep the logs in, for study
        if keep:
            self.addCleanup(lambda: (shutil.copy(bridge.log, os.path.join(keep, "bridge.log")),
                                     shutil.copy(broker.log, os.path.join(keep, "broker.log"))))

        faults = [("kill", w) for w in WORKERS for _ in range(2)] + [("broker", None)] * 2 + \
            [("supervisor", None)]
        rng.shuffle(faults)

        # The requests: short distinct sentences, every fifth a volume command with a value
        # no other command uses (so the speaker's record shows how often it ran); every
        # seventh announcement has a deadline of a few seconds or less, which the queue
        # behind the others and the faults often make it miss: expired then, never played.
        plan = []
        for i in range(count):
            slug = slugs[i % 3]
            rid = "c%03d" % i
            if i % 5 == 4:
                plan.append((rid, slug, "set", {"id": rid, "volume": 10 + i // 5}))
            elif i % 7 == 3:
                plan.append((rid, slug, "tts", {"id": rid, "text": "Note %d." % i,
                                                "expire_after": rng.choice((0.5, 2, 4))}))
            else:
                plan.append((rid, slug, "tts", {"id": rid, "text": "Note %d." % i}))
        if long_outage_s:
            k = next(k for k, f in enumerate(faults) if f[0] == "broker")
            faults[k] = ("broker", long_outage_s)
        period = count / rate
        fault_at = [1.5 + (period + 4) * (k + 0.5) / len(faults) for k in range(len(faults))]
        sys.stderr.write("\nchaos: seed %d, %d requests over %.0f s, faults %s\n" % (
            seed, count, period, [f[0] + (":%s" % f[1] if f[1] else "") for f in faults]))

        log = []
        injector_error = []

        def inject():
            t0, late = time.monotonic(), 0.0
            try:
                for at, (kind, name) in zip(fault_at, faults):
                    time.sleep(max(0.0, t0 + at + late - time.monotonic()))
                    begun = time.monotonic()
                    log.append((round(begun - t0, 1), kind, name))
                    self.fault(bridge, broker, kind, name)
                    if kind == "broker" and name:  # the long outage: the rest come later
                        late += time.monotonic() - begun
            except Exception as e:  # reported by the main thread
                injector_error.append(repr(e))

        pub = Publisher(broker)
        self.addCleanup(pub.close)
        injector = threading.Thread(target=inject, daemon=True)
        start = time.monotonic()
        injector.start()
        for n, (rid, slug, kind, payload) in enumerate(plan):
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
            pub.publish("sonos/%s/%s" % (slug, kind), payload)
        injector.join(period + 120 + (long_outage_s + 60 if long_outage_s else 0))
        self.assertFalse(injector.is_alive(), "fault injector stuck")
        self.assertEqual(injector_error, [])

        ids = [p[0] for p in plan]

        def finished():
            seen = {e.get("id") for e in mq.events() if e.get("status") in TERMINAL}
            return all(rid in seen for rid in ids)
        harness.wait_until(finished, drain_s, 0.5)
        time.sleep(3)  # late duplicates, if any, would arrive now

        # Tally. What a speaker did is read from its own record: an announcement was played
        # once when the speaker got one Play while its clip was loaded and fetched it once; a
        # command ran once when the speaker got one SetVolume with its value.
        ends = {}
        for e in mq.events():
            if e.get("status") in TERMINAL:
                ends.setdefault(e["id"], []).append(e)
        clips, plays_of = fetches(speakers), clip_plays(speakers)
        counts = {s: 0 for s in TERMINAL}
        lost, conflicting, repeated_events, played_twice, done_not_played = [], [], [], [], []
        expired_but_played, failed_badly = [], []
        for rid, slug, kind, payload in plan:
            evs = ends.get(rid, [])
            if not evs:
                lost.append(rid)
                continue
            status = evs[0]["status"]
            counts[status] += 1
            if len({e["status"] for e in evs}) > 1:
                conflicting.append((rid, [e["status"] for e in evs]))
            elif len(evs) > 1:
                repeated_events.append(rid)
            if kind == "tts":
                name = clip_name(payload["text"])
                plays = len(plays_of.get(name, []))
                fetched = len(clips.get(name, []))
            else:
                room = dict((s, r) for (_, r), s in zip(SPEAKERS, slugs))[slug]
                sp = next(s for s in speakers if s.room == room)
                plays = fetched = len([a for a in sp.actions_named("SetVolume")
                                       if a["args"].get("DesiredVolume") ==
                                       str(payload["volume"])])
            if plays > 1 or fetched > 1:
                played_twice.append((rid, plays, fetched))
            if status == "done" and (plays, fetched) != (1, 1):
                done_not_played.append((rid, plays, fetched))
            if status == "expired" and (plays or fetched):
                expired_but_played.append((rid, plays, fetched))
            if status == "failed" and not any(
                    why in evs[0].get("error", "") for why in self.FAILED_BY_FAULT):
                failed_badly.append((rid, evs[0].get("error")))

        self.assertTrue(bridge.running, "the bridge is not running after the faults")
        self.assertEqual(bridge.stop(), 0)
        live, _ = read_spool(os.path.join(bridge.state_dir, "spool"))
        restarts = len(re.findall(r"--- start", bridge.log_text()))

        sys.stderr.write(
            "chaos: sent %d, done %d, expired %d, failed %d, rejected %d, lost %d, "
            "duplicates %d (events %d, plays %d), left in spool %d; faults %s; "
            "supervisor starts %d\n" % (
                count, counts["done"], counts["expired"], counts["failed"], counts["rejected"],
                len(lost), len(repeated_events) + len(played_twice), len(repeated_events),
                len(played_twice), len(live), log, restarts))
        failed = [(rid, ends[rid][0].get("error")) for rid in ids
                  if rid in ends and ends[rid][0]["status"] == "failed"]
        if failed:
            sys.stderr.write("chaos: failed: %s\n" % failed)
        self.assertEqual(lost, [], "requests without a terminal event")
        self.assertEqual(conflicting, [], "requests with two different outcomes")
        self.assertEqual(repeated_events, [], "requests reported twice")
        self.assertEqual(played_twice, [], "requests played twice")
        self.assertEqual(done_not_played, [], "done but not played exactly once")
        self.assertEqual(expired_but_played, [], "expired but played")
        self.assertEqual(failed_badly, [], "failed for another reason than a fault during it")
        self.assertEqual(counts["rejected"], 0)
        self.assertEqual(live, [], "requests left in the spool")
        self.assertGreater(counts["done"], count // 2, "most requests should succeed")

    def fault(self, bridge, broker, kind, arg):
        if kind == "broker" and arg:
            # Away long, then back until mqttd (its backoff reaches 30 s by then) is connected
            # again: the events it kept meanwhile must leave once, from the same process.
            def connects():
                return len(re.findall(r"mqttd\[\d+\] info: (?:\w+: )?connected to \S+ as ",
                                      bridge.log_text()))
            before = connects()
            broker.restart(down_for=arg)
            if not harness.wait_until(lambda: connects() > before, 60, 0.2):
                raise AssertionError("mqttd did not reconnect after the long broker outage")
        elif kind == "broker":
            broker.restart(down_for=0.5)
        elif kind == "kill":
            pid = harness.wait_until(lambda: worker_pid(bridge, arg), 20, 0.1)
            if not pid:
                raise AssertionError("no %s to kill" % arg)
            os.kill(pid, signal.SIGKILL)
        elif kind == "supervisor":
            os.kill(bridge.pid, signal.SIGKILL)
            bridge.proc.wait(5)
            # The workers follow their supervisor (parent-death signal); then start again.
            if not harness.wait_until(lambda: not bridge_processes(bridge), 20, 0.1):
                raise AssertionError("workers outlived their supervisor")
            bridge.start()

if __name__ == "__main__":
    unittest.main()
