/* test_topology.c -- ZoneGroupState parsing on the real captures, and on hostile input. */
#include "check.h"
#include "description.h"
#include "speaker_table.h"
#include "topology.h"

#include <stdlib.h>

static char *
read_capture(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return NULL;
	}
	buf = malloc(TOPOLOGY_BODY_MAX + 1);
	*len = fread(buf, 1, TOPOLOGY_BODY_MAX, f);
	fclose(f);
	return buf;
}

static struct topology t; /* large: not on the stack */

static int
parse_capture(const char *path)
{
	char err[160];
	size_t len;
	char *xml = read_capture(path, &len);
	int rv;

	if (xml == NULL)
		return -2;
	rv = topology_parse(xml, len, &t, err, sizeof(err));
	if (rv < 0)
		fprintf(stderr, "%s: %s\n", path, err);
	/* Every truncation of a real body: fails cleanly or parses, never crashes. */
	for (size_t i = 0; i < len; i += 11) {
		static struct topology scratch;

		topology_parse(xml, i, &scratch, err, sizeof(err));
	}
	free(xml);
	return rv;
}

/* Visible members: the rooms a user sees. */
static int
visible(void)
{
	int n = 0;

	for (int i = 0; i < t.count; i++)
		n += !topology_member_hidden(&t.members[i]);
	return n;
}

static void
test_plain_group(void)
{
	const struct topology_member *m;

	CHECK_INT(parse_capture(CAPTURE("node-sonos-ts/zone-group.GroupState.xml")), 0);
	CHECK_INT(t.groups, 1);
	CHECK_INT(t.count, 3);
	CHECK_INT(visible(), 3);
	m = topology_find(&t, "RINCON_000FFFFFF4AA01400");
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK_STR(m->room, "TV");
	CHECK_STR(m->ip, "192.168.1.21");
	CHECK_INT(m->port, 1400);
	CHECK_STR(m->coordinator, "RINCON_000FFFFFF42C01400");
	CHECK_STR(m->group_id, "RINCON_000FFFFFF42C01400:63");
	CHECK_INT(m->bootseq, 44);
	CHECK_STR(topology_find(&t, "RINCON_000FFFFFF4CC01400")->room, "Eetkamer");
}

static void
test_stereo_pair(void)
{
	const struct topology_member *left, *right;

	CHECK_INT(
	    parse_capture(CAPTURE("node-sonos-ts/zone-group.GroupState.ChannelMapSet.stereo.xml")),
	    0);
	CHECK_INT(t.count, 2);
	CHECK_INT(visible(), 1); /* one room "Office", not two */
	left = topology_find(&t, "RINCON_FFFFFFFFFFFFFFFF0");
	right = topology_find(&t, "RINCON_FFFFFFFFF0000FFF0");
	CHECK(left != NULL && right != NULL);
	if (left == NULL || right == NULL)
		return;
	CHECK(!topology_member_hidden(left));
	CHECK_STR(left->room, "Office");
	CHECK_STR(left->ip, "192.168.1.21");
	CHECK_INT(left->bootseq, 17);
	CHECK(right->invisible);
	CHECK_STR(right->room, "Office");
	CHECK_STR(right->owner, "RINCON_FFFFFFFFFFFFFFFF0");
	CHECK_STR(right->ip, "192.168.1.22");
	CHECK_INT(topology_satellites(&t, left->uuid), 1);

	CHECK_INT(
	    parse_capture(CAPTURE("node-sonos-ts/zone-group.GroupState.ChannelMapSet.normal.xml")),
	    0);
	CHECK_INT(visible(), 2);
	CHECK_STR(topology_find(&t, "RINCON_FFFFFFFF000000000")->room, "Living Room");
}

static void
test_home_theatre(void)
{
	const struct topology_member *bar, *sub;

	CHECK_INT(parse_capture(CAPTURE(
	              "node-sonos-ts/zone-group.GroupState.ChannelMapSet.home-theater.xml")),
	          0);
	CHECK_INT(t.groups, 2);
	CHECK_INT(t.count, 5);
	CHECK_INT(visible(), 2); /* Downstairs and Upstairs; the sub named "Sub" is no room */
	bar = topology_find(&t, "RINCON_FFFFFFFFFFFFFFFF0");
	sub = topology_find(&t, "RINCON_FFFFFFFFFFFFFF0FF");
	CHECK(bar != NULL && sub != NULL);
	if (bar == NULL || sub == NULL)
		return;
	CHECK_STR(bar->room, "Downstairs");
	CHECK_STR(sub->room, "Sub");
	CHECK(sub->satellite && sub->invisible);
	CHECK_STR(sub->owner, bar->uuid);
	CHECK_STR(sub->ip, "192.168.4.4");
	CHECK_STR(sub->group_id, "RINCON_FFFFFFFFFFFFFFFF0:3497712774");
	CHECK_INT(topology_satellites(&t, bar->uuid), 3);
	CHECK_STR(topology_find(&t, "RINCON_FFFFFFFFFFFF0FFFF")->coordinator,
	          "RINCON_FFFFFFFFFFFF0FFFF");
	CHECK_INT(topology_satellites(&t, "RINCON_FFFFFFFFFFFF0FFFF"), 0);
}

