/* dedup.c -- playerd recognises requests it has seen, so a request sent again never plays twice. */
#include "dedup.h"
#include "announce.h"
#include "bus.h"
#include "journal.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEDUP_REC_FIXED 20
#define DEDUP_BUCKETS 1024

/* A request being handled: references are its routing and its queued announcements. */
struct active {
	struct active *next;
	char id[MSG_ID_MAX];
	int refs;
	char (*speakers)[48]; /* distinct speakers with a terminal event ("" for the request) */
	unsigned events;      /* how many */
	uint8_t last;         /* the last terminal status */
	int unstarted;        /* one of its announcements was stopped before it began: no ack */
};

/* What became of a request on one speaker. */
struct outcome {
	struct outcome *hnext;
	struct outcome *prev, *next; /* oldest first */
	struct dedup_record rec;     /* op STARTED or FINISHED */
	int earlier_life;            /* read from the journal at start */
};

static struct {
	int open;
	struct journal journal;
	nng_socket events;
	dedup_report_fn report;
	struct active *active[DEDUP_BUCKETS];
	struct outcome *buckets[DEDUP_BUCKETS];
	struct outcome *oldest, *newest;
	size_t count;
} D;

/* ---- records (pure) ---- */

int
dedup_record_encode(const struct dedup_record *r, uint8_t *out, size_t size)
{
	size_t lid = strnlen(r->id, sizeof(r->id)), luuid = strnlen(r->uuid, sizeof(r->uuid));
	size_t lroom = strnlen(r->room, sizeof(r->room)), lerr = strnlen(r->error, 255);
	size_t need = DEDUP_REC_FIXED + lid + luuid + lroom + lerr;

	if (r->op < DEDUP_STARTED || r->op > DEDUP_UNSTARTED || lid == 0 ||
	    lid >= sizeof(r->id) || luuid >= sizeof(r->uuid) || lroom >= sizeof(r->room) ||
	    size < need)
		return -1;
	out[0] = r->op;
	out[1] = 1; /* version */
	out[2] = r->status;
	out[3] = 0;
	journal_put_u32(out + 4, r->duration_ms);
	journal_put_u64(out + 8, r->time_ms);
	out[16] = (uint8_t)lid;
	out[17] = (uint8_t)luuid;
	out[18] = (uint8_t)lroom;
	out[19] = (uint8_t)lerr;
	memcpy(out + DEDUP_REC_FIXED, r->id, lid);
	memcpy(out + DEDUP_REC_FIXED + lid, r->uuid, luuid);
	memcpy(out + DEDUP_REC_FIXED + lid + luuid, r->room, lroom);
	memcpy(out + DEDUP_REC_FIXED + lid + luuid + lroom, r->error, lerr);
	return (int)need;
}

