/* gena.h -- GENA event subscriptions to every speaker's AVTransport and RenderingControl, and
 * to one speaker's ZoneGroupTopology per household: subscribe, renew before the timeout,
 * subscribe again after a 412 or a new address or boot, unsubscribe at stop. Events go to
 * livestate (topology events: to topology_changed); polling stays the fallback. Loop thread
 * only; the HTTP exchanges run on the thread pool. */
#ifndef SB_GENA_H
#define SB_GENA_H

#include <nng/nng.h>
#include <uv.h>

#include "config.h"
#include "msg.h"

#define GENA_TIMEOUT_S 1800     /* subscription length asked for; speakers may grant less */
#define GENA_SILENT_MS 10000    /* no event this long after subscribing: callback unreachable */
#define GENA_LIVE_POLL_MS 60000 /* poll period of a speaker whose events arrive (position) */

/* Start the subscriptions' timer and livestate (events: PUSH to mqttd; group_busy: see
 * livestate_start). topology_changed is called on every ZoneGroupTopology event (the initial
 * one too): groups may have changed. Returns 0. */
int gena_start(uv_loop_t *loop, const struct config *cfg, nng_socket events,
               int (*group_busy)(const char *coordinator), void (*topology_changed)(void));

/* The speaker table changed: subscribe new speakers, renew at a new address or boot, drop
 * speakers that left; the topology subscription of a household stays on its speaker while that
 * one is in the table, else moves to the household's first speaker. */
void gena_speakers(const struct msg_speaker *table, int count);

/* A NOTIFY forwarded by httpd: taken only from the address of the speaker it names, then
 * checked against its subscription, parsed, applied. One from another address, a malformed
 * or an unknown one is logged and dropped. */
void gena_notify(const struct msg_gena_notify *m);

/* 1 while the events of sp (volume, mute) and of co (transport, track) arrive: whatever a
 * command changes there is reported by the speaker itself. */
int gena_events_live(const struct msg_speaker *sp, const struct msg_speaker *co);

/* 1 if an event of sp's RenderingControl or co's AVTransport arrived at or after since_ms
 * (util_mono_ms). */
int gena_event_since(const struct msg_speaker *sp, const struct msg_speaker *co, uint64_t since_ms);

/* 1 if sp (transport from co) should be polled now: always while their events do not
 * arrive, once per GENA_LIVE_POLL_MS while they do. */
int gena_poll_due(const struct msg_speaker *sp, const struct msg_speaker *co);

struct strbuf;
/* Health facts: `,"events":{...}` (subscriptions, live, silent, failing, and strangers: the
 * NOTIFYs dropped for coming from another address than their speaker's) appended to out. */
void gena_health_facts(struct strbuf *out);

/* Stop renewing; unsubscribe everything, bounded in time (the loop runs the jobs out). */
void gena_stop(void);

/* Free what is left, after the loop has ended. */
void gena_close(void);

#endif
