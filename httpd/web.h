/* web.h -- the bridge's own pages on httpd's port: the status page (GET /), its test
 * announcement (POST /announce) and /metrics. Their data is the supervisor's status document,
 * read from its status socket like `sonos-bridge status --json` does; a test announcement is
 * handed to mqttd over the bus (MSG_WEB_REQUEST), which spools it like an MQTT request. */
#ifndef SB_WEB_H
#define SB_WEB_H

#include <stddef.h>
#include <uv.h>

struct config;
struct conn;
struct http_request;

#define WEB_JOBS_MAX 8 /* status reads in flight; more requests get 503 */
#define WEB_STATUS_TIMEOUT_MS 3000
#define WEB_STATUS_MAX (4 << 20)

/* Dial mqttd's inbox and remember the configuration (runtime_dir, status_page). Returns 0 or
 * -1 (logged: the pages still work, the test announcement does not). */
int web_start(uv_loop_t *loop, const struct config *cfg);

/* Cancel every status read and close the bus socket. */
void web_stop(void);

/* 1 when the request is for a page of ours: GET or HEAD of / (with a query) or /metrics,
 * POST /announce; / and /announce only while status_page is on. */
int web_route(const struct http_request *req);

/* For a request web_route took, whose head is buf[0..head_len) of have bytes received (the
 * buffer holding cap): 1 when its body is complete, or cannot fit (it is then refused), 0
 * while more is to be read. */
int web_body_ready(const struct http_request *req, const char *buf, size_t head_len, size_t have,
                   size_t cap);

/* Answer a routed request whose head is buf[0..head_len) of have bytes received; the answer
 * comes, now or later, through server_web_reply(c, ...). buf is only read during the call.
 * Returns the bytes of buf the request took (its head and body). */
size_t web_handle(struct conn *c, const struct http_request *req, const char *buf, size_t head_len,
                  size_t have, const char *peer);

/* c is closing: its pending answer, if any, is dropped. */
void web_forget(struct conn *c);

#endif
