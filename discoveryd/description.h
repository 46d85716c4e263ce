/* description.h -- pure parsing of a speaker's UPnP device description (device_description.xml). */
#ifndef SB_DESCRIPTION_H
#define SB_DESCRIPTION_H

#include <stddef.h>

#define DESCRIPTION_MAX (256 * 1024) /* a real one is ~12 KB */

struct speaker_description {
	char uuid[48];             /* UDN without "uuid:", e.g. RINCON_949F0000A901400 */
	char room[64];             /* roomName */
	char model[64];            /* modelName, e.g. "Sonos Playbar" */
	char display_name[64];     /* displayName, e.g. "Playbar"; "" when absent */
	char software_version[32]; /* softwareVersion; "" when absent */
};

/* Prepare libxml2 for use from several threads. Call once from main before any parse. */
void description_init(void);
void description_cleanup(void);

/* Parse the root device of a description held in memory: no network, no DTD loading, no
 * entity substitution, at most DESCRIPTION_MAX bytes. Thread-safe after description_init.
 * Requires a UDN of the form uuid:<[A-Za-z0-9_-]+> and a roomName. Returns 0, or -1 with a
 * reason in err. */
int description_parse(const char *xml, size_t len, struct speaker_description *d, char *err,
                      size_t errlen);

#endif
