/* test_mqttd.c -- unit tests of mqttd's pure parts: request topics and payloads, event and info
 * JSON, reconnect backoff and twin detection, room slugs, the client id file and the
 * coalescing of state documents. */
#include "check.h"

#include "backoff.h"
#include "clientid.h"
#include "event.h"
#include "request.h"
#include "speakers.h"
#include "stateout.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct request_limits limits = {.max_text_length = 100, .expiry_s = 300};
#define NOW 1700000000000ull

/* Parse a NUL-terminated payload. */
static int
parse(enum request_kind kind, const char *payload, struct request_result *res)
{
	return request_parse(&limits, kind, "kitchen", payload, strlen(payload), "fallback-id", NOW,
	                     res);
}

/* The request's text as a C string (static buffer). */
static const char *
text_of(const struct msg_request *r)
{
	static char buf[MSG_TEXT_MAX + 1];

	memcpy(buf, r->text, r->text_len);
	buf[r->text_len] = '\0';
	return buf;
}

/* Expect payload to be rejected with a reason containing want. */
static void
check_rejected(enum request_kind kind, const char *payload, const char *want)
{
	struct request_result res;

	CHECK_INT(parse(kind, payload, &res), -1);
	CHECK(res.req == NULL);
	if (strstr(res.reason, want) == NULL) {
		fprintf(stderr, "payload '%s': reason '%s', expected '%s'\n", payload, res.reason,
		        want);
		check_failures++;
	}
}

static void
test_topics(void)
{
	char target[MSG_TARGET_MAX];
	enum request_kind kind;

	CHECK_INT(request_topic_parse("sonos", "sonos/kitchen/tts", target, &kind), 0);
	CHECK_STR(target, "kitchen");
	CHECK_INT(kind, REQUEST_TTS);
	CHECK_INT(request_topic_parse("sonos", "sonos/all/clip", target, &kind), 0);
	CHECK_STR(target, "all");
	CHECK_INT(kind, REQUEST_CLIP);
	CHECK_INT(request_topic_parse("sonos", "sonos/RINCON_000E58A0B1C201400/tts", target, &kind),
	          0);
	CHECK_STR(target, "RINCON_000E58A0B1C201400");
	CHECK_INT(request_topic_parse("home/sonos", "home/sonos/living-room/tts", target, &kind),
	          0);
	CHECK_STR(target, "living-room");
	CHECK_INT(request_topic_parse("sonos",
	                              "sonos/k\xc3\xbc"
	                              "che/tts",
	                              target, &kind),
	          0);

	CHECK_INT(request_topic_parse("sonos", "sonos/kitchen/set", target, &kind), 0);
	CHECK_INT(kind, REQUEST_SET);
	CHECK_INT(request_topic_parse("sonos", "sonos/kitchen/state", target, &kind), -1);
	CHECK_INT(request_topic_parse("sonos", "sonos/kitchen/tts/x", target, &kind), -1);
	/* Room names as users type them; playerd compares slugs. */
	CHECK_INT(request_topic_parse("sonos", "sonos/Living Room/tts", target, &kind), 0);
	CHECK_STR(target, "Living Room");
	CHECK_INT(request_topic_parse("sonos", "sonos/rincon_000e58a0b1c201400/set", target, &kind),
	          0);
	CHECK_INT(request_topic_parse("sonos", "sonos/a\tb/tts", target, &kind), -1);
	CHECK_INT(request_topic_parse("sonos", "sonos//tts", target, &kind), -1);
	CHECK_INT(request_topic_parse("sonos", "sonosx/kitchen/tts", target, &kind), -1);
	CHECK_INT(request_topic_parse("sonos", "other/kitchen/tts", target, &kind), -1);
	CHECK_INT(request_topic_parse("sonos", "sonos/tts", target, &kind), -1);
	CHECK_INT(request_topic_parse("sonos", "sonos/k\xff/tts", target, &kind), -1);
	{
		char topic[300];

		memset(topic, 'a', sizeof(topic));
		memcpy(topic, "sonos/", 6);
		strcpy(topic + 6 + MSG_TARGET_MAX, "/tts");
		CHECK_INT(request_topic_parse("sonos", topic, target, &kind), -1);
	}
}

