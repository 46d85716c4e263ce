/* request.c -- MQTT request topics and payloads to bus requests: pure parsing, no I/O. */
#include "request.h"
#include "command.h"
#include "sha256.h"
#include "util.h"

#include <jansson.h>
#include <uuid/uuid.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The parts of a payload, before they become a struct msg_request. Pointers borrow from the
 * payload or from the parsed JSON document. */
struct request_fields {
	const char *id;
	size_t id_len;
	const char *text; /* TTS text or clip URL */
	size_t text_len;
	const char *voice;
	int has_volume;
	int volume;
	double expire_s; /* 0: configured default */
};

static int
fail(struct request_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct request_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	return -1;
}

void
request_derive_id(const char *topic, const void *payload, size_t len, int mid,
		  char id[MSG_ID_MAX])
{
	uint8_t digest[SHA256_DIGEST_LEN], sep = 0, m[2] = {(uint8_t)(mid >> 8), (uint8_t)mid};
	struct sha256 h;
	char hex[SHA256_HEX_LEN + 1];

	sha256_init(&h);
	sha256_update(&h, topic, strlen(topic));
	sha256_update(&h, &sep, 1);
	if (len > 0)
		sha256_update(&h, payload, len);
	sha256_update(&h, &sep, 1);
	sha256_update(&h, m, sizeof(m));
	sha256_final(&h, digest);
	sha256_hex(digest, hex);
	snprintf(id, MSG_ID_MAX, "auto-%.20s", hex);
}

void
request_unique_id(char id[MSG_ID_MAX])
{
	uuid_t u;
	char text[37];

	uuid_generate(u);
	uuid_unparse_lower(u, text);
	snprintf(id, MSG_ID_MAX, "auto-%s", text);
}

const char *
request_kind_name(unsigned kind)
{
	return kind == REQUEST_TTS ? "tts" : kind == REQUEST_CLIP ? "clip" :
	       kind == REQUEST_SET ? "set" : "unknown";
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Narrow [*s, *s + *len) to its part without leading and trailing white space. */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_space((*s)[*len - 1]))
		(*len)--;
}

int
request_target_valid(const char *s, size_t len)
{
	/* Any room name a user may type: "kitchen", "Living Room", "living-room", a UUID in any
	 * case. playerd compares slugs, so they all find the same speaker. */
	if (len == 0 || len >= MSG_TARGET_MAX || !util_utf8_valid(s, len))
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
request_topic_parse(const char *base, const char *topic, char target[MSG_TARGET_MAX],
		    enum request_kind *kind)
{
	size_t blen = strlen(base), tlen;
	const char *t, *slash, *leaf;

	if (strncmp(topic, base, blen) != 0 || topic[blen] != '/')
		return -1;
	t = topic + blen + 1;
	if ((slash = strchr(t, '/')) == NULL)
		return -1;
	tlen = (size_t)(slash - t);
	leaf = slash + 1;
	if (strcmp(leaf, "tts") == 0)
		*kind = REQUEST_TTS;
	else if (strcmp(leaf, "clip") == 0)
		*kind = REQUEST_CLIP;
	else if (strcmp(leaf, "set") == 0)
		*kind = REQUEST_SET;
	else
		return -1;
	if (!request_target_valid(t, tlen))
		return -1;
	memcpy(target, t, tlen);
	target[tlen] = '\0';
	return 0;
}

int
request_id_valid(const char *id, size_t len)
{
	if (len == 0 || len >= MSG_ID_MAX || !util_utf8_valid(id, len))
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return 0;
	return 1;
}

/* 1 if v is an espeak-ng voice name we pass on: letters, digits, '-', '_', '+', and '/'
 * inside (as in "mb/mb-de1"); no '.', so it can never name a path outside espeak's data. */
static int
voice_valid(const char *v, size_t len)
{
	if (len == 0 || len >= sizeof(((struct msg_request *)0)->voice) || v[0] == '/')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '+' || c == '/'))
			return 0;
	}
	return 1;
}

/* Check a clip URL: http or https, a host, printable ASCII without spaces. */
static int
url_check(const char *u, size_t len, struct request_result *res)
{
	size_t skip;

	if (len > REQUEST_URL_MAX)
		return fail(res, "url longer than %d bytes", REQUEST_URL_MAX);
	if (len >= 7 && strncasecmp(u, "http://", 7) == 0)
		skip = 7;
	else if (len >= 8 && strncasecmp(u, "https://", 8) == 0)
		skip = 8;
	else
		return fail(res, "url must start with http:// or https://");
	if (len == skip || u[skip] == '/' || u[skip] == '?' || u[skip] == '#')
		return fail(res, "url has no host");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)u[i];

		if (c <= 0x20 || c >= 0x7f)
			return fail(res, "url must be printable ASCII without spaces");
	}
	return 0;
}

