/* test_gena.c -- GENA LastChange bodies (the real captures and hostile ones), and what they do
 * to a speaker's state document. */
#include "check.h"
#include "gena_route.h"
#include "http_client.h"
#include "http_request.h"
#include "lastchange.h"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>

#include <libxml/parser.h>

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(1);
	}
	buf = malloc(1 << 20);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* A property set around an Event document given as already-escaped LastChange text. */
static char *
propertyset(const char *escaped_event)
{
	struct strbuf b = STRBUF_INIT;

	strbuf_printf(&b,
	              "<e:propertyset xmlns:e=\"urn:schemas-upnp-org:event-1-0\"><e:property>"
	              "<LastChange>%s</LastChange></e:property></e:propertyset>",
	              escaped_event);
	return b.s;
}

/* Same, from an unescaped Event document (escaped here once). */
static char *
propertyset_of(const char *event)
{
	struct strbuf esc = STRBUF_INIT;
	char *out;

	strbuf_xml_escape(&esc, event);
	out = propertyset(esc.s);
	strbuf_free(&esc);
	return out;
}

static void
test_avtransport_capture(void)
{
	size_t len;
	char *body = slurp(CAPTURE("node-sonos-discovery/avtransportlastchange.xml"), &len);
	struct lastchange lc;
	char err[160] = "";

	CHECK_INT(lastchange_parse(body, len, &lc, err, sizeof(err)), 0);
	CHECK(lc.have & LC_TRANSPORT);
	CHECK_STR(lc.transport, "PLAYING");
	CHECK_STR(lc.play_mode, "SHUFFLE");
	CHECK(lc.have & LC_TRACK);
	CHECK_INT(lc.track, 43);
	CHECK_STR(lc.duration, "0:05:18");
	/* Escaped twice in the body (&amp;amp;): one & left after both levels. */
	CHECK_STR(lc.track_uri,
	          "x-sonos-spotify:spotify%3atrack%3a5qAFqkXoQd2RfjZ2j1ay0w?sid=9&flags=8224&sn=9");
	CHECK_STR(lc.uri, "x-rincon-queue:RINCON_00000000000001400#0");
	CHECK(lc.have & LC_META);
	CHECK_STR(lc.meta.title, "Intermezzo No. 3 in C-sharp minor, Op. 117 - Andante con moto");
	CHECK_STR(lc.meta.artist, "Johannes Brahms");
	CHECK_STR(
	    lc.meta.album,
	    "Glenn Gould plays Brahms: 4 Ballades op. 10; 2 Rhapsodies op. 79; 10 Intermezzi");
	/* NextTrackMetaData (Here To Mars) must not leak into the current track. */
	CHECK(!(lc.have & (LC_VOLUME | LC_MUTE)));

	/* Every truncation is refused or parsed, never a crash (run under ASan in CI). */
	for (size_t n = 0; n < len; n += 7) {
		struct lastchange t;

		if (lastchange_parse(body, n, &t, err, sizeof(err)) == 0)
			CHECK(n > 0);
	}
	free(body);
}

static void
test_rendering_captures(void)
{
	size_t len;
	char *body = slurp(CAPTURE("node-sonos-discovery/renderingcontrollastchange.xml"), &len);
	struct lastchange lc;
	char err[160] = "";

	CHECK_INT(lastchange_parse(body, len, &lc, err, sizeof(err)), 0);
	CHECK_INT(lc.have, LC_VOLUME); /* LF and RF (100) are the balance, not the volume */
	CHECK_INT(lc.volume, 12);
	free(body);

	/* The sub's settings: a valid event with nothing the state document shows. */
	body = slurp(CAPTURE("node-sonos-discovery/sublastchange.xml"), &len);
	CHECK_INT(lastchange_parse(body, len, &lc, err, sizeof(err)), 0);
	CHECK_INT(lc.have, 0);
	free(body);
}

