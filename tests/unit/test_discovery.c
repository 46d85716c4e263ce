/* test_discovery.c -- SSDP texts, the real device description capture, the speaker table, and
 * what one source address may cost (source_limit). */
#include "check.h"
#include "description.h"
#include "source_limit.h"
#include "speaker_table.h"
#include "ssdp.h"

#include <stdlib.h>

/* A player's answer to M-SEARCH, in the shape real players send (S1 firmware). */
static const char player_answer[] =
    "HTTP/1.1 200 OK\r\n"
    "CACHE-CONTROL: max-age = 1800\r\n"
    "EXT:\r\n"
    "LOCATION: http://192.168.1.20:1400/xml/device_description.xml\r\n"
    "SERVER: Linux UPnP/1.0 Sonos/57.4-83220 (ZPS9)\r\n"
    "ST: urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    "USN: uuid:RINCON_949F0000A901400::urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    "X-RINCON-HOUSEHOLD: Sonos_Ab12Cd34Ef56Gh78Ij90Kl12Mn\r\n"
    "X-RINCON-BOOTSEQ: 92\r\n"
    "BOOTID.UPNP.ORG: 92\r\n"
    "X-RINCON-WIFIMODE: 0\r\n"
    "X-RINCON-VARIANT: 2\r\n"
    "\r\n";

static const char notify_alive[] =
    "NOTIFY * HTTP/1.1\r\n"
    "HOST: 239.255.255.250:1900\r\n"
    "CACHE-CONTROL: max-age = 1800\r\n"
    "LOCATION: http://192.168.1.21:1400/xml/device_description.xml\r\n"
    "NT: urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    "NTS: ssdp:alive\r\n"
    "SERVER: Linux UPnP/1.0 Sonos/57.4-83220 (ZPS1)\r\n"
    "USN: uuid:RINCON_5CAAFD000B0E01400::urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    "X-RINCON-HOUSEHOLD: Sonos_Ab12Cd34Ef56Gh78Ij90Kl12Mn\r\n"
    "X-RINCON-BOOTSEQ: 7\r\n"
    "\r\n";

static const char notify_byebye[] =
    "NOTIFY * HTTP/1.1\r\n"
    "HOST: 239.255.255.250:1900\r\n"
    "NT: urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    "NTS: ssdp:byebye\r\n"
    "USN: uuid:RINCON_5CAAFD000B0E01400::urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    "\r\n";

/* A desktop controller answering for the household: not a player. */
static const char proxy_answer[] =
    "HTTP/1.1 200 OK\r\n"
    "CACHE-CONTROL: max-age = 1800\r\n"
    "EXT:\r\n"
    "LOCATION: http://192.168.1.50:3400/xml/device_description.xml\r\n"
    "SERVER: Windows UPnP/1.0 Sonos/57.4-83220 (ACR_Windows)\r\n"
    "ST: urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    "USN: uuid:RINCON_000E58FFFFFF03400::urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
    "X-RINCON-HOUSEHOLD: Sonos_Ab12Cd34Ef56Gh78Ij90Kl12Mn\r\n"
    "X-RINCON-BOOTSEQ: 3\r\n"
    "X-RINCON-PROXY: 1\r\n"
    "\r\n";

static void
test_msearch(void)
{
	char buf[512];
	struct ssdp_message m;
	int n = ssdp_build_msearch(buf, sizeof(buf), SSDP_ST_ZONEPLAYER, 1);

	CHECK(n > 0);
	CHECK_STR(buf, "M-SEARCH * HTTP/1.1\r\n"
	               "HOST: 239.255.255.250:1900\r\n"
	               "MAN: \"ssdp:discover\"\r\n"
	               "MX: 1\r\n"
	               "ST: urn:schemas-upnp-org:device:ZonePlayer:1\r\n"
	               "\r\n");
	CHECK_INT(ssdp_parse(buf, (size_t)n, &m), 0);
	CHECK_INT(m.kind, SSDP_SEARCH);
	CHECK_INT(ssdp_build_msearch(buf, 20, SSDP_ST_ZONEPLAYER, 1), -1);
	CHECK_INT(ssdp_build_msearch(buf, sizeof(buf), "a\r\nb", 1), -1);
}

