/* gena_route.h -- GENA NOTIFY from speakers on /gena/<uuid>/<service>: checked here, answered at
 * once, and handed to playerd over the bus (which knows the subscriptions and parses bodies). */
#ifndef SB_GENA_ROUTE_H
#define SB_GENA_ROUTE_H

#include <stddef.h>

#include "http_request.h"
#include "msg.h"

#define GENA_PATH_PREFIX "/gena/"
/* A ZoneGroupTopology event of a large household exceeds MSG_GENA_BODY_MAX; playerd needs only
 * the fact that one came (discoveryd reads the topology itself), so it is taken up to this and
 * handed on without its body. */
#define GENA_TOPOLOGY_BODY_MAX (1024 * 1024)

/* Pure: 1 if the request is a NOTIFY (which this module answers, whatever its path). */
int gena_route(const struct http_request *req);

/* Pure: check a NOTIFY's target and header block (head[0..head_len), the request head as
 * received) and allocate the message for playerd with room for the body: uuid, service, SID
 * and SEQ filled, body_len the Content-Length, body not yet filled. A ZoneGroupTopology body
 * above MSG_GENA_BODY_MAX (up to GENA_TOPOLOGY_BODY_MAX) is not kept: body_len is 0 and *skip
 * the bytes to read and drop (0 otherwise). Returns 0 and *out (malloc'ed), or the HTTP status
 * to answer: 404 (not /gena/<uuid>/<service>), 400 (bad SEQ, empty body), 411 (no
 * Content-Length), 412 (no SID, or NT/NTS not a propchange), 413 (body above
 * MSG_GENA_BODY_MAX), 500 (out of memory). */
int gena_notify_begin(const struct http_request *req, const char *head, size_t head_len,
                      struct msg_gena_notify **out, size_t *skip);

/* Dial playerd's inbox. Returns 0 or a negative nng error. */
int gena_route_start(const char *rundir);

/* Hand a complete NOTIFY to playerd without blocking. Returns the status to answer: 200, or
 * 503 when the bus refuses it (playerd down: the speaker's next event will carry the state). */
int gena_notify_send(const struct msg_gena_notify *m);

/* The same socket to playerd carries MSG_CLIP_FETCHED: a request for clip name (a checked
 * clip file name) came from peer. Said at most once a second per clip, without blocking; a
 * message the bus refuses is dropped. */
void gena_route_clip_fetched(const char *name, const char *peer);

void gena_route_close(void);

#endif
