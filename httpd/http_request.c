/* http_request.c -- strict HTTP/1.x request head parser, Range values and the clip path rule. */
#include "http_request.h"

#include <string.h>
#include <strings.h>

/* tchar of RFC 9110 section 5.6.2. */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Field value bytes: VCHAR, SP, HTAB and obs-text; no other controls. */
static int
is_field_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
token_eq(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

/* Next line of buf[pos..end): sets *line_end (excluding CR LF) and returns the position
 * after the LF, or 0 when there is no LF yet. A CR anywhere but before the LF is an error
 * (-1). */
static size_t
next_line(const char *buf, size_t pos, size_t end, size_t *line_end)
{
	const char *lf = memchr(buf + pos, '\n', end - pos);
	size_t e;

	if (lf == NULL)
		return 0;
	e = (size_t)(lf - buf);
	*line_end = e > pos && buf[e - 1] == '\r' ? e - 1 : e;
	if (memchr(buf + pos, '\r', *line_end - pos) != NULL)
		return (size_t)-1;
	return e + 1;
}

static int
parse_request_line(const char *p, size_t n, struct http_request *req)
{
	const char *sp1 = memchr(p, ' ', n), *sp2, *ver;
	size_t mlen, tlen, vlen;

	if (sp1 == NULL || sp1 == p)
		return -400;
	mlen = (size_t)(sp1 - p);
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar((unsigned char)p[i]))
			return -400;
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (sp2 == NULL || sp2 == sp1 + 1)
		return -400;
	tlen = (size_t)(sp2 - sp1 - 1);
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)sp1[1 + i];

		if (c <= 0x20 || c >= 0x7f)
			return -400;
	}
	ver = sp2 + 1;
	vlen = n - (size_t)(ver - p);
	if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.' || ver[5] < '0' ||
	    ver[5] > '9' || ver[7] < '0' || ver[7] > '9')
		return -400;
	if (ver[5] != '1' || (ver[7] != '0' && ver[7] != '1'))
		return -505;
	req->version = ver[7] == '1' ? 11 : 10;
	memcpy(req->method_name, p,
	       mlen < sizeof(req->method_name) ? mlen : sizeof(req->method_name) - 1);
	if (mlen == 3 && memcmp(p, "GET", 3) == 0)
		req->method = HTTP_METHOD_GET;
	else if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
		req->method = HTTP_METHOD_HEAD; /* methods are case-sensitive */
	if (tlen >= sizeof(req->target))
		return -414;
	memcpy(req->target, sp1 + 1, tlen);
	req->target[tlen] = '\0';
	return 0;
}

/* Apply the tokens of one Connection field. */
static void
parse_connection(const char *v, size_t n, int *close_seen, int *keep_seen)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (token_eq(v + s, e - s, "close"))
			*close_seen = 1;
		else if (token_eq(v + s, e - s, "keep-alive"))
			*keep_seen = 1;
	}
}

/* Content-Length: 1*DIGIT; a repeated field must repeat the same value. */
static int
parse_content_length(const char *v, size_t n, long long *out)
{
	long long x = 0;

	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	if (*out >= 0 && *out != x)
		return -1;
	*out = x;
	return 0;
}

