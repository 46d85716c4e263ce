/* player.c -- requests in, announcements out: resolve the target, queue per speaker, run one
 * announcement per speaker at a time on the thread pool, report every state as an event. */
#include "player.h"
#include "bus.h"
#include "dedup.h"
#include "rescue.h"
#include "gena.h"
#include "health.h"
#include "livestate.h"
#include "state.h"
#include "log.h"
#include "util.h"

#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PENDING_CHECK_MS 250
#define STATE_VERIFY_MS 1500  /* a command's change not reported by an event this long: read */
#define STARTUP_GRACE_MS 8000 /* beyond discovery_timeout_ms: time to fetch descriptions */

/* Announcements for one speaker run one at a time, in arrival order. */
struct speaker_queue {
	struct speaker_queue *next;
	char uuid[48];
	struct announcement *head, *tail;
	struct announcement *running; /* the one on a pool thread while busy, else NULL */
	int busy;
};

/* State polling of one speaker: at most one poll in flight (livestate keeps the document). */
struct state_poller {
	char uuid[48];
	int busy;
	int again; /* a poll was asked for while one ran or the group was busy: one follows */
	/* After a command, while events arrive: read the speaker at verify_ms unless an event
	 * came at or after since_ms, when the latest command began (a subscription the speaker
	 * dropped says nothing). */
	uint64_t since_ms, verify_ms;
};

/* A poll on the thread pool. */
struct state_job {
	uv_work_t work;
	struct state_poller *poller;
	struct msg_speaker speaker, coordinator;
	struct speaker_state st;
	int ok;              /* st was read: the speaker answered */
	uint64_t started_ms; /* what events said after this wins over st */
};

/* A request that arrived before its target was known; the list is in arrival order. */
struct pending {
	struct pending *next;
	struct msg_request *req;
};

static struct {
	uv_loop_t *loop;
	const struct config *cfg;
	struct player_ctx ctx;
	nng_socket inbox, speakers, to_discoveryd;
	struct bus_reader inbox_reader, speakers_reader;
	uv_timer_t pending_timer;
	uv_timer_t state_timer;
	uv_timer_t verify_timer;
	struct rescue *rescues; /* snapshots a crashed playerd left, until their group is known */
	int nrescues;
	struct state_poller pollers[MSG_SPEAKERS_MAX];
	int npollers;
	struct msg_speaker table[MSG_SPEAKERS_MAX];
	int count;
	int have_table;
	uint64_t started_ms;
	struct pending *pending;
	struct speaker_queue *queues;
	/* Grouped announcements to all speakers: each runs alone, when no group is busy, and
	 * no group starts anything while one waits or runs (they take every group apart). */
	struct speaker_queue all_queue;
	int stopping;
} P;

static struct speaker_queue *
queue_get(const char *uuid)
{
	struct speaker_queue *q;

	for (q = P.queues; q != NULL; q = q->next)
		if (strcmp(q->uuid, uuid) == 0)
			return q;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	msg_strlcpy(q->uuid, uuid, sizeof(q->uuid));
	q->next = P.queues;
	P.queues = q;
	return q;
}

static void queue_run_next(struct speaker_queue *q);
static int all_barrier(void);
static void state_poll_start(const struct msg_speaker *sp, int remember);
static void state_polls_again(void);
static void state_verify_later(const struct msg_speaker *sp, uint64_t since_ms);
static const struct msg_speaker *coordinator_of(const struct msg_speaker *sp);

static void
work_cb(uv_work_t *w)
{
	struct announcement *a = w->data;

	if (a->rescue != NULL)
		rescue_run(a);
	else if (a->cmd != NULL)
		control_run(a);
	else
		announce_run(a);
}

static void
announcement_free(struct announcement *a)
{
	free(a->rescue);
	free(a->all);
	free(a->cmd);
	free(a->req);
	free(a);
}

