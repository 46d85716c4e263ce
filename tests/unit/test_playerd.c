/* test_playerd.c -- SOAP envelopes and answers (real captures), DIDL escaping, sources, targets. */
#include "announce.h"
#include "check.h"
#include "didl.h"
#include "player.h"
#include "rescue.h"
#include "soap.h"

#include <stdio.h>
#include <stdlib.h>

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL)
		return NULL;
	buf = malloc(1 << 20);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void
test_build(void)
{
	struct strbuf b = STRBUF_INIT, meta = STRBUF_INIT;
	struct soap_result r;
	const char *title = "Tom & Jerry's <show>";
	const char *url = "http://10.0.0.2:8047/clips/ab.wav?x=1&y=2";

	CHECK_INT(didl_clip(&meta, url, title, "audio/wav"), 0);
	CHECK(strstr(meta.s, "Tom &amp; Jerry&apos;s &lt;show&gt;") != NULL);
	CHECK(strstr(meta.s, "x=1&amp;y=2") != NULL);
	{
		struct soap_arg args[] = {{"InstanceID", "0"}, {"CurrentURI", url},
					  {"CurrentURIMetaData", meta.s}};

		CHECK_INT(soap_build(&b, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3), 0);
	}
	/* Metadata is escaped twice inside the envelope: & became &amp; then &amp;amp; */
	CHECK(strstr(b.s, "Tom &amp;amp; Jerry&amp;apos;s") != NULL);
	CHECK(strstr(b.s, "&lt;DIDL-Lite") != NULL);
	CHECK(strstr(b.s, "<u:SetAVTransportURI xmlns:u=\"urn:schemas-upnp-org:service:"
			  "AVTransport:1\">") != NULL);
	/* Round trip: a parser sees exactly the metadata we built. */
	{
		struct strbuf resp = STRBUF_INIT;

		strbuf_puts(&resp, "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">"
				   "<s:Body><u:GetMediaInfoResponse xmlns:u=\"x\"><CurrentURIMetaData>");
		strbuf_xml_escape(&resp, meta.s);
		strbuf_puts(&resp, "</CurrentURIMetaData></u:GetMediaInfoResponse></s:Body>"
				   "</s:Envelope>");
		CHECK_INT(soap_parse(resp.s, resp.len, "GetMediaInfo", &r), 0);
		CHECK_STR(soap_value(&r, "CurrentURIMetaData"), meta.s);
		soap_result_free(&r);
		strbuf_free(&resp);
	}
	strbuf_free(&b);
	strbuf_free(&meta);
}

static void
test_parse_capture(void)
{
	struct soap_result r;
	size_t len;
	char *body = slurp(CAPTURE("node-sonos-discovery/getpositioninfo.xml"), &len);
	const char *meta;

	CHECK(body != NULL);
	if (body == NULL)
		return;
	CHECK_INT(soap_parse(body, len, "GetPositionInfo", &r), 0);
	CHECK(!r.fault);
	CHECK(soap_value(&r, "Track") != NULL);
	CHECK(soap_value(&r, "RelTime") != NULL);
	meta = soap_value(&r, "TrackMetaData");
	/* One level of escaping is gone: the metadata is DIDL-Lite XML again. */
	CHECK(meta != NULL && strstr(meta, "<DIDL-Lite") != NULL);
	if (meta != NULL) {
		struct didl_track t;

		CHECK_INT(didl_parse_track(meta, strlen(meta), &t), 0);
		CHECK_STR(t.title, "Ex's & Oh's");
		CHECK_STR(t.artist, "Elle King");
		CHECK_STR(t.album, "Love Stuff");
		CHECK_INT(didl_parse_track("<a/>", 4, &t), -1);
		CHECK_INT(didl_parse_track("<DIDL-Lite", 10, &t), -1);
	}
	soap_result_free(&r);
	free(body);
}

static void
test_fault(void)
{
	const char *fault =
		"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
		"s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><s:Fault>"
		"<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
		"<UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>714</errorCode>"
		"</UPnPError></detail></s:Fault></s:Body></s:Envelope>";
	const char *laughs =
		"<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
		"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;\">"
		"]><s:Envelope xmlns:s=\"x\"><s:Body><u:PlayResponse xmlns:u=\"y\"><X>&c;</X>"
		"</u:PlayResponse></s:Body></s:Envelope>";
	const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM "
			  "\"file:///etc/passwd\">]><a><PlayResponse><X>&e;</X></PlayResponse></a>";
	struct soap_result r;

	CHECK_INT(soap_parse(fault, strlen(fault), "Play", &r), 0);
	CHECK(r.fault);
	CHECK_INT(r.error_code, 714);
	soap_result_free(&r);
	CHECK_INT(soap_parse("garbage", 7, "Play", &r), -1);
	CHECK_INT(soap_parse("", 0, "Play", &r), -1);
	CHECK_INT(soap_parse("<a/>", 4, "Play", &r), -1);
	/* Entities are not expanded: no billion laughs, no file read. */
	if (soap_parse(laughs, strlen(laughs), "Play", &r) == 0) {
		CHECK(soap_value(&r, "X") == NULL || strlen(soap_value(&r, "X")) < 100);
		soap_result_free(&r);
	}
	if (soap_parse(xxe, strlen(xxe), "Play", &r) == 0) {
		CHECK(soap_value(&r, "X") == NULL || strstr(soap_value(&r, "X"), "root") == NULL);
		soap_result_free(&r);
	}
}

