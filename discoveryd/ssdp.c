/* ssdp.c -- build the Sonos M-SEARCH and parse SSDP answers and NOTIFYs; no I/O. */
#include "ssdp.h"
#include "http_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int
ssdp_build_msearch(char *buf, size_t size, const char *st, int mx)
{
	int n;

	for (const char *p = st; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 127)
			return -1;
	if (mx < 1)
		mx = 1;
	if (mx > 5)
		mx = 5;
	n = snprintf(buf, size,
	             "M-SEARCH * HTTP/1.1\r\n"
	             "HOST: " SSDP_GROUP ":%d\r\n"
	             "MAN: \"ssdp:discover\"\r\n"
	             "MX: %d\r\n"
	             "ST: %s\r\n"
	             "\r\n",
	             SSDP_PORT, mx, st);
	return n < 0 || (size_t)n >= size ? -1 : n;
}

/* Copy a header value into a fixed field; -1 when it does not fit or holds a control byte. */
static int
ssdp_copy(char *dst, size_t size, const char *v, size_t len)
{
	if (len >= size)
		return -1;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < ' ' && v[i] != '\t')
			return -1;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return 0;
}

/* "uuid:RINCON_x::urn:..." or "uuid:RINCON_x" -> "RINCON_x". */
static int
ssdp_uuid_from_usn(char *dst, size_t size, const char *v, size_t len)
{
	size_t n = 0;

	if (len < 5 || strncasecmp(v, "uuid:", 5) != 0)
		return -1;
	v += 5;
	len -= 5;
	while (n < len && !(v[n] == ':' && n + 1 < len && v[n + 1] == ':'))
		n++;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '_' && v[i] != '-')
			return -1;
	return ssdp_copy(dst, size, v, n);
}

/* Decimal uint32 or -1. */
static int
ssdp_parse_u32(const char *v, size_t len, uint32_t *out)
{
	uint64_t x = 0;

	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x > UINT32_MAX)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

/* Classify the start line. Returns 0 and sets *kind, or -1. */
static int
ssdp_start_line(const char *line, size_t len, enum ssdp_kind *kind)
{
	if (len >= 12 && strncasecmp(line, "HTTP/1.", 7) == 0 && line[8] == ' ') {
		/* Only a 200 answer carries a device; anything else is an error reply. */
		if (memcmp(line + 9, "200", 3) != 0 || (len > 12 && line[12] != ' '))
			return -1;
		*kind = SSDP_RESPONSE;
		return 0;
	}
	if (len == 17 && strncasecmp(line, "NOTIFY * HTTP/1.1", 17) == 0) {
		*kind = SSDP_ALIVE; /* refined by NTS */
		return 0;
	}
	if (len == 19 && strncasecmp(line, "M-SEARCH * HTTP/1.1", 19) == 0) {
		*kind = SSDP_SEARCH;
		return 0;
	}
	return -1;
}

/* Apply one "Name: value" line to msg. Unknown headers are ignored; returns -1 to reject. */
static int
ssdp_header(struct ssdp_message *msg, const char *line, size_t len, int *has_usn, int *nts)
{
	const char *colon = memchr(line, ':', len), *v;
	size_t nlen, vlen;

	if (colon == NULL || colon == line)
		return -1;
	nlen = (size_t)(colon - line);
	while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
		nlen--;
	v = colon + 1;
	vlen = len - (size_t)(v - line);
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(line, name, nlen) == 0)
	if (IS("LOCATION"))
		return ssdp_copy(msg->location, sizeof(msg->location), v, vlen);
	if (IS("USN")) {
		*has_usn = 1;
		return ssdp_uuid_from_usn(msg->uuid, sizeof(msg->uuid), v, vlen);
	}
	if (IS("ST") || IS("NT"))
		return ssdp_copy(msg->st, sizeof(msg->st), v, vlen);
	if (IS("X-RINCON-HOUSEHOLD"))
		return ssdp_copy(msg->household, sizeof(msg->household), v, vlen);
	if (IS("X-RINCON-BOOTSEQ")) {
		msg->has_bootseq = ssdp_parse_u32(v, vlen, &msg->bootseq) == 0;
		return 0;
	}
	if (IS("X-RINCON-PROXY")) {
		msg->proxy = 1;
		return 0;
	}
	if (IS("NTS")) {
		if (vlen == 10 && strncasecmp(v, "ssdp:alive", 10) == 0)
			*nts = SSDP_ALIVE;
		else if (vlen == 11 && strncasecmp(v, "ssdp:byebye", 11) == 0)
			*nts = SSDP_BYEBYE;
		else if (vlen == 11 && strncasecmp(v, "ssdp:update", 11) == 0)
			*nts = SSDP_UPDATE;
		else
			return -1;
	}
#undef IS
	return 0;
}

int
ssdp_parse(const char *buf, size_t len, struct ssdp_message *msg)
{
	const char *p = buf, *end = buf + len;
	int first = 1, has_usn = 0, nts = 0;

	memset(msg, 0, sizeof(*msg));
	if (len == 0 || len > SSDP_PACKET_MAX)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (first) {
			if (ssdp_start_line(p, n, &msg->kind) < 0)
				return -1;
			first = 0;
		} else if (n == 0) {
			break; /* end of headers; SSDP has no body */
		} else if (ssdp_header(msg, p, n, &has_usn, &nts) < 0) {
			return -1;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (first)
		return -1;
	if (msg->kind == SSDP_SEARCH)
		return 0;
	if (msg->kind == SSDP_ALIVE) {
		if (nts == 0)
			return -1; /* a NOTIFY must say what it announces */
		msg->kind = (enum ssdp_kind)nts;
	} else if (nts != 0) {
		return -1; /* NTS in a search answer: not something a speaker sends */
	}
	if (!has_usn || msg->uuid[0] == '\0')
		return -1;
	if (msg->kind != SSDP_BYEBYE && msg->location[0] == '\0')
		return -1;
	return 0;
}

int
ssdp_location_check(const char *location, const char *from_ip, char *host, size_t hostlen,
                    uint16_t *port, char *path, size_t pathlen)
{
	struct in_addr a, b;

	if (http_url_split(location, host, hostlen, port, path, pathlen) < 0 ||
	    inet_pton(AF_INET, host, &a) != 1)
		return -1;
	/* Compare as addresses, so "010.0.0.1"-style spellings cannot slip past a string check. */
	if (inet_pton(AF_INET, from_ip, &b) != 1 || a.s_addr != b.s_addr)
		return -2;
	return 0;
}