static void
test_plain_tts(void)
{
	struct request_result res;

	CHECK_INT(parse(REQUEST_TTS, "  Hello there\n", &res), 0);
	CHECK(res.req != NULL);
	CHECK_STR(text_of(res.req), "Hello there");
	CHECK_STR(res.req->id, "fallback-id");
	CHECK_STR(res.req->target, "kitchen");
	CHECK_INT(res.req->kind, REQUEST_TTS);
	CHECK_INT(res.req->has_volume, 0);
	CHECK_STR(res.req->voice, "");
	CHECK_INT(res.req->received_ms, NOW);
	CHECK_INT(res.req->deadline_ms, NOW + 300000);
	CHECK_INT(res.size, sizeof(struct msg_request) + 11);
	free(res.req);

	/* Not starting with '{': plain text, even if it looks like other JSON. */
	CHECK_INT(parse(REQUEST_TTS, "[1,2]", &res), 0);
	CHECK_STR(text_of(res.req), "[1,2]");
	free(res.req);
	CHECK_INT(parse(REQUEST_TTS,
	                "Gr\xc3\xbc\xc3\x9f"
	                "e",
	                &res),
	          0);
	free(res.req);

	check_rejected(REQUEST_TTS, "", "empty payload");
	check_rejected(REQUEST_TTS, "   \n\t", "empty payload");
	check_rejected(REQUEST_TTS, "abc\xff", "invalid UTF-8");
	check_rejected(REQUEST_TTS, "\xc0\xaf", "invalid UTF-8");
	check_rejected(REQUEST_TTS, "\xed\xa0\x80", "invalid UTF-8");
	{
		char big[200];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		check_rejected(REQUEST_TTS, big, "text longer than 100 bytes");
		big[100] = '\0';
		CHECK_INT(parse(REQUEST_TTS, big, &res), 0);
		free(res.req);
	}
	/* An embedded NUL is valid UTF-8 but never reaches the speech engine. */
	CHECK_INT(request_parse(&limits, REQUEST_TTS, "kitchen", "a\0b", 3, "f", NOW, &res), -1);
	CHECK(strstr(res.reason, "NUL") != NULL);
	CHECK_INT(request_parse(&limits, REQUEST_TTS, "kitchen", NULL, 0, "f", NOW, &res), -1);
	CHECK_STR(res.reason, "empty payload");
}

