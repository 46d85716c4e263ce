/* clip.c -- clip request rules and cache names. */
#include "clip.h"
#include "sha256.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void
clip_name(const char *voice, const char *text, size_t len, char name[CLIP_NAME_MAX])
{
	uint8_t digest[SHA256_DIGEST_LEN];
	struct sha256 h;

	sha256_init(&h);
	sha256_update(&h, voice, strlen(voice));
	sha256_update(&h, "", 1); /* the NUL keeps ("ab", "c") apart from ("a", "bc") */
	sha256_update(&h, text, len);
	sha256_final(&h, digest);
	sha256_hex(digest, name);
	memcpy(name + SHA256_HEX_LEN, ".wav", 5);
}

int
clip_voice_valid(const char *voice)
{
	size_t n = strnlen(voice, CLIP_VOICE_MAX);

	if (n == 0 || n >= CLIP_VOICE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = voice[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '+'))
			return 0;
	}
	return 1;
}

int
clip_text_check(const char *text, size_t len, size_t max_len, char *err, size_t errlen)
{
	size_t i;

	if (len == 0) {
		snprintf(err, errlen, "empty text");
		return -EINVAL;
	}
	if (len > max_len) {
		snprintf(err, errlen, "text of %zu bytes is longer than the limit of %zu", len,
		         max_len);
		return -EMSGSIZE;
	}
	if (memchr(text, '\0', len) != NULL || !util_utf8_valid(text, len)) {
		snprintf(err, errlen, "text is not valid UTF-8");
		return -EILSEQ;
	}
	for (i = 0; i < len; i++)
		if (!strchr(" \t\r\n\f\v", text[i]))
			break;
	if (i == len) {
		snprintf(err, errlen, "text is only white space");
		return -EINVAL;
	}
	return 0;
}
