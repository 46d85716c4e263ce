/* http_client.c -- a small blocking HTTP/1.1 client: pure response parser plus one bounded request.
 */
#include "http_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_HEADER_MAX (16 * 1024)  /* status line + header block */
#define HTTP_CHUNK_LINE_MAX 1024     /* chunk size line incl. extensions */
#define HTTP_REQUEST_MAX (64 * 1024) /* request line + headers we are willing to build */

/* What the header block says about the body. */
struct http_head {
	int status;
	size_t head_len; /* bytes up to and including the blank line */
	int chunked;
	int has_length;
	size_t content_length;
	char content_type[128];
};

/* Reason for a MALFORMED result, so http_request can tell size from protocol errors. */
enum http_fail { HTTP_FAIL_PROTO = 1, HTTP_FAIL_SIZE = 2 };

static enum http_parse_result
http_fail(int *why, int reason)
{
	*why = reason;
	return HTTP_PARSE_MALFORMED;
}

/* Find the end of the line starting at p (before end). Returns the index of '\n' or -1. */
static long
http_line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl == NULL ? -1 : nl - p;
}

/* Parse a decimal size without overflow; the whole [p, p+len) must be digits. */
static int
http_parse_size(const char *p, size_t len, size_t *out)
{
	size_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		if (v > ((size_t)-1 - 9) / 10)
			return -1;
		v = v * 10 + (size_t)(p[i] - '0');
	}
	*out = v;
	return 0;
}

/* Trim spaces and tabs at both ends of [*p, *p + *len). */
static void
http_trim(const char **p, size_t *len)
{
	while (*len > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 &&
	       ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t' || (*p)[*len - 1] == '\r'))
		(*len)--;
}

/* 1 if the comma separated list [v, v+len) ends with the token "chunked". */
static int
http_last_coding_chunked(const char *v, size_t len)
{
	const char *comma = NULL;

	for (size_t i = 0; i < len; i++)
		if (v[i] == ',')
			comma = v + i;
	if (comma != NULL) {
		len -= (size_t)(comma + 1 - v);
		v = comma + 1;
	}
	http_trim(&v, &len);
	return len == 7 && strncasecmp(v, "chunked", 7) == 0;
}

/* Parse one header line into h. Returns 0, or -1 when it is malformed. */
static int
http_header_line(const char *line, size_t len, struct http_head *h)
{
	const char *colon = memchr(line, ':', len);
	const char *value;
	size_t name_len, value_len;

	if (colon == NULL || colon == line)
		return -1;
	name_len = (size_t)(colon - line);
	for (size_t i = 0; i < name_len; i++)
		if (line[i] <= ' ' || line[i] >= 127)
			return -1; /* no whitespace before the colon, no controls */
	value = colon + 1;
	value_len = len - name_len - 1;
	http_trim(&value, &value_len);
	if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		size_t n;

		if (http_parse_size(value, value_len, &n) < 0)
			return -1;
		if (h->has_length && n != h->content_length)
			return -1; /* conflicting lengths: a smuggling shape, refuse */
		h->content_length = n;
		h->has_length = 1;
	} else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		h->chunked = http_last_coding_chunked(value, value_len);
	} else if (name_len == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
		size_t n = value_len < sizeof(h->content_type) - 1 ? value_len
		                                                   : sizeof(h->content_type) - 1;

		memcpy(h->content_type, value, n);
		h->content_type[n] = '\0';
	}
	return 0;
}