/* The event captures of node-sonos-discovery: e:propertyset, attribute values with newlines,
 * anonymized (repeated) uuids, a BOOST bridge, and one body with a ZoneGroup left open. */
static void
test_events(void)
{
	const struct topology_member *m;

	CHECK_INT(parse_capture(CAPTURE("node-sonos-discovery/zonegroupstate.xml")), 0);
	CHECK_INT(t.groups, 2);
	/* Every member carries the same uuid: only the first (the bridge) is kept. */
	CHECK_INT(t.count, 1);
	CHECK_INT(t.duplicates, 6);
	CHECK(t.members[0].zone_bridge && topology_member_hidden(&t.members[0]));
	CHECK_STR(t.members[0].room, "BOOST");
	/* "RINCON_00000000000001400\n            " in the capture: trimmed. */
	CHECK_STR(t.members[0].coordinator, "RINCON_00000000000001400");

	CHECK_INT(parse_capture(CAPTURE("node-sonos-discovery/zonegroupstate_with_satellites.xml")),
	          0);
	CHECK(t.recovered);
	m = topology_find(&t, "RINCON_000PPP1400");
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK(!topology_member_hidden(m));
	CHECK_STR(m->room, "Home Theatre");
	CHECK_STR(m->ip, "192.168.1.103");
	CHECK_INT(m->bootseq, 8);
	CHECK_INT(topology_satellites(&t, m->uuid), 3);
	CHECK(topology_find(&t, "RINCON_000QQQ1400")->satellite);
}