static void
test_mute_and_ranges(void)
{
	struct lastchange lc;
	char err[160];
	char *b = propertyset_of(
	    "<Event xmlns=\"urn:schemas-upnp-org:metadata-1-0/RCS/\"><InstanceID val=\"0\">"
	    "<Mute channel=\"Master\" val=\"1\"/><Mute channel=\"LF\" val=\"0\"/>"
	    "<Volume channel=\"Master\" val=\"101\"/><Volume val=\"5\"/>"
	    "<TransportState val=\"PLAY ING\"/><CurrentTrack val=\"-3\"/>"
	    "</InstanceID></Event>");

	CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
	CHECK_INT(lc.have, LC_MUTE);
	CHECK_INT(lc.mute, 1);
	free(b);

	/* Only InstanceID 0 counts. */
	b = propertyset_of("<Event><InstanceID val=\"1\"><Volume channel=\"Master\" val=\"7\"/>"
	                   "</InstanceID><InstanceID val=\"0\"><Volume channel=\"Master\" "
	                   "val=\"9\"/></InstanceID></Event>");
	CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
	CHECK_INT(lc.volume, 9);
	free(b);

	/* A property set of another variable: nothing, and no error. */
	b = strdup("<e:propertyset xmlns:e=\"urn:schemas-upnp-org:event-1-0\"><e:property>"
	           "<ZoneGroupState>x</ZoneGroupState></e:property></e:propertyset>");
	CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
	CHECK_INT(lc.have, 0);
	free(b);
}

static void
test_metadata(void)
{
	struct lastchange lc;
	char err[160];
	/* Radio: the title is in r:streamContent; the metadata attribute is escaped once. */
	char *b = propertyset_of(
	    "<Event xmlns=\"urn:schemas-upnp-org:metadata-1-0/AVT/\"><InstanceID val=\"0\">"
	    "<TransportState val=\"PLAYING\"/><AVTransportURI "
	    "val=\"x-sonosapi-stream:s17488?sid=254&amp;flags=8224\"/>"
	    "<CurrentTrackDuration val=\"\"/>"
	    "<CurrentTrackMetaData val=\"&lt;DIDL-Lite xmlns:dc=&quot;http://purl.org/dc/elements"
	    "/1.1/&quot; xmlns:r=&quot;urn:schemas-rinconnetworks-com:metadata-1-0/&quot; "
	    "xmlns=&quot;urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/&quot;&gt;&lt;item "
	    "id=&quot;-1&quot;&gt;&lt;r:streamContent&gt;Elle King - Ex&amp;apos;s &amp;amp; "
	    "Oh&amp;apos;s&lt;/r:streamContent&gt;&lt;dc:title&gt;x-sonosapi-stream&lt;/dc:title"
	    "&gt;&lt;/item&gt;&lt;/DIDL-Lite&gt;\"/></InstanceID></Event>");
	struct speaker_state st;

	CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
	CHECK_STR(lc.uri, "x-sonosapi-stream:s17488?sid=254&flags=8224");
	CHECK_STR(lc.meta.stream_content, "Elle King - Ex's & Oh's");
	CHECK(lc.have & LC_DURATION);
	CHECK_STR(lc.duration, "");
	memset(&st, 0, sizeof(st));
	strcpy(st.position, "0:01:00");
	lastchange_apply(&lc, &st);
	CHECK_STR(st.transport, "PLAYING");
	CHECK_INT(st.source, SOURCE_STREAM);
	CHECK_STR(st.meta.stream_content, "Elle King - Ex's & Oh's");
	CHECK_STR(st.position, ""); /* another title: the old position is no longer true */
	CHECK(!st.have_volume);
	free(b);

	/* Empty and NOT_IMPLEMENTED metadata are known-empty; a DTD in it is never parsed. */
	b = propertyset_of("<Event><InstanceID val=\"0\"><CurrentTrackMetaData val=\"\"/>"
	                   "</InstanceID></Event>");
	CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
	CHECK(lc.have & LC_META);
	CHECK_STR(lc.meta.title, "");
	free(b);
	b = propertyset_of("<Event><InstanceID val=\"0\"><CurrentTrackMetaData val=\"&lt;!DOCTYPE "
	                   "x [&lt;!ENTITY a &quot;aaaa&quot;&gt;]&gt;&lt;DIDL-Lite&gt;&lt;item&gt;"
	                   "&lt;title&gt;&amp;a;&lt;/title&gt;&lt;/item&gt;&lt;/DIDL-Lite&gt;\"/>"
	                   "<CurrentTrack val=\"2\"/></InstanceID></Event>");
	CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
	CHECK_STR(lc.meta.title, "");
	CHECK_INT(lc.track, 2);
	free(b);
}

