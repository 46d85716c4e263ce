/* didl.h -- DIDL-Lite metadata for the clips the bridge plays. Pure. */
#ifndef SB_DIDL_H
#define SB_DIDL_H

#include "strbuf.h"

/* Metadata for an announcement clip at url with a title and MIME type. Values are escaped
 * once here; soap_build escapes the whole document again as an argument. Returns 0 or -1. */
int didl_clip(struct strbuf *out, const char *url, const char *title, const char *mime);

#endif
