/* spool_core.h -- the inbound spool's records and its table of requests: pure, no I/O.
 *
 * The spool holds every request mqttd accepted until playerd has reported it finished and the
 * broker has taken the terminal events. A record is one of:
 *   ADD  id, bus message type, receipt and deadline, the bus payload (any request kind fits)
 *   DONE id, completion time and deadline: the request is finished (a tombstone)
 * Tombstones are kept for a while so that a broker redelivery of a request that already
 * finished (its PUBACK lost in a crash) is recognised and not run again. */
#ifndef MQTTD_SPOOL_CORE_H
#define MQTTD_SPOOL_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define SPOOL_REC_VERSION 1
#define SPOOL_REC_FIXED 25                /* body bytes before the id */
#define SPOOL_DONE_KEEP_MS (24 * 3600000u) /* tombstones older than this are forgotten */
#define SPOOL_DONE_MAX 4096                /* and never more than this many */
#define SPOOL_COMPACT_MIN_BYTES (1024 * 1024)

enum spool_op { SPOOL_ADD = 1, SPOOL_DONE = 2 };

/* A decoded record. payload points into the decoded body. */
struct spool_record {
	uint8_t op;              /* enum spool_op */
	uint16_t msg_type;       /* ADD: bus message type of payload */
	uint64_t time_ms;        /* ADD: receipt; DONE: completion (ms since the epoch) */
	uint64_t deadline_ms;
	char id[MSG_ID_MAX];
	const uint8_t *payload;  /* ADD only */
	size_t len;
};

/* Bytes the body of r takes. */
size_t spool_record_size(const struct spool_record *r);

/* Encode r into out (at least spool_record_size(r) bytes). Returns the size, or -1 when r
 * cannot be a record (empty or too long id, payload too big, unknown op). */
int spool_record_encode(const struct spool_record *r, uint8_t *out, size_t size);

/* Decode a record body. Returns 0, or -1 when it is not a well-formed record of ours. Safe on
 * any input. */
int spool_record_decode(const uint8_t *body, size_t len, struct spool_record *r);

/* One request in the table: live (waiting for playerd) or done (a tombstone). */
struct spool_entry {
	struct spool_entry *hnext;       /* hash chain */
	struct spool_entry *prev, *next; /* live list in arrival order, done list by completion */
	char id[MSG_ID_MAX];
	int done;
	uint16_t msg_type;
	uint64_t received_ms, deadline_ms, done_ms;
	uint8_t *payload;                /* live: the bus payload to (re)send */
	size_t len;

	/* delivery, kept in memory only (a restarted mqttd starts over by sending again) */
	uint64_t sent_mono;              /* last time handed to playerd (util_mono_ms) */
	unsigned sends;
	int acked;                       /* playerd said it is finished with it */
	uint64_t acked_mono;
	unsigned pending;                /* its terminal events not yet acknowledged by the broker */
	char (*reported)[48];            /* speakers whose terminal event was published */
	size_t nreported;
};

struct spool_list {
	struct spool_entry *head, *tail;
	size_t count;
};

struct spool_table {
	struct spool_entry **buckets;
	size_t nbuckets;
	struct spool_list live, done;
	size_t live_bytes; /* bytes their ADD records take */
};

int spool_table_init(struct spool_table *t);
void spool_table_free(struct spool_table *t);

struct spool_entry *spool_find(const struct spool_table *t, const char *id);

/* Insert a live request (copying payload). NULL on ENOMEM or when id is present. */
struct spool_entry *spool_add_live(struct spool_table *t, const struct spool_record *r);

/* Turn a live entry into a tombstone completed at done_ms (its payload is freed). */
void spool_mark_done(struct spool_table *t, struct spool_entry *e, uint64_t done_ms);

/* Apply one record read back from the file: ADD of a new id makes it live, DONE makes the id a
 * tombstone. Repeats are ignored. Returns 0 or -1 on ENOMEM. */
int spool_apply(struct spool_table *t, const struct spool_record *r);

/* Forget tombstones completed before now_ms - keep_ms, and the oldest beyond max. Returns how
 * many were dropped. */
size_t spool_prune(struct spool_table *t, uint64_t now_ms, uint64_t keep_ms, size_t max);

/* Remember that the terminal event of speaker uuid was published for e. Returns 1 if it was
 * already, 0 if newly noted (or -1 on ENOMEM). */
int spool_note_reported(struct spool_entry *e, const char *uuid);
/* Forget that uuid reported (its event could not be published: it must be asked for again). */
void spool_unnote_reported(struct spool_entry *e, const char *uuid);

/* Bytes a freshly written spool of t takes (every live ADD and every tombstone). */
uint64_t spool_needed_bytes(const struct spool_table *t);

/* 1 when a file of file_bytes holding needed_bytes of current records should be rewritten:
 * it is bigger than SPOOL_COMPACT_MIN_BYTES and more than twice what it needs. */
int spool_compact_due(uint64_t file_bytes, uint64_t needed_bytes);

#endif
