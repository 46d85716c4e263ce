/* test_web.c -- the status page, its form and origin check, /metrics, and mqttd's activity
 * record that feeds them: pure functions on crafted and hostile input. */
#include "activity.h"
#include "check.h"
#include "metrics.h"
#include "status_page.h"
#include "strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
test_escape(void)
{
	struct strbuf b = STRBUF_INIT;

	status_page_escape(&b, "<a href=\"x\">'&'</a>");
	CHECK_STR(b.s, "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
	strbuf_free(&b);
	status_page_escape(&b, "caf\xe9 <b>");
	CHECK_STR(b.s, "caf\xef\xbf\xbd &lt;b&gt;");
	strbuf_free(&b);
}

static int
form(const char *body, struct status_page_form *f, char *err)
{
	return status_page_form_parse(body, strlen(body), 1000, f, err, 200);
}

static void
test_form(void)
{
	struct status_page_form f;
	char err[200], big[5000];
	char *json;

	CHECK_INT(form("room=living-room&text=hello+there%21&volume=30", &f, err), 0);
	CHECK_STR(f.target, "living-room");
	CHECK_STR(f.text, "hello there!");
	CHECK_INT(f.volume, 30);
	json = status_page_form_json(&f, "web-1");
	CHECK_STR(json, "{\"id\":\"web-1\",\"text\":\"hello there!\",\"volume\":30}");
	free(json);
	CHECK_INT(form("text=caf%C3%A9&room=RINCON_000E5800000201400&volume=", &f, err), 0);
	CHECK_STR(f.text, "caf\xc3\xa9");
	CHECK_INT(f.volume, -1);
	json = status_page_form_json(&f, "web-2");
	CHECK_STR(json, "{\"id\":\"web-2\",\"text\":\"caf\xc3\xa9\"}");
	free(json);

	CHECK_INT(form("text=hi", &f, err), -1);
	CHECK_STR(err, "choose a room");
	CHECK_INT(form("room=kitchen%2Ftts&text=hi", &f, err), -1);
	CHECK_INT(form("room=kitchen%00x&text=hi", &f, err), -1);
	CHECK_INT(form("room=+&text=hi", &f, err), -1);
	CHECK_INT(form("room=kitchen&text=", &f, err), -1);
	CHECK_STR(err, "the text is empty");
	CHECK_INT(form("room=kitchen&text=+%20%0A", &f, err), -1);
	CHECK_INT(form("room=kitchen&text=a%00b", &f, err), -1);
	CHECK_INT(form("room=kitchen&text=%ff", &f, err), -1);
	CHECK_STR(err, "the text is not valid UTF-8");
	CHECK_INT(form("room=kitchen&text=%4", &f, err), -1);
	CHECK_INT(form("room=kitchen&text=%zz", &f, err), -1);
	CHECK_INT(form("room=kitchen&text=x&volume=101", &f, err), -1);
	CHECK_INT(form("room=kitchen&text=x&volume=-1", &f, err), -1);
	CHECK_INT(form("room=kitchen&text=x&volume=1e2", &f, err), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "room=kitchen&text=", 18);
	CHECK_INT(form(big, &f, err), -1); /* above STATUS_PAGE_FORM_MAX */
	big[1018 + 18] = '\0';
	CHECK_INT(form(big, &f, err), -1); /* above max_text_length */
	CHECK_STR(err, "the text is longer than 1000 bytes");
	big[1000 + 18] = '\0';
	CHECK_INT(form(big, &f, err), 0);
	/* Binary garbage never crashes and never passes. */
	CHECK_INT(status_page_form_parse("room=\x01&text=\xff", 13, 1000, &f, err, sizeof(err)),
	          -1);
	CHECK_INT(status_page_form_parse("room=a&text=b\0c", 15, 1000, &f, err, sizeof(err)), -1);
}

static int
origin(const char *head)
{
	return status_page_same_origin(head, strlen(head));
}

static void
test_origin(void)
{
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n"
	                 "Origin: http://10.0.0.5:8047\r\n\r\n"),
	          1);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: NAS.lan:8047\r\n"
	                 "Origin: http://nas.LAN:8047\r\n\r\n"),
	          1);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n"
	                 "Origin: http://10.0.0.5:80470\r\n\r\n"),
	          0);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n"
	                 "Origin: http://evil.example\r\n\r\n"),
	          0);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n"
	                 "Origin: null\r\n\r\n"),
	          0);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n"
	                 "Origin: https://10.0.0.5:8047\r\n\r\n"),
	          0);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n"
	                 "Referer: http://10.0.0.5:8047/?sent=x\r\n\r\n"),
	          1);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n"
	                 "Referer: http://10.0.0.5:8047.evil.example/\r\n\r\n"),
	          0);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n"
	                 "Origin: http://10.0.0.5:8047\r\nSec-Fetch-Site: cross-site\r\n\r\n"),
	          0);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nHost: 10.0.0.5:8047\r\n\r\n"), 0);
	CHECK_INT(origin("POST /announce HTTP/1.1\r\nOrigin: http://x\r\n\r\n"), 0);
}

