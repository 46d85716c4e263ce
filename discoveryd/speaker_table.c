/* speaker_table.c -- add, move, drop and snapshot the speakers discoveryd knows. */
#include "speaker_table.h"

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
		change = TABLE_ADDED;
	} else if (strcmp(e->speaker.ip, s->ip) != 0 || e->speaker.port != s->port) {
		change = TABLE_MOVED;
	} else if (strcmp(e->speaker.room, s->room) != 0 ||
	           strcmp(e->speaker.model, s->model) != 0) {
		change = TABLE_CHANGED;
	}
	e->speaker = *s;
	e->bootseq = bootseq;
	e->seen_ms = now_ms;
	e->probe_failures = 0;
	return change;
}

size_t
speaker_table_snapshot(const struct speaker_table *t, struct msg_speakers *out)
{
	out->count = (uint32_t)t->count;
	out->pad = 0;
	for (int i = 0; i < t->count; i++)
		out->speakers[i] = t->entries[i].speaker;
	return sizeof(*out) + (size_t)t->count * sizeof(out->speakers[0]);
}
