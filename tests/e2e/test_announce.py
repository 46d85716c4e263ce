"""test_announce.py -- an announcement travels from MQTT to a speaker through all five processes.

Real mosquitto, real espeak-ng speech, real HTTP, emulated speakers that speak the Sonos protocol
on 127.0.0.2 and 127.0.0.3 (port 1400), discovered by real SSDP on loopback."""

import json
import os
import re
import signal
import time
import unittest

import harness

KITCHEN_IP, LIVING_IP = "127.0.0.2", "127.0.0.3"
SENTENCE = "The front door is open"


class AnnounceTest(harness.E2ETestCase):

    def setUp(self):
        self.broker = self.start_broker()
        self.mq = self.mqtt(self.broker, subscribe=["sonos/#"])

    def start_online(self, **kw):
        bridge = self.start_bridge(self.broker, **kw)
        self.mq.wait_for(lambda m: m.topic == "sonos/bridge/state" and m.text == "online", 15)
        return bridge

    def announce(self, topic, payload, request_id, timeout=40):
        """Publish and wait for the request's terminal event; returns all its events."""
        mark = self.mq.mark()
        self.mq.publish(topic, payload)
        final = self.mq.wait_event(
            lambda e: e.get("id") == request_id and
            e.get("status") in ("done", "failed", "expired", "rejected"), timeout, after=mark)
        events = [e for e in self.mq.events(after=mark) if e.get("id") == request_id]
        return final, events

    def test_tts_over_ssdp(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        living = self.start_speaker(LIVING_IP, "Living Room")
        bridge = self.start_online()

        final, events = self.announce(
            "sonos/kitchen/tts", '{"id": "e2e-1", "text": "%s"}' % SENTENCE, "e2e-1")
        self.assertEqual(final["status"], "done", final)
        self.assertEqual([e["status"] for e in events], ["queued", "playing", "done"])
        self.assertEqual(final["speaker"], "Kitchen")
        self.assertEqual(final["uuid"], kitchen.uuid)

        # The speaker fetched a valid WAV whose length fits the sentence (espeak-ng speaks
        # five words in roughly 1 to 3 seconds), and the event reports that same length.
        fetches = [r for r in kitchen.actions() if r["action"] == "fetch"]
        self.assertEqual(len(fetches), 1, fetches)
        clip = fetches[0]
        self.assertTrue(clip["valid"], clip)
        self.assertEqual(clip["content_type"], "audio/wav")
        self.assertGreater(clip["duration_s"], 0.8)
        self.assertLess(clip["duration_s"], 5.0)
        self.assertAlmostEqual(final["duration_ms"] / 1000.0, clip["duration_s"], delta=0.05)

        # SetAVTransportURI with the clip's URL, then Play, in that order.
        names = [r["action"] for r in kitchen.actions() if r["action"] != "fetch"]
        set_uri = names.index("SetAVTransportURI")
        self.assertIn("Play", names[set_uri:])
        uri = kitchen.actions_named("SetAVTransportURI")[0]["args"]["CurrentURI"]
        self.assertEqual(uri, clip["url"])
        self.assertTrue(uri.startswith("http://127.0.0.1:%d/clips/" % bridge.http_port), uri)
        # The speaker played it for its real duration before the bridge called it done.
        playing = [s for s in kitchen.states() if s["state"] == "PLAYING"]
        self.assertTrue(playing)

        # The other speaker was not touched, and discovery used SSDP, not a manual list.
        self.assertEqual(living.actions_named("SetAVTransportURI"), [])
        self.assertNotIn("automatic discovery failed", bridge.log_text())

        # Availability is published, retained, per room slug.
        self.assertEqual(self.mq.last("sonos/kitchen/availability").text, "online")
        self.assertEqual(self.mq.last("sonos/living-room/availability").text, "online")

    def test_plain_text_by_uuid_and_cache(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        self.mq.publish("sonos/%s/tts" % kitchen.uuid, "dinner is ready")
        ev = self.mq.wait_event(lambda e: e.get("status") in ("done", "failed"), 40)
        self.assertEqual(ev["status"], "done", ev)
        self.assertTrue(ev["id"], "a generated request id")
        # The same sentence again is served from the cache: same clip URL, same length.
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "again", "text": "dinner is ready"}',
                                 "again")
        self.assertEqual(final["status"], "done", final)
        urls = [r["url"] for r in kitchen.actions() if r["action"] == "fetch"]
        self.assertEqual(len(urls), 2)
        self.assertEqual(urls[0], urls[1])
        # The speaker was idle: afterwards it has its own queue loaded again, not the clip
        # (which would show as its track and replay on the next Play).
        sets = [a["args"]["CurrentURI"] for a in kitchen.actions_named("SetAVTransportURI")]
        self.assertEqual(sets, [urls[0], kitchen.queue_uri, urls[1], kitchen.queue_uri])
        self.assertEqual(kitchen.current_uri, kitchen.queue_uri)
        self.assertEqual(kitchen.transport_state, "STOPPED")

    def test_utf8_text_end_to_end(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        texts = [("fr", "fr", "L'été à Noël, ça c'est génial & drôle <vraiment>"),
                 ("ru", "ru", "Входная дверь открыта"),
                 ("zh", "cmn", "前门开着"),
                 ("en", None, "Tom & Jerry's \"show\" <tonight>")]
        for rid, voice, text in texts:
            payload = {"id": rid, "text": text}
            if voice:
                payload["voice"] = voice
            final, _ = self.announce("sonos/kitchen/tts", json.dumps(payload, ensure_ascii=False),
                                     rid)
            self.assertEqual(final["status"], "done", (rid, final))
        fetches = [r for r in kitchen.actions() if r["action"] == "fetch"]
        self.assertEqual(len(fetches), len(texts))
        for clip in fetches:
            self.assertTrue(clip["valid"], clip)
            self.assertGreater(clip["duration_s"], 0.5, clip)
        self.assertEqual(len({c["url"] for c in fetches}), len(texts), "one clip per text")

    def test_same_text_twice_at_qos0_plays_twice(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        for n in (1, 2):
            mark = self.mq.mark()
            # What Home Assistant's mqtt.publish and mosquitto_pub do by default.
            self.mq.publish("sonos/kitchen/tts", "the washing machine is done", qos=0)
            ev = self.mq.wait_event(lambda e: e["status"] in ("done", "failed"), 40, after=mark)
            self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(len(kitchen.actions_named("Play")), 2)

    def test_reused_id_is_told_not_silently_dropped(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "doorbell", "text": "ding"}',
                                 "doorbell")
        self.assertEqual(final["status"], "done", final)
        time.sleep(61)  # a redelivery would have come at once; this is a reused id
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "doorbell", "text": "ding"}',
                                 "doorbell")
        self.assertEqual(final["status"], "rejected", final)
        self.assertIn("own id", final["error"])
        self.assertEqual(len(kitchen.actions_named("Play")), 1)

    def test_room_as_typed(self):
        living = self.start_speaker(LIVING_IP, "Living Room")
        self.start_online()
        for rid, room in (("t1", "Living Room"), ("t2", "LIVING-ROOM"),
                          ("t3", living.uuid.lower())):
            final, _ = self.announce("sonos/%s/tts" % room,
                                     '{"id": "%s", "text": "hello"}' % rid, rid)
            self.assertEqual(final["status"], "done", (room, final))
            self.assertEqual(final["speaker"], "Living Room")

    def test_text_too_long_is_rejected(self):
        self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online(extra={"max_text_length": 50})
        final, _ = self.announce("sonos/kitchen/tts", json.dumps({"id": "long", "text": "x" * 51}),
                                 "long")
        self.assertEqual(final["status"], "rejected")
        self.assertIn("longer than 50", final["error"])

    def test_clip_and_chime(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        files = self.file_server()
        files.add("/chime.wav", harness.make_wav(0.2), "audio/wav")
        files.add("/doorbell.wav", harness.make_wav(1.2), "audio/wav")
        self.start_online(extra={"chime_url": files.url("/chime.wav")})
        final, _ = self.announce("sonos/kitchen/clip",
                                 '{"id": "bell", "url": "%s"}' % files.url("/doorbell.wav"),
                                 "bell")
        self.assertEqual(final["status"], "done", final)
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "sp", "text": "someone is here"}',
                                 "sp")
        self.assertEqual(final["status"], "done", final)
        urls = [r["url"] for r in kitchen.actions() if r["action"] == "fetch" and r["valid"]]
        # The clip alone (no chime before a clip), then chime followed by the speech.
        self.assertEqual(urls[0], files.url("/doorbell.wav"))
        self.assertEqual(urls[1], files.url("/chime.wav"))
        self.assertIn("/clips/", urls[2])
        self.assertEqual(len(urls), 3)
        # A 0.2 s chime is seen to end: the speech follows it at once, not after a timeout.
        fetched = [r["t"] for r in kitchen.actions() if r["action"] == "fetch" and r["valid"]]
        self.assertLess(fetched[2] - fetched[1], 2.0)

    def test_long_clip_url_reaches_the_speaker_whole(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        files = self.file_server()
        # A long signed URL (a CDN's, a Home Assistant media proxy's): 2048 bytes, the limit.
        prefix = files.url("/")
        path = "/" + "a" * (2048 - len(prefix) - len(".wav")) + ".wav"
        url = files.add(path, harness.make_wav(0.5), "audio/wav")
        self.assertEqual(len(url), 2048)
        self.start_online()
        final, _ = self.announce("sonos/kitchen/clip", json.dumps({"id": "lu", "url": url}),
                                 "lu", timeout=60)
        self.assertEqual(final["status"], "done", final)
        fetches = [r for r in kitchen.actions() if r["action"] == "fetch"]
        self.assertEqual([(r["url"], r["valid"]) for r in fetches], [(url, True)])
        # One byte more is refused at once, saying the limit; nothing reaches the speaker.
        final, _ = self.announce("sonos/kitchen/clip",
                                 json.dumps({"id": "lu2", "url": url + "x"}), "lu2")
        self.assertEqual(final["status"], "rejected", final)
        self.assertIn("2048", final["error"])
        self.assertEqual(len(kitchen.actions_named("Play")), 1)

    def test_chime_that_never_plays_does_not_stop_the_speech(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        files = self.file_server()  # knows no /missing.mp3: the speaker gets a 404
        self.start_online(extra={"chime_url": files.url("/missing.mp3")})
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "nc", "text": "hello there"}',
                                 "nc", timeout=60)
        self.assertEqual(final["status"], "done", final)
        self.assertTrue(any("/clips/" in r["url"] for r in kitchen.actions()
                            if r["action"] == "fetch" and r["valid"]))

    def test_requests_waiting_for_their_speaker_play_in_arrival_order(self):
        files = self.file_server()
        urls = [files.add("/%s.wav" % n, harness.make_wav(0.3), "audio/wav")
                for n in ("one", "two", "three")]
        self.start_online()
        mark = self.mq.mark()
        for n, url in enumerate(urls):
            self.mq.publish("sonos/kitchen/clip", json.dumps({"id": "w%d" % n, "url": url}))
        # Kitchen is not known yet: the requests wait for it, and it comes on a moment later.
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        for n in range(3):
            ev = self.mq.wait_event(lambda e, n=n: e.get("id") == "w%d" % n and
                                    e["status"] in ("done", "failed"), 40, after=mark)
            self.assertEqual(ev and ev["status"], "done", ev)
        fetched = [r["url"] for r in kitchen.actions() if r["action"] == "fetch"]
        self.assertEqual(fetched, urls)

    def test_manual_fallback(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen", ssdp=False)
        bridge = self.start_online(speakers=[KITCHEN_IP])
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "m-1", "text": "hello"}', "m-1")
        self.assertEqual(final["status"], "done", final)
        self.assertIn("automatic discovery failed, trying manual configuration",
                      bridge.log_text())
        self.assertTrue(kitchen.actions_named("Play"))

    def test_bad_input_keeps_bridge_running(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_online()
        pids = bridge.worker_pids()

        mark = self.mq.mark()
        self.mq.publish("sonos/kitchen/tts", b"caf\xe9 \xff\xfe")          # not UTF-8
        self.mq.publish("sonos/kitchen/tts", b"")                          # empty
        self.mq.publish("sonos/kitchen/tts", '{"id": "j1", "text": ')      # broken JSON
        self.mq.publish("sonos/kitchen/tts", '{"id": "v1", "text": "x", "volume": 500}')
        # A misspelt option is not ignored in silence (it would play at the wrong volume).
        self.mq.publish("sonos/kitchen/tts", '{"id": "k1", "text": "x", "volumne": 40}')
        rejected = self.mq.wait_for(lambda m: m.topic == "sonos/bridge/event" and
                                    len([e for e in self.mq.events(after=mark)
                                         if e["status"] == "rejected"]) >= 5, 10)
        self.assertTrue(rejected)
        reasons = " | ".join(e.get("error", "") for e in self.mq.events(after=mark))
        self.assertIn("UTF-8", reasons)
        self.assertIn("volume", reasons)
        self.assertIn("unknown key 'volumne'", reasons)

        final, _ = self.announce("sonos/garage/tts", '{"id": "u1", "text": "hi"}', "u1")
        self.assertEqual(final["status"], "failed")
        self.assertIn("garage", final["error"])

        # Still serving: a good request plays, and no worker was restarted.
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "ok", "text": "still here"}', "ok")
        self.assertEqual(final["status"], "done", final)
        self.assertEqual(bridge.worker_pids(), pids)
        self.assertEqual(len(kitchen.actions_named("Play")), 1)

    def test_unreachable_speaker_fails_cleanly(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        kitchen.notify = False     # power loss: no byebye, the bridge still thinks it is there
        kitchen.stop()
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "gone", "text": "anyone"}', "gone")
        self.assertEqual(final["status"], "failed")
        self.assertIn("unreachable", final["error"])
        self.assertIn("refused", final["error"])
        # Back on: the next announcement plays.
        kitchen.start()
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "back", "text": "welcome back"}',
                                 "back")
        self.assertEqual(final["status"], "done", final)

    def test_speaker_gone_mid_announcement_is_failed(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        mark = self.mq.mark()
        self.mq.publish("sonos/kitchen/tts", json.dumps({
            "id": "gone-mid", "text": "a long announcement that the speaker will not finish, "
            "because it loses power in the middle of it"}))
        kitchen.wait_for(lambda r: r["action"] == "fetch" and r["valid"], 20)
        kitchen.notify = False
        kitchen.stop()
        ev = self.mq.wait_event(lambda e: e.get("id") == "gone-mid" and
                                e["status"] in ("done", "failed"), 40, after=mark)
        self.assertEqual(ev["status"], "failed", ev)
        self.assertIn("unreachable during the announcement", ev["error"])

    def test_slow_start_still_plays_the_whole_clip(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        kitchen.set_fetch_delay(5)  # 5 s TRANSITIONING before the clip starts
        final, events = self.announce(
            "sonos/kitchen/tts", '{"id": "slow", "text": "%s"}' % SENTENCE, "slow", timeout=60)
        self.assertEqual(final["status"], "done", final)
        fetch = kitchen.wait_for(lambda r: r["action"] == "fetch" and r["valid"], 1)
        self.assertIsNotNone(fetch, "the clip was fetched")
        # The clip played to its own end before anything else was loaded.
        states = kitchen.states()
        starts = [i for i, s in enumerate(states)
                  if s["state"] == "PLAYING" and s["uri"] == fetch["url"]]
        self.assertEqual(len(starts), 1, states)
        ended = states[starts[0] + 1]
        self.assertEqual((ended["state"], ended["uri"]), ("STOPPED", fetch["url"]),
                         "the clip ended by itself, not replaced by the restore")
        self.assertGreaterEqual(ended["t"] - states[starts[0]]["t"], fetch["duration_s"] - 0.1)

    def test_speaker_that_never_starts_is_failed(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        kitchen.set_fetch_delay(30)  # TRANSITIONING for longer than the start wait
        started = time.monotonic()
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "stuck", "text": "hello"}',
                                 "stuck", timeout=60)
        self.assertEqual(final["status"], "failed", final)
        self.assertIn("never started playing", final["error"])
        self.assertLess(time.monotonic() - started, 25, "the start wait is bounded")

    def test_speaker_that_cannot_reach_advertise_host(self):
        """advertise_host names an address the speakers cannot reach (a bridge in a container
        on a bridge network, say): the speaker is given the URL, never fetches it, and the
        failed event and the log say what to fix instead of only "never started playing"."""
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        # Nothing of the bridge listens on 127.0.0.250 (httpd binds 127.0.0.1).
        bridge = self.start_online(extra={"advertise_host": "127.0.0.250"})
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "nofetch", "text": "hello"}',
                                 "nofetch", timeout=60)
        self.assertEqual(final["status"], "failed", final)
        self.assertIn("never started playing", final["error"])
        self.assertIn("never fetched", final["error"])
        self.assertIn("advertise_host 127.0.0.250", final["error"])
        [fetch] = kitchen.actions_named("fetch")
        self.assertFalse(fetch["valid"], fetch)  # it tried: connection refused
        url = fetch["url"]
        self.assertTrue(url.startswith("http://127.0.0.250:%d/clips/" % bridge.http_port), url)
        line = bridge.wait_log(r"Kitchen never fetched %s: the speakers probably cannot reach "
                               r"advertise_host 127\.0\.0\.250 \(a container without host "
                               r"networking\?" % re.escape(url), 5)
        self.assertIsNotNone(line, "no warning naming the URL and advertise_host")

    def test_speaker_that_fetched_but_never_started_gets_no_advertise_hint(self):
        """The speaker did fetch the clip (httpd saw it) but never played it: the failure says
        so, and does not blame advertise_host."""
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_online()
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        kitchen.set_stall_after_fetch(True)  # fetches the clip, then stays TRANSITIONING
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "fetched", "text": "hello"}',
                                 "fetched", timeout=60)
        self.assertEqual(final["status"], "failed", final)
        self.assertIn("never started playing", final["error"])
        self.assertIn("it fetched the clip", final["error"])
        self.assertNotIn("advertise_host", final["error"])
        self.assertTrue(kitchen.actions_named("fetch"))
        self.assertNotIn("never fetched", bridge.log_text())

    def test_clip_cut_off_by_httpd_stopping_is_played_again(self):
        """httpd stops while the speaker is about to fetch the clip (here: it hangs, SIGSTOP,
        and the supervisor kills and restarts it): the speaker's fetch fails. The clip is on
        disk and a new httpd serves it, so the speaker is asked again and the announcement
        plays, instead of being lost (or blamed on advertise_host)."""
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge = self.start_online()
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        # The speaker fetches only once httpd is stopped; the supervisor kills it 2 to 4 s
        # after that (3 missed health checks), which ends the fetch.
        kitchen.hold_fetches()
        self.addCleanup(kitchen.release_fetches)
        mark = self.mq.mark()
        self.mq.publish("sonos/kitchen/tts", '{"id": "cut", "text": "hello"}')
        self.assertIsNotNone(self.mq.wait_event(
            lambda e: e.get("id") == "cut" and e.get("status") == "playing", 20, after=mark))
        [httpd] = [pid for pid in bridge.worker_pids() if harness.comm(pid) == "sb-httpd"]
        os.kill(httpd, signal.SIGSTOP)
        kitchen.release_fetches()
        try:
            final = self.mq.wait_event(
                lambda e: e.get("id") == "cut" and
                e.get("status") in ("done", "failed", "expired"), 60, after=mark)
        finally:
            try:
                os.kill(httpd, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.assertIsNotNone(final)
        self.assertEqual(final["status"], "done", final)
        # The first fetch was cut off, the second one (from the new httpd) was whole, and the
        # speaker played the clip: Play twice, one terminal event.
        fetches = kitchen.actions_named("fetch")
        self.assertEqual([f["valid"] for f in fetches], [False, True], fetches)
        self.assertEqual(fetches[0]["url"], fetches[1]["url"])
        self.assertEqual(len(kitchen.actions_named("Play")), 2)  # it was idle: no Play to restore
        self.assertIsNotNone(bridge.wait_log(r"Kitchen could not get \S+: httpd was restarted "
                                             r"meanwhile; asking it again", 5))
        self.assertNotIn("never fetched", bridge.log_text())
        time.sleep(0.5)
        self.assertEqual(len([e for e in self.mq.events(after=mark) if e.get("id") == "cut" and
                              e["status"] in ("done", "failed", "expired")]), 1)

    def test_hung_speaker_times_out(self):
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_online()
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        kitchen.set_delay("GetTransportInfo", 20)
        started = time.monotonic()
        final, _ = self.announce("sonos/kitchen/tts", '{"id": "hung", "text": "hello"}', "hung")
        self.assertEqual(final["status"], "failed")
        self.assertIn("timed out", final["error"])
        self.assertLess(time.monotonic() - started, 15, "bounded by the SOAP timeout")
        self.assertEqual(kitchen.actions_named("Play"), [])


class RestoreTest(harness.E2ETestCase):
    """What was playing comes back after the announcement."""

    def setUp(self):
        self.broker = self.start_broker()
        self.mq = self.mqtt(self.broker, subscribe=["sonos/#"])
        self.kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_bridge(self.broker)
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)

    def say(self, request_id, extra=""):
        mark = self.mq.mark()
        self.mq.publish("sonos/kitchen/tts",
                        '{"id": "%s", "text": "coffee is ready"%s}' % (request_id, extra))
        return self.mq.wait_event(lambda e: e.get("id") == request_id and
                                  e["status"] in ("done", "failed"), 40, after=mark)

    def test_queue_resumes_at_track_and_position(self):
        sp = self.kitchen
        sp.set_media(sp.queue_uri, queue_length=5, track=3, rel_time="0:01:00")
        sp.set_transport_state("PLAYING")
        ev = self.say("q1", ', "volume": 45')
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(ev.get("error", ""), "")
        self.assertEqual(sp.current_uri, sp.queue_uri)
        snap = sp.snapshot()
        self.assertEqual(snap["track"], 3)
        self.assertGreaterEqual(snap["position_s"], 60)
        self.assertLess(snap["position_s"], 75)
        self.assertEqual(sp.transport_state, "PLAYING")
        self.assertEqual(sp.volume, 20)
        self.assertEqual([a["args"]["DesiredVolume"] for a in sp.actions_named("SetVolume")],
                         ["45", "20"])
        self.assertEqual(sp.actions_named("SetPlayMode"), [], "NORMAL needs no restore")

    def test_shuffle_comes_back_after_the_announcement(self):
        sp = self.kitchen
        sp.set_media(sp.queue_uri, queue_length=5, track=3, rel_time="0:00:20")
        sp.set_transport_state("PLAYING")
        # Another controller (the Sonos app) turned shuffle on.
        status, _ = harness.soap_call(sp.ip, "AVTransport", "SetPlayMode",
                                      [("InstanceID", 0), ("NewPlayMode", "SHUFFLE")])
        self.assertEqual((status, sp.play_mode), (200, "SHUFFLE"))
        sp.clear_actions()
        ev = self.say("sh1")
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(ev.get("error", ""), "")
        self.assertTrue(any(r["action"] == "fetch" and r["valid"] for r in sp.actions()))
        self.assertEqual(sp.play_mode, "SHUFFLE")
        self.assertEqual(sp.current_uri, sp.queue_uri)
        self.assertEqual(sp.transport_state, "PLAYING")
        # Set once, after the queue was loaded again and before it plays on.
        names = [a["action"] for a in sp.actions()]
        modes = sp.actions_named("SetPlayMode")
        self.assertEqual([a["args"]["NewPlayMode"] for a in modes], ["SHUFFLE"])
        self.assertLess(names.index("SetPlayMode"), len(names) - 1 - names[::-1].index("Play"))

    def test_radio_uri_and_metadata_restored(self):
        sp = self.kitchen
        uri = "x-sonosapi-stream:s17488?sid=254&flags=8224&sn=0"
        meta = ('<DIDL-Lite xmlns:dc="http://purl.org/dc/elements/1.1/" '
                'xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/" '
                'xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/">'
                '<item id="F00092020s17488" parentID="L" restricted="true">'
                '<dc:title>Radio &amp; Talk</dc:title>'
                '<upnp:class>object.item.audioItem.audioBroadcast</upnp:class>'
                '</item></DIDL-Lite>')
        sp.set_media(uri, metadata=meta)
        sp.set_transport_state("PLAYING")
        ev = self.say("r1")
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(sp.current_uri, uri)
        self.assertEqual(sp.current_metadata, meta)
        self.assertEqual(sp.transport_state, "PLAYING")
        self.assertEqual(sp.actions_named("Seek"), [])

    def test_paused_speaker_stays_paused(self):
        sp = self.kitchen
        sp.set_media(sp.queue_uri, queue_length=5, track=2, rel_time="0:00:30")
        sp.set_transport_state("PAUSED_PLAYBACK")
        ev = self.say("p1")
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(sp.current_uri, sp.queue_uri)
        self.assertIn(sp.transport_state, ("PAUSED_PLAYBACK", "STOPPED"))
        plays = sp.actions_named("Play")
        self.assertEqual(len(plays), 1, "only the announcement's own Play")

    def test_fixed_volume_skips_volume_steps(self):
        sp = self.kitchen
        sp.output_fixed = True
        sp.set_media(sp.queue_uri, queue_length=5, track=2)
        sp.set_transport_state("PLAYING")
        ev = self.say("f1", ', "volume": 60')
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(sp.actions_named("SetVolume"), [])
        self.assertEqual(sp.transport_state, "PLAYING")
        self.assertEqual(sp.snapshot()["track"], 2)

    def test_muted_speaker_is_heard_then_muted_again(self):
        sp = self.kitchen
        sp.set_volume(mute=1)
        ev = self.say("mu1")
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual([a["args"]["DesiredMute"] for a in sp.actions_named("SetMute")],
                         ["0", "1"])
        unmute = sp.actions_named("SetMute")[0]["t"]
        play = sp.actions_named("Play")[0]["t"]
        self.assertLess(unmute, play, "unmuted before the announcement played")
        self.assertEqual(sp.mute, 1)

    def test_line_in_restored_without_metadata_or_seek(self):
        sp = self.kitchen
        uri = "x-rincon-stream:%s" % sp.uuid
        sp.set_media(uri, metadata="")
        sp.set_transport_state("PLAYING")
        ev = self.say("l1")
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(sp.current_uri, uri)
        self.assertEqual(sp.transport_state, "PLAYING")
        self.assertEqual(sp.actions_named("Seek"), [])
        restores = sp.actions_named("SetAVTransportURI")
        self.assertEqual(restores[-1]["args"]["CurrentURIMetaData"], "")

    def test_tv_is_not_paused_and_comes_back(self):
        sp = self.kitchen
        uri = "x-sonos-htastream:%s:spdif" % sp.uuid
        sp.set_media(uri, metadata="")
        sp.set_transport_state("PLAYING")
        ev = self.say("tv1")
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(sp.actions_named("Pause"), [])
        self.assertEqual(sp.actions_named("Stop"), [])
        self.assertEqual(sp.current_uri, uri)
        self.assertEqual(sp.transport_state, "PLAYING")

    def test_source_too_long_to_keep_is_reported_not_cut(self):
        sp = self.kitchen
        uri = "http://127.0.0.1:8/" + "s" * 2100 + ".mp3"
        sp.set_media(uri, metadata="")
        sp.set_transport_state("PLAYING")
        ev = self.say("big1")
        self.assertEqual(ev["status"], "done", ev)
        self.assertIn("source not restored", ev.get("error", ""))
        restored = [a["args"]["CurrentURI"] for a in sp.actions_named("SetAVTransportURI")
                    if "/clips/" not in a["args"]["CurrentURI"]]
        self.assertEqual(restored, [], "no cut URI was sent to the speaker")

    def test_cloud_queue_reported_and_next_announcement_works(self):
        sp = self.kitchen
        sp.set_media("x-sonos-vli:%s:1,spotify:5d6a2f0c" % sp.uuid, metadata="")
        sp.set_transport_state("PLAYING")
        ev = self.say("cq1", ', "volume": 45')
        self.assertEqual(ev["status"], "done", ev)
        self.assertIn("714", ev.get("error", ""))
        self.assertIn("not restored", ev["error"])
        self.assertEqual(sp.volume, 20, "the rest of the restore still ran")
        ev = self.say("cq2")
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(ev.get("error", ""), "")


