/* spool_core.c -- the inbound spool's records and its table of requests: pure, no I/O. */
#include "spool_core.h"
#include "journal.h"

#include <stdlib.h>
#include <string.h>

size_t
spool_record_size(const struct spool_record *r)
{
	return SPOOL_REC_FIXED + strnlen(r->id, MSG_ID_MAX) + (r->op == SPOOL_ADD ? r->len : 0);
}

int
spool_record_encode(const struct spool_record *r, uint8_t *out, size_t size)
{
	size_t idlen = strnlen(r->id, MSG_ID_MAX), need = spool_record_size(r);
	size_t len = r->op == SPOOL_ADD ? r->len : 0;

	if ((r->op != SPOOL_ADD && r->op != SPOOL_DONE) || idlen == 0 || idlen >= MSG_ID_MAX ||
	    len > MSG_MAX_SIZE || need > JOURNAL_BODY_MAX || size < need)
		return -1;
	out[0] = r->op;
	out[1] = SPOOL_REC_VERSION;
	journal_put_u16(out + 2, r->op == SPOOL_ADD ? r->msg_type : 0);
	journal_put_u32(out + 4, (uint32_t)len);
	journal_put_u64(out + 8, r->time_ms);
	journal_put_u64(out + 16, r->deadline_ms);
	out[24] = (uint8_t)idlen;
	memcpy(out + SPOOL_REC_FIXED, r->id, idlen);
	if (len > 0)
		memcpy(out + SPOOL_REC_FIXED + idlen, r->payload, len);
	return (int)need;
}

int
spool_record_decode(const uint8_t *body, size_t len, struct spool_record *r)
{
	size_t idlen, plen;

	memset(r, 0, sizeof(*r));
	if (len < SPOOL_REC_FIXED || body[1] != SPOOL_REC_VERSION)
		return -1;
	r->op = body[0];
	r->msg_type = journal_get_u16(body + 2);
	plen = journal_get_u32(body + 4);
	r->time_ms = journal_get_u64(body + 8);
	r->deadline_ms = journal_get_u64(body + 16);
	idlen = body[24];
	if (idlen == 0 || idlen >= MSG_ID_MAX || len - SPOOL_REC_FIXED < idlen)
		return -1;
	if (memchr(body + SPOOL_REC_FIXED, '\0', idlen) != NULL)
		return -1;
	memcpy(r->id, body + SPOOL_REC_FIXED, idlen);
	r->id[idlen] = '\0';
	if (len - SPOOL_REC_FIXED - idlen != plen)
		return -1;
	switch (r->op) {
	case SPOOL_ADD:
		if (plen == 0 || plen > MSG_MAX_SIZE || r->msg_type == MSG_NONE ||
		    r->msg_type >= MSG_TYPE_MAX)
			return -1;
		r->payload = body + SPOOL_REC_FIXED + idlen;
		r->len = plen;
		return 0;
	case SPOOL_DONE:
		return plen == 0 && r->msg_type == 0 ? 0 : -1;
	default:
		return -1;
	}
}

/* FNV-1a of a C string. */
static size_t
hash_id(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ull;
	return (size_t)h;
}

int
spool_table_init(struct spool_table *t)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets == NULL ? -1 : 0;
}

static void
entry_free(struct spool_entry *e)
{
	free(e->payload);
	free(e->reported);
	free(e);
}

