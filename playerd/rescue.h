/* rescue.h -- never leave a speaker on an announcement: the snapshot taken before one is kept
 * on disk until its restore has run, and a playerd that starts after a crash restores every
 * snapshot it finds. */
#ifndef SB_RESCUE_H
#define SB_RESCUE_H

#include "announce.h"

/* One kept snapshot: the group as it was and what the announcement changed. */
struct rescue {
	struct msg_request req;                /* the request, without its text */
	struct msg_speaker coordinator;
	struct msg_speaker members[GROUP_MAX];
	int nmembers;
	struct snapshot snap;
};

/* Keep a's snapshot s in <state_dir>/rescue/<coordinator uuid> (written, fsynced, renamed).
 * Returns 0 or -1 (logged; the announcement goes ahead unprotected). Thread-safe. */
int rescue_save(const struct announcement *a, const struct snapshot *s);

/* The restore ran: drop the kept snapshot. Thread-safe. */
void rescue_drop(const struct announcement *a);

/* Read every kept snapshot; returns how many were put in out (at most max). Files that do not
 * hold a snapshot of this build's layout are logged and removed. */
int rescue_load_all(const char *state_dir, struct rescue *out, int max);

/* Pure: encode and decode the file form (a header with magic, version and size, then the
 * struct). decode returns 0, or -1 when buf is not exactly one rescue of this layout. */
size_t rescue_encode(const struct rescue *r, void *buf, size_t size);
int rescue_decode(const void *buf, size_t len, struct rescue *r);

/* Run the restore of a kept snapshot (a->rescue) on a pool thread, then drop it. */
void rescue_run(struct announcement *a);

#endif
