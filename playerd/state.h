/* state.h -- what a speaker is doing, read by polling, published retained per room. */
#ifndef SB_STATE_H
#define SB_STATE_H

#include "announce.h"
#include "didl.h"

struct speaker_state {
	char transport[32];     /* PLAYING, PAUSED_PLAYBACK, STOPPED, TRANSITIONING */
	enum source_kind source;
	int track;              /* queue position, 0 when none */
	char position[16];      /* H:MM:SS in the current track */
	char duration[16];      /* H:MM:SS, "" for streams */
	struct didl_track meta; /* title, artist, album of the current track */
	int have_volume, volume;
	int have_mute, mute;
};

/* Pure: the retained JSON document for sp in state st (group: its coordinator). Malloc'ed,
 * or NULL on ENOMEM. With position 0, the position is left out (for change detection). */
char *state_json(const struct msg_speaker *sp, const struct msg_speaker *coordinator,
		 const struct speaker_state *st, int position);

/* Read the state of sp (transport from its coordinator co). Blocking, bounded by the SOAP
 * timeout. Returns 0, or -1 with err set when the speaker cannot be reached. */
int state_poll(const struct msg_speaker *sp, const struct msg_speaker *co,
	       struct speaker_state *st, char *err, size_t errlen);

#endif
