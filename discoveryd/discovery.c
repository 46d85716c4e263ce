/* discovery.c -- discoveryd's I/O: SSDP search and NOTIFY on libuv, description fetches on
 * the thread pool, manual speakers with backoff, and the speaker table published on the bus. */
#include "discovery.h"
#include "bus.h"
#include "description.h"
#include "http_client.h"
#include "health.h"
#include "log.h"
#include "msg.h"
#include "speaker_table.h"
#include "ssdp.h"
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
#define SEARCH_PERIOD_MS 60000 /* re-search, to find speakers that came up since */
#define PUBLISH_PERIOD_MS 5000 /* full snapshot even without a change: PUB/SUB is lossy */
#define FETCH_TIMEOUT_MS 2000
#define FETCH_MAX 16 /* description fetches in flight */
#define MANUAL_BACKOFF_MIN_MS 1000
#define MANUAL_BACKOFF_MAX_MS 60000
#define SONOS_PORT 1400
#define DESCRIPTION_PATH "/xml/device_description.xml"
#define STALE_MS (2 * SEARCH_PERIOD_MS + 5000) /* unheard this long: probe its description */
#define PROBE_FAILURES_MAX 2 /* failed probes in a row before a speaker is dropped */
#define FAILED_HOLD_MS 30000 /* an address whose fetch failed is not fetched again for this */
#define FAILED_MAX 16        /* remembered failed addresses (a ring) */
#define STRANGER_WARN_MAX 10 /* then debug: a noisy LAN must not fill the log */

struct manual_speaker {
	char ip[64];
	int active; /* the manual fallback covers this address */
	int in_flight;
	unsigned failures; /* consecutive failed fetches */
	uint64_t next_try_ms;
};

/* One description fetch, run on the libuv thread pool. */
struct fetch {
	uv_work_t work;
	struct discovery *d;
	int slot; /* index in d->fetches */
	char host[64];
	uint16_t port;
	char path[200];
	enum found_by how;
	int manual; /* index in d->manual, or -1 */
	int probe;  /* a liveness check of a known speaker */
	uint32_t bootseq;
	/* Results, written by the worker thread, read after it is done. */
	int rc; /* 0 or a negative errno */
	char err[160];
	struct speaker_description desc;
};

/* An SSDP-announced address whose description fetch failed recently. */
struct failed_address {
	char host[64];
	uint16_t port;
	uint64_t until_ms;
};

struct discovery {
	const struct config *cfg;
	uv_loop_t loop;
	uv_udp_t search_udp; /* ephemeral port: M-SEARCH out, answers in */
	uv_udp_t notify_udp; /* SSDP group port: NOTIFY alive/byebye in */
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
	struct msg_speakers *snapshot; /* room for MSG_SPEAKERS_MAX entries */

	uint64_t start_ms;
	unsigned searches;
	int sends_left;
	uint64_t next_send_ms;
	uint64_t window_end_ms; /* 0 outside a search window */
	uint64_t next_search_ms;
	uint64_t next_publish_ms;
	unsigned stranger_warnings;
	struct failed_address failed[FAILED_MAX];
	unsigned failed_next; /* ring position */
	char search_buf[SSDP_PACKET_MAX + 1];
	char notify_buf[SSDP_PACKET_MAX + 1];
};

static void cron_arm(struct discovery *d);

static void
publish(struct discovery *d)
{
	size_t len = speaker_table_snapshot(&d->table, d->snapshot);
	int rv = bus_send(d->pub, MSG_SPEAKERS, d->snapshot, len);

	if (rv != 0)
		log_debug("MSG_SPEAKERS: %s", nng_strerror(rv));
	d->next_publish_ms = util_mono_ms() + PUBLISH_PERIOD_MS;
}

static void
fetch_work_cb(uv_work_t *req)
{
	struct fetch *f = req->data;
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
}

/* A known speaker did not answer its liveness probe: drop it after PROBE_FAILURES_MAX in a
 * row. A manual address is then retried by the manual fallback, an SSDP one re-found when it
 * answers again. */
