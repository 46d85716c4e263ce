/* strbuf.h -- a growable, always NUL-terminated byte string with a size cap. */
#ifndef SB_STRBUF_H
#define SB_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *s;      /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;   /* appends beyond this fail; 0 = 1 MiB */
	int failed;   /* set on allocation failure or overflow; later appends are no-ops */
};

#define STRBUF_INIT {NULL, 0, 0, 0, 0}

int strbuf_append(struct strbuf *b, const char *s, size_t n);
int strbuf_puts(struct strbuf *b, const char *s);
int strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s with &, <, >, ", ' replaced by XML entities. */
int strbuf_xml_escape(struct strbuf *b, const char *s);
void strbuf_free(struct strbuf *b);

#endif
