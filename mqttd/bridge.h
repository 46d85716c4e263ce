/* bridge.h -- mqttd's glue: MQTT requests to playerd, bus events and speakers to MQTT. */
#ifndef MQTTD_BRIDGE_H
#define MQTTD_BRIDGE_H

#include <nng/nng.h>
#include <uv.h>

#include "bus.h"
#include "clientid.h"
#include "config.h"
#include "request.h"
#include "spool.h"

#include <stdatomic.h>

struct mqtt_session;
struct speaker_slugs;
struct hass;
struct activity;
struct stateout;
struct strbuf;

#define BRIDGE_TOPIC_MAX 512

#define BRIDGE_STATES_MAX 256 /* speaker state topics kept for republishing */

/* The last state document published on one <base>/<slug>/state topic. */
struct bridge_state {
	char topic[BRIDGE_TOPIC_MAX];
	char *json;
	size_t len;
};

struct bridge {
	const struct config *cfg;
	uv_loop_t *loop;
	struct mqtt_session *mqtt;
	char client_id[CLIENTID_MAX];
	struct request_limits limits;
	char topic_state[BRIDGE_TOPIC_MAX]; /* <base>/bridge/state */
	char topic_info[BRIDGE_TOPIC_MAX];  /* <base>/bridge/info */
	char topic_event[BRIDGE_TOPIC_MAX]; /* <base>/bridge/event */

	nng_socket inbox, speakers, to_playerd, to_discoveryd;
	int open_inbox, open_speakers, open_playerd, open_discoveryd;
	struct bus_reader inbox_reader, speakers_reader;
	int reading_inbox, reading_speakers;

	uv_signal_t sigterm, sigint;
	uv_timer_t query_timer; /* asks discoveryd for its table until one arrives */
	unsigned queries;
	int have_table;

	struct msg_speaker *table; /* last table from discoveryd */
	size_t table_count;
	struct speaker_slugs *online;       /* room topics announced online */
	struct speaker_slugs *gone;         /* room topics announced offline */
	char *info;                         /* last bridge/info payload */
	struct bridge_state *states;        /* republished at every connection, oldest first */
	size_t nstates;
	int stopping;

	struct spool spool; /* every accepted request until it is finished */
	int have_spool;
	uv_timer_t deliver_timer;       /* re-sends, give-ups, spool upkeep */
	uv_async_t playerd_up;          /* a (new) connection to playerd: re-send */
	atomic_int closing;             /* playerd_up is being closed */
	struct spool_entry *unsent;     /* first live request not yet handed to playerd */
	unsigned inflight;              /* handed to playerd and not answered */
	struct bridge_pending *pending; /* terminal event publishes awaiting PUBACK */
	size_t npending, cap_pending;
	uint64_t puback_wait_ms;            /* BRIDGE_PUBACK_WAIT_MS, or the test knob */
	uint64_t connected_mono;            /* util_mono_ms() of the latest connection */
	unsigned long accepted, repeats, completed, resent, gave_up;
	struct hass *hass;         /* Home Assistant discovery (hass.c) */
	struct activity *activity; /* outcomes, latency, recent, states (activity.c) */
	struct stateout *stateout; /* speaker states held for coalescing (stateout.c) */
	uv_timer_t state_timer;    /* publishes them when due */
};

/* Bind the bus, open the broker session and install the signal handlers. Returns 0, or -1
 * (logged) when the process cannot work. */
int bridge_start(struct bridge *b, uv_loop_t *loop, const struct config *cfg,
                 const char *client_id);

/* Append the facts about the broker session and the spool to a health JSON object, as
 * members each preceded by a comma: sessions_lost, session_lost_ms, twin_suspected,
 * refusals, spool_depth (requests not finished), spool_done, spool_bytes, spool_failing,
 * accepted, repeats, completed, resent, gave_up. */
void bridge_facts(const struct bridge *b, struct strbuf *out);

/* Release what bridge_start took, after the loop has stopped. */
void bridge_cleanup(struct bridge *b);

#endif
