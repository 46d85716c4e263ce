/* util.c -- slugs, UTF-8 validation, clocks, directories, addresses, route lookup. */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int
util_slug(const char *name, char *out, size_t size)
{
	size_t n = 0;
	int dash = 0;

	if (size == 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		unsigned char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		/* Latin-1 capitals (U+00C0..U+00DE but U+00D7) to small: "KÜCHE" -> "küche". */
		if (c == 0xc3 && p[1] >= 0x80 && p[1] <= 0x9e && p[1] != 0x97) {
			if (dash && n > 0) {
				if (n + 1 >= size)
					return -1;
				out[n++] = '-';
			}
			dash = 0;
			if (n + 2 >= size)
				return -1;
			out[n++] = (char)0xc3;
			out[n++] = (char)(p[1] + 0x20);
			p++;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) {
			if (dash && n > 0) {
				if (n + 1 >= size)
					return -1;
				out[n++] = '-';
			}
			dash = 0;
			if (n + 1 >= size)
				return -1;
			out[n++] = (char)c;
		} else {
			dash = 1;
		}
	}
	out[n] = '\0';
	return (int)n;
}

int
util_utf8_valid(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t need;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= need)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

uint64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int
util_mkdir_p(const char *path, mode_t mode)
{
	char buf[512];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* An IPv4 address in dotted form, or IPv4-mapped IPv6. Returns 0 or -1. */
static int
util_ipv4(const char *s, struct in_addr *out)
{
	struct in6_addr a6;

	if (inet_pton(AF_INET, s, out) == 1)
		return 0;
	if (inet_pton(AF_INET6, s, &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&out->s_addr, &a6.s6_addr[12], 4);
		return 0;
	}
	return -1;
}

int
util_same_ipv4(const char *a, const char *b)
{
	struct in_addr x, y;

	return util_ipv4(a, &x) == 0 && util_ipv4(b, &y) == 0 && x.s_addr == y.s_addr;
}

int
util_route_source(const char *ip, char *out, size_t size)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(1400)};
	struct sockaddr_in src;
	socklen_t len = sizeof(src);
	int fd, rv = -1;

	if (inet_pton(AF_INET, ip, &dst.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	/* connect() on UDP only picks the route and source address; nothing is sent. */
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&src, &len) == 0 &&
	    inet_ntop(AF_INET, &src.sin_addr, out, (socklen_t)size) != NULL)
		rv = 0;
	close(fd);
	return rv;
}