static void
after_work_cb(uv_work_t *w, int status)
{
	struct announcement *a = w->data;
	struct speaker_queue *q = a->queue;

	if (status == UV_ECANCELED)
		a->not_started = 1;
	if (a->not_started)
		log_info("request %s on %s: not started, playerd is stopping", a->req->id,
			 a->speaker.room);
	else if (a->rescue != NULL && a->error[0] != '\0') /* its event said "interrupted" */
		log_info("request %s on %s: what played before it is back only in part (after a "
			 "restart): %s",
			 a->req->id, a->speaker.room, a->error);
	else if (a->rescue != NULL)
		log_info("request %s on %s: what played before it is back (after a restart)",
			 a->req->id, a->speaker.room);
	else
		log_info("request %s on %s: %s%s%s", a->req->id, a->speaker.room,
			 event_status_name(a->status), a->error[0] ? ": " : "", a->error);
	if (a->rescue == NULL && a->not_started)
		dedup_unstarted(a); /* no outcome: mqttd sends it again, it runs then */
	else if (a->rescue == NULL)
		dedup_finished(a); /* records the outcome, then sends its terminal event */
	/* Groups changed: have discoveryd read the topology now, not at its next poll. */
	if (a->cmd != NULL && (a->cmd->join[0] != '\0' || a->cmd->leave))
		bus_send(P.to_discoveryd, MSG_SPEAKERS_QUERY, NULL, 0);
	q->busy = 0;
	q->running = NULL;
	/* What a command or an announcement changed shows in the state at once: the speaker's
	 * events report a command's change by themselves; without them, and after an
	 * announcement or a group change (which events of other speakers report), poll. */
	for (int i = 0; i < a->nmembers; i++)
		if (a->cmd == NULL || a->cmd->join[0] != '\0' || a->cmd->leave ||
		    !gena_events_live(&a->members[i], coordinator_of(&a->members[i])))
			state_poll_start(&a->members[i], 1);
		else {
			livestate_flush(&a->members[i], coordinator_of(&a->members[i]));
			state_verify_later(&a->members[i], a->run_ms);
		}
	state_polls_again(); /* those the group's work held back (a member that joined it) */
	announcement_free(a);
	if (q == &P.all_queue) {
		queue_run_next(q);
		for (struct speaker_queue *g = P.queues; g != NULL && !all_barrier(); g = g->next)
			queue_run_next(g);
	} else if (P.all_queue.head != NULL) {
		queue_run_next(&P.all_queue);
	} else {
		queue_run_next(q);
	}
}

/* 1 while a grouped announcement to all waits or runs: every group holds its work. */
static int
all_barrier(void)
{
	return P.all_queue.busy || P.all_queue.head != NULL;
}

static int
any_group_busy(void)
{
	for (struct speaker_queue *q = P.queues; q != NULL; q = q->next)
		if (q->busy)
			return 1;
	return 0;
}

static void
queue_run_next(struct speaker_queue *q)
{
	struct announcement *a = q->head;

	if (q->busy || a == NULL || P.stopping)
		return;
	if (q == &P.all_queue ? any_group_busy() : all_barrier())
		return;
	q->head = a->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->busy = 1;
	q->running = a;
	a->work.data = a;
	a->run_ms = util_mono_ms();
	if (a->rescue == NULL && dedup_started(a) < 0) {
		after_work_cb(&a->work, 0);
		return;
	}
	if (uv_queue_work(P.loop, &a->work, work_cb, after_work_cb) != 0) {
		a->status = EVENT_FAILED;
		msg_strlcpy(a->error, "cannot schedule", sizeof(a->error));
		after_work_cb(&a->work, 0);
	}
}

static struct msg_request *
request_copy(const struct msg_request *req)
{
	size_t size = sizeof(*req) + req->text_len;
	struct msg_request *copy = malloc(size);

	if (copy != NULL)
		memcpy(copy, req, size);
	return copy;
}

static void reject(struct msg_request *req, uint8_t status, const char *why);
static void reject_for(struct msg_request *req, const struct msg_speaker *sp, uint8_t status,
                       const char *why);

/* The entry of uuid in the table now, or NULL. */
static const struct msg_speaker *
table_entry(const char *uuid)
{
	for (int i = 0; i < P.count; i++)
		if (strcmp(P.table[i].uuid, uuid) == 0)
			return &P.table[i];
	return NULL;
}

/* The coordinator of sp's group (sp itself until the table says otherwise). */
static const struct msg_speaker *
coordinator_of(const struct msg_speaker *sp)
{
	const struct msg_speaker *co;

	if (sp->coordinator[0] != '\0' && strcmp(sp->coordinator, sp->uuid) != 0 &&
	    (co = table_entry(sp->coordinator)) != NULL)
		return co;
	return sp;
}