class CrashTest(harness.E2ETestCase):

    def test_playerd_killed_mid_announcement_music_comes_back(self):
        broker = self.start_broker()
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        sp = self.start_speaker(KITCHEN_IP, "Kitchen")
        radio = "x-sonosapi-stream:s17488?sid=254&flags=8224&sn=0"
        sp.set_media(radio, metadata="")
        sp.set_transport_state("PLAYING")
        bridge = self.start_bridge(broker)
        mq.wait_for(lambda m: m.topic == "sonos/kitchen/availability", 15)
        mq.publish("sonos/kitchen/tts", json.dumps({
            "id": "long", "text": "This is a long announcement that takes several seconds to "
            "say, so that the player process can be killed while it plays."}))
        sp.wait_for(lambda r: r["action"] == "fetch" and r["valid"], 20)
        playerd = [pid for pid in bridge.worker_pids()
                   if open("/proc/%d/comm" % pid).read().strip() == "sb-playerd"]
        self.assertEqual(len(playerd), 1)
        os.kill(playerd[0], signal.SIGKILL)
        # The restarted playerd finds the snapshot on disk and puts the radio back.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                sp.current_uri == radio and sp.transport_state == "PLAYING"):
            time.sleep(0.1)
        self.assertEqual(sp.current_uri, radio)
        self.assertEqual(sp.transport_state, "PLAYING")
        ev = mq.wait_event(lambda e: e.get("id") == "long" and
                           e["status"] in ("done", "failed"), 30)
        self.assertIsNotNone(ev, "the request still ends with one terminal event")