static void
test_merge_and_apply(void)
{
	struct lastchange acc, lc;
	struct speaker_state st;
	char err[160];
	char *a = propertyset_of("<Event><InstanceID val=\"0\"><TransportState val=\"PLAYING\"/>"
	                         "<AVTransportURI val=\"x-rincon-queue:RINCON_1#0\"/>"
	                         "<CurrentTrack val=\"3\"/></InstanceID></Event>");
	char *b = propertyset_of("<Event><InstanceID val=\"0\"><TransportState "
	                         "val=\"PAUSED_PLAYBACK\"/></InstanceID></Event>");

	memset(&acc, 0, sizeof(acc));
	CHECK_INT(lastchange_parse(a, strlen(a), &lc, err, sizeof(err)), 0);
	lastchange_merge(&acc, &lc);
	CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
	lastchange_merge(&acc, &lc);
	CHECK_STR(acc.transport, "PAUSED_PLAYBACK");
	CHECK_INT(acc.track, 3);
	CHECK_STR(acc.uri, "x-rincon-queue:RINCON_1#0");

	memset(&st, 0, sizeof(st));
	st.track = 3;
	strcpy(st.position, "0:02:00");
	st.have_volume = 1;
	st.volume = 30;
	lastchange_apply(&acc, &st);
	CHECK_STR(st.transport, "PAUSED_PLAYBACK");
	CHECK_INT(st.source, SOURCE_QUEUE);
	CHECK_STR(st.position, "0:02:00"); /* same track: position kept */
	CHECK_INT(st.volume, 30);          /* not in the event: untouched */
	free(a);
	free(b);
}

static void
test_hostile(void)
{
	static const char *const bodies[] = {
	    "",
	    "not xml at all",
	    "<e:propertyset xmlns:e=\"urn:schemas-upnp-org:event-1-0\"><e:property>",
	    "<other/>",
	    /* A DTD in the body itself (billion laughs shape). */
	    "<?xml version=\"1.0\"?><!DOCTYPE e:propertyset [<!ENTITY a \"aaaaaaaaaa\">"
	    "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><e:propertyset "
	    "xmlns:e=\"urn:schemas-upnp-org:event-1-0\"><e:property><LastChange>&b;"
	    "</LastChange></e:property></e:propertyset>",
	    /* An external entity. */
	    "<?xml version=\"1.0\"?><!DOCTYPE p [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	    "<propertyset><property><LastChange>&x;</LastChange></property></propertyset>",
	    /* LastChange that is not an Event, empty, or not XML. */
	    "<propertyset><property><LastChange>&lt;Foo/&gt;</LastChange></property>"
	    "</propertyset>",
	    "<propertyset><property><LastChange></LastChange></property></propertyset>",
	    "<propertyset><property><LastChange>&lt;Event&gt;&lt;Inst</LastChange></property>"
	    "</propertyset>",
	    /* A DTD inside LastChange. */
	    "<propertyset><property><LastChange>&lt;!DOCTYPE Event [&lt;!ENTITY v "
	    "&quot;PLAYING&quot;&gt;]&gt;&lt;Event&gt;&lt;InstanceID val=&quot;0&quot;&gt;"
	    "&lt;TransportState val=&quot;&amp;v;&quot;/&gt;&lt;/InstanceID&gt;&lt;/Event&gt;"
	    "</LastChange></property></propertyset>",
	};
	struct lastchange lc;
	char err[160];

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		err[0] = '\0';
		CHECK_INT(lastchange_parse(bodies[i], strlen(bodies[i]), &lc, err, sizeof(err)),
		          -1);
		CHECK(err[0] != '\0');
		CHECK_INT(lc.have, 0);
	}
	/* Too large: refused before parsing. */
	{
		size_t n = LASTCHANGE_BODY_MAX + 1;
		char *big = malloc(n);

		memset(big, ' ', n);
		CHECK_INT(lastchange_parse(big, n, &lc, err, sizeof(err)), -1);
		free(big);
	}
	/* A value too long for its field is left out, never truncated. */
	{
		struct strbuf ev = STRBUF_INIT;
		char *b;

		strbuf_puts(&ev,
		            "<Event><InstanceID val=\"0\"><AVTransportURI val=\"x-rincon-queue:");
		for (int i = 0; i < 1100; i++)
			strbuf_puts(&ev, "a");
		strbuf_puts(&ev, "\"/><TransportState val=\"STOPPED\"/></InstanceID></Event>");
		b = propertyset_of(ev.s);
		CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
		CHECK_INT(lc.have, LC_TRANSPORT);
		free(b);
		strbuf_free(&ev);
	}
	/* Many variables: bounded, no error. */
	{
		struct strbuf ev = STRBUF_INIT;
		char *b;

		strbuf_puts(&ev, "<Event><InstanceID val=\"0\">");
		for (int i = 0; i < 2000; i++)
			strbuf_puts(&ev, "<X val=\"1\"/>");
		strbuf_puts(&ev, "<TransportState val=\"STOPPED\"/></InstanceID></Event>");
		b = propertyset_of(ev.s);
		CHECK_INT(lastchange_parse(b, strlen(b), &lc, err, sizeof(err)), 0);
		CHECK_INT(lc.have, 0); /* past LASTCHANGE_VARS_MAX: not looked at */
		free(b);
		strbuf_free(&ev);
	}
}