/* The visible members of co's group, co first. */
static int
members_of(const struct msg_speaker *co, struct msg_speaker *out, int max)
{
	int n = 0;

	out[n++] = *co;
	for (int i = 0; i < P.count && n < max; i++)
		if (strcmp(P.table[i].uuid, co->uuid) != 0 &&
		    strcmp(P.table[i].coordinator, co->uuid) == 0)
			out[n++] = P.table[i];
	return n;
}

/* Parse a control command for sp and resolve what it names; on error rejects req. */
static struct command *
command_prepare(struct msg_request *req, const struct msg_speaker *sp, struct msg_speaker *join_to)
{
	struct command *cmd = malloc(sizeof(*cmd));
	char why[200];
	int j;

	if (cmd == NULL) {
		reject_for(req, sp, EVENT_FAILED, "out of memory");
		return NULL;
	}
	if (command_parse(req->text, req->text_len, cmd, why, sizeof(why)) < 0) {
		reject_for(req, sp, EVENT_REJECTED, why);
		free(cmd);
		return NULL;
	}
	if (cmd->join[0] != '\0') {
		if ((j = player_resolve(P.table, P.count, cmd->join)) < 0) {
			snprintf(why, sizeof(why), "join: unknown speaker '%.60s'", cmd->join);
			reject_for(req, sp, EVENT_FAILED, why);
			free(cmd);
			return NULL;
		}
		/* A player asked to join itself answers UPnP error 800: say what is wrong. On
		 * sonos/all/set ("everybody join the kitchen") the kitchen just stays. */
		if (strcmp(P.table[j].uuid, sp->uuid) == 0 && strcmp(req->target, "all") == 0) {
			join_to->uuid[0] = '\0';
			return cmd;
		}
		if (strcmp(P.table[j].uuid, sp->uuid) == 0) {
			snprintf(why, sizeof(why), "join: %.60s cannot join itself", sp->room);
			reject_for(req, sp, EVENT_REJECTED, why);
			free(cmd);
			return NULL;
		}
		*join_to = *coordinator_of(&P.table[j]);
		/* sp leads the group the other one is in: together already, nothing to join. */
		if (strcmp(join_to->uuid, sp->uuid) == 0)
			join_to->uuid[0] = '\0';
	}
	return cmd;
}

/* Queue an announcement or command of req on one speaker; takes ownership of req. */
static void
announce_on(struct msg_request *req, const struct msg_speaker *sp, struct announce_all *all,
            int own_only)
{
	struct announcement *a = calloc(1, sizeof(*a));
	const struct msg_speaker *co = coordinator_of(sp);
	/* One queue per group: announcements to a group run one at a time. */
	struct speaker_queue *q = all != NULL ? &P.all_queue : queue_get(co->uuid);

	if (a != NULL && dedup_announce(req, sp)) {
		free(a);
		free(req);
		free(all);
		return;
	}
	if (a == NULL || q == NULL) {
		free(a);
		free(all);
		reject(req, EVENT_FAILED,
		       "out of memory"); /* frees req, gives its reference back */
		return;
	}
	a->all = all;
	a->own_only = own_only;
	if (req->kind == REQUEST_SET && (a->cmd = command_prepare(req, sp, &a->join_to)) == NULL) {
		free(a);
		return;
	}
	a->ctx = &P.ctx;
	a->req = req;
	a->speaker = *sp;
	a->coordinator = *co;
	a->nmembers = members_of(co, a->members, GROUP_MAX);
	a->queue = q;
	if (a->cmd == NULL)
		announce_event(a, EVENT_QUEUED, NULL);
	if (q->tail != NULL)
		q->tail->next = a;
	else
		q->head = a;
	q->tail = a;
	queue_run_next(q);
}

/* `all` in grouped mode: one announcement over every group, queued on the first one's. */
static void
announce_all_grouped_on(struct msg_request *req)
{
	struct announce_all *all = calloc(1, sizeof(*all));

	if (all == NULL) {
		reject(req, EVENT_FAILED, "out of memory");
		return;
	}
	for (int i = 0; i < P.count && all->ngroups < ALL_GROUPS_MAX; i++) {
		const struct msg_speaker *co = coordinator_of(&P.table[i]);
		int g;

		for (g = 0; g < all->ngroups; g++)
			if (strcmp(all->groups[g].coordinator.uuid, co->uuid) == 0)
				break;
		if (g < all->ngroups)
			continue;
		all->groups[g].coordinator = *co;
		all->groups[g].nmembers = members_of(co, all->groups[g].members, GROUP_MAX);
		all->ngroups++;
	}
	announce_on(req, &all->groups[0].coordinator, all, 0);
}