static void
probe_failed(struct discovery *d, struct fetch *f)
{
	struct speaker_entry *e = speaker_table_find_ip(&d->table, f->host);

	if (e == NULL || e->speaker.port != f->port)
		return;
	if (++e->probe_failures < PROBE_FAILURES_MAX) {
		log_debug("speaker \"%s\" at %s:%u: probe failed: %s", e->speaker.room, f->host,
		          (unsigned)f->port, f->err);
		return;
	}
	log_info("speaker \"%s\" uuid %s at %s:%u is gone (%s): removed", e->speaker.room,
	         e->speaker.uuid, f->host, (unsigned)f->port, f->err);
	speaker_table_remove(&d->table, e->speaker.uuid);
	publish(d);
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
		struct failed_address *fa = &d->failed[d->failed_next++ % FAILED_MAX];

		log_warnx("http://%s:%u%s: %s (not retried for %d s)", f->host, (unsigned)f->port,
		          f->path, f->err, FAILED_HOLD_MS / 1000);
		msg_strlcpy(fa->host, f->host, sizeof(fa->host));
		fa->port = f->port;
		fa->until_ms = util_mono_ms() + FAILED_HOLD_MS;
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

static void
fetch_done(struct discovery *d, struct fetch *f)
{
	struct msg_speaker s;
	enum table_change change;
	char displaced[48];

	memset(&s, 0, sizeof(s));
	msg_strlcpy(s.uuid, f->desc.uuid, sizeof(s.uuid));
	msg_strlcpy(s.room, f->desc.room, sizeof(s.room));
	msg_strlcpy(s.ip, f->host, sizeof(s.ip));
	msg_strlcpy(s.model, f->desc.model, sizeof(s.model));
	s.port = f->port;
	if (f->manual >= 0)
		d->manual[f->manual].failures = 0;
	change = speaker_table_update(&d->table, &s, f->how, f->bootseq, util_mono_ms(), displaced);
	if (displaced[0] != '\0')
		log_info("%s at %s:%u replaces %s there", s.uuid, s.ip, (unsigned)s.port,
		         displaced);
	switch (change) {
	case TABLE_ADDED:
		log_info("speaker \"%s\" uuid %s ip %s:%u model \"%s\" found by %s, %llu ms after "
		         "start",
		         s.room, s.uuid, s.ip, (unsigned)s.port, s.model, found_by_name(f->how),
		         (unsigned long long)(util_mono_ms() - d->start_ms));
		break;
	case TABLE_MOVED:
		log_info("speaker \"%s\" uuid %s moved to %s:%u (%s)", s.room, s.uuid, s.ip,
		         (unsigned)s.port, found_by_name(f->how));
		break;
	case TABLE_CHANGED:
		log_info("speaker %s is now \"%s\", model \"%s\"", s.uuid, s.room, s.model);
		break;
	case TABLE_FULL:
		log_warnx("table full (%d speakers): %s at %s not added", MSG_SPEAKERS_MAX, s.uuid,
		          s.ip);
		return;
	case TABLE_SAME:
		break;
	}
	if (change != TABLE_SAME || displaced[0] != '\0')
		publish(d);
}

static void
fetch_after_cb(uv_work_t *req, int status)
{
	struct fetch *f = req->data;
	struct discovery *d = f->d;

	d->fetches[f->slot] = NULL;
	if (f->manual >= 0)
		d->manual[f->manual].in_flight = 0;
	if (status == 0 && !d->stopping) {
		if (f->rc < 0)
			fetch_failed(d, f);
		else
			fetch_done(d, f);
		cron_arm(d);
	}
	free(f);
}

/* Start fetching http://host:port/path unless the same address is already being fetched (probe:
 * a liveness check of a known speaker). Returns 0 when a fetch is running for that address,
 * -1 when none could be started. */
static int
fetch_start(struct discovery *d, const char *host, uint16_t port, const char *path,
            enum found_by how, int manual, uint32_t bootseq, int probe)
{
	struct fetch *f;
	int slot = -1;

	if (d->stopping)
		return -1;
	for (int i = 0; i < FETCH_MAX; i++) {
		if (d->fetches[i] == NULL) {
			if (slot < 0)
				slot = i;
		} else if (d->fetches[i]->port == port && strcmp(d->fetches[i]->host, host) == 0) {
			return 0;
		}
	}
	if (slot < 0) {
		log_debug("%d fetches running: %s:%u waits for the next answer", FETCH_MAX, host,
		          (unsigned)port);
		return -1;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		log_warn("calloc");
		return -1;
	}
	f->d = d;
	f->slot = slot;
	msg_strlcpy(f->host, host, sizeof(f->host));
	msg_strlcpy(f->path, path, sizeof(f->path));
	f->port = port;
	f->how = how;
	f->manual = manual;
	f->bootseq = bootseq;
	f->probe = probe;
	f->work.data = f;
	if (uv_queue_work(&d->loop, &f->work, fetch_work_cb, fetch_after_cb) != 0) {
		free(f);
		return -1;
	}
	d->fetches[slot] = f;
	if (manual >= 0)
		d->manual[manual].in_flight = 1;
	log_debug("fetching http://%s:%u%s (%s)", host, (unsigned)port, path, found_by_name(how));
	return 0;
}

/* 1 if a fetch of host:port failed less than FAILED_HOLD_MS ago. */
static int
recently_failed(const struct discovery *d, const char *host, uint16_t port)
{
	uint64_t now = util_mono_ms();

	for (int i = 0; i < FAILED_MAX; i++)
		if (d->failed[i].until_ms > now && d->failed[i].port == port &&
		    strcmp(d->failed[i].host, host) == 0)
			return 1;
	return 0;
}

/* Log a message about a device we will not act on: at warn for the first few, then debug. */
#define log_stranger(d, ...)                                                                       \
	do {                                                                                       \
		if ((d)->stranger_warnings++ < STRANGER_WARN_MAX)                                  \
			log_warnx(__VA_ARGS__);                                                    \
		else                                                                               \
			log_debug(__VA_ARGS__);                                                    \
	} while (0)

static void
ssdp_byebye(struct discovery *d, const struct ssdp_message *m, const char *from)
{
	struct speaker_entry *e = speaker_table_find(&d->table, m->uuid);

	if (e == NULL)
		return;
	if (strcmp(e->speaker.ip, from) != 0) {
		log_stranger(d, "byebye for %s (at %s) came from %s: ignored", m->uuid,
		             e->speaker.ip, from);
		return;
	}
	log_info("speaker \"%s\" uuid %s at %s said byebye", e->speaker.room, m->uuid, from);
	speaker_table_remove(&d->table, m->uuid);
	publish(d);
}

/* Act on one SSDP datagram from from (dotted IPv4) that arrived on the search or NOTIFY socket. */
static void
ssdp_received(struct discovery *d, const char *buf, size_t len, const char *from)
{
	struct ssdp_message m;
	struct speaker_entry *e;
	char host[64], path[200];
	uint16_t port;
	int rv;

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
	if (m.kind == SSDP_BYEBYE) {
		ssdp_byebye(d, &m, from);
		return;
	}
	rv = ssdp_location_check(m.location, from, host, sizeof(host), &port, path, sizeof(path));
	if (rv == -2) {
		log_stranger(d, "%s from %s names location %s on another host: ignored", m.uuid,
		             from, m.location);
		return;
	}
	if (rv < 0) {
		log_stranger(d, "%s from %s: unusable location %s", m.uuid, from, m.location);
		return;
	}
	/* Known here and not rebooted since: nothing to fetch. */
	e = speaker_table_find(&d->table, m.uuid);
	if (e != NULL && strcmp(e->speaker.ip, host) == 0 && e->speaker.port == port &&
	    (!m.has_bootseq || e->bootseq == m.bootseq)) {
		e->seen_ms = util_mono_ms();
		e->probe_failures = 0;
		return;
	}
	if (recently_failed(d, host, port)) {
		log_debug("%s at %s: its last fetch failed, not yet again", m.uuid, m.location);
		return;
	}
	log_debug("%s %s at %s household %s bootseq %u",
	          m.kind == SSDP_RESPONSE ? "answer" : "notify", m.uuid, m.location,
	          m.household[0] != '\0' ? m.household : "-", m.bootseq);
	fetch_start(d, host, port, path, m.kind == SSDP_RESPONSE ? FOUND_SSDP : FOUND_NOTIFY, -1,
	            m.bootseq, 0);
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

static void
search_start(struct discovery *d)
{
	uint64_t now = util_mono_ms();
	uint64_t window = (uint64_t)d->cfg->discovery_timeout_ms;

	if (window < (SEARCH_SENDS - 1) * SEARCH_SPACING_MS + 100)
		window = (SEARCH_SENDS - 1) * SEARCH_SPACING_MS + 100;
	d->searches++;
	d->sends_left = SEARCH_SENDS;
	d->next_send_ms = now;
	d->window_end_ms = now + window;
	d->next_search_ms = now + SEARCH_PERIOD_MS;
	log_debug("search %u: %llu ms window, %d speakers known", d->searches,
	          (unsigned long long)window, d->table.count);
}

static void
search_send(struct discovery *d)
{
	char msg[512];
	struct sockaddr_in group;
	uv_buf_t buf;
	int n, rv;

	n = ssdp_build_msearch(msg, sizeof(msg), SSDP_ST_ZONEPLAYER, 1);
	uv_ip4_addr(SSDP_GROUP, SSDP_PORT, &group);
	buf = uv_buf_init(msg, (unsigned)n);
	rv = uv_udp_try_send(&d->search_udp, &buf, 1, (const struct sockaddr *)&group);
	if (rv < 0)
		log_warnx("M-SEARCH to %s:%d: %s", SSDP_GROUP, SSDP_PORT, uv_strerror(rv));
}

/* The search window is over: if SSDP found nothing (or not every manual address), fall back
 * to the configured addresses. */
/* Fetch the description of every speaker not heard from for STALE_MS: a player that lost
 * power sends no byebye, and would otherwise stay in the table for good. */
static void
probe_stale(struct discovery *d, uint64_t now)
{
	for (int i = 0; i < d->table.count; i++) {
		const struct msg_speaker *s = &d->table.entries[i].speaker;

		if (now - d->table.entries[i].seen_ms >= STALE_MS)
			fetch_start(d, s->ip, s->port, DESCRIPTION_PATH,
			            d->table.entries[i].found_by, -1, d->table.entries[i].bootseq,
			            1);
	}
}

static void
search_window_end(struct discovery *d)
{
	uint64_t now = util_mono_ms();
	int missing = 0;

	d->window_end_ms = 0;
	probe_stale(d, now);
	for (int i = 0; i < d->nmanual; i++)
		if (!d->manual[i].active &&
		    speaker_table_find_ip(&d->table, d->manual[i].ip) == NULL)
			missing++;
	log_debug("search %u over: %d speakers known, %d manual addresses not yet known",
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

static void
manual_due(struct discovery *d, uint64_t now)
{
	for (int i = 0; i < d->nmanual; i++) {
		struct manual_speaker *m = &d->manual[i];

		if (!m->active || m->in_flight || m->next_try_ms > now ||
		    speaker_table_find_ip(&d->table, m->ip) != NULL)
			continue;
		if (fetch_start(d, m->ip, SONOS_PORT, DESCRIPTION_PATH, FOUND_MANUAL, i, 0, 0) < 0)
			m->next_try_ms = now + MANUAL_BACKOFF_MIN_MS;
	}
}

/* One timer for every periodic job (Redis "cron" style): run what is due, sleep until the
 * next thing is. */
static void
cron_cb(uv_timer_t *t)
{
	struct discovery *d = t->data;
	uint64_t now = util_mono_ms();

	if (d->sends_left > 0 && d->next_send_ms <= now) {
		search_send(d);
		d->sends_left--;
		d->next_send_ms = now + SEARCH_SPACING_MS;
	}
	if (d->window_end_ms != 0 && d->window_end_ms <= now)
		search_window_end(d);
	if (d->next_search_ms <= now)
		search_start(d);
	manual_due(d, now);
	if (d->next_publish_ms <= now)
		publish(d);
	cron_arm(d);
}

static void
cron_arm(struct discovery *d)
{
	uint64_t now = util_mono_ms(), next = d->next_search_ms;

	if (d->stopping)
		return;
	if (d->sends_left > 0 && d->next_send_ms < next)
		next = d->next_send_ms;
	if (d->window_end_ms != 0 && d->window_end_ms < next)
		next = d->window_end_ms;
	if (d->next_publish_ms < next)
		next = d->next_publish_ms;
	for (int i = 0; i < d->nmanual; i++) {
		const struct manual_speaker *m = &d->manual[i];

		if (m->active && !m->in_flight && m->next_try_ms < next &&
		    speaker_table_find_ip(&d->table, m->ip) == NULL)
			next = m->next_try_ms;
	}
	uv_timer_start(&d->cron, cron_cb, next > now ? next - now : 0, 0);
}

static void
inbox_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	struct discovery *d = ctx;

	(void)payload;
	switch (hdr->type) {
	case MSG_SPEAKERS_QUERY:
		publish(d);
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

	log_info("signal %d: stopping after %u searches, %d speakers known", signum, d->searches,
	         d->table.count);
	discovery_stop(d);
}

/* Bind the search socket to the SSDP interface on an ephemeral port. */
static int
search_socket_open(struct discovery *d)
{
	const char *ifaddr = d->cfg->multicast_if[0] != '\0' ? d->cfg->multicast_if : "0.0.0.0";
	struct sockaddr_in a;
	int rv;

	if ((rv = uv_ip4_addr(ifaddr, 0, &a)) != 0 ||
	    (rv = uv_udp_bind(&d->search_udp, (const struct sockaddr *)&a, 0)) != 0) {
		log_warnx("bind %s: %s", ifaddr, uv_strerror(rv));
		return -1;
	}
	if (d->cfg->multicast_if[0] != '\0' &&
	    (rv = uv_udp_set_multicast_interface(&d->search_udp, d->cfg->multicast_if)) != 0) {
		log_warnx("IP_MULTICAST_IF %s: %s", d->cfg->multicast_if, uv_strerror(rv));
		return -1;
	}
	/* TTL 1: speakers are on this subnet, and alive NOTIFYs use 1 too. */
	if ((rv = uv_udp_set_multicast_ttl(&d->search_udp, 1)) != 0 ||
	    (rv = uv_udp_set_multicast_loop(&d->search_udp, 1)) != 0 ||
	    (rv = uv_udp_recv_start(&d->search_udp, udp_alloc_cb, udp_recv_cb)) != 0) {
		log_warnx("search socket: %s", uv_strerror(rv));
		return -1;
	}
	return 0;
}

/* Join the SSDP group on port 1900 for NOTIFYs. Optional: searches work without it. */
static int
notify_socket_open(struct discovery *d)
{
	const char *ifaddr = d->cfg->multicast_if[0] != '\0' ? d->cfg->multicast_if : NULL;
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
	if ((rv = uv_udp_set_membership(&d->notify_udp, SSDP_GROUP, ifaddr, UV_JOIN_GROUP)) != 0 ||
	    (rv = uv_udp_recv_start(&d->notify_udp, udp_alloc_cb, udp_recv_cb)) != 0)
		goto fail;
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

	if (d->searches != seen_searches) {
		seen_searches = d->searches;
		seen_ms = now;
	}
	strbuf_printf(out, "{\"speakers_known\":%d,\"searches\":%u,\"last_search_ago_ms\":%llu,"
	              "\"searching\":%s,\"speakers\":[",
	              d->table.count, d->searches, (unsigned long long)(now - seen_ms),
	              d->window_end_ms != 0 ? "true" : "false");
	for (int i = 0; i < d->table.count; i++) {
		const struct msg_speaker *s = &d->table.entries[i].speaker;

		strbuf_puts(out, i ? ",{\"room\":" : "{\"room\":");
		health_json_string(out, s->room);
		strbuf_puts(out, ",\"uuid\":");
		health_json_string(out, s->uuid);
		strbuf_puts(out, ",\"ip\":");
		health_json_string(out, s->ip);
		strbuf_printf(out, ",\"port\":%u,\"model\":", s->port);
		health_json_string(out, s->model);
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
	if ((rv = uv_loop_init(&d->loop)) != 0)
		fatalx("uv_loop_init: %s", uv_strerror(rv));
	d->start_ms = util_mono_ms();
	if (discovery_open(d) < 0) {
		status = EXIT_TEMPORARY;
		if (d->cron.loop != NULL) /* handles exist: close them through the loop */
			discovery_stop(d);
	} else {
		log_info("searching on %s, %d manual speakers, window %d ms",
		         cfg->multicast_if[0] != '\0' ? cfg->multicast_if : "the default interface",
		         d->nmanual, cfg->discovery_timeout_ms);
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
	if (d->cron.loop != NULL) {
		nng_close(d->inbox);
		nng_close(d->pub);
	}
	if ((rv = uv_loop_close(&d->loop)) != 0)
		log_warnx("uv_loop_close: %s", uv_strerror(rv));
	free(d->snapshot);
	free(d);
	return status;
}