static void
test_ssdp_messages(void)
{
	struct ssdp_message m;
	char host[64], path[128];
	uint16_t port;

	CHECK_INT(ssdp_parse(player_answer, strlen(player_answer), &m), 0);
	CHECK_INT(m.kind, SSDP_RESPONSE);
	CHECK_STR(m.location, "http://192.168.1.20:1400/xml/device_description.xml");
	CHECK_STR(m.uuid, "RINCON_949F0000A901400");
	CHECK_STR(m.st, SSDP_ST_ZONEPLAYER);
	CHECK_STR(m.household, "Sonos_Ab12Cd34Ef56Gh78Ij90Kl12Mn");
	CHECK_INT(m.has_bootseq, 1);
	CHECK_INT(m.bootseq, 92);
	CHECK_INT(m.proxy, 0);
	CHECK_INT(ssdp_location_check(m.location, "192.168.1.20", host, sizeof(host), &port, path,
	                              sizeof(path)),
	          0);
	CHECK_STR(host, "192.168.1.20");
	CHECK_INT(port, 1400);
	CHECK_STR(path, "/xml/device_description.xml");
	/* The location must be the sender's own address. */
	CHECK_INT(ssdp_location_check(m.location, "192.168.1.66", host, sizeof(host), &port, path,
	                              sizeof(path)),
	          -2);
	CHECK_INT(ssdp_location_check("http://speaker.lan:1400/x", "192.168.1.20", host,
	                              sizeof(host), &port, path, sizeof(path)),
	          -1);
	CHECK_INT(ssdp_location_check("file:///etc/passwd", "192.168.1.20", host, sizeof(host),
	                              &port, path, sizeof(path)),
	          -1);

	CHECK_INT(ssdp_parse(notify_alive, strlen(notify_alive), &m), 0);
	CHECK_INT(m.kind, SSDP_ALIVE);
	CHECK_STR(m.uuid, "RINCON_5CAAFD000B0E01400");
	CHECK_STR(m.st, SSDP_ST_ZONEPLAYER);
	CHECK_INT(m.bootseq, 7);

	CHECK_INT(ssdp_parse(notify_byebye, strlen(notify_byebye), &m), 0);
	CHECK_INT(m.kind, SSDP_BYEBYE);
	CHECK_STR(m.uuid, "RINCON_5CAAFD000B0E01400");
	CHECK_STR(m.location, "");

	CHECK_INT(ssdp_parse(proxy_answer, strlen(proxy_answer), &m), 0);
	CHECK_INT(m.proxy, 1);
	CHECK_STR(m.uuid, "RINCON_000E58FFFFFF03400");

	/* Lower-case names, bare LF, spaces around the colon, a bare uuid USN. */
	{
		const char *s = "http/1.1 200 OK\n"
		                "location : http://10.0.0.5:1400/xml/device_description.xml\n"
		                "st:urn:schemas-upnp-org:device:ZonePlayer:1\n"
		                "usn: UUID:RINCON_A\n\n";

		CHECK_INT(ssdp_parse(s, strlen(s), &m), 0);
		CHECK_STR(m.uuid, "RINCON_A");
		CHECK_STR(m.location, "http://10.0.0.5:1400/xml/device_description.xml");
		CHECK_INT(m.has_bootseq, 0);
	}
}

