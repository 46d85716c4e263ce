/* web.c -- GET /, POST /announce and GET /metrics on httpd's port: reads the supervisor's status
 * socket without blocking the loop, renders the page or the metrics, and passes a test
 * announcement to mqttd. */
#include "web.h"
#include "bus.h"
#include "config.h"
#include "http_client.h"
#include "http_request.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "status_page.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define STATUS_SOCKET_NAME "status.sock" /* supervisor/supervise.h: STATUS_SOCKET */

/* Headers of every HTML answer: nothing cached, no framing, no script, forms only to us. */
#define HTML_HEADERS                                                                               \
	"Cache-Control: no-store\r\n"                                                              \
	"X-Content-Type-Options: nosniff\r\n"                                                      \
	"Referrer-Policy: same-origin\r\n"                                                         \
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "                 \
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
#define HTML_TYPE "text/html; charset=utf-8"

enum job_kind { JOB_PAGE, JOB_METRICS };

/* One read of the status socket for one request. */
struct web_job {
	struct web_job *next;
	struct conn *conn; /* NULL once the connection has gone */
	enum job_kind kind;
	char notice[200];
	uv_pipe_t pipe;
	uv_connect_t connect;
	uv_timer_t timer;
	int handles; /* initialised handles not yet closed */
	int finished;
	struct strbuf doc;
};

static struct {
	uv_loop_t *loop;
	const struct config *cfg;
	struct web_job *jobs;
	int njobs;
	nng_socket to_mqttd;
	int mqttd_open;
	int stopping;
} W;

int
web_start(uv_loop_t *loop, const struct config *cfg)
{
	int rv;

	W.loop = loop;
	W.cfg = cfg;
	if (!cfg->status_page)
		return 0;
	if ((rv = bus_push_dial(&W.to_mqttd, cfg->runtime_dir, "mqttd")) != 0) {
		log_warnx("mqttd.ipc: %s; the status page cannot send test announcements",
		          nng_strerror(rv));
		return -1;
	}
	W.mqttd_open = 1;
	return 0;
}

/* "/", "/?...", or "/metrics" (with or without a query). */
static int
path_is(const char *target, const char *path)
{
	size_t n = strlen(path);

	return strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

int
web_route(const struct http_request *req)
{
	int page = W.cfg != NULL && W.cfg->status_page;

	if (req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD)
		return path_is(req->target, "/metrics") || (page && path_is(req->target, "/"));
	return page && strcmp(req->method_name, "POST") == 0 && path_is(req->target, "/announce");
}

static size_t
content_length(const char *head, size_t head_len)
{
	char value[24];

	if (http_header_value(head, head_len, "Content-Length", value, sizeof(value)) <= 0)
		return 0;
	return (size_t)strtoull(value, NULL, 10);
}

int
web_body_ready(const struct http_request *req, const char *buf, size_t head_len, size_t have,
               size_t cap)
{
	size_t n;

	if (!req->has_body)
		return 1;
	n = content_length(buf, head_len);
	return n > STATUS_PAGE_FORM_MAX || head_len + n > cap || have >= head_len + n;
}

/* ---- answers ---------------------------------------------------------------------------- */

static void
reply_page(struct conn *c, int status, struct strbuf *page)
{
	if (page->failed || page->s == NULL)
		server_web_reply(c, 500, "text/plain; charset=utf-8", NULL, "out of memory\n", 14);
	else
		server_web_reply(c, status, HTML_TYPE, HTML_HEADERS, page->s, page->len);
}

static void
reply_message(struct conn *c, int status, const char *title, const char *message)
{
	struct strbuf page = STRBUF_INIT;

	status_page_message(title, message, &page);
	reply_page(c, status, &page);
	strbuf_free(&page);
}

static void
job_answer(struct web_job *j, int ok, const char *why)
{
	struct strbuf out = STRBUF_INIT;
	struct status_page_opts o = {0};
	char notice[400];

	if (j->kind == JOB_METRICS) {
		if (ok && metrics_render(j->doc.s, j->doc.len, &out) == 0) {
			server_web_reply(j->conn, 200, METRICS_CONTENT_TYPE,
			                 "Cache-Control: no-store\r\n", out.s, out.len);
		} else {
			snprintf(notice, sizeof(notice),
			         "the bridge's status is not available: %s\n",
			         ok ? "not a status document" : why);
			server_web_reply(j->conn, 503, "text/plain; charset=utf-8", NULL, notice,
			                 strlen(notice));
		}
		strbuf_free(&out);
		return;
	}
	o.now_ms = util_now_ms();
	o.max_text_length = W.cfg->max_text_length;
	o.form = W.mqttd_open;
	o.base_topic = W.cfg->base_topic;
	o.notice = j->notice[0] ? j->notice : NULL;
	if (!ok) {
		snprintf(notice, sizeof(notice),
		         "The supervisor's status socket did not answer: %s", why);
		o.notice = notice;
		o.notice_error = 1;
	}
	status_page_render(ok ? j->doc.s : NULL, ok ? j->doc.len : 0, &o, &out);
	reply_page(j->conn, ok ? 200 : 503, &out);
	strbuf_free(&out);
}

static void
job_close_cb(uv_handle_t *h)
{
	struct web_job *j = h->data, **pp;

	if (--j->handles > 0)
		return;
	for (pp = &W.jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	W.njobs--;
	strbuf_free(&j->doc);
	free(j);
}

/* The read is over (document, error or timeout): answer, then close the job's handles. */
static void
job_finish(struct web_job *j, int ok, const char *why)
{
	if (j->finished)
		return;
	j->finished = 1;
	if (j->conn != NULL)
		job_answer(j, ok, why);
	uv_close((uv_handle_t *)&j->pipe, job_close_cb);
	uv_close((uv_handle_t *)&j->timer, job_close_cb);
}

static void
job_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char space[16384];

	(void)h;
	(void)suggested;
	*buf = uv_buf_init(space, sizeof(space));
}

static void
job_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct web_job *j = s->data;

	if (n > 0) {
		strbuf_append(&j->doc, buf->base, (size_t)n);
		if (j->doc.failed)
			job_finish(j, 0, "the status document is too large");
	} else if (n == UV_EOF) {
		job_finish(j, j->doc.s != NULL, "empty answer");
	} else if (n < 0) {
		job_finish(j, 0, uv_strerror((int)n));
	}
}

