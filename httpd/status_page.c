/* status_page.c -- the status page: workers, speakers, last announcements, a test announcement
 * form, rendered from the supervisor's status document. Every text from outside (room names,
 * announcement texts, errors, worker facts) goes through status_page_escape. */
#include "status_page.h"
#include "http_client.h"
#include "util.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char page_style[] =
    "body{font:15px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em;"
    "color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}"
    "th{background:#f4f4f4}.ok{color:#1a7f37}.bad{color:#c62828}.dim{color:#777}"
    ".notice{padding:.6em 1em;border-radius:4px;background:#e8f5e9}"
    ".notice.error{background:#ffebee}"
    "form{display:flex;gap:.6em;flex-wrap:wrap;align-items:end}"
    "label{display:flex;flex-direction:column;font-size:.9em}"
    "input[type=text]{min-width:24em}";

void
status_page_escape(struct strbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (util_utf8_valid(s, n)) {
		strbuf_xml_escape(b, s);
		return;
	}
	/* Invalid UTF-8: escape byte by byte, each byte above 0x7f as U+FFFD. */
	for (size_t i = 0; i < n; i++) {
		char one[2] = {s[i], '\0'};

		if ((unsigned char)s[i] >= 0x80)
			strbuf_puts(b, "\xef\xbf\xbd");
		else
			strbuf_xml_escape(b, one);
	}
}

static const char *
str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

