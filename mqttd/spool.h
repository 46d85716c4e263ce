/* spool.h -- the inbound spool on disk: <state_dir>/spool, a journal of ADD and DONE records
 * (spool_core.h), read back at start, appended with fdatasync before a request is
 * acknowledged to the broker, and rewritten when mostly finished requests fill it. */
#ifndef MQTTD_SPOOL_H
#define MQTTD_SPOOL_H

#include "journal.h"
#include "spool_core.h"

#define SPOOL_FILE "spool"

struct spool {
	struct journal journal;
	struct spool_table table;
	struct journal_scan opened; /* what the file held at start */
	unsigned compactions;
	int failing;                /* the last append failed (logged once until one succeeds) */
};

/* Open <state_dir>/spool and load it: live requests in arrival order in table.live, recent
 * tombstones in table.done. Returns 0, or -1 with the reason in err. */
int spool_open(struct spool *s, const char *state_dir, char *err, size_t errlen);

/* Make r (an ADD) durable and add it to the table. Returns the entry, or NULL with *error set
 * to a negative errno when it could not be written (nothing was added then). */
struct spool_entry *spool_accept(struct spool *s, const struct spool_record *r, int *error);

/* Record that e is finished (a DONE record, not synced on its own: the next accept's sync
 * covers it) and turn it into a tombstone. Returns 0 or a negative errno (e is a tombstone in
 * memory either way). */
int spool_complete(struct spool *s, struct spool_entry *e, uint64_t now_ms);

/* Forget old tombstones and rewrite the file when it is mostly dead records. */
void spool_maintain(struct spool *s, uint64_t now_ms);

/* Rewrite the file with only the live requests and the tombstones. Returns 0 or a negative
 * errno (the old file stays then). */
int spool_compact(struct spool *s);

void spool_close(struct spool *s);

#endif
