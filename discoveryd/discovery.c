/* discovery.c -- discoveryd's I/O: SSDP search and NOTIFY on every interface, description and
 * ZoneGroupState fetches on the thread pool, manual speakers with backoff, households and their
 * topology, and the speaker table published on the bus. */
#include "discovery.h"
#include "bus.h"
#include "description.h"
#include "http_client.h"
#include "health.h"
#include "log.h"
#include "membership.h"
#include "msg.h"
#include "netif.h"
#include "source_limit.h"
#include "speaker_table.h"
#include "ssdp.h"
#include "topology.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <uv.h>

#define SEARCH_SENDS 3 /* M-SEARCH copies per search: UDP may drop one */
#define SEARCH_SPACING_MS 300
#define PUBLISH_PERIOD_MS 5000 /* full snapshot even without a change: PUB/SUB is lossy */
#define PUBLISH_DELAY_MS 20    /* changes within this are published together */
#define STARTUP_MS 3000        /* after start, subscribers may still be connecting: */
#define STARTUP_PUBLISH_MS 250 /* publish this often then (PUB/SUB drops until connected) */
#define FETCH_TIMEOUT_MS 2000
#define FETCH_MAX 64 /* fetches queued or running on the thread pool */
#define MANUAL_BACKOFF_MIN_MS 1000
#define MANUAL_BACKOFF_MAX_MS 60000
#define SONOS_PORT 1400
#define DESCRIPTION_PATH "/xml/device_description.xml"
#define TOPOLOGY_PATH "/ZoneGroupTopology/Control"
#define DEVICE_PROPERTIES_PATH "/DeviceProperties/Control"
#define PROBE_FAILURES_MAX 2 /* failed probes in a row before a speaker is dropped */
#define STRANGER_WARN_MAX 10 /* then debug: a noisy LAN must not fill the log */
#define HOUSEHOLDS_MAX 8
#define TOPOLOGY_PERIOD_MS 30000   /* ZoneGroupState poll (the fallback: events query sooner) */
#define TOPOLOGY_DELAY_MS 50       /* refresh requests within this share one fetch */
#define TOPOLOGY_RETRY_MS 1000     /* first retry after a failed fetch, doubling */
#define TOPOLOGY_GRACE_MS 3000     /* a device no topology has placed is listed after this */
#define TOPOLOGY_QUERY_MIN_MS 1000 /* a MSG_SPEAKERS_QUERY refreshes at most this often */

struct manual_speaker {
	char ip[64];
	int active; /* the manual fallback covers this address */
	int in_flight;
	int excluded;      /* in a household the configuration filters out: not retried */
	unsigned failures; /* consecutive failed fetches */
	uint64_t next_try_ms;
};

enum fetch_kind { FETCH_DESCRIPTION = 1, FETCH_TOPOLOGY };

/* One fetch, run on the libuv thread pool. */
struct fetch {
	uv_work_t work;
	struct discovery *d;
	enum fetch_kind kind;
	int slot; /* index in d->fetches */
	char host[64];
	uint16_t port;
	char path[200];
	enum found_by how;
	int manual; /* index in d->manual, or -1 */
	int probe;  /* a liveness check of a known speaker */
	uint32_t bootseq;
	char household[64]; /* known before the fetch ("" = ask the speaker when want_household) */
	int want_household;
	int hh; /* FETCH_TOPOLOGY: index in d->households */
	/* Results, written by the worker thread, read after it is done. */
	int rc; /* 0 or a negative errno */
	char err[160];
	struct speaker_description desc;
	struct topology *topo; /* FETCH_TOPOLOGY: malloc'ed, handed over or freed */
	/* The last SSDP message from host that came while this description fetch ran: one
	 * fetch per address at a time, and this one is acted on when it ends. */
	int has_next;
	struct ssdp_message next;
};

/* A household and what its ZoneGroupState last said. */
struct household {
	int used;
	char id[64];           /* "" = not known (a manual speaker that did not say) */
	struct topology *topo; /* last applied, NULL before the first */
	uint64_t next_poll_ms; /* next ZoneGroupState fetch */
	uint64_t applied_ms;   /* when topo was applied, 0 = never */
	unsigned failures;     /* fetches failed in a row */
	int in_flight;
	int again;         /* a refresh was asked for while one was running */
	int rooms, hidden; /* counts of the last topology, for logs */
};

struct discovery {
	const struct config *cfg;
	uv_loop_t loop;
	uv_udp_t search_udp; /* ephemeral port: M-SEARCH out, answers in */
	uv_udp_t notify_udp; /* SSDP group port: NOTIFY alive/byebye in */
	int notify_open;
	uv_timer_t cron;
	uv_signal_t sigterm, sigint;
	nng_socket pub, inbox;
	struct bus_reader reader;
	int reader_started;
	int stopping;

	struct speaker_table table;
	struct manual_speaker manual[CONFIG_MAX_SPEAKERS];
	int nmanual;
	struct fetch *fetches[FETCH_MAX];
	int fetch_saturated;           /* a fetch was refused: no slot, or its host was busy */
	struct msg_speakers *snapshot; /* room for MSG_SPEAKERS_MAX entries */
	struct household households[HOUSEHOLDS_MAX];

	/* Interfaces: every IPv4 address of the host, and the ones searches go out on. */
	struct netif all_ifs[NETIF_MAX];
	int nall_ifs;
	struct netif search_ifs[NETIF_MAX];
	int nsearch_ifs;
	struct membership_set joined; /* the NOTIFY socket's memberships */
	char search_desc[512];

	uint64_t start_ms;
	uint64_t last_cron_ms;
	uint64_t search_period_ms;
	unsigned searches;
	uint64_t search_ms;        /* when the current (or last) search began */
	uint64_t search_before_ms; /* when the one before it began, 0 before the second */
	int sends_left;
	uint64_t next_send_ms;
	uint64_t window_end_ms; /* 0 outside a search window */
	uint64_t next_search_ms;
	uint64_t next_publish_ms;
	uint64_t publish_due_ms; /* 0 = no change waiting */
	uint64_t last_query_refresh_ms;
	unsigned stranger_warnings;
	unsigned send_failures;
	int advertise_warned;
	char excluded_logged[8][64]; /* households filtered out, said once each */
	unsigned excluded_next;
	struct source_table sources; /* failed fetches and warnings per address */
	char search_buf[SSDP_PACKET_MAX + 1];
	char notify_buf[SSDP_PACKET_MAX + 1];
};

static void cron_arm(struct discovery *d);
static int fetch_start(struct discovery *d, enum fetch_kind kind, const char *host, uint16_t port,
                       const char *path, enum found_by how, int manual, uint32_t bootseq, int probe,
                       const char *household, int hh);
static int recently_failed(struct discovery *d, const char *host, const struct ssdp_message *m);
static void ssdp_act(struct discovery *d, const struct ssdp_message *m, const char *from);

/* Log a message about a device we will not act on: at warn for the first few, then debug. */
#define log_stranger(d, ...)                                                                       \
	do {                                                                                       \
		if ((d)->stranger_warnings++ < STRANGER_WARN_MAX)                                  \
			log_warnx(__VA_ARGS__);                                                    \
		else                                                                               \
			log_debug(__VA_ARGS__);                                                    \
	} while (0)

/* In its first TOPOLOGY_GRACE_MS a (re)started discoveryd knows its table is incomplete when
 * it is empty or holds a device back until a topology places it. Published, such a table
 * would make mqttd and playerd take the missing speakers as gone (availability offline in
 * Home Assistant for a moment, subscriptions dropped) after a mere worker restart. */