/* Check the text of a TTS request against the limits. */
static int
text_check(const struct request_limits *lim, const char *text, size_t len,
	   struct request_result *res)
{
	size_t max = lim->max_text_length > 0 ? (size_t)lim->max_text_length : MSG_TEXT_MAX;

	if (max > MSG_TEXT_MAX)
		max = MSG_TEXT_MAX;
	if (len == 0)
		return fail(res, "text is empty");
	if (memchr(text, '\0', len) != NULL)
		return fail(res, "text contains a NUL byte");
	if (len > max)
		return fail(res, "text longer than %zu bytes (%zu)", max, len);
	return 0;
}

/* A string member of obj, or NULL when absent; -1 when present but not a string. */
static int
json_get_string(json_t *obj, const char *key, const char **s, size_t *len,
		struct request_result *res)
{
	json_t *v = json_object_get(obj, key);

	*s = NULL;
	*len = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(res, "%s: expected a string", key);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

/* A misspelt option ("volumne") must not be ignored in silence: the announcement would play
 * at the wrong volume and nobody would know why. */
static int
json_keys_known(json_t *obj, enum request_kind kind, struct request_result *res)
{
	static const char *const tts_keys[] = {"id",   "text",         "volume", "voice",
					       "lang", "expire_after", "restore"};
	static const char *const clip_keys[] = {"id", "url", "volume", "expire_after", "restore"};
	const char *const *keys = kind == REQUEST_CLIP ? clip_keys : tts_keys;
	size_t n = kind == REQUEST_CLIP ? sizeof(clip_keys) / sizeof(clip_keys[0])
					: sizeof(tts_keys) / sizeof(tts_keys[0]);
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t k;

		for (k = 0; k < n && strcmp(key, keys[k]) != 0; k++)
			;
		if (k == n)
			return fail(res, "unknown key '%.40s'", key);
	}
	return 0;
}

/* Fill f from a JSON object payload. The document stays owned by the caller (*doc). */
static int
parse_json(const struct request_limits *lim, enum request_kind kind, const char *buf, size_t len,
	   json_t **doc, struct request_fields *f, struct request_result *res)
{
	const char *voice, *lang;
	size_t voice_len, lang_len;
	json_error_t jerr;
	json_t *v;

	if (len > REQUEST_PAYLOAD_MAX)
		return fail(res, "payload larger than %d bytes", REQUEST_PAYLOAD_MAX);
	if ((*doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		char id[MSG_ID_MAX];

		if (json_error_code(&jerr) == json_error_duplicate_key) {
			command_duplicate_key_id(buf, len, id, sizeof(id));
			if (id[0] != '\0' && request_id_valid(id, strlen(id)))
				msg_strlcpy(res->id, id, sizeof(res->id));
		}
		return fail(res, "malformed JSON (column %d): %s", jerr.column, jerr.text);
	}
	if (!json_is_object(*doc))
		return fail(res, "malformed JSON: not an object");
	if (json_get_string(*doc, "id", &f->id, &f->id_len, res) < 0)
		return -1;
	if (f->id != NULL && !request_id_valid(f->id, f->id_len))
		return fail(res, "id must be 1 to %d bytes without control characters",
			    MSG_ID_MAX - 1);
	if (f->id != NULL)
		msg_strlcpy(res->id, f->id, sizeof(res->id));
	if (json_keys_known(*doc, kind, res) < 0)
		return -1;
	/* Announcements always put back what was playing; false must not pass for done. */
	if ((v = json_object_get(*doc, "restore")) != NULL && !json_is_null(v) && !json_is_true(v))
		return fail(res, "restore: only true is supported (what was playing is always "
				 "restored)");
	if ((v = json_object_get(*doc, "volume")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v))
			return fail(res, "volume: expected an integer");
		if (json_integer_value(v) < 0 || json_integer_value(v) > 100)
			return fail(res, "volume out of range 0..100 (%lld)",
				    (long long)json_integer_value(v));
		f->has_volume = 1;
		f->volume = (int)json_integer_value(v);
	}
	if ((v = json_object_get(*doc, "expire_after")) != NULL && !json_is_null(v)) {
		if (!json_is_number(v))
			return fail(res, "expire_after: expected a number of seconds");
		f->expire_s = json_number_value(v);
		if (!(f->expire_s > 0) || f->expire_s > REQUEST_EXPIRE_MAX)
			return fail(res, "expire_after out of range (0, %d] seconds",
				    REQUEST_EXPIRE_MAX);
	}
	if (kind == REQUEST_CLIP) {
		if (json_get_string(*doc, "url", &f->text, &f->text_len, res) < 0)
			return -1;
		if (f->text == NULL)
			return fail(res, "url is missing");
		return url_check(f->text, f->text_len, res);
	}
	if (json_get_string(*doc, "text", &f->text, &f->text_len, res) < 0 ||
	    json_get_string(*doc, "voice", &voice, &voice_len, res) < 0 ||
	    json_get_string(*doc, "lang", &lang, &lang_len, res) < 0)
		return -1;
	if (f->text == NULL)
		return fail(res, "text is missing");
	trim(&f->text, &f->text_len);
	if (text_check(lim, f->text, f->text_len, res) < 0)
		return -1;
	if (voice == NULL || voice_len == 0) {
		voice = lang;
		voice_len = lang_len;
	}
	if (voice != NULL && voice_len > 0) {
		if (!voice_valid(voice, voice_len))
			return fail(res, "voice: not a voice name");
		f->voice = voice;
	}
	return 0;
}