static void
test_ssdp_garbage(void)
{
	const char *bad[] = {
	    "",
	    "garbage",
	    "HTTP/1.1 404 Not Found\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nST: x\r\n\r\n", /* no USN, no LOCATION */
	    "HTTP/1.1 200 OK\r\nLOCATION: http://1.2.3.4/\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nUSN: uuid:RINCON_A\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nLOCATION: http://1.2.3.4/\r\nUSN: uuid:RIN/../CON\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nLOCATION: http://1.2.3.4/\r\nUSN: RINCON_A\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nLOCATION: http://1.2.3.4/\r\nUSN: uuid:\r\n\r\n",
	    "NOTIFY * HTTP/1.1\r\nUSN: uuid:RINCON_A\r\nLOCATION: http://1.2.3.4/\r\n\r\n",
	    "NOTIFY * HTTP/1.1\r\nNTS: ssdp:whatever\r\nUSN: uuid:A\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
	};
	struct ssdp_message m;
	char *big;
	unsigned seed = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(ssdp_parse(bad[i], strlen(bad[i]), &m), -1);
	}
	/* A NUL inside a value, a location too long to keep, an oversized datagram. */
	{
		static const char nul[] = "HTTP/1.1 200 OK\r\nLOCATION: http://1.2.3.4/\0x\r\n"
		                          "USN: uuid:A\r\n\r\n";

		CHECK_INT(ssdp_parse(nul, sizeof(nul) - 1, &m), -1);
	}
	big = malloc(SSDP_PACKET_MAX + 2);
	memset(big, 'a', SSDP_PACKET_MAX + 2);
	memcpy(big, "HTTP/1.1 200 OK\r\nUSN: uuid:A\r\nLOCATION: http://", 46);
	memcpy(big + 600, "\r\n\r\n", 4);
	CHECK_INT(ssdp_parse(big, 604, &m), -1);
	CHECK_INT(ssdp_parse(big, SSDP_PACKET_MAX + 1, &m), -1);
	/* Truncations of a real answer and random mutations: no crash, no overread. */
	for (size_t i = 0; i < strlen(player_answer); i++)
		ssdp_parse(player_answer, i, &m);
	for (int round = 0; round < 5000; round++) {
		size_t n = strlen(player_answer);

		memcpy(big, player_answer, n);
		for (int k = 0; k < 4; k++)
			big[rand_r(&seed) % n] = (char)(rand_r(&seed) & 0xff);
		if (ssdp_parse(big, n, &m) == 0) {
			CHECK(strlen(m.location) < sizeof(m.location));
			CHECK(strlen(m.uuid) > 0);
		}
	}
	free(big);
}

static char *
read_capture(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return NULL;
	}
	buf = malloc(DESCRIPTION_MAX + 1);
	*len = fread(buf, 1, DESCRIPTION_MAX, f);
	fclose(f);
	return buf;
}

static void
test_description(void)
{
	struct speaker_description d;
	char err[160];
	size_t len;
	char *xml = read_capture(CAPTURE("node-sonos-ts/device_description.xml"), &len);

	CHECK(xml != NULL);
	if (xml == NULL)
		return;
	CHECK_INT(description_parse(xml, len, &d, err, sizeof(err)), 0);
	CHECK_STR(d.uuid, "RINCON_949F0000A901400");
	CHECK_STR(d.room, "TV");
	CHECK_STR(d.model, "Sonos Playbar");
	CHECK_STR(d.display_name, "Playbar");
	CHECK_STR(d.software_version, "57.4-83220");
	/* Every truncation of the real file: fails cleanly or parses, never crashes. */
	for (size_t i = 0; i < len; i += 7)
		description_parse(xml, i, &d, err, sizeof(err));
	CHECK_INT(description_parse(xml, 0, &d, err, sizeof(err)), -1);
	CHECK_INT(description_parse(xml, DESCRIPTION_MAX + 1, &d, err, sizeof(err)), -1);
	free(xml);
}

