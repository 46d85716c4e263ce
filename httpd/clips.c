/* clips.c -- answers MSG_CLIP_REQUEST on the REP socket; espeak-ng runs on the thread pool. */
#include "clips.h"
#include "log.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/reqrep0/rep.h>

/* Longest wait for the pipe to playerd before a reply is given up (logged). */
#define CLIP_REPLY_WAIT_MS 2000

static void
clips_reply(struct clips *c, int status, const struct synth_result *res, const char *error)
{
	struct msg_clip_reply reply;
	int rv;

	memset(&reply, 0, sizeof(reply));
	reply.status = status;
	if (status == 0) {
		reply.duration_ms = res->duration_ms;
		reply.bytes = res->bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)res->bytes;
		msg_strlcpy(reply.name, res->name, sizeof(reply.name));
		msg_strlcpy(reply.mime, CLIP_MIME, sizeof(reply.mime));
	} else {
		msg_strlcpy(reply.error, error, sizeof(reply.error));
	}
	/* Back-to-back requests from playerd's threads share one pipe: wait for it rather than
	 * drop the reply (bounded: playerd reads its replies at once). */
	rv = bus_send_wait(c->sock, MSG_CLIP_REPLY, &reply, sizeof(reply), CLIP_REPLY_WAIT_MS);
	if (rv != 0)
		log_warnx("reply not sent: %s", nng_strerror(rv));
}

/* Thread pool: the only place espeak-ng runs. */
static void
clips_work_cb(uv_work_t *w)
{
	struct clips *c = w->data;

	c->status = synth_clip(c->cfg->cache_dir, c->voice, c->text, c->text_len, &c->result);
}

static void
clips_after_work_cb(uv_work_t *w, int status)
{
	struct clips *c = w->data;
	uint64_t took = util_mono_ms() - c->started_ms;

	if (status == UV_ECANCELED) {
		c->status = -ECANCELED;
		msg_strlcpy(c->result.error, "httpd is stopping", sizeof(c->result.error));
	}
	if (c->status == 0)
		log_info("%.12s: %zu bytes of text, voice %s, %s, %u ms of audio, %u bytes, took "
		         "%llu ms",
		         c->result.name, c->text_len, c->voice, c->result.cached ? "hit" : "miss",
		         c->result.duration_ms, (unsigned)c->result.bytes,
		         (unsigned long long)took);
	else
		log_warnx("%zu bytes of text, voice %s: %s (took %llu ms)", c->text_len, c->voice,
		          c->result.error, (unsigned long long)took);
	clips_reply(c, c->status, &c->result, c->result.error);
	free(c->text);
	c->text = NULL;
	c->busy = 0;
	if (!c->stopping)
		bus_reader_resume(&c->reader);
}

static void
clips_request(struct clips *c, const struct msg_clip_request *req)
{
	const char *voice = req->voice[0] != '\0' ? req->voice : c->cfg->tts_voice;
	char err[160];
	int rv;

	if (!clip_voice_valid(voice)) {
		log_warnx("rejected: voice name is not valid");
		clips_reply(c, -EINVAL, NULL, "voice name is not valid");
		return;
	}
	rv = clip_text_check(req->text, req->text_len, (size_t)c->cfg->max_text_length, err,
	                     sizeof(err));
	if (rv < 0) {
		log_warnx("rejected: %s", err);
		clips_reply(c, rv, NULL, err);
		return;
	}
	if ((c->text = malloc(req->text_len)) == NULL) {
		clips_reply(c, -ENOMEM, NULL, "out of memory");
		return;
	}
	memcpy(c->text, req->text, req->text_len);
	c->text_len = req->text_len;
	msg_strlcpy(c->voice, voice, sizeof(c->voice));
	c->started_ms = util_mono_ms();
	/* A cooked REP socket answers one request before it takes the next. */
	bus_reader_pause(&c->reader);
	c->busy = 1;
	c->work.data = c;
	if ((rv = uv_queue_work(c->loop, &c->work, clips_work_cb, clips_after_work_cb)) != 0) {
		log_warnx("uv_queue_work: %s", uv_strerror(rv));
		free(c->text);
		c->text = NULL;
		c->busy = 0;
		clips_reply(c, -EIO, NULL, "could not start the synthesis");
		bus_reader_resume(&c->reader);
	}
}

static void
clips_msg_cb(void *ctx, const struct msg_hdr *hdr, const void *payload)
{
	struct clips *c = ctx;

	if (hdr->type != MSG_CLIP_REQUEST) {
		/* Still answered: the requester would otherwise wait for its timeout. */
		log_warnx("unexpected %s on the clip socket", msg_type_name(hdr->type));
		clips_reply(c, -EPROTO, NULL, "httpd.rep only takes MSG_CLIP_REQUEST");
		return;
	}
	clips_request(c, payload);
}

int
clips_start(struct clips *c, uv_loop_t *loop, const struct config *cfg)
{
	int rv;

	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->cfg = cfg;
	if ((rv = bus_listen(&c->sock, nng_rep0_open, cfg->runtime_dir, "httpd", "rep")) != 0) {
		log_warnx("%s/httpd.rep: %s", cfg->runtime_dir, nng_strerror(rv));
		return -1;
	}
	c->sock_open = 1;
	if (bus_reader_start(&c->reader, loop, c->sock, "clips", clips_msg_cb, c) != 0)
		return -1;
	c->reader_started = 1;
	return 0;
}

void
clips_stop(struct clips *c)
{
	c->stopping = 1;
	if (c->busy)
		uv_cancel((uv_req_t *)&c->work); /* only takes effect if it has not started */
	if (c->reader_started)
		bus_reader_close(&c->reader);
	c->reader_started = 0;
}

void
clips_close(struct clips *c)
{
	if (c->sock_open)
		nng_close(c->sock);
	c->sock_open = 0;
}
