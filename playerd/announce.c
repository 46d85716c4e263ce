/* announce.c -- the announcement sequence of DESIGN.md: clip, snapshot, prepare, play, wait,
 * restore. Runs on a thread-pool thread with blocking, time-bounded SOAP calls. */
#include "announce.h"
#include "bus.h"
#include "didl.h"
#include "http_client.h"
#include "log.h"
#include "rescue.h"
#include "sonos.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLIP_TIMEOUT_MS 60000 /* synthesis of a long text on a slow Pi */
#define HTTPD_ABSENT_MS 10000 /* httpd away this long is not restarting: do not wait for it */
#define HTTPD_ABSENT_WHY "httpd is not running (sonos-bridge status says why)"
#define WAIT_POLL_MS 250
#define WAIT_MARGIN_MS 3000      /* added to the clip's duration */
#define WAIT_UNREACHABLE_POLLS 8 /* transport errors in a row that end the wait as failed */
#define START_TIMEOUT_MS 10000   /* a speaker that never starts playing */
#define HTTPD_BACK_MS 5000       /* wait for a restarted httpd before asking again */
#define UNKNOWN_DURATION_MS (10 * 60 * 1000) /* clips of unknown length: stop waiting here */
#define FETCHED_MAX 64 /* clips httpd said were asked for, the latest remembered */

/* What httpd said was asked for: written on the loop thread, read by announcements. */
static struct {
	char name[96];
	uint64_t ms; /* util_mono_ms() when playerd heard it */
} fetched[FETCHED_MAX];
static unsigned fetched_next;
static pthread_mutex_t fetched_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t httpd_gone_ms; /* util_mono_ms() when httpd last went away */

void
announce_httpd_gone(void)
{
	atomic_store(&httpd_gone_ms, util_mono_ms());
}

/* How long playerd has had no connection to httpd (0 while it has one). A restart takes a
 * second or two; much longer and httpd is down (refused its configuration, or backing off). */
static uint64_t
httpd_absent_ms(const struct player_ctx *ctx)
{
	uint64_t now = util_mono_ms(), zero = 0, since;

	if (bus_link_pipes(ctx->httpd) != 0)
		return 0;
	/* Never connected yet: count from the first look, not from boot. */
	atomic_compare_exchange_strong(&httpd_gone_ms, &zero, now);
	since = atomic_load(&httpd_gone_ms);
	return now > since ? now - since : 0;
}

void
announce_clip_fetched(const struct msg_clip_fetched *m)
{
	pthread_mutex_lock(&fetched_lock);
	msg_strlcpy(fetched[fetched_next].name, m->name, sizeof(fetched[0].name));
	fetched[fetched_next].ms = util_mono_ms();
	fetched_next = (fetched_next + 1) % FETCHED_MAX;
	pthread_mutex_unlock(&fetched_lock);
}

/* 1 if httpd said clip name was asked for at or after since_ms. */
static int
clip_fetched_since(const char *name, uint64_t since_ms)
{
	int found = 0;

	pthread_mutex_lock(&fetched_lock);
	for (unsigned i = 0; i < FETCHED_MAX && !found; i++)
		found = fetched[i].ms != 0 && fetched[i].ms >= since_ms &&
		        strcmp(fetched[i].name, name) == 0;
	pthread_mutex_unlock(&fetched_lock);
	return found;
}