static void
test_json_tts(void)
{
	struct request_result res;

	CHECK_INT(parse(REQUEST_TTS,
	                " {\"id\":\"door-1\",\"text\":\"Someone at the door\",\"volume\":40,"
	                "\"voice\":\"de\",\"expire_after\":30,\"restore\":true}",
	                &res),
	          0);
	CHECK_STR(res.req->id, "door-1");
	CHECK_STR(text_of(res.req), "Someone at the door");
	CHECK_INT(res.req->has_volume, 1);
	CHECK_INT(res.req->volume, 40);
	CHECK_STR(res.req->voice, "de");
	CHECK_INT(res.req->deadline_ms, NOW + 30000);
	free(res.req);

	CHECK_INT(parse(REQUEST_TTS, "{\"text\":\"hi\",\"lang\":\"en-us\",\"volume\":0}", &res), 0);
	CHECK_STR(res.req->id, "fallback-id");
	CHECK_STR(res.req->voice, "en-us");
	CHECK_INT(res.req->volume, 0);
	free(res.req);
	CHECK_INT(
	    parse(REQUEST_TTS, "{\"text\":\"hi\",\"lang\":\"en\",\"voice\":\"mb/mb-de1\"}", &res),
	    0);
	CHECK_STR(res.req->voice, "mb/mb-de1");
	free(res.req);
	CHECK_INT(parse(REQUEST_TTS, "{\"text\":\"hi\",\"volumne\":40}", &res), -1);
	CHECK_STR(res.reason, "unknown key 'volumne'");
	CHECK_INT(parse(REQUEST_CLIP, "{\"url\":\"http://h/a.mp3\",\"text\":\"x\"}", &res), -1);
	CHECK_STR(res.reason, "unknown key 'text'");
	CHECK_INT(parse(REQUEST_TTS, "{\"text\":\"hi\",\"restore\":false}", &res), -1);
	CHECK(strstr(res.reason, "only true") != NULL);
	CHECK_INT(parse(REQUEST_TTS, "{\"text\":\"hi\",\"expire_after\":0.5,\"id\":null}", &res),
	          0);
	CHECK_INT(res.req->deadline_ms, NOW + 500);
	free(res.req);
	CHECK_INT(parse(REQUEST_TTS, "{\"text\":\"\\u00e9t\\u00e9\",\"volume\":100}", &res), 0);
	CHECK_STR(text_of(res.req), "\xc3\xa9t\xc3\xa9");
	free(res.req);

	check_rejected(REQUEST_TTS, "{\"id\":\"x\"}", "text is missing");
	check_rejected(REQUEST_TTS, "{}", "text is missing");
	check_rejected(REQUEST_TTS, "{\"text\":\"\"}", "text is empty");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\"", "malformed JSON");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\"} trailing", "malformed JSON");
	check_rejected(REQUEST_TTS, "{\"text\":\"a\",\"text\":\"b\"}", "malformed JSON");
	/* A duplicate key: named, and the rejection goes out under the publisher's id. */
	CHECK_INT(parse(REQUEST_TTS, "{\"id\":\"d-1\",\"text\":\"a\",\"text\":\"b\"}", &res), -1);
	CHECK(strstr(res.reason, "duplicate object key near '\"text\"'") != NULL);
	CHECK_STR(res.id, "d-1");
	CHECK_INT(parse(REQUEST_SET, "{\"id\":\"d-2\",\"mute\":true,\"mute\":false}", &res), -1);
	CHECK_STR(res.id, "d-2");
	/* An id that is no id (control characters) is not taken even then. */
	CHECK_INT(parse(REQUEST_TTS, "{\"id\":\"d\\n3\",\"text\":\"a\",\"text\":\"b\"}", &res), -1);
	CHECK_STR(res.id, "fallback-id");
	check_rejected(REQUEST_TTS, "{\"text\":\"a\\u0000b\"}", "malformed JSON");
	check_rejected(REQUEST_TTS, "{\"text\":42}", "text: expected a string");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"id\":7}", "id: expected a string");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"voice\":[]}", "voice: expected a string");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"volume\":\"50\"}", "volume: expected");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"volume\":50.0}", "volume: expected");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"volume\":101}", "volume out of range");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"volume\":-1}", "volume out of range");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"volume\":99999999999999999999}",
	               "malformed JSON");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"expire_after\":0}", "expire_after");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"expire_after\":-5}", "expire_after");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"expire_after\":1e9}", "expire_after");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"expire_after\":\"10\"}", "expire_after");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"voice\":\"../etc\"}", "voice");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"voice\":\"/abs\"}", "voice");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"voice\":\"en us\"}", "voice");
	check_rejected(REQUEST_TTS,
	               "{\"text\":\"x\",\"voice\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	               "voice");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"id\":\"\"}", "id must be");
	check_rejected(REQUEST_TTS, "{\"text\":\"x\",\"id\":\"a\\nb\"}", "id must be");
	check_rejected(REQUEST_TTS,
	               "{\"text\":\"x\",\"id\":\"0123456789012345678901234567890123456789"
	               "012345678901234567890123\"}",
	               "id must be");
	CHECK_INT(parse(REQUEST_TTS,
	                "{\"text\":\"x\",\"id\":\"012345678901234567890123456789012345678901234"
	                "567890123456789012\"}",
	                &res),
	          0);
	CHECK_INT(strlen(res.req->id), 63);
	free(res.req);

	/* A rejection still carries the publisher's id when it was readable. */
	CHECK_INT(parse(REQUEST_TTS, "{\"id\":\"keep-me\",\"text\":\"x\",\"volume\":300}", &res),
	          -1);
	CHECK_STR(res.id, "keep-me");
	CHECK_INT(parse(REQUEST_TTS, "{\"id\":\"a\\u0001\",\"text\":\"x\"}", &res), -1);
	CHECK_STR(res.id, "fallback-id");

	/* Deeply nested and oversized documents fail cleanly. */
	{
		size_t n = 100000;
		char *deep = malloc(n + 1);

		memset(deep, '[', n);
		deep[0] = '{';
		deep[n] = '\0';
		check_rejected(REQUEST_TTS, deep, "larger than");
		deep[5000] = '\0';
		check_rejected(REQUEST_TTS, deep, "malformed JSON");
		free(deep);
	}
}