static void
test_description_hostile(void)
{
	struct speaker_description d;
	char err[160];
	const char *laughs =
	    "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE root [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
	    "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;\">]>\n"
	    "<root><device><UDN>uuid:RINCON_A</UDN><roomName>&d;</roomName></device></root>";
	const char *external =
	    "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE root [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
	    "<root><device><UDN>uuid:RINCON_A</UDN><roomName>&x;</roomName></device></root>";
	const char *no_udn = "<root><device><roomName>Kitchen</roomName></device></root>";
	const char *bad_udn =
	    "<root><device><UDN>RINCON_A</UDN><roomName>K</roomName></device></root>";
	const char *odd_udn =
	    "<root><device><UDN>uuid:RINCON A/..</UDN><roomName>K</roomName></device></root>";
	const char *no_room = "<root><device><UDN>uuid:RINCON_A</UDN></device></root>";
	const char *wrong_root = "<html><device><UDN>uuid:RINCON_A</UDN></device></html>";
	const char *minimal =
	    "<root xmlns=\"urn:schemas-upnp-org:device-1-0\"><device>"
	    "<UDN>\n  uuid:RINCON_B1400\n</UDN><roomName><![CDATA[Living Room]]></roomName>"
	    "<modelName>Sonos One</modelName></device></root>";
	/* 70 bytes of two-byte characters: the cut must not split one. */
	char long_room[512];

	CHECK_INT(description_parse(laughs, strlen(laughs), &d, err, sizeof(err)), -1);
	CHECK_INT(description_parse(external, strlen(external), &d, err, sizeof(err)), -1);
	CHECK_INT(description_parse(no_udn, strlen(no_udn), &d, err, sizeof(err)), -1);
	CHECK_INT(description_parse(bad_udn, strlen(bad_udn), &d, err, sizeof(err)), -1);
	CHECK_INT(description_parse(odd_udn, strlen(odd_udn), &d, err, sizeof(err)), -1);
	CHECK_INT(description_parse(no_room, strlen(no_room), &d, err, sizeof(err)), -1);
	CHECK(strstr(err, "roomName") != NULL);
	CHECK_INT(description_parse(wrong_root, strlen(wrong_root), &d, err, sizeof(err)), -1);
	CHECK_INT(description_parse("garbage\x01\xff", 9, &d, err, sizeof(err)), -1);
	CHECK_INT(description_parse(minimal, strlen(minimal), &d, err, sizeof(err)), 0);
	CHECK_STR(d.uuid, "RINCON_B1400");
	CHECK_STR(d.room, "Living Room");
	CHECK_STR(d.model, "Sonos One");
	CHECK_STR(d.display_name, "");

	strcpy(long_room, "<root><device><UDN>uuid:RINCON_C</UDN><roomName>xy");
	for (int i = 0; i < 70; i++)
		strcat(long_room, "\xc3\xa9"); /* é */
	strcat(long_room, "</roomName></device></root>");
	CHECK_INT(description_parse(long_room, strlen(long_room), &d, err, sizeof(err)), 0);
	CHECK_INT(strlen(d.room), 62); /* "xy" + 30 whole characters, not 30 and a half */
	CHECK((unsigned char)d.room[61] == 0xa9);
}

static void
fill(struct msg_speaker *s, const char *uuid, const char *room, const char *ip)
{
	memset(s, 0, sizeof(*s));
	msg_strlcpy(s->uuid, uuid, sizeof(s->uuid));
	msg_strlcpy(s->room, room, sizeof(s->room));
	msg_strlcpy(s->ip, ip, sizeof(s->ip));
	msg_strlcpy(s->model, "Sonos One", sizeof(s->model));
	s->port = 1400;
}

