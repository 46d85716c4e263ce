/* speaker_table.c -- add, move, drop and snapshot the speakers discoveryd knows. */
#include "speaker_table.h"
#include "topology.h"

#include <string.h>

const char *
found_by_name(enum found_by how)
{
	switch (how) {
	case FOUND_SSDP:
		return "ssdp";
	case FOUND_NOTIFY:
		return "notify";
	case FOUND_MANUAL:
		return "manual";
	case FOUND_TOPOLOGY:
		return "topology";
	}
	return "unknown";
}

struct speaker_entry *
speaker_table_find(struct speaker_table *t, const char *uuid)
{
	for (int i = 0; i < t->count; i++)
		if (strcmp(t->entries[i].speaker.uuid, uuid) == 0)
			return &t->entries[i];
	return NULL;
}

struct speaker_entry *
speaker_table_find_ip(struct speaker_table *t, const char *ip)
{
	for (int i = 0; i < t->count; i++)
		if (strcmp(t->entries[i].speaker.ip, ip) == 0)
			return &t->entries[i];
	return NULL;
}

int
speaker_table_remove(struct speaker_table *t, const char *uuid)
{
	struct speaker_entry *e = speaker_table_find(t, uuid);

	if (e == NULL)
		return 0;
	/* Keep the order of the others: snapshots stay stable for subscribers and logs. */
	memmove(e, e + 1, (size_t)(&t->entries[t->count] - (e + 1)) * sizeof(*e));
	t->count--;
	return 1;
}

enum table_change
speaker_table_update(struct speaker_table *t, const struct msg_speaker *s, enum found_by how,
                     uint32_t bootseq, uint64_t now_ms, char displaced[48])
{
	struct speaker_entry *e;
	enum table_change change = TABLE_SAME;

	if (displaced != NULL)
		displaced[0] = '\0';
	for (int i = 0; i < t->count; i++) {
		struct msg_speaker *o = &t->entries[i].speaker;

		if (strcmp(o->uuid, s->uuid) != 0 && strcmp(o->ip, s->ip) == 0 &&
		    o->port == s->port) {
			if (displaced != NULL)
				msg_strlcpy(displaced, o->uuid, 48);
			speaker_table_remove(t, o->uuid);
			break;
		}
	}
	if ((e = speaker_table_find(t, s->uuid)) == NULL) {
		if (t->count >= MSG_SPEAKERS_MAX)
			return TABLE_FULL;
		e = &t->entries[t->count++];
		memset(e, 0, sizeof(*e));
		e->found_by = how;
		e->added_ms = now_ms;
		e->speaker = *s;
		change = TABLE_ADDED;
	} else if (strcmp(e->speaker.ip, s->ip) != 0 || e->speaker.port != s->port) {
		change = TABLE_MOVED;
	} else if (strcmp(e->speaker.room, s->room) != 0 ||
	           strcmp(e->speaker.model, s->model) != 0) {
		change = TABLE_CHANGED;
	} else if (bootseq != 0 && e->bootseq != 0 && bootseq != e->bootseq) {
		change = TABLE_REBOOTED;
	}
	/* What the description says; the topology's fields stay. */
	msg_strlcpy(e->speaker.room, s->room, sizeof(e->speaker.room));
	msg_strlcpy(e->speaker.ip, s->ip, sizeof(e->speaker.ip));
	msg_strlcpy(e->speaker.model, s->model, sizeof(e->speaker.model));
	e->speaker.port = s->port;
	if (s->household[0] != '\0')
		msg_strlcpy(e->speaker.household, s->household, sizeof(e->speaker.household));
	if (bootseq != 0)
		e->speaker.bootseq = bootseq;
	e->bootseq = bootseq;
	e->seen_ms = now_ms;
	e->probe_failures = 0;
	return change;
}

int
speaker_table_apply_topology(struct speaker_table *t, const struct topology *topo,
                             const char *household)
{
	int changed = 0;

	for (int i = 0; i < t->count; i++) {
		struct speaker_entry *e = &t->entries[i];
		const struct topology_member *m = topology_find(topo, e->speaker.uuid);
		struct msg_speaker before = e->speaker;
		enum topology_role role;

		if (m == NULL)
			continue;
		role = topology_member_hidden(m) ? ROLE_HIDDEN : ROLE_SPEAKER;
		if (m->room[0] != '\0')
			msg_strlcpy(e->speaker.room, m->room, sizeof(e->speaker.room));
		msg_strlcpy(e->speaker.group_id, m->group_id, sizeof(e->speaker.group_id));
		msg_strlcpy(e->speaker.coordinator,
		            m->coordinator[0] != '\0' ? m->coordinator : e->speaker.uuid,
		            sizeof(e->speaker.coordinator));
		if (household != NULL && household[0] != '\0')
			msg_strlcpy(e->speaker.household, household, sizeof(e->speaker.household));
		e->speaker.satellites = (uint8_t)topology_satellites(topo, e->speaker.uuid);
		if (role != e->role ||
		    (role == ROLE_SPEAKER && memcmp(&before, &e->speaker, sizeof(before)) != 0))
			changed++;
		e->role = role;
	}
	return changed;
}

int
speaker_entry_listed(const struct speaker_entry *e, uint64_t now_ms, uint64_t grace_ms)
{
	if (e->role == ROLE_SPEAKER)
		return 1;
	return e->role == ROLE_UNKNOWN && now_ms - e->added_ms >= grace_ms;
}

size_t
speaker_table_snapshot(const struct speaker_table *t, struct msg_speakers *out, uint64_t now_ms,
                       uint64_t grace_ms)
{
	uint32_t n = 0;

	out->pad = 0;
	for (int i = 0; i < t->count; i++) {
		struct msg_speaker *s;

		if (!speaker_entry_listed(&t->entries[i], now_ms, grace_ms))
			continue;
		s = &out->speakers[n++];
		*s = t->entries[i].speaker;
		if (s->coordinator[0] == '\0')
			msg_strlcpy(s->coordinator, s->uuid, sizeof(s->coordinator));
	}
	out->count = n;
	return sizeof(*out) + (size_t)n * sizeof(out->speakers[0]);
}
