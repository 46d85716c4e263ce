/* source.c -- pure helpers: what kind of source a URI is, which speaker a target names. */
#include "announce.h"
#include "player.h"
#include "util.h"

#include "http_client.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *prefix;
	enum source_kind kind;
} source_prefixes[] = {
	{"x-rincon-queue:", SOURCE_QUEUE},       {"x-rincon-stream:", SOURCE_LINE_IN},
	{"x-sonos-htastream:", SOURCE_TV},       {"x-rincon:", SOURCE_GROUP},
	{"x-sonosapi-stream:", SOURCE_STREAM},   {"x-sonosapi-radio:", SOURCE_STREAM},
	{"x-rincon-mp3radio:", SOURCE_STREAM},   {"x-sonosapi-hls:", SOURCE_STREAM},
	{"x-sonosapi-hls-static:", SOURCE_STREAM}, {"aac:", SOURCE_STREAM},
	{"hls-radio:", SOURCE_STREAM},           {"x-sonos-http:", SOURCE_OTHER},
};

enum source_kind
source_classify(const char *uri)
{
	if (uri == NULL || *uri == '\0')
		return SOURCE_NONE;
	for (size_t i = 0; i < sizeof(source_prefixes) / sizeof(source_prefixes[0]); i++)
		if (strncmp(uri, source_prefixes[i].prefix, strlen(source_prefixes[i].prefix)) == 0)
			return source_prefixes[i].kind;
	return SOURCE_OTHER;
}

const char *
source_kind_name(enum source_kind kind)
{
	static const char *const names[] = {"none", "queue", "stream", "line-in",
					    "tv",   "group", "other"};

	return names[kind];
}

int
player_resolve(const struct msg_speaker *table, int count, const char *target)
{
	char slug[MSG_TARGET_MAX], want[MSG_TARGET_MAX];

	/* "Living Room", "living room" and "living-room" all name the same room. */
	if (util_slug(target, want, sizeof(want)) <= 0)
		return -1;
	for (int i = 0; i < count; i++) {
		if (strcasecmp(table[i].uuid, target) == 0)
			return i;
		if (util_slug(table[i].room, slug, sizeof(slug)) > 0 && strcmp(slug, want) == 0)
			return i;
	}
	return -1;
}


int
source_is_own_clip(const char *uri, int http_port)
{
	char host[256], path[512];
	uint16_t port;

	return http_url_split(uri, host, sizeof(host), &port, path, sizeof(path)) == 0 &&
	       port == http_port && strncmp(path, "/clips/", 7) == 0;
}

const char *
source_mime_from_url(const char *url)
{
	static const struct {
		const char *ext, *mime;
	} types[] = {{".wav", "audio/wav"}, {".mp3", "audio/mpeg"}, {".flac", "audio/flac"},
		     {".ogg", "audio/ogg"},  {".oga", "audio/ogg"},  {".m4a", "audio/mp4"},
		     {".aac", "audio/aac"},  {".aif", "audio/aiff"}, {".aiff", "audio/aiff"}};
	size_t n = strcspn(url, "?#");

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n >= e && strncasecmp(url + n - e, types[i].ext, e) == 0)
			return types[i].mime;
	}
	return "audio/mpeg";
}