static void
reject_for(struct msg_request *req, const struct msg_speaker *sp, uint8_t status,
           const char *why)
{
	struct announcement a;

	memset(&a, 0, sizeof(a));
	a.ctx = &P.ctx;
	a.req = req;
	if (sp != NULL)
		a.speaker = *sp; /* the event names the speaker it was for */
	log_warnx("request %s for '%s': %s", req->id, req->target, why);
	announce_event(&a, status, why);
	dedup_release(req->id, status);
	free(req);
}

static void
reject(struct msg_request *req, uint8_t status, const char *why)
{
	reject_for(req, NULL, status, why);
}

/* What part of a command to all a speaker runs. */
enum all_part {
	ALL_SKIP,  /* nothing: a group member, and the command is for groups only */
	ALL_WHOLE, /* all of it */
	ALL_OWN,   /* its own volume and mute: its coordinator runs the group's part */
};

/* Transport actions go once per group, to its coordinator; volume and mute to every speaker;
 * a join or leave to every speaker, with all that follows (each one changes groups). cmd is
 * NULL when it does not parse (each copy is then rejected as usual). */
static enum all_part
all_part(const struct command *cmd, const struct msg_speaker *sp)
{
	if (cmd == NULL || cmd->leave || cmd->join[0] != '\0' || coordinator_of(sp) == sp)
		return ALL_WHOLE;
	return cmd->has_volume || cmd->has_mute ? ALL_OWN : ALL_SKIP;
}

/* The parsed command of a REQUEST_SET, or NULL (not one, or it does not parse). */
static struct command *
command_peek(const struct msg_request *req)
{
	struct command *cmd;
	char why[200];

	if (req->kind != REQUEST_SET || (cmd = malloc(sizeof(*cmd))) == NULL)
		return NULL;
	if (command_parse(req->text, req->text_len, cmd, why, sizeof(why)) < 0) {
		free(cmd);
		return NULL;
	}
	return cmd;
}

/* `all` in parallel mode: once per group (members hear their coordinator); a command on
 * every speaker its parts concern (all_part). Takes ownership of req. */
static void
dispatch_all(struct msg_request *req)
{
	struct command *cmd = command_peek(req);

	for (int i = 0; i < P.count; i++) {
		const struct msg_speaker *sp = &P.table[i];
		enum all_part part = req->kind == REQUEST_SET   ? all_part(cmd, sp)
		                     : coordinator_of(sp) == sp ? ALL_WHOLE
		                                                : ALL_SKIP;
		struct msg_request *copy;

		if (part != ALL_SKIP && (copy = request_copy(req)) != NULL) {
			dedup_hold(req->id);
			announce_on(copy, sp, NULL, part == ALL_OWN);
		}
	}
	free(cmd);
	dedup_release(req->id, 0);
	free(req);
}

/* Try to route req. Returns 1 when done with it (queued or failed), 0 to keep it pending. */
static int
dispatch(struct msg_request *req, int final)
{
	char why[200];
	int i;

	if (strcmp(req->target, "all") == 0) {
		if (P.count == 0 && !final)
			return 0;
		if (P.count == 0) {
			reject(req, EVENT_FAILED, "no speakers known");
			return 1;
		}
		if (req->kind != REQUEST_SET && strcmp(P.cfg->announce_all, "grouped") == 0)
			announce_all_grouped_on(req);
		else
			dispatch_all(req);
		return 1;
	}
	if ((i = player_resolve(P.table, P.count, req->target)) >= 0) {
		announce_on(req, &P.table[i], NULL, 0);
		return 1;
	}
	if (!final)
		return 0;
	snprintf(why, sizeof(why), "unknown speaker '%.60s' (%d known)", req->target, P.count);
	reject(req, EVENT_FAILED, why);
	return 1;
}

