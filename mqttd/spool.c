/* spool.c -- the inbound spool on disk: load at start, durable appends, compaction. */
#include "spool.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct load_ctx {
	struct spool_table *table;
	size_t bad;
	int nomem;
};

static void
load_record(void *ctx, const uint8_t *body, size_t len)
{
	struct load_ctx *l = ctx;
	struct spool_record r;

	if (spool_record_decode(body, len, &r) < 0) {
		l->bad++;
		return;
	}
	if (spool_apply(l->table, &r) < 0)
		l->nomem = 1;
}

int
spool_open(struct spool *s, const char *state_dir, char *err, size_t errlen)
{
	struct load_ctx l = {0};
	char path[512];
	int rv;

	memset(s, 0, sizeof(*s));
	s->journal.fd = -1;
	if (spool_table_init(&s->table) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l.table = &s->table;
	snprintf(path, sizeof(path), "%s/%s", state_dir, SPOOL_FILE);
	if ((rv = journal_open(&s->journal, path, load_record, &l, &s->opened, err, errlen)) < 0) {
		spool_table_free(&s->table);
		return -1;
	}
	if (l.nomem) {
		snprintf(err, errlen, "%s: out of memory loading it", path);
		spool_close(s);
		return -1;
	}
	if (s->opened.skipped > 0 || l.bad > 0)
		log_warnx("%s: skipped %zu damaged bytes and %zu unreadable records", path,
			  s->opened.skipped, l.bad);
	log_info("%s: %zu requests to deliver, %zu finished remembered (%zu records, %llu bytes)",
		 path, s->table.live.count, s->table.done.count, s->opened.records,
		 (unsigned long long)s->journal.size);
	/* Damage, or a file that is mostly finished requests, is rewritten clean at once. */
	if (s->opened.skipped > 0 || l.bad > 0 ||
	    spool_compact_due(s->journal.size, spool_needed_bytes(&s->table)))
		spool_compact(s);
	return 0;
}

/* Encode r into a malloc'ed body. */
static uint8_t *
encode(const struct spool_record *r, size_t *len)
{
	size_t size = spool_record_size(r);
	uint8_t *body = malloc(size);
	int n;

	if (body == NULL)
		return NULL;
	if ((n = spool_record_encode(r, body, size)) < 0) {
		free(body);
		return NULL;
	}
	*len = (size_t)n;
	return body;
}

struct spool_entry *
spool_accept(struct spool *s, const struct spool_record *r, int *error)
{
	struct spool_entry *e;
	uint8_t *body;
	size_t len;
	int rv;

	if ((body = encode(r, &len)) == NULL) {
		*error = -EINVAL;
		return NULL;
	}
	rv = journal_append(&s->journal, body, len, 1);
	free(body);
	if (rv < 0) {
		if (!s->failing++)
			log_errorx("%s: %s: requests are not acknowledged to the broker until the "
				   "spool can be written",
				   s->journal.path, strerror(-rv));
		*error = rv;
		return NULL;
	}
	if (s->failing) {
		log_info("%s: writable again after %d failed writes", s->journal.path, s->failing);
		s->failing = 0;
	}
	if ((e = spool_add_live(&s->table, r)) == NULL)
		*error = -ENOMEM; /* on disk: the next start delivers it */
	return e;
}

int
spool_complete(struct spool *s, struct spool_entry *e, uint64_t now_ms)
{
	struct spool_record r = {.op = SPOOL_DONE, .time_ms = now_ms, .deadline_ms = e->deadline_ms};
	uint8_t *body;
	size_t len;
	int rv = -ENOMEM;

	msg_strlcpy(r.id, e->id, sizeof(r.id));
	if ((body = encode(&r, &len)) != NULL) {
		rv = journal_append(&s->journal, body, len, 0);
		free(body);
	}
	if (rv < 0)
		log_warnx("%s: %s: %s (it may be reported again after a restart)", s->journal.path,
			  e->id, strerror(-rv));
	spool_mark_done(&s->table, e, now_ms);
	return rv;
}

int
spool_compact(struct spool *s)
{
	struct journal_rewrite w;
	uint64_t before = s->journal.size;
	int rv;

	if ((rv = journal_rewrite_begin(&s->journal, &w)) < 0) {
		log_warnx("%s: %s", w.path, strerror(-rv));
		return rv;
	}
	for (struct spool_entry *e = s->table.live.head; e != NULL; e = e->next) {
		struct spool_record r = {.op = SPOOL_ADD, .msg_type = e->msg_type,
					 .time_ms = e->received_ms, .deadline_ms = e->deadline_ms,
					 .payload = e->payload, .len = e->len};
		uint8_t *body;
		size_t len;

		msg_strlcpy(r.id, e->id, sizeof(r.id));
		if ((body = encode(&r, &len)) == NULL) {
			w.error = -ENOMEM;
			break;
		}
		journal_rewrite_add(&w, body, len);
		free(body);
	}
	for (struct spool_entry *e = s->table.done.head; e != NULL && w.error == 0; e = e->next) {
		struct spool_record r = {.op = SPOOL_DONE, .time_ms = e->done_ms,
					 .deadline_ms = e->deadline_ms};
		uint8_t body[SPOOL_REC_FIXED + MSG_ID_MAX];
		int n;

		msg_strlcpy(r.id, e->id, sizeof(r.id));
		if ((n = spool_record_encode(&r, body, sizeof(body))) > 0)
			journal_rewrite_add(&w, body, (size_t)n);
	}
	if ((rv = journal_rewrite_commit(&s->journal, &w)) < 0) {
		log_warnx("%s: compaction failed, keeping the old file: %s", s->journal.path,
			  strerror(-rv));
		return rv;
	}
	s->compactions++;
	log_info("%s: compacted %llu -> %llu bytes (%zu live, %zu finished)", s->journal.path,
		 (unsigned long long)before, (unsigned long long)s->journal.size,
		 s->table.live.count, s->table.done.count);
	return 0;
}

void
spool_maintain(struct spool *s, uint64_t now_ms)
{
	spool_prune(&s->table, now_ms, SPOOL_DONE_KEEP_MS, SPOOL_DONE_MAX);
	if (spool_compact_due(s->journal.size, spool_needed_bytes(&s->table)))
		spool_compact(s);
}

void
spool_close(struct spool *s)
{
	journal_close(&s->journal);
	spool_table_free(&s->table);
}