class GroupTest(harness.E2ETestCase):
    """Kitchen is a member of Living Room's group, which plays its queue."""

    def setUp(self):
        broker = self.start_broker()
        self.mq = self.mqtt(broker, subscribe=["sonos/#"])
        self.kitchen = self.start_speaker(KITCHEN_IP, "Kitchen", volume=15)
        self.living = self.start_speaker(LIVING_IP, "Living Room", volume=25)
        self.living.set_media(self.living.queue_uri, queue_length=3, track=2,
                              rel_time="0:00:40")
        self.living.set_transport_state("PLAYING")
        self.kitchen.join(self.living)
        self.start_bridge(broker)
        self.mq.wait_for(lambda m: m.topic == "sonos/kitchen/state" and
                         m.json().get("coordinator") == self.living.uuid, 15)

    def say(self, target, request_id, extra=""):
        mark = self.mq.mark()
        self.mq.publish("sonos/%s/tts" % target,
                        '{"id": "%s", "text": "the group hears this"%s}' % (request_id, extra))
        return self.mq.wait_event(lambda e: e.get("id") == request_id and
                                  e["status"] in ("done", "failed"), 40, after=mark)

    def test_member_target_plays_on_coordinator_with_volume_per_member(self):
        ev = self.say("kitchen", "g1", ', "volume": 50')
        self.assertEqual(ev["status"], "done", ev)
        self.assertEqual(ev["speaker"], "Kitchen")
        # The clip went to the coordinator (a member refuses transport actions with 800).
        clip_sets = [a for a in self.living.actions_named("SetAVTransportURI")
                     if "/clips/" in a["args"]["CurrentURI"]]
        self.assertEqual(len(clip_sets), 1)
        self.assertEqual(self.kitchen.actions_named("Play"), [])
        # Volume was set and restored on each member, not taken from the coordinator.
        self.assertEqual([a["args"]["DesiredVolume"] for a in self.kitchen.actions_named("SetVolume")],
                         ["50", "15"])
        self.assertEqual([a["args"]["DesiredVolume"] for a in self.living.actions_named("SetVolume")],
                         ["50", "25"])
        # The group is intact and the queue plays on where it was.
        self.assertEqual(self.kitchen.coordinator, self.living.uuid)
        self.assertEqual(self.living.current_uri, self.living.queue_uri)
        self.assertEqual(self.living.snapshot()["track"], 2)
        self.assertEqual(self.living.transport_state, "PLAYING")