/* Copy n bytes into a fixed field of size; -1 if they do not fit or hold a NUL. */
static int
field(char *dst, size_t size, const uint8_t *src, size_t n)
{
	if (n >= size || memchr(src, '\0', n) != NULL)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int
dedup_record_decode(const uint8_t *body, size_t len, struct dedup_record *r)
{
	size_t lid, luuid, lroom, lerr;
	const uint8_t *p = body + DEDUP_REC_FIXED;

	memset(r, 0, sizeof(*r));
	if (len < DEDUP_REC_FIXED || body[1] != 1)
		return -1;
	r->op = body[0];
	r->status = body[2];
	r->duration_ms = journal_get_u32(body + 4);
	r->time_ms = journal_get_u64(body + 8);
	lid = body[16];
	luuid = body[17];
	lroom = body[18];
	lerr = body[19];
	if (r->op < DEDUP_STARTED || r->op > DEDUP_UNSTARTED || lid == 0 ||
	    len != DEDUP_REC_FIXED + lid + luuid + lroom + lerr)
		return -1;
	if (field(r->id, sizeof(r->id), p, lid) < 0 ||
	    field(r->uuid, sizeof(r->uuid), p + lid, luuid) < 0 ||
	    field(r->room, sizeof(r->room), p + lid + luuid, lroom) < 0 ||
	    field(r->error, sizeof(r->error), p + lid + luuid + lroom, lerr) < 0)
		return -1;
	if (r->op == DEDUP_FINISHED && (r->status < EVENT_DONE || r->status > EVENT_REJECTED))
		return -1;
	return 0;
}

/* ---- tables ---- */

static size_t
hash2(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ull;

	for (; *a != '\0'; a++)
		h = (h ^ (uint8_t)*a) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (; b != NULL && *b != '\0'; b++)
		h = (h ^ (uint8_t)*b) * 1099511628211ull;
	return (size_t)(h % DEDUP_BUCKETS);
}

static struct active *
active_find(const char *id)
{
	for (struct active *a = D.active[hash2(id, NULL)]; a != NULL; a = a->next)
		if (strcmp(a->id, id) == 0)
			return a;
	return NULL;
}

static struct outcome *
outcome_find(const char *id, const char *uuid)
{
	for (struct outcome *o = D.buckets[hash2(id, uuid)]; o != NULL; o = o->hnext)
		if (strcmp(o->rec.id, id) == 0 && strcmp(o->rec.uuid, uuid) == 0)
			return o;
	return NULL;
}

static void
outcome_unlink(struct outcome *o)
{
	struct outcome **pp = &D.buckets[hash2(o->rec.id, o->rec.uuid)];

	while (*pp != NULL && *pp != o)
		pp = &(*pp)->hnext;
	if (*pp == o)
		*pp = o->hnext;
	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		D.oldest = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	else
		D.newest = o->prev;
	D.count--;
}

/* Store r as the outcome of its (id, speaker), newest last. */
static struct outcome *
outcome_put(const struct dedup_record *r, int earlier_life)
{
	struct outcome *o = outcome_find(r->id, r->uuid);
	size_t k;

	if (o != NULL) {
		outcome_unlink(o);
	} else if ((o = calloc(1, sizeof(*o))) == NULL) {
		return NULL;
	}
	o->rec = *r;
	o->earlier_life = earlier_life;
	k = hash2(r->id, r->uuid);
	o->hnext = D.buckets[k];
	D.buckets[k] = o;
	o->next = NULL;
	o->prev = D.newest;
	if (D.newest != NULL)
		D.newest->next = o;
	else
		D.oldest = o;
	D.newest = o;
	D.count++;
	return o;
}

/* Forget outcomes older than DEDUP_KEEP_MS, and the oldest beyond DEDUP_MAX. */
static void
outcome_prune(uint64_t now_ms)
{
	while (D.oldest != NULL &&
	       (D.count > DEDUP_MAX || D.oldest->rec.time_ms + DEDUP_KEEP_MS < now_ms)) {
		struct outcome *o = D.oldest;

		outcome_unlink(o);
		free(o);
	}
}

/* ---- the journal ---- */

static void
load_record(void *ctx, const uint8_t *body, size_t len)
{
	struct dedup_record r;

	(void)ctx;
	if (dedup_record_decode(body, len, &r) < 0)
		return;
	if (r.op == DEDUP_UNSTARTED) {
		struct outcome *o = outcome_find(r.id, r.uuid);

		if (o != NULL && o->rec.op == DEDUP_STARTED) {
			outcome_unlink(o);
			free(o);
		}
		return;
	}
	outcome_put(&r, 1);
}

static int
journal_put(const struct dedup_record *r, int sync)
{
	uint8_t body[DEDUP_REC_FIXED + sizeof(r->id) + sizeof(r->uuid) + sizeof(r->room) + 256];
	int n = dedup_record_encode(r, body, sizeof(body));

	if (!D.open)
		return 0;
	if (n < 0)
		return -EINVAL;
	return journal_append(&D.journal, body, (size_t)n, sync);
}

/* Rewrite the journal with what is remembered, when it is mostly forgotten records. */
static void
journal_compact(void)
{
	struct journal_rewrite w;
	uint64_t need = 0;
	int rv;

	for (struct outcome *o = D.oldest; o != NULL; o = o->next)
		need += JOURNAL_HDR + DEDUP_REC_FIXED + strlen(o->rec.id) + strlen(o->rec.uuid) +
			strlen(o->rec.room) + strlen(o->rec.error);
	if (!D.open || D.journal.size <= DEDUP_COMPACT_MIN_BYTES || D.journal.size <= 2 * need)
		return;
	if (journal_rewrite_begin(&D.journal, &w) < 0)
		return;
	for (struct outcome *o = D.oldest; o != NULL; o = o->next) {
		uint8_t body[DEDUP_REC_FIXED + 512];
		int n = dedup_record_encode(&o->rec, body, sizeof(body));

		if (n > 0)
			journal_rewrite_add(&w, body, (size_t)n);
	}
	if ((rv = journal_rewrite_commit(&D.journal, &w)) < 0)
		log_warnx("%s: compaction failed: %s", D.journal.path, strerror(-rv));
}

int
dedup_open(const char *state_dir, nng_socket events, dedup_report_fn report)
{
	struct journal_scan st;
	char path[512], err[512];
	size_t started = 0;

	D.events = events;
	D.report = report;
	snprintf(path, sizeof(path), "%s/%s", state_dir, DEDUP_FILE);
	if (util_mkdir_p(state_dir, 0700) < 0 ||
	    journal_open(&D.journal, path, load_record, NULL, &st, err, sizeof(err)) < 0) {
		log_errorx("%s: cannot keep request outcomes (%s): a request sent again after a "
			   "restart may play twice",
			   path, err);
		return -1;
	}
	D.open = 1;
	outcome_prune(util_now_ms());
	for (struct outcome *o = D.oldest; o != NULL; o = o->next)
		started += o->rec.op == DEDUP_STARTED;
	log_info("%s: %zu request outcomes remembered, %zu interrupted by a restart", path,
		 D.count - started, started);
	journal_compact();
	return 0;
}

void
dedup_close(void)
{
	for (size_t i = 0; i < DEDUP_BUCKETS; i++) {
		while (D.active[i] != NULL) {
			struct active *a = D.active[i];

			D.active[i] = a->next;
			free(a->speakers);
			free(a);
		}
	}
	while (D.oldest != NULL) {
		struct outcome *o = D.oldest;

		D.oldest = o->next;
		free(o);
	}
	memset(D.buckets, 0, sizeof(D.buckets));
	D.newest = NULL;
	D.count = 0;
	if (D.open)
		journal_close(&D.journal);
	D.open = 0;
}

/* ---- requests ---- */

int
dedup_begin(const struct msg_request *req)
{
	struct active *a = active_find(req->id);
	size_t k;

	if (a != NULL) {
		/* mqttd asks again every few seconds until it has the outcome: routine, so debug. */
		log_debug("request %s: already being handled; this copy is dropped", req->id);
		return 1;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return 0; /* handled without an acknowledgement; mqttd sends it again */
	msg_strlcpy(a->id, req->id, sizeof(a->id));
	a->refs = 1;
	k = hash2(a->id, NULL);
	a->next = D.active[k];
	D.active[k] = a;
	return 0;
}

void
dedup_hold(const char *id)
{
	struct active *a = active_find(id);

	if (a != NULL)
		a->refs++;
}

/* Note a terminal event of a on speaker uuid; mqttd counts them the same way (distinct). */
static void
note_event(struct active *a, const char *uuid)
{
	char(*more)[48];

	for (unsigned i = 0; i < a->events; i++)
		if (strcmp(a->speakers[i], uuid) == 0)
			return;
	if ((more = realloc(a->speakers, (a->events + 1) * sizeof(*more))) == NULL)
		return;
	a->speakers = more;
	msg_strlcpy(a->speakers[a->events++], uuid, sizeof(*more));
}

/* dedup_release for a terminal event on speaker uuid. */
static void
release_speaker(const char *id, unsigned status, const char *uuid)
{
	struct active *a = active_find(id), **pp;
	struct msg_request_ack ack;

	if (a == NULL)
		return;
	if (status != 0) {
		note_event(a, uuid);
		a->last = (uint8_t)status;
	}
	if (--a->refs > 0)
		return;
	memset(&ack, 0, sizeof(ack));
	msg_strlcpy(ack.id, a->id, sizeof(ack.id));
	ack.status = a->last;
	ack.events = a->events;
	if (a->unstarted)
		log_info("request %s: not acknowledged; it runs when it is sent again", a->id);
	else if (bus_send(D.events, MSG_REQUEST_ACK, &ack, sizeof(ack)) != 0)
		log_warnx("request %s: acknowledgement not sent (mqttd sends it again)", a->id);
	for (pp = &D.active[hash2(a->id, NULL)]; *pp != a; pp = &(*pp)->next)
		;
	*pp = a->next;
	free(a->speakers);
	free(a);
}

void
dedup_release(const char *id, unsigned status)
{
	release_speaker(id, status, "");
}

/* Report o again as the terminal event of req. */
static void
report_again(const struct msg_request *req, const struct outcome *o)
{
	struct msg_event ev;

	memset(&ev, 0, sizeof(ev));
	msg_strlcpy(ev.id, req->id, sizeof(ev.id));
	msg_strlcpy(ev.target, req->target, sizeof(ev.target));
	msg_strlcpy(ev.speaker, o->rec.room, sizeof(ev.speaker));
	msg_strlcpy(ev.uuid, o->rec.uuid, sizeof(ev.uuid));
	ev.status = o->rec.status;
	ev.duration_ms = o->rec.duration_ms;
	msg_strlcpy(ev.error, o->rec.error, sizeof(ev.error));
	log_info("request %s on %s: %s before; reported again", req->id, o->rec.room,
		 event_status_name(ev.status));
	if (bus_send(D.events, MSG_EVENT, &ev, sizeof(ev)) != 0)
		log_warnx("request %s: could not hand the event to mqttd", req->id);
}

int
dedup_known(const char *id)
{
	/* Only for copies past their deadline: a walk over at most DEDUP_MAX records. */
	for (struct outcome *o = D.newest; o != NULL; o = o->prev)
		if (strcmp(o->rec.id, id) == 0)
			return 1;
	return 0;
}

int
dedup_announce(const struct msg_request *req, const struct msg_speaker *sp)
{
	struct outcome *o = outcome_find(req->id, sp->uuid);
	struct dedup_record r;

	if (o == NULL)
		return 0;
	if (o->rec.op == DEDUP_STARTED) {
		if (!o->earlier_life) {
			/* Running now under another copy; that one reports. */
			log_warnx("request %s on %s: already running", req->id, sp->room);
			dedup_release(req->id, 0);
			return 1;
		}
		r = o->rec;
		r.op = DEDUP_FINISHED;
		r.status = EVENT_FAILED;
		r.time_ms = util_now_ms();
		msg_strlcpy(r.room, sp->room, sizeof(r.room));
		msg_strlcpy(r.error, DEDUP_INTERRUPTED, sizeof(r.error));
		log_warnx("request %s on %s had started before playerd restarted: not repeated",
			  req->id, sp->room);
		if (journal_put(&r, 1) < 0)
			log_warnx("request %s: outcome not recorded", req->id);
		if ((o = outcome_put(&r, 0)) == NULL)
			return 0;
	}
	report_again(req, o);
	release_speaker(req->id, o->rec.status, o->rec.uuid);
	return 1;
}

/* A journal record of op for announcement a (its request and speaker) at time_ms. */
static void
record_init(struct dedup_record *r, enum dedup_op op, const struct announcement *a,
            uint64_t time_ms)
{
	memset(r, 0, sizeof(*r));
	r->op = (uint8_t)op;
	r->time_ms = time_ms;
	msg_strlcpy(r->id, a->req->id, sizeof(r->id));
	msg_strlcpy(r->uuid, a->speaker.uuid, sizeof(r->uuid));
	msg_strlcpy(r->room, a->speaker.room, sizeof(r->room));
}

int
dedup_started(struct announcement *a)
{
	struct dedup_record r;
	int rv;

	record_init(&r, DEDUP_STARTED, a, util_now_ms());
	if ((rv = journal_put(&r, 1)) < 0) {
		/* Without the record a crash could make it play twice: it does not play at all. */
		a->status = EVENT_FAILED;
		snprintf(a->error, sizeof(a->error), "cannot record its start on disk: %s",
			 strerror(-rv));
		return -1;
	}
	outcome_put(&r, 0);
	return 0;
}

void
dedup_finished(const struct announcement *a)
{
	struct dedup_record r;
	uint64_t now = util_now_ms();

	record_init(&r, DEDUP_FINISHED, a, now);
	r.status = a->status;
	r.duration_ms = a->duration_ms;
	msg_strlcpy(r.error, a->error, sizeof(r.error));
	/* On disk before the event leaves: a restart in between reports it again, never as
	 * "interrupted". */
	if (journal_put(&r, 1) < 0)
		log_warnx("request %s: outcome not recorded on disk", r.id);
	outcome_put(&r, 0);
	D.report(a, a->status, a->error);
	release_speaker(r.id, r.status, r.uuid);
	outcome_prune(now);
	journal_compact();
}

void
dedup_unstarted(const struct announcement *a)
{
	struct outcome *o = outcome_find(a->req->id, a->speaker.uuid);
	struct active *act = active_find(a->req->id);
	struct dedup_record r;

	record_init(&r, DEDUP_UNSTARTED, a, util_now_ms());
	/* Not taken back on disk: the next playerd reports it interrupted instead of playing it,
	 * which is still never twice. */
	if (journal_put(&r, 1) < 0)
		log_warnx("request %s: its start could not be taken back on disk", r.id);
	if (o != NULL && o->rec.op == DEDUP_STARTED) {
		outcome_unlink(o);
		free(o);
	}
	if (act != NULL)
		act->unstarted = 1;
	release_speaker(r.id, 0, r.uuid);
}
