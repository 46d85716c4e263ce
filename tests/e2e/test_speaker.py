"""test_speaker.py -- tests of the emulated Sonos speaker itself (SSDP, description, SOAP,
faults, clip fetching and the transport state machine), so bridge tests can trust it."""

import http.client
import http.server
import os
import queue
import socket
import threading
import time
import unittest
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import harness
import sonos_speaker
from harness import soap_call

IP1, IP2, IP3 = "127.0.0.2", "127.0.0.3", "127.0.0.4"
S_NS = "http://schemas.xmlsoap.org/soap/envelope/"
DEV_NS = "{urn:schemas-upnp-org:device-1-0}"


def msearch(payload, want, timeout=3.0):
    """Send one M-SEARCH to the SSDP group on loopback; collect replies until `want` replies
    arrived or timeout. Returns [(data, (ip, port))]."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        s.sendto(payload, (sonos_speaker.SSDP_GROUP, sonos_speaker.SSDP_PORT))
        replies, deadline = [], time.monotonic() + timeout
        while len(replies) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                replies.append(s.recvfrom(4096))
            except socket.timeout:
                break
        return replies
    finally:
        s.close()


def parse_reply(data):
    lines = data.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().upper()] = v.strip()
    return lines[0], headers


def parse_secs(hms):
    return sonos_speaker.parse_hms(hms)


def didl(title, url):
    return ('<DIDL-Lite xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/" '
            'xmlns:r="urn:schemas-rinconnetworks-com:metadata-1-0/" '
            'xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/"><item id="-1" parentID="-1" '
            'restricted="true"><res protocolInfo="http-get:*:audio/wav:*">%s</res>'
            '<dc:title>%s</dc:title><upnp:class>object.item.audioItem.musicTrack</upnp:class>'
            '</item></DIDL-Lite>' % (escape(url), escape(title, {"'": "&apos;"})))


class TestSsdp(harness.E2ETestCase):
    def test_msearch_answered_by_each_speaker_from_its_own_address(self):
        a = self.start_speaker(IP1, "Kitchen")
        b = self.start_speaker(IP2, "Living Room")
        self.start_speaker(IP3, "Hidden", ssdp=False)
        req = ("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
               "MX: 1\r\nST: urn:schemas-upnp-org:device:ZonePlayer:1\r\n\r\n").encode()
        replies = msearch(req, want=3, timeout=1.5)
        by_ip = {}
        for data, addr in replies:
            by_ip.setdefault(addr[0], []).append(parse_reply(data))
        self.assertEqual(sorted(by_ip), [IP1, IP2], "answers came from %s" % sorted(by_ip))
        for sp in (a, b):
            [(status, h)] = by_ip[sp.ip]
            self.assertEqual(status, "HTTP/1.1 200 OK")
            self.assertEqual(h["LOCATION"], "http://%s:1400/xml/device_description.xml" % sp.ip)
            self.assertEqual(h["ST"], "urn:schemas-upnp-org:device:ZonePlayer:1")
            self.assertEqual(h["USN"], "uuid:%s::urn:schemas-upnp-org:device:ZonePlayer:1" % sp.uuid)
            self.assertEqual(h["CACHE-CONTROL"], "max-age = 1800")
            self.assertEqual(h["EXT"], "")
            self.assertEqual(h["SERVER"], "Linux UPnP/1.0 Sonos/57.4-83220 (ZPS9)")
            self.assertEqual(h["X-RINCON-HOUSEHOLD"], "Sonos_test_household")
            self.assertEqual(h["X-RINCON-BOOTSEQ"], str(sp.bootseq))
            self.assertEqual(h["X-RINCON-WIFIMODE"], "0")
            self.assertEqual(h["X-RINCON-VARIANT"], "2")
            self.assertIsNotNone(sp.wait_action("M-SEARCH", 1))

    def test_lenient_msearch_and_ignored_targets(self):
        self.start_speaker(IP1, "Kitchen")
        # bare \n line endings, lower-case names, no MAN, odd spacing: players still answer
        sloppy = b"m-search * HTTP/1.1\nhost:239.255.255.250:1900\nst:   ssdp:all\nmx:x\n\n"
        replies = msearch(sloppy, want=2, timeout=1.5)
        sts = sorted(parse_reply(d)[1]["ST"] for d, a in replies if a[0] == IP1)
        self.assertIn("urn:schemas-upnp-org:device:ZonePlayer:1", sts)
        other = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
                 b"MX: 1\r\nST: urn:schemas-upnp-org:device:MediaRenderer:9\r\n\r\n")
        self.assertEqual([r for r in msearch(other, want=1, timeout=0.5) if r[1][0] == IP1], [])

    def test_restart_releases_ports_and_bumps_bootseq(self):
        sp = self.start_speaker(IP1, "Kitchen")
        first = sp.bootseq
        t0 = time.monotonic()
        sp.stop()
        sp.start()
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(sp.bootseq, first + 1)
        req = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
               b"MX: 1\r\nST: urn:schemas-upnp-org:device:ZonePlayer:1\r\n\r\n")
        [(data, addr)] = msearch(req, want=1, timeout=1.5)
        self.assertEqual(parse_reply(data)[1]["X-RINCON-BOOTSEQ"], str(first + 1))


class TestControl(harness.E2ETestCase):
    def setUp(self):
        self.sp = self.start_speaker(IP1, "Kitchen", ssdp=False)

    def test_device_description(self):
        conn = http.client.HTTPConnection(IP1, 1400, timeout=5)
        conn.request("GET", "/xml/device_description.xml")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        self.assertEqual(resp.status, 200)
        self.assertIn(b"#DEACTIVATION_STATE_TAG_AND_VALUE#", body)  # the real stray text
        dev = ET.fromstring(body).find(DEV_NS + "device")
        self.assertEqual(dev.findtext(DEV_NS + "UDN"), "uuid:" + self.sp.uuid)
        self.assertEqual(dev.findtext(DEV_NS + "roomName"), "Kitchen")
        self.assertEqual(dev.findtext(DEV_NS + "friendlyName"), IP1 + " - Sonos Play:1")
        self.assertEqual(dev.findtext(DEV_NS + "modelName"), "Sonos Play:1")
        self.assertEqual(dev.findtext(DEV_NS + "displayName"), "Play:1")
        udns = [e.text for e in ET.fromstring(body).iter(DEV_NS + "UDN")]
        self.assertEqual(udns, ["uuid:" + self.sp.uuid, "uuid:%s_MS" % self.sp.uuid,
                                "uuid:%s_MR" % self.sp.uuid])

    def test_volume_round_trip_and_bad_args(self):
        status, out = soap_call(IP1, "RenderingControl", "SetVolume",
                                [("InstanceID", 0), ("Channel", "Master"), ("DesiredVolume", 35)])
        self.assertEqual(status, 200)
        status, out = soap_call(IP1, "RenderingControl", "GetVolume",
                                [("InstanceID", 0), ("Channel", "Master")])
        self.assertEqual((status, out), (200, {"CurrentVolume": "35"}))
        self.assertEqual(self.sp.volume, 35)
        status, out = soap_call(IP1, "RenderingControl", "SetVolume",
                                [("InstanceID", 0), ("Channel", "Master"), ("DesiredVolume", 150)])
        self.assertEqual((status, out), (500, {"errorCode": 402}))
        status, out = soap_call(IP1, "RenderingControl", "SetMute",
                                [("InstanceID", 0), ("Channel", "Master")])
        self.assertEqual((status, out), (500, {"errorCode": 402}))
        names = [r["action"] for r in self.sp.actions()]
        self.assertEqual(names, ["SetVolume", "GetVolume", "SetVolume", "SetMute"])
        self.assertEqual(self.sp.actions_named("SetVolume")[0]["args"]["DesiredVolume"], "35")

    def test_unknown_action_is_the_real_fault(self):
        urn = "urn:schemas-upnp-org:service:AVTransport:1"
        body = ('<s:Envelope xmlns:s="%s" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">'
                '<s:Body><u:Dance xmlns:u="%s"><InstanceID>0</InstanceID></u:Dance></s:Body>'
                '</s:Envelope>' % (S_NS, urn))
        conn = http.client.HTTPConnection(IP1, 1400, timeout=5)
        conn.request("POST", "/MediaRenderer/AVTransport/Control", body,
                     {"SOAPACTION": '"%s#Dance"' % urn, "Content-Type": 'text/xml; charset="utf-8"'})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.assertEqual(resp.status, 500)
        fault = ET.fromstring(data).find("{%s}Body/{%s}Fault" % (S_NS, S_NS))
        self.assertIsNotNone(fault)
        self.assertEqual(fault.findtext("faultcode"), "s:Client")
        self.assertEqual(fault.findtext("faultstring"), "UPnPError")
        self.assertEqual(fault.findtext(
            "detail/{urn:schemas-upnp-org:control-1-0}UPnPError/"
            "{urn:schemas-upnp-org:control-1-0}errorCode"), "401")
        self.assertEqual(self.sp.actions()[-1]["fault"], 401)

    def test_hostile_bodies_are_refused(self):
        urn = "urn:schemas-upnp-org:service:RenderingControl:1"
        bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
                '<s:Envelope xmlns:s="%s"><s:Body><u:GetVolume xmlns:u="%s"><InstanceID>&a;'
                '</InstanceID><Channel>Master</Channel></u:GetVolume></s:Body></s:Envelope>'
                % (S_NS, urn))
        for body, soapaction in ((bomb, "%s#GetVolume" % urn), ("<not xml", "%s#GetVolume" % urn),
                                 (bomb, "nonsense")):
            conn = http.client.HTTPConnection(IP1, 1400, timeout=5)
            conn.request("POST", "/MediaRenderer/RenderingControl/Control", body,
                         {"SOAPACTION": soapaction})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            self.assertEqual(resp.status, 500)
        self.assertEqual([r["fault"] for r in self.sp.actions()], [402, 402, 401])

    def test_transport_faults(self):
        self.assertEqual(soap_call(IP1, "AVTransport", "Pause", [("InstanceID", 0)]),
                         (500, {"errorCode": 701}))
        self.assertEqual(soap_call(IP1, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)]),
                         (500, {"errorCode": 701}))
        self.sp.set_media("x-sonosapi-stream:s12345?sid=254&flags=8224&sn=0")
        self.assertEqual(soap_call(IP1, "AVTransport", "Seek", [("InstanceID", 0),
                                   ("Unit", "REL_TIME"), ("Target", "0:01:00")]),
                         (500, {"errorCode": 701}))
        self.sp.set_media(self.sp.queue_uri, queue_length=3, track=3)
        self.assertEqual(soap_call(IP1, "AVTransport", "Next", [("InstanceID", 0)]),
                         (500, {"errorCode": 711}))
        self.assertEqual(soap_call(IP1, "AVTransport", "Seek", [("InstanceID", 0),
                                   ("Unit", "TRACK_NR"), ("Target", "9")]),
                         (500, {"errorCode": 711}))
        self.assertEqual(soap_call(IP1, "AVTransport", "Seek", [("InstanceID", 0),
                                   ("Unit", "TRACK_NR"), ("Target", "2")])[0], 200)
        self.assertEqual(soap_call(IP1, "AVTransport", "Seek", [("InstanceID", 0),
                                   ("Unit", "REL_TIME"), ("Target", "0:01:05")])[0], 200)
        status, pos = soap_call(IP1, "AVTransport", "GetPositionInfo", [("InstanceID", 0)])
        self.assertEqual((pos["Track"], pos["RelTime"]), ("2", "0:01:05"))
        self.sp.set_fault("GetTransportInfo", 501, count=1)
        self.assertEqual(soap_call(IP1, "AVTransport", "GetTransportInfo", [("InstanceID", 0)]),
                         (500, {"errorCode": 501}))
        self.assertEqual(soap_call(IP1, "AVTransport", "GetTransportInfo", [("InstanceID", 0)])[1],
                         {"CurrentTransportState": "STOPPED", "CurrentTransportStatus": "OK",
                          "CurrentSpeed": "1"})

    def test_zone_group_state(self):
        other = self.start_speaker(IP2, "Living Room", ssdp=False)
        status, out = soap_call(IP1, "ZoneGroupTopology", "GetZoneGroupState")
        self.assertEqual(status, 200)
        zgs = ET.fromstring(out["ZoneGroupState"])
        groups = zgs.findall("ZoneGroups/ZoneGroup")
        self.assertEqual(len(groups), 2)
        for group, sp in zip(groups, (self.sp, other)):
            self.assertEqual(group.get("Coordinator"), sp.uuid)
            [member] = group.findall("ZoneGroupMember")
            self.assertEqual(member.get("ZoneName"), sp.room)
            self.assertEqual(member.get("Location"), sp.location)
        # grouping through the protocol, as a controller does it
        self.assertEqual(soap_call(IP2, "AVTransport", "SetAVTransportURI",
                                   [("InstanceID", 0), ("CurrentURI", "x-rincon:" + self.sp.uuid),
                                    ("CurrentURIMetaData", "")])[0], 200)
        zgs = ET.fromstring(soap_call(IP2, "ZoneGroupTopology", "GetZoneGroupState")[1][
            "ZoneGroupState"])
        [group] = zgs.findall("ZoneGroups/ZoneGroup")
        self.assertEqual([m.get("UUID") for m in group], [self.sp.uuid, other.uuid])
        self.assertEqual(soap_call(IP2, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)]),
                         (500, {"errorCode": 800}))

    def test_zone_group_topology_events(self):
        """A ZoneGroupTopology subscriber gets the initial event and one per regrouping,
        shaped like the captured event (node-sonos-discovery/zonegroupstate.xml)."""
        other = self.start_speaker(IP2, "Living Room", ssdp=False)
        got = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_NOTIFY(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.put((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)

        def event():
            path, headers, body = got.get(timeout=5)
            root = ET.fromstring(body)
            props = [list(p)[0] for p in root.findall("{%s}property" % sonos_speaker.EVENT_NS)]
            return path, headers, {p.tag: p.text or "" for p in props}, [p.tag for p in props]

        conn = http.client.HTTPConnection(IP1, 1400, timeout=5)
        conn.request("SUBSCRIBE", "/ZoneGroupTopology/Event", headers={
            "CALLBACK": "<http://127.0.0.1:%d/gena/zgt>" % server.server_port,
            "NT": "upnp:event", "TIMEOUT": "Second-60"})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        self.assertEqual(resp.status, 200)
        path, headers, props, names = event()
        self.assertEqual((path, headers["SEQ"], headers["SID"]),
                         ("/gena/zgt", "0", resp.getheader("SID")))
        # The capture's shape: these properties, in its order, ZoneGroupState escaped once.
        with open(os.path.join(sonos_speaker.captures_dir(), "node-sonos-discovery",
                               "zonegroupstate.xml"), "rb") as f:
            captured = [list(p)[0].tag for p in ET.fromstring(f.read()).findall(
                "{%s}property" % sonos_speaker.EVENT_NS)]
        self.assertEqual(names, [n for n in captured if n in names])
        self.assertEqual(names[0], "ZoneGroupState")
        zgs = ET.fromstring(props["ZoneGroupState"])
        self.assertEqual(len(zgs.findall("ZoneGroups/ZoneGroup")), 2)
        self.assertEqual(props["ZoneGroupName"], "Kitchen")
        seq = [0]

        def groups():
            """The groups of the next event that carries a ZoneGroupState (later events
            carry what changed); SEQ goes up by one each time."""
            while True:
                _, headers, props, _ = event()
                seq[0] += 1
                self.assertEqual(headers["SEQ"], str(seq[0]))
                if "ZoneGroupState" in props:
                    return [[m.get("UUID") for m in g] for g in ET.fromstring(
                        props["ZoneGroupState"]).findall("ZoneGroups/ZoneGroup")]
        # Another controller joins the Living Room to the Kitchen: an event with one group.
        self.assertEqual(soap_call(IP2, "AVTransport", "SetAVTransportURI",
                                   [("InstanceID", 0), ("CurrentURI", "x-rincon:" + self.sp.uuid),
                                    ("CurrentURIMetaData", "")])[0], 200)
        self.assertEqual(groups(), [[self.sp.uuid, other.uuid]])
        # The test's own API (as the Sonos app would): it leaves again.
        other.leave()
        self.assertEqual(groups(), [[self.sp.uuid], [other.uuid]])


class TestPlayback(harness.E2ETestCase):
    def setUp(self):
        self.sp = self.start_speaker(IP1, "Kitchen", ssdp=False)
        self.files = self.file_server()

    def set_uri(self, url, meta):
        return soap_call(IP1, "AVTransport", "SetAVTransportURI",
                         [("InstanceID", 0), ("CurrentURI", url), ("CurrentURIMetaData", meta)])

    def test_wav_plays_for_its_real_duration(self):
        url = self.files.add("/clips/hello.wav", harness.make_wav(1.0, 22050), "audio/wav")
        meta = didl("Ex's & Oh's <live>", url)
        self.assertEqual(self.set_uri(url, meta)[0], 200)
        self.assertEqual(self.sp.current_metadata, meta)  # escaping survived both levels
        self.assertEqual(soap_call(IP1, "AVTransport", "GetMediaInfo", [("InstanceID", 0)])[1][
            "CurrentURIMetaData"], meta)
        t0 = time.time()
        self.assertEqual(soap_call(IP1, "AVTransport", "Play",
                                   [("InstanceID", 0), ("Speed", 1)])[0], 200)
        self.assertTrue(self.sp.wait_state("PLAYING", 3), self.sp.states())
        self.assertEqual(soap_call(IP1, "AVTransport", "GetTransportInfo", [("InstanceID", 0)])[1][
            "CurrentTransportState"], "PLAYING")
        self.assertTrue(self.sp.wait_state("STOPPED", 4), self.sp.states())
        fetch = self.sp.wait_action("fetch", 1)
        self.assertIsNotNone(fetch)
        self.assertTrue(fetch["valid"], fetch)
        self.assertEqual(fetch["http_status"], 200)
        self.assertEqual(fetch["content_type"], "audio/wav")
        self.assertAlmostEqual(fetch["duration_s"], 1.0, places=3)
        states = [(s["state"], s["t"]) for s in self.sp.states()]
        playing = [t for s, t in states if s == "PLAYING"][-1]
        stopped = [t for s, t in states if s == "STOPPED"][-1]
        self.assertAlmostEqual(stopped - playing, 1.0, delta=0.3)
        self.assertLess(playing - t0, 1.0)
        self.assertEqual([s for s, _ in states][-3:], ["TRANSITIONING", "PLAYING", "STOPPED"])

    def test_pause_and_resume_keep_the_remaining_time(self):
        url = self.files.add("/c.wav", harness.make_wav(1.2, 16000, channels=2), "audio/x-wav")
        self.set_uri(url, "")
        soap_call(IP1, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)])
        self.assertTrue(self.sp.wait_state("PLAYING", 3))
        time.sleep(0.5)
        self.assertEqual(soap_call(IP1, "AVTransport", "Pause", [("InstanceID", 0)])[0], 200)
        time.sleep(0.5)
        self.assertEqual(self.sp.transport_state, "PAUSED_PLAYBACK")
        soap_call(IP1, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)])
        t_resume = time.time()
        self.assertTrue(self.sp.wait_state("STOPPED", 3))
        self.assertAlmostEqual(time.time() - t_resume, 0.7, delta=0.3)
        self.assertEqual(len(self.sp.actions_named("fetch")), 1)

    def test_non_audio_is_recorded_invalid(self):
        url = self.files.add("/not-audio.wav", b"<html><body>oops</body></html>", "audio/wav")
        self.set_uri(url, "")
        soap_call(IP1, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)])
        fetch = self.sp.wait_action("fetch", 3)
        self.assertIsNotNone(fetch)
        self.assertFalse(fetch["valid"])
        self.assertIn("RIFF", fetch["error"])
        self.assertTrue(self.sp.wait_state("STOPPED", 2))
        self.assertNotIn("PLAYING", [s["state"] for s in self.sp.states()])
        # 8-bit PCM and a missing file are refused too, each with its reason
        url8 = self.files.add("/8bit.wav", harness.make_wav(0.2, 8000, bits=8), "audio/wav")
        for bad, reason in ((url8, "16-bit"), (self.files.url("/missing.wav"), "HTTP 404")):
            since = time.time()
            self.set_uri(bad, "")
            soap_call(IP1, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)])
            rec = self.sp.wait_for(lambda r: r["action"] == "fetch" and r["url"] == bad, 3, since)
            self.assertIsNotNone(rec)
            self.assertFalse(rec["valid"])
            self.assertIn(reason, rec["error"])

    def test_announcement_and_restore_of_a_queue(self):
        """The sequence the bridge runs: snapshot, clip, restore queue, track and position."""
        self.sp.set_media(self.sp.queue_uri, queue_length=5, track=3, rel_time="0:01:00")
        self.sp.set_transport_state("PLAYING")
        info = soap_call(IP1, "AVTransport", "GetMediaInfo", [("InstanceID", 0)])[1]
        self.assertEqual((info["CurrentURI"], info["NrTracks"]), (self.sp.queue_uri, "5"))
        pos = soap_call(IP1, "AVTransport", "GetPositionInfo", [("InstanceID", 0)])[1]
        self.assertEqual(pos["Track"], "3")
        self.assertEqual(soap_call(IP1, "AVTransport", "Pause", [("InstanceID", 0)])[0], 200)
        url = self.files.add("/ding.wav", harness.make_wav(0.4, 22050), "audio/wav")
        self.set_uri(url, didl("ding", url))
        soap_call(IP1, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)])
        self.assertTrue(self.sp.wait_state("PLAYING", 3))
        self.assertTrue(self.sp.wait_state("STOPPED", 3))
        self.set_uri(self.sp.queue_uri, "")
        for unit, target in (("TRACK_NR", "3"), ("REL_TIME", pos["RelTime"])):
            self.assertEqual(soap_call(IP1, "AVTransport", "Seek", [
                ("InstanceID", 0), ("Unit", unit), ("Target", target)])[0], 200)
        soap_call(IP1, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)])
        self.assertEqual(self.sp.transport_state, "PLAYING")
        after = soap_call(IP1, "AVTransport", "GetPositionInfo", [("InstanceID", 0)])[1]
        self.assertEqual(after["Track"], "3")
        self.assertGreaterEqual(parse_secs(after["RelTime"]), parse_secs(pos["RelTime"]))
        self.assertEqual(
            [r["action"] for r in self.sp.actions()],
            ["GetMediaInfo", "GetPositionInfo", "Pause", "SetAVTransportURI", "Play", "fetch",
             "SetAVTransportURI", "Seek", "Seek", "Play", "GetPositionInfo"])

    def test_stop_during_playback(self):
        url = self.files.add("/long.wav", harness.make_wav(5.0, 8000), "audio/wav")
        self.set_uri(url, "")
        soap_call(IP1, "AVTransport", "Play", [("InstanceID", 0), ("Speed", 1)])
        self.assertTrue(self.sp.wait_state("PLAYING", 3))
        self.assertEqual(soap_call(IP1, "AVTransport", "Stop", [("InstanceID", 0)])[0], 200)
        self.assertEqual(self.sp.transport_state, "STOPPED")


class TestAudioParsers(unittest.TestCase):
    def test_wav_facts(self):
        facts = sonos_speaker.parse_wav(harness.make_wav(0.5, 48000, channels=2))
        self.assertEqual((facts["channels"], facts["sample_rate"], facts["bits"]), (2, 48000, 16))
        self.assertAlmostEqual(facts["duration_s"], 0.5)
        with self.assertRaises(ValueError):
            sonos_speaker.parse_wav(harness.make_wav(0.1, 96000))
        with self.assertRaises(ValueError):
            sonos_speaker.parse_wav(harness.make_wav(0.1, 22050)[:40])  # no data chunk

    def test_mp3_frames(self):
        # MPEG1 layer III, 128 kbit/s, 44.1 kHz: 417-byte frames of 1152 samples
        header = bytes([0xFF, 0xFB, 0x90, 0x00])
        frame = header + b"\x00" * (417 - 4)
        facts = sonos_speaker.parse_mp3(b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + frame * 100)
        self.assertEqual(facts["frames"], 100)
        self.assertAlmostEqual(facts["duration_s"], 100 * 1152 / 44100.0)
        with self.assertRaises(ValueError):
            sonos_speaker.parse_mp3(b"<html>not mp3</html>")
        with self.assertRaises(ValueError):  # 8 kHz MPEG2.5: players refuse
            sonos_speaker.parse_mp3(bytes([0xFF, 0xE3, 0x18, 0x00]) + b"\x00" * 200)


if __name__ == "__main__":
    unittest.main()