/* Requests wait while discovery may still be learning speakers, then resolve or fail. */
static void
pending_check(void)
{
	int final = util_mono_ms() - P.started_ms >
	            (uint64_t)P.cfg->discovery_timeout_ms + STARTUP_GRACE_MS;
	struct pending **pp = &P.pending;

	while (*pp != NULL) {
		struct pending *p = *pp;

		if (dispatch(p->req, final)) {
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
	if (P.pending == NULL)
		uv_timer_stop(&P.pending_timer);
}

static void
pending_timer_cb(uv_timer_t *t)
{
	(void)t;
	pending_check();
}

static void
on_request(const struct msg_request *req)
{
	struct msg_request *copy = request_copy(req);
	struct pending *p, **pp;

	if (copy == NULL) {
		log_warnx("request %s: out of memory", req->id);
		return;
	}
	log_info("request %s: %s for '%s' (%u bytes)", copy->id,
	         copy->kind == REQUEST_TTS    ? "tts"
	         : copy->kind == REQUEST_CLIP ? "clip"
	                                      : "set",
	         copy->target, copy->text_len);
	if (dedup_begin(copy)) {
		free(copy);
		return;
	}
	/* Past its deadline: expired, unless it ran before (a copy sent again after a restart):
	 * then what happened is reported, per speaker, as for any copy. */
	if (util_now_ms() > copy->deadline_ms && !dedup_known(copy->id)) {
		reject(copy, EVENT_EXPIRED, "expired before it reached a speaker");
		return;
	}
	if (dispatch(copy, 0))
		return;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		reject(copy, EVENT_FAILED, "out of memory");
		return;
	}
	/* Appended: waiting requests are dispatched, and so played, in arrival order. */
	for (pp = &P.pending; *pp != NULL; pp = &(*pp)->next)
		;
	p->req = copy;
	*pp = p;
	if (!uv_is_active((uv_handle_t *)&P.pending_timer))
		uv_timer_start(&P.pending_timer, pending_timer_cb, PENDING_CHECK_MS,
		               PENDING_CHECK_MS);
}

static void
inbox_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	(void)ctx;
	switch (hdr->type) {
	case MSG_REQUEST:
		on_request(payload);
		break;
	case MSG_GENA_NOTIFY:
		gena_notify(payload);
		break;
	case MSG_CLIP_FETCHED:
		announce_clip_fetched(payload);
		break;
	default:
		log_warnx("unexpected %s on the inbox", msg_type_name(hdr->type));
		break;
	}
}

/* Queue the restore of every kept snapshot whose coordinator is in the table, with the
 * addresses the table has now. */
static void
rescue_queue(void)
{
	for (int r = 0; r < P.nrescues; r++) {
		struct rescue *k = &P.rescues[r];
		struct announcement *a;
		struct speaker_queue *q;
		int i = -1;

		if (k->nmembers == 0)
			continue; /* queued already */
		for (int j = 0; j < P.count && i < 0; j++)
			if (strcmp(P.table[j].uuid, k->coordinator.uuid) == 0)
				i = j;
		if (i < 0 || (q = queue_get(k->coordinator.uuid)) == NULL ||
		    (a = calloc(1, sizeof(*a))) == NULL)
			continue;
		if ((a->req = malloc(sizeof(*a->req))) == NULL ||
		    (a->rescue = malloc(sizeof(*a->rescue))) == NULL) {
			announcement_free(a);
			continue;
		}
		*a->req = k->req;
		*a->rescue = k->snap;
		a->ctx = &P.ctx;
		a->queue = q;
		a->speaker = a->coordinator = P.table[i];
		a->nmembers = k->nmembers;
		for (int m = 0; m < k->nmembers; m++) {
			a->members[m] = k->members[m];
			for (int j = 0; j < P.count; j++)
				if (strcmp(P.table[j].uuid, k->members[m].uuid) == 0)
					a->members[m] = P.table[j];
		}
		k->nmembers = 0;
		log_info("%s: an announcement was cut short by a crash; restoring",
		         a->speaker.room);
		if (q->tail != NULL)
			q->tail->next = a;
		else
			q->head = a;
		q->tail = a;
		queue_run_next(q);
	}
}

static void
speakers_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	const struct msg_speakers *t = payload;

	(void)ctx;
	if (hdr->type != MSG_SPEAKERS) {
		log_warnx("unexpected %s from discoveryd", msg_type_name(hdr->type));
		return;
	}
	if (!P.have_table || (int)t->count != P.count)
		log_info("speaker table: %u speakers", t->count);
	{
		/* A speaker whose group changed gets its state read again (coordinator field). */
		char moved[MSG_SPEAKERS_MAX][48];
		int nmoved = 0;

		for (uint32_t k = 0; k < t->count; k++)
			for (int j = 0; j < P.count; j++)
				if (strcmp(P.table[j].uuid, t->speakers[k].uuid) == 0 &&
				    strcmp(P.table[j].coordinator, t->speakers[k].coordinator) != 0)
					msg_strlcpy(moved[nmoved++], t->speakers[k].uuid, 48);
		memcpy(P.table, t->speakers, t->count * sizeof(t->speakers[0]));
		P.count = (int)t->count;
		for (int k = 0; k < nmoved; k++)
			for (int j = 0; j < P.count; j++)
				if (strcmp(P.table[j].uuid, moved[k]) == 0)
					state_poll_start(&P.table[j], 1);
	}
	P.have_table = 1;
	gena_speakers(P.table, P.count);
	rescue_queue(); /* before waiting requests: the speaker is put back first */
	if (P.pending != NULL)
		pending_check();
}