void
announce_event(const struct announcement *a, uint8_t status, const char *error)
{
	struct msg_event ev;

	memset(&ev, 0, sizeof(ev));
	msg_strlcpy(ev.id, a->req->id, sizeof(ev.id));
	msg_strlcpy(ev.target, a->req->target, sizeof(ev.target));
	msg_strlcpy(ev.speaker, a->speaker.room, sizeof(ev.speaker));
	msg_strlcpy(ev.uuid, a->speaker.uuid, sizeof(ev.uuid));
	ev.status = status;
	ev.duration_ms = a->duration_ms;
	msg_strlcpy(ev.error, error != NULL ? error : "", sizeof(ev.error));
	if (bus_send(a->ctx->events, MSG_EVENT, &ev, sizeof(ev)) != 0)
		log_warnx("request %s: could not hand the %s event to mqttd", ev.id,
		          event_status_name(status));
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
fail(struct announcement *a, const char *fmt, const char *detail)
{
	a->status = EVENT_FAILED;
	snprintf(a->error, sizeof(a->error), fmt, detail);
}

/* A URL is never cut: a speaker would fetch something else. Returns -1. */
static int
url_too_long(struct announcement *a)
{
	a->status = EVENT_FAILED;
	snprintf(a->error, sizeof(a->error), "clip url longer than %d bytes", MSG_CLIP_URL_MAX);
	return -1;
}

/* Ask httpd for the clip of the request's text; fills url and the duration. */
static int
clip_prepare(struct announcement *a, char *url, size_t urlsize, char *mime, size_t mimesize)
{
	const struct config *cfg = a->ctx->cfg;
	struct msg_clip_request *creq;
	struct msg_clip_reply reply;
	char host[64];
	size_t size = sizeof(*creq) + a->req->text_len;
	int rv;

	if (a->req->kind == REQUEST_CLIP) {
		if (a->req->text_len >= urlsize) {
			return url_too_long(a);
		}
		memcpy(url, a->req->text, a->req->text_len);
		url[a->req->text_len] = '\0';
		msg_strlcpy(mime, source_mime_from_url(url), mimesize);
		return 0;
	}
	if (httpd_absent_ms(a->ctx) >= HTTPD_ABSENT_MS) {
		fail(a, "speech synthesis unavailable: %s", HTTPD_ABSENT_WHY);
		return -1;
	}
	if ((creq = calloc(1, size)) == NULL) {
		fail(a, "%s", "out of memory");
		return -1;
	}
	msg_strlcpy(creq->voice, a->req->voice, sizeof(creq->voice));
	creq->text_len = a->req->text_len;
	memcpy(creq->text, a->req->text, a->req->text_len);
	memset(&reply, 0, sizeof(reply));
	rv = bus_call(a->ctx->httpd, MSG_CLIP_REQUEST, creq, size, MSG_CLIP_REPLY, &reply,
	              sizeof(reply), CLIP_TIMEOUT_MS);
	free(creq);
	if (rv != 0) {
		fail(a, "speech synthesis unavailable: %s",
		     httpd_absent_ms(a->ctx) > 0 ? HTTPD_ABSENT_WHY : nng_strerror(rv));
		return -1;
	}
	if (reply.status != 0) {
		fail(a, "speech synthesis failed: %s", reply.error);
		return -1;
	}
	a->duration_ms = reply.duration_ms;
	if (cfg->advertise_host[0] != '\0')
		msg_strlcpy(host, cfg->advertise_host, sizeof(host));
	else if (util_route_source(a->speaker.ip, host, sizeof(host)) < 0) {
		fail(a, "no route to speaker %s", a->speaker.ip);
		return -1;
	}
	if ((size_t)snprintf(url, urlsize, "http://%s:%d/clips/%s", host, cfg->http_port,
	                     reply.name) >= urlsize) {
		return url_too_long(a);
	}
	msg_strlcpy(mime, reply.mime, mimesize);
	return 0;
}

static int
get_int(const struct soap_result *r, const char *name, int *out)
{
	const char *v = soap_value(r, name);

	if (v == NULL)
		return -1;
	*out = atoi(v);
	return 0;
}

/* Copy an answer's value; returns -1 when it did not fit (out holds a cut copy). */
static int
copy_value(const struct soap_result *r, const char *name, char *out, size_t size)
{
	const char *v = soap_value(r, name);

	msg_strlcpy(out, v != NULL ? v : "", size);
	return v != NULL && strlen(v) >= size ? -1 : 0;
}

static int
set_mute(const struct msg_speaker *sp, int mute, char *err, size_t errlen)
{
	struct soap_arg args[] = {
	    {"InstanceID", "0"}, {"Channel", "Master"}, {"DesiredMute", mute ? "1" : "0"}};

	return sonos_call(sp, SOAP_RENDERING, "SetMute", args, 3, NULL, err, errlen);
}

static int
set_volume(const struct msg_speaker *sp, int volume, char *err, size_t errlen)
{
	char v[16];
	struct soap_arg args[] = {{"InstanceID", "0"}, {"Channel", "Master"}, {"DesiredVolume", v}};

	snprintf(v, sizeof(v), "%d", volume);
	return sonos_call(sp, SOAP_RENDERING, "SetVolume", args, 3, NULL, err, errlen);
}

/* Volume, mute and fixed output of one member. */
static void
snapshot_member(struct announcement *a, const struct msg_speaker *sp, struct member_volume *m)
{
	static const struct soap_arg inst[] = {{"InstanceID", "0"}};
	static const struct soap_arg master[] = {{"InstanceID", "0"}, {"Channel", "Master"}};
	struct soap_result r;
	char err[256];

	if (sonos_call(sp, SOAP_RENDERING, "GetVolume", master, 2, &r, err, sizeof(err)) == 0) {
		m->have_volume = get_int(&r, "CurrentVolume", &m->volume) == 0;
		soap_result_free(&r);
	}
	if (sonos_call(sp, SOAP_RENDERING, "GetMute", master, 2, &r, err, sizeof(err)) == 0) {
		m->have_mute = get_int(&r, "CurrentMute", &m->mute) == 0;
		soap_result_free(&r);
	}
	if (a->req->has_volume &&
	    sonos_call(sp, SOAP_RENDERING, "GetOutputFixed", inst, 1, &r, err, sizeof(err)) == 0) {
		get_int(&r, "CurrentFixed", &m->output_fixed);
		soap_result_free(&r);
	}
}

/* The coordinator's play mode (GetTransportSettings) into out; -1 if unread or odd. */
static int
play_mode_get(const struct msg_speaker *co, char *out, size_t size)
{
	static const struct soap_arg inst[] = {{"InstanceID", "0"}};
	struct soap_result r;
	char err[256];
	int rv = -1;

	if (sonos_call(co, SOAP_AVTRANSPORT, "GetTransportSettings", inst, 1, &r, err,
	               sizeof(err)) != 0)
		return -1;
	if (copy_value(&r, "PlayMode", out, size) == 0 && out[0] != '\0' &&
	    strspn(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == strlen(out))
		rv = 0;
	soap_result_free(&r);
	return rv;
}

/* Read what the group is doing. Returns -1 only when the coordinator cannot be reached. */
static int
snapshot_take(struct announcement *a, struct snapshot *s)
{
	static const struct soap_arg inst[] = {{"InstanceID", "0"}};
	const struct msg_speaker *co = &a->coordinator;
	struct soap_result r;
	char err[256];
	int rv;

	memset(s, 0, sizeof(*s));
	rv = sonos_call(co, SOAP_AVTRANSPORT, "GetTransportInfo", inst, 1, &r, err, sizeof(err));
	if (rv < 0) {
		fail(a, "speaker unreachable: %s", err);
		return -1;
	}
	if (rv == 0) {
		copy_value(&r, "CurrentTransportState", s->transport_state,
		           sizeof(s->transport_state));
		s->have_transport = 1;
		soap_result_free(&r);
	}
	if (sonos_call(co, SOAP_AVTRANSPORT, "GetMediaInfo", inst, 1, &r, err, sizeof(err)) == 0) {
		/* A cut URI or metadata would be restored wrong without a word: not at all. */
		s->media_too_long =
		    copy_value(&r, "CurrentURI", s->uri, sizeof(s->uri)) < 0 ||
		    copy_value(&r, "CurrentURIMetaData", s->metadata, sizeof(s->metadata)) < 0;
		s->kind = source_classify(s->uri);
		if (source_is_own_clip(s->uri, a->ctx->cfg->http_port))
			s->kind = SOURCE_NONE;
		s->have_media = !s->media_too_long;
		soap_result_free(&r);
	}
	if (s->have_media && s->kind == SOURCE_QUEUE)
		s->have_play_mode = play_mode_get(co, s->play_mode, sizeof(s->play_mode)) == 0;
	if (sonos_call(co, SOAP_AVTRANSPORT, "GetPositionInfo", inst, 1, &r, err, sizeof(err)) ==
	    0) {
		s->have_position = get_int(&r, "Track", &s->track) == 0;
		copy_value(&r, "RelTime", s->rel_time, sizeof(s->rel_time));
		soap_result_free(&r);
	}
	for (int i = 0; i < a->nmembers; i++)
		snapshot_member(a, &a->members[i], &s->members[i]);
	log_info("%s: snapshot: %s %s (%s), track %d at %s, %d member(s), volume %d%s", co->room,
	         s->transport_state, source_kind_name(s->kind), s->uri, s->track, s->rel_time,
	         a->nmembers, s->members[0].volume, s->members[0].mute ? " muted" : "");
	return 0;
}

static int
was_playing(const struct snapshot *s)
{
	return strcmp(s->transport_state, "PLAYING") == 0 ||
	       strcmp(s->transport_state, "TRANSITIONING") == 0;
}

/* 1 when the announcement changes member i's volume: asked for, and its output not fixed. */
static int
changes_volume(const struct announcement *a, const struct snapshot *s, int i)
{
	return a->req->has_volume && !s->members[i].output_fixed;
}

/* Pause what plays (not TV: it offers only Set and Play; a 701 from a Pause it refuses is
 * harmless), take a coordinator that turned out to be a group member out of its group, set
 * the announcement volume on every member. */
static void
prepare(struct announcement *a, struct snapshot *s)
{
	static const struct soap_arg inst[] = {{"InstanceID", "0"}};
	const struct msg_speaker *co = &a->coordinator;
	char err[256];

	if (s->kind == SOURCE_GROUP)
		sonos_call(co, SOAP_AVTRANSPORT, "BecomeCoordinatorOfStandaloneGroup", inst, 1,
		           NULL, err, sizeof(err));
	else if (was_playing(s) && s->kind != SOURCE_TV)
		sonos_call(co, SOAP_AVTRANSPORT, "Pause", inst, 1, NULL, err, sizeof(err));
	for (int i = 0; i < a->nmembers; i++) {
		const struct msg_speaker *m = &a->members[i];

		/* An announcement is meant to be heard: a muted member is unmuted until after. */
		if (s->members[i].have_mute && s->members[i].mute &&
		    set_mute(m, 0, err, sizeof(err)) != 0)
			log_warnx("%s: not unmuted for the announcement: %s", m->room, err);
		if (a->req->has_volume && s->members[i].output_fixed)
			log_info("%s: fixed volume output; announcing at its level", m->room);
		if (changes_volume(a, s, i) &&
		    set_volume(m, a->req->volume, err, sizeof(err)) != 0) {
			/* 501 on a fixed output GetOutputFixed did not report: skip its restore */
			log_warnx("%s: announcement volume not set: %s", m->room, err);
			s->members[i].output_fixed = 1;
		}
	}
}

static int
play_clip(struct announcement *a, const char *url, const char *mime)
{
	static const struct soap_arg inst_play[] = {{"InstanceID", "0"}, {"Speed", "1"}};
	struct strbuf meta = STRBUF_INIT;
	char err[256];
	int rv;

	didl_clip(&meta, url, a->req->kind == REQUEST_TTS ? "Announcement" : "Clip", mime);
	{
		struct soap_arg args[] = {{"InstanceID", "0"},
		                          {"CurrentURI", url},
		                          {"CurrentURIMetaData", meta.s != NULL ? meta.s : ""}};

		rv = sonos_call(&a->coordinator, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3,
		                NULL, err, sizeof(err));
	}
	strbuf_free(&meta);
	if (rv == 0)
		rv = sonos_call(&a->coordinator, SOAP_AVTRANSPORT, "Play", inst_play, 2, NULL, err,
		                sizeof(err));
	if (rv != 0) {
		fail(a, "%s", err);
		return -1;
	}
	return 0;
}

/* How long to sleep between transport polls. A short clip (a chime) could end between two
 * polls of 250 ms and never be seen PLAYING: poll at a quarter of its length, and often while
 * it starts and during its first seconds when the length is not known. playing_ms is how
 * long it has been seen playing, 0 before that. */
static unsigned
wait_poll_ms(uint32_t duration_ms, uint64_t playing_ms)
{
	unsigned quarter = duration_ms / 4;

	if (duration_ms == 0)
		return playing_ms < 3000 ? 50 : WAIT_POLL_MS;
	return quarter < 50 ? 50 : quarter > WAIT_POLL_MS ? WAIT_POLL_MS : quarter;
}

/* What one transport poll of wait_end decided. */
enum wait_step { WAIT_ON, WAIT_ENDED, WAIT_FAILED, WAIT_NOT_STARTED };

/* One poll of the coordinator's transport. Sets *playing_at when PLAYING is first seen. */
static enum wait_step
wait_poll(struct announcement *a, uint64_t start, uint64_t *playing_at, int *unreachable)
{
	static const struct soap_arg inst[] = {{"InstanceID", "0"}};
	struct soap_result r;
	char err[256];
	const char *state;
	enum wait_step next = WAIT_ON;
	int rv;

	rv = sonos_call(&a->coordinator, SOAP_AVTRANSPORT, "GetTransportInfo", inst, 1, &r, err,
	                sizeof(err));
	if (rv < 0 && ++*unreachable >= WAIT_UNREACHABLE_POLLS) {
		/* Gone mid-announcement (power, network): say so rather than "done". */
		fail(a, "speaker unreachable during the announcement: %s", err);
		return WAIT_FAILED;
	}
	if (rv != 0)
		return WAIT_ON; /* a fault or an odd answer: ask again */
	*unreachable = 0;
	state = soap_value(&r, "CurrentTransportState");
	if (state != NULL && strcmp(state, "PLAYING") == 0) {
		if (*playing_at == 0)
			*playing_at = util_mono_ms();
	} else if (*playing_at != 0 && state != NULL && strcmp(state, "TRANSITIONING") != 0) {
		next = WAIT_ENDED;
	} else if (*playing_at == 0 && util_mono_ms() - start > START_TIMEOUT_MS) {
		fail(a, "speaker never started playing (state %s)",
		     state != NULL ? state : "unknown");
		next = WAIT_NOT_STARTED;
	}
	soap_result_free(&r);
	return next;
}

/* Wait for the clip to end: up to START_TIMEOUT_MS for the speaker to start it (it may take
 * seconds to fetch), then its real duration plus a margin counted from when it was first seen
 * PLAYING, cut short when the speaker reports it stopped after having played. Never a fixed
 * timeout for a known length. Returns 1 when the speaker never started it (failed), else 0. */
static int
wait_end(struct announcement *a, uint32_t duration_ms)
{
	uint64_t start = util_mono_ms(), playing_at = 0;
	uint64_t limit = (duration_ms ? duration_ms : UNKNOWN_DURATION_MS) + WAIT_MARGIN_MS;
	int unreachable = 0;

	for (;;) {
		uint64_t playing = playing_at != 0 ? util_mono_ms() - playing_at : 0;

		enum wait_step step;

		if (atomic_load(&a->ctx->stopping)) {
			fail(a, "%s", "cut short: the bridge is stopping");
			return 0;
		}
		if (playing >= limit) {
			log_warnx(
			    "%s: still busy %llu ms after a %u ms clip started; restoring anyway",
			    a->speaker.room, (unsigned long long)playing, duration_ms);
			return 0;
		}
		sleep_ms(wait_poll_ms(duration_ms, playing));
		if ((step = wait_poll(a, start, &playing_at, &unreachable)) != WAIT_ON)
			return step == WAIT_NOT_STARTED;
	}
}

/* The speaker was given url (one of httpd's clips) at asked_ms and never started it. If httpd
 * saw no request for it since, the speaker never fetched it: almost always an address of this
 * host the speakers cannot reach (advertise_host, or the route's source address, from inside a
 * container on a bridge network). Said in the log and in the failed event's error. */
static void
never_started(struct announcement *a, const char *url, uint64_t asked_ms)
{
	const struct config *cfg = a->ctx->cfg;
	char host[256], path[512], what[320];
	size_t n = strlen(a->error);
	uint16_t port;

	if (!source_is_own_clip(url, cfg->http_port) ||
	    http_url_split(url, host, sizeof(host), &port, path, sizeof(path)) < 0)
		return;
	if (clip_fetched_since(path + strlen("/clips/"), asked_ms)) {
		snprintf(a->error + n, sizeof(a->error) - n, " though it fetched the clip");
		return;
	}
	/* From when httpd had the clip: it may go during the chime, before the speaker is asked. */
	if (a->clip_ready_ms != 0 && atomic_load(&httpd_gone_ms) >= a->clip_ready_ms) {
		log_warnx("%s did not get %s: httpd stopped meanwhile (it is restarted)",
		          a->coordinator.room, url);
		snprintf(a->error + n, sizeof(a->error) - n,
		         "; httpd, which serves the clip, stopped meanwhile");
		return;
	}
	/* host: advertise_host, or the source address of the route to the speaker. */
	if (cfg->advertise_host[0] != '\0')
		snprintf(what, sizeof(what), "advertise_host %s", host);
	else
		snprintf(what, sizeof(what), "%s, the address this host routes to them from", host);
	log_warnx("%s never fetched %s: the speakers probably cannot reach %s (a container "
	          "without host networking? a firewall on port %u?); set advertise_host to an "
	          "address of this host they can reach",
	          a->coordinator.room, url, what, (unsigned)port);
	snprintf(a->error + n, sizeof(a->error) - n,
	         "; it never fetched the clip: the speakers probably cannot reach %s (a container "
	         "without host networking? set advertise_host)",
	         what);
}

/* 1 when the speaker that never started url may be asked again: url is one of httpd's clips,
 * httpd went away after it had the clip (so the speaker's fetch was refused or cut short), a
 * new httpd is connected (within HTTPD_BACK_MS), and it has not served the clip since (a
 * speaker that got it from the new httpd may be playing it: it is not started twice). The
 * clip is on disk; the new httpd serves it under the same name. */
static int
httpd_cut_the_fetch(struct announcement *a, const char *url)
{
	uint64_t until = util_mono_ms() + HTTPD_BACK_MS, gone = atomic_load(&httpd_gone_ms);
	char host[256], path[512];
	uint16_t port;

	if (!source_is_own_clip(url, a->ctx->cfg->http_port) || a->clip_ready_ms == 0 ||
	    gone < a->clip_ready_ms ||
	    http_url_split(url, host, sizeof(host), &port, path, sizeof(path)) < 0)
		return 0;
	while (bus_link_pipes(a->ctx->httpd) == 0) {
		if (util_mono_ms() >= until || atomic_load(&a->ctx->stopping))
			return 0;
		sleep_ms(100);
	}
	return !atomic_load(&a->ctx->stopping) &&
	       !clip_fetched_since(path + strlen("/clips/"), gone);
}

/* Play the announcement's clip and wait for its end; `playing` goes out once the speaker
 * accepted Play. A speaker that never starts it because httpd was restarted in between is
 * asked once more (a restart takes a fraction of a second; the announcement is not lost for
 * it); one that never starts it otherwise is reported (never_started). */
static void
play_and_wait(struct announcement *a, const char *url, const char *mime, uint64_t t0)
{
	uint64_t asked = util_mono_ms();
	char before[sizeof(a->error)];

	memcpy(before, a->error, sizeof(before)); /* a note made earlier is kept */
	if (play_clip(a, url, mime) != 0)
		return;
	log_info("%s: playing %s (%u ms) after %llu ms", a->coordinator.room, url, a->duration_ms,
	         (unsigned long long)(asked - t0));
	announce_event(a, EVENT_PLAYING, NULL);
	if (!wait_end(a, a->duration_ms))
		return;
	if (httpd_cut_the_fetch(a, url) && util_now_ms() <= a->req->deadline_ms) {
		log_warnx("%s could not get %s: httpd was restarted meanwhile; asking it again",
		          a->coordinator.room, url);
		a->status = EVENT_DONE;
		memcpy(a->error, before, sizeof(a->error));
		a->clip_ready_ms = asked = util_mono_ms();
		if (play_clip(a, url, mime) != 0 || !wait_end(a, a->duration_ms))
			return;
	}
	never_started(a, url, asked);
}

/* The configured chime before speech, played to its end (its length is not known). A chime
 * that fails is logged and skipped: the announcement itself still plays. */
static void
play_chime(struct announcement *a)
{
	const char *url = a->ctx->cfg->chime_url;
	char before[sizeof(a->error)];

	if (a->req->kind != REQUEST_TTS || url[0] == '\0')
		return;
	memcpy(before, a->error, sizeof(before)); /* a note made earlier is kept */
	if (play_clip(a, url, source_mime_from_url(url)) == 0)
		wait_end(a, 0);
	if (a->status != EVENT_DONE) {
		log_warnx("%s: chime skipped: %s", a->coordinator.room, a->error);
		a->status = EVENT_DONE;
		memcpy(a->error, before, sizeof(a->error));
	}
}

/* Shuffle and repeat of a queue, set again after the queue is loaded and positioned (as
 * SoCo does) when the speaker now says otherwise: other sources reset it. */
static void
play_mode_restore(const struct msg_speaker *co, const struct snapshot *s)
{
	struct soap_arg args[] = {{"InstanceID", "0"}, {"NewPlayMode", s->play_mode}};
	char now[sizeof(s->play_mode)], err[256];

	if (!s->have_play_mode ||
	    (play_mode_get(co, now, sizeof(now)) == 0 && strcmp(now, s->play_mode) == 0))
		return;
	if (sonos_call(co, SOAP_AVTRANSPORT, "SetPlayMode", args, 2, NULL, err, sizeof(err)) != 0)
		log_warnx("%s: play mode %s not restored: %s", co->room, s->play_mode, err);
}

/* Put back what was playing, step by step; a failing step is reported, the rest still run.
 * Source and transport on the coordinator, volume on each member. */
static void
restore(struct announcement *a, const struct snapshot *s)
{
	static const struct soap_arg inst_play[] = {{"InstanceID", "0"}, {"Speed", "1"}};
	const struct msg_speaker *sp = &a->coordinator;
	char err[256], problems[256] = "";
	int rv;

	if (s->media_too_long)
		snprintf(problems, sizeof(problems),
		         "source not restored (URI over %zu or metadata over %zu bytes)",
		         sizeof(s->uri) - 1, sizeof(s->metadata) - 1);
	if (s->have_media && s->kind == SOURCE_NONE) {
		/* Nothing was loaded (or only an earlier clip): load the player's own queue, as an
		 * idle Sonos has, so the clip is not left to show as the current track or to be
		 * replayed by the next Play. */
		char queue[96];
		struct soap_arg args[] = {
		    {"InstanceID", "0"}, {"CurrentURI", queue}, {"CurrentURIMetaData", ""}};

		snprintf(queue, sizeof(queue), "x-rincon-queue:%s#0", sp->uuid);
		if (sonos_call(sp, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3, NULL, err,
		               sizeof(err)) != 0)
			log_warnx("%s: clip left loaded: %s", sp->room, err);
	}
	if (s->have_media && s->kind != SOURCE_NONE) {
		int line = s->kind == SOURCE_LINE_IN || s->kind == SOURCE_TV;
		struct soap_arg args[] = {{"InstanceID", "0"},
		                          {"CurrentURI", s->uri},
		                          {"CurrentURIMetaData", line ? "" : s->metadata}};

		rv = sonos_call(sp, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3, NULL, err,
		                sizeof(err));
		if (rv != 0)
			snprintf(problems, sizeof(problems), "source not restored (%s)", err);
		if (rv == 0 && s->kind == SOURCE_QUEUE && s->have_position && s->track > 0) {
			char track[16];
			struct soap_arg seek_track[] = {
			    {"InstanceID", "0"}, {"Unit", "TRACK_NR"}, {"Target", track}};
			struct soap_arg seek_time[] = {
			    {"InstanceID", "0"}, {"Unit", "REL_TIME"}, {"Target", s->rel_time}};

			snprintf(track, sizeof(track), "%d", s->track);
			if (sonos_call(sp, SOAP_AVTRANSPORT, "Seek", seek_track, 3, NULL, err,
			               sizeof(err)) != 0 ||
			    (s->rel_time[0] != '\0' && strcmp(s->rel_time, "0:00:00") != 0 &&
			     sonos_call(sp, SOAP_AVTRANSPORT, "Seek", seek_time, 3, NULL, err,
			                sizeof(err)) != 0))
				log_warnx("%s: position not restored: %s", sp->room, err);
			play_mode_restore(sp, s);
		}
	}
	for (int i = 0; i < a->nmembers; i++) {
		if (changes_volume(a, s, i) && s->members[i].have_volume &&
		    set_volume(&a->members[i], s->members[i].volume, err, sizeof(err)) != 0)
			log_warnx("%s: volume not restored: %s", a->members[i].room, err);
		if (s->members[i].have_mute && s->members[i].mute &&
		    set_mute(&a->members[i], 1, err, sizeof(err)) != 0)
			log_warnx("%s: mute not restored: %s", a->members[i].room, err);
	}
	/* A group member follows its coordinator once rejoined: no Play of its own. */
	if (s->have_media && s->kind != SOURCE_NONE && s->kind != SOURCE_GROUP && was_playing(s) &&
	    problems[0] == '\0' &&
	    sonos_call(sp, SOAP_AVTRANSPORT, "Play", inst_play, 2, NULL, err, sizeof(err)) != 0)
		snprintf(problems, sizeof(problems), "playback not resumed (%s)", err);
	if (problems[0] != '\0') {
		log_warnx("%s: restore: %s", sp->room, problems);
		if (a->status == EVENT_DONE)
			snprintf(a->error, sizeof(a->error), "played, but %s", problems);
	}
}

/* Make sp a member of coordinator's group. */
static int
join_group(const struct msg_speaker *sp, const char *coordinator, char *err, size_t errlen)
{
	char uri[64];
	struct soap_arg args[] = {
	    {"InstanceID", "0"}, {"CurrentURI", uri}, {"CurrentURIMetaData", ""}};

	snprintf(uri, sizeof(uri), "x-rincon:%s", coordinator);
	return sonos_call(sp, SOAP_AVTRANSPORT, "SetAVTransportURI", args, 3, NULL, err, errlen);
}

/* `all`, grouped: snapshot every group, join every speaker to the first reachable
 * coordinator, play once, then split the groups as they were and restore each. The
 * trade-off against parallel mode: one synchronized stream, but every group is taken apart
 * and rebuilt, which takes a few SOAP calls per speaker. */
static void
announce_all_grouped(struct announcement *a, const char *url, const char *mime, uint64_t t0)
{
	struct announce_all *all = a->all;
	struct announcement *subs = calloc((size_t)all->ngroups, sizeof(*subs));
	struct snapshot *snaps = calloc((size_t)all->ngroups, sizeof(*snaps));
	int *ok = calloc((size_t)all->ngroups, sizeof(*ok));
	int chosen = -1;
	char err[256];

	if (subs == NULL || snaps == NULL || ok == NULL) {
		fail(a, "%s", "out of memory");
		goto out;
	}
	for (int g = 0; g < all->ngroups; g++) {
		subs[g] = *a;
		subs[g].coordinator = all->groups[g].coordinator;
		memcpy(subs[g].members, all->groups[g].members, sizeof(subs[g].members));
		subs[g].nmembers = all->groups[g].nmembers;
		subs[g].status = EVENT_DONE;
		ok[g] = snapshot_take(&subs[g], &snaps[g]) == 0;
		if (ok[g])
			rescue_save(&subs[g], &snaps[g]);
		if (ok[g] && chosen < 0)
			chosen = g;
		else if (!ok[g])
			log_warnx("all: %s left out: %s", subs[g].coordinator.room, subs[g].error);
	}
	if (chosen < 0) {
		fail(a, "no speaker reachable%s", "");
		goto out;
	}
	for (int g = 0; g < all->ngroups; g++) {
		if (!ok[g])
			continue;
		prepare(&subs[g], &snaps[g]);
		for (int m = 0; g != chosen && m < subs[g].nmembers; m++)
			if (join_group(&subs[g].members[m], subs[chosen].coordinator.uuid, err,
			               sizeof(err)) != 0) {
				log_warnx("all: %s did not join: %s", subs[g].members[m].room, err);
				if (a->error[0] == '\0')
					snprintf(a->error, sizeof(a->error),
					         "%s did not join the announcement: %s",
					         subs[g].members[m].room, err);
			}
	}
	a->coordinator = subs[chosen].coordinator;
	play_chime(a);
	play_and_wait(a, url, mime, t0);
	for (int g = 0; g < all->ngroups; g++) {
		static const struct soap_arg inst[] = {{"InstanceID", "0"}};

		if (!ok[g] || g == chosen)
			continue;
		sonos_call(&subs[g].coordinator, SOAP_AVTRANSPORT,
		           "BecomeCoordinatorOfStandaloneGroup", inst, 1, NULL, err, sizeof(err));
		for (int m = 1; m < subs[g].nmembers; m++)
			if (join_group(&subs[g].members[m], subs[g].coordinator.uuid, err,
			               sizeof(err)) != 0)
				log_warnx("all: %s did not rejoin: %s", subs[g].members[m].room,
				          err);
	}
	for (int g = 0; g < all->ngroups; g++) {
		if (!ok[g])
			continue;
		restore(&subs[g], &snaps[g]);
		rescue_drop(&subs[g]);
		if (subs[g].error[0] != '\0' && a->error[0] == '\0')
			snprintf(a->error, sizeof(a->error), "%s: %s", subs[g].coordinator.room,
			         subs[g].error);
	}
out:
	free(subs);
	free(snaps);
	free(ok);
}

/* 1, with a's outcome set, when a is past its deadline: checked again after each step that
 * can take long (synthesis, the snapshot of a slow speaker), so it never plays late. */
static int
past_deadline(struct announcement *a, const char *why)
{
	if (util_now_ms() <= a->req->deadline_ms)
		return 0;
	a->status = EVENT_EXPIRED;
	snprintf(a->error, sizeof(a->error), "%s", why);
	return 1;
}

void
announce_run(struct announcement *a)
{
	struct snapshot snap;
	char url[MSG_CLIP_URL_MAX + 1], mime[32];
	uint64_t t0 = util_mono_ms();

	a->status = EVENT_DONE;
	a->error[0] = '\0';
	if (util_now_ms() > a->req->deadline_ms) {
		a->status = EVENT_EXPIRED;
		snprintf(a->error, sizeof(a->error), "expired before it could play");
		return;
	}
	if (clip_prepare(a, url, sizeof(url), mime, sizeof(mime)) < 0) {
		/* playerd stopping aborts the wait for httpd: nothing was played yet */
		a->not_started = atomic_load(&a->ctx->stopping);
		return;
	}
	a->clip_ready_ms = util_mono_ms();
	if (past_deadline(a, "expired while its clip was being made"))
		return;
	if (a->all != NULL) {
		announce_all_grouped(a, url, mime, t0);
		return;
	}
	if (snapshot_take(a, &snap) < 0 || past_deadline(a, "expired before it could play"))
		return;
	/* Stopping: the music is not interrupted for an announcement that would be cut off; it
	 * plays after the restart. */
	if (atomic_load(&a->ctx->stopping)) {
		a->not_started = 1;
		return;
	}
	rescue_save(a, &snap);
	prepare(a, &snap);
	play_chime(a);
	if (a->status == EVENT_DONE)
		play_and_wait(a, url, mime, t0);
	restore(a, &snap);
	rescue_drop(a);
}

void
rescue_run(struct announcement *a)
{
	a->status = EVENT_DONE;
	a->error[0] = '\0';
	log_info("%s: restoring what played before an announcement a crashed playerd left "
	         "unfinished",
	         a->coordinator.room);
	restore(a, a->rescue);
	/* After a grouped announcement to all, the members were joined elsewhere: bring them
	 * back (for a member still in the group this is a no-op join). */
	for (int m = 1; m < a->nmembers; m++) {
		char err[256];

		if (join_group(&a->members[m], a->coordinator.uuid, err, sizeof(err)) != 0)
			log_warnx("%s: did not rejoin %s: %s", a->members[m].room,
			          a->coordinator.room, err);
	}
	rescue_drop(a);
}
