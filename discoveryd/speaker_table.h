/* speaker_table.h -- the speakers discoveryd knows, keyed by uuid; pure, no I/O. */
#ifndef SB_SPEAKER_TABLE_H
#define SB_SPEAKER_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct topology;

/* How a speaker was found, for logs. */
enum found_by { FOUND_SSDP = 1, FOUND_NOTIFY, FOUND_MANUAL, FOUND_TOPOLOGY };

/* What the household's ZoneGroupState says about a device. */
enum topology_role {
	ROLE_UNKNOWN = 0, /* not yet in a topology: listed only after TOPOLOGY_GRACE */
	ROLE_SPEAKER,     /* a room (ZoneGroupMember, visible) */
	ROLE_HIDDEN,      /* invisible, satellite or bridge: never listed */
};

struct speaker_entry {
	struct msg_speaker speaker;
	enum found_by found_by;
	enum topology_role role;
	uint32_t bootseq;        /* X-RINCON-BOOTSEQ of the last SSDP message, 0 if none */
	uint64_t seen_ms;        /* monotonic time of the last answer, NOTIFY or description */
	uint64_t added_ms;       /* monotonic time it entered the table */
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
	TABLE_REBOOTED,  /* a known uuid at the same address with a new boot sequence */
};

const char *found_by_name(enum found_by how);

/* Add or update the speaker with s->uuid from its description: uuid, room, ip, port, model,
 * and household when s has one; what the topology set is kept. Another uuid that held the same
 * ip:port is dropped (the address was reassigned) and its uuid copied to displaced, else
 * displaced[0] = '\0' (displaced may be NULL). */
enum table_change speaker_table_update(struct speaker_table *t, const struct msg_speaker *s,
                                       enum found_by how, uint32_t bootseq, uint64_t now_ms,
                                       char displaced[48]);

struct speaker_entry *speaker_table_find(struct speaker_table *t, const char *uuid);
struct speaker_entry *speaker_table_find_ip(struct speaker_table *t, const char *ip);

/* Remove uuid. Returns 1 if it was there. */
int speaker_table_remove(struct speaker_table *t, const char *uuid);

/* Apply a household's topology to the entries it lists: role, room, group, coordinator,
 * satellites and household. Returns how many listed entries changed in a way subscribers see. */
int speaker_table_apply_topology(struct speaker_table *t, const struct topology *topo,
                                 const char *household);

/* 1 when e goes into snapshots: a speaker by the topology, or not yet in one for grace_ms. */
int speaker_entry_listed(const struct speaker_entry *e, uint64_t now_ms, uint64_t grace_ms);

/* Write the MSG_SPEAKERS payload for t into out (room for MSG_SPEAKERS_MAX entries): the
 * listed entries, each with a coordinator (its own uuid when unknown). Returns the payload
 * length. */
size_t speaker_table_snapshot(const struct speaker_table *t, struct msg_speakers *out,
                              uint64_t now_ms, uint64_t grace_ms);

#endif
