/* didl.h -- DIDL-Lite metadata for the clips the bridge plays. Pure. */
#ifndef SB_DIDL_H
#define SB_DIDL_H

#include "strbuf.h"

/* Metadata for an announcement clip at url with a title and MIME type. Values are escaped
 * once here; soap_build escapes the whole document again as an argument. Returns 0 or -1. */
int didl_clip(struct strbuf *out, const char *url, const char *title, const char *mime);

struct didl_track {
	char title[256];
	char artist[256];
	char album[256];
	char stream_content[256]; /* r:streamContent: what a radio station plays now */
};

/* Parse DIDL-Lite metadata (as text, one level of escaping already removed) into the fields
 * above; absent fields stay "". Returns 0, or -1 when it is not DIDL-Lite at all. Pure; no
 * network, no entity expansion, bounded. */
int didl_parse_track(const char *xml, size_t len, struct didl_track *out);

#endif
