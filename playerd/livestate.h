/* livestate.h -- each speaker's state document, from polls and GENA events merged, sent to
 * mqttd (MSG_SPEAKER_STATE) when it changes. Loop thread only. */
#ifndef SB_LIVESTATE_H
#define SB_LIVESTATE_H

#include <nng/nng.h>
#include <stdint.h>

#include "lastchange.h"
#include "msg.h"
#include "soap.h"
#include "state.h"

#define LIVESTATE_REFRESH_MS 60000 /* a poll re-sends an unchanged document this often */

/* events: PUSH to mqttd's inbox. group_busy(coordinator uuid) is 1 while that group runs an
 * announcement or a command: events then update the state without sending it, and the poll
 * that follows the announcement sends the result. stale(uuid, svc) is told when a poll finds
 * a transport, volume or mute change that uuid's svc events, which did arrive before, never
 * reported (the speaker may have dropped the subscription). */
void livestate_start(nng_socket events, int (*group_busy)(const char *coordinator),
                     void (*stale)(const char *uuid, enum soap_service svc));

/* The speaker table changed: a speaker whose group changed is sent again, with its new
 * coordinator's transport when that is known from events. */
void livestate_speakers(const struct msg_speaker *table, int count);

/* A poll of sp (transport read from co) that began at started_ms (util_mono_ms) gave st.
 * What events said after the poll began wins over it. Sends on change, and an unchanged
 * document with its new position every LIVESTATE_REFRESH_MS. */
void livestate_polled(const struct msg_speaker *sp, const struct msg_speaker *co,
                      const struct speaker_state *st, uint64_t started_ms);

/* An event of uuid's svc (SOAP_AVTRANSPORT or SOAP_RENDERING). Transport events apply to
 * every speaker uuid coordinates; rendering events to uuid alone. Sends what changed. */
void livestate_event(const char *uuid, enum soap_service svc, const struct lastchange *lc);

/* Send sp's document if events changed it while its group was busy (held back then). */
void livestate_flush(const struct msg_speaker *sp, const struct msg_speaker *co);

/* Forget what events said about uuid's svc (its subscription ended): polls rule again. */
void livestate_forget(const char *uuid, enum soap_service svc);

void livestate_close(void);

#endif
