/* wav.h -- RIFF/WAVE PCM headers: build one, and parse one from untrusted bytes. */
#ifndef SB_WAV_H
#define SB_WAV_H

#include <stddef.h>
#include <stdint.h>

#define WAV_HEADER_LEN 44 /* canonical header: RIFF, fmt (16 bytes), data */

struct wav_info {
	uint16_t format; /* 1 = PCM */
	uint16_t channels;
	uint32_t sample_rate; /* frames per second */
	uint16_t bits;        /* bits per sample */
	uint32_t block_align; /* bytes per frame */
	uint64_t data_offset; /* where the samples start in the file */
	uint32_t data_bytes;  /* bytes of samples */
	uint32_t duration_ms; /* data_bytes as time, rounded down */
};

/* Write the canonical 44-byte header of a PCM file holding data_bytes of samples.
 * Returns 0, or -1 if the parameters cannot describe a valid file. Pure. */
int wav_header_build(uint8_t out[WAV_HEADER_LEN], uint32_t sample_rate, uint16_t channels,
                     uint16_t bits, uint32_t data_bytes);

/* Parse the header of a WAVE file from its first len bytes; file_size is the whole file's
 * size. Walks the chunks up to "data", requires a PCM "fmt " chunk before it and that the
 * data chunk fits in the file. Never reads past buf[len). Returns 0 and fills *info, or -1
 * with a reason in err. Pure. */
int wav_header_parse(const void *buf, size_t len, uint64_t file_size, struct wav_info *info,
                     char *err, size_t errlen);

#endif
