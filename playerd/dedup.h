/* dedup.h -- playerd recognises requests it has seen, by id, so that a request mqttd sends
 * again (after a restart of either, or because an answer was lost) never plays twice:
 *   - one still queued or playing is not queued again;
 *   - one whose announcement on a speaker finished reports that outcome again;
 *   - one whose announcement had started (recorded on disk before it runs) in a playerd that
 *     then died is not run again: it is reported failed, "interrupted".
 * When every announcement of a request has reported its terminal event, playerd sends
 * MSG_REQUEST_ACK, after which mqttd forgets the request.
 *
 * Outcomes and starts are kept in <state_dir>/playerd.journal (common/journal.h), for a day
 * and at most DEDUP_MAX of them. Everything here runs on playerd's loop thread. */
#ifndef SB_DEDUP_H
#define SB_DEDUP_H

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct announcement;

#define DEDUP_FILE "playerd.journal"
#define DEDUP_KEEP_MS (24 * 3600000u)
#define DEDUP_MAX 4096
#define DEDUP_COMPACT_MIN_BYTES (256 * 1024)
#define DEDUP_INTERRUPTED "interrupted: the player restarted during it; not repeated"

/* How an announcement's event is sent (announce_event). */
typedef void (*dedup_report_fn)(const struct announcement *a, uint8_t status, const char *error);

/* Load the journal; send acknowledgements and re-reported events on events (PUSH to mqttd),
 * terminal events of finished announcements with report. Returns 0, or -1 (logged) when the
 * journal cannot be opened: playerd then runs without memory of earlier lives. */
int dedup_open(const char *state_dir, nng_socket events, dedup_report_fn report);
void dedup_close(void);

/* A request arrived. Returns 1 when it is already being handled (drop this copy), else 0:
 * the request is now active, holding one reference for its routing. */
int dedup_begin(const struct msg_request *req);

/* One more announcement of request id will be made (for requests fanned out to several
 * speakers: one per copy). */
void dedup_hold(const char *id);

/* A terminal event of request id with status was sent (or, with status 0, a reference is
 * given back without one). The last reference sends MSG_REQUEST_ACK. */
void dedup_release(const char *id, unsigned status);

/* 1 when request id started or finished on some speaker (this life or an earlier one): a
 * copy past its deadline then reports that (dedup_announce), not `expired`. */
int dedup_known(const char *id);

/* Before req is announced on speaker sp: if it already ran there, report that outcome again
 * (or "interrupted" when it had only started), give the reference back and return 1: do not
 * run it. Returns 0 to go ahead. */
int dedup_announce(const struct msg_request *req, const struct msg_speaker *sp);

/* Just before a runs: record on disk that it started. Returns 0, or -1 with a->status and
 * a->error set when that cannot be recorded (then it must not run). */
int dedup_started(struct announcement *a);

/* a finished: record the outcome on disk, send its terminal event, give the reference back. */
void dedup_finished(const struct announcement *a);

/* a ended before it changed anything on the speaker because playerd is stopping: take its
 * start back on disk (the next playerd runs it as new) and give the reference back without a
 * terminal event. The request is then not acknowledged: mqttd keeps it and sends it again. */
void dedup_unstarted(const struct announcement *a);

/* ---- pure parts, for tests ---- */

enum dedup_op { DEDUP_STARTED = 1, DEDUP_FINISHED = 2, DEDUP_UNSTARTED = 3 };

struct dedup_record {
	uint8_t op;           /* enum dedup_op; UNSTARTED cancels an earlier STARTED */
	uint8_t status;       /* FINISHED: enum event_status */
	uint32_t duration_ms;
	uint64_t time_ms;     /* when it was recorded (ms since the epoch) */
	char id[MSG_ID_MAX];
	char uuid[48];
	char room[64];
	char error[256];
};

/* Encode r into out; returns the size or -1. Decode returns 0 or -1; both safe on any input. */
int dedup_record_encode(const struct dedup_record *r, uint8_t *out, size_t size);
int dedup_record_decode(const uint8_t *body, size_t len, struct dedup_record *r);

#endif
