/* fuzz.h -- what every libFuzzer harness in fuzz/ shares: the entry points and input helpers. */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer calls this once per input; the return value must be 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: called once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A malloc'ed NUL-terminated copy of data, for the APIs that take C strings; aborts on ENOMEM
 * (a harness has nothing better to do). */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A fresh malloc'ed copy of exactly size bytes, so ASan sees any read past the end (libFuzzer's
 * own buffer is also exact, but a copy lets a harness hand out sub-ranges). */
static inline void *
fuzz_copy(const uint8_t *data, size_t size)
{
	void *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
		abort();
	if (size > 0)
		memcpy(p, data, size);
	return p;
}

/* Take the first byte as a selector; returns 0 when there is none. */
static inline unsigned
fuzz_take_byte(const uint8_t **data, size_t *size)
{
	unsigned b;

	if (*size == 0)
		return 0;
	b = **data;
	(*data)++;
	(*size)--;
	return b;
}

#endif
