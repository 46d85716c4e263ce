/* strbuf.c -- growable strings for building SOAP bodies, JSON and HTTP headers. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
strbuf_grow(struct strbuf *b, size_t extra)
{
	size_t max = b->max ? b->max : (size_t)1 << 20;
	size_t need, cap;
	char *s;

	if (b->failed)
		return -1;
	if (extra > max || b->len + extra > max) {
		b->failed = 1;
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	for (cap = b->cap ? b->cap : 64; cap < need; cap *= 2)
		;
	if ((s = realloc(b->s, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->s = s;
	b->cap = cap;
	return 0;
}

int
strbuf_append(struct strbuf *b, const char *s, size_t n)
{
	if (strbuf_grow(b, n) < 0)
		return -1;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

int
strbuf_puts(struct strbuf *b, const char *s)
{
	return strbuf_append(b, s, strlen(s));
}

int
strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || strbuf_grow(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int
strbuf_xml_escape(struct strbuf *b, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *ent;

		switch (*s) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&apos;"; break;
		default: continue;
		}
		strbuf_append(b, run, (size_t)(s - run));
		strbuf_puts(b, ent);
		run = s + 1;
	}
	strbuf_append(b, run, (size_t)(s - run));
	return b->failed ? -1 : 0;
}

void
strbuf_free(struct strbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}
