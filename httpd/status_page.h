/* status_page.h -- the status page on httpd's port: workers, speakers, the last announcements
 * and a form for a test announcement, rendered on the server from the supervisor's status
 * document (workers' health facts included). Pure: text in, text out, no I/O. */
#ifndef SB_STATUS_PAGE_H
#define SB_STATUS_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "strbuf.h"

#define STATUS_PAGE_FORM_MAX 4096 /* bytes of a form body accepted */

struct status_page_opts {
	uint64_t now_ms;     /* wall clock, for "12 s ago" */
	const char *notice;  /* one line shown on top, NULL for none */
	int notice_error;    /* 1: the notice reports a failure */
	int max_text_length; /* the form's limit (max_text_length) */
	int form;            /* 1: show the test announcement form */
	const char *base_topic;
};

/* The whole page for the status document doc[0..len) (what `sonos-bridge status --json`
 * prints); doc NULL when it could not be read (then o->notice says why). Every text from the
 * document is HTML-escaped. Returns 0, or -1 when out of memory. */
int status_page_render(const char *doc, size_t len, const struct status_page_opts *o,
                       struct strbuf *out);

/* A small page with one message and a link back to /, for form errors. */
int status_page_message(const char *title, const char *message, struct strbuf *out);

/* Append s HTML-escaped (& < > " '), bytes that are not valid UTF-8 as U+FFFD. */
void status_page_escape(struct strbuf *b, const char *s);

struct status_page_form {
	char target[MSG_TARGET_MAX]; /* room slug, speaker UUID or "all" */
	char text[MSG_TEXT_MAX + 1];
	int volume; /* 0..100, -1 when not given */
};

/* Parse and check an application/x-www-form-urlencoded body with the fields room, text and
 * volume (optional). Returns 0, or -1 with a reason fit to show the user in err. */
int status_page_form_parse(const char *body, size_t len, int max_text_length,
                           struct status_page_form *f, char *err, size_t errlen);

/* The request payload mqttd takes on <base>/<target>/tts: {"id","text"[,"volume"]}.
 * Returns a malloc'ed string, NULL on ENOMEM. */
char *status_page_form_json(const struct status_page_form *f, const char *id);

/* 1 when a state-changing request comes from a page of this same origin: Origin (or, without
 * it, Referer) names http://<Host>, and Sec-Fetch-Site, when sent, is same-origin. head is the
 * request head. A request without Origin and Referer is refused. */
int status_page_same_origin(const char *head, size_t head_len);

#endif