static int
publish_premature(const struct discovery *d, uint64_t now)
{
	if (now - d->start_ms >= TOPOLOGY_GRACE_MS)
		return 0;
	if (d->snapshot->count == 0)
		return 1;
	for (int i = 0; i < d->table.count; i++) {
		const struct speaker_entry *e = &d->table.entries[i];

		if (!speaker_entry_listed(e, now, TOPOLOGY_GRACE_MS) &&
		    speaker_entry_listed(e, now + TOPOLOGY_GRACE_MS, TOPOLOGY_GRACE_MS))
			return 1;
	}
	return 0;
}

static void
publish(struct discovery *d)
{
	uint64_t now = util_mono_ms();
	size_t len = speaker_table_snapshot(&d->table, d->snapshot, now, TOPOLOGY_GRACE_MS);
	int rv;

	if (publish_premature(d, now)) {
		d->next_publish_ms = now + STARTUP_PUBLISH_MS;
		d->publish_due_ms = 0;
		return;
	}
	rv = bus_send(d->pub, MSG_SPEAKERS, d->snapshot, len);

	if (rv != 0)
		log_debug("MSG_SPEAKERS: %s", nng_strerror(rv));
	d->next_publish_ms =
	    now + (now - d->start_ms < STARTUP_MS ? STARTUP_PUBLISH_MS : PUBLISH_PERIOD_MS);
	d->publish_due_ms = 0;
}

/* Publish soon: changes that come in a burst (32 speakers answering one search) go out in one
 * snapshot. */
static void
publish_soon(struct discovery *d)
{
	uint64_t due = util_mono_ms() + PUBLISH_DELAY_MS;

	if (d->publish_due_ms == 0 || due < d->publish_due_ms)
		d->publish_due_ms = due;
}

/* ---- households ----------------------------------------------------------------------- */

/* 1 if household id is one the configuration wants ("" = every household). A speaker whose
 * household is not known is accepted: it was configured by address or listed by a topology. */
static int
household_allowed(const struct discovery *d, const char *id)
{
	const char *p = d->cfg->household;

	if (*p == '\0' || *id == '\0')
		return 1;
	while (*p != '\0') {
		size_t len;

		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		len = strcspn(p, ", \t");
		if (len > 0 && len == strlen(id) && strncmp(p, id, len) == 0)
			return 1;
		p += len;
	}
	return 0;
}

/* Say once per household that it is filtered out. */
static void
household_excluded(struct discovery *d, const char *id, const char *who)
{
	for (int i = 0; i < 8; i++)
		if (strcmp(d->excluded_logged[i], id) == 0) {
			log_debug("%s is in household %s: filtered out", who, id);
			return;
		}
	msg_strlcpy(d->excluded_logged[d->excluded_next++ % 8], id, 64);
	log_info("household %s (%s) is not in the configured household list: ignored", id, who);
}