static void
test_hostile(void)
{
	static const char *bad[] = {
	    "",
	    "not xml at all",
	    "<ZoneGroupState></ZoneGroupState>",
	    "<ZoneGroupState>&lt;ZoneGroups&gt;</ZoneGroupState>", /* no member */
	    "<ZoneGroupState>&lt;broken</ZoneGroupState>",
	    /* a DTD with an entity bomb, outside and inside */
	    "<!DOCTYPE z [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
	    "<ZoneGroups><ZoneGroup><ZoneGroupMember UUID=\"RINCON_A\" ZoneName=\"&b;\"/>"
	    "</ZoneGroup></ZoneGroups>",
	    "<ZoneGroupState>&lt;!DOCTYPE z [&lt;!ENTITY x SYSTEM \"file:///etc/passwd\"&gt;]&gt;"
	    "&lt;ZoneGroups&gt;&lt;ZoneGroup&gt;&lt;ZoneGroupMember UUID=\"RINCON_A\" "
	    "ZoneName=\"&amp;x;\"/&gt;&lt;/ZoneGroup&gt;&lt;/ZoneGroups&gt;</ZoneGroupState>",
	    /* uuids that are not uuids */
	    "<ZoneGroups><ZoneGroup><ZoneGroupMember UUID=\"../../etc\"/>"
	    "<ZoneGroupMember UUID=\"\"/></ZoneGroup></ZoneGroups>",
	};
	char err[160], big[600];
	const char *odd =
	    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
	    "<u:GetZoneGroupStateResponse xmlns:u=\"urn:schemas-upnp-org:service:"
	    "ZoneGroupTopology:1\"><ZoneGroupState>&lt;ZoneGroupState&gt;&lt;ZoneGroups&gt;"
	    "&lt;ZoneGroup Coordinator=\"RINCON_A\" ID=\"RINCON_A:1\"&gt;"
	    "&lt;ZoneGroupMember UUID=\"RINCON_A\" Location=\"http://[::1]:1400/x\" "
	    "ZoneName=\" Bad&#10;Room \" BootSeq=\"99999999999\"/&gt;"
	    "&lt;ZoneGroupMember UUID=\"RINCON_B\" Location=\"ftp://10.0.0.2/\" "
	    "ZoneName=\"\xc3\xa9t\xc3\xa9\" BootSeq=\"-1\"/&gt;"
	    "&lt;/ZoneGroup&gt;&lt;/ZoneGroups&gt;&lt;/ZoneGroupState&gt;</ZoneGroupState>"
	    "</u:GetZoneGroupStateResponse></s:Body></s:Envelope>";
	const char *household =
	    "<a><b><CurrentHouseholdID> Sonos_X1\n</CurrentHouseholdID></b></a>";
	char value[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(topology_parse(bad[i], strlen(bad[i]), &t, err, sizeof(err)), -1);
	CHECK_INT(topology_parse(odd, TOPOLOGY_BODY_MAX + 1, &t, err, sizeof(err)), -1);

	/* A SOAP answer: odd values are kept safe, never trusted. */
	CHECK_INT(topology_parse(odd, strlen(odd), &t, err, sizeof(err)), 0);
	CHECK_INT(t.count, 2);
	CHECK_STR(t.members[0].room, "Bad Room"); /* the newline became a space */
	CHECK_STR(t.members[0].ip, "");           /* not IPv4 */
	CHECK_INT(t.members[0].bootseq, 0);       /* out of range */
	CHECK_STR(t.members[1].ip, "");           /* not http */
	CHECK_STR(t.members[1].room, "\xc3\xa9t\xc3\xa9");
	CHECK_INT(t.members[1].bootseq, 0);

	/* More members than fit: the rest are dropped and flagged. */
	{
		size_t cap = 64 * (TOPOLOGY_MEMBERS_MAX + 10) + 100, n;
		char *many = malloc(cap);

		n = (size_t)snprintf(many, cap, "<ZoneGroups><ZoneGroup>");
		for (int i = 0; i < TOPOLOGY_MEMBERS_MAX + 10; i++)
			n += (size_t)snprintf(many + n, cap - n,
			                      "<ZoneGroupMember UUID=\"RINCON_%d\"/>", i);
		n += (size_t)snprintf(many + n, cap - n, "</ZoneGroup></ZoneGroups>");
		CHECK_INT(topology_parse(many, n, &t, err, sizeof(err)), 0);
		CHECK_INT(t.count, TOPOLOGY_MEMBERS_MAX);
		CHECK(t.truncated);
		free(many);
	}

	/* A long room name is cut on a character boundary. */
	strcpy(big, "<ZoneGroups><ZoneGroup><ZoneGroupMember UUID=\"RINCON_C\" ZoneName=\"xy");
	for (int i = 0; i < 70; i++)
		strcat(big, "\xc3\xa9");
	strcat(big, "\"/></ZoneGroup></ZoneGroups>");
	CHECK_INT(topology_parse(big, strlen(big), &t, err, sizeof(err)), 0);
	CHECK_INT(strlen(t.members[0].room), 62);

	CHECK_INT(topology_soap_value(household, strlen(household), "CurrentHouseholdID", value,
	                              sizeof(value)),
	          0);
	CHECK_STR(value, "Sonos_X1");
	CHECK_INT(topology_soap_value("<a/>", 4, "CurrentHouseholdID", value, sizeof(value)), -1);
	CHECK_INT(topology_soap_value("<a", 2, "x", value, sizeof(value)), -1);
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

/* The table with a topology: the stereo pair is one speaker, fields survive description
 * updates, a reboot and a move are reported. */
static void
test_table_topology(void)
{
	static struct speaker_table tab;
	static union {
		struct msg_speakers head;
		char room[sizeof(struct msg_speakers) +
		          MSG_SPEAKERS_MAX * sizeof(struct msg_speaker)];
	} snap;
	const char *left = "RINCON_FFFFFFFFFFFFFFFF0", *right = "RINCON_FFFFFFFFF0000FFF0";
	struct msg_speaker s;
	const struct msg_speaker *o;

	fill(&s, left, "Office", "192.168.1.21");
	CHECK_INT(speaker_table_update(&tab, &s, FOUND_SSDP, 17, 1000, NULL), TABLE_ADDED);
	fill(&s, right, "Office", "192.168.1.22");
	msg_strlcpy(s.household, "Sonos_H", sizeof(s.household));
	CHECK_INT(speaker_table_update(&tab, &s, FOUND_SSDP, 19, 1000, NULL), TABLE_ADDED);
	/* No topology yet: held back for the grace time, then listed as they are. */
	speaker_table_snapshot(&tab, &snap.head, 1100, 3000);
	CHECK_INT(snap.head.count, 0);
	speaker_table_snapshot(&tab, &snap.head, 4000, 3000);
	CHECK_INT(snap.head.count, 2);
	CHECK_STR(snap.head.speakers[0].coordinator, left); /* itself, when unknown */

	CHECK_INT(
	    parse_capture(CAPTURE("node-sonos-ts/zone-group.GroupState.ChannelMapSet.stereo.xml")),
	    0);
	CHECK_INT(speaker_table_apply_topology(&tab, &t, "Sonos_H"), 2);
	CHECK_INT(speaker_table_apply_topology(&tab, &t, "Sonos_H"), 0);
	speaker_table_snapshot(&tab, &snap.head, 1100, 3000);
	CHECK_INT(snap.head.count, 1);
	o = &snap.head.speakers[0];
	CHECK_STR(o->uuid, left);
	CHECK_STR(o->room, "Office");
	CHECK_STR(o->group_id, "RINCON_FFFFFFFFFFFFFFFF0:123456789");
	CHECK_STR(o->coordinator, left);
	CHECK_STR(o->household, "Sonos_H");
	CHECK_INT(o->satellites, 1);
	CHECK_INT(o->bootseq, 17);
	CHECK_INT(speaker_table_find(&tab, right)->role, ROLE_HIDDEN);

	/* A description update keeps what the topology said; a new boot counter is a reboot. */
	fill(&s, left, "Office", "192.168.1.21");
	CHECK_INT(speaker_table_update(&tab, &s, FOUND_NOTIFY, 17, 2000, NULL), TABLE_SAME);
	CHECK_INT(speaker_table_update(&tab, &s, FOUND_NOTIFY, 18, 2000, NULL), TABLE_REBOOTED);
	fill(&s, left, "Office", "192.168.1.30");
	CHECK_INT(speaker_table_update(&tab, &s, FOUND_NOTIFY, 18, 2000, NULL), TABLE_MOVED);
	speaker_table_snapshot(&tab, &snap.head, 2000, 3000);
	CHECK_INT(snap.head.count, 1);
	CHECK_STR(o->ip, "192.168.1.30");
	CHECK_INT(o->bootseq, 18);
	CHECK_STR(o->group_id, "RINCON_FFFFFFFFFFFFFFFF0:123456789");
	CHECK_STR(o->household, "Sonos_H");

	/* The pair is split (the plain capture lists the other uuid as a room): nothing of the
	 * stereo topology lists it any more, so its role stays until a topology does. */
	CHECK_INT(
	    parse_capture(CAPTURE("node-sonos-ts/zone-group.GroupState.ChannelMapSet.normal.xml")),
	    0);
	speaker_table_apply_topology(&tab, &t, "Sonos_H");
	CHECK_INT(speaker_table_find(&tab, left)->speaker.satellites, 0);
	CHECK_STR(speaker_table_find(&tab, left)->speaker.room, "Kitchen");
}

/* A member's Location decides what the bridge fetches: only a player's address (IPv4
 * unicast, port 1400) is kept, so one device cannot point the bridge at any host and port. */
static void
test_locations(void)
{
	static struct topology loc;
	char err[160];
	const char *doc =
	    "<ZoneGroups><ZoneGroup Coordinator=\"RINCON_A\" ID=\"RINCON_A:1\">"
	    "<ZoneGroupMember UUID=\"RINCON_A\" Location=\"http://127.0.0.77:1400/xml/d.xml\"/>"
	    "<ZoneGroupMember UUID=\"RINCON_B\" Location=\"http://127.0.0.1:6543/xml/d.xml\"/>"
	    "<ZoneGroupMember UUID=\"RINCON_C\" Location=\"http://224.0.0.1:1400/\"/>"
	    "<ZoneGroupMember UUID=\"RINCON_D\" Location=\"http://0.0.0.0:1400/\"/>"
	    "<ZoneGroupMember UUID=\"RINCON_E\" Location=\"http://255.255.255.255:1400/\"/>"
	    "<ZoneGroupMember UUID=\"RINCON_F\" Location=\"http://192.168.1.20:1400/x\"/>"
	    "</ZoneGroup></ZoneGroups>";

	CHECK_INT(topology_parse(doc, strlen(doc), &loc, err, sizeof(err)), 0);
	CHECK_INT(loc.count, 6);
	CHECK_INT(loc.refused, 4);
	CHECK_STR(topology_find(&loc, "RINCON_A")->ip, "127.0.0.77");
	CHECK_STR(topology_find(&loc, "RINCON_B")->ip, "");
	CHECK_STR(topology_find(&loc, "RINCON_C")->ip, "");
	CHECK_STR(topology_find(&loc, "RINCON_D")->ip, "");
	CHECK_STR(topology_find(&loc, "RINCON_E")->ip, "");
	CHECK_STR(topology_find(&loc, "RINCON_F")->ip, "192.168.1.20");
	CHECK(topology_location_ok("10.1.2.3", 1400));
	CHECK(!topology_location_ok("10.1.2.3", 80));
	CHECK(!topology_location_ok("240.0.0.1", 1400));
	CHECK(!topology_location_ok("example.com", 1400));
}

int
main(void)
{
	description_init();
	test_plain_group();
	test_stereo_pair();
	test_home_theatre();
	test_events();
	test_hostile();
	test_table_topology();
	test_locations();
	description_cleanup();
	CHECK_DONE();
}