/* A status document as the supervisor writes it, with hostile texts. */
static const char doc[] =
    "{\"version\":\"0.1.0\",\"pid\":10,\"uptime_ms\":5000,\"broker\":{\"host\":\"b<r>\","
    "\"port\":1883},\"workers\":{"
    "\"mqttd\":{\"state\":\"ready\",\"pid\":11,\"restarts\":2,\"uptime_ms\":4000,"
    "\"health\":{\"broker_connected\":true,\"broker\":\"b:1883\",\"reconnects\":3,"
    "\"activity\":{\"requests\":{\"tts\":{\"done\":4,\"failed\":1},\"clip\":{\"done\":1,"
    "\"failed\":0}},\"latency_ms\":{\"bounds\":[250,1000],\"counts\":[1,2,3],\"sum\":9000,"
    "\"count\":6},\"recent\":[{\"id\":\"r\\\"1\",\"kind\":\"tts\",\"target\":\"kitchen\","
    "\"speaker\":\"Kitchen\",\"text\":\"<img src=x onerror=alert(1)>\",\"status\":\"done\","
    "\"error\":\"\",\"received_ms\":1000}],\"speakers\":[{\"uuid\":\"U1\",\"volume\":33,"
    "\"mute\":true,\"transport\":\"PLAYING\",\"track\":\"A & B\"}]}}},"
    "\"discoveryd\":{\"state\":\"backing-off\",\"pid\":null,\"restarts\":1,"
    "\"last_exit\":{\"signal\":9,\"signal_name\":\"KILL\"},\"health\":{\"speakers_known\":1,"
    "\"speakers\":[{\"room\":\"Kitchen\",\"uuid\":\"U1\",\"ip\":\"10.0.0.2\",\"port\":1400,"
    "\"model\":\"One\"}]}},"
    "\"work\\\"er\":{\"state\":\"ready\",\"restarts\":0}}}";

static void
test_page(void)
{
	struct status_page_opts o = {.now_ms = 61000,
	                             .form = 1,
	                             .max_text_length = 500,
	                             .base_topic = "sonos",
	                             .notice = "sent <now>"};
	struct strbuf b = STRBUF_INIT;

	CHECK_INT(status_page_render(doc, sizeof(doc) - 1, &o, &b), 0);
	CHECK(strstr(b.s, "<img") == NULL);
	CHECK(strstr(b.s, "&lt;img src=x onerror=alert(1)&gt;") != NULL);
	CHECK(strstr(b.s, "<td>r&quot;1</td><td>Kitchen</td><td>tts</td>") != NULL);
	CHECK(strstr(b.s, "60 s ago") != NULL);
	CHECK(strstr(b.s, "<td>Kitchen</td><td>kitchen</td><td>PLAYING</td><td>33 (muted)</td>"
	                  "<td>A &amp; B</td>") != NULL);
	CHECK(strstr(b.s, "<td class=\"bad\">backing-off</td>") != NULL);
	CHECK(strstr(b.s, "signal KILL") != NULL);
	CHECK(strstr(b.s, "sent &lt;now&gt;") != NULL);
	CHECK(strstr(b.s, "b&lt;r&gt;:1883") != NULL);
	CHECK(strstr(b.s, "<option value=\"kitchen\">Kitchen</option>") != NULL);
	CHECK(strstr(b.s, "maxlength=\"500\"") != NULL);
	CHECK(strstr(b.s, "work&quot;er") != NULL);
	strbuf_free(&b);
	/* No document: the page says so and still is a page. */
	o.notice = "socket gone";
	o.notice_error = 1;
	CHECK_INT(status_page_render(NULL, 0, &o, &b), 0);
	CHECK(strstr(b.s, "not available") != NULL && strstr(b.s, "</html>") != NULL);
	strbuf_free(&b);
	CHECK_INT(status_page_render("{\"workers\":[]}", 14, &o, &b), 0);
	CHECK(strstr(b.s, "not available") != NULL);
	strbuf_free(&b);
}

