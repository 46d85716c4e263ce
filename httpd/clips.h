/* clips.h -- the bus side of httpd: clip requests on httpd.rep, synthesized off the loop. */
#ifndef SB_CLIPS_H
#define SB_CLIPS_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <uv.h>

#include "bus.h"
#include "config.h"
#include "synth.h"

struct clips {
	uv_loop_t *loop;
	const struct config *cfg;
	nng_socket sock; /* REP, bound at <runtime_dir>/httpd.rep */
	int sock_open;
	struct bus_reader reader;
	int reader_started;
	uv_work_t work; /* the one synthesis in flight */
	int busy;
	int stopping;
	/* The request being worked on: copied, since the bus message is freed after the
	 * callback returns. */
	char voice[CLIP_VOICE_MAX];
	char *text;
	size_t text_len;
	uint64_t started_ms;
	int status;
	struct synth_result result;
};

/* Bind the REP socket and start reading it. Returns 0, or -1 (logged). */
int clips_start(struct clips *c, uv_loop_t *loop, const struct config *cfg);

/* Stop taking requests; a synthesis in flight still finishes and is answered. */
void clips_stop(struct clips *c);

/* Close the socket, once the loop has stopped. */
void clips_close(struct clips *c);

#endif