static struct household *
household_get(struct discovery *d, const char *id)
{
	struct household *free_slot = NULL;

	for (int i = 0; i < HOUSEHOLDS_MAX; i++) {
		struct household *h = &d->households[i];

		if (h->used && strcmp(h->id, id) == 0)
			return h;
		if (!h->used && free_slot == NULL)
			free_slot = h;
	}
	if (free_slot == NULL) {
		log_stranger(d, "more than %d households: %s not tracked", HOUSEHOLDS_MAX, id);
		return NULL;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = 1;
	msg_strlcpy(free_slot->id, id, sizeof(free_slot->id));
	return free_slot;
}

/* Ask for a ZoneGroupState of h within delay_ms (sooner requests win). */
static void
topology_want(struct household *h, uint64_t delay_ms)
{
	uint64_t due = util_mono_ms() + delay_ms;

	if (h == NULL)
		return;
	if (h->in_flight) {
		h->again = 1;
		return;
	}
	if (h->next_poll_ms == 0 || due < h->next_poll_ms)
		h->next_poll_ms = due;
}

/* The speaker to ask for h's topology: one of the household that answers, the one heard from
 * last; after failures the others in turn. */
static struct speaker_entry *
topology_source(struct discovery *d, struct household *h)
{
	struct speaker_entry *cands[MSG_SPEAKERS_MAX];
	int n = 0;

	for (int i = 0; i < d->table.count; i++) {
		struct speaker_entry *e = &d->table.entries[i];

		if (strcmp(e->speaker.household, h->id) == 0 && e->probe_failures == 0)
			cands[n++] = e;
	}
	if (n == 0)
		return NULL;
	for (int i = 1; i < n; i++) /* most recently heard first */
		for (int k = i; k > 0 && cands[k]->seen_ms > cands[k - 1]->seen_ms; k--) {
			struct speaker_entry *t = cands[k];

			cands[k] = cands[k - 1];
			cands[k - 1] = t;
		}
	return cands[h->failures % (unsigned)n];
}

static void
topology_start(struct discovery *d, struct household *h)
{
	struct speaker_entry *src = topology_source(d, h);

	h->next_poll_ms = 0;
	if (src == NULL) {
		/* Nobody of this household to ask (yet): the next speaker found asks again. */
		log_debug("household %s: no speaker to ask for its topology", h->id);
		return;
	}
	if (fetch_start(d, FETCH_TOPOLOGY, src->speaker.ip, src->speaker.port, TOPOLOGY_PATH,
	                src->found_by, -1, 0, 0, h->id, (int)(h - d->households)) < 0) {
		h->next_poll_ms = util_mono_ms() + TOPOLOGY_RETRY_MS;
		return;
	}
	h->in_flight = 1;
}

/* Fetch the description of a topology member the table lacks, or that the topology places at
 * another address or shows rebooted: the fetch confirms it before the table changes. */
static void
topology_fill(struct discovery *d, struct household *h, const struct topology *prev)
{
	const struct topology *t = h->topo;

	for (int i = 0; t != NULL && i < t->count; i++) {
		const struct topology_member *m = &t->members[i];
		const struct topology_member *was =
		    prev != NULL ? topology_find(prev, m->uuid) : NULL;
		struct speaker_entry *e;

		if (topology_member_hidden(m) || m->ip[0] == '\0')
			continue;
		e = speaker_table_find(&d->table, m->uuid);
		if (e == NULL) {
			if (!recently_failed(d, m->ip, NULL))
				fetch_start(d, FETCH_DESCRIPTION, m->ip, m->port, DESCRIPTION_PATH,
				            FOUND_TOPOLOGY, -1, m->bootseq, 0, h->id, -1);
		} else if (strcmp(e->speaker.ip, m->ip) != 0 || e->speaker.port != m->port) {
			log_info(
			    "topology of %s places \"%s\" %s at %s:%u (table: %s:%u): checking",
			    h->id, m->room, m->uuid, m->ip, (unsigned)m->port, e->speaker.ip,
			    (unsigned)e->speaker.port);
			fetch_start(d, FETCH_DESCRIPTION, m->ip, m->port, DESCRIPTION_PATH,
			            FOUND_TOPOLOGY, -1, m->bootseq, 0, h->id, -1);
		} else if (was != NULL && was->bootseq != 0 && m->bootseq != 0 &&
		           was->bootseq != m->bootseq) {
			log_info("topology of %s: \"%s\" %s rebooted (boot %u -> %u)", h->id,
			         m->room, m->uuid, was->bootseq, m->bootseq);
			fetch_start(d, FETCH_DESCRIPTION, m->ip, m->port, DESCRIPTION_PATH,
			            FOUND_TOPOLOGY, -1, m->bootseq, 0, h->id, -1);
		}
	}
}

/* Make topo the truth for household h: roles, rooms, groups, coordinators in the table, and
 * fetches for members not yet confirmed. A ZoneGroupTopology event (playerd's subscription)
 * comes here as a MSG_SPEAKERS_QUERY and a fresh GetZoneGroupState. Takes topo. */
static void
topology_apply(struct discovery *d, struct household *h, struct topology *topo)
{
	struct topology *prev = h->topo;
	int rooms = 0, hidden = 0, changed;

	h->topo = topo;
	h->applied_ms = util_mono_ms();
	h->failures = 0;
	for (int i = 0; i < topo->count; i++) {
		if (topology_member_hidden(&topo->members[i]))
			hidden++;
		else
			rooms++;
	}
	if (rooms != h->rooms || hidden != h->hidden || prev == NULL)
		log_info("household %s: %d rooms in %d groups, %d hidden devices%s%s", h->id, rooms,
		         topo->groups, hidden, topo->recovered ? " (read leniently)" : "",
		         topo->truncated ? " (truncated)" : "");
	h->rooms = rooms;
	h->hidden = hidden;
	if (topo->refused > 0 && (prev == NULL || prev->refused != topo->refused))
		log_warnx("household %s: %d members listed at a Location that is not a player's "
		          "(an IPv4 address, port 1400); not fetched",
		          h->id, topo->refused);
	changed = speaker_table_apply_topology(&d->table, topo, h->id);
	if (changed > 0) {
		log_debug("household %s: %d speakers changed", h->id, changed);
		publish_soon(d);
	}
	topology_fill(d, h, prev);
	free(prev);
}

static void
topology_done(struct discovery *d, struct fetch *f)
{
	struct household *h = &d->households[f->hh];
	struct speaker_entry *src;
	uint64_t retry;

	h->in_flight = 0;
	if (!h->used || strcmp(h->id, f->household) != 0)
		return; /* the slot was reused meanwhile */
	if (f->rc < 0) {
		h->failures++;
		retry = (uint64_t)TOPOLOGY_RETRY_MS << (h->failures < 6 ? h->failures - 1 : 5);
		if (retry > TOPOLOGY_PERIOD_MS)
			retry = TOPOLOGY_PERIOD_MS;
		if (h->failures == 1 || h->failures % 10 == 0)
			log_warnx("household %s: ZoneGroupState from %s:%u: %s (failure %u)", h->id,
			          f->host, (unsigned)f->port, f->err, h->failures);
		h->next_poll_ms = util_mono_ms() + retry;
		return;
	}
	if ((src = speaker_table_find_ip(&d->table, f->host)) != NULL) {
		src->seen_ms = util_mono_ms();
		src->probe_failures = 0;
	}
	topology_apply(d, h, f->topo);
	f->topo = NULL;
	h->next_poll_ms = util_mono_ms() + (h->again ? TOPOLOGY_DELAY_MS
	                                             : (d->search_period_ms < TOPOLOGY_PERIOD_MS
	                                                    ? d->search_period_ms
	                                                    : TOPOLOGY_PERIOD_MS));
	h->again = 0;
}

/* ---- fetches on the thread pool ------------------------------------------------------- */

/* POST an argument-less SOAP action; the caller frees resp. Returns 0 or a negative errno
 * with err set (a fault or HTTP error is -EPROTO). */
static int
soap_call_simple(struct fetch *f, const char *path, const char *service, const char *action,
                 size_t max_body, struct http_response *resp)
{
	char body[512], soapaction[160];
	const char *headers[] = {"Content-Type: text/xml; charset=\"utf-8\"", soapaction, NULL};
	int n, rc;

	n = snprintf(body, sizeof(body),
	             "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	             "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	             "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>"
	             "<u:%s xmlns:u=\"urn:schemas-upnp-org:service:%s:1\"></u:%s>"
	             "</s:Body></s:Envelope>",
	             action, service, action);
	snprintf(soapaction, sizeof(soapaction),
	         "SOAPACTION: \"urn:schemas-upnp-org:service:%s:1#%s\"", service, action);
	rc = http_request("POST", f->host, f->port, path, headers, body, (size_t)n,
	                  FETCH_TIMEOUT_MS, max_body, resp);
	if (rc < 0) {
		snprintf(f->err, sizeof(f->err), "%s#%s: %s", service, action, strerror(-rc));
		return rc;
	}
	if (resp->status != 200) {
		snprintf(f->err, sizeof(f->err), "%s#%s: HTTP status %d", service, action,
		         resp->status);
		http_response_free(resp);
		return -EPROTO;
	}
	return 0;
}

static void
fetch_description(struct fetch *f)
{
	struct http_response resp;

	f->rc = http_request("GET", f->host, f->port, f->path, NULL, NULL, 0, FETCH_TIMEOUT_MS,
	                     DESCRIPTION_MAX, &resp);
	if (f->rc < 0) {
		snprintf(f->err, sizeof(f->err), "%s", strerror(-f->rc));
		return;
	}
	if (resp.status != 200) {
		snprintf(f->err, sizeof(f->err), "HTTP status %d", resp.status);
		f->rc = -EPROTO;
	} else if (description_parse(resp.body, resp.body_len, &f->desc, f->err, sizeof(f->err)) <
	           0) {
		f->rc = -EPROTO;
	}
	http_response_free(&resp);
	/* A speaker found by address says which household it is in: the filter needs it. */
	if (f->rc == 0 && f->want_household && f->household[0] == '\0' &&
	    soap_call_simple(f, DEVICE_PROPERTIES_PATH, "DeviceProperties", "GetHouseholdID", 4096,
	                     &resp) == 0) {
		topology_soap_value(resp.body, resp.body_len, "CurrentHouseholdID", f->household,
		                    sizeof(f->household));
		http_response_free(&resp);
	}
}

static void
fetch_topology(struct fetch *f)
{
	struct http_response resp;
	char err[160];

	f->rc = soap_call_simple(f, TOPOLOGY_PATH, "ZoneGroupTopology", "GetZoneGroupState",
	                         TOPOLOGY_BODY_MAX, &resp);
	if (f->rc < 0)
		return;
	if ((f->topo = malloc(sizeof(*f->topo))) == NULL) {
		f->rc = -ENOMEM;
		snprintf(f->err, sizeof(f->err), "out of memory");
	} else if (topology_parse(resp.body, resp.body_len, f->topo, err, sizeof(err)) < 0) {
		f->rc = -EPROTO;
		snprintf(f->err, sizeof(f->err), "ZoneGroupState: %s", err);
		free(f->topo);
		f->topo = NULL;
	}
	http_response_free(&resp);
}

static void
fetch_work_cb(uv_work_t *req)
{
	struct fetch *f = req->data;

	if (f->kind == FETCH_TOPOLOGY)
		fetch_topology(f);
	else
		fetch_description(f);
}

/* A known speaker did not answer its liveness probe: drop it after PROBE_FAILURES_MAX in a
 * row. A manual address is then retried by the manual fallback, an SSDP one re-found when it
 * answers again. */
static void
probe_failed(struct discovery *d, struct fetch *f)
{
	struct speaker_entry *e = speaker_table_find_ip(&d->table, f->host);
	char household[64];

	if (e == NULL || e->speaker.port != f->port)
		return;
	if (++e->probe_failures < PROBE_FAILURES_MAX) {
		log_debug("speaker \"%s\" at %s:%u: probe failed: %s", e->speaker.room, f->host,
		          (unsigned)f->port, f->err);
		return;
	}
	log_info("speaker \"%s\" uuid %s at %s:%u is gone (%s): removed", e->speaker.room,
	         e->speaker.uuid, f->host, (unsigned)f->port, f->err);
	msg_strlcpy(household, e->speaker.household, sizeof(household));
	speaker_table_remove(&d->table, e->speaker.uuid);
	topology_want(household_get(d, household), TOPOLOGY_DELAY_MS);
	publish_soon(d);
}

/* A description fetch prompted by SSDP or a topology failed: hold the address back (longer
 * with each failure in a row), and say so at most once a minute per address. */
static void
address_failed(struct discovery *d, struct fetch *f)
{
	uint64_t now = util_mono_ms();
	int self = f->how == FOUND_SSDP || f->how == FOUND_NOTIFY;
	uint64_t hold = source_failed(&d->sources, f->host, f->bootseq, self, now);

	if (source_warn_ok(&d->sources, f->host, now))
		log_warnx("http://%s:%u%s (%s): %s (not retried for %llu s)", f->host,
		          (unsigned)f->port, f->path, found_by_name(f->how), f->err,
		          (unsigned long long)(hold + 999) / 1000);
	else
		log_debug("http://%s:%u%s (%s): %s (not retried for %llu ms)", f->host,
		          (unsigned)f->port, f->path, found_by_name(f->how), f->err,
		          (unsigned long long)hold);
}

static void
fetch_failed(struct discovery *d, struct fetch *f)
{
	struct manual_speaker *m;
	unsigned shift;
	uint64_t backoff;

	if (f->probe) {
		probe_failed(d, f);
		return;
	}
	if (f->manual < 0) {
		address_failed(d, f);
		return;
	}
	m = &d->manual[f->manual];
	m->failures++;
	shift = m->failures - 1 < 6 ? m->failures - 1 : 6;
	backoff = (uint64_t)MANUAL_BACKOFF_MIN_MS << shift;
	if (backoff > MANUAL_BACKOFF_MAX_MS)
		backoff = MANUAL_BACKOFF_MAX_MS;
	m->next_try_ms = util_mono_ms() + backoff;
	/* The first failure and every tenth are worth a warning; the rest are retries. */
	if (m->failures == 1 || m->failures % 10 == 0)
		log_warnx("manual speaker %s: %s (failure %u, next try in %llu ms)", m->ip, f->err,
		          m->failures, (unsigned long long)backoff);
	else
		log_debug("manual speaker %s: %s (failure %u, next try in %llu ms)", m->ip, f->err,
		          m->failures, (unsigned long long)backoff);
}

/* Speakers fetch clips from the advertised host and (issue 5) send events to it. Warn once
 * when that host is unlikely to be reachable from the speakers. */
static void
advertise_check(struct discovery *d, const struct msg_speaker *s)
{
	const char *adv = d->cfg->advertise_host;
	char src[64];
	int speaker_loopback = strncmp(s->ip, "127.", 4) == 0;

	if (d->advertise_warned)
		return;
	if (adv[0] != '\0') {
		if (!speaker_loopback &&
		    (strncmp(adv, "127.", 4) == 0 || strcmp(adv, "localhost") == 0)) {
			log_warnx("advertise_host %s is a loopback address: speaker \"%s\" at %s "
			          "cannot fetch clips from it",
			          adv, s->room, s->ip);
			d->advertise_warned = 1;
		}
		return;
	}
	if (speaker_loopback || netif_on_link(d->all_ifs, d->nall_ifs, s->ip) ||
	    util_route_source(s->ip, src, sizeof(src)) < 0)
		return;
	log_warnx("speaker \"%s\" at %s is reached through a gateway, from %s: if the bridge runs "
	          "in a container without host networking the speakers cannot reach %s; set "
	          "advertise_host",
	          s->room, s->ip, src, src);
	d->advertise_warned = 1;
}

/* A known speaker is at a new address or has rebooted: whatever was subscribed at the old one
 * is gone. Consumers see the new ip, port or bootseq in the next MSG_SPEAKERS; GENA
 * subscriptions (issue 5) are renewed from there. */
static void
speaker_readdressed(struct discovery *d, const struct speaker_entry *e, enum table_change why)
{
	log_info("speaker \"%s\" uuid %s %s %s:%u (boot %u): subscriptions to renew",
	         e->speaker.room, e->speaker.uuid, why == TABLE_MOVED ? "moved to" : "rebooted at",
	         e->speaker.ip, (unsigned)e->speaker.port, e->speaker.bootseq);
	topology_want(household_get(d, e->speaker.household), TOPOLOGY_DELAY_MS);
}

static void
description_done(struct discovery *d, struct fetch *f)
{
	struct msg_speaker s;
	struct speaker_entry *e;
	struct household *h;
	const struct topology_member *m = NULL;
	enum table_change change;
	char displaced[48];

	source_ok(&d->sources, f->host);
	if (!household_allowed(d, f->household)) {
		household_excluded(d, f->household, f->host);
		if (f->manual >= 0)
			d->manual[f->manual].excluded = 1;
		return;
	}
	memset(&s, 0, sizeof(s));
	msg_strlcpy(s.uuid, f->desc.uuid, sizeof(s.uuid));
	msg_strlcpy(s.room, f->desc.room, sizeof(s.room));
	msg_strlcpy(s.ip, f->host, sizeof(s.ip));
	msg_strlcpy(s.model, f->desc.model, sizeof(s.model));
	msg_strlcpy(s.household, f->household, sizeof(s.household));
	s.port = f->port;
	if (f->manual >= 0)
		d->manual[f->manual].failures = 0;
	change = speaker_table_update(&d->table, &s, f->how, f->bootseq, util_mono_ms(), displaced);
	if (displaced[0] != '\0')
		log_info("%s at %s:%u replaces %s there", s.uuid, s.ip, (unsigned)s.port,
		         displaced);
	if (change == TABLE_FULL) {
		log_warnx("table full (%d devices): %s at %s not added", MSG_SPEAKERS_MAX, s.uuid,
		          s.ip);
		return;
	}
	e = speaker_table_find(&d->table, s.uuid);
	h = household_get(d, e->speaker.household);
	if (h != NULL && h->topo != NULL && (m = topology_find(h->topo, s.uuid)) != NULL)
		speaker_table_apply_topology(&d->table, h->topo, h->id);
	switch (change) {
	case TABLE_ADDED:
		log_info(
		    "%s \"%s\" uuid %s ip %s:%u model \"%s\" household %s found by %s, %llu ms "
		    "after start",
		    e->role == ROLE_HIDDEN ? "device" : "speaker", s.room, s.uuid, s.ip,
		    (unsigned)s.port, s.model, s.household[0] != '\0' ? s.household : "-",
		    found_by_name(f->how), (unsigned long long)(util_mono_ms() - d->start_ms));
		advertise_check(d, &e->speaker);
		break;
	case TABLE_MOVED:
	case TABLE_REBOOTED:
		speaker_readdressed(d, e, change);
		break;
	case TABLE_CHANGED:
		log_info("speaker %s is now \"%s\", model \"%s\"", s.uuid, s.room, s.model);
		break;
	case TABLE_FULL:
	case TABLE_SAME:
		break;
	}
	/* The topology is the truth for rooms and groups: a device it does not place yet, or at
	 * another address, asks for a fresh one. */
	if (change != TABLE_SAME &&
	    (m == NULL || strcmp(m->ip, s.ip) != 0 || m->port != s.port || change != TABLE_ADDED))
		topology_want(h, TOPOLOGY_DELAY_MS);
	if (change != TABLE_SAME || displaced[0] != '\0')
		publish_soon(d);
}

static void
fetch_after_cb(uv_work_t *req, int status)
{
	struct fetch *f = req->data;
	struct discovery *d = f->d;

	d->fetches[f->slot] = NULL;
	if (f->manual >= 0)
		d->manual[f->manual].in_flight = 0;
	if (f->kind == FETCH_TOPOLOGY && status != 0)
		d->households[f->hh].in_flight = 0;
	if (status == 0 && !d->stopping) {
		if (f->kind == FETCH_TOPOLOGY)
			topology_done(d, f);
		else if (f->rc < 0)
			fetch_failed(d, f);
		else
			description_done(d, f);
		/* What the address said meanwhile, now that the fetch is over. */
		if (f->has_next)
			ssdp_act(d, &f->next, f->host);
		/* Members that found no free slot before get one now. */
		if (d->fetch_saturated) {
			d->fetch_saturated = 0;
			for (int i = 0; i < HOUSEHOLDS_MAX; i++)
				if (d->households[i].used && d->households[i].topo != NULL)
					topology_fill(d, &d->households[i], NULL);
		}
		cron_arm(d);
	}
	free(f->topo);
	free(f);
}

/* The description fetch running for host (any port), or NULL. */
static struct fetch *
description_fetch_of(struct discovery *d, const char *host)
{
	for (int i = 0; i < FETCH_MAX; i++)
		if (d->fetches[i] != NULL && d->fetches[i]->kind == FETCH_DESCRIPTION &&
		    strcmp(d->fetches[i]->host, host) == 0)
			return d->fetches[i];
	return NULL;
}

/* Start a fetch of http://host:port/path unless the same address is already being fetched the
 * same way (probe: a liveness check of a known speaker). One description fetch per host at a
 * time: a host naming many ports cannot fill the pool. Returns 0 when such a fetch is
 * running, -1 when none could be started. */
static int
fetch_start(struct discovery *d, enum fetch_kind kind, const char *host, uint16_t port,
            const char *path, enum found_by how, int manual, uint32_t bootseq, int probe,
            const char *household, int hh)
{
	struct fetch *f, *busy;
	int slot = -1;

	if (d->stopping)
		return -1;
	busy = kind == FETCH_DESCRIPTION ? description_fetch_of(d, host) : NULL;
	if (busy != NULL) {
		if (busy->port == port)
			return 0;
		log_debug("http://%s:%u%s waits for the fetch at port %u", host, (unsigned)port,
		          path, (unsigned)busy->port);
		d->fetch_saturated = 1;
		return -1;
	}
	for (int i = 0; i < FETCH_MAX; i++) {
		if (d->fetches[i] == NULL) {
			if (slot < 0)
				slot = i;
		} else if (d->fetches[i]->kind == kind && d->fetches[i]->port == port &&
		           strcmp(d->fetches[i]->host, host) == 0) {
			return 0;
		}
	}
	if (slot < 0) {
		log_debug("%d fetches queued: %s:%u waits", FETCH_MAX, host, (unsigned)port);
		d->fetch_saturated = 1;
		return -1;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		log_warn("calloc");
		return -1;
	}
	f->d = d;
	f->kind = kind;
	f->slot = slot;
	msg_strlcpy(f->host, host, sizeof(f->host));
	msg_strlcpy(f->path, path, sizeof(f->path));
	msg_strlcpy(f->household, household != NULL ? household : "", sizeof(f->household));
	f->port = port;
	f->how = how;
	f->manual = manual;
	f->bootseq = bootseq;
	f->probe = probe;
	f->hh = hh;
	f->want_household = household == NULL || household[0] == '\0';
	f->work.data = f;
	if (uv_queue_work(&d->loop, &f->work, fetch_work_cb, fetch_after_cb) != 0) {
		free(f);
		return -1;
	}
	d->fetches[slot] = f;
	if (manual >= 0)
		d->manual[manual].in_flight = 1;
	log_debug("fetching http://%s:%u%s (%s%s)", host, (unsigned)port, path,
	          kind == FETCH_TOPOLOGY ? "topology of " : found_by_name(how),
	          kind == FETCH_TOPOLOGY ? household : "");
	return 0;
}

/* 1 if a description fetch at host failed and it is held back (source_held): m is the SSDP
 * message from host that asks for another, NULL when a topology does. A speaker that was
 * powered off while its household's topology still listed it must not wait out the hold. */
static int
recently_failed(struct discovery *d, const char *host, const struct ssdp_message *m)
{
	return source_held(&d->sources, host, m != NULL, m != NULL && m->kind == SSDP_ALIVE,
	                   m != NULL && m->has_bootseq, m != NULL ? m->bootseq : 0, util_mono_ms());
}

/* ---- SSDP ------------------------------------------------------------------------------- */

static void
ssdp_byebye(struct discovery *d, const struct ssdp_message *m, const char *from)
{
	struct speaker_entry *e = speaker_table_find(&d->table, m->uuid);
	char household[64];

	if (e == NULL)
		return;
	if (strcmp(e->speaker.ip, from) != 0) {
		log_stranger(d, "byebye for %s (at %s) came from %s: ignored", m->uuid,
		             e->speaker.ip, from);
		return;
	}
	log_info("%s \"%s\" uuid %s at %s said byebye",
	         e->role == ROLE_HIDDEN ? "device" : "speaker", e->speaker.room, m->uuid, from);
	msg_strlcpy(household, e->speaker.household, sizeof(household));
	speaker_table_remove(&d->table, m->uuid);
	topology_want(household_get(d, household), TOPOLOGY_DELAY_MS);
	publish_soon(d);
}

/* A player at from answered a search or said alive: fetch its description unless it is known
 * there, held back after failures, or its host already has a fetch running (then this message
 * waits for that one to end; a newer one replaces it). */
static void
ssdp_act(struct discovery *d, const struct ssdp_message *m, const char *from)
{
	struct speaker_entry *e;
	struct fetch *busy;
	char host[64], path[200];
	uint16_t port;
	int rv;

	rv = ssdp_location_check(m->location, from, host, sizeof(host), &port, path, sizeof(path));
	if (rv == -2) {
		log_stranger(d, "%s from %s names location %s on another host: ignored", m->uuid,
		             from, m->location);
		return;
	}
	if (rv < 0) {
		log_stranger(d, "%s from %s: unusable location %s", m->uuid, from, m->location);
		return;
	}
	/* Known here and not rebooted since: nothing to fetch. */
	e = speaker_table_find(&d->table, m->uuid);
	if (e != NULL && strcmp(e->speaker.ip, host) == 0 && e->speaker.port == port &&
	    (!m->has_bootseq || e->bootseq == m->bootseq)) {
		e->seen_ms = util_mono_ms();
		e->probe_failures = 0;
		return;
	}
	if (recently_failed(d, host, m)) {
		log_debug("%s at %s: its last fetch failed, not yet again", m->uuid, m->location);
		return;
	}
	if ((busy = description_fetch_of(d, host)) != NULL) {
		log_debug("%s at %s: waits for the fetch running there", m->uuid, m->location);
		busy->next = *m;
		busy->has_next = 1;
		return;
	}
	log_debug("%s %s at %s household %s bootseq %u",
	          m->kind == SSDP_RESPONSE ? "answer" : "notify", m->uuid, m->location,
	          m->household[0] != '\0' ? m->household : "-", m->bootseq);
	fetch_start(d, FETCH_DESCRIPTION, host, port, path,
	            m->kind == SSDP_RESPONSE ? FOUND_SSDP : FOUND_NOTIFY, -1, m->bootseq, 0,
	            m->household, -1);
}

/* Act on one SSDP datagram from from (dotted IPv4) that arrived on the search or NOTIFY socket. */
static void
ssdp_received(struct discovery *d, const char *buf, size_t len, const char *from)
{
	struct ssdp_message m;

	if (ssdp_parse(buf, len, &m) < 0) {
		log_debug("%zu bytes from %s: not an SSDP message we use", len, from);
		return;
	}
	if (m.kind == SSDP_SEARCH)
		return;
	if (m.proxy) {
		log_debug("%s (%s) is a proxy, not a player: ignored", from, m.uuid);
		return;
	}
	if (strcasecmp(m.st, SSDP_ST_ZONEPLAYER) != 0)
		return; /* embedded devices, root device, other vendors */
	if (m.household[0] != '\0' && !household_allowed(d, m.household)) {
		household_excluded(d, m.household, from);
		return;
	}
	if (m.kind == SSDP_BYEBYE) {
		ssdp_byebye(d, &m, from);
		return;
	}
	ssdp_act(d, &m, from);
}

static void
udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct discovery *d = h->data;
	char *p = h == (uv_handle_t *)&d->search_udp ? d->search_buf : d->notify_buf;

	(void)suggested;
	*buf = uv_buf_init(p, SSDP_PACKET_MAX + 1);
}

