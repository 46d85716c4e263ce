/* fuzz_wav.c -- RIFF/WAVE headers (httpd/wav.c), the bytes httpd reads back from its cache. */
#include "fuzz.h"
#include "wav.h"

/* First 4 bytes (little endian) are how much bigger than the buffer the file claims to be. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wav_info info;
	uint64_t file_size;
	uint32_t extra = 0;
	char err[160];
	void *buf;

	for (int i = 0; i < 4 && size > 0; i++)
		extra |= fuzz_take_byte(&data, &size) << (8 * i);
	file_size = (uint64_t)size + (extra & 0x80000000u ? 0 : extra);
	if (extra & 0x80000000u)
		file_size = size / 2; /* a file shorter than what was read: also possible */
	buf = fuzz_copy(data, size);
	if (wav_header_parse(buf, size, file_size, &info, err, sizeof(err)) == 0) {
		if (info.format != 1 || info.block_align == 0 || info.sample_rate == 0 ||
		    info.data_offset + info.data_bytes > file_size ||
		    info.data_bytes % info.block_align != 0)
			abort();
	}
	free(buf);
	return 0;
}
