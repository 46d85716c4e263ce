/* livestate.c -- the state document per speaker: seeded by polls, kept current by GENA events,
 * compared without the position and sent to mqttd only when it changed. */
#include "livestate.h"
#include "bus.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* What is known of one speaker. */
struct live {
	int used;
	int present; /* in the speaker table now; a slot of one that left is reused last */
	char uuid[48];
	int polled;              /* st was seeded by a poll: only then is it sent */
	struct speaker_state st; /* the document's state (transport from its coordinator) */
	struct lastchange av;    /* what this speaker's own AVTransport events said */
	struct lastchange rc;    /* ... and its RenderingControl events */
	uint64_t av_ms, rc_ms;   /* when they last said something (util_mono_ms); 0: never */
	char *last;              /* document without the position, as last sent */
	uint64_t last_sent_ms;
};

static struct {
	nng_socket events;
	int (*group_busy)(const char *coordinator);
	void (*stale)(const char *uuid, enum soap_service svc);
	struct live live[MSG_SPEAKERS_MAX];
	struct msg_speaker table[MSG_SPEAKERS_MAX];
	int count;
} L;

static struct live *
live_find(const char *uuid)
{
	for (int i = 0; i < MSG_SPEAKERS_MAX; i++)
		if (L.live[i].used && strcmp(L.live[i].uuid, uuid) == 0)
			return &L.live[i];
	return NULL;
}

static struct live *
live_get(const char *uuid)
{
	struct live *l = live_find(uuid);

	if (l != NULL)
		return l;
	for (int i = 0; l == NULL && i < MSG_SPEAKERS_MAX; i++)
		if (!L.live[i].used)
			l = &L.live[i];
	for (int i = 0; l == NULL && i < MSG_SPEAKERS_MAX; i++)
		if (!L.live[i].present)
			l = &L.live[i];
	if (l == NULL)
		return NULL;
	free(l->last);
	memset(l, 0, sizeof(*l));
	l->used = 1;
	l->present = 1;
	msg_strlcpy(l->uuid, uuid, sizeof(l->uuid));
	return l;
}

static const struct msg_speaker *
table_find(const char *uuid)
{
	for (int i = 0; i < L.count; i++)
		if (strcmp(L.table[i].uuid, uuid) == 0)
			return &L.table[i];
	return NULL;
}

/* The coordinator of sp as the table says; sp itself when it says nothing else. */
static const struct msg_speaker *
table_coordinator(const struct msg_speaker *sp)
{
	const struct msg_speaker *co = NULL;

	if (sp->coordinator[0] != '\0' && strcmp(sp->coordinator, sp->uuid) != 0)
		co = table_find(sp->coordinator);
	return co != NULL ? co : sp;
}

/* Send l's document when it differs from the last one sent (position aside), or when
 * refresh is set and the last one is older than LIVESTATE_REFRESH_MS. */
static void
live_send(struct live *l, const struct msg_speaker *sp, const struct msg_speaker *co, int refresh)
{
	uint64_t now = util_mono_ms();
	char *json = state_json(sp, co, &l->st, 1), *brief = state_json(sp, co, &l->st, 0);
	struct msg_speaker_state *m = NULL;
	size_t len;

	if (json == NULL || brief == NULL)
		goto out;
	if (l->last != NULL && strcmp(l->last, brief) == 0 &&
	    (!refresh || now - l->last_sent_ms <= LIVESTATE_REFRESH_MS))
		goto out;
	if ((len = strlen(json)) > MSG_STATE_JSON_MAX || (m = malloc(sizeof(*m) + len)) == NULL)
		goto out;
	memset(m, 0, sizeof(*m));
	msg_strlcpy(m->uuid, sp->uuid, sizeof(m->uuid));
	msg_strlcpy(m->room, sp->room, sizeof(m->room));
	m->json_len = (uint32_t)len;
	memcpy(m->json, json, len);
	if (bus_send(L.events, MSG_SPEAKER_STATE, m, sizeof(*m) + len) == 0) {
		free(l->last);
		l->last = brief;
		brief = NULL;
		l->last_sent_ms = now;
	}
out:
	free(m);
	free(json);
	free(brief);
}

void
livestate_start(nng_socket events, int (*group_busy)(const char *coordinator),
                void (*stale)(const char *uuid, enum soap_service svc))
{
	L.events = events;
	L.group_busy = group_busy;
	L.stale = stale;
}

/* A poll that began after the last event disagrees with what events made of the state: a
 * change was never evented. */