static void
test_table(void)
{
	static struct speaker_table t;
	static union {
		struct msg_speakers head;
		char room[sizeof(struct msg_speakers) +
		          MSG_SPEAKERS_MAX * sizeof(struct msg_speaker)];
	} snap;
	struct msg_speaker s;
	char displaced[48];

	fill(&s, "RINCON_A", "Kitchen", "127.0.0.2");
	CHECK_INT(speaker_table_update(&t, &s, FOUND_SSDP, 1, 10, displaced), TABLE_ADDED);
	CHECK_INT(speaker_table_update(&t, &s, FOUND_SSDP, 1, 20, displaced), TABLE_SAME);
	CHECK_INT(speaker_table_find(&t, "RINCON_A")->seen_ms, 20);
	fill(&s, "RINCON_A", "Kitchen", "127.0.0.3");
	CHECK_INT(speaker_table_update(&t, &s, FOUND_SSDP, 1, 30, displaced), TABLE_MOVED);
	CHECK(speaker_table_find_ip(&t, "127.0.0.2") == NULL);
	fill(&s, "RINCON_A", "Cuisine", "127.0.0.3");
	CHECK_INT(speaker_table_update(&t, &s, FOUND_SSDP, 1, 30, displaced), TABLE_CHANGED);
	fill(&s, "RINCON_B", "Office", "127.0.0.4");
	CHECK_INT(speaker_table_update(&t, &s, FOUND_MANUAL, 0, 40, displaced), TABLE_ADDED);
	CHECK_STR(displaced, "");
	CHECK_INT(t.count, 2);
	/* A new uuid at A's address replaces A. */
	fill(&s, "RINCON_C", "Den", "127.0.0.3");
	CHECK_INT(speaker_table_update(&t, &s, FOUND_SSDP, 0, 50, displaced), TABLE_ADDED);
	CHECK_STR(displaced, "RINCON_A");
	CHECK_INT(t.count, 2);
	CHECK_INT(speaker_table_snapshot(&t, &snap.head, 1000, 0),
	          sizeof(struct msg_speakers) + 2 * sizeof(struct msg_speaker));
	CHECK_INT(snap.head.count, 2);
	CHECK_STR(snap.head.speakers[0].uuid, "RINCON_B");
	CHECK_STR(snap.head.speakers[1].uuid, "RINCON_C");
	CHECK_INT(speaker_table_remove(&t, "RINCON_B"), 1);
	CHECK_INT(speaker_table_remove(&t, "RINCON_B"), 0);
	CHECK_STR(t.entries[0].speaker.uuid, "RINCON_C");
	/* Full table: a new uuid is refused, a known one still updates. */
	for (int i = t.count; i < MSG_SPEAKERS_MAX; i++) {
		char uuid[32], ip[32];

		snprintf(uuid, sizeof(uuid), "RINCON_%d", i);
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250 + 1);
		fill(&s, uuid, "Room", ip);
		CHECK_INT(speaker_table_update(&t, &s, FOUND_SSDP, 0, 60, NULL), TABLE_ADDED);
	}
	fill(&s, "RINCON_Z", "Room", "10.9.9.9");
	CHECK_INT(speaker_table_update(&t, &s, FOUND_SSDP, 0, 60, NULL), TABLE_FULL);
	CHECK_INT(speaker_table_snapshot(&t, &snap.head, 1000, 0),
	          sizeof(struct msg_speakers) + MSG_SPEAKERS_MAX * sizeof(struct msg_speaker));
	CHECK_STR(found_by_name(FOUND_MANUAL), "manual");
}

/* Backoff per address, doubling to the cap; an alive lifts only a hold that followed a
 * topology, never one that followed the address's own messages. */
static void
test_source_hold(void)
{
	static struct source_table t;
	uint64_t now = 1000;

	CHECK_INT(source_held(&t, "10.0.0.9", 1, 1, 0, 0, now), 0);
	CHECK_INT(source_failed(&t, "10.0.0.9", 5, 1, now), SOURCE_HOLD_MIN_MS);
	CHECK_INT(source_held(&t, "10.0.0.9", 1, 0, 0, 0, now + 999), 1);
	CHECK_INT(source_held(&t, "10.0.0.9", 1, 1, 1, 6, now + 999), 1); /* its own word */
	CHECK_INT(source_held(&t, "10.0.0.8", 1, 0, 0, 0, now), 0);       /* another host */
	CHECK_INT(source_held(&t, "10.0.0.9", 1, 0, 0, 0, now + 1000), 0);
	CHECK_INT(source_failed(&t, "10.0.0.9", 5, 1, now + 1000), 2 * SOURCE_HOLD_MIN_MS);
	CHECK_INT(source_failed(&t, "10.0.0.9", 5, 1, now + 3000), 4 * SOURCE_HOLD_MIN_MS);
	for (int i = 0; i < 10; i++)
		source_failed(&t, "10.0.0.9", 5, 1, now + 7000);
	CHECK_INT(source_failed(&t, "10.0.0.9", 5, 1, now + 7000), SOURCE_HOLD_MAX_MS);
	/* Quiet for long after the hold: back to the shortest. */
	now += 7000 + 3 * SOURCE_HOLD_MAX_MS;
	CHECK_INT(source_failed(&t, "10.0.0.9", 5, 1, now), SOURCE_HOLD_MIN_MS);
	source_ok(&t, "10.0.0.9");
	CHECK_INT(source_held(&t, "10.0.0.9", 1, 0, 0, 0, now), 0);
	CHECK_INT(source_failed(&t, "10.0.0.9", 5, 1, now), SOURCE_HOLD_MIN_MS);

	/* A topology's word failed: the device's alive or new boot sequence lifts the hold, the
	 * topology asking again does not. */
	CHECK_INT(source_failed(&t, "10.0.0.7", 40, 0, now), SOURCE_HOLD_MIN_MS);
	CHECK_INT(source_held(&t, "10.0.0.7", 0, 0, 0, 0, now), 1);
	CHECK_INT(source_held(&t, "10.0.0.7", 1, 0, 1, 40, now), 1); /* same boot: an answer */
	CHECK_INT(source_held(&t, "10.0.0.7", 1, 0, 1, 41, now), 0);
	CHECK_INT(source_held(&t, "10.0.0.7", 0, 0, 0, 0, now), 0);
	source_failed(&t, "10.0.0.7", 40, 0, now);
	CHECK_INT(source_held(&t, "10.0.0.7", 1, 1, 0, 0, now), 0);
}

