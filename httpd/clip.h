/* clip.h -- what a clip request must satisfy and the cache name it maps to. Pure. */
#ifndef SB_CLIP_H
#define SB_CLIP_H

#include <stddef.h>

#define CLIP_NAME_MAX 72  /* 64 hex + ".wav" + NUL, rounded up */
#define CLIP_VOICE_MAX 32 /* as in struct msg_clip_request */
#define CLIP_MIME "audio/wav"

/* Cache file name of (voice, text): lower-case hex SHA-256 of voice, NUL, text, plus ".wav".
 * name must hold CLIP_NAME_MAX bytes. */
void clip_name(const char *voice, const char *text, size_t len, char name[CLIP_NAME_MAX]);

/* 1 if voice looks like an espeak-ng voice name ("en", "en-us", "de+f3", "mb-en1"): 1..31
 * bytes of letters, digits, '-', '_' and '+'. Nothing that could name a path. */
int clip_voice_valid(const char *voice);

/* Check the text of a request: non-empty, at most max_len bytes, valid UTF-8, no NUL, not
 * only white space. Returns 0, or a negative errno-style code with a reason in err. */
int clip_text_check(const char *text, size_t len, size_t max_len, char *err, size_t errlen);

#endif