static struct state_poller *
poller_get(const char *uuid)
{
	for (int i = 0; i < P.npollers; i++)
		if (strcmp(P.pollers[i].uuid, uuid) == 0)
			return &P.pollers[i];
	if (P.npollers == MSG_SPEAKERS_MAX) {
		/* Full after many speakers came and went: reuse the slot of one that left. */
		for (int i = 0; i < P.npollers; i++) {
			int known = 0;

			for (int j = 0; j < P.count && !known; j++)
				known = strcmp(P.table[j].uuid, P.pollers[i].uuid) == 0;
			if (!known && !P.pollers[i].busy) {
				msg_strlcpy(P.pollers[i].uuid, uuid, sizeof(P.pollers[0].uuid));
				P.pollers[i].verify_ms = 0;
				P.pollers[i].since_ms = 0;
				P.pollers[i].again = 0;
				return &P.pollers[i];
			}
		}
		return NULL;
	}
	msg_strlcpy(P.pollers[P.npollers].uuid, uuid, sizeof(P.pollers[0].uuid));
	return &P.pollers[P.npollers++];
}

static void
state_work_cb(uv_work_t *w)
{
	struct state_job *j = w->data;
	char err[256];

	if (state_poll(&j->speaker, &j->coordinator, &j->st, err, sizeof(err)) < 0) {
		log_debug("%s: state: %s", j->speaker.room, err);
		return;
	}
	j->ok = 1;
}

/* livestate merges the poll with newer events and publishes on change. A poll during which
 * the table put the speaker in another group read the old group's transport (a member's own
 * is "x-rincon:", source "group"): sent, it would undo the new coordinator livestate has
 * just sent, until the next poll (a minute while events arrive). It is read again instead. */
static void
state_after_cb(uv_work_t *w, int status)
{
	struct state_job *j = w->data;
	struct state_poller *p = j->poller;
	const struct msg_speaker *now = table_entry(j->speaker.uuid);
	int moved = status == 0 && now != NULL &&
	            strcmp(coordinator_of(now)->uuid, j->coordinator.uuid) != 0;

	p->busy = 0;
	if (moved)
		log_debug("%s: its group changed while its state was read: reading it again",
		          now->room);
	else if (status == 0 && j->ok && now != NULL)
		livestate_polled(now, coordinator_of(now), &j->st, j->started_ms);
	else if (status == 0 && j->ok)
		livestate_polled(&j->speaker, &j->coordinator, &j->st, j->started_ms);
	if (status == 0 && now != NULL && (moved || p->again))
		state_poll_start(now, 1);
	free(j);
}

/* 1 while the group of coordinator runs an announcement or a command. */
static int
group_busy(const char *coordinator)
{
	if (P.all_queue.busy)
		return 1;
	for (struct speaker_queue *q = P.queues; q != NULL; q = q->next)
		if (strcmp(q->uuid, coordinator) == 0 && q->busy)
			return 1;
	return 0;
}

/* A ZoneGroupTopology event: discoveryd reads the groups again (at most once a second, a
 * later ask deferred, not dropped) and publishes the table when they changed. */
static void
topology_changed(void)
{
	bus_send(P.to_discoveryd, MSG_SPEAKERS_QUERY, NULL, 0);
}

/* Poll sp now as the table has it (a copy taken before the table changed names the old
 * coordinator). While a poll is in flight or its group is announcing: once that is over when
 * remember (a change to read), else not at all (the timers' routine polls: one that came
 * every time a slow speaker was still being read would keep a thread reading it). */