static void
test_clip(void)
{
	struct request_result res;

	CHECK_INT(parse(REQUEST_CLIP, " http://127.0.0.1:8080/ding.mp3 ", &res), 0);
	CHECK_STR(text_of(res.req), "http://127.0.0.1:8080/ding.mp3");
	CHECK_INT(res.req->kind, REQUEST_CLIP);
	free(res.req);
	CHECK_INT(parse(REQUEST_CLIP,
	                "{\"id\":\"bell\",\"url\":\"HTTPS://example.org/a.mp3?x=1\",\"volume\":"
	                "30,\"expire_after\":10}",
	                &res),
	          0);
	CHECK_STR(res.req->id, "bell");
	CHECK_STR(text_of(res.req), "HTTPS://example.org/a.mp3?x=1");
	CHECK_INT(res.req->volume, 30);
	CHECK_INT(res.req->deadline_ms, NOW + 10000);
	free(res.req);

	check_rejected(REQUEST_CLIP, "ftp://x/y.mp3", "http:// or https://");
	check_rejected(REQUEST_CLIP, "file:///etc/passwd", "http:// or https://");
	check_rejected(REQUEST_CLIP, "http://", "no host");
	check_rejected(REQUEST_CLIP, "http:///path", "no host");
	check_rejected(REQUEST_CLIP, "http://a b/c", "printable ASCII");
	check_rejected(REQUEST_CLIP, "http://h/\xc3\xa9", "printable ASCII");
	check_rejected(REQUEST_CLIP, "{\"id\":\"x\"}", "url is missing");
	check_rejected(REQUEST_CLIP, "{\"url\":5}", "url: expected a string");
	check_rejected(REQUEST_CLIP, "{\"url\":\"http://h/a\",\"volume\":\"loud\"}", "volume");
	check_rejected(REQUEST_CLIP, "{\"url\":\"javascript:alert(1)\"}", "http:// or https://");
	{
		char url[REQUEST_URL_MAX + 20];

		memset(url, 'a', sizeof(url) - 1);
		memcpy(url, "http://", 7);
		url[sizeof(url) - 1] = '\0';
		check_rejected(REQUEST_CLIP, url, "url longer");
	}
}

