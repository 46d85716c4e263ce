/* synth.h -- speech synthesis with espeak-ng into the clip cache, one clip at a time. */
#ifndef SB_SYNTH_H
#define SB_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"

struct synth_result {
	char name[CLIP_NAME_MAX]; /* file name in the cache directory */
	uint32_t duration_ms;     /* from the file's header */
	uint64_t bytes;           /* file size */
	int cached;               /* 1: the file was already there */
	char error[160];          /* reason when synth_clip fails */
};

/* Load espeak-ng (synchronous output). Returns 0, or -1 with a reason in err. Not
 * thread-safe; call once, before any synth_clip. */
int synth_init(char *err, size_t errlen);

/* 1 if espeak-ng knows voice. Same threading rule as synth_clip. */
int synth_voice_known(const char *voice);

/* Make sure the clip for (voice, text) is in dir: a cache hit is the existing file, a miss
 * is synthesized to a temporary name, synced and renamed, so the final name only ever
 * holds a whole clip. Returns 0, or a negative errno-style code with res->error set.
 * espeak-ng is not thread-safe: at most one call at a time, from any one thread. */
int synth_clip(const char *dir, const char *voice, const char *text, size_t len,
               struct synth_result *res);

/* Read the header of a cached clip: size and duration. Returns 0 or a negative errno. */
int synth_probe(const char *path, uint64_t *bytes, uint32_t *duration_ms, char *err, size_t errlen);

/* Remove temporary files a crash left in dir. Returns how many were removed. */
int synth_clean_temp(const char *dir);

void synth_shutdown(void);

#endif