static void
job_connect_cb(uv_connect_t *req, int status)
{
	struct web_job *j = req->data;
	int rv;

	if (j->finished)
		return;
	if (status < 0) {
		job_finish(j, 0,
		           status == UV_ENOENT || status == UV_ECONNREFUSED
		               ? "the supervisor is not running"
		               : uv_strerror(status));
		return;
	}
	if ((rv = uv_read_start((uv_stream_t *)&j->pipe, job_alloc_cb, job_read_cb)) != 0)
		job_finish(j, 0, uv_strerror(rv));
}

static void
job_timeout_cb(uv_timer_t *t)
{
	job_finish(t->data, 0, "no answer within 3 s");
}

/* Read the status document for c, then answer by kind. */
static void
job_start(struct conn *c, enum job_kind kind, const char *notice)
{
	char path[CONFIG_STR_MAX + 16];
	struct web_job *j;

	if (W.stopping || W.njobs >= WEB_JOBS_MAX || (j = calloc(1, sizeof(*j))) == NULL) {
		server_web_reply(c, 503, "text/plain; charset=utf-8", "Retry-After: 1\r\n",
		                 "busy, try again\n", 16);
		return;
	}
	j->conn = c;
	j->kind = kind;
	msg_strlcpy(j->notice, notice ? notice : "", sizeof(j->notice));
	j->doc.max = WEB_STATUS_MAX;
	j->next = W.jobs;
	W.jobs = j;
	W.njobs++;
	uv_pipe_init(W.loop, &j->pipe, 0);
	uv_timer_init(W.loop, &j->timer);
	j->pipe.data = j->timer.data = j->connect.data = j;
	j->handles = 2;
	snprintf(path, sizeof(path), "%s/%s", W.cfg->runtime_dir, STATUS_SOCKET_NAME);
	uv_timer_start(&j->timer, job_timeout_cb, WEB_STATUS_TIMEOUT_MS, 0);
	uv_pipe_connect(&j->connect, &j->pipe, path, job_connect_cb);
}

