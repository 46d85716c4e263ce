/* fuzz_description.c -- a speaker's device_description.xml (discoveryd/description.c). */
#include "description.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	description_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct speaker_description d;
	char err[160], *xml = fuzz_copy(data, size);

	if (description_parse(xml, size, &d, err, sizeof(err)) == 0) {
		/* What discoveryd puts on the bus: a clean uuid and a room without control bytes. */
		if (d.uuid[0] == '\0' || d.room[0] == '\0' ||
		    strspn(d.uuid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
			    strlen(d.uuid))
			abort();
		for (const char *p = d.room; *p != '\0'; p++)
			if ((unsigned char)*p < ' ')
				abort();
	}
	free(xml);
	return 0;
}