/* Parse the status line "HTTP/1.x NNN reason". */
static int
http_status_line(const char *line, size_t len, int *status)
{
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
	    line[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (!isdigit((unsigned char)line[i]))
			return -1;
	if (len > 12 && line[12] != ' ' && line[12] != '\r')
		return -1;
	*status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	return *status >= 100 ? 0 : -1;
}

/* Parse one header block at buf (status line to blank line). Lines may end in CRLF or LF. */
static enum http_parse_result
http_head_parse(const char *buf, size_t len, struct http_head *h, int *why)
{
	const char *p = buf, *end = buf + (len < HTTP_HEADER_MAX ? len : HTTP_HEADER_MAX);
	int first = 1;

	memset(h, 0, sizeof(*h));
	/* Reject a non-HTTP peer as soon as the first bytes disagree, not after 16 KB. */
	if (memcmp(buf, "HTTP/1.", len < 7 ? len : 7) != 0)
		return http_fail(why, HTTP_FAIL_PROTO);
	for (;;) {
		long n = http_line_end(p, end);
		size_t line_len;

		if (n < 0)
			return len >= HTTP_HEADER_MAX ? http_fail(why, HTTP_FAIL_PROTO)
			                              : HTTP_PARSE_INCOMPLETE;
		line_len = (size_t)n;
		if (line_len > 0 && p[line_len - 1] == '\r')
			line_len--;
		if (first) {
			if (http_status_line(p, line_len, &h->status) < 0)
				return http_fail(why, HTTP_FAIL_PROTO);
			first = 0;
		} else if (line_len == 0) {
			h->head_len = (size_t)(p + n + 1 - buf);
			return HTTP_PARSE_DONE;
		} else if (p[0] == ' ' || p[0] == '\t') {
			return http_fail(why, HTTP_FAIL_PROTO); /* obsolete line folding */
		} else if (http_header_line(p, line_len, h) < 0) {
			return http_fail(why, HTTP_FAIL_PROTO);
		}
		p += n + 1;
	}
}

/* Walk a chunked body at buf. Copies the data to out when out is not NULL. On DONE, *total
 * is the decoded length. Every chunk and trailer line is bounded. */
static enum http_parse_result
http_chunked_walk(const char *buf, size_t len, size_t max_body, char *out, size_t *total, int *why)
{
	const char *p = buf, *end = buf + len;
	size_t sum = 0;

	for (;;) {
		long n = http_line_end(p, end);
		size_t size = 0, digits = 0;

		if (n < 0)
			return (size_t)(end - p) > HTTP_CHUNK_LINE_MAX
			           ? http_fail(why, HTTP_FAIL_PROTO)
			           : HTTP_PARSE_INCOMPLETE;
		if (n > HTTP_CHUNK_LINE_MAX)
			return http_fail(why, HTTP_FAIL_PROTO);
		while (digits < (size_t)n && isxdigit((unsigned char)p[digits])) {
			int c = tolower((unsigned char)p[digits]);

			if (size > ((size_t)-1 >> 4))
				return http_fail(why, HTTP_FAIL_SIZE);
			size = size * 16 + (size_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
			digits++;
		}
		/* After the digits: optional whitespace, ";extension", then CR. */
		if (digits == 0 || (digits < (size_t)n && p[digits] != ';' && p[digits] != '\r' &&
		                    p[digits] != ' ' && p[digits] != '\t'))
			return http_fail(why, HTTP_FAIL_PROTO);
		p += n + 1;
		if (size == 0)
			break;
		if (size > max_body || sum > max_body - size)
			return http_fail(why, HTTP_FAIL_SIZE);
		if ((size_t)(end - p) < size)
			return HTTP_PARSE_INCOMPLETE;
		if (out != NULL)
			memcpy(out + sum, p, size);
		sum += size;
		p += size;
		/* The data is followed by CRLF (LF tolerated). */
		if (p < end && *p == '\r')
			p++;
		if (p >= end)
			return HTTP_PARSE_INCOMPLETE;
		if (*p != '\n')
			return http_fail(why, HTTP_FAIL_PROTO);
		p++;
	}
	/* Trailer lines until an empty line; bounded like the header block. */
	for (size_t trailer = 0;;) {
		long n = http_line_end(p, end);

		if (n < 0)
			return (size_t)(end - p) + trailer > HTTP_HEADER_MAX
			           ? http_fail(why, HTTP_FAIL_PROTO)
			           : HTTP_PARSE_INCOMPLETE;
		trailer += (size_t)n + 1;
		if (trailer > HTTP_HEADER_MAX)
			return http_fail(why, HTTP_FAIL_PROTO);
		if (n == 0 || (n == 1 && p[0] == '\r'))
			break;
		p += n + 1;
	}
	*total = sum;
	return HTTP_PARSE_DONE;
}

/* The parser behind http_response_parse, also reporting why a response was refused. */
static enum http_parse_result
http_parse(const char *buf, size_t len, int eof, size_t max_body, struct http_response *resp,
           int *why)
{
	struct http_head h;
	enum http_parse_result r;
	const char *body;
	size_t avail, body_len = 0;

	memset(resp, 0, sizeof(*resp));
	*why = 0;
	if (len == 0)
		return eof ? http_fail(why, HTTP_FAIL_PROTO) : HTTP_PARSE_INCOMPLETE;
	/* Interim 1xx responses (100 Continue) precede the real one; skip a bounded number. */
	for (int interim = 0;; interim++) {
		r = http_head_parse(buf, len, &h, why);
		if (r == HTTP_PARSE_INCOMPLETE && eof)
			return http_fail(why, HTTP_FAIL_PROTO);
		if (r != HTTP_PARSE_DONE)
			return r;
		if (h.status >= 200)
			break;
		if (interim >= 4)
			return http_fail(why, HTTP_FAIL_PROTO);
		buf += h.head_len;
		len -= h.head_len;
		if (len == 0)
			return eof ? http_fail(why, HTTP_FAIL_PROTO) : HTTP_PARSE_INCOMPLETE;
	}
	body = buf + h.head_len;
	avail = len - h.head_len;
	if (h.status == 204 || h.status == 304) {
		body_len = 0;
	} else if (h.chunked) {
		r = http_chunked_walk(body, avail, max_body, NULL, &body_len, why);
		if (r == HTTP_PARSE_INCOMPLETE && eof)
			return http_fail(why, HTTP_FAIL_PROTO);
		if (r != HTTP_PARSE_DONE)
			return r;
	} else if (h.has_length) {
		if (h.content_length > max_body)
			return http_fail(why, HTTP_FAIL_SIZE);
		if (avail < h.content_length)
			return eof ? http_fail(why, HTTP_FAIL_PROTO) : HTTP_PARSE_INCOMPLETE;
		body_len = h.content_length;
	} else {
		if (avail > max_body)
			return http_fail(why, HTTP_FAIL_SIZE);
		if (!eof)
			return HTTP_PARSE_INCOMPLETE;
		body_len = avail;
	}
	if ((resp->body = malloc(body_len + 1)) == NULL ||
	    (resp->head = malloc(h.head_len + 1)) == NULL) {
		free(resp->body);
		resp->body = NULL;
		return http_fail(why, HTTP_FAIL_SIZE);
	}
	memcpy(resp->head, buf, h.head_len);
	resp->head[h.head_len] = '\0';
	resp->head_len = h.head_len;
	if (h.chunked && h.status != 204 && h.status != 304)
		http_chunked_walk(body, avail, max_body, resp->body, &body_len, why);
	else
		memcpy(resp->body, body, body_len);
	resp->body[body_len] = '\0';
	resp->body_len = body_len;
	resp->status = h.status;
	memcpy(resp->content_type, h.content_type, sizeof(resp->content_type));
	return HTTP_PARSE_DONE;
}

/* resp is overwritten (not freed) on every call; on anything but DONE it holds no body. */
enum http_parse_result
http_response_parse(const char *buf, size_t len, int eof, size_t max_body,
                    struct http_response *resp)
{
	int why;

	return http_parse(buf, len, eof, max_body, resp, &why);
}

void
http_response_free(struct http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	free(resp->head);
	resp->head = NULL;
	resp->head_len = 0;
}

int
http_header_value(const char *head, size_t len, const char *name, char *out, size_t size)
{
	const char *p = head, *end = head + len;
	size_t nlen = strlen(name);

	while (p < end) {
		long n = http_line_end(p, end);
		size_t line_len = n < 0 ? (size_t)(end - p) : (size_t)n;
		const char *v;
		size_t vlen;

		if (line_len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			v = p + nlen + 1;
			vlen = line_len - nlen - 1;
			http_trim(&v, &vlen);
			if (vlen >= size)
				return -1;
			for (size_t i = 0; i < vlen; i++)
				if (((unsigned char)v[i] < ' ' && v[i] != '\t') || v[i] == 0x7f)
					return -1; /* a control byte: malformed */
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return (int)vlen;
		}
		if (n < 0)
			break;
		p += n + 1;
	}
	return -1;
}

int
http_url_split(const char *url, char *host, size_t hostlen, uint16_t *port, char *path,
               size_t pathlen)
{
	const char *p, *host_end, *path_start;
	size_t n;
	unsigned long v = 80;

	if (url == NULL || strncasecmp(url, "http://", 7) != 0)
		return -1;
	p = url + 7;
	path_start = p + strcspn(p, "/?#");
	if (*p == '[') { /* [v6]:port */
		const char *close = memchr(p, ']', (size_t)(path_start - p));

		if (close == NULL)
			return -1;
		n = (size_t)(close - p - 1);
		if (n == 0 || n >= hostlen)
			return -1;
		memcpy(host, p + 1, n);
		host[n] = '\0';
		host_end = close + 1;
		if (host_end != path_start && *host_end != ':')
			return -1;
	} else {
		host_end = memchr(p, ':', (size_t)(path_start - p));
		if (host_end == NULL)
			host_end = path_start;
		n = (size_t)(host_end - p);
		if (n == 0 || n >= hostlen || memchr(p, '@', n) != NULL)
			return -1;
		memcpy(host, p, n);
		host[n] = '\0';
	}
	if (host_end < path_start) { /* ":port" */
		const char *d = host_end + 1;

		if (d == path_start || path_start - d > 5)
			return -1;
		v = 0;
		for (; d < path_start; d++) {
			if (!isdigit((unsigned char)*d))
				return -1;
			v = v * 10 + (unsigned long)(*d - '0');
		}
		if (v == 0 || v > 65535)
			return -1;
	}
	*port = (uint16_t)v;
	if (*path_start == '\0') {
		path_start = "/";
	} else if (*path_start != '/') {
		return -1; /* "?query" without a path: keep it simple */
	}
	n = strlen(path_start);
	if (n >= pathlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path_start[i] <= ' ' || path_start[i] == 127)
			return -1;
	memcpy(path, path_start, n + 1);
	return 0;
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC, in ms); never negative. */
static int
http_remaining(long long deadline)
{
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Wait for events on fd until the deadline. Returns 0, or -ETIMEDOUT / -errno. */
static int
http_wait(int fd, short events, long long deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int left = http_remaining(deadline), rv;

		if (left == 0)
			return -ETIMEDOUT;
		rv = poll(&pfd, 1, left);
		if (rv > 0)
			return 0;
		if (rv == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Connect a non-blocking socket to host:port (numeric address only: a name lookup could not
 * be bounded by the timeout). Returns the fd or a negative errno. */
static int
http_connect(const char *host, uint16_t port, long long deadline)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	char service[8];
	socklen_t sl;
	int fd, rv, soerr = 0;

	snprintf(service, sizeof(service), "%u", (unsigned)port);
	if (getaddrinfo(host, service, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rv = -errno;
		freeaddrinfo(ai);
		return rv;
	}
	rv = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rv == 0)
		return fd;
	if (errno != EINPROGRESS) {
		rv = -errno;
		close(fd);
		return rv;
	}
	if ((rv = http_wait(fd, POLLOUT, deadline)) < 0) {
		close(fd);
		return rv;
	}
	sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr != 0) {
		close(fd);
		return -soerr;
	}
	return fd;
}

/* 1 if s is safe inside a request line or header (no CR, LF or other controls). */
static int
http_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' && *s != '\t')
			return 0;
	return 1;
}

/* Format the request head into a malloc'ed buffer. Returns its length or a negative errno. */
static int
http_build_head(char **out, const char *method, const char *host, uint16_t port, const char *path,
                const char *const *headers, const char *body, size_t body_len)
{
	char *buf = malloc(HTTP_REQUEST_MAX);
	size_t off = 0;
	int n;

	if (buf == NULL)
		return -ENOMEM;
	if (!http_text_ok(method) || !http_text_ok(host) || !http_text_ok(path) ||
	    strchr(path, ' ') != NULL || strchr(method, ' ') != NULL)
		goto invalid;
	n = snprintf(buf, HTTP_REQUEST_MAX,
	             strchr(host, ':') != NULL ? "%s %s HTTP/1.1\r\nHost: [%s]:%u\r\n"
	                                       : "%s %s HTTP/1.1\r\nHost: %s:%u\r\n",
	             method, path, host, (unsigned)port);
	if (n < 0 || n >= HTTP_REQUEST_MAX)
		goto invalid;
	off = (size_t)n;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		if (!http_text_ok(headers[i]) || strchr(headers[i], ':') == NULL)
			goto invalid;
		n = snprintf(buf + off, HTTP_REQUEST_MAX - off, "%s\r\n", headers[i]);
		if (n < 0 || (size_t)n >= HTTP_REQUEST_MAX - off)
			goto invalid;
		off += (size_t)n;
	}
	if (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
		n = snprintf(buf + off, HTTP_REQUEST_MAX - off,
		             "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
	else
		n = snprintf(buf + off, HTTP_REQUEST_MAX - off, "Connection: close\r\n\r\n");
	if (n < 0 || (size_t)n >= HTTP_REQUEST_MAX - off)
		goto invalid;
	*out = buf;
	return (int)(off + (size_t)n);
invalid:
	free(buf);
	return -EINVAL;
}

/* Send all of buf before the deadline. */
static int
http_send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if ((n = http_wait(fd, POLLOUT, deadline)) < 0)
			return (int)n;
	}
	return 0;
}

/* Receive and parse until the response is complete, the peer closes, or the deadline. */
static int
http_receive(int fd, long long deadline, size_t max_body, struct http_response *resp)
{
	/* Raw bytes allowed on the wire: header block, body, and framing overhead of chunks. */
	size_t cap = HTTP_HEADER_MAX + max_body + max_body / 2 + 4096;
	size_t len = 0, size = 4096;
	char *buf = malloc(size);
	int rv, why, eof = 0;

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		enum http_parse_result r;
		int got = 0;

		/* Drain what is there before parsing, so big bodies are not re-parsed per segment.
		 */
		for (;;) {
			ssize_t n;

			if (len == size) {
				char *nb;

				if (size >= cap) {
					rv = -EMSGSIZE;
					goto out;
				}
				size = size * 2 < cap ? size * 2 : cap;
				if ((nb = realloc(buf, size)) == NULL) {
					rv = -ENOMEM;
					goto out;
				}
				buf = nb;
			}
			n = recv(fd, buf + len, size - len, 0);
			if (n > 0) {
				len += (size_t)n;
				got = 1;
				continue;
			}
			if (n == 0) {
				eof = 1;
				break;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			rv = -errno;
			goto out;
		}
		if (got || eof) {
			r = http_parse(buf, len, eof, max_body, resp, &why);
			if (r == HTTP_PARSE_DONE) {
				rv = 0;
				goto out;
			}
			if (r == HTTP_PARSE_MALFORMED) {
				rv = why == HTTP_FAIL_SIZE ? -EMSGSIZE : -EPROTO;
				goto out;
			}
			if (eof) {
				rv = -EPROTO;
				goto out;
			}
		}
		if ((rv = http_wait(fd, POLLIN, deadline)) < 0)
			goto out;
	}
out:
	free(buf);
	return rv;
}

/* One bounded request; see http_client.h. host must be a numeric IPv4 or IPv6 address. */
int
http_request(const char *method, const char *host, uint16_t port, const char *path,
             const char *const *headers, const char *body, size_t body_len, int timeout_ms,
             size_t max_body, struct http_response *resp)
{
	long long deadline;
	struct timespec ts;
	char *head = NULL;
	int fd, rv, head_len;

	memset(resp, 0, sizeof(*resp));
	if (method == NULL || host == NULL || path == NULL || timeout_ms <= 0)
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
	if ((head_len = http_build_head(&head, method, host, port, path, headers, body, body_len)) <
	    0)
		return head_len;
	if ((fd = http_connect(host, port, deadline)) < 0) {
		free(head);
		return fd == -ENETUNREACH ? -EHOSTUNREACH : fd;
	}
	rv = http_send_all(fd, head, (size_t)head_len, deadline);
	if (rv == 0 && body != NULL && body_len > 0)
		rv = http_send_all(fd, body, body_len, deadline);
	free(head);
	if (rv == 0)
		rv = http_receive(fd, deadline, max_body, resp);
	close(fd);
	if (rv < 0)
		http_response_free(resp);
	return rv;
}
