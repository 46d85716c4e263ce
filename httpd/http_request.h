/* http_request.h -- HTTP/1.x request heads and Range values: bounded parsers, no I/O. */
#ifndef SB_HTTP_REQUEST_H
#define SB_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 8192   /* request line + header fields + blank line */
#define HTTP_FIELDS_MAX 64   /* header fields per request */
#define HTTP_TARGET_MAX 1024 /* longest request target kept */
#define HTTP_RANGE_MAX 128   /* longest Range value kept */

enum http_method { HTTP_METHOD_OTHER = 0, HTTP_METHOD_GET, HTTP_METHOD_HEAD };

struct http_request {
	enum http_method method;
	char method_name[16];         /* as sent, truncated, for logs */
	char target[HTTP_TARGET_MAX]; /* request target as sent */
	int version;                  /* 10 or 11 */
	int keep_alive;               /* 1: the connection may carry another request */
	int has_range;                /* a Range field was present */
	char range[HTTP_RANGE_MAX];   /* its value, trimmed; "" when too long */
	int has_body;                 /* Content-Length > 0: not read, connection must close */
	size_t head_len;              /* bytes of the head, including the blank line */
};

/* Parse one request head from buf[0..len). Returns the head length (> 0) when complete,
 * 0 when more bytes are needed, or the negated HTTP status to answer before closing:
 * -400 malformed, -414 target too long, -431 head too large, -501 Transfer-Encoding,
 * -505 version not supported. Pure; reads nothing past buf[len). */
int http_request_parse(const char *buf, size_t len, struct http_request *req);

/* Interpret a Range value against a representation of size bytes. Returns 1 and sets the
 * inclusive [*first, *last] for one satisfiable range; 0 when the value is to be ignored
 * and the whole representation sent (malformed, other unit, several ranges); -416 when
 * unsatisfiable. Pure. */
int http_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last);

/* 1 if target is exactly "/clips/<64 lower-case hex>.wav" (or that path in absolute form,
 * "http://host/clips/..."); then the file name part is copied to name (at least 69 bytes).
 * Anything else (query, encoding, dots) is 0. Pure. */
int http_clip_target(const char *target, char *name, size_t size);

#endif
