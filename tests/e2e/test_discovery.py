"""test_discovery.py -- discovery on networks like real ones: households replayed from real
ZoneGroupState captures (a stereo pair with an invisible member, a home theatre with satellites
and a sub), one manual address learning a whole household, a household filter, a speaker that
changes address, speakers off at start or powered off and back (offline within the documented
bound), a controller answering with X-RINCON-PROXY, one host flooding NOTIFYs for ports that
never answer or refuse, and a host with two interfaces of which only one reaches the speakers
(network namespaces and veth pairs, private to the test): a speaker heard only by broadcast, and
NOTIFYs heard after the bridge started and after the interface was deleted and recreated.

Everything is asserted where a user sees it: the retained availability topics, the speakers
listed in sonos/bridge/info, and which emulated speaker actually played an announcement."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

import harness
from sonos_speaker import captured_topology

STEREO = "node-sonos-ts/zone-group.GroupState.ChannelMapSet.stereo.xml"
HOME_THEATRE = "node-sonos-ts/zone-group.GroupState.ChannelMapSet.home-theater.xml"

# The stereo pair "Office": the left speaker is the visible one and the coordinator.
OFFICE_LEFT, OFFICE_RIGHT = "RINCON_FFFFFFFFFFFFFFFF0", "RINCON_FFFFFFFFF0000FFF0"
# The home theatre "Downstairs": a bar with two surrounds and a sub ("Sub"), and "Upstairs".
BAR, UPSTAIRS = "RINCON_FFFFFFFFFFFFFFFF0", "RINCON_FFFFFFFFFFFF0FFFF"
HOME_THEATRE_SET = [  # (capture address, emulated address, uuid, room in its description)
    ("192.168.4.2", "127.0.0.2", BAR, "Downstairs"),
    ("192.168.4.3", "127.0.0.3", "RINCON_FFFFFFFFFFFFFFF0F", "Downstairs"),
    ("192.168.4.4", "127.0.0.4", "RINCON_FFFFFFFFFFFFFF0FF", "Sub"),
    ("192.168.4.5", "127.0.0.5", "RINCON_FFFFFFFFFFFFF0FFF", "Downstairs"),
    ("192.168.4.6", "127.0.0.6", UPSTAIRS, "Upstairs"),
]


class DiscoveryCase(harness.E2ETestCase):

    def setUp(self):
        self.broker = self.start_broker()
        self.mq = self.mqtt(self.broker, subscribe=["sonos/#"])

    def info_speakers(self):
        """The speakers of the last sonos/bridge/info: {uuid: entry}."""
        m = self.mq.last("sonos/bridge/info")
        info = m.json() if m else None
        return {s["uuid"]: s for s in (info or {}).get("speakers", [])}

    def wait_info(self, predicate, timeout=20):
        """Wait until the speakers of sonos/bridge/info satisfy predicate({uuid: entry})."""
        ok = self.mq.wait_for(lambda m: m.topic == "sonos/bridge/info" and predicate(
            {s["uuid"]: s for s in (m.json() or {}).get("speakers", [])}), timeout)
        self.assertTrue(ok, "bridge/info never matched; last: %s" % self.info_speakers())
        return self.info_speakers()

    def availability(self, slug):
        m = self.mq.last("sonos/%s/availability" % slug)
        return m.text if m else None

    def wait_availability(self, slug, value, timeout=20, after=0):
        m = self.mq.wait_for(lambda m: m.topic == "sonos/%s/availability" % slug and
                             m.text == value, timeout, after)
        self.assertTrue(m, "sonos/%s/availability never %s (last %s)" % (
            slug, value, self.availability(slug)))

    def announce(self, slug, request_id, timeout=40):
        mark = self.mq.mark()
        self.mq.publish("sonos/%s/tts" % slug, '{"id": "%s", "text": "hello there"}' % request_id)
        return self.mq.wait_event(lambda e: e.get("id") == request_id and e.get("status") in (
            "done", "failed", "expired", "rejected"), timeout, after=mark)

    def home_theatre(self, household="Sonos_home_theatre", ssdp=True):
        topology = captured_topology(HOME_THEATRE, {c: e for c, e, _, _ in HOME_THEATRE_SET})
        return [self.start_speaker(ip, room, uuid=uuid, household=household, ssdp=ssdp,
                                   topology=topology)
                for _, ip, uuid, room in HOME_THEATRE_SET]

    def rooms_seen(self):
        """Every room slug that ever got an availability message."""
        return sorted({m.topic.split("/")[1] for m in self.mq.messages
                       if m.topic.endswith("/availability") and m.topic != "sonos/bridge/availability"})


class TopologyTest(DiscoveryCase):
    """ZoneGroupState decides what a room is."""

    def test_stereo_pair_is_one_room(self):
        topology = captured_topology(STEREO, {"192.168.1.21": "127.0.0.2",
                                              "192.168.1.22": "127.0.0.3"})
        left = self.start_speaker("127.0.0.2", "Office", uuid=OFFICE_LEFT, topology=topology,
                                  household="Sonos_stereo")
        right = self.start_speaker("127.0.0.3", "Office", uuid=OFFICE_RIGHT, topology=topology,
                                   household="Sonos_stereo")
        bridge = self.start_bridge(self.broker)
        self.wait_availability("office", "online")
        speakers = self.wait_info(lambda s: OFFICE_LEFT in s)
        # Both halves answered SSDP, yet the invisible one is no speaker of its own.
        self.assertTrue(right.wait_for(lambda r: r["action"] == "M-SEARCH", 5))
        time.sleep(1.0)
        speakers = self.info_speakers()
        self.assertEqual(list(speakers), [OFFICE_LEFT], speakers)
        self.assertEqual(speakers[OFFICE_LEFT]["ip"], "127.0.0.2")
        self.assertEqual(self.rooms_seen(), ["office"])
        self.assertRegex(bridge.log_text(), r"household Sonos_stereo: 1 rooms in 1 groups, "
                                            r"1 hidden devices")
        # An announcement to the room plays on the visible speaker, never on the hidden half.
        final = self.announce("office", "st-1")
        self.assertEqual(final["status"], "done", final)
        self.assertEqual(final["uuid"], OFFICE_LEFT)
        self.assertTrue(left.actions_named("Play"))
        self.assertEqual(right.actions_named("Play"), [])
        self.assertEqual(right.actions_named("SetAVTransportURI"), [])

    def test_home_theatre_rooms(self):
        self.home_theatre()
        self.start_bridge(self.broker)
        self.wait_availability("downstairs", "online")
        self.wait_availability("upstairs", "online")
        speakers = self.wait_info(lambda s: set(s) == {BAR, UPSTAIRS})
        time.sleep(1.0)  # satellites answered SSDP too: they must not show up late either
        speakers = self.info_speakers()
        self.assertEqual(set(speakers), {BAR, UPSTAIRS}, speakers)
        self.assertEqual(speakers[BAR]["name"], "Downstairs")
        self.assertEqual(speakers[BAR]["ip"], "127.0.0.2")
        self.assertEqual(speakers[UPSTAIRS]["ip"], "127.0.0.6")
        # The sub is named "Sub" in the topology: a naive bridge would make it a room.
        self.assertEqual(self.rooms_seen(), ["downstairs", "upstairs"])

    def test_one_manual_address_learns_the_household(self):
        # No SSDP at all: only the bar's address is configured.
        self.home_theatre(ssdp=False)
        bridge = self.start_bridge(self.broker, speakers=["127.0.0.2"])
        self.wait_availability("downstairs", "online", 30)
        self.wait_availability("upstairs", "online", 30)
        speakers = self.wait_info(lambda s: set(s) == {BAR, UPSTAIRS}, 30)
        self.assertEqual(speakers[UPSTAIRS]["ip"], "127.0.0.6")
        self.assertRegex(bridge.log_text(), r"speaker \"Upstairs\" uuid %s ip 127\.0\.0\.6:1400 "
                                            r".* found by topology" % UPSTAIRS)
        self.assertEqual(self.rooms_seen(), ["downstairs", "upstairs"])
        final = self.announce("upstairs", "ht-1")
        self.assertEqual(final["status"], "done", final)

    def test_household_filter(self):
        self.home_theatre(household="Sonos_home_theatre")
        garage = self.start_speaker("127.0.0.9", "Garage", household="Sonos_neighbour")
        bridge = self.start_bridge(self.broker, extra={"household": "Sonos_home_theatre"})
        self.wait_availability("downstairs", "online")
        self.wait_availability("upstairs", "online")
        # The neighbour's speaker answered, and was turned away by its household.
        self.assertTrue(garage.wait_for(lambda r: r["action"] == "M-SEARCH", 5))
        self.assertTrue(bridge.wait_log(r"household Sonos_neighbour .* ignored", 10))
        time.sleep(1.0)
        self.assertEqual(set(self.info_speakers()), {BAR, UPSTAIRS})
        self.assertIsNone(self.availability("garage"))
        final = self.announce("garage", "nb-1")
        self.assertEqual(final["status"], "failed", final)
        self.assertEqual(garage.actions_named("Play"), [])


class LifecycleTest(DiscoveryCase):
    """Speakers come, go, move; the bridge keeps running and availability stays true."""

    def test_speaker_changes_address(self):
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        self.start_speaker("127.0.0.3", "Living Room")
        bridge = self.start_bridge(self.broker)
        self.wait_availability("kitchen", "online")
        self.wait_info(lambda s: s.get(kitchen.uuid, {}).get("ip") == "127.0.0.2")
        mark = self.mq.mark()
        # DHCP gave it a new address: no byebye, the same uuid comes back elsewhere.
        kitchen.notify = False
        kitchen.stop()
        moved = self.start_speaker("127.0.0.7", "Kitchen", uuid=kitchen.uuid)
        self.wait_info(lambda s: s.get(kitchen.uuid, {}).get("ip") == "127.0.0.7")
        self.assertTrue(bridge.wait_log(r"uuid %s moved to 127\.0\.0\.7:1400" % kitchen.uuid, 5))
        self.assertEqual(self.availability("kitchen"), "online")
        self.assertFalse([m for m in self.mq.messages[mark:]
                          if m.topic == "sonos/kitchen/availability" and m.text == "offline"])
        final = self.announce("kitchen", "mv-1")
        self.assertEqual(final["status"], "done", final)
        self.assertTrue(moved.actions_named("Play"))

    def test_powered_off_and_back(self):
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        self.start_speaker("127.0.0.3", "Living Room")
        bridge = self.start_bridge(self.broker, extra={"search_interval_s": 2})
        self.wait_availability("kitchen", "online")
        self.wait_availability("living-room", "online")
        pids = bridge.worker_pids()
        mark = self.mq.mark()
        kitchen.notify = False  # power cut: no byebye
        kitchen.stop()
        self.wait_availability("kitchen", "offline", 30, after=mark)
        self.assertEqual(self.availability("living-room"), "online")
        self.assertTrue(bridge.running)
        self.assertEqual(sorted(bridge.worker_pids()), sorted(pids))
        # Power back: it announces itself and is online again.
        mark = self.mq.mark()
        kitchen.notify = True
        kitchen.start()
        self.wait_availability("kitchen", "online", 20, after=mark)
        final = self.announce("kitchen", "pw-1")
        self.assertEqual(final["status"], "done", final)

    def test_powered_off_goes_offline_within_three_intervals(self):
        # Documented: silent through two searches, it is probed at the end of the second
        # one's window and of each after; two failed probes remove it. So offline at most
        # three intervals and a window after the last answer, and not before two intervals.
        interval, window = 3, 1.5
        kitchen = self.start_speaker("127.0.0.2", "Kitchen")
        self.start_speaker("127.0.0.3", "Living Room")
        self.start_bridge(self.broker, extra={"search_interval_s": interval})
        self.wait_availability("kitchen", "online")

        def answers():
            return len(kitchen.actions_named("M-SEARCH"))
        seen = answers()
        self.assertTrue(harness.wait_until(lambda: answers() > seen, 2 * interval, 0.01))
        time.sleep(0.05)
        mark = self.mq.mark()
        cut = time.monotonic()
        kitchen.notify = False  # power cut right after it answered a search: no byebye
        kitchen.stop()
        self.wait_availability("kitchen", "offline", 30, after=mark)
        took = time.monotonic() - cut
        self.assertLess(took, 3 * interval + window + 1.0)
        self.assertGreater(took, 2 * interval)
        self.assertEqual(self.availability("living-room"), "online")

    def test_answers_of_a_proxy_are_ignored(self):
        # A controller app answers M-SEARCH for the household with X-RINCON-PROXY: no player.
        self.start_speaker("127.0.0.2", "Kitchen")
        desktop = self.start_speaker("127.0.0.5", "Desktop", proxy=True)
        bridge = self.start_bridge(self.broker)
        self.wait_availability("kitchen", "online")
        self.assertTrue(desktop.wait_for(lambda r: r["action"] == "M-SEARCH", 5))
        self.assertTrue(bridge.wait_log(r"127\.0\.0\.5 \(%s\) is a proxy" % desktop.uuid, 5))
        time.sleep(1.0)
        self.assertEqual(desktop.description_fetches, 0)
        self.assertNotIn(desktop.uuid, self.info_speakers())
        self.assertIsNone(self.availability("desktop"))

    def test_powered_off_while_its_household_still_lists_it(self):
        # Real players keep an unplugged member in their ZoneGroupState for minutes; the
        # captured topology never changes, like that. Its return must not wait for that.
        ht = self.home_theatre()
        upstairs = ht[-1]
        bridge = self.start_bridge(self.broker, extra={"search_interval_s": 2})
        self.wait_availability("upstairs", "online")
        mark = self.mq.mark()
        upstairs.notify = False
        upstairs.stop()
        self.wait_availability("upstairs", "offline", 30, after=mark)
        self.assertEqual(self.availability("downstairs"), "online")
        self.assertTrue(bridge.wait_log(r"127\.0\.0\.6:1400/xml/device_description\.xml "
                                        r"\(topology\): Connection refused", 10))
        mark = self.mq.mark()
        started = time.monotonic()
        upstairs.notify = True
        upstairs.start()
        self.wait_availability("upstairs", "online", 20, after=mark)
        self.assertLess(time.monotonic() - started, 10, "held back by an earlier failure")
        self.assertEqual(self.rooms_seen(), ["downstairs", "upstairs"])

    def test_manual_speaker_offline_at_start(self):
        bridge = self.start_bridge(self.broker, speakers=["127.0.0.4"])
        self.assertTrue(bridge.wait_log(r"manual speaker 127\.0\.0\.4: .*next try in", 15))
        self.assertIsNone(self.availability("den"))
        time.sleep(2)
        self.assertTrue(bridge.running)
        den = self.start_speaker("127.0.0.4", "Den", ssdp=False)
        self.wait_availability("den", "online", 40)
        self.assertTrue(den.actions_named("GetHouseholdID"))
        final = self.announce("den", "off-1")
        self.assertEqual(final["status"], "done", final)


def ssdp_alive_flood(src_ip, count, port_base, pause_every=0):
    """count alive NOTIFYs from src_ip, each for another uuid at another port of src_ip (what
    a hostile or broken host on the LAN can send in a moment)."""
    zp = "urn:schemas-upnp-org:device:ZonePlayer:1"
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        tx.bind((src_ip, 0))
        for i in range(count):
            msg = ("NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: %s\r\n"
                   "NTS: ssdp:alive\r\nUSN: uuid:RINCON_FLOOD%05d::%s\r\n"
                   "LOCATION: http://%s:%d/xml/device_description.xml\r\n"
                   "X-RINCON-HOUSEHOLD: Sonos_flood%d\r\n\r\n"
                   % (zp, i, zp, src_ip, port_base + i, i))
            tx.sendto(msg.encode(), ("239.255.255.250", 1900))
            if pause_every and i % pause_every == pause_every - 1:
                time.sleep(0.01)  # the receive buffer is not what is tested
    finally:
        tx.close()


class FloodTest(DiscoveryCase):
    """One host on the LAN, hostile or broken, must not cost more than a little: not the
    discovery of other hosts' speakers, not the log."""

    def tarpit(self, ip, port_base, count):
        """Ports that accept TCP and never answer: every fetch there runs into its timeout."""
        socks = []
        for i in range(count):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port_base + i))
            s.listen(64)
            socks.append(s)
        self.addCleanup(lambda: [s.close() for s in socks])

    def test_flood_from_one_host_does_not_delay_another(self):
        self.start_speaker("127.0.0.2", "Kitchen")
        bridge = self.start_bridge(self.broker)
        self.wait_availability("kitchen", "online")
        self.tarpit("127.0.0.9", 20000, 200)
        ssdp_alive_flood("127.0.0.9", 200, 20000)
        time.sleep(0.3)
        mark = self.mq.mark()
        started = time.monotonic()
        self.start_speaker("127.0.0.3", "Den")  # says alive on start
        self.wait_availability("den", "online", 20, after=mark)
        self.assertLess(time.monotonic() - started, 2.0, "delayed by the other host's flood")
        # One fetch at a time at the flooding host, not one per port it named.
        fetches = re.findall(r"fetching http://127\.0\.0\.9:", bridge.log_text())
        self.assertLessEqual(len(fetches), 3, fetches)
        self.assertEqual(self.availability("kitchen"), "online")

    def test_failures_of_one_host_are_logged_once(self):
        self.start_speaker("127.0.0.2", "Kitchen")
        bridge = self.start_bridge(self.broker)
        self.wait_availability("kitchen", "online")
        # 3000 NOTIFYs naming ports of 127.0.0.9 where nothing listens: each fetch is refused.
        # In three bursts, so that the host's hold runs out in between.
        for pause in (1.5, 2.5, 0):
            ssdp_alive_flood("127.0.0.9", 1000, 30000, pause_every=100)
            time.sleep(pause)
        summary = bridge.wait_log(r"(\d+) more failed fetches not logged", 20)
        self.assertTrue(summary)
        log = bridge.log_text()
        warnings = re.findall(r" warn: .*http://127\.0\.0\.9:\d+/.*not retried", log)
        self.assertEqual(len(warnings), 1, warnings)
        # Held back, doubling: a handful of fetches for 3000 messages.
        fetches = re.findall(r"fetching http://127\.0\.0\.9:", log)
        self.assertLessEqual(len(fetches), 6, len(fetches))
        self.assertEqual(int(summary.group(1)), len(fetches) - 1, fetches)
        # And a real speaker is still found at once.
        mark = self.mq.mark()
        started = time.monotonic()
        self.start_speaker("127.0.0.3", "Den")
        self.wait_availability("den", "online", 20, after=mark)
        self.assertLess(time.monotonic() - started, 2.0)