static void
udp_recv_cb(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
            unsigned flags)
{
	struct discovery *d = udp->data;
	char from[INET_ADDRSTRLEN];

	if (nread < 0) {
		log_warnx("%s socket: %s", udp == &d->search_udp ? "search" : "notify",
		          uv_strerror((int)nread));
		return;
	}
	if (nread == 0 || addr == NULL || addr->sa_family != AF_INET || d->stopping)
		return;
	if ((flags & UV_UDP_PARTIAL) || nread > SSDP_PACKET_MAX)
		return; /* larger than any SSDP message a speaker sends */
	uv_ip4_name((const struct sockaddr_in *)addr, from, sizeof(from));
	ssdp_received(d, buf->base, (size_t)nread, from);
}

/* Keep the NOTIFY socket a member of the SSDP group on exactly the search interfaces. */
static void
notify_join(struct discovery *d)
{
	uv_os_fd_t fd;

	if (d->notify_open && uv_fileno((uv_handle_t *)&d->notify_udp, &fd) == 0)
		membership_sync(fd, SSDP_GROUP, &d->joined, d->search_ifs, d->nsearch_ifs);
}

/* List the interfaces again (they come and go: Wi-Fi, containers, DHCP) and pick the ones to
 * search on. */
static void
interfaces_refresh(struct discovery *d)
{
	char missing[256], desc[sizeof(d->search_desc)];
	int n = netif_list(d->all_ifs, NETIF_MAX);

	if (n < 0) {
		log_warn("getifaddrs");
		n = 0;
	}
	d->nall_ifs = n;
	d->nsearch_ifs = netif_select(d->all_ifs, n, d->cfg->multicast_if, d->search_ifs, NETIF_MAX,
	                              missing, sizeof(missing));
	if (missing[0] != '\0')
		log_stranger(d, "multicast_if: no interface %s", missing);
	netif_describe(d->search_ifs, d->nsearch_ifs, desc, sizeof(desc));
	if (d->nsearch_ifs == 0)
		snprintf(desc, sizeof(desc),
		         "the default interface (no multicast interface found)");
	if (strcmp(desc, d->search_desc) != 0) {
		log_info("searching on %s", desc);
		msg_strlcpy(d->search_desc, desc, sizeof(d->search_desc));
	}
	notify_join(d);
}

