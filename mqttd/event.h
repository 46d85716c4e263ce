/* event.h -- the JSON mqttd publishes: request events and the bridge info. Pure, no I/O. */
#ifndef MQTTD_EVENT_H
#define MQTTD_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* Fill ev for a request mqttd answers itself (a rejection, or a failure to hand it on). */
void event_init(struct msg_event *ev, const char *id, const char *target,
		enum event_status status, const char *error);

/* ISO 8601 UTC with milliseconds ("2024-05-01T12:00:00.123Z"). Returns 0, or -1 when out is
 * too small. */
int event_timestamp(uint64_t ms, char *out, size_t size);

/* The <base>/bridge/event payload for ev, stamped now_ms: {"id","target","speaker","uuid",
 * "status","duration_ms" (when > 0),"error" (when not empty),"timestamp"}. Text that is not
 * valid UTF-8 has its non-ASCII bytes replaced by '?'. Returns a malloc'ed string, NULL on
 * ENOMEM. */
char *event_json(const struct msg_event *ev, uint64_t now_ms);

/* The retained <base>/bridge/info payload: {"version","client_id","speakers":[{"name","uuid",
 * "ip","model","topic"}]}, speakers in table order. Returns a malloc'ed string, NULL on
 * ENOMEM. */
char *event_info_json(const char *version, const char *client_id, const struct msg_speaker *sp,
		      size_t count);

#endif