def _run(*cmd, check=True):
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=check, timeout=20)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("ip"),
                     "needs root and iproute2 for network namespaces")
class TwoInterfacesTest(DiscoveryCase):
    """The host has two interfaces; the default route leads to the one without speakers. A
    bridge that searches only where the system sends multicast by default finds nothing."""

    SPEAKER_IP, OUR_IP, DEAD_IP = "10.77.1.2", "10.77.1.1", "10.77.2.1"

    def setUp(self):
        # Only inside tests/e2e/isolated (a namespace with nothing but lo): never touch the
        # routes of a real host.
        if _run("ip", "-o", "link", "show").stdout.decode().count("\n") != 1:
            self.skipTest("run inside tests/e2e/isolated (a namespace with only lo)")
        super().setUp()
        tag = "%d" % (os.getpid() % 100000)
        self.ns_speaker, self.ns_dead = "sbspk%s" % tag, "sbdead%s" % tag
        self.addCleanup(self._teardown_net)
        _run("ip", "netns", "add", self.ns_speaker)
        _run("ip", "netns", "add", self.ns_dead)
        for name, ns, ours, theirs in (("sbva", self.ns_speaker, self.OUR_IP, self.SPEAKER_IP),
                                       ("sbvb", self.ns_dead, self.DEAD_IP, "10.77.2.2")):
            self.add_veth(name, ns, ours, theirs)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        # The system's choice for multicast and everything else: the empty network.
        _run("ip", "route", "add", "default", "via", "10.77.2.2")

    def _teardown_net(self):
        for ns in (self.ns_speaker, self.ns_dead):
            _run("ip", "netns", "del", ns, check=False)  # takes the veth pairs with it
        _run("ip", "route", "del", "default", check=False)

    def add_veth(self, name, ns, ours, theirs):
        _run("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p", "netns", ns)
        _run("ip", "addr", "add", ours + "/24", "brd", "+", "dev", name)
        _run("ip", "link", "set", name, "up")
        _run("ip", "-n", ns, "addr", "add", theirs + "/24", "brd", "+", "dev", name + "p")
        _run("ip", "-n", ns, "link", "set", name + "p", "up")

    def start_netns_speaker(self, *args):
        """The speaker Kitchen in its namespace (a process; args: more sonos_speaker.py
        options). Returns the process; terminating it stops the speaker (with a byebye)."""
        script = os.path.join(harness.REPO, "tests", "speaker", "sonos_speaker.py")
        log = open(os.path.join(harness.short_tmpdir(), "speaker.log"), "wb")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_speaker, sys.executable, script,
             "--speaker", "%s:Kitchen" % self.SPEAKER_IP, "--ssdp-if", self.SPEAKER_IP,
             "--allow-nonlocal-fetch"] + list(args),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def done():
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log.close()
            if self._verbose():
                self._dump("speaker in %s" % self.ns_speaker, harness.tail(log.name, 80))
        self.addCleanup(done)
        self.assertTrue(harness.wait_until(lambda: harness.port_open(1400, self.SPEAKER_IP), 10),
                        "speaker in the namespace did not start")
        return proc

    def speaker_records(self):
        with urllib.request.urlopen("http://%s:1400/test/actions" % self.SPEAKER_IP,
                                    timeout=5) as r:
            return json.loads(r.read())

    def test_only_one_interface_reaches_the_speakers(self):
        self.start_netns_speaker()
        # Interfaces and the advertised host left to the bridge: that is what is tested.
        bridge = self.start_bridge(self.broker, extra={"multicast_if": None,
                                                       "advertise_host": None,
                                                       "http_bind": "0.0.0.0"})
        self.wait_availability("kitchen", "online", 20)
        log = bridge.log_text()
        self.assertRegex(log, r"searching on .*sbva %s" % self.OUR_IP)
        self.assertRegex(log, r"searching on .*sbvb %s" % self.DEAD_IP)
        speakers = self.wait_info(lambda s: len(s) == 1)
        self.assertEqual(list(speakers.values())[0]["ip"], self.SPEAKER_IP)
        # The clip URL names the address the speaker can reach: the one on its network.
        final = self.announce("kitchen", "if-1")
        self.assertEqual(final["status"], "done", final)
        fetches = [r for r in self.speaker_records() if r.get("action") == "fetch"]
        self.assertTrue(fetches)
        self.assertTrue(fetches[0]["url"].startswith("http://%s:%d/" % (
            self.OUR_IP, bridge.http_port)), fetches[0])
        self.assertTrue(fetches[0]["valid"], fetches[0])

    def test_speaker_that_hears_only_broadcast(self):
        # A network that drops multicast: the speaker is outside the SSDP group and sends no
        # NOTIFY; only the M-SEARCH to the interface's broadcast address reaches it.
        self.start_netns_speaker("--no-multicast", "--ssdp-broadcast", "10.77.1.255",
                                 "--no-notify")
        self.start_bridge(self.broker, extra={"multicast_if": None})
        self.wait_availability("kitchen", "online", 20)
        searches = [r for r in self.speaker_records() if r.get("action") == "M-SEARCH"]
        self.assertTrue(searches)
        self.assertTrue(searches[0]["args"]["from"].startswith(self.OUR_IP + ":"), searches)

    def test_notify_heard_after_interface_recreated(self):
        # Wi-Fi, USB or a container's veth: the interface goes and comes back with the same
        # name and address. The kernel dropped the group membership with the old interface.
        bridge = self.start_bridge(self.broker, extra={"multicast_if": None,
                                                       "search_interval_s": 1})
        self.assertTrue(bridge.wait_log(r"searching on .*sbva", 10))
        speaker = self.start_netns_speaker("--no-search-answers")
        self.wait_availability("kitchen", "online", 10)
        mark = self.mq.mark()
        speaker.terminate()  # says byebye
        speaker.wait(10)
        self.wait_availability("kitchen", "offline", 10, after=mark)
        _run("ip", "link", "del", "sbva")
        self.assertTrue(bridge.wait_log(r"(?m)searching on sbvb 10\.77\.2\.1$", 10))
        self.add_veth("sbva", self.ns_speaker, self.OUR_IP, self.SPEAKER_IP)
        self.assertTrue(harness.wait_until(
            lambda: len(re.findall(r"searching on .*sbva", bridge.log_text())) >= 2, 10))
        # Back, and found by its NOTIFY alone.
        mark = self.mq.mark()
        started = time.monotonic()
        self.start_netns_speaker("--no-search-answers")
        self.wait_availability("kitchen", "online", 10, after=mark)
        self.assertLess(time.monotonic() - started, 5)


if __name__ == "__main__":
    unittest.main()