static void
test_metrics(void)
{
	struct strbuf b = STRBUF_INIT;

	CHECK_INT(metrics_render(doc, sizeof(doc) - 1, &b), 0);
	CHECK(strstr(b.s, "sonos_bridge_worker_up{worker=\"mqttd\"} 1\n") != NULL);
	CHECK(strstr(b.s, "sonos_bridge_worker_up{worker=\"discoveryd\"} 0\n") != NULL);
	CHECK(strstr(b.s, "sonos_bridge_worker_up{worker=\"work\\\"er\"} 1\n") != NULL);
	CHECK(strstr(b.s, "sonos_bridge_worker_restarts_total{worker=\"mqttd\"} 2\n") != NULL);
	CHECK(strstr(b.s, "sonos_bridge_broker_reconnects_total 3\n") != NULL);
	CHECK(strstr(b.s, "sonos_bridge_announcements_total{outcome=\"done\"} 5\n") != NULL);
	/* Buckets cumulative, the overflow in +Inf, seconds. */
	CHECK(strstr(b.s, "_bucket{le=\"0.25\"} 1\n") != NULL);
	CHECK(strstr(b.s, "_bucket{le=\"1\"} 3\n") != NULL);
	CHECK(strstr(b.s, "_bucket{le=\"+Inf\"} 6\n") != NULL);
	CHECK(strstr(b.s, "_sum 9.000\n") != NULL);
	CHECK(strstr(b.s, "_count 6\n") != NULL);
	/* discoveryd's speakers_known is there; httpd's facts are not: no cache metric. */
	CHECK(strstr(b.s, "sonos_bridge_speakers_known 1\n") != NULL);
	CHECK(strstr(b.s, "clip_cache") == NULL);
	strbuf_free(&b);
	CHECK_INT(metrics_render("nope", 4, &b), -1);
	strbuf_free(&b);
	CHECK_INT(metrics_render("{\"workers\":{}}", 14, &b), 0);
	strbuf_free(&b);
}

static struct msg_request *
request(const char *id, unsigned kind, const char *text, uint64_t received)
{
	size_t n = strlen(text);
	struct msg_request *r = calloc(1, sizeof(*r) + n);

	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->target, sizeof(r->target), "kitchen");
	r->kind = (uint8_t)kind;
	r->received_ms = received;
	r->text_len = (uint32_t)n;
	memcpy(r->text, text, n);
	return r;
}

static struct msg_event
event(const char *id, unsigned status, const char *uuid)
{
	struct msg_event ev;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.id, sizeof(ev.id), "%s", id);
	snprintf(ev.target, sizeof(ev.target), "kitchen");
	snprintf(ev.speaker, sizeof(ev.speaker), "Kitchen");
	snprintf(ev.uuid, sizeof(ev.uuid), "%s", uuid);
	ev.status = (uint8_t)status;
	return ev;
}

