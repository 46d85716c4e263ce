/* command.c -- parse control commands from JSON or a plain word; validate every value. */
#include "command.h"
#include "util.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const transport_names[] = {
    [COMMAND_NONE] = "none",     [COMMAND_PLAY] = "play", [COMMAND_PAUSE] = "pause",
    [COMMAND_STOP] = "stop",     [COMMAND_NEXT] = "next", [COMMAND_PREVIOUS] = "previous",
    [COMMAND_TOGGLE] = "toggle",
};

const char *
command_transport_name(enum command_transport t)
{
	return (unsigned)t < sizeof(transport_names) / sizeof(transport_names[0])
	           ? transport_names[t]
	           : "unknown";
}

static int
fail(char *reason, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
transport_parse(const char *s, enum command_transport *t)
{
	for (unsigned i = 1; i < sizeof(transport_names) / sizeof(transport_names[0]); i++)
		if (strcasecmp(s, transport_names[i]) == 0) {
			*t = (enum command_transport)i;
			return 0;
		}
	return -1;
}

/* One to two ASCII digits at *p (no sign, no space: sscanf's %u takes both); advances *p. */
static int
time_field(const char **p, unsigned *out)
{
	const char *s = *p;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	*out = (unsigned)(s[0] - '0');
	if (isdigit((unsigned char)s[1]))
		*out = *out * 10 + (unsigned)(s[1] - '0');
	*p = s + (isdigit((unsigned char)s[1]) ? 2 : 1);
	return 0;
}

/* "H:MM:SS" (hours up to 99), digits only, from a string; "-" or "+" (a relative seek) is
 * refused, never read as a position. */
static int
seek_time_parse(const char *s, unsigned *h, unsigned *m, unsigned *sec)
{
	if (time_field(&s, h) < 0 || *s++ != ':' || time_field(&s, m) < 0 || *s++ != ':' ||
	    time_field(&s, sec) < 0 || *s != '\0' || *m > 59 || *sec > 59)
		return -1;
	return 0;
}

/* "H:MM:SS" from a string, or from a number of seconds. */
static int
seek_parse(json_t *v, char *out, size_t size)
{
	unsigned h, m, s;

	if (json_is_integer(v)) {
		long long t = json_integer_value(v);

		if (t < 0 || t > 99 * 3600 + 3599)
			return -1;
		snprintf(out, size, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
		return 0;
	}
	if (!json_is_string(v) || seek_time_parse(json_string_value(v), &h, &m, &s) < 0)
		return -1;
	snprintf(out, size, "%u:%02u:%02u", h, m, s);
	return 0;
}

static int
volume_parse(json_t *v, struct command *cmd)
{
	long long n;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n < 0 || n > 100)
			return -1;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (s[0] != '+' && s[0] != '-')
			return -1;
		n = strtoll(s, &end, 10);
		if (*end != '\0' || end == s + 1 || n < -100 || n > 100)
			return -1;
		cmd->volume_relative = 1;
	} else {
		return -1;
	}
	cmd->has_volume = 1;
	cmd->volume = (int)n;
	return 0;
}

static int
string_field(json_t *obj, const char *key, char *out, size_t size, char *reason, size_t n)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(reason, n, "%s: expected a string", key);
	if (json_string_length(v) == 0 || json_string_length(v) >= size)
		return fail(reason, n, "%s: 1 to %zu bytes", key, size - 1);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(reason, n, "%s: contains a NUL byte", key);
	/* Control characters would reach the speaker inside XML; only metadata (itself XML)
	 * may hold line breaks and tabs. */
	for (const unsigned char *p = (const unsigned char *)json_string_value(v); *p; p++)
		if ((*p < 0x20 || *p == 0x7f) &&
		    !(strcmp(key, "metadata") == 0 && (*p == '\n' || *p == '\r' || *p == '\t')))
			return fail(reason, n, "%s: contains a control character", key);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static const char *const command_keys[] = {"id",    "command", "volume", "mute",     "seek",
                                           "track", "join",    "leave",  "uri",      "metadata",
                                           "expire_after"};

