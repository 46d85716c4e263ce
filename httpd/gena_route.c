/* gena_route.c -- the NOTIFY route of the HTTP server: path and header checks (pure), and the
 * hand-off of each event to playerd's inbox. */
#include "gena_route.h"
#include "bus.h"
#include "http_client.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define FETCHED_RECENT 8      /* clips whose last MSG_CLIP_FETCHED is remembered */
#define FETCHED_EVERY_MS 1000 /* at most one MSG_CLIP_FETCHED a second per clip */

static nng_socket gena_playerd;
static int gena_dialled;
static struct {
	char name[96];
	uint64_t ms;
} fetched_recent[FETCHED_RECENT];
static unsigned fetched_next;

int
gena_route(const struct http_request *req)
{
	return strcmp(req->method_name, "NOTIFY") == 0;
}

/* Copy the run of bytes at p allowed by ok (at most size - 1) into out. Returns the count,
 * or 0 when there is none or it does not fit. */
static size_t
gena_segment(const char *p, int (*ok)(int c), char *out, size_t size)
{
	size_t n = 0;

	while (p[n] != '\0' && ok((unsigned char)p[n]))
		if (++n >= size)
			return 0;
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

static int
gena_uuid_char(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_' || c == '-';
}

static int
gena_service_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* /gena/<uuid>/<service>, nothing more (no query, no trailing slash). */
static int
gena_target(const char *target, char *uuid, size_t usize, char *service, size_t ssize)
{
	const char *p = target;
	size_t n;

	if (strncmp(p, GENA_PATH_PREFIX, strlen(GENA_PATH_PREFIX)) != 0)
		return -1;
	p += strlen(GENA_PATH_PREFIX);
	if ((n = gena_segment(p, gena_uuid_char, uuid, usize)) == 0 || p[n] != '/')
		return -1;
	p += n + 1;
	if ((n = gena_segment(p, gena_service_char, service, ssize)) == 0 || p[n] != '\0')
		return -1;
	return 0;
}

/* SID: "uuid:" then printable ASCII without spaces. */
static int
gena_sid_ok(const char *sid)
{
	if (strncmp(sid, "uuid:", 5) != 0 || sid[5] == '\0')
		return 0;
	for (const char *p = sid; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/* A decimal number of at most max. */
static int
gena_number(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s == '\0' || strlen(s) > 19)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int
gena_notify_begin(const struct http_request *req, const char *head, size_t head_len,
                  struct msg_gena_notify **out, size_t *skip)
{
	struct msg_gena_notify m;
	char value[32];
	unsigned long long seq, length;

	memset(&m, 0, sizeof(m));
	*skip = 0;
	if (gena_target(req->target, m.uuid, sizeof(m.uuid), m.service, sizeof(m.service)) < 0)
		return 404;
	if (http_header_value(head, head_len, "SID", m.sid, sizeof(m.sid)) < 0 ||
	    !gena_sid_ok(m.sid))
		return 412;
	if (http_header_value(head, head_len, "NT", value, sizeof(value)) >= 0 &&
	    strcmp(value, "upnp:event") != 0)
		return 412;
	if (http_header_value(head, head_len, "NTS", value, sizeof(value)) >= 0 &&
	    strcmp(value, "upnp:propchange") != 0)
		return 412;
	if (http_header_value(head, head_len, "SEQ", value, sizeof(value)) < 0 ||
	    gena_number(value, UINT32_MAX, &seq) < 0)
		return 400;
	if (http_header_value(head, head_len, "Content-Length", value, sizeof(value)) < 0)
		return 411;
	if (gena_number(value, UINT64_MAX / 10, &length) < 0 || length == 0)
		return 400;
	if (length > MSG_GENA_BODY_MAX) {
		if (strcmp(m.service, "ZoneGroupTopology") != 0 || length > GENA_TOPOLOGY_BODY_MAX)
			return 413;
		*skip = (size_t)length;
		length = 0;
	}
	m.seq = (uint32_t)seq;
	m.body_len = (uint32_t)length;
	if ((*out = malloc(sizeof(m) + length)) == NULL)
		return 500;
	memcpy(*out, &m, sizeof(m));
	return 0;
}

int
gena_route_start(const char *rundir)
{
	int rv = bus_push_dial(&gena_playerd, rundir, "playerd");

	gena_dialled = rv == 0;
	return rv;
}

int
gena_notify_send(const struct msg_gena_notify *m)
{
	int rv;

	if (!gena_dialled)
		return 503;
	if ((rv = bus_send(gena_playerd, MSG_GENA_NOTIFY, m, sizeof(*m) + m->body_len)) != 0) {
		log_warnx("NOTIFY %s from %s: playerd: %s", m->sid, m->uuid, nng_strerror(rv));
		return 503;
	}
	log_debug("NOTIFY %s/%s %s seq %u, %u bytes from %s", m->uuid, m->service, m->sid, m->seq,
	          m->body_len, m->peer);
	return 200;
}

void
gena_route_clip_fetched(const char *name, const char *peer)
{
	struct msg_clip_fetched m;
	uint64_t now = util_mono_ms();
	int rv;

	if (!gena_dialled)
		return;
	for (unsigned i = 0; i < FETCHED_RECENT; i++)
		if (fetched_recent[i].ms != 0 && strcmp(fetched_recent[i].name, name) == 0 &&
		    now - fetched_recent[i].ms < FETCHED_EVERY_MS)
			return;
	memset(&m, 0, sizeof(m));
	msg_strlcpy(m.name, name, sizeof(m.name));
	msg_strlcpy(m.peer, peer, sizeof(m.peer));
	if ((rv = bus_send(gena_playerd, MSG_CLIP_FETCHED, &m, sizeof(m))) != 0) {
		log_debug("clip %.12s asked for by %s: playerd: %s", name, peer, nng_strerror(rv));
		return;
	}
	msg_strlcpy(fetched_recent[fetched_next].name, name, sizeof(fetched_recent[0].name));
	fetched_recent[fetched_next].ms = now;
	fetched_next = (fetched_next + 1) % FETCHED_RECENT;
}

void
gena_route_close(void)
{
	if (gena_dialled)
		nng_close(gena_playerd);
	gena_dialled = 0;
}
