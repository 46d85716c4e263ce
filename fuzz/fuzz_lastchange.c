/* fuzz_lastchange.c -- GENA event bodies: AVTransport and RenderingControl LastChange property
 * sets, with the Event document and DIDL-Lite escaped inside (playerd/lastchange.c). */
#include "fuzz.h"
#include "lastchange.h"

#include <libxml/parser.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	return 0;
}

static int
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lastchange lc, total;
	char err[160] = "", *body = fuzz_copy(data, size);

	if (lastchange_parse(body, size, &lc, err, sizeof(err)) == 0) {
		if (!terminated(lc.transport, sizeof(lc.transport)) ||
		    !terminated(lc.uri, sizeof(lc.uri)) ||
		    !terminated(lc.track_uri, sizeof(lc.track_uri)) ||
		    !terminated(lc.duration, sizeof(lc.duration)) ||
		    !terminated(lc.play_mode, sizeof(lc.play_mode)) ||
		    !terminated(lc.meta.title, sizeof(lc.meta.title)) ||
		    ((lc.have & LC_VOLUME) && (lc.volume < 0 || lc.volume > 100)) ||
		    ((lc.have & LC_MUTE) && lc.mute != 0 && lc.mute != 1) || lc.track < 0)
			abort();
		lastchange_merge(&total, &lc);
	} else if (err[0] == '\0') {
		abort(); /* a rejection says why */
	}
	free(body);
	return 0;
}