/* Fill f from a payload that is not JSON: the text itself, or the clip URL. */
static int
parse_plain(const struct request_limits *lim, enum request_kind kind, const char *buf, size_t len,
	    struct request_fields *f, struct request_result *res)
{
	f->text = buf;
	f->text_len = len;
	trim(&f->text, &f->text_len);
	if (kind == REQUEST_CLIP)
		return url_check(f->text, f->text_len, res);
	return text_check(lim, f->text, f->text_len, res);
}

/* A control command: checked here so a bad one is rejected at once; playerd runs the
 * payload itself, passed on as the request's text. */
static int
parse_command(const char *buf, size_t len, struct request_fields *f, struct request_result *res)
{
	struct command cmd;
	char reason[sizeof(res->reason)];

	if (command_parse(buf, len, &cmd, reason, sizeof(reason)) < 0) {
		if (cmd.id[0] != '\0' && request_id_valid(cmd.id, strlen(cmd.id)))
			msg_strlcpy(res->id, cmd.id, sizeof(res->id));
		return fail(res, "%s", reason);
	}
	if (cmd.id[0] != '\0') {
		if (!request_id_valid(cmd.id, strlen(cmd.id)))
			return fail(res, "id must be 1 to %d bytes without control characters",
				    MSG_ID_MAX - 1);
		msg_strlcpy(res->id, cmd.id, sizeof(res->id));
	}
	f->expire_s = cmd.expire_after;
	f->text = buf;
	f->text_len = len;
	trim(&f->text, &f->text_len);
	return 0;
}

/* Build the bus message from checked fields. */
static int
build(const struct request_limits *lim, enum request_kind kind, const char *target,
      const struct request_fields *f, uint64_t now_ms, struct request_result *res)
{
	struct msg_request *r;
	double expire_s = f->expire_s > 0 ? f->expire_s : (lim->expiry_s > 0 ? lim->expiry_s : 300);

	res->size = sizeof(*r) + f->text_len;
	if ((r = calloc(1, res->size)) == NULL)
		return fail(res, "out of memory");
	msg_strlcpy(r->id, res->id, sizeof(r->id));
	msg_strlcpy(r->target, target, sizeof(r->target));
	r->kind = (uint8_t)kind;
	r->has_volume = (uint8_t)f->has_volume;
	r->volume = f->volume;
	if (f->voice != NULL)
		msg_strlcpy(r->voice, f->voice, sizeof(r->voice));
	r->received_ms = now_ms;
	r->deadline_ms = now_ms + (uint64_t)(expire_s * 1000.0);
	r->text_len = (uint32_t)f->text_len;
	memcpy(r->text, f->text, f->text_len);
	res->req = r;
	return 0;
}

int
request_parse(const struct request_limits *lim, enum request_kind kind, const char *target,
	      const void *payload, size_t len, const char *fallback_id, uint64_t now_ms,
	      struct request_result *res)
{
	struct request_fields f = {0};
	const char *buf = payload;
	json_t *doc = NULL;
	size_t i = 0;
	int rv;

	memset(res, 0, sizeof(*res));
	msg_strlcpy(res->id, fallback_id != NULL ? fallback_id : "", sizeof(res->id));
	if (kind != REQUEST_TTS && kind != REQUEST_CLIP && kind != REQUEST_SET)
		return fail(res, "unknown request kind");
	if (target == NULL || strlen(target) >= MSG_TARGET_MAX)
		return fail(res, "bad target");
	if (len == 0 || buf == NULL)
		return fail(res, "empty payload");
	if (!util_utf8_valid(buf, len))
		return fail(res, "invalid UTF-8");
	while (i < len && is_space(buf[i]))
		i++;
	if (i == len)
		return fail(res, "empty payload");
	if (kind == REQUEST_SET)
		rv = parse_command(buf, len, &f, res);
	else if (buf[i] == '{')
		rv = parse_json(lim, kind, buf, len, &doc, &f, res);
	else
		rv = parse_plain(lim, kind, buf, len, &f, res);
	if (rv == 0)
		rv = build(lim, kind, target, &f, now_ms, res);
	json_decref(doc);
	return rv;
}