class AllTest(harness.E2ETestCase):
    """sonos/all/tts with Kitchen alone on the radio and Living Room + Dining as one group."""

    RADIO = "x-sonosapi-stream:s17488?sid=254&flags=8224&sn=0"

    def start_house(self, mode, extra=None):
        broker = self.start_broker()
        self.mq = self.mqtt(broker, subscribe=["sonos/#"])
        self.kitchen = self.start_speaker(KITCHEN_IP, "Kitchen", volume=11)
        self.living = self.start_speaker(LIVING_IP, "Living Room", volume=22)
        self.dining = self.start_speaker("127.0.0.4", "Dining", volume=33)
        self.kitchen.set_media(self.RADIO)
        self.kitchen.set_transport_state("PLAYING")
        self.living.set_media(self.living.queue_uri, queue_length=4, track=3)
        self.living.set_transport_state("PLAYING")
        self.dining.join(self.living)
        self.bridge = self.start_bridge(broker, extra=dict(extra or {}, announce_all=mode))
        for room in ("kitchen", "living-room", "dining"):
            self.mq.wait_for(lambda m, r=room: m.topic == "sonos/%s/availability" % r, 15)
        # The bridge knows the groups once the topology is read: Dining's state names its
        # coordinator.
        self.mq.wait_for(lambda m: m.topic == "sonos/dining/state" and
                         m.json().get("coordinator") == self.living.uuid, 15)

    def say_all(self):
        mark = self.mq.mark()
        self.mq.publish("sonos/all/tts", '{"id": "all-1", "text": "dinner is ready", "volume": 40}')
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            finals = [e for e in self.mq.events(after=mark)
                      if e.get("id") == "all-1" and e["status"] in ("done", "failed")]
            if finals and (self.mode == "grouped" or len(finals) >= 2):
                return finals
            time.sleep(0.1)
        self.fail("no terminal event for all-1")

    def check_house_restored(self):
        self.assertEqual(self.kitchen.current_uri, self.RADIO)
        self.assertEqual(self.kitchen.transport_state, "PLAYING")
        self.assertEqual(self.living.current_uri, self.living.queue_uri)
        self.assertEqual(self.living.snapshot()["track"], 3)
        self.assertEqual(self.living.transport_state, "PLAYING")
        self.assertEqual(self.dining.coordinator, self.living.uuid)
        self.assertIsNone(self.kitchen.coordinator if self.kitchen.coordinator != self.kitchen.uuid
                          else None)
        self.assertEqual((self.kitchen.volume, self.living.volume, self.dining.volume),
                         (11, 22, 33))
        for sp, vol in ((self.kitchen, "11"), (self.living, "22"), (self.dining, "33")):
            self.assertEqual([a["args"]["DesiredVolume"] for a in sp.actions_named("SetVolume")],
                             ["40", vol], sp.room)

    def fetches(self):
        return [r for sp in (self.kitchen, self.living, self.dining)
                for r in sp.actions() if r["action"] == "fetch"]

    def test_parallel(self):
        self.mode = "parallel"
        self.start_house("parallel")
        finals = self.say_all()
        self.assertEqual(sorted(e["status"] for e in finals), ["done", "done"], finals)
        # One stream per group: Kitchen and the Living Room group's coordinator.
        fetches = self.fetches()
        self.assertEqual(len(fetches), 2)
        # At the same time, not one group after the other: each began before the other's
        # clip was over.
        starts = [r["t"] for r in fetches]
        ends = [r["t"] + r["duration_s"] for r in fetches]
        self.assertLess(max(starts), min(ends), fetches)
        self.check_house_restored()

    def test_grouped_waits_for_and_holds_other_announcements(self):
        self.mode = "grouped"
        self.start_house("grouped")
        mark = self.mq.mark()
        # A long room announcement first, the grouped one while it plays, and a doorbell for
        # Kitchen while the grouped one plays: each runs alone, the house ends as it was.
        self.mq.publish("sonos/living-room/tts", '{"id": "r1", "text": "%s"}' %
                        "this is a rather long announcement for the living room only")
        self.living.wait_for(lambda r: r["action"] == "fetch" and r["valid"], 20)
        self.mq.publish("sonos/all/tts", '{"id": "all-1", "text": "dinner is ready"}')
        self.mq.publish("sonos/kitchen/tts", '{"id": "k1", "text": "door"}')
        done = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(done) < 3:
            for e in self.mq.events(after=mark):
                if e["status"] in ("done", "failed"):
                    done[e["id"]] = e
            time.sleep(0.1)
        self.assertEqual({k: v["status"] for k, v in done.items()},
                         {"r1": "done", "all-1": "done", "k1": "done"})
        self.assertLess(done["r1"]["timestamp"], done["all-1"]["timestamp"])
        self.assertLess(done["all-1"]["timestamp"], done["k1"]["timestamp"])
        self.assertEqual(self.kitchen.current_uri, self.RADIO)
        self.assertEqual(self.kitchen.transport_state, "PLAYING")
        self.assertEqual(self.dining.coordinator, self.living.uuid)
        self.assertEqual(self.living.current_uri, self.living.queue_uri)

    def test_grouped_playerd_killed_midway_house_comes_back(self):
        self.mode = "grouped"
        self.start_house("grouped")
        self.mq.publish("sonos/all/tts", json.dumps({
            "id": "all-long", "text": "This is a long announcement for the whole house, long "
            "enough for the player process to be killed while it plays."}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                r["action"] == "fetch" and r["valid"]
                for sp in (self.kitchen, self.living, self.dining) for r in sp.actions()):
            time.sleep(0.05)
        playerd = [pid for pid in self.bridge.worker_pids()
                   if open("/proc/%d/comm" % pid).read().strip() == "sb-playerd"]
        os.kill(playerd[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                self.kitchen.current_uri == self.RADIO and
                self.kitchen.transport_state == "PLAYING" and
                self.dining.coordinator == self.living.uuid and
                self.living.current_uri == self.living.queue_uri and
                self.living.transport_state == "PLAYING"):  # Play comes after the queue
            time.sleep(0.1)
        self.assertEqual(self.kitchen.current_uri, self.RADIO)
        self.assertEqual(self.kitchen.transport_state, "PLAYING")
        self.assertEqual(self.dining.coordinator, self.living.uuid)
        self.assertEqual(self.living.current_uri, self.living.queue_uri)
        self.assertEqual(self.living.transport_state, "PLAYING")

    def test_grouped_plays_the_chime_first(self):
        self.mode = "grouped"
        files = self.file_server()
        chime = files.add("/chime.wav", harness.make_wav(0.2), "audio/wav")
        self.start_house("grouped", extra={"chime_url": chime})
        finals = self.say_all()
        self.assertEqual([e["status"] for e in finals], ["done"], finals)
        # The one coordinator everybody joined played the chime, then the speech.
        fetched = [r["url"] for r in self.fetches() if r["valid"]]
        self.assertEqual(len(fetched), 2, fetched)
        self.assertEqual(fetched[0], chime)
        self.assertIn("/clips/", fetched[1])
        self.check_house_restored()

    def test_grouped(self):
        self.mode = "grouped"
        self.start_house("grouped")
        finals = self.say_all()
        self.assertEqual([e["status"] for e in finals], ["done"], finals)
        self.assertEqual(finals[0].get("error", ""), "")
        # One synchronized stream: every speaker joined one coordinator, which fetched once.
        self.assertEqual(len(self.fetches()), 1)
        coordinator = [sp for sp in (self.kitchen, self.living, self.dining)
                       if any(r["action"] == "fetch" for r in sp.actions())][0]
        for sp in (self.kitchen, self.living, self.dining):
            if sp is not coordinator:
                joins = [a for a in sp.actions_named("SetAVTransportURI")
                         if a["args"]["CurrentURI"] == "x-rincon:%s" % coordinator.uuid]
                self.assertTrue(joins or sp.coordinator == coordinator.uuid, sp.room)
        self.check_house_restored()


if __name__ == "__main__":
    unittest.main()