/* "sent=<id>" in the query of / names the test announcement just sent. */
static void
sent_notice(const char *target, char *out, size_t size)
{
	const char *q = strstr(target, "?sent=");
	size_t n;

	out[0] = '\0';
	if (q == NULL)
		return;
	q += 6;
	n = strspn(q, "abcdefghijklmnopqrstuvwxyz0123456789-");
	if (n == 0 || n > 40)
		return;
	snprintf(out, size, "Test announcement %.*s sent; its outcome is below.", (int)n, q);
}

/* POST /announce: checked here, then handed to mqttd, which spools it and answers on MQTT. */
static void
web_announce(struct conn *c, const char *head, size_t head_len, const char *body, size_t body_len,
             const char *peer)
{
	struct status_page_form form;
	struct msg_web_request *m;
	char err[200], type[128], id[32], location[80];
	unsigned char rnd[6];
	size_t n, clen = content_length(head, head_len);
	char *json;
	int rv;

	if (!status_page_same_origin(head, head_len)) {
		log_warnx("refused a test announcement from %s: not sent by the status page", peer);
		reply_message(c, 403, "Refused",
		              "This request did not come from the bridge's status page.");
		return;
	}
	if (http_header_value(head, head_len, "Content-Type", type, sizeof(type)) < 0 ||
	    strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0) {
		reply_message(c, 415, "Refused",
		              "Send the form as application/x-www-form-urlencoded.");
		return;
	}
	if (clen > STATUS_PAGE_FORM_MAX || clen != body_len) {
		reply_message(c, 413, "Refused", "The form is too large.");
		return;
	}
	if (status_page_form_parse(body, body_len, W.cfg->max_text_length, &form, err,
	                           sizeof(err)) < 0) {
		reply_message(c, 400, "Not sent", err);
		return;
	}
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		uint64_t t = util_now_ms();

		memcpy(rnd, &t, sizeof(rnd));
	}
	snprintf(id, sizeof(id), "web-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
	         rnd[4], rnd[5]);
	if ((json = status_page_form_json(&form, id)) == NULL ||
	    (n = strlen(json)) > MSG_WEB_PAYLOAD_MAX || (m = calloc(1, sizeof(*m) + n)) == NULL) {
		free(json);
		reply_message(c, 500, "Not sent", "out of memory");
		return;
	}
	msg_strlcpy(m->target, form.target, sizeof(m->target));
	msg_strlcpy(m->peer, peer, sizeof(m->peer));
	m->payload_len = (uint32_t)n;
	memcpy(m->payload, json, n);
	rv = W.mqttd_open ? bus_send(W.to_mqttd, MSG_WEB_REQUEST, m, sizeof(*m) + n) : NNG_ECLOSED;
	free(m);
	free(json);
	if (rv != 0) {
		log_warnx("test announcement from %s: mqttd: %s", peer, nng_strerror(rv));
		reply_message(c, 503, "Not sent", "mqttd is not reachable; try again in a moment.");
		return;
	}
	log_info("%s: test announcement for %s from %s handed to mqttd", id, form.target, peer);
	snprintf(location, sizeof(location), "Location: /?sent=%s#recent\r\n", id);
	server_web_reply(c, 303, "text/plain; charset=utf-8", location, "sent\n", 5);
}

size_t
web_handle(struct conn *c, const struct http_request *req, const char *buf, size_t head_len,
           size_t have, const char *peer)
{
	char notice[160];
	size_t body_len = req->has_body ? content_length(buf, head_len) : 0;

	if (body_len > have - head_len)
		body_len = have - head_len; /* too large to read: refused below */
	if (strcmp(req->method_name, "POST") == 0)
		web_announce(c, buf, head_len, buf + head_len, body_len, peer);
	else if (path_is(req->target, "/metrics"))
		job_start(c, JOB_METRICS, NULL);
	else {
		sent_notice(req->target, notice, sizeof(notice));
		job_start(c, JOB_PAGE, notice);
	}
	return head_len + body_len;
}

void
web_forget(struct conn *c)
{
	for (struct web_job *j = W.jobs; j != NULL; j = j->next)
		if (j->conn == c)
			j->conn = NULL;
}

void
web_stop(void)
{
	W.stopping = 1;
	for (struct web_job *j = W.jobs; j != NULL; j = j->next) {
		j->conn = NULL;
		job_finish(j, 0, "stopping");
	}
	if (W.mqttd_open)
		nng_close(W.to_mqttd);
	W.mqttd_open = 0;
}