static int
parse_object(json_t *obj, struct command *cmd, char *reason, size_t n)
{
	const char *key;
	json_t *v;

	/* The id first, so that any rejection below names the publisher's request. */
	if (string_field(obj, "id", cmd->id, sizeof(cmd->id), reason, n) < 0)
		return -1;
	json_object_foreach(obj, key, v)
	{
		size_t k;

		for (k = 0; k < sizeof(command_keys) / sizeof(command_keys[0]); k++)
			if (strcmp(key, command_keys[k]) == 0)
				break;
		if (k == sizeof(command_keys) / sizeof(command_keys[0]))
			return fail(reason, n, "unknown key '%.40s'", key);
	}
	if (string_field(obj, "join", cmd->join, sizeof(cmd->join), reason, n) < 0 ||
	    string_field(obj, "uri", cmd->uri, sizeof(cmd->uri), reason, n) < 0 ||
	    string_field(obj, "metadata", cmd->metadata, sizeof(cmd->metadata), reason, n) < 0)
		return -1;
	if ((v = json_object_get(obj, "command")) != NULL &&
	    (!json_is_string(v) || transport_parse(json_string_value(v), &cmd->transport) < 0))
		return fail(reason, n,
		            "command: expected play, pause, stop, next, previous or toggle");
	if ((v = json_object_get(obj, "volume")) != NULL && volume_parse(v, cmd) < 0) {
		/* Worded as for the plain payload and tts when it is only the range. */
		if (json_is_integer(v))
			return fail(reason, n, "volume out of range 0..100 (%lld)",
			            (long long)json_integer_value(v));
		return fail(reason, n,
		            "volume: expected 0..100, or a step \"+N\"/\"-N\" of at most 100");
	}
	if ((v = json_object_get(obj, "mute")) != NULL) {
		if (!json_is_boolean(v))
			return fail(reason, n, "mute: expected true or false");
		cmd->has_mute = 1;
		cmd->mute = json_is_true(v);
	}
	if ((v = json_object_get(obj, "seek")) != NULL &&
	    seek_parse(v, cmd->seek, sizeof(cmd->seek)) < 0)
		return fail(reason, n,
		            "seek: expected a position \"H:MM:SS\" or seconds from 0 "
		            "(no sign: relative seeks are not supported)");
	if ((v = json_object_get(obj, "track")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 100000)
			return fail(reason, n, "track: expected a queue position from 1");
		cmd->track = (int)json_integer_value(v);
	}
	if ((v = json_object_get(obj, "expire_after")) != NULL && !json_is_null(v)) {
		if (!json_is_number(v) || !(json_number_value(v) > 0) ||
		    json_number_value(v) > COMMAND_EXPIRE_MAX)
			return fail(reason, n, "expire_after out of range (0, %d] seconds",
			            COMMAND_EXPIRE_MAX);
		cmd->expire_after = json_number_value(v);
	}
	if ((v = json_object_get(obj, "leave")) != NULL) {
		if (!json_is_boolean(v))
			return fail(reason, n, "leave: expected true");
		cmd->leave = json_is_true(v);
	}
	if (cmd->metadata[0] != '\0' && cmd->uri[0] == '\0')
		return fail(reason, n, "metadata without uri");
	if (cmd->join[0] != '\0' && cmd->leave)
		return fail(reason, n, "join and leave at once");
	return 0;
}

/* A plain word or number, trimmed. */
static int
parse_plain(const char *buf, size_t len, struct command *cmd, char *reason, size_t n)
{
	char word[16];
	char *end;
	long v;

	if (len >= sizeof(word))
		return fail(reason, n, "not a command (expected JSON or a word such as pause)");
	memcpy(word, buf, len);
	word[len] = '\0';
	if (transport_parse(word, &cmd->transport) == 0)
		return 0;
	if (strcasecmp(word, "mute") == 0 || strcasecmp(word, "unmute") == 0) {
		cmd->has_mute = 1;
		cmd->mute = tolower((unsigned char)word[0]) == 'm';
		return 0;
	}
	if (strcasecmp(word, "leave") == 0) {
		cmd->leave = 1;
		return 0;
	}
	v = strtol(word, &end, 10);
	if (*end == '\0' && end != word) {
		if (!isdigit((unsigned char)word[0]))
			return fail(reason, n, "a relative volume is JSON: {\"volume\": \"%s\"}",
			            word);
		if (v > 100)
			return fail(reason, n, "volume out of range 0..100 (%s)", word);
		cmd->has_volume = 1;
		cmd->volume = (int)v;
		return 0;
	}
	return fail(reason, n, "unknown command '%s'", word);
}

int
command_parse(const char *buf, size_t len, struct command *cmd, char *reason, size_t reasonlen)
{
	json_error_t jerr;
	json_t *doc;
	int rv;

	memset(cmd, 0, sizeof(*cmd));
	if (buf == NULL || len == 0)
		return fail(reason, reasonlen, "empty payload");
	if (len > MSG_TEXT_MAX)
		return fail(reason, reasonlen, "payload larger than %d bytes", MSG_TEXT_MAX);
	if (!util_utf8_valid(buf, len))
		return fail(reason, reasonlen, "invalid UTF-8");
	/* A word is compared as a C string: "pause\0junk" must not pass as "pause". */
	if (memchr(buf, '\0', len) != NULL)
		return fail(reason, reasonlen, "payload contains a NUL byte");
	while (len > 0 && isspace((unsigned char)*buf)) {
		buf++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	if (len == 0)
		return fail(reason, reasonlen, "empty payload");
	if (buf[0] != '{')
		return parse_plain(buf, len, cmd, reason, reasonlen);
	if ((doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		if (json_error_code(&jerr) == json_error_duplicate_key)
			command_duplicate_key_id(buf, len, cmd->id, sizeof(cmd->id));
		return fail(reason, reasonlen, "malformed JSON (column %d): %s", jerr.column,
		            jerr.text);
	}
	rv = json_is_object(doc) ? parse_object(doc, cmd, reason, reasonlen)
	                         : fail(reason, reasonlen, "malformed JSON: not an object");
	json_decref(doc);
	if (rv == 0 && command_empty(cmd))
		return fail(reason, reasonlen, "nothing to do (no command, volume, mute, ...)");
	return rv;
}

void
command_duplicate_key_id(const char *buf, size_t len, char *out, size_t outsz)
{
	json_t *doc = json_loadb(buf, len, 0, NULL), *id = json_object_get(doc, "id");

	out[0] = '\0';
	if (json_is_string(id) && json_string_length(id) < outsz &&
	    strlen(json_string_value(id)) == json_string_length(id))
		memcpy(out, json_string_value(id), json_string_length(id) + 1);
	json_decref(doc);
}

int
command_empty(const struct command *c)
{
	return !c->leave && c->join[0] == '\0' && c->uri[0] == '\0' && !c->has_volume &&
	       !c->has_mute && c->track == 0 && c->seek[0] == '\0' && c->transport == COMMAND_NONE;
}
