/* fuzz_config.c -- configuration files (common/config.c config_parse_buffer, config_finish). */
#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	char err[300] = "", list[CONFIG_MAX_SPEAKERS][64];
	char *buf = fuzz_copy(data, size);

	config_defaults(&cfg);
	if (config_parse_buffer(&cfg, buf, size, err, sizeof(err)) == 0) {
		int n = config_speaker_list(&cfg, list, CONFIG_MAX_SPEAKERS);

		if (n < 0 || n > CONFIG_MAX_SPEAKERS)
			abort();
		if (config_finish(&cfg, err, sizeof(err)) == 0 &&
		    (strlen(cfg.runtime_dir) > 80 || cfg.base_topic[0] == '\0'))
			abort();
	} else if (strncmp(err, "line ", 5) != 0) {
		abort(); /* a rejection names its line */
	}
	free(buf);
	return 0;
}
