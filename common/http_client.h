/* http_client.h -- a small blocking HTTP/1.1 client for speaker SOAP and device descriptions.
 *
 * Blocking by design: it is called from worker threads (playerd announcements) or libuv
 * thread-pool jobs (discoveryd), never from a loop thread. Every call is bounded by a timeout
 * and a response-size limit, so a speaker that hangs or answers garbage cannot wedge a caller. */
#ifndef SB_HTTP_CLIENT_H
#define SB_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct http_response {
	int status;             /* HTTP status code */
	char content_type[128]; /* "" when absent */
	char *body;             /* malloc'ed, NUL-terminated (terminator not counted) */
	size_t body_len;
	char *head;             /* malloc'ed status line and header fields, NUL-terminated */
	size_t head_len;
};

/* Outcome of parsing a response buffer. */
enum http_parse_result { HTTP_PARSE_MALFORMED = -1, HTTP_PARSE_INCOMPLETE = 0, HTTP_PARSE_DONE = 1 };

/* Pure: parse a (possibly partial) response held in buf. With eof set, a body delimited by
 * the connection close is complete. Handles Content-Length and chunked bodies. On DONE,
 * resp holds a malloc'ed copy of the body. Bodies above max_body are MALFORMED. */
enum http_parse_result http_response_parse(const char *buf, size_t len, int eof, size_t max_body,
					   struct http_response *resp);

/* One request to http://host:port/path with optional extra header lines (each "Name: value",
 * array ends with NULL) and body. The whole exchange (connect, send, receive) is bounded by
 * timeout_ms. Returns 0, or a negative errno: -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH,
 * -EMSGSIZE (body above max_body), -EPROTO (not HTTP). */
int http_request(const char *method, const char *host, uint16_t port, const char *path,
		 const char *const *headers, const char *body, size_t body_len, int timeout_ms,
		 size_t max_body, struct http_response *resp);

void http_response_free(struct http_response *resp);

/* Pure: the value of the first header field called name (case-insensitive) in a header
 * block (a request or response head, lines ending in CRLF or LF), trimmed, copied to out.
 * Returns its length, or -1 when absent, when it does not fit in size, or when it holds a
 * control byte (NUL, CR and the like; tabs are fine). */
int http_header_value(const char *head, size_t len, const char *name, char *out, size_t size);

/* Pure: split "http://host[:port]/path" into parts. Returns 0 or -1. */
int http_url_split(const char *url, char *host, size_t hostlen, uint16_t *port, char *path,
		   size_t pathlen);

#endif
