/* wav.c -- RIFF/WAVE PCM header building and a bounded parser for untrusted headers. */
#include "wav.h"

#include <stdio.h>
#include <string.h>

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
wav_header_build(uint8_t out[WAV_HEADER_LEN], uint32_t sample_rate, uint16_t channels,
                 uint16_t bits, uint32_t data_bytes)
{
	uint32_t align = (uint32_t)channels * (bits / 8);

	if (sample_rate == 0 || channels == 0 || bits == 0 || bits % 8 != 0 || align > 0xffff ||
	    data_bytes > UINT32_MAX - (WAV_HEADER_LEN - 8) - 1)
		return -1;
	memcpy(out, "RIFF", 4);
	/* RIFF chunks are padded to even length; the pad byte is counted in the RIFF size. */
	put32(out + 4, (WAV_HEADER_LEN - 8) + data_bytes + (data_bytes & 1));
	memcpy(out + 8, "WAVE", 4);
	memcpy(out + 12, "fmt ", 4);
	put32(out + 16, 16);
	put16(out + 20, 1);
	put16(out + 22, channels);
	put32(out + 24, sample_rate);
	put32(out + 28, sample_rate * align);
	put16(out + 32, (uint16_t)align);
	put16(out + 34, bits);
	memcpy(out + 36, "data", 4);
	put32(out + 40, data_bytes);
	return 0;
}

static int
wav_fmt_parse(const uint8_t *p, uint32_t size, struct wav_info *info, char *err, size_t errlen)
{
	if (size < 16) {
		snprintf(err, errlen, "fmt chunk of %u bytes", size);
		return -1;
	}
	info->format = get16(p);
	info->channels = get16(p + 2);
	info->sample_rate = get32(p + 4);
	info->block_align = get16(p + 12);
	info->bits = get16(p + 14);
	if (info->format != 1) {
		snprintf(err, errlen, "format %u is not PCM", info->format);
		return -1;
	}
	if (info->channels == 0 || info->channels > 8 || info->sample_rate == 0 ||
	    info->sample_rate > 384000 ||
	    (info->bits != 8 && info->bits != 16 && info->bits != 24 && info->bits != 32)) {
		snprintf(err, errlen, "implausible format: %u channels, %u Hz, %u bits",
		         info->channels, info->sample_rate, info->bits);
		return -1;
	}
	if (info->block_align != info->channels * (info->bits / 8u)) {
		snprintf(err, errlen, "block align %u does not match %u x %u bits",
		         info->block_align, info->channels, info->bits);
		return -1;
	}
	return 0;
}

int
wav_header_parse(const void *buf, size_t len, uint64_t file_size, struct wav_info *info, char *err,
                 size_t errlen)
{
	const uint8_t *p = buf;
	uint64_t pos = 12;
	int have_fmt = 0;

	memset(info, 0, sizeof(*info));
	if (len > file_size)
		len = (size_t)file_size;
	if (len < 12 || memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WAVE", 4) != 0) {
		snprintf(err, errlen, "not a RIFF/WAVE file");
		return -1;
	}
	/* Chunks: 4-byte id, 4-byte size, body padded to even length. pos stays 64-bit so a
	 * hostile size cannot wrap it. */
	for (;;) {
		uint32_t size;

		if (pos + 8 > len) {
			snprintf(err, errlen, "no data chunk in the first %zu bytes", len);
			return -1;
		}
		size = get32(p + pos + 4);
		if (memcmp(p + pos, "data", 4) == 0) {
			if (!have_fmt) {
				snprintf(err, errlen, "data chunk before fmt chunk");
				return -1;
			}
			info->data_offset = pos + 8;
			if (size > file_size - info->data_offset) {
				snprintf(err, errlen, "data chunk of %u bytes, file has %llu", size,
				         (unsigned long long)(file_size - info->data_offset));
				return -1;
			}
			if (size % info->block_align != 0) {
				snprintf(err, errlen, "data chunk of %u bytes is not whole frames",
				         size);
				return -1;
			}
			info->data_bytes = size;
			info->duration_ms = (uint32_t)((uint64_t)size / info->block_align * 1000 /
			                               info->sample_rate);
			return 0;
		}
		if (memcmp(p + pos, "fmt ", 4) == 0) {
			if (have_fmt) {
				snprintf(err, errlen, "two fmt chunks");
				return -1;
			}
			if (pos + 8 + 16 > len) {
				snprintf(err, errlen, "truncated fmt chunk");
				return -1;
			}
			if (wav_fmt_parse(p + pos + 8, size, info, err, errlen) < 0)
				return -1;
			have_fmt = 1;
		}
		pos += 8 + (uint64_t)size + (size & 1);
	}
}
