/* server.h -- the HTTP/1.1 server that hands cached clips to the speakers. */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include <uv.h>

#define SERVER_MAX_CONNECTIONS 64
/* One address may hold at most this many: a host that opens connections and sends nothing
 * cannot take every slot from the speakers. */
#define SERVER_MAX_PER_PEER 16
#define SERVER_IDLE_TIMEOUT_MS 30000 /* per request, and per write without progress */
#define SERVER_LINGER_MS 2000        /* reading after our last byte before closing */
#define SERVER_CHUNK 65536           /* bytes of a file read and written at a time */

struct server;

/* Listen on bind:port and serve GET/HEAD /clips/<name>.wav from dir. Returns 0, -EINVAL
 * when bind is not an IP address (a configuration error), or another negative libuv error
 * (bind failed: port in use, address not local). */
int server_start(struct server **out, uv_loop_t *loop, const char *bind, int port, const char *dir);

/* Requests answered since the start (any status), for the health reply. */
unsigned long server_requests(const struct server *s);

/* The answer to a request handed to web.c (web_handle): status, Content-Type, extra header
 * lines (each ending in CRLF, or NULL) and body (copied; not sent for HEAD). A connection
 * that closed meanwhile is not answered (web_forget saw to that). */
struct conn;
void server_web_reply(struct conn *c, int status, const char *content_type, const char *headers,
		      const char *body, size_t len);

/* Stop listening and close every connection; memory is freed by the close callbacks. */
void server_stop(struct server *s);

#endif