static void
live_check_events(const struct live *l, const struct live *c, const struct msg_speaker *sp,
                  const struct msg_speaker *co, const struct speaker_state *st, uint64_t started_ms)
{
	if (!l->polled || L.stale == NULL)
		return;
	if (c != NULL && c->av_ms != 0 && c->av_ms <= started_ms && st->transport[0] != '\0' &&
	    strcmp(l->st.transport, st->transport) != 0)
		L.stale(co->uuid, SOAP_AVTRANSPORT);
	if (l->rc_ms != 0 && l->rc_ms <= started_ms &&
	    ((st->have_volume && l->st.have_volume && st->volume != l->st.volume) ||
	     (st->have_mute && l->st.have_mute && st->mute != l->st.mute)))
		L.stale(sp->uuid, SOAP_RENDERING);
}

void
livestate_polled(const struct msg_speaker *sp, const struct msg_speaker *co,
                 const struct speaker_state *st, uint64_t started_ms)
{
	struct live *l = live_get(sp->uuid), *c = live_find(co->uuid);

	if (l == NULL)
		return;
	live_check_events(l, c, sp, co, st, started_ms);
	l->st = *st;
	if (c != NULL && c->av_ms > started_ms)
		lastchange_apply(&c->av, &l->st);
	if (l->rc_ms > started_ms)
		lastchange_apply(&l->rc, &l->st);
	l->polled = 1;
	live_send(l, sp, co, 1);
}

void
livestate_flush(const struct msg_speaker *sp, const struct msg_speaker *co)
{
	struct live *l = live_find(sp->uuid);

	if (l != NULL && l->polled)
		live_send(l, sp, co, 0);
}

void
livestate_event(const char *uuid, enum soap_service svc, const struct lastchange *lc)
{
	struct live *u = live_get(uuid), *l;
	const struct msg_speaker *sp = table_find(uuid);
	uint64_t now = util_mono_ms();

	if (u == NULL)
		return;
	if (svc == SOAP_RENDERING) {
		lastchange_merge(&u->rc, lc);
		u->rc_ms = now;
		lastchange_apply(lc, &u->st);
		if (sp != NULL && u->polled && !L.group_busy(table_coordinator(sp)->uuid))
			live_send(u, sp, table_coordinator(sp), 0);
		return;
	}
	lastchange_merge(&u->av, lc);
	u->av_ms = now;
	/* The group's transport: every speaker this one coordinates shows it. */
	for (int i = 0; i < L.count; i++) {
		const struct msg_speaker *x = &L.table[i];

		if (table_coordinator(x) != sp || (l = live_get(x->uuid)) == NULL)
			continue;
		lastchange_apply(&u->av, &l->st);
		if (l->polled && !L.group_busy(uuid))
			live_send(l, x, sp, 0);
	}
}

void
livestate_forget(const char *uuid, enum soap_service svc)
{
	struct live *l = live_find(uuid);

	if (l == NULL)
		return;
	if (svc == SOAP_RENDERING) {
		memset(&l->rc, 0, sizeof(l->rc));
		l->rc_ms = 0;
	} else {
		memset(&l->av, 0, sizeof(l->av));
		l->av_ms = 0;
	}
}

void
livestate_speakers(const struct msg_speaker *table, int count)
{
	struct msg_speaker old[MSG_SPEAKERS_MAX];
	int nold = L.count;

	memcpy(old, L.table, (size_t)nold * sizeof(old[0]));
	memcpy(L.table, table, (size_t)count * sizeof(table[0]));
	L.count = count;
	/* A speaker that left (a reboot, say) keeps its document until its slot is needed. */
	for (int i = 0; i < MSG_SPEAKERS_MAX; i++)
		L.live[i].present = L.live[i].used && table_find(L.live[i].uuid) != NULL;
	for (int i = 0; i < count; i++) {
		const struct msg_speaker *x = &L.table[i], *co = table_coordinator(x), *was = NULL;
		struct live *l = live_find(x->uuid), *c = live_find(co->uuid);

		for (int k = 0; k < nold && was == NULL; k++)
			if (strcmp(old[k].uuid, x->uuid) == 0)
				was = &old[k];
		if (l == NULL || !l->polled || was == NULL ||
		    (strcmp(was->coordinator, x->coordinator) == 0 &&
		     strcmp(was->group_id, x->group_id) == 0))
			continue;
		if (c != NULL && c->av_ms != 0)
			lastchange_apply(&c->av, &l->st);
		if (!L.group_busy(co->uuid))
			live_send(l, x, co, 0);
	}
}

void
livestate_close(void)
{
	for (int i = 0; i < MSG_SPEAKERS_MAX; i++) {
		free(L.live[i].last);
		L.live[i].last = NULL;
		L.live[i].used = 0;
	}
}