/* Every prefix and many byte flips of valid payloads: no crash, and a result or a reason. */
static void
test_hostile(void)
{
	static const char *const seeds[] = {
	    "{\"id\":\"door-1\",\"text\":\"Someone \\u00e9 at the door\",\"volume\":40,"
	    "\"voice\":\"de\",\"expire_after\":30}",
	    "{\"url\":\"http://127.0.0.1/a.mp3\",\"volume\":5}",
	    "Hello \xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x94",
	};
	unsigned seed = 1;

	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		size_t len = strlen(seeds[s]);
		char buf[256];

		for (size_t n = 0; n <= len; n++) {
			for (int kind = REQUEST_TTS; kind <= REQUEST_CLIP; kind++) {
				struct request_result res;
				int rv = request_parse(&limits, kind, "all", seeds[s], n, "f", NOW,
				                       &res);

				CHECK(rv == 0 ? res.req != NULL : res.reason[0] != '\0');
				free(res.req);
			}
		}
		for (int round = 0; round < 3000; round++) {
			struct request_result res;

			memcpy(buf, seeds[s], len);
			for (int k = 0; k < 3; k++) {
				seed = seed * 1103515245u + 12345u;
				buf[(seed >> 8) % len] = (char)(seed >> 16);
			}
			if (request_parse(&limits, (enum request_kind)(1 + round % 2), "x", buf,
			                  len, "f", NOW, &res) == 0) {
				CHECK(res.req->text_len <= MSG_TEXT_MAX);
				free(res.req);
			} else {
				CHECK(res.reason[0] != '\0');
			}
		}
	}
}

static void
test_events(void)
{
	struct msg_event ev;
	char ts[32], *json;
	json_t *doc;

	CHECK_INT(event_timestamp(0, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "1970-01-01T00:00:00.000Z");
	CHECK_INT(event_timestamp(1700000000123ull, ts, sizeof(ts)), 0);
	CHECK_STR(ts, "2023-11-14T22:13:20.123Z");
	CHECK_INT(event_timestamp(0, ts, 10), -1);

	event_init(&ev, "door-1", "kitchen", EVENT_REJECTED, "volume out of range");
	json = event_json(&ev, 1700000000123ull);
	CHECK_STR(json, "{\"id\":\"door-1\",\"target\":\"kitchen\",\"speaker\":\"\",\"uuid\":\"\","
	                "\"status\":\"rejected\",\"error\":\"volume out of range\","
	                "\"timestamp\":\"2023-11-14T22:13:20.123Z\"}");
	free(json);

	event_init(&ev, "r\"1", "all", EVENT_DONE, NULL);
	msg_strlcpy(ev.speaker,
	            "K\xc3\xbc"
	            "che",
	            sizeof(ev.speaker));
	msg_strlcpy(ev.uuid, "RINCON_1", sizeof(ev.uuid));
	ev.duration_ms = 2500;
	json = event_json(&ev, 0);
	CHECK_STR(json, "{\"id\":\"r\\\"1\",\"target\":\"all\",\"speaker\":\"K\xc3\xbc"
	                "che\","
	                "\"uuid\":\"RINCON_1\",\"status\":\"done\",\"duration_ms\":2500,"
	                "\"timestamp\":\"1970-01-01T00:00:00.000Z\"}");
	free(json);

	/* A peer's bytes that are not UTF-8, and fields without a terminator, still format. */
	memset(&ev, 'x', sizeof(ev));
	ev.status = 200;
	ev.speaker[3] = (char)0xff;
	json = event_json(&ev, 0);
	CHECK(json != NULL);
	doc = json ? json_loads(json, 0, NULL) : NULL;
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "status")), "unknown");
	CHECK_INT(json_string_length(json_object_get(doc, "id")), MSG_ID_MAX);
	CHECK(strchr(json_string_value(json_object_get(doc, "speaker")), '?') != NULL);
	json_decref(doc);
	free(json);
}