static void
search_start(struct discovery *d)
{
	uint64_t now = util_mono_ms();
	uint64_t window = (uint64_t)d->cfg->discovery_timeout_ms;

	if (window < (SEARCH_SENDS - 1) * SEARCH_SPACING_MS + 100)
		window = (SEARCH_SENDS - 1) * SEARCH_SPACING_MS + 100;
	interfaces_refresh(d);
	d->searches++;
	d->search_before_ms = d->search_ms;
	d->search_ms = now;
	d->sends_left = SEARCH_SENDS;
	d->next_send_ms = now;
	d->window_end_ms = now + window;
	d->next_search_ms = now + d->search_period_ms;
	log_debug("search %u: %llu ms window, %d devices known", d->searches,
	          (unsigned long long)window, d->table.count);
}

static void
search_send_to(struct discovery *d, const char *ifname, const char *dest, const uv_buf_t *buf)
{
	struct sockaddr_in to;
	int rv;

	uv_ip4_addr(dest, SSDP_PORT, &to);
	rv = uv_udp_try_send(&d->search_udp, buf, 1, (const struct sockaddr *)&to);
	if (rv >= 0)
		return;
	if (d->send_failures++ < STRANGER_WARN_MAX)
		log_warnx("M-SEARCH to %s:%d on %s: %s", dest, SSDP_PORT, ifname, uv_strerror(rv));
	else
		log_debug("M-SEARCH to %s:%d on %s: %s", dest, SSDP_PORT, ifname, uv_strerror(rv));
}