static void
state_poll_start(const struct msg_speaker *sp, int remember)
{
	struct state_poller *p = poller_get(sp->uuid);
	const struct msg_speaker *now = table_entry(sp->uuid), *co;
	struct state_job *j;

	if (now != NULL)
		sp = now;
	co = coordinator_of(sp);
	if (p == NULL || P.stopping)
		return;
	if (p->busy || group_busy(co->uuid)) {
		p->again |= remember;
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	p->again = 0;
	j->poller = p;
	j->started_ms = util_mono_ms();
	j->speaker = *sp;
	j->coordinator = *co;
	j->work.data = j;
	p->busy = 1;
	if (uv_queue_work(P.loop, &j->work, state_work_cb, state_after_cb) != 0) {
		p->busy = 0;
		free(j);
	}
}

/* Start the polls held back while their speaker was being read or its group was busy. */
static void
state_polls_again(void)
{
	for (int i = 0; i < P.npollers; i++) {
		const struct msg_speaker *sp = table_entry(P.pollers[i].uuid);

		if (P.pollers[i].again && !P.pollers[i].busy && sp != NULL)
			state_poll_start(sp, 1);
	}
}

static void verify_timer_cb(uv_timer_t *t);

/* Arm the verify timer for the earliest pending check. */
static void
verify_arm(void)
{
	uint64_t now = util_mono_ms(), first = 0;

	for (int i = 0; i < P.npollers; i++)
		if (P.pollers[i].verify_ms != 0 && (first == 0 || P.pollers[i].verify_ms < first))
			first = P.pollers[i].verify_ms;
	if (first != 0)
		uv_timer_start(&P.verify_timer, verify_timer_cb, first > now ? first - now : 0, 0);
}

/* Events are live for sp: its own event reports what a command changed. Check later that
 * one came; a speaker that answered the command but sent nothing is read back. */
static void
state_verify_later(const struct msg_speaker *sp, uint64_t since_ms)
{
	struct state_poller *p = poller_get(sp->uuid);

	if (p == NULL || P.stopping)
		return;
	p->since_ms = since_ms; /* an event after the latest command tells all before it too */
	p->verify_ms = util_mono_ms() + STATE_VERIFY_MS;
	verify_arm();
}

static void
verify_timer_cb(uv_timer_t *t)
{
	uint64_t now = util_mono_ms();

	(void)t;
	for (int i = 0; i < P.npollers; i++) {
		struct state_poller *p = &P.pollers[i];

		if (p->verify_ms == 0 || p->verify_ms > now)
			continue;
		p->verify_ms = 0;
		for (int j = 0; j < P.count; j++)
			if (strcmp(P.table[j].uuid, p->uuid) == 0) {
				const struct msg_speaker *co = coordinator_of(&P.table[j]);

				if (!gena_event_since(&P.table[j], co, p->since_ms)) {
					log_debug("%s: no event after a command: reading its state",
					          P.table[j].room);
					state_poll_start(&P.table[j], 0);
				}
				break;
			}
	}
	verify_arm();
}

static void
state_timer_cb(uv_timer_t *t)
{
	(void)t;
	for (int i = 0; i < P.count; i++)
		if (gena_poll_due(&P.table[i], coordinator_of(&P.table[i])))
			state_poll_start(&P.table[i], 0);
}

/* nng's thread: httpd closed its end of the clip socket. */
static void
httpd_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	(void)pipe;
	(void)ev;
	(void)arg;
	announce_httpd_gone();
}

