/* speaker_table.h -- the speakers discoveryd knows, keyed by uuid; pure, no I/O. */
#ifndef SB_SPEAKER_TABLE_H
#define SB_SPEAKER_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* How a speaker was found, for logs. */
enum found_by { FOUND_SSDP = 1, FOUND_NOTIFY, FOUND_MANUAL };

struct speaker_entry {
	struct msg_speaker speaker;
	enum found_by found_by;
	uint32_t bootseq;        /* X-RINCON-BOOTSEQ of the last SSDP message, 0 if none */
	uint64_t seen_ms;        /* monotonic time of the last answer, NOTIFY or description */
	unsigned probe_failures; /* consecutive failed liveness probes */
};

struct speaker_table {
	struct speaker_entry entries[MSG_SPEAKERS_MAX];
	int count;
};

/* What speaker_table_update did. */
enum table_change {
	TABLE_FULL = -1, /* new uuid, no room left: not added */
	TABLE_SAME = 0,  /* nothing a subscriber would see changed */
	TABLE_ADDED,     /* a new uuid */
	TABLE_MOVED,     /* a known uuid at a new ip or port */
	TABLE_CHANGED,   /* a known uuid with a new room or model */
};

const char *found_by_name(enum found_by how);

/* Add or update the speaker with s->uuid. Another uuid that held the same ip:port is dropped
 * (the address was reassigned) and its uuid copied to displaced, else displaced[0] = '\0'
 * (displaced may be NULL). */
enum table_change speaker_table_update(struct speaker_table *t, const struct msg_speaker *s,
                                       enum found_by how, uint32_t bootseq, uint64_t now_ms,
                                       char displaced[48]);

struct speaker_entry *speaker_table_find(struct speaker_table *t, const char *uuid);
struct speaker_entry *speaker_table_find_ip(struct speaker_table *t, const char *ip);

/* Remove uuid. Returns 1 if it was there. */
int speaker_table_remove(struct speaker_table *t, const char *uuid);

/* Write the MSG_SPEAKERS payload for t into out (room for MSG_SPEAKERS_MAX entries). Returns
 * the payload length. */
size_t speaker_table_snapshot(const struct speaker_table *t, struct msg_speakers *out);

#endif