static void
test_info(void)
{
	struct msg_speaker sp[2];
	char *json;

	memset(sp, 0, sizeof(sp));
	msg_strlcpy(sp[0].uuid, "RINCON_000E58A0B1C201400", sizeof(sp[0].uuid));
	msg_strlcpy(sp[0].room, "Living Room", sizeof(sp[0].room));
	msg_strlcpy(sp[0].ip, "127.0.0.2", sizeof(sp[0].ip));
	msg_strlcpy(sp[0].model, "Sonos Playbar", sizeof(sp[0].model));
	msg_strlcpy(sp[1].uuid, "RINCON_2", sizeof(sp[1].uuid));
	msg_strlcpy(sp[1].room,
	            "K\xc3\xbc"
	            "che",
	            sizeof(sp[1].room));
	json = event_info_json("0.1.0", "sonos-bridge-x", sp, 2);
	CHECK_STR(json, "{\"version\":\"0.1.0\",\"client_id\":\"sonos-bridge-x\",\"speakers\":["
	                "{\"name\":\"Living Room\",\"uuid\":\"RINCON_000E58A0B1C201400\",\"ip\":"
	                "\"127.0.0.2\",\"model\":\"Sonos Playbar\",\"topic\":\"living-room\"},"
	                "{\"name\":\"K\xc3\xbc"
	                "che\",\"uuid\":\"RINCON_2\",\"ip\":\"\",\"model\":"
	                "\"\",\"topic\":\"k\xc3\xbc"
	                "che\"}]}");
	free(json);
	json = event_info_json("0.1.0", "c", NULL, 0);
	CHECK_STR(json, "{\"version\":\"0.1.0\",\"client_id\":\"c\",\"speakers\":[]}");
	free(json);
}

static void
test_backoff(void)
{
	struct backoff b = {.base_ms = 500, .max_ms = 30000};
	static const uint32_t nominal[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};

	for (size_t i = 0; i < sizeof(nominal) / sizeof(nominal[0]); i++) {
		struct backoff lo = b, hi = b;
		uint32_t d = backoff_next(&b, (uint32_t)(i * 7919));

		CHECK(d >= nominal[i] * 3 / 4 && d <= nominal[i] * 5 / 4);
		CHECK_INT(backoff_next(&lo, 0), nominal[i] * 3 / 4);
		CHECK_INT(backoff_next(&hi, 50), nominal[i] * 5 / 4);
	}
	for (int i = 0; i < 200; i++)
		CHECK(backoff_next(&b, 25) == 30000);
	backoff_reset(&b);
	CHECK_INT(backoff_next(&b, 25), 500);
}

static void
test_reconnect(void)
{
	struct reconnect r;

	/* A broker restart: lost, refused twice, back. Never a twin, backoff grows. */
	reconnect_init(&r);
	reconnect_connected(&r, 0);
	CHECK_INT(reconnect_session_ended(&r, 1000), RECONNECT_RETRY);
	CHECK_INT(reconnect_delay(&r, 0), 375);
	CHECK_INT(reconnect_delay(&r, 0), 750);
	CHECK_INT(reconnect_delay(&r, 0), 1500);
	reconnect_connected(&r, 2);
	CHECK_INT(reconnect_session_ended(&r, 2000), RECONNECT_RETRY);
	CHECK_INT(reconnect_delay(&r, 0), 3000);
	reconnect_connected(&r, 0);
	CHECK_INT(reconnect_session_ended(&r, 2000), RECONNECT_RETRY);
	CHECK_INT(reconnect_delay(&r, 0), 6000);
	/* A session that lasted resets the backoff. */
	reconnect_connected(&r, 1);
	CHECK_INT(reconnect_session_ended(&r, RECONNECT_STABLE_MS), RECONNECT_RETRY);
	CHECK_INT(reconnect_delay(&r, 0), 375);

	/* A twin: every reconnect works at once and is cut short. */
	reconnect_init(&r);
	for (int i = 1; i < RECONNECT_SHORT_SESSIONS; i++) {
		reconnect_connected(&r, 0);
		CHECK_INT(reconnect_session_ended(&r, 500), RECONNECT_RETRY);
		CHECK(reconnect_delay(&r, 0) < RECONNECT_MAX_MS);
	}
	reconnect_connected(&r, 0);
	CHECK_INT(reconnect_session_ended(&r, 500), RECONNECT_TWIN_FOUND);
	CHECK_INT(reconnect_delay(&r, 25), RECONNECT_TWIN_HOLD_MS);
	/* Only the attempt after a take-over is held; refusals go back to the backoff. */
	CHECK(reconnect_delay(&r, 25) <= RECONNECT_MAX_MS);
	reconnect_connected(&r, 0);
	CHECK_INT(reconnect_session_ended(&r, RECONNECT_TWIN_CLEAR_MS - 1), RECONNECT_TWIN_AGAIN);
	CHECK_INT(reconnect_delay(&r, 0), RECONNECT_TWIN_HOLD_MS * 3 / 4);
	/* A long session clears the suspicion. */
	reconnect_connected(&r, 0);
	CHECK_INT(reconnect_session_ended(&r, RECONNECT_TWIN_CLEAR_MS), RECONNECT_RETRY);
	CHECK_INT(reconnect_delay(&r, 25), RECONNECT_BASE_MS);
	reconnect_connected(&r, 0);
	CHECK_INT(reconnect_session_ended(&r, 100), RECONNECT_RETRY);
}