/* One M-SEARCH to the group on every search interface, and (first send of a search) to each
 * interface's broadcast address: some networks drop multicast but pass broadcast. */
static void
search_send(struct discovery *d, int first)
{
	char msg[512];
	uv_buf_t buf;
	int n, rv;

	n = ssdp_build_msearch(msg, sizeof(msg), SSDP_ST_ZONEPLAYER, 1);
	buf = uv_buf_init(msg, (unsigned)n);
	if (d->nsearch_ifs == 0) {
		search_send_to(d, "the default interface", SSDP_GROUP, &buf);
		return;
	}
	for (int i = 0; i < d->nsearch_ifs; i++) {
		const struct netif *ifc = &d->search_ifs[i];

		if ((rv = uv_udp_set_multicast_interface(&d->search_udp, ifc->addr)) != 0) {
			log_debug("IP_MULTICAST_IF %s: %s", ifc->addr, uv_strerror(rv));
			continue;
		}
		search_send_to(d, ifc->name, SSDP_GROUP, &buf);
		if (first && ifc->broadcast[0] != '\0')
			search_send_to(d, ifc->name, ifc->broadcast, &buf);
	}
}

/* Fetch the description of every device not heard from for two searches (this one and the
 * one before: nothing since the one before began): a player that lost power sends no byebye,
 * and would otherwise stay in the table for good. Counting searches, not milliseconds, keeps
 * an answer's delay from pushing the probe one search later. */
static void
probe_stale(struct discovery *d)
{
	if (d->search_before_ms == 0)
		return;
	for (int i = 0; i < d->table.count; i++) {
		const struct speaker_entry *e = &d->table.entries[i];

		if (e->seen_ms < d->search_before_ms)
			fetch_start(d, FETCH_DESCRIPTION, e->speaker.ip, e->speaker.port,
			            DESCRIPTION_PATH, e->found_by, -1, e->bootseq, 1,
			            e->speaker.household, -1);
	}
}

/* The search window is over: probe silent devices, and if SSDP found nothing (or not every
 * manual address), fall back to the configured addresses. */
static void
search_window_end(struct discovery *d)
{
	uint64_t now = util_mono_ms();
	int missing = 0;

	d->window_end_ms = 0;
	probe_stale(d);
	for (int i = 0; i < d->nmanual; i++)
		if (!d->manual[i].active &&
		    speaker_table_find_ip(&d->table, d->manual[i].ip) == NULL)
			missing++;
	log_debug("search %u over: %d devices known, %d manual addresses not yet known",
	          d->searches, d->table.count, missing);
	if (missing == 0)
		return;
	if (d->table.count == 0)
		log_info("automatic discovery failed, trying manual configuration");
	for (int i = 0; i < d->nmanual; i++) {
		struct manual_speaker *m = &d->manual[i];

		if (m->active || speaker_table_find_ip(&d->table, m->ip) != NULL)
			continue;
		if (d->table.count > 0)
			log_info("manual speaker %s not found by SSDP, fetching its description",
			         m->ip);
		m->active = 1;
		m->next_try_ms = now;
	}
}