int
http_request_parse(const char *buf, size_t len, struct http_request *req)
{
	size_t pos = 0, end = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, line_end, next;
	int hosts = 0, ranges = 0, fields = 0, close_seen = 0, keep_seen = 0, rv;
	long long content_length = -1;

	memset(req, 0, sizeof(*req));
	/* A server should ignore empty lines before the request line (RFC 9112 2.2). */
	while (pos < end && (buf[pos] == '\r' || buf[pos] == '\n')) {
		if (buf[pos] == '\r' && pos + 1 < end && buf[pos + 1] != '\n')
			return -400;
		pos++;
	}
	next = next_line(buf, pos, end, &line_end);
	if (next == (size_t)-1)
		return -400;
	if (next == 0) {
		/* Reject binary junk (a TLS hello, say) now instead of at the idle timeout. */
		for (size_t i = pos; i < end; i++)
			if (((unsigned char)buf[i] < 0x20 && buf[i] != '\r') ||
			    (unsigned char)buf[i] >= 0x7f)
				return -400;
		return len >= HTTP_HEAD_MAX ? -431 : 0;
	}
	if ((rv = parse_request_line(buf + pos, line_end - pos, req)) < 0)
		return rv;
	for (pos = next;; pos = next) {
		const char *name, *colon, *v;
		size_t nlen, vlen;

		next = next_line(buf, pos, end, &line_end);
		if (next == (size_t)-1)
			return -400;
		if (next == 0)
			return len >= HTTP_HEAD_MAX ? -431 : 0;
		if (line_end == pos)
			break; /* the blank line */
		if (++fields > HTTP_FIELDS_MAX)
			return -431;
		name = buf + pos;
		colon = memchr(name, ':', line_end - pos);
		if (colon == NULL || colon == name)
			return -400; /* also rejects obsolete line folding */
		nlen = (size_t)(colon - name);
		for (size_t i = 0; i < nlen; i++)
			if (!is_tchar((unsigned char)name[i]))
				return -400;
		v = colon + 1;
		vlen = (size_t)(buf + line_end - v);
		for (size_t i = 0; i < vlen; i++)
			if (!is_field_byte((unsigned char)v[i]))
				return -400;
		while (vlen > 0 && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (token_eq(name, nlen, "Host")) {
			hosts++;
		} else if (token_eq(name, nlen, "Connection")) {
			parse_connection(v, vlen, &close_seen, &keep_seen);
		} else if (token_eq(name, nlen, "Range")) {
			if (++ranges > 1)
				return -400;
			req->has_range = 1;
			if (vlen < sizeof(req->range)) {
				memcpy(req->range, v, vlen);
				req->range[vlen] = '\0';
			}
		} else if (token_eq(name, nlen, "Content-Length")) {
			if (parse_content_length(v, vlen, &content_length) < 0)
				return -400;
		} else if (token_eq(name, nlen, "Transfer-Encoding")) {
			return -501;
		}
	}
	if (req->version == 11 && hosts != 1)
		return -400; /* RFC 9112 3.2 */
	if (hosts > 1)
		return -400;
	req->has_body = content_length > 0;
	if (req->version == 11)
		req->keep_alive = !close_seen;
	else
		req->keep_alive = keep_seen && !close_seen;
	if (req->has_body)
		req->keep_alive = 0;
	req->head_len = next;
	return (int)next;
}

/* Digits at *p as a number that saturates instead of overflowing. Returns the count of
 * digits read. */
static size_t
parse_u64(const char *p, uint64_t *out)
{
	uint64_t x = 0;
	size_t n = 0;

	for (; p[n] >= '0' && p[n] <= '9'; n++) {
		unsigned d = (unsigned)(p[n] - '0');

		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	*out = x;
	return n;
}

int
http_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last)
{
	const char *p = value;
	uint64_t a, b;
	size_t n;

	if (strncasecmp(p, "bytes=", 6) != 0)
		return 0;
	p += 6;
	if (strchr(p, ',') != NULL)
		return 0; /* several ranges: a server may ignore the field (RFC 9110 14.2) */
	if (*p == '-') {
		if ((n = parse_u64(p + 1, &b)) == 0 || p[1 + n] != '\0')
			return 0;
		if (b == 0 || size == 0)
			return -416;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if ((n = parse_u64(p, &a)) == 0 || p[n] != '-')
		return 0;
	p += n + 1;
	if (*p == '\0') {
		b = UINT64_MAX;
	} else {
		if ((n = parse_u64(p, &b)) == 0 || p[n] != '\0' || b < a)
			return 0;
	}
	if (a >= size)
		return -416;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}

int
http_clip_target(const char *target, char *name, size_t size)
{
	static const char prefix[] = "/clips/", suffix[] = ".wav";
	const size_t plen = sizeof(prefix) - 1, hexlen = 64, slen = sizeof(suffix) - 1;

	/* absolute-form, which servers must accept (RFC 9112 3.2.2): the authority is ignored. */
	if (strncasecmp(target, "http://", 7) == 0) {
		if ((target = strchr(target + 7, '/')) == NULL)
			return 0;
	}
	if (strlen(target) != plen + hexlen + slen || strncmp(target, prefix, plen) != 0 ||
	    strcmp(target + plen + hexlen, suffix) != 0 || size < hexlen + slen + 1)
		return 0;
	for (size_t i = plen; i < plen + hexlen; i++) {
		char c = target[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	memcpy(name, target + plen, hexlen + slen + 1);
	return 1;
}