static void
test_slugs(void)
{
	struct speaker_slugs *set = calloc(1, sizeof(*set));
	struct msg_speaker sp[4];
	char name[16];

	memset(sp, 0, sizeof(sp));
	msg_strlcpy(sp[0].room, "Living Room", sizeof(sp[0].room));
	msg_strlcpy(sp[1].room, "living  room", sizeof(sp[1].room)); /* a pair: same topic */
	msg_strlcpy(sp[2].room, "!!!", sizeof(sp[2].room));          /* no slug: left out */
	msg_strlcpy(sp[3].room, "Office", sizeof(sp[3].room));
	speakers_slugs(sp, 4, set);
	CHECK_INT(set->count, 2);
	CHECK_STR(set->slug[0], "living-room");
	CHECK_STR(set->slug[1], "office");
	CHECK(speakers_slugs_has(set, "office"));
	speakers_slugs_remove(set, "living-room");
	CHECK_INT(set->count, 1);
	CHECK_STR(set->slug[0], "office");
	speakers_slugs_remove(set, "nothing");
	CHECK_INT(set->count, 1);
	for (int i = 0; i < MSG_SPEAKERS_MAX + 5; i++) {
		snprintf(name, sizeof(name), "room-%d", i);
		speakers_slugs_add(set, name);
	}
	CHECK_INT(set->count, MSG_SPEAKERS_MAX);
	CHECK(!speakers_slugs_has(set, "office"));
	CHECK(speakers_slugs_has(set, "room-132"));
	free(set);
}

static void
test_clientid(void)
{
	char dir[] = "/tmp/test_mqttd.XXXXXX", sub[300], path[320], id[CLIENTID_MAX],
	     again[CLIENTID_MAX], uuid[37];
	struct stat st;
	int created;
	FILE *f;

	CHECK(clientid_valid("sonos-bridge-0a1b", 17));
	CHECK(!clientid_valid("", 0));
	CHECK(!clientid_valid("a b", 3));
	CHECK(!clientid_valid("a/b", 3));
	clientid_uuid(uuid);
	CHECK_INT(strlen(uuid), 36);

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/state/deeper", dir);
	snprintf(path, sizeof(path), "%s/client_id", sub);
	CHECK_INT(clientid_load(sub, id, sizeof(id), &created, path, sizeof(path)), 0);
	CHECK_INT(created, 1);
	CHECK(strncmp(id, CLIENTID_PREFIX, strlen(CLIENTID_PREFIX)) == 0);
	CHECK_INT(strlen(id), strlen(CLIENTID_PREFIX) + 36);
	snprintf(path, sizeof(path), "%s/client_id", sub);
	CHECK_INT(stat(sub, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0700);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);

	CHECK_INT(clientid_load(sub, again, sizeof(again), &created, path, sizeof(path)), 0);
	snprintf(path, sizeof(path), "%s/client_id", sub);
	CHECK_INT(created, 0);
	CHECK_STR(again, id);

	/* A corrupt file is replaced, never used. */
	f = fopen(path, "w");
	fputs("not a valid id!\n", f);
	fclose(f);
	CHECK_INT(clientid_load(sub, again, sizeof(again), &created, path, sizeof(path)), 0);
	snprintf(path, sizeof(path), "%s/client_id", sub);
	CHECK_INT(created, 1);
	CHECK(strcmp(again, id) != 0);

	/* An id written by hand is kept as is. */
	f = fopen(path, "w");
	fputs("my-bridge\n", f);
	fclose(f);
	CHECK_INT(clientid_load(sub, again, sizeof(again), &created, path, sizeof(path)), 0);
	snprintf(path, sizeof(path), "%s/client_id", sub);
	CHECK_INT(created, 0);
	CHECK_STR(again, "my-bridge");

	unlink(path);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/state", dir);
	rmdir(sub);
	rmdir(dir);
}