static long long
int_or(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* "850 ms", "42 s", "3 min", "5 h", "2 d" */
static void
duration_text(long long ms, char *out, size_t size)
{
	if (ms < 0)
		snprintf(out, size, "-");
	else if (ms < 1000)
		snprintf(out, size, "%lld ms", ms);
	else if (ms < 120000)
		snprintf(out, size, "%lld s", ms / 1000);
	else if (ms < 2 * 3600000LL)
		snprintf(out, size, "%lld min", ms / 60000);
	else if (ms < 2 * 86400000LL)
		snprintf(out, size, "%lld h", ms / 3600000);
	else
		snprintf(out, size, "%lld d", ms / 86400000);
}

static void
cell(struct strbuf *b, const char *text)
{
	strbuf_puts(b, "<td>");
	status_page_escape(b, text);
	strbuf_puts(b, "</td>");
}

static void
cell_class(struct strbuf *b, const char *cls, const char *text)
{
	strbuf_printf(b, "<td class=\"%s\">", cls);
	status_page_escape(b, text);
	strbuf_puts(b, "</td>");
}

/* One line about a worker's own facts. */
static void
worker_summary(const char *name, json_t *h, char *out, size_t size)
{
	if (!json_is_object(h))
		snprintf(out, size, "no health reply yet");
	else if (strcmp(name, "mqttd") == 0)
		snprintf(out, size, "%s %s, %lld reconnects, spool %lld%s",
		         json_is_true(json_object_get(h, "broker_connected")) ? "connected to"
		                                                              : "NOT connected to",
		         str_or(h, "broker", "?"), int_or(h, "reconnects", 0),
		         int_or(h, "spool_depth", 0),
		         json_is_true(json_object_get(h, "twin_suspected"))
		             ? ", ANOTHER CLIENT USES OUR CLIENT ID"
		             : "");
	else if (strcmp(name, "discoveryd") == 0)
		snprintf(out, size, "%lld speakers, %lld searches", int_or(h, "speakers_known", 0),
		         int_or(h, "searches", 0));
	else if (strcmp(name, "playerd") == 0)
		snprintf(out, size, "%lld speakers, %lld requests waiting",
		         int_or(h, "speakers_known", 0), int_or(h, "pending", 0));
	else if (strcmp(name, "httpd") == 0)
		snprintf(out, size, "%lld clips (%lld KiB), %lld requests served",
		         int_or(h, "cache_entries", 0), int_or(h, "cache_bytes", 0) / 1024,
		         int_or(h, "requests_served", 0));
	else
		snprintf(out, size, "-");
}

static void
section_workers(json_t *workers, struct strbuf *b)
{
	const char *name;
	json_t *w;

	strbuf_puts(b, "<h2>Workers</h2>\n<table id=\"workers\"><tr><th>Worker</th><th>State</th>"
	               "<th>PID</th><th>Up</th><th>Restarts</th><th>Last exit</th><th>Health</th>"
	               "</tr>\n");
	json_object_foreach(workers, name, w)
	{
		const char *state = str_or(w, "state", "?");
		json_t *exit = json_object_get(w, "last_exit");
		char pid[24], up[32], restarts[24], last[160], summary[400];

		if (int_or(w, "pid", -1) >= 0)
			snprintf(pid, sizeof(pid), "%lld", int_or(w, "pid", -1));
		else
			snprintf(pid, sizeof(pid), "-");
		duration_text(int_or(w, "uptime_ms", -1), up, sizeof(up));
		snprintf(restarts, sizeof(restarts), "%lld", int_or(w, "restarts", 0));
		if (!json_is_object(exit))
			snprintf(last, sizeof(last), "-");
		else if (json_object_get(exit, "signal") != NULL)
			snprintf(last, sizeof(last), "signal %s", str_or(exit, "signal_name", "?"));
		else
			snprintf(last, sizeof(last), "status %lld%s%s", int_or(exit, "status", -1),
			         json_object_get(exit, "reason") ? ": " : "",
			         str_or(exit, "reason", ""));
		worker_summary(name, json_object_get(w, "health"), summary, sizeof(summary));
		strbuf_puts(b, "<tr class=\"worker\">");
		cell(b, name);
		cell_class(b, strcmp(state, "ready") == 0 ? "ok" : "bad", state);
		cell(b, pid);
		cell(b, up);
		cell(b, restarts);
		cell(b, last);
		cell(b, summary);
		strbuf_puts(b, "</tr>\n");
	}
	strbuf_puts(b, "</table>\n");
}

/* The speaker's brief state from mqttd's activity, matched by uuid. */
static json_t *
speaker_state(json_t *states, const char *uuid)
{
	size_t i;
	json_t *s;

	json_array_foreach(states, i, s) if (strcmp(str_or(s, "uuid", ""), uuid) == 0) return s;
	return NULL;
}

static void
section_speakers(json_t *list, json_t *states, struct strbuf *b)
{
	size_t i;
	json_t *s;

	strbuf_puts(b, "<h2>Speakers</h2>\n");
	if (!json_is_array(list)) {
		strbuf_puts(b, "<p class=\"dim\">unknown: discoveryd has not answered yet</p>\n");
		return;
	}
	if (json_array_size(list) == 0) {
		strbuf_puts(b, "<p class=\"dim\">none found yet</p>\n");
		return;
	}
	strbuf_puts(b, "<table id=\"speakers\"><tr><th>Room</th><th>Topic</th><th>State</th>"
	               "<th>Volume</th><th>Track</th><th>Model</th><th>Address</th></tr>\n");
	json_array_foreach(list, i, s)
	{
		const char *room = str_or(s, "room", "?"), *uuid = str_or(s, "uuid", "");
		json_t *st = speaker_state(states, uuid), *mute = json_object_get(st, "mute");
		char slug[MSG_TARGET_MAX], addr[80], volume[32];
		long long v = int_or(st, "volume", -1);

		if (util_slug(room, slug, sizeof(slug)) <= 0)
			msg_strlcpy(slug, uuid, sizeof(slug));
		snprintf(addr, sizeof(addr), "%s:%lld", str_or(s, "ip", "?"), int_or(s, "port", 0));
		if (v >= 0)
			snprintf(volume, sizeof(volume), "%lld%s", v,
			         json_is_true(mute) ? " (muted)" : "");
		else
			snprintf(volume, sizeof(volume), "-");
		strbuf_puts(b, "<tr class=\"speaker\">");
		cell(b, room);
		cell(b, slug);
		cell(b, str_or(st, "transport", "")[0] ? str_or(st, "transport", "") : "-");
		cell(b, volume);
		cell(b, str_or(st, "track", "")[0] ? str_or(st, "track", "") : "-");
		cell(b, str_or(s, "model", ""));
		cell(b, addr);
		strbuf_puts(b, "</tr>\n");
	}
	strbuf_puts(b, "</table>\n");
}

static void
section_recent(json_t *recent, uint64_t now_ms, struct strbuf *b)
{
	size_t i;
	json_t *r;

	strbuf_puts(b, "<h2 id=\"recent\">Last announcements</h2>\n");
	if (!json_is_array(recent) || json_array_size(recent) == 0) {
		strbuf_puts(b, "<p class=\"dim\">none since mqttd started</p>\n");
		return;
	}
	strbuf_puts(b, "<table id=\"announcements\"><tr><th>When</th><th>Id</th><th>Room</th>"
	               "<th>Kind</th><th>Text</th><th>Outcome</th></tr>\n");
	json_array_foreach(recent, i, r)
	{
		const char *status = str_or(r, "status", "?"), *error = str_or(r, "error", "");
		const char *speaker = str_or(r, "speaker", "");
		long long at = int_or(r, "received_ms", 0);
		char when[48], outcome[400];

		if (at > 0 && (uint64_t)at <= now_ms) {
			duration_text((long long)(now_ms - (uint64_t)at), when, sizeof(when));
			strcat(when, " ago");
		} else {
			snprintf(when, sizeof(when), "-");
		}
		snprintf(outcome, sizeof(outcome), "%s%s%s", status, error[0] ? ": " : "", error);
		strbuf_puts(b, "<tr class=\"announcement\">");
		cell(b, when);
		cell(b, str_or(r, "id", ""));
		cell(b, speaker[0] ? speaker : str_or(r, "target", ""));
		cell(b, str_or(r, "kind", ""));
		cell(b, str_or(r, "text", ""));
		cell_class(b,
		           strcmp(status, "done") == 0 ? "ok"
		           : strcmp(status, "failed") == 0 || strcmp(status, "rejected") == 0 ||
		                   strcmp(status, "expired") == 0
		               ? "bad"
		               : "dim",
		           outcome);
		strbuf_puts(b, "</tr>\n");
	}
	strbuf_puts(b, "</table>\n");
}

static void
section_form(json_t *list, const struct status_page_opts *o, struct strbuf *b)
{
	size_t i;
	json_t *s;

	strbuf_puts(b, "<h2>Test announcement</h2>\n"
	               "<form method=\"post\" action=\"/announce\">"
	               "<label>Room<select name=\"room\">");
	json_array_foreach(list, i, s)
	{
		char slug[MSG_TARGET_MAX];

		if (util_slug(str_or(s, "room", ""), slug, sizeof(slug)) <= 0)
			continue;
		strbuf_puts(b, "<option value=\"");
		status_page_escape(b, slug);
		strbuf_puts(b, "\">");
		status_page_escape(b, str_or(s, "room", ""));
		strbuf_puts(b, "</option>");
	}
	strbuf_printf(b,
	              "<option value=\"all\">all rooms</option></select></label>"
	              "<label>Text<input type=\"text\" name=\"text\" required maxlength=\"%d\" "
	              "value=\"This is a test announcement\"></label>"
	              "<label>Volume<input type=\"number\" name=\"volume\" min=\"0\" max=\"100\" "
	              "placeholder=\"unchanged\"></label>"
	              "<button type=\"submit\">Announce</button></form>\n"
	              "<p class=\"dim\">Sent through mqttd and its spool like a message on "
	              "<code>",
	              o->max_text_length > 0 ? o->max_text_length : 1000);
	status_page_escape(b, o->base_topic ? o->base_topic : "sonos");
	strbuf_puts(b, "/&lt;room&gt;/tts</code>; the outcome shows under Last announcements "
	               "(reload).</p>\n");
}

static void
page_head(struct strbuf *b, const char *title)
{
	strbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	               "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	               "<title>");
	status_page_escape(b, title);
	strbuf_printf(b, "</title><style>%s</style></head><body>\n", page_style);
}

int
status_page_render(const char *doc, size_t len, const struct status_page_opts *o,
                   struct strbuf *out)
{
	json_t *root = doc ? json_loadb(doc, len, 0, NULL) : NULL, *workers = NULL, *mqttd_h,
	       *disc_h, *activity;
	char up[32], title[96];

	if (root != NULL && !json_is_object(json_object_get(root, "workers"))) {
		json_decref(root);
		root = NULL;
	}
	workers = json_object_get(root, "workers");
	mqttd_h = json_object_get(json_object_get(workers, "mqttd"), "health");
	disc_h = json_object_get(json_object_get(workers, "discoveryd"), "health");
	activity = json_object_get(mqttd_h, "activity");

	page_head(out, "sonos-bridge");
	duration_text(int_or(root, "uptime_ms", -1), up, sizeof(up));
	snprintf(title, sizeof(title), "sonos-bridge %s", str_or(root, "version", ""));
	strbuf_puts(out, "<h1>");
	status_page_escape(out, title);
	strbuf_puts(out, "</h1>\n");
	if (o->notice != NULL && o->notice[0] != '\0') {
		strbuf_printf(out, "<p class=\"notice%s\" id=\"notice\">",
		              o->notice_error ? " error" : "");
		status_page_escape(out, o->notice);
		strbuf_puts(out, "</p>\n");
	}
	if (root == NULL) {
		strbuf_puts(out, "<p class=\"bad\">The supervisor's status is not available.</p>\n"
		                 "</body></html>\n");
		return out->failed ? -1 : 0;
	}
	strbuf_printf(out, "<p>Up %s, pid %lld. Broker ", up, int_or(root, "pid", 0));
	status_page_escape(out, str_or(json_object_get(root, "broker"), "host", "?"));
	strbuf_printf(out, ":%lld: ", int_or(json_object_get(root, "broker"), "port", 0));
	if (json_is_true(json_object_get(mqttd_h, "broker_connected")))
		strbuf_puts(out, "<span class=\"ok\">connected</span>");
	else
		strbuf_puts(out, "<span class=\"bad\">not connected</span>");
	strbuf_puts(out, ".</p>\n");
	section_workers(workers, out);
	section_speakers(json_object_get(disc_h, "speakers"), json_object_get(activity, "speakers"),
	                 out);
	section_recent(json_object_get(activity, "recent"), o->now_ms, out);
	if (o->form && json_is_array(json_object_get(disc_h, "speakers")))
		section_form(json_object_get(disc_h, "speakers"), o, out);
	strbuf_puts(out, "<p class=\"dim\"><a href=\"/\">Reload</a> · <a href=\"/metrics\">"
	                 "metrics</a></p>\n</body></html>\n");
	json_decref(root);
	return out->failed ? -1 : 0;
}

int
status_page_message(const char *title, const char *message, struct strbuf *out)
{
	page_head(out, title);
	strbuf_puts(out, "<h1>");
	status_page_escape(out, title);
	strbuf_puts(out, "</h1>\n<p class=\"notice error\" id=\"notice\">");
	status_page_escape(out, message);
	strbuf_puts(out,
	            "</p>\n<p><a href=\"/\">Back to the status page</a></p>\n</body></html>\n");
	return out->failed ? -1 : 0;
}

/* ---- the form ---------------------------------------------------------------------------- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode a urlencoded value src[0..n) into out (size bytes). Returns its length, or -1 when
 * malformed or too long. */
static int
form_decode(const char *src, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)src[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n || (hi = hexval(src[i + 1])) < 0 ||
			    (lo = hexval(src[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}

/* The first field called name, decoded. Returns its length, -1 when absent, -2 when bad. */
static int
form_field(const char *body, size_t len, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name), pos = 0;

	while (pos < len) {
		const char *amp = memchr(body + pos, '&', len - pos);
		size_t end = amp ? (size_t)(amp - body) : len;
		const char *eq = memchr(body + pos, '=', end - pos);

		if (eq != NULL && (size_t)(eq - (body + pos)) == nlen &&
		    memcmp(body + pos, name, nlen) == 0) {
			int n = form_decode(eq + 1, (size_t)(body + end - (eq + 1)), out, size);

			return n < 0 ? -2 : n;
		}
		pos = end + 1;
	}
	return -1;
}

/* A target as mqttd takes it: a slug (lower-case ASCII letters, digits, '-', UTF-8 letters),
 * a speaker UUID, or "all"; no topic separators or wildcards. */
static int
target_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n >= MSG_TARGET_MAX || !util_utf8_valid(t, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int
status_page_form_parse(const char *body, size_t len, int max_text_length,
                       struct status_page_form *f, char *err, size_t errlen)
{
	char volume[16];
	int n;

	memset(f, 0, sizeof(*f));
	f->volume = -1;
	if (len > STATUS_PAGE_FORM_MAX) {
		snprintf(err, errlen, "the form is larger than %d bytes", STATUS_PAGE_FORM_MAX);
		return -1;
	}
	if (memchr(body, '\0', len) != NULL) {
		snprintf(err, errlen, "the form holds a NUL byte");
		return -1;
	}
	n = form_field(body, len, "room", f->target, sizeof(f->target));
	if (n < 0 || (size_t)n != strlen(f->target) || !target_ok(f->target)) {
		snprintf(err, errlen, "choose a room");
		return -1;
	}
	n = form_field(body, len, "text", f->text, sizeof(f->text));
	if (n == -2) {
		snprintf(err, errlen, "the text is badly encoded or too long");
		return -1;
	}
	if (n <= 0 || strspn(f->text, " \t\r\n") == (size_t)n) {
		snprintf(err, errlen, "the text is empty");
		return -1;
	}
	if (memchr(f->text, '\0', (size_t)n) != NULL || !util_utf8_valid(f->text, (size_t)n)) {
		snprintf(err, errlen, "the text is not valid UTF-8");
		return -1;
	}
	if (max_text_length > 0 && n > max_text_length) {
		snprintf(err, errlen, "the text is longer than %d bytes", max_text_length);
		return -1;
	}
	n = form_field(body, len, "volume", volume, sizeof(volume));
	if (n == -2) {
		snprintf(err, errlen, "the volume is not a number from 0 to 100");
		return -1;
	}
	if (n > 0) {
		char *end;
		long v = strtol(volume, &end, 10);

		if (end == volume || *end != '\0' || v < 0 || v > 100) {
			snprintf(err, errlen, "the volume is not a number from 0 to 100");
			return -1;
		}
		f->volume = (int)v;
	}
	return 0;
}

char *
status_page_form_json(const struct status_page_form *f, const char *id)
{
	json_t *o = json_pack("{s:s,s:s}", "id", id, "text", f->text);
	char *text;

	if (o == NULL)
		return NULL;
	if (f->volume >= 0)
		json_object_set_new(o, "volume", json_integer(f->volume));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* "http://<host>" equals origin[0..n), host compared without case. */
static int
origin_is(const char *origin, size_t n, const char *host)
{
	size_t h = strlen(host);

	return n == 7 + h && strncasecmp(origin, "http://", 7) == 0 &&
	       strncasecmp(origin + 7, host, h) == 0;
}

int
status_page_same_origin(const char *head, size_t head_len)
{
	char host[256], origin[512], site[64];
	int n;

	if (http_header_value(head, head_len, "Host", host, sizeof(host)) <= 0)
		return 0;
	if (http_header_value(head, head_len, "Sec-Fetch-Site", site, sizeof(site)) >= 0 &&
	    strcasecmp(site, "same-origin") != 0)
		return 0;
	if ((n = http_header_value(head, head_len, "Origin", origin, sizeof(origin))) >= 0)
		return origin_is(origin, (size_t)n, host);
	if ((n = http_header_value(head, head_len, "Referer", origin, sizeof(origin))) < 0)
		return 0;
	/* A Referer is a whole URL: its origin part must be ours, then a path. */
	return (size_t)n > 7 + strlen(host) && origin_is(origin, 7 + strlen(host), host) &&
	       origin[7 + strlen(host)] == '/';
}
