/* util.h -- small pure helpers shared by every process. */
#ifndef SB_UTIL_H
#define SB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Room name to topic slug: lower case ASCII, spaces and punctuation to '-', runs collapsed,
 * no leading or trailing '-'. Non-ASCII UTF-8 bytes are kept. Returns the slug length, or -1
 * if it does not fit. */
int util_slug(const char *name, char *out, size_t size);

/* 1 if buf[0..len) is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
int util_utf8_valid(const char *buf, size_t len);

/* Wall clock and monotonic clock in milliseconds. */
uint64_t util_now_ms(void);
uint64_t util_mono_ms(void);
/* The same clock in microseconds (systemd's MONOTONIC_USEC). */
uint64_t util_mono_us(void);

/* mkdir -p with mode for each created component. Returns 0 or -1 with errno. */
int util_mkdir_p(const char *path, mode_t mode);

/* 1 if a and b are the same IPv4 address ("::ffff:a.b.c.d" counts as a.b.c.d), compared as
 * addresses; 0 otherwise, and when either is not an IPv4 address. Pure. */
int util_same_ipv4(const char *a, const char *b);

/* Source address this host would use to reach ip (no packet is sent). Returns 0 or -1. */
int util_route_source(const char *ip, char *out, size_t size);

#endif
