/* topology.h -- pure parsing of a ZoneGroupState (rooms, groups, coordinators, hidden devices). */
#ifndef SB_TOPOLOGY_H
#define SB_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#define TOPOLOGY_BODY_MAX (1024 * 1024) /* a household of 32 players answers ~80 KB */
#define TOPOLOGY_MEMBERS_MAX 256        /* players, invisible members, satellites, bridges */

/* One device listed in a ZoneGroupState: a ZoneGroupMember or a Satellite of one. */
struct topology_member {
	char uuid[48];        /* RINCON_... */
	char room[64];        /* ZoneName, trimmed */
	char ip[46];          /* host of Location when it is IPv4; "" otherwise */
	uint16_t port;        /* port of Location */
	char group_id[64];    /* ID of its ZoneGroup */
	char coordinator[48]; /* Coordinator of its ZoneGroup */
	char owner[48];       /* for a hidden device: uuid of the visible member it belongs to */
	uint32_t bootseq;     /* BootSeq, 0 when absent */
	uint8_t invisible;    /* Invisible="1": the second half of a stereo pair, a sub, ... */
	uint8_t satellite;    /* a <Satellite> of a home-theatre member (surround or sub) */
	uint8_t zone_bridge;  /* IsZoneBridge="1": a BRIDGE or BOOST, plays nothing */
};

struct topology {
	int count;      /* members[] used */
	int groups;     /* ZoneGroup elements seen */
	int duplicates; /* members dropped because their uuid was already listed */
	int truncated;  /* more than TOPOLOGY_MEMBERS_MAX members: the rest were dropped */
	int recovered;  /* the inner document was not well-formed and was read leniently */
	int refused;    /* members whose Location was not a player's (left without an address) */
	struct topology_member members[TOPOLOGY_MEMBERS_MAX];
};

/* 1 when a member's Location may be fetched: an IPv4 unicast address (not 0.0.0.0/8,
 * multicast, reserved or broadcast) on port 1400, where every Sonos player answers. Anything
 * else would let one device on the LAN send the bridge to any host and port it names. */
int topology_location_ok(const char *ip, unsigned port);

/* 1 when the device is not a separate speaker for the user (invisible, satellite, bridge). */
int topology_member_hidden(const struct topology_member *m);

/* Find uuid in t, or NULL. */
const struct topology_member *topology_find(const struct topology *t, const char *uuid);

/* Hidden devices that belong to the visible member uuid. */
int topology_satellites(const struct topology *t, const char *uuid);

/* Parse a ZoneGroupState from any of the shapes it comes in: a GetZoneGroupState SOAP answer,
 * a ZoneGroupTopology event (e:propertyset), a <ZoneGroupState> element holding the escaped
 * document, or the document itself. No network, no DTD, no entity substitution, at most
 * TOPOLOGY_BODY_MAX bytes. Members without a usable uuid are skipped; attribute values are
 * trimmed (they can hold newlines). Thread-safe after description_init. Returns 0, or -1 with
 * a reason in err (not XML, no ZoneGroups, no member). */
int topology_parse(const char *body, size_t len, struct topology *t, char *err, size_t errlen);

/* Text of the first element named name (local name) in an XML body, e.g. CurrentHouseholdID
 * of a GetHouseholdID answer: trimmed, control bytes replaced, truncated to size. Returns 0, or
 * -1 when the body is not XML or has no such element. */
int topology_soap_value(const char *body, size_t len, const char *name, char *out, size_t size);

#endif
