/* ssdp.h -- pure SSDP: the M-SEARCH we send and the answers and NOTIFYs speakers send. */
#ifndef SB_SSDP_H
#define SB_SSDP_H

#include <stddef.h>
#include <stdint.h>

#define SSDP_GROUP "239.255.255.250"
#define SSDP_PORT 1900
#define SSDP_ST_ZONEPLAYER "urn:schemas-upnp-org:device:ZonePlayer:1"
#define SSDP_PACKET_MAX 4096 /* longer datagrams are not SSDP from a speaker */

enum ssdp_kind {
	SSDP_RESPONSE = 1, /* unicast answer to an M-SEARCH ("HTTP/1.1 200 OK") */
	SSDP_ALIVE,        /* NOTIFY ssdp:alive */
	SSDP_BYEBYE,       /* NOTIFY ssdp:byebye */
	SSDP_UPDATE,       /* NOTIFY ssdp:update */
	SSDP_SEARCH,       /* someone else's M-SEARCH: nothing to do */
};

struct ssdp_message {
	enum ssdp_kind kind;
	char location[256]; /* LOCATION: device description URL ("" on byebye) */
	char uuid[64];      /* from USN "uuid:RINCON_...::urn:...", without "uuid:" */
	char st[128];       /* ST of an answer, NT of a NOTIFY */
	char household[64]; /* X-RINCON-HOUSEHOLD, "" when absent */
	uint32_t bootseq;   /* X-RINCON-BOOTSEQ, 0 when absent */
	int has_bootseq;
	int proxy; /* X-RINCON-PROXY present: a non-player (e.g. a controller app) */
};

/* Build an M-SEARCH for st with the given MX (clamped to 1..5) into buf. Returns the length,
 * or -1 if it does not fit or st is unsafe. */
int ssdp_build_msearch(char *buf, size_t size, const char *st, int mx);

/* Parse one datagram. Returns 0 and fills msg, or -1 when it is not a usable SSDP message: a
 * response or alive without LOCATION or USN, a LOCATION or USN too long to keep, a uuid with
 * characters other than [A-Za-z0-9_-], an error status, or anything that is not SSDP. */
int ssdp_parse(const char *buf, size_t len, struct ssdp_message *msg);

/* Split a LOCATION URL and check that its host is from_ip, the address the message came from:
 * a device may point us only at itself, never at another host. Returns 0 with host, port and
 * path set; -1 when the URL is not http://<IPv4>[:port]/path; -2 when the host differs. */
int ssdp_location_check(const char *location, const char *from_ip, char *host, size_t hostlen,
                        uint16_t *port, char *path, size_t pathlen);

#endif