static int
manual_waiting(const struct discovery *d, const struct manual_speaker *m)
{
	struct speaker_table *t = (struct speaker_table *)&d->table;

	return m->active && !m->in_flight && !m->excluded &&
	       speaker_table_find_ip(t, m->ip) == NULL;
}

static void
manual_due(struct discovery *d, uint64_t now)
{
	for (int i = 0; i < d->nmanual; i++) {
		struct manual_speaker *m = &d->manual[i];

		if (!manual_waiting(d, m) || m->next_try_ms > now)
			continue;
		if (fetch_start(d, FETCH_DESCRIPTION, m->ip, SONOS_PORT, DESCRIPTION_PATH,
		                FOUND_MANUAL, i, 0, 0, "", -1) < 0)
			m->next_try_ms = now + MANUAL_BACKOFF_MIN_MS;
	}
}

/* Devices no topology has placed become listed after TOPOLOGY_GRACE_MS (a household whose
 * ZoneGroupState cannot be read still gets its speakers): publish when one crosses it. */
static void
grace_due(struct discovery *d, uint64_t now)
{
	for (int i = 0; i < d->table.count; i++) {
		const struct speaker_entry *e = &d->table.entries[i];
		uint64_t at = e->added_ms + TOPOLOGY_GRACE_MS;

		if (e->role == ROLE_UNKNOWN && at <= now && at > d->last_cron_ms) {
			log_warnx("no topology places \"%s\" %s (household %s) yet: listed as a "
			          "speaker of its own",
			          e->speaker.room, e->speaker.uuid,
			          e->speaker.household[0] != '\0' ? e->speaker.household : "-");
			publish_soon(d);
		}
	}
}

/* One timer for every periodic job (Redis "cron" style): run what is due, sleep until the
 * next thing is. */
static void
cron_cb(uv_timer_t *t)
{
	struct discovery *d = t->data;
	uint64_t now = util_mono_ms();
	unsigned suppressed;

	if (d->sends_left > 0 && d->next_send_ms <= now) {
		search_send(d, d->sends_left == SEARCH_SENDS);
		d->sends_left--;
		d->next_send_ms = now + SEARCH_SPACING_MS;
	}
	if (d->window_end_ms != 0 && d->window_end_ms <= now)
		search_window_end(d);
	if (d->next_search_ms <= now)
		search_start(d);
	manual_due(d, now);
	for (int i = 0; i < HOUSEHOLDS_MAX; i++) {
		struct household *h = &d->households[i];

		if (h->used && !h->in_flight && h->next_poll_ms != 0 && h->next_poll_ms <= now)
			topology_start(d, h);
	}
	grace_due(d, now);
	if ((suppressed = source_summary_due(&d->sources, now)) > 0)
		log_warnx("%u more failed fetches not logged (one warning per address a minute)",
		          suppressed);
	d->last_cron_ms = now;
	if ((d->publish_due_ms != 0 && d->publish_due_ms <= now) || d->next_publish_ms <= now)
		publish(d);
	cron_arm(d);
}

static void
cron_arm(struct discovery *d)
{
	uint64_t now = util_mono_ms(), next = d->next_search_ms;

#define SOONER(t)                                                                                  \
	do {                                                                                       \
		if ((t) < next)                                                                    \
			next = (t);                                                                \
	} while (0)

	if (d->stopping)
		return;
	if (d->sends_left > 0)
		SOONER(d->next_send_ms);
	if (d->window_end_ms != 0)
		SOONER(d->window_end_ms);
	SOONER(d->next_publish_ms);
	if (d->publish_due_ms != 0)
		SOONER(d->publish_due_ms);
	for (int i = 0; i < d->nmanual; i++)
		if (manual_waiting(d, &d->manual[i]))
			SOONER(d->manual[i].next_try_ms);
	for (int i = 0; i < HOUSEHOLDS_MAX; i++)
		if (d->households[i].used && !d->households[i].in_flight &&
		    d->households[i].next_poll_ms != 0)
			SOONER(d->households[i].next_poll_ms);
	for (int i = 0; i < d->table.count; i++)
		if (d->table.entries[i].role == ROLE_UNKNOWN &&
		    d->table.entries[i].added_ms + TOPOLOGY_GRACE_MS > now)
			SOONER(d->table.entries[i].added_ms + TOPOLOGY_GRACE_MS);
#undef SOONER
	uv_timer_start(&d->cron, cron_cb, next > now ? next - now : 0, 0);
}

static void
inbox_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	struct discovery *d = ctx;
	uint64_t now = util_mono_ms();

	(void)payload;
	switch (hdr->type) {
	case MSG_SPEAKERS_QUERY:
		publish(d);
		/* Someone restarted, or saw a speaker refuse (not the coordinator any more?):
		 * a fresh topology follows the snapshot. */
		{
			/* At most one refresh a second; a query inside that second is deferred
			 * to its end, not dropped (a join right after a start must show). */
			uint64_t wait =
			    now - d->last_query_refresh_ms >= TOPOLOGY_QUERY_MIN_MS
			        ? 0
			        : d->last_query_refresh_ms + TOPOLOGY_QUERY_MIN_MS - now;

			d->last_query_refresh_ms = now + wait;
			for (int i = 0; i < HOUSEHOLDS_MAX; i++)
				if (d->households[i].used)
					topology_want(&d->households[i], wait);
		}
		cron_arm(d);
		break;
	default:
		log_warnx("unexpected %s (seq %u) in the inbox", msg_type_name(hdr->type),
		          hdr->seq);
		break;
	}
}

static void
discovery_stop(struct discovery *d)
{
	uv_handle_t *handles[] = {(uv_handle_t *)&d->cron, (uv_handle_t *)&d->search_udp,
	                          (uv_handle_t *)&d->notify_udp, (uv_handle_t *)&d->sigterm,
	                          (uv_handle_t *)&d->sigint};

	if (d->stopping)
		return;
	d->stopping = 1;
	for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
		if (!uv_is_closing(handles[i]))
			uv_close(handles[i], NULL); /* embedded in d: nothing to free per handle */
	if (d->reader_started)
		bus_reader_close(&d->reader);
	/* Queued fetches are dropped; running ones end within their timeout. */
	for (int i = 0; i < FETCH_MAX; i++)
		if (d->fetches[i] != NULL)
			uv_cancel((uv_req_t *)&d->fetches[i]->work);
}

static void
signal_cb(uv_signal_t *s, int signum)
{
	struct discovery *d = s->data;

	log_info("signal %d: stopping after %u searches, %d devices known", signum, d->searches,
	         d->table.count);
	discovery_stop(d);
}

/* The search socket: every interface, an ephemeral port; answers come back to it. */
static int
search_socket_open(struct discovery *d)
{
	struct sockaddr_in a;
	int rv;

	uv_ip4_addr("0.0.0.0", 0, &a);
	if ((rv = uv_udp_bind(&d->search_udp, (const struct sockaddr *)&a, 0)) != 0) {
		log_warnx("search socket bind: %s", uv_strerror(rv));
		return -1;
	}
	/* TTL 1: speakers are on this subnet, and alive NOTIFYs use 1 too. */
	if ((rv = uv_udp_set_multicast_ttl(&d->search_udp, 1)) != 0 ||
	    (rv = uv_udp_set_multicast_loop(&d->search_udp, 1)) != 0 ||
	    (rv = uv_udp_set_broadcast(&d->search_udp, 1)) != 0 ||
	    (rv = uv_udp_recv_start(&d->search_udp, udp_alloc_cb, udp_recv_cb)) != 0) {
		log_warnx("search socket: %s", uv_strerror(rv));
		return -1;
	}
	return 0;
}