/* What stateout_run published: the last document and how many. */
struct published {
	int count;
	char last[64];
	char room[64];
};

static void
record_publish(void *ctx, const struct stateout_doc *d)
{
	struct published *p = ctx;

	p->count++;
	snprintf(p->last, sizeof(p->last), "%.*s", (int)d->held_len, d->held);
	snprintf(p->room, sizeof(p->room), "%s", d->room);
}

static void
offer(struct stateout *s, const char *uuid, const char *json, uint64_t now)
{
	CHECK_INT(stateout_offer(s, uuid, "Kitchen", json, strlen(json), now), 0);
}

static void
test_stateout(void)
{
	static struct stateout s;
	struct published p = {0};
	char doc[32];

	/* Ten changes 30 ms apart: one publish, the last, once the burst has been quiet. */
	for (int i = 0; i < 10; i++) {
		snprintf(doc, sizeof(doc), "{\"volume\":%d}", 31 + i);
		offer(&s, "RINCON_A", doc, 1000 + 30 * i);
		CHECK(stateout_run(&s, 1000 + 30 * i, record_publish, &p) == STATEOUT_QUIET_MS);
	}
	CHECK_INT(p.count, 0);
	CHECK(stateout_run(&s, 1270 + STATEOUT_QUIET_MS - 1, record_publish, &p) == 1);
	CHECK_INT(p.count, 0);
	CHECK(stateout_run(&s, 1270 + STATEOUT_QUIET_MS, record_publish, &p) == -1);
	CHECK_INT(p.count, 1);
	CHECK_STR(p.last, "{\"volume\":40}");
	CHECK_STR(p.room, "Kitchen");
	/* The same document again is not published; a burst back to it is not either. */
	offer(&s, "RINCON_A", "{\"volume\":40}", 2000);
	offer(&s, "RINCON_A", "{\"volume\":41}", 2010);
	offer(&s, "RINCON_A", "{\"volume\":40}", 2020);
	CHECK(stateout_run(&s, 3000, record_publish, &p) == -1);
	CHECK_INT(p.count, 1);
	/* Changes that never stop are published every STATEOUT_HOLD_MS at the latest. */
	for (int t = 0; t <= STATEOUT_HOLD_MS; t += 50) {
		snprintf(doc, sizeof(doc), "{\"volume\":%d}", t / 50);
		offer(&s, "RINCON_A", doc, 5000 + (uint64_t)t);
		stateout_run(&s, 5000 + (uint64_t)t, record_publish, &p);
	}
	CHECK_INT(p.count, 2);
	CHECK_STR(p.last, "{\"volume\":20}");
	/* Speakers are apart; at stop everything held goes out at once. */
	offer(&s, "RINCON_A", "{\"volume\":1}", 9000);
	offer(&s, "RINCON_B", "{\"volume\":1}", 9000);
	CHECK(stateout_run(&s, 9001, record_publish, &p) == STATEOUT_QUIET_MS - 1);
	CHECK(stateout_run(&s, UINT64_MAX, record_publish, &p) == -1);
	CHECK_INT(p.count, 4);
	stateout_free(&s);
}

int
main(void)
{
	test_topics();
	test_plain_tts();
	test_json_tts();
	test_clip();
	test_hostile();
	test_events();
	test_info();
	test_backoff();
	test_reconnect();
	test_slugs();
	test_clientid();
	test_stateout();
	CHECK_DONE();
}
