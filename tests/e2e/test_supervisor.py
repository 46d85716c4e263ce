"""test_supervisor.py -- the supervisor under real signals: readiness, restarts, health checks,
the restart intensity limit, bad configuration, the status socket and the user verbs.

Real processes (the bridge, mosquitto, an emulated speaker), real signals (kill -9, SIGSTOP,
SIGHUP), every wait bounded. What is asserted is what a user sees: the exit status and output of
`sonos-bridge status` / `healthcheck`, the process table, the broker's own log and the MQTT
events."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import unittest

import harness

KITCHEN_IP = "127.0.0.2"
WORKERS = ("mqttd", "discoveryd", "playerd", "httpd")


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def processes_using(path):
    """pids of live processes whose command line mentions path (our bridge's config file)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if path in cmdline and pid_alive(int(entry)):
            found.append(int(entry))
    return found


class SupervisorTest(harness.E2ETestCase):

    # -- helpers -------------------------------------------------------------------------

    def cli(self, bridge, *args, timeout=10):
        """Run `sonos-bridge <args> --config <the bridge's file>`: (status, stdout, stderr)."""
        r = subprocess.run([bridge.binary] + list(args) + ["--config", bridge.config_path],
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def status(self, bridge):
        """The status document as a dict, or None when the bridge does not answer."""
        rc, out, _ = self.cli(bridge, "status", "--json")
        if rc != 0:
            return None
        return json.loads(out)

    def wait_status(self, bridge, predicate, timeout):
        """The first status document for which predicate(doc) is true, or None."""
        def check():
            doc = self.status(bridge)
            try:
                return doc if doc is not None and predicate(doc) else None
            except (KeyError, TypeError):
                return None
        return harness.wait_until(check, timeout, 0.1)

    def wait_healthy(self, bridge, timeout=20):
        ok = harness.wait_until(lambda: self.cli(bridge, "healthcheck")[0] == 0, timeout, 0.2)
        self.assertTrue(ok, "bridge not healthy within %d s: %s" % (
            timeout, self.cli(bridge, "healthcheck")[1]))
        return self.status(bridge)

    def start_healthy(self, broker, **kw):
        bridge = self.start_bridge(broker, **kw)
        return bridge, self.wait_healthy(bridge)

    def connections_of(self, broker, client_id):
        """How often the broker has accepted a connection with client_id (its own log)."""
        return len(re.findall(r"New client connected from \S+ as %s\b" % re.escape(client_id),
                              broker.log_text()))

    def wait_restarted(self, bridge, name, old_pid, restarts_before, timeout=15):
        """Wait until worker name runs again under a new pid and is ready; returns its entry."""
        doc = self.wait_status(
            bridge, lambda d: d["workers"][name]["state"] == "ready" and
            d["workers"][name]["pid"] not in (None, old_pid) and
            d["workers"][name]["restarts"] > restarts_before, timeout)
        self.assertIsNotNone(doc, "%s not restarted and ready within %d s: %s" % (
            name, timeout, self.status(bridge)))
        return doc["workers"][name]

    # -- tests ---------------------------------------------------------------------------

    def test_status_matches_reality_and_healthcheck_follows_the_broker(self):
        broker = self.start_broker()
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge, doc = self.start_healthy(broker)

        # Every worker is a child of the supervisor, named for ps, under the pid status shows.
        children = set(bridge.worker_pids())
        self.assertEqual(doc["pid"], bridge.pid)
        self.assertEqual(set(doc["workers"]), set(WORKERS))
        for name in WORKERS:
            w = doc["workers"][name]
            self.assertEqual(w["state"], "ready", w)
            self.assertIn(w["pid"], children)
            self.assertEqual(proc_comm(w["pid"]), "sb-" + name)
            self.assertEqual(w["restarts"], 0)
            self.assertIsNone(w["last_exit"])
            self.assertIsInstance(w["health"], dict, w)
            self.assertLess(w["health_age_ms"], 5000)
        self.assertEqual(len(children), 4, children)
        self.assertTrue(doc["version"])
        self.assertGreater(doc["uptime_ms"], 0)
        mqttd = doc["workers"]["mqttd"]["health"]
        self.assertIs(mqttd["broker_connected"], True)
        self.assertEqual(mqttd["broker"], "127.0.0.1:%d" % broker.port)
        # A fresh client id: the broker had no session to resume.
        self.assertIs(mqttd["session_present"], False, mqttd)
        # The client id mqttd reports is the one the broker has seen.
        self.assertEqual(self.connections_of(broker, mqttd["client_id"]), 1)

        # The speaker shows up in discoveryd's facts and in the readable table.
        doc = self.wait_status(bridge, lambda d: d["workers"]["discoveryd"]["health"]
                               ["speakers_known"] == 1, 15)
        self.assertIsNotNone(doc)
        sp = doc["workers"]["discoveryd"]["health"]["speakers"][0]
        self.assertEqual((sp["room"], sp["uuid"], sp["ip"]), ("Kitchen", kitchen.uuid, KITCHEN_IP))
        rc, table, _ = self.cli(bridge, "status")
        self.assertEqual(rc, 0)
        for name in WORKERS:
            self.assertRegex(table, r"(?m)^%s\s+ready\s+%d\b" % (name, doc["workers"][name]["pid"]))
        self.assertIn(kitchen.uuid, table)
        self.assertRegex(table, r"Kitchen\s+127\.0\.0\.2:1400")

        # The status socket is private.
        st = os.stat(os.path.join(bridge.runtime_dir, "status.sock"))
        self.assertEqual(st.st_mode & 0o777, 0o600)

        rc, out, _ = self.cli(bridge, "healthcheck")
        self.assertEqual((rc, out.count("\n")), (0, 1), out)
        self.assertIn("healthy", out)

        # Broker down: mqttd keeps retrying (still ready), but the bridge is not healthy.
        broker.stop()
        self.assertTrue(harness.wait_until(lambda: self.cli(bridge, "healthcheck")[0] == 1, 10))
        rc, out, _ = self.cli(bridge, "healthcheck")
        self.assertEqual(rc, 1)
        self.assertIn("mqttd is not connected to the broker 127.0.0.1:%d" % broker.port, out)
        self.assertEqual(out.count("\n"), 1, out)
        doc = self.status(bridge)
        self.assertEqual(doc["workers"]["mqttd"]["state"], "ready")
        self.assertEqual(doc["workers"]["mqttd"]["restarts"], 0)
        broker.start()
        self.wait_healthy(bridge, 30)

        # SIGTERM: exit 0 within a few seconds, offline published (retained), no process left.
        t0 = time.monotonic()
        bridge.signal(signal.SIGTERM)
        bridge.proc.wait(10)
        self.assertEqual(bridge.proc.returncode, 0)
        self.assertLess(time.monotonic() - t0, 8)
        after = self.mqtt(broker, subscribe=["sonos/bridge/state"])
        self.assertIsNotNone(after.wait_topic("sonos/bridge/state", 5, text="offline"))
        self.assertEqual(processes_using(bridge.config_path), [])

        # Not running: healthcheck and status say so.
        rc, out, _ = self.cli(bridge, "healthcheck")
        self.assertEqual(rc, 1)
        self.assertIn("not running", out)
        rc, _, err = self.cli(bridge, "status")
        self.assertEqual(rc, 1)
        self.assertIn("not running", err)

    def test_a_twin_on_our_client_id_is_named_and_not_fought(self):
        """Another host runs a copy of our state directory: the broker gives the client id to
        whoever connected last, and each side kicks the other off (mosquitto's "disconnect
        code 7" loop). The bridge says so once in its log and in status, and holds off
        instead of taking the id back every second."""
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        client_id = doc["workers"]["mqttd"]["health"]["client_id"]
        # paho reconnects within 0.2..2 s whenever it is kicked off: an eager twin.
        self.mqtt(broker, client_id=client_id, clean_session=False)
        doc = self.wait_status(bridge, lambda d: d["workers"]["mqttd"]["health"]["twin_suspected"],
                               60)
        self.assertIsNotNone(doc, "no twin_suspected in status: %s" % self.status(bridge))
        found = r"another client is probably using client id %s" % re.escape(client_id)
        self.assertEqual(len(re.findall(found, bridge.log_text())), 1)
        self.assertIn("ANOTHER CLIENT USES OUR CLIENT ID", self.cli(bridge, "status")[1])
        # Holding off (minutes between attempts): the broker sees the id connect at most
        # once more in the next 10 s (the twin coming back from the last kick), not 10 times.
        before = self.connections_of(broker, client_id)
        time.sleep(10)
        self.assertLessEqual(self.connections_of(broker, client_id) - before, 1)
        self.assertEqual(len(re.findall(found, bridge.log_text())), 1)

    def test_kill9_each_worker_is_restarted_without_dropping_the_broker(self):
        broker = self.start_broker()
        self.start_speaker(KITCHEN_IP, "Kitchen")
        bridge, doc = self.start_healthy(broker)
        client_id = doc["workers"]["mqttd"]["health"]["client_id"]
        self.assertEqual(self.connections_of(broker, client_id), 1)

        for name in ("discoveryd", "playerd", "httpd", "mqttd"):
            w = self.status(bridge)["workers"][name]
            os.kill(w["pid"], signal.SIGKILL)
            after = self.wait_restarted(bridge, name, w["pid"], w["restarts"])
            self.assertEqual(after["restarts"], w["restarts"] + 1)
            self.assertEqual(after["last_exit"]["signal_name"], "KILL", after)
            self.assertFalse(pid_alive(w["pid"]))
            self.assertEqual(proc_comm(after["pid"]), "sb-" + name)
            if name != "mqttd":
                # The broker saw no reconnect: mqttd's session was never touched.
                self.assertEqual(self.connections_of(broker, client_id), 1,
                                 "killing %s made mqttd reconnect" % name)
        # The check above can fail: killing mqttd itself is seen by the broker.
        self.assertTrue(harness.wait_until(lambda: self.connections_of(broker, client_id) == 2, 10))
        self.wait_healthy(bridge)
        # Only the supervisor's four children, no orphan from the killed ones.
        self.assertEqual(len(bridge.worker_pids()), 4)
        self.assertEqual(len(processes_using(bridge.config_path)), 5)

    def test_a_dead_worker_shows_no_health_until_its_successor_answers(self):
        """The health facts belong to a process: once it is gone, a worker backing off shows
        none (a dead mqttd must not read "broker_connected": true for 30 s)."""
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        httpd = doc["workers"]["httpd"]
        self.assertIsInstance(httpd["health"], dict, httpd)
        # Kill httpd and take its port while the supervisor is stopped: a young worker killed
        # is restarted after a delay, and a successor that cannot listen backs off in turn.
        os.kill(bridge.pid, signal.SIGSTOP)
        try:
            os.kill(httpd["pid"], signal.SIGKILL)
            blocker = socket.socket()
            self.addCleanup(blocker.close)
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

            def take_port():  # free once the last of httpd's threads is gone
                try:
                    blocker.bind(("127.0.0.1", bridge.http_port))
                    return True
                except OSError:
                    return False
            self.assertTrue(harness.wait_until(take_port, 5, 0.02))
            blocker.listen(1)
        finally:
            os.kill(bridge.pid, signal.SIGCONT)
        backing = self.wait_status(
            bridge, lambda d: d["workers"]["httpd"]["state"] == "backing-off", 10)
        self.assertIsNotNone(backing, self.status(bridge))
        w = backing["workers"]["httpd"]
        self.assertIsNone(w["health"], w)
        self.assertIsNone(w["health_age_ms"], w)
        # Why it went is still there (the kill, or the successor that could not listen).
        self.assertIsNotNone(w["last_exit"], w)
        blocker.close()
        back = self.wait_status(bridge, lambda d: d["workers"]["httpd"]["state"] == "ready" and
                                isinstance(d["workers"]["httpd"]["health"], dict), 15)
        self.assertIsNotNone(back, self.status(bridge))

    def test_worker_restart_is_invisible_to_home_automation(self):
        # A restarted discoveryd or mqttd knows no speakers for a moment. What it says then
        # must not reach the broker: Home Assistant would see every speaker go unavailable,
        # and bridge/info would say there are none.
        broker = self.start_broker()
        self.start_speaker(KITCHEN_IP, "Kitchen")
        self.start_speaker("127.0.0.3", "Living Room")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge, _ = self.start_healthy(broker)
        for slug in ("kitchen", "living-room"):
            self.assertIsNotNone(mq.wait_topic("sonos/%s/availability" % slug, 20,
                                               text="online"))
        for name in ("discoveryd", "mqttd"):
            mark = mq.mark()
            w = self.status(bridge)["workers"][name]
            os.kill(w["pid"], signal.SIGKILL)
            self.wait_restarted(bridge, name, w["pid"], w["restarts"])
            if name == "mqttd":  # a new mqttd publishes bridge/info again, once it knows
                self.assertIsNotNone(mq.wait_for(
                    lambda m: m.topic == "sonos/bridge/info" and
                    len(m.json().get("speakers", [])) == 2, 10, after=mark),
                    "bridge/info never listed both speakers again")
            time.sleep(4)  # past discoveryd's topology grace
            said = [(m.topic, m.text) for m in mq.messages[mark:]]
            self.assertNotIn(("sonos/kitchen/availability", "offline"), said, name)
            self.assertNotIn(("sonos/living-room/availability", "offline"), said, name)
            infos = [m.json() for m in mq.messages[mark:] if m.topic == "sonos/bridge/info"]
            self.assertTrue(all(len(i.get("speakers", [])) == 2 for i in infos),
                            "%s restart: bridge/info %s" % (name, [len(i.get("speakers", []))
                                                                   for i in infos]))

    def test_kill9_during_an_announcement(self):
        broker = self.start_broker()
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge, _ = self.start_healthy(broker)
        self.wait_status(bridge, lambda d: d["workers"]["playerd"]["health"]["speakers_known"] == 1, 15)

        for n, name in enumerate(("discoveryd", "httpd", "mqttd")):
            rid = "kill-%s" % name
            mark = mq.mark()
            before = self.status(bridge)["workers"][name]
            mq.publish("sonos/kitchen/tts", {"id": rid, "text": "announcement number %d, with "
                                             "%s killed while it plays" % (n, name)})
            self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == rid and
                                               e.get("status") == "playing", 30, after=mark))
            os.kill(before["pid"], signal.SIGKILL)
            final = mq.wait_event(lambda e: e.get("id") == rid and
                                  e.get("status") in ("done", "failed"), 40, after=mark)
            self.assertIsNotNone(final, "%s: no terminal event after kill -9" % name)
            self.wait_restarted(bridge, name, before["pid"], before["restarts"])
            # Whatever happened, the speaker is not left wedged: the next one plays.
            rid2 = rid + "-next"
            mark = mq.mark()
            mq.publish("sonos/kitchen/tts", {"id": rid2, "text": "and the next one"})
            final = mq.wait_event(lambda e: e.get("id") == rid2 and
                                  e.get("status") in ("done", "failed"), 40, after=mark)
            self.assertEqual((final or {}).get("status"), "done", final)
        self.assertTrue(kitchen.actions_named("Play"))

    def test_kill9_playerd_during_an_announcement(self):
        # mqttd keeps the request until playerd reports it finished and re-sends it to the
        # restarted playerd, which finishes it (or says why not).
        broker = self.start_broker()
        self.start_speaker(KITCHEN_IP, "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge, _ = self.start_healthy(broker)
        self.wait_status(bridge, lambda d: d["workers"]["playerd"]["health"]["speakers_known"] == 1, 15)
        mark = mq.mark()
        before = self.status(bridge)["workers"]["playerd"]
        mq.publish("sonos/kitchen/tts", {"id": "kill-playerd", "text": "playerd dies during this "
                                         "announcement, which is long enough to be seen in "
                                         "the status while it plays on the kitchen speaker"})
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "kill-playerd" and
                                           e.get("status") == "playing", 30, after=mark))
        # The status names the announcement in flight and its speaker.
        seen = self.wait_status(bridge, lambda d: any(
            q.get("playing") == "kill-playerd" and q.get("speaker") == "Kitchen"
            for q in d["workers"]["playerd"]["health"]["queues"]), 5)
        self.assertIsNotNone(seen, "status does not show the announcement in flight")
        self.assertIn("Kitchen: playing kill-playerd", self.cli(bridge, "status")[1])
        os.kill(before["pid"], signal.SIGKILL)
        final = mq.wait_event(lambda e: e.get("id") == "kill-playerd" and
                              e.get("status") in ("done", "failed"), 60, after=mark)
        self.assertIsNotNone(final, "no terminal event after playerd was killed")
        self.wait_restarted(bridge, "playerd", before["pid"], before["restarts"])

        # SIGTERM while an announcement plays: exit 0 within a few seconds, nothing left.
        mark = mq.mark()
        mq.publish("sonos/kitchen/tts", {"id": "stop-during", "text": "the bridge stops while "
                                         "this sentence is being played on the kitchen speaker"})
        self.assertIsNotNone(mq.wait_event(lambda e: e.get("id") == "stop-during" and
                                           e.get("status") == "playing", 30, after=mark))
        t0 = time.monotonic()
        bridge.signal(signal.SIGTERM)
        bridge.proc.wait(15)
        self.assertEqual(bridge.proc.returncode, 0)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(processes_using(bridge.config_path), [])
        # The announcement cut short is reported before the bridge goes: mqttd stops last,
        # so playerd's event still reaches the broker (not only after the next start).
        final = mq.wait_event(lambda e: e.get("id") == "stop-during" and
                              e.get("status") in ("done", "failed"), 5, after=mark)
        self.assertIsNotNone(final, "no terminal event published before the bridge stopped")

    def test_sigstop_worker_is_detected_killed_and_restarted(self):
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        w = doc["workers"]["httpd"]
        os.kill(w["pid"], signal.SIGSTOP)
        try:
            # A stopped process answers nothing: unhealthy first, then killed and replaced.
            seen = self.wait_status(bridge, lambda d: d["workers"]["httpd"]["state"] == "unhealthy", 10)
            self.assertIsNotNone(seen, "a stopped httpd was never reported unhealthy")
            self.assertGreaterEqual(seen["workers"]["httpd"]["missed_health_checks"], 1)
            rc, out, _ = self.cli(bridge, "healthcheck")
            self.assertEqual(rc, 1)
            self.assertIn("httpd", out)
            after = self.wait_restarted(bridge, "httpd", w["pid"], w["restarts"], 20)
        finally:
            if pid_alive(w["pid"]):
                os.kill(w["pid"], signal.SIGKILL)
        self.assertTrue(harness.wait_until(lambda: not pid_alive(w["pid"]), 5))
        self.assertIsNotNone(bridge.wait_log(r"httpd \(pid %d\): missed 3 health checks in a row"
                                             % w["pid"], 1))
        self.assertNotEqual(after["pid"], w["pid"])
        # It exited 0 on the SIGTERM it was sent; the status says why it was stopped.
        self.assertIn("missed 3 health checks", (after["last_exit"] or {}).get("reason", ""),
                      after["last_exit"])
        self.wait_healthy(bridge)
        # The others were never touched.
        now = self.status(bridge)["workers"]
        for name in ("mqttd", "discoveryd", "playerd"):
            self.assertEqual(now[name]["pid"], doc["workers"][name]["pid"])

    def stop_every_worker(self, pids, seconds):
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            for p in pids:
                try:
                    os.kill(p, signal.SIGCONT)
                except ProcessLookupError:  # stopped by the supervisor meanwhile
                    pass

    def test_every_worker_silent_for_4_s_reopens_the_health_socket_and_restarts_nobody(self):
        # Four processes going quiet at once points at the supervisor's end of the health
        # socket, not at them: it reopens its socket instead of stopping every worker (and
        # with mqttd the broker session). Counted as misses, 4 s would be 3 in a row.
        broker = self.start_broker()
        mq = self.mqtt(broker, subscribe=["sonos/bridge/state"])
        bridge, doc = self.start_healthy(broker)
        doc = self.wait_status(bridge, lambda d: d["health_connections"] == 4, 5)
        self.assertIsNotNone(doc, self.status(bridge))
        pids = {n: doc["workers"][n]["pid"] for n in WORKERS}
        mark = mq.mark()
        self.stop_every_worker(pids.values(), 4.0)
        self.assertIsNotNone(bridge.wait_log(
            r"supervisor\[\d+\] warn: health_reopen: health check \d+: 0 of 4 workers answered, "
            r"4 connected to the health socket \(0 late and 0 stale answers\): reopening the "
            r"health socket", 1))
        # The workers dial the new socket and answer on it: none misses 3 in the rounds after.
        time.sleep(5)
        after = self.wait_status(bridge, lambda d: all(
            d["workers"][n]["state"] == "ready" for n in WORKERS) and
            d["health_connections"] == 4, 10)
        self.assertIsNotNone(after, self.status(bridge))
        for n in WORKERS:
            self.assertEqual(after["workers"][n]["pid"], pids[n], n)
            self.assertEqual(after["workers"][n]["restarts"], 0, n)
            self.assertLess(after["workers"][n]["health_age_ms"], 2500, after["workers"][n])
        self.assertNotIn("missed 3 health checks", bridge.log_text())
        self.assertIsNone(mq.wait_topic("sonos/bridge/state", 0.5, after=mark, text="offline"))
        self.wait_healthy(bridge)

    def test_health_socket_file_deleted_is_made_again_when_a_worker_cannot_dial_it(self):
        # A cleaner of /tmp (or a person) deletes the socket file: the workers connected stay
        # connected, but a restarted one cannot dial in. Its second miss, with fewer
        # connections than workers, reopens the socket instead of restarting it in a loop.
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        path = os.path.join(bridge.runtime_dir, "supervisor.health")
        self.assertTrue(os.path.exists(path))
        os.unlink(path)
        httpd = doc["workers"]["httpd"]
        os.kill(httpd["pid"], signal.SIGKILL)
        self.assertIsNotNone(bridge.wait_log(
            r"warn: health_reopen: health check \d+: 3 of 4 workers answered, 3 connected to "
            r"the health socket \(0 late and 0 stale answers\): reopening the health socket", 15),
            bridge.log_text()[-3000:])
        self.assertTrue(os.path.exists(path))
        after = self.wait_status(bridge, lambda d: d["health_connections"] == 4 and all(
            d["workers"][n]["state"] == "ready" for n in WORKERS), 10)
        self.assertIsNotNone(after, self.status(bridge))
        time.sleep(4)  # long enough for 3 more misses, were it still deaf
        after = self.status(bridge)
        self.assertEqual(after["workers"]["httpd"]["restarts"], 1, after["workers"]["httpd"])
        self.assertLess(after["workers"]["httpd"]["health_age_ms"], 2500, after["workers"]["httpd"])
        for n in ("mqttd", "discoveryd", "playerd"):
            self.assertEqual(after["workers"][n]["pid"], doc["workers"][n]["pid"], n)
        self.assertNotIn("missed 3 health checks", bridge.log_text())
        self.wait_healthy(bridge)

    def test_every_worker_silent_for_10_s_is_still_restarted(self):
        # The reopening is not a way to hide hung workers: once per 10 rounds, and the misses
        # after it count.
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        pids = {n: doc["workers"][n]["pid"] for n in WORKERS}
        self.stop_every_worker(pids.values(), 10.0)
        for n in WORKERS:
            self.wait_restarted(bridge, n, pids[n], 0, 20)
        self.assertEqual(len(re.findall(r"reopening the health socket", bridge.log_text())), 1)
        for n in WORKERS:
            self.assertIsNotNone(bridge.wait_log(r"%s \(pid %d\): missed 3 health checks in a "
                                                 r"row" % (n, pids[n]), 1), n)
        self.wait_healthy(bridge)

    def test_worker_crashing_at_start_trips_the_intensity_limit(self):
        broker = self.start_broker()
        # httpd cannot bind its port: it exits 1 at every start.
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        bridge = self.start_bridge(broker, extra={"http_port": blocker.getsockname()[1],
                                                  "restart_intensity": 3,
                                                  "restart_period_s": 60})
        # While it waits to try again, status and healthcheck say so.
        doc = self.wait_status(bridge, lambda d: d["workers"]["httpd"]["state"] == "backing-off", 15)
        self.assertIsNotNone(doc)
        self.assertEqual(doc["workers"]["httpd"]["last_exit"]["status"], 1)
        self.assertIn("cannot listen", doc["workers"]["httpd"]["last_exit"]["reason"])
        rc, out, _ = self.cli(bridge, "healthcheck")
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"^unhealthy: httpd is backing-off \(\d+ restarts, last exit: status 1\)\n$")
        try:
            bridge.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.fail("the supervisor did not give up within 40 s")
        self.assertEqual(bridge.proc.returncode, 3)
        log = bridge.log_text()
        self.assertEqual(len(re.findall(r"started httpd \(pid", log)), 4, log[-3000:])
        self.assertIn("httpd restarted more than 3 times in 60 s", log)
        self.assertIn("cannot listen on 127.0.0.1 port %d" % blocker.getsockname()[1], log)
        # Nothing left behind, and the status socket is gone.
        self.assertTrue(harness.wait_until(lambda: processes_using(bridge.config_path) == [], 5),
                        processes_using(bridge.config_path))
        self.assertFalse(os.path.exists(os.path.join(bridge.runtime_dir, "status.sock")))

    def test_bad_configuration_in_a_worker_stops_the_bridge_with_its_reason(self):
        broker = self.start_broker()
        bridge = self.start_bridge(broker, extra={"tts_voice": "xx-no-such-voice"})
        try:
            bridge.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.fail("the supervisor did not stop on a worker's bad configuration")
        self.assertEqual(bridge.proc.returncode, 78)
        log = bridge.log_text()
        # The supervisor's own last word carries the worker's reason.
        self.assertRegex(log, r"supervisor\[\d+\] error: supervise: stopped \(status 78\): httpd "
                         r"reports a bad configuration: exit 78: tts_voice 'xx-no-such-voice'")
        self.assertEqual(len(re.findall(r"started httpd \(pid", log)), 1)
        self.assertTrue(harness.wait_until(lambda: processes_using(bridge.config_path) == [], 5))

    def test_kill9_supervisor_leaves_no_worker(self):
        broker = self.start_broker()
        mq = self.mqtt(broker, subscribe=["sonos/bridge/state"])
        bridge, doc = self.start_healthy(broker)
        pids = [doc["workers"][n]["pid"] for n in WORKERS]
        mark = mq.mark()
        os.kill(bridge.pid, signal.SIGKILL)
        bridge.proc.wait(5)
        gone = harness.wait_until(lambda: not any(pid_alive(p) for p in pids), 10)
        self.assertTrue(gone, [p for p in pids if pid_alive(p)])
        self.assertEqual(processes_using(bridge.config_path), [])
        # mqttd got SIGTERM from the kernel and said goodbye (or its will did).
        self.assertIsNotNone(mq.wait_topic("sonos/bridge/state", 10, after=mark, text="offline"))
        # A new bridge on the same directories starts at once: no stale lock, no stale socket.
        bridge.start()
        self.wait_healthy(bridge)

    def test_kill9_supervisor_with_a_stopped_worker_leaves_nothing_in_the_way(self):
        # A stopped (or hung) worker cannot act on the parent-death signal: it outlives the
        # supervisor. The next bridge on the same directories must kill it, not trip over
        # its sockets.
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        old_mqttd = doc["workers"]["mqttd"]["pid"]
        os.kill(old_mqttd, signal.SIGSTOP)
        self.addCleanup(lambda: pid_alive(old_mqttd) and os.kill(old_mqttd, signal.SIGKILL))
        os.kill(bridge.pid, signal.SIGKILL)
        bridge.proc.wait(5)
        time.sleep(0.5)
        self.assertTrue(pid_alive(old_mqttd), "expected the stopped mqttd to survive its parent")
        bridge.start()
        after = self.wait_healthy(bridge)
        self.assertFalse(pid_alive(old_mqttd), "the stopped mqttd of the dead bridge still runs")
        self.assertNotEqual(after["workers"]["mqttd"]["pid"], old_mqttd)
        self.assertEqual(after["workers"]["mqttd"]["restarts"], 0, after["workers"]["mqttd"])
        self.assertIn("of an earlier bridge is still running", bridge.log_text())

    def test_second_bridge_on_the_same_state_dir_is_refused(self):
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        second = subprocess.run([bridge.binary, "--config", bridge.config_path],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(second.returncode, 75, second.stderr)
        self.assertIn("another sonos-bridge (pid %d) is running with state_dir %s"
                      % (bridge.pid, bridge.state_dir), second.stderr)
        # A different state_dir but the same runtime_dir (bus sockets) is refused too.
        other = harness.short_tmpdir()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", other]))
        third = subprocess.run([bridge.binary, "--config", bridge.config_path, "--state-dir", other],
                               capture_output=True, text=True, timeout=10)
        self.assertEqual(third.returncode, 75, third.stderr)
        self.assertIn("runtime_dir %s" % bridge.runtime_dir, third.stderr)
        # The first one never noticed.
        self.assertEqual(self.cli(bridge, "healthcheck")[0], 0)
        now = self.status(bridge)
        for name in WORKERS:
            self.assertEqual(now["workers"][name]["pid"], doc["workers"][name]["pid"])

    def test_sighup_restarts_only_the_workers_whose_settings_changed(self):
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        bridge.config["tts_voice"] = "de"
        bridge.write_config()
        bridge.signal(signal.SIGHUP)
        after = self.wait_restarted(bridge, "httpd", doc["workers"]["httpd"]["pid"], 0)
        self.assertIsNotNone(after)
        self.wait_healthy(bridge)
        now = self.status(bridge)["workers"]
        for name in ("mqttd", "discoveryd", "playerd"):
            self.assertEqual(now[name]["pid"], doc["workers"][name]["pid"], name)
        self.assertIsNotNone(bridge.wait_log(r"voice de", 5))
        # A broken file changes nothing and is reported.
        bridge.config["broker_port"] = "not-a-port"
        bridge.write_config()
        bridge.signal(signal.SIGHUP)
        self.assertIsNotNone(bridge.wait_log(r"configuration not reloaded: .*broker_port", 5))
        time.sleep(1)
        bridge.config["broker_port"] = str(broker.port)
        bridge.write_config()  # the CLI reads it too
        again = self.status(bridge)["workers"]
        self.assertEqual({n: again[n]["pid"] for n in WORKERS}, {n: now[n]["pid"] for n in WORKERS})

    def test_sighup_changes_the_log_level_without_restarting_anyone(self):
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker, extra={"log_level": "info"})
        client_id = doc["workers"]["mqttd"]["health"]["client_id"]
        self.assertNotIn(" debug: ", bridge.log_text())
        bridge.config["log_level"] = "debug"
        bridge.write_config()
        bridge.signal(signal.SIGHUP)
        rx = r"(\w+)\[\d+\] info: \w+: log level now debug"
        told = harness.wait_until(
            lambda: set(re.findall(rx, bridge.log_text())) >= set(WORKERS), 5, 0.1)
        self.assertTrue(told, "not every worker took the new level: %s"
                        % re.findall(rx, bridge.log_text()))
        # Debug lines flow from the workers that were already running (each logs the health
        # survey it receives every second).
        self.assertIsNotNone(bridge.wait_log(r"(discoveryd|playerd|httpd|mqttd)\[\d+\] debug: ",
                                             10))
        now = self.status(bridge)["workers"]
        self.assertEqual({n: now[n]["pid"] for n in WORKERS},
                         {n: doc["workers"][n]["pid"] for n in WORKERS})
        self.assertEqual({n: now[n]["restarts"] for n in WORKERS}, {n: 0 for n in WORKERS})
        # The broker session was never dropped for it.
        self.assertEqual(self.connections_of(broker, client_id), 1)
        # And back: debug lines stop.
        bridge.config["log_level"] = "warn"
        bridge.write_config()
        bridge.signal(signal.SIGHUP)
        told = harness.wait_until(
            lambda: len(re.findall(r"\w+\[\d+\] info: \w+: log level now warn",
                                   bridge.log_text())) >= len(WORKERS), 5, 0.1)
        self.assertTrue(told, bridge.log_text()[-2000:])
        time.sleep(1.5)
        quiet_from = len(bridge.log_text())
        time.sleep(3)
        later = bridge.log_text()[quiet_from:]
        self.assertNotRegex(later, r" (debug|info): ", later)

    def test_sighup_with_a_setting_a_worker_refuses_keeps_the_bridge_up(self):
        """A typo in a reloaded file (a voice espeak-ng does not have) must not take a running
        bridge down (exit 78, which systemd does not restart): that worker stays stopped and
        says why, the others go on, and a fixed file brings it back."""
        broker = self.start_broker()
        kitchen = self.start_speaker(KITCHEN_IP, "Kitchen")
        mq = self.mqtt(broker, subscribe=["sonos/#"])
        bridge, doc = self.start_healthy(broker)
        self.assertIsNotNone(mq.wait_topic("sonos/kitchen/availability", 20, text="online"))
        bridge.config["tts_voice"] = "xx-no-such-voice"
        bridge.write_config()
        bridge.signal(signal.SIGHUP)
        failed = self.wait_status(
            bridge, lambda d: d["workers"]["httpd"]["state"] == "failed", 15)
        self.assertIsNotNone(failed, self.status(bridge))
        failed_at = time.monotonic()
        self.assertIn("xx-no-such-voice", failed["workers"]["httpd"]["last_exit"]["reason"])
        self.assertIsNotNone(bridge.wait_log(r"stays stopped until the configuration is fixed", 5))
        time.sleep(2)
        self.assertTrue(bridge.running, "the bridge stopped over one worker's setting")
        now = self.status(bridge)["workers"]
        for name in ("mqttd", "discoveryd", "playerd"):
            self.assertEqual(now[name]["pid"], doc["workers"][name]["pid"], name)
            self.assertEqual(now[name]["state"], "ready", name)
        code, out, err = self.cli(bridge, "healthcheck")
        self.assertEqual(code, 1)
        self.assertIn("httpd", out + err)
        # Speech cannot be made meanwhile: once httpd has been away for 10 s an announcement
        # fails at once, saying so, instead of holding the speaker for the 60 s clip wait;
        # commands work.
        time.sleep(max(0.0, failed_at + 10.5 - time.monotonic()))
        mark = mq.mark()
        mq.publish("sonos/kitchen/tts", json.dumps({"id": "no-httpd", "text": "hello"}))
        mq.publish("sonos/kitchen/set", json.dumps({"id": "vol-1", "volume": 33}))
        ev = mq.wait_event(lambda e: e.get("id") == "no-httpd" and
                           e["status"] in ("done", "failed"), 5, after=mark)
        self.assertIsNotNone(ev, mq.events(after=mark))
        self.assertEqual(ev["status"], "failed", ev)
        self.assertIn("httpd is not running", ev["error"])
        ev = mq.wait_event(lambda e: e.get("id") == "vol-1" and e["status"] != "queued", 5,
                           after=mark)
        self.assertEqual(ev and ev["status"], "done", ev)
        self.assertEqual(kitchen.volume, 33)
        # Fixed and reloaded: back.
        bridge.config["tts_voice"] = "en"
        bridge.write_config()
        bridge.signal(signal.SIGHUP)
        self.wait_healthy(bridge)
        self.assertEqual(self.status(bridge)["workers"]["httpd"]["state"], "ready")
        mark = mq.mark()
        mq.publish("sonos/kitchen/tts", json.dumps({"id": "httpd-back", "text": "hello"}))
        ev = mq.wait_event(lambda e: e.get("id") == "httpd-back" and
                           e["status"] in ("done", "failed"), 30, after=mark)
        self.assertEqual(ev and ev["status"], "done", ev)

    def test_sighup_with_a_new_runtime_dir_keeps_the_workers_where_they_are(self):
        broker = self.start_broker()
        bridge, doc = self.start_healthy(broker)
        bridge.config["runtime_dir"] = bridge.runtime_dir + "-moved"
        bridge.config["tts_voice"] = "de"
        bridge.write_config()
        bridge.signal(signal.SIGHUP)
        self.assertIsNotNone(bridge.wait_log(r"change only when the bridge is restarted", 5))
        # The CLI reads the file too: point it back at the runtime dir the bridge really uses.
        bridge.config["runtime_dir"] = bridge.runtime_dir
        bridge.write_config()
        self.assertIsNotNone(self.wait_restarted(bridge, "httpd",
                                                 doc["workers"]["httpd"]["pid"], 0))
        self.wait_healthy(bridge)
        # A later crash is an ordinary restart, not a bridge that gives up.
        entry = self.status(bridge)["workers"]["discoveryd"]
        os.kill(entry["pid"], signal.SIGKILL)
        self.assertIsNotNone(self.wait_restarted(bridge, "discoveryd", entry["pid"],
                                                 entry["restarts"]))
        settled = self.wait_healthy(bridge)
        # Workers that went elsewhere would miss their health checks (3 s) and be killed.
        time.sleep(6)
        later = self.wait_healthy(bridge)
        self.assertEqual({n: later["workers"][n]["pid"] for n in WORKERS},
                         {n: settled["workers"][n]["pid"] for n in WORKERS})
        self.assertTrue(bridge.running)

    def test_verbs_have_help_and_version(self):
        binary = os.path.join(harness.bin_dir(), "sonos-bridge")
        if not os.access(binary, os.X_OK):
            raise unittest.SkipTest("not built")
        version = subprocess.run([binary, "--version"], capture_output=True, text=True)
        self.assertEqual(version.returncode, 0)
        self.assertRegex(version.stdout, r"^sonos-bridge \d+\.\d+\.\d+\n$")
        for verb, word in (("run", "restart_intensity"), ("status", "--json"),
                           ("healthcheck", "HEALTHCHECK")):
            r = subprocess.run([binary, verb, "--help"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, verb)
            self.assertIn("usage: sonos-bridge", r.stdout)
            self.assertIn(word, r.stdout, verb)
            r = subprocess.run([binary, verb, "--version"], capture_output=True, text=True)
            self.assertEqual(r.stdout, version.stdout)


if __name__ == "__main__":
    unittest.main()
