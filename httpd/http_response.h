/* http_response.h -- status lines and response heads, formatted without I/O. */
#ifndef SB_HTTP_RESPONSE_H
#define SB_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct http_response {
	int status;               /* 200, 206, 404, ... */
	int version;              /* of the request, 10 or 11: a 1.0 keep-alive is announced */
	int keep_alive;           /* 0: says Connection: close */
	const char *content_type; /* NULL: no Content-Type */
	uint64_t content_length;
	int accept_ranges; /* says Accept-Ranges: bytes */
	int content_range; /* 206: bytes first-last/total; 416: bytes * / total */
	uint64_t first, last, total;
	const char *allow; /* for 405; NULL otherwise */
	time_t date;       /* for the Date field */
};

/* Reason phrase of a status code ("Not Found"); "Unknown" for codes not used here. */
const char *http_reason(int status);

/* Format the status line and header fields, ending in the blank line. Returns the length,
 * or -1 if it does not fit in size. Pure. */
int http_response_head(char *buf, size_t size, const struct http_response *r);

#endif