static void
test_activity(void)
{
	struct activity *a = calloc(1, sizeof(*a));
	struct msg_request *r = request("a1", REQUEST_TTS, "h\xc3\xa9llo\nworld", 1000);
	struct msg_event ev;
	struct strbuf b = STRBUF_INIT;
	json_t *facts, *act;
	char big[300];

	ev = event("a1", EVENT_QUEUED, "");
	activity_event(a, &ev, 0, r, 1100);
	ev = event("a1", EVENT_PLAYING, "U1");
	activity_event(a, &ev, 0, r, 1700); /* 700 ms: the 1 s bucket */
	ev = event("a1", EVENT_DONE, "U1");
	activity_event(a, &ev, 0, r, 5000);
	ev = event("x", EVENT_REJECTED, "");
	activity_event(a, &ev, REQUEST_TTS, NULL, 6000);
	ev = event("y", EVENT_REJECTED, "");
	activity_event(a, &ev, 0, NULL, 6000);
	CHECK_INT(a->outcomes[ACT_TTS][ACT_DONE], 1);
	CHECK_INT(a->outcomes[ACT_TTS][ACT_REJECTED], 1);
	CHECK_INT(a->outcomes[ACT_OTHER][ACT_REJECTED], 1);
	CHECK_INT(a->latency[2], 1);
	CHECK_INT(a->latency_count, 1);
	CHECK_INT(a->latency_sum_ms, 700);
	/* queued, playing, done of one request on one speaker: one entry, the latest status. */
	CHECK_INT(a->recent_count, 2);
	{
		const char *st = "{\"transport\":\"PLAYING\",\"volume\":12,\"mute\":null,"
		                 "\"track\":{\"title\":\"T\",\"artist\":\"A\"}}";

		activity_state(a, "U1", "Kitchen", st, strlen(st));
	}
	activity_state(a, "U2", "Den", "not json", 8);
	CHECK_INT(a->nspeakers, 1);
	activity_facts(a, &b);
	CHECK(b.s != NULL && b.s[0] == ',');
	/* Wrapped into an object, the member is valid JSON with what went in. */
	{
		struct strbuf obj = STRBUF_INIT;

		strbuf_puts(&obj, "{\"x\":1");
		strbuf_append(&obj, b.s, b.len);
		strbuf_puts(&obj, "}");
		facts = json_loads(obj.s, 0, NULL);
		strbuf_free(&obj);
	}
	CHECK(facts != NULL);
	act = json_object_get(facts, "activity");
	CHECK_STR(json_string_value(
	              json_object_get(json_array_get(json_object_get(act, "recent"), 1), "text")),
	          "h\xc3\xa9llo world");
	CHECK_STR(json_string_value(
	              json_object_get(json_array_get(json_object_get(act, "recent"), 1), "status")),
	          "done");
	CHECK_STR(json_string_value(json_object_get(
	              json_array_get(json_object_get(act, "speakers"), 0), "track")),
	          "A - T");
	CHECK(json_is_null(
	    json_object_get(json_array_get(json_object_get(act, "speakers"), 0), "mute")));
	json_decref(facts);
	strbuf_free(&b);

	/* Many requests with the longest texts and invalid bytes: the facts stay within their
	 * bound and stay JSON. */
	memset(big, '\xff', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 40; i++) {
		char id[MSG_ID_MAX];
		struct msg_request *q;

		snprintf(id, sizeof(id), "%063d", i);
		q = request(id, REQUEST_CLIP, big, 1);
		ev = event(id, EVENT_FAILED, "RINCON_X");
		memset(ev.error, '"', sizeof(ev.error) - 1);
		activity_event(a, &ev, 0, q, 2);
		free(q);
	}
	for (int i = 0; i < ACTIVITY_SPEAKERS + 5; i++) {
		char uuid[48], json[400], title[240];

		/* Titles of quotes and control characters: the longest escapes. */
		memset(title, 0, sizeof(title));
		for (int k = 0; k < 30; k++)
			memcpy(title + 6 * k, "\\u0001", 6);
		snprintf(uuid, sizeof(uuid), "U%d", i);
		snprintf(json, sizeof(json), "{\"track\":{\"title\":\"%s\"}}", title);
		activity_state(a, uuid, big + 200, json, strlen(json));
	}
	CHECK_INT(a->recent_count, ACTIVITY_RECENT);
	CHECK_INT(a->nspeakers, ACTIVITY_SPEAKERS);
	activity_facts(a, &b);
	CHECK(b.len > 0 && b.len <= ACTIVITY_FACTS_MAX);
	{
		struct strbuf obj = STRBUF_INIT;

		strbuf_puts(&obj, "{\"x\":1");
		strbuf_append(&obj, b.s, b.len);
		strbuf_puts(&obj, "}");
		facts = json_loads(obj.s, 0, NULL);
		CHECK(facts != NULL);
		json_decref(facts);
		strbuf_free(&obj);
	}
	strbuf_free(&b);
	free(r);
	free(a);
}

int
main(void)
{
	test_escape();
	test_form();
	test_origin();
	test_page();
	test_metrics();
	test_activity();
	CHECK_DONE();
}
