/* server.h -- the HTTP/1.1 server that hands cached clips to the speakers. */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include <uv.h>

#define SERVER_MAX_CONNECTIONS 64
/* One address may hold at most this many, so it takes 8 hosts to fill every slot; at the cap
 * a newcomer from another address makes room by closing the oldest connection of the address
 * that holds the most, whatever that connection is doing. */
#define SERVER_MAX_PER_PEER 8
#define SERVER_HEAD_TIMEOUT_MS 10000 /* a request head, from the connection or last response */
#define SERVER_BODY_TIMEOUT_MS 5000  /* a NOTIFY body, from the end of its head */
#define SERVER_SEND_TIMEOUT_MS 15000 /* a write without progress (a reader that stopped) */
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