static void
test_header_value(void)
{
	const char *head = "HTTP/1.1 200 OK\r\nSERVER: Linux UPnP/1.0 Sonos\r\nsid:  "
	                   "uuid:RINCON_1_sub0000000001 \r\nTIMEOUT: Second-3600\r\n\r\n";
	char v[64];

	CHECK_INT(http_header_value(head, strlen(head), "SID", v, sizeof(v)), 27);
	CHECK_STR(v, "uuid:RINCON_1_sub0000000001");
	CHECK_INT(http_header_value(head, strlen(head), "Timeout", v, sizeof(v)), 11);
	CHECK_STR(v, "Second-3600");
	CHECK_INT(http_header_value(head, strlen(head), "SEQ", v, sizeof(v)), -1);
	CHECK_INT(http_header_value(head, strlen(head), "SID", v, 10), -1); /* does not fit */
	CHECK_INT(http_header_value(head, strlen(head), "SI", v, sizeof(v)), -1);
	CHECK_INT(http_header_value("SID: uuid:a\0b\r\n", 14, "SID", v, sizeof(v)), -1);
	CHECK_INT(http_header_value("SID: uuid:a\tb\r\n", 14, "SID", v, sizeof(v)), 8);
	/* Cut anywhere: never reads past len. */
	for (size_t n = 0; n < strlen(head); n++)
		(void)http_header_value(head, n, "TIMEOUT", v, sizeof(v));
}

static size_t notify_skip; /* what the last notify_begin said to drop */

/* gena_notify_begin on a request head built from target and extra header lines. */
static int
notify_begin(const char *target, const char *fields, struct msg_gena_notify **m)
{
	char head[1024];
	struct http_request req;
	int n = snprintf(head, sizeof(head), "NOTIFY %s HTTP/1.1\r\nHOST: 127.0.0.1:8047\r\n%s\r\n",
	                 target, fields);
	int rv = http_request_parse(head, (size_t)n, &req);
	size_t skip;

	*m = NULL;
	if (rv <= 0)
		return -1000 + rv;
	CHECK(gena_route(&req));
	rv = gena_notify_begin(&req, head, (size_t)rv, m, &skip);
	notify_skip = skip;
	return rv;
}