/* The SSDP group port for NOTIFYs; groups are joined per interface by notify_join. Optional:
 * searches work without it. */
static int
notify_socket_open(struct discovery *d)
{
	struct sockaddr_in a;
	uv_os_fd_t fd;
	int rv, off = 0;

	/* Bound to the group address, so only multicast to the group arrives here. */
	uv_ip4_addr(SSDP_GROUP, SSDP_PORT, &a);
	if ((rv = uv_udp_bind(&d->notify_udp, (const struct sockaddr *)&a, UV_UDP_REUSEADDR)) != 0)
		goto fail;
	/* Without this Linux also delivers the group's traffic from interfaces we did not join. */
	if (uv_fileno((uv_handle_t *)&d->notify_udp, &fd) == 0)
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof(off));
	if ((rv = uv_udp_recv_start(&d->notify_udp, udp_alloc_cb, udp_recv_cb)) != 0)
		goto fail;
	d->notify_open = 1;
	return 0;
fail:
	log_warnx("NOTIFY listener on %s:%d off: %s", SSDP_GROUP, SSDP_PORT, uv_strerror(rv));
	return -1;
}

/* Bind the bus sockets and set up every handle. Returns 0 or -1 (already logged). */
static int
discovery_open(struct discovery *d)
{
	char ips[CONFIG_MAX_SPEAKERS][64];
	int rv;

	if (util_mkdir_p(d->cfg->runtime_dir, 0700) < 0)
		log_warn("mkdir %s", d->cfg->runtime_dir);
	if ((rv = bus_pub_listen(&d->pub, d->cfg->runtime_dir, "discoveryd")) != 0) {
		log_errorx("publisher in %s: %s", d->cfg->runtime_dir, nng_strerror(rv));
		return -1;
	}
	if ((rv = bus_inbox_listen(&d->inbox, d->cfg->runtime_dir, "discoveryd")) != 0) {
		log_errorx("inbox in %s: %s", d->cfg->runtime_dir, nng_strerror(rv));
		nng_close(d->pub);
		return -1;
	}
	/* From here on every handle is initialised, so discovery_stop can close them all. */
	uv_timer_init(&d->loop, &d->cron);
	uv_udp_init(&d->loop, &d->search_udp);
	uv_udp_init(&d->loop, &d->notify_udp);
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	d->cron.data = d->search_udp.data = d->notify_udp.data = d;
	d->sigterm.data = d->sigint.data = d;
	if (bus_reader_start(&d->reader, &d->loop, d->inbox, "inbox", inbox_cb, d) != 0)
		return -1;
	d->reader_started = 1;
	if (uv_signal_start(&d->sigterm, signal_cb, SIGTERM) != 0 ||
	    uv_signal_start(&d->sigint, signal_cb, SIGINT) != 0) {
		log_errorx("uv_signal_start failed");
		return -1;
	}
	if (search_socket_open(d) < 0)
		return -1;
	notify_socket_open(d);
	d->nmanual = config_speaker_list(d->cfg, ips, CONFIG_MAX_SPEAKERS);
	for (int i = 0; i < d->nmanual; i++)
		msg_strlcpy(d->manual[i].ip, ips[i], sizeof(d->manual[i].ip));
	return 0;
}

/* Health facts for the supervisor (health_facts_fn): the table and how searching goes. The
 * time of the last search is noted when a survey sees the count move (to about a period). */
static void
discovery_health_facts(void *ctx, struct strbuf *out)
{
	static unsigned seen_searches;
	static uint64_t seen_ms;
	struct discovery *d = ctx;
	uint64_t now = util_mono_ms();
	int listed = 0, hidden = 0, households = 0, n = 0;

	if (d->searches != seen_searches) {
		seen_searches = d->searches;
		seen_ms = now;
	}
	for (int i = 0; i < d->table.count; i++) {
		if (speaker_entry_listed(&d->table.entries[i], now, TOPOLOGY_GRACE_MS))
			listed++;
		else if (d->table.entries[i].role == ROLE_HIDDEN)
			hidden++;
	}
	for (int i = 0; i < HOUSEHOLDS_MAX; i++)
		households += d->households[i].used;
	strbuf_printf(out,
	              "{\"speakers_known\":%d,\"devices_hidden\":%d,\"households\":%d,"
	              "\"searches\":%u,\"last_search_ago_ms\":%llu,\"searching\":%s,"
	              "\"speakers\":[",
	              listed, hidden, households, d->searches, (unsigned long long)(now - seen_ms),
	              d->window_end_ms != 0 ? "true" : "false");
	for (int i = 0; i < d->table.count; i++) {
		const struct msg_speaker *s = &d->table.entries[i].speaker;

		if (!speaker_entry_listed(&d->table.entries[i], now, TOPOLOGY_GRACE_MS))
			continue;
		strbuf_puts(out, n++ ? ",{\"room\":" : "{\"room\":");
		health_json_string(out, s->room);
		strbuf_puts(out, ",\"uuid\":");
		health_json_string(out, s->uuid);
		strbuf_puts(out, ",\"ip\":");
		health_json_string(out, s->ip);
		strbuf_printf(out, ",\"port\":%u,\"model\":", s->port);
		health_json_string(out, s->model);
		strbuf_puts(out, ",\"coordinator\":");
		health_json_string(out, s->coordinator[0] != '\0' ? s->coordinator : s->uuid);
		strbuf_puts(out, "}");
	}
	strbuf_puts(out, "]}");
}

int
discovery_run(const struct config *cfg)
{
	struct discovery *d = calloc(1, sizeof(*d));
	int status = 0, rv;

	if (d == NULL ||
	    (d->snapshot = malloc(sizeof(struct msg_speakers) +
	                          MSG_SPEAKERS_MAX * sizeof(struct msg_speaker))) == NULL)
		fatal("malloc");
	d->cfg = cfg;
	d->search_period_ms = (uint64_t)cfg->search_interval_s * 1000;
	if ((rv = uv_loop_init(&d->loop)) != 0)
		fatalx("uv_loop_init: %s", uv_strerror(rv));
	d->start_ms = d->last_cron_ms = util_mono_ms();
	if (discovery_open(d) < 0) {
		status = EXIT_TEMPORARY;
		if (d->cron.loop != NULL) /* handles exist: close them through the loop */
			discovery_stop(d);
	} else {
		log_info("%d manual speakers, window %d ms, search every %d s%s%s", d->nmanual,
		         cfg->discovery_timeout_ms, cfg->search_interval_s,
		         cfg->household[0] != '\0' ? ", households " : "", cfg->household);
		search_start(d);
		/* The first snapshot waits for the first search, so that subscribers do not see
		 * an empty table after a restart; a change or a query publishes sooner. */
		d->next_publish_ms = d->window_end_ms;
		cron_arm(d);
		/* Sockets bound, first search under way: ready. */
		health_start(&d->loop, cfg->runtime_dir, "discoveryd", discovery_health_facts, d);
		health_ready();
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	health_finish(&d->loop);
	if (d->cron.loop != NULL) {
		nng_close(d->inbox);
		nng_close(d->pub);
	}
	if ((rv = uv_loop_close(&d->loop)) != 0)
		log_warnx("uv_loop_close: %s", uv_strerror(rv));
	for (int i = 0; i < HOUSEHOLDS_MAX; i++)
		free(d->households[i].topo);
	free(d->snapshot);
	free(d);
	return status;
}