static void
test_sources_and_targets(void)
{
	struct msg_speaker t[3];

	CHECK_INT(source_classify("x-rincon-queue:RINCON_000E58A0123401400#0"), SOURCE_QUEUE);
	CHECK_INT(source_classify("x-sonosapi-stream:s17488?sid=254&flags=8224"), SOURCE_STREAM);
	CHECK_INT(source_classify("x-rincon-stream:RINCON_000E58A0123401400"), SOURCE_LINE_IN);
	CHECK_INT(source_classify("x-sonos-htastream:RINCON_949F0000A901400:spdif"), SOURCE_TV);
	CHECK_INT(source_classify("x-rincon:RINCON_000E58A0123401400"), SOURCE_GROUP);
	CHECK_INT(source_classify(""), SOURCE_NONE);
	CHECK_INT(source_classify("http://example/a.mp3"), SOURCE_OTHER);
	CHECK(source_is_own_clip("http://10.0.0.5:8047/clips/ab.wav", 8047));
	CHECK(!source_is_own_clip("http://10.0.0.5:8048/clips/ab.wav", 8047));
	CHECK(!source_is_own_clip("http://10.0.0.5:8047/music/ab.mp3", 8047));
	CHECK(!source_is_own_clip("x-rincon-queue:RINCON_1#0", 8047));
	CHECK_STR(source_mime_from_url("http://h/door.WAV"), "audio/wav");
	CHECK_STR(source_mime_from_url("http://h/a.flac?x=1.mp3"), "audio/flac");
	CHECK_STR(source_mime_from_url("http://h/stream"), "audio/mpeg");

	memset(t, 0, sizeof(t));
	strcpy(t[0].uuid, "RINCON_A");
	strcpy(t[0].room, "Living Room");
	strcpy(t[1].uuid, "RINCON_B");
	strcpy(t[1].room, "Kitchen");
	CHECK_INT(player_resolve(t, 2, "kitchen"), 1);
	CHECK_INT(player_resolve(t, 2, "living-room"), 0);
	CHECK_INT(player_resolve(t, 2, "rincon_a"), 0);
	CHECK_INT(player_resolve(t, 2, "Kitchen"), 1);
	CHECK_INT(player_resolve(t, 2, "Living Room"), 0);
	CHECK_INT(player_resolve(t, 2, "LIVING_ROOM"), 0);
	CHECK_INT(player_resolve(t, 2, "RINCON_b"), 1);
	CHECK_INT(player_resolve(t, 2, "--"), -1);
	CHECK_INT(player_resolve(t, 2, "garage"), -1);
}

static void
test_rescue_file(void)
{
	static struct rescue r, back;
	static unsigned char buf[sizeof(struct rescue) + 64];
	size_t n;

	memset(&r, 0, sizeof(r));
	strcpy(r.req.id, "door-1");
	r.req.has_volume = 1;
	strcpy(r.coordinator.uuid, "RINCON_A");
	r.nmembers = 1;
	r.members[0] = r.coordinator;
	strcpy(r.snap.uri, "x-rincon-queue:RINCON_A#0");
	r.snap.kind = SOURCE_QUEUE;
	r.snap.track = 3;
	n = rescue_encode(&r, buf, sizeof(buf));
	CHECK(n > sizeof(r));
	CHECK_INT(rescue_decode(buf, n, &back), 0);
	CHECK_STR(back.req.id, "door-1");
	CHECK_STR(back.snap.uri, "x-rincon-queue:RINCON_A#0");
	CHECK_INT(back.snap.track, 3);
	CHECK_INT(rescue_decode(buf, n - 1, &back), -1);        /* torn write */
	buf[0] ^= 1;
	CHECK_INT(rescue_decode(buf, n, &back), -1);            /* not ours */
	buf[0] ^= 1;
	r.nmembers = GROUP_MAX + 1;
	rescue_encode(&r, buf, sizeof(buf));
	CHECK_INT(rescue_decode(buf, n, &back), -1);            /* hostile count */
	CHECK_INT(rescue_encode(&r, buf, 10), 0);
}

int
main(void)
{
	test_build();
	test_parse_capture();
	test_fault();
	test_sources_and_targets();
	test_rescue_file();
	CHECK_DONE();
}