int
player_start(uv_loop_t *loop, const struct config *cfg)
{
	int rv;

	P.loop = loop;
	P.cfg = cfg;
	P.ctx.cfg = cfg;
	P.started_ms = util_mono_ms();
	if ((rv = bus_inbox_listen(&P.inbox, cfg->runtime_dir, "playerd")) != 0 ||
	    (rv = bus_sub_dial(&P.speakers, cfg->runtime_dir, "discoveryd")) != 0 ||
	    (rv = bus_push_dial(&P.to_discoveryd, cfg->runtime_dir, "discoveryd")) != 0 ||
	    (rv = bus_push_dial(&P.ctx.events, cfg->runtime_dir, "mqttd")) != 0 ||
	    (rv = bus_dial(&P.ctx.httpd, nng_req0_open, cfg->runtime_dir, "httpd", "rep")) != 0) {
		log_warnx("bus: %s", nng_strerror(rv));
		return -1;
	}
	/* Before any clip is asked for: a failure to fetch one is then told apart from an
	 * address the speakers cannot reach. */
	if ((rv = bus_pipe_notify(P.ctx.httpd, NNG_PIPE_EV_REM_POST, httpd_pipe_cb, NULL)) != 0)
		log_warnx("bus_pipe_notify: %s", nng_strerror(rv));
	dedup_open(cfg->state_dir, P.ctx.events, announce_event); /* failure: logged, runs on */
	if ((P.rescues = calloc(ALL_GROUPS_MAX, sizeof(*P.rescues))) != NULL)
		P.nrescues = rescue_load_all(cfg->state_dir, P.rescues, ALL_GROUPS_MAX);
	if (bus_reader_start(&P.inbox_reader, loop, P.inbox, "inbox", inbox_cb, NULL) < 0 ||
	    bus_reader_start(&P.speakers_reader, loop, P.speakers, "speakers", speakers_cb, NULL) <
	        0)
		return -1;
	gena_start(loop, cfg, P.ctx.events, group_busy, topology_changed);
	uv_timer_init(loop, &P.pending_timer);
	uv_timer_init(loop, &P.state_timer);
	uv_timer_init(loop, &P.verify_timer);
	uv_timer_start(&P.state_timer, state_timer_cb, 1000, (uint64_t)cfg->state_poll_ms);
	/* A restarted playerd asks for the table instead of waiting for the next broadcast. */
	bus_send(P.to_discoveryd, MSG_SPEAKERS_QUERY, NULL, 0);
	return 0;
}

void
player_stop(void)
{
	P.stopping = 1;
	atomic_store(&P.ctx.stopping, 1);
	/* A clip request waiting for httpd (gone, or busy with a long text) ends now, not after
	 * its 60 s bound: closing the socket aborts it. */
	nng_close(P.ctx.httpd);
	bus_reader_close(&P.inbox_reader);
	bus_reader_close(&P.speakers_reader);
	uv_close((uv_handle_t *)&P.pending_timer, NULL);
	uv_close((uv_handle_t *)&P.state_timer, NULL);
	uv_close((uv_handle_t *)&P.verify_timer, NULL);
	gena_stop();
}

void
player_close(void)
{
	while (P.pending != NULL) {
		struct pending *p = P.pending;

		P.pending = p->next;
		free(p->req);
		free(p);
	}
	gena_close();
	while (P.all_queue.head != NULL) {
		struct announcement *a = P.all_queue.head;

		P.all_queue.head = a->next;
		announcement_free(a);
	}
	while (P.queues != NULL) {
		struct speaker_queue *q = P.queues;

		P.queues = q->next;
		while (q->head != NULL) {
			struct announcement *a = q->head;

			q->head = a->next;
			announcement_free(a);
		}
		free(q);
	}
	nng_close(P.inbox);
	nng_close(P.speakers);
	nng_close(P.to_discoveryd);
	dedup_close();
	free(P.rescues);
	nng_close(P.ctx.events);
	nng_close(P.ctx.httpd);
}

/* Health facts for the supervisor (health_facts_fn): per speaker with a queue, the
 * announcements waiting and whether one is playing; requests waiting for their target. */
void
player_health_facts(void *ctx, struct strbuf *out)
{
	int pending = 0, first = 1;

	(void)ctx;
	for (struct pending *p = P.pending; p != NULL; p = p->next)
		pending++;
	strbuf_printf(out, "{\"speakers_known\":%d,\"pending\":%d,\"queues\":[", P.count, pending);
	for (struct speaker_queue *q = P.queues; q != NULL; q = q->next) {
		const struct msg_speaker *sp = table_entry(q->uuid);
		const char *room = sp != NULL ? sp->room : q->uuid;
		int queued = 0;

		for (struct announcement *a = q->head; a != NULL; a = a->next)
			queued++;
		if (queued == 0 && !q->busy)
			continue;
		strbuf_puts(out, first ? "{\"speaker\":" : ",{\"speaker\":");
		health_json_string(out, room);
		strbuf_printf(out, ",\"uuid\":");
		health_json_string(out, q->uuid);
		strbuf_printf(out, ",\"queued\":%d,\"busy\":%s", queued,
			      q->busy ? "true" : "false");
		if (q->running != NULL) {
			strbuf_puts(out, ",\"playing\":");
			health_json_string(out, q->running->req->id);
		}
		strbuf_puts(out, "}");
		first = 0;
	}
	strbuf_printf(out, "],\"stopping\":%s", P.stopping ? "true" : "false");
	gena_health_facts(out);
	strbuf_puts(out, "}");
}