/* Bounded memory: many addresses reuse the least recently used entries. */
static void
test_source_table_bounded(void)
{
	static struct source_table t;
	char ip[16];

	source_failed(&t, "10.0.1.1", 0, 1, 1000);
	for (int i = 0; i < 5 * SOURCES_MAX; i++) {
		snprintf(ip, sizeof(ip), "10.0.2.%d", i % 250);
		source_failed(&t, ip, 0, 1, 2000 + (uint64_t)i);
	}
	CHECK_INT(source_held(&t, "10.0.1.1", 1, 0, 0, 0, 1500), 0); /* evicted first */
	CHECK_INT(source_held(&t, ip, 1, 0, 0, 0, 2500), 1);
}

/* One warning per address per period, at most a burst of all; the rest are counted and
 * summed up once it is time. */
static void
test_source_warnings(void)
{
	static struct source_table t;
	uint64_t now = 5000;
	char ip[16];

	CHECK_INT(source_warn_ok(&t, "10.0.0.9", now), 1);
	for (int i = 0; i < 2880; i++)
		CHECK_INT(source_warn_ok(&t, "10.0.0.9", now + (uint64_t)i), 0);
	CHECK_INT(source_summary_due(&t, now + SOURCE_SUMMARY_DELAY_MS - 1), 0);
	CHECK_INT(source_summary_due(&t, now + SOURCE_SUMMARY_DELAY_MS), 2880);
	CHECK_INT(source_summary_due(&t, now + SOURCE_SUMMARY_DELAY_MS + 1), 0);
	/* The next summary waits a whole period after the last one. */
	CHECK_INT(source_warn_ok(&t, "10.0.0.9", now + 20000), 0);
	CHECK_INT(source_summary_due(&t, now + 35000), 0);
	CHECK_INT(source_summary_due(&t, now + SOURCE_SUMMARY_DELAY_MS + SOURCE_WARN_PERIOD_MS), 1);
	/* A period later the address may be named again. */
	now += SOURCE_WARN_PERIOD_MS;
	CHECK_INT(source_warn_ok(&t, "10.0.0.9", now), 1);
	/* Many addresses: a burst per period, not one line each. */
	now += SOURCE_WARN_PERIOD_MS;
	for (int i = 0; i < 200; i++) {
		snprintf(ip, sizeof(ip), "10.1.0.%d", i);
		CHECK_INT(source_warn_ok(&t, ip, now), i < SOURCE_WARN_BURST);
	}
	CHECK_INT(source_summary_due(&t, now + SOURCE_SUMMARY_DELAY_MS), 200 - SOURCE_WARN_BURST);
}

int
main(void)
{
	description_init();
	test_msearch();
	test_ssdp_messages();
	test_ssdp_garbage();
	test_description();
	test_description_hostile();
	test_table();
	test_source_hold();
	test_source_table_bounded();
	test_source_warnings();
	description_cleanup();
	CHECK_DONE();
}