static void
test_notify_route(void)
{
	const char *ok = "CONTENT-TYPE: text/xml\r\nCONTENT-LENGTH: 458\r\nNT: upnp:event\r\n"
	                 "NTS: upnp:propchange\r\nSID: uuid:RINCON_000E58A0123401400_sub0000000123"
	                 "\r\nSEQ: 7\r\n";
	struct msg_gena_notify *m;
	struct http_request req;

	CHECK_INT(notify_begin("/gena/RINCON_000E58A0123401400/RenderingControl", ok, &m), 0);
	CHECK(m != NULL);
	if (m != NULL) {
		CHECK_STR(m->uuid, "RINCON_000E58A0123401400");
		CHECK_STR(m->service, "RenderingControl");
		CHECK_STR(m->sid, "uuid:RINCON_000E58A0123401400_sub0000000123");
		CHECK_INT(m->seq, 7);
		CHECK_INT(m->body_len, 458);
		free(m);
	}
	/* Only the path shape /gena/<uuid>/<service>. */
	CHECK_INT(notify_begin("/gena/RINCON_1/AVTransport/", ok, &m), 404);
	CHECK_INT(notify_begin("/gena/RINCON_1/AVTransport?x=1", ok, &m), 404);
	CHECK_INT(notify_begin("/gena/RINCON_1", ok, &m), 404);
	CHECK_INT(notify_begin("/gena//AVTransport", ok, &m), 404);
	CHECK_INT(notify_begin("/gena/../AVTransport", ok, &m), 404);
	CHECK_INT(notify_begin("/gena/RINCON_1/AV1", ok, &m), 404);
	CHECK_INT(notify_begin("/clips/RINCON_1/AVTransport", ok, &m), 404);
	CHECK_INT(notify_begin("/gena/RINCON_01234567890123456789012345678901234567890/AVTransport",
	                       ok, &m),
	          404);
	/* Headers. */
	CHECK_INT(notify_begin("/gena/R/AVTransport", "CONTENT-LENGTH: 5\r\nSEQ: 0\r\n", &m), 412);
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "CONTENT-LENGTH: 5\r\nSID: RINCON_1\r\nSEQ: 0\r\n", &m),
	          412);
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "CONTENT-LENGTH: 5\r\nSID: uuid:x\r\nSEQ: 0\r\nNT: upnp:other\r\n",
	                       &m),
	          412);
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "CONTENT-LENGTH: 5\r\nSID: uuid:x\r\nSEQ: 0\r\nNTS: ssdp:alive\r\n",
	                       &m),
	          412);
	CHECK_INT(notify_begin("/gena/R/AVTransport", "CONTENT-LENGTH: 5\r\nSID: uuid:x\r\n", &m),
	          400);
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "CONTENT-LENGTH: 5\r\nSID: uuid:x\r\nSEQ: -1\r\n", &m),
	          400);
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "CONTENT-LENGTH: 5\r\nSID: uuid:x\r\nSEQ: 4294967296\r\n", &m),
	          400);
	CHECK_INT(notify_begin("/gena/R/AVTransport", "SID: uuid:x\r\nSEQ: 1\r\n", &m), 411);
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "CONTENT-LENGTH: 0\r\nSID: uuid:x\r\nSEQ: 1\r\n", &m),
	          400);
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "CONTENT-LENGTH: 61441\r\nSID: uuid:x\r\nSEQ: 1\r\n", &m),
	          413);
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "CONTENT-LENGTH: 61440\r\nSID: uuid:x\r\nSEQ: 4294967295\r\n", &m),
	          0);
	CHECK_INT(m->body_len, 61440);
	CHECK_INT(notify_skip, 0);
	free(m);
	/* A ZoneGroupTopology event of a large household: taken, its body dropped (playerd
	 * needs only the fact; discoveryd reads the topology), up to 1 MB. */
	CHECK_INT(notify_begin("/gena/R/ZoneGroupTopology",
	                       "CONTENT-LENGTH: 300000\r\nSID: uuid:x\r\nSEQ: 3\r\n", &m),
	          0);
	CHECK(m != NULL);
	if (m != NULL) {
		CHECK_INT(m->body_len, 0);
		CHECK_INT(notify_skip, 300000);
		CHECK_STR(m->service, "ZoneGroupTopology");
		free(m);
	}
	CHECK_INT(notify_begin("/gena/R/ZoneGroupTopology",
	                       "CONTENT-LENGTH: 2000\r\nSID: uuid:x\r\nSEQ: 3\r\n", &m),
	          0);
	CHECK_INT(m->body_len, 2000);
	CHECK_INT(notify_skip, 0);
	free(m);
	CHECK_INT(notify_begin("/gena/R/ZoneGroupTopology",
	                       "CONTENT-LENGTH: 1048577\r\nSID: uuid:x\r\nSEQ: 3\r\n", &m),
	          413);
	/* Chunked bodies never get here: the request parser answers 501. */
	CHECK_INT(notify_begin("/gena/R/AVTransport",
	                       "TRANSFER-ENCODING: chunked\r\nSID: uuid:x\r\nSEQ: 1\r\n", &m),
	          -1000 - 501);
	/* Other methods are not NOTIFY. */
	CHECK(http_request_parse("GET /gena/R/AVTransport HTTP/1.1\r\nHost: x\r\n\r\n", 47, &req) >
	      0);
	CHECK(!gena_route(&req));
}

int
main(void)
{
	xmlInitParser();
	test_avtransport_capture();
	test_rendering_captures();
	test_mute_and_ranges();
	test_metadata();
	test_merge_and_apply();
	test_hostile();
	test_header_value();
	test_notify_route();
	xmlCleanupParser();
	CHECK_DONE();
}