void
spool_table_free(struct spool_table *t)
{
	struct spool_list *lists[] = {&t->live, &t->done};

	for (size_t k = 0; k < 2; k++) {
		struct spool_entry *e = lists[k]->head;

		while (e != NULL) {
			struct spool_entry *next = e->next;

			entry_free(e);
			e = next;
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

struct spool_entry *
spool_find(const struct spool_table *t, const char *id)
{
	struct spool_entry *e;

	for (e = t->buckets[hash_id(id) % t->nbuckets]; e != NULL; e = e->hnext)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void
list_append(struct spool_list *l, struct spool_entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->count++;
}

static void
list_remove(struct spool_list *l, struct spool_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
	l->count--;
}

/* Double the buckets when chains grow long; on ENOMEM keep the old ones. */
static void
grow(struct spool_table *t)
{
	size_t n = t->nbuckets * 2;
	struct spool_entry **b;

	if (t->live.count + t->done.count < 2 * t->nbuckets || (b = calloc(n, sizeof(*b))) == NULL)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct spool_entry *e = t->buckets[i];

		while (e != NULL) {
			struct spool_entry *next = e->hnext;
			size_t k = hash_id(e->id) % n;

			e->hnext = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static struct spool_entry *
insert(struct spool_table *t, const char *id)
{
	struct spool_entry *e = calloc(1, sizeof(*e));
	size_t k;

	if (e == NULL)
		return NULL;
	msg_strlcpy(e->id, id, sizeof(e->id));
	grow(t);
	k = hash_id(e->id) % t->nbuckets;
	e->hnext = t->buckets[k];
	t->buckets[k] = e;
	return e;
}

static void
unhash(struct spool_table *t, struct spool_entry *e)
{
	struct spool_entry **pp = &t->buckets[hash_id(e->id) % t->nbuckets];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
}

struct spool_entry *
spool_add_live(struct spool_table *t, const struct spool_record *r)
{
	struct spool_entry *e;
	uint8_t *copy;

	if (spool_find(t, r->id) != NULL || r->len == 0 || (copy = malloc(r->len)) == NULL)
		return NULL;
	if ((e = insert(t, r->id)) == NULL) {
		free(copy);
		return NULL;
	}
	memcpy(copy, r->payload, r->len);
	e->payload = copy;
	e->len = r->len;
	e->msg_type = r->msg_type;
	e->received_ms = r->time_ms;
	e->deadline_ms = r->deadline_ms;
	list_append(&t->live, e);
	t->live_bytes += JOURNAL_HDR + spool_record_size(r);
	return e;
}

void
spool_mark_done(struct spool_table *t, struct spool_entry *e, uint64_t done_ms)
{
	struct spool_record r = {.op = SPOOL_ADD, .len = e->len};

	if (e->done)
		return;
	msg_strlcpy(r.id, e->id, sizeof(r.id));
	t->live_bytes -= JOURNAL_HDR + spool_record_size(&r);
	list_remove(&t->live, e);
	free(e->payload);
	free(e->reported);
	e->payload = NULL;
	e->reported = NULL;
	e->len = 0;
	e->nreported = 0;
	e->done = 1;
	e->done_ms = done_ms;
	list_append(&t->done, e);
}

int
spool_apply(struct spool_table *t, const struct spool_record *r)
{
	struct spool_entry *e = spool_find(t, r->id);

	if (r->op == SPOOL_ADD) {
		if (e != NULL)
			return 0; /* already live, or finished: a repeat */
		return spool_add_live(t, r) == NULL ? -1 : 0;
	}
	if (e == NULL) {
		if ((e = insert(t, r->id)) == NULL)
			return -1;
		e->deadline_ms = r->deadline_ms;
		e->done = 1;
		e->done_ms = r->time_ms;
		list_append(&t->done, e);
		return 0;
	}
	spool_mark_done(t, e, r->time_ms);
	return 0;
}

size_t
spool_prune(struct spool_table *t, uint64_t now_ms, uint64_t keep_ms, size_t max)
{
	size_t dropped = 0;

	/* The done list is in completion order (replayed tombstones first), so the oldest lead. */
	while (t->done.head != NULL) {
		struct spool_entry *e = t->done.head;

		if (t->done.count <= max && e->done_ms + keep_ms >= now_ms)
			break;
		list_remove(&t->done, e);
		unhash(t, e);
		entry_free(e);
		dropped++;
	}
	return dropped;
}

int
spool_note_reported(struct spool_entry *e, const char *uuid)
{
	char(*more)[48];

	for (size_t i = 0; i < e->nreported; i++)
		if (strcmp(e->reported[i], uuid) == 0)
			return 1;
	if ((more = realloc(e->reported, (e->nreported + 1) * sizeof(*more))) == NULL)
		return -1;
	e->reported = more;
	msg_strlcpy(e->reported[e->nreported++], uuid, sizeof(*more));
	return 0;
}

void
spool_unnote_reported(struct spool_entry *e, const char *uuid)
{
	for (size_t i = 0; i < e->nreported; i++)
		if (strcmp(e->reported[i], uuid) == 0) {
			memmove(e->reported[i], e->reported[i + 1],
				(e->nreported - i - 1) * sizeof(e->reported[0]));
			e->nreported--;
			return;
		}
}

uint64_t
spool_needed_bytes(const struct spool_table *t)
{
	uint64_t n = t->live_bytes;

	for (const struct spool_entry *e = t->done.head; e != NULL; e = e->next)
		n += JOURNAL_HDR + SPOOL_REC_FIXED + strlen(e->id);
	return n;
}

int
spool_compact_due(uint64_t file_bytes, uint64_t needed_bytes)
{
	return file_bytes > SPOOL_COMPACT_MIN_BYTES && file_bytes > 2 * needed_bytes;
}
