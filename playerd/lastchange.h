/* lastchange.h -- GENA event bodies from speakers: the property set, its LastChange Event
 * document (escaped once more), and the variables the state document needs. Pure. */
#ifndef SB_LASTCHANGE_H
#define SB_LASTCHANGE_H

#include <stddef.h>

#include "didl.h"

#define LASTCHANGE_BODY_MAX (64 * 1024) /* a property set larger than this is refused */
#define LASTCHANGE_VARS_MAX 256         /* InstanceID children looked at */

/* Which fields an event carried (an event may carry only what changed). */
enum lastchange_field {
	LC_TRANSPORT = 1 << 0, /* TransportState */
	LC_URI = 1 << 1,       /* AVTransportURI */
	LC_TRACK_URI = 1 << 2, /* CurrentTrackURI */
	LC_TRACK = 1 << 3,     /* CurrentTrack */
	LC_DURATION = 1 << 4,  /* CurrentTrackDuration */
	LC_META = 1 << 5,      /* CurrentTrackMetaData */
	LC_PLAY_MODE = 1 << 6, /* CurrentPlayMode */
	LC_VOLUME = 1 << 7,    /* Volume channel="Master" */
	LC_MUTE = 1 << 8,      /* Mute channel="Master" */
};

struct lastchange {
	unsigned have;          /* enum lastchange_field bits */
	char transport[32];     /* PLAYING, PAUSED_PLAYBACK, STOPPED, TRANSITIONING */
	char uri[1024];         /* AVTransportURI: what is loaded (queue, stream, x-rincon:...) */
	char track_uri[1024];   /* CurrentTrackURI */
	int track;              /* CurrentTrack, 1-based; 0 when none */
	char duration[16];      /* CurrentTrackDuration, H:MM:SS; "" for streams */
	struct didl_track meta; /* CurrentTrackMetaData; all "" when empty or not DIDL-Lite */
	char play_mode[24];     /* CurrentPlayMode */
	int volume;             /* 0..100 */
	int mute;               /* 0 or 1 */
};

/* Parse a NOTIFY body (an e:propertyset) of AVTransport or RenderingControl. Fields are
 * taken from the InstanceID 0 element of its LastChange; values out of range or too long
 * are left out, not truncated. A property set without LastChange is fine (have == 0).
 * Returns 0, or -1 with a reason in err for anything malformed (not XML, a DTD, too large,
 * LastChange that is not an Event). No network, no entity expansion, bounded. */
int lastchange_parse(const char *body, size_t len, struct lastchange *out, char *err,
                     size_t errlen);

/* Copy the fields src carries into dst (dst->have gains src->have). */
void lastchange_merge(struct lastchange *dst, const struct lastchange *src);

struct speaker_state;
/* Apply the fields lc carries to a state document's st: transport, source (from the
 * AVTransportURI), track number, duration and metadata; volume and mute. The position,
 * which events never carry, is cleared when the track changed. */
void lastchange_apply(const struct lastchange *lc, struct speaker_state *st);

#endif
