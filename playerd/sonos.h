/* sonos.h -- blocking SOAP calls to one speaker, for announcement threads. */
#ifndef SB_SONOS_H
#define SB_SONOS_H

#include <stddef.h>

#include "msg.h"
#include "soap.h"

#define SONOS_TIMEOUT_MS 5000

/* Call svc#action on the speaker. Returns 0 and fills res (when res is not NULL), a positive
 * UPnP error code for a SOAP fault (or the HTTP status for an error answer without one), or
 * a negative errno for transport failures (-ETIMEDOUT, -ECONNREFUSED, -EPROTO). err always
 * says what happened, e.g. "AVTransport#Play: UPnP error 701". */
int sonos_call(const struct msg_speaker *sp, enum soap_service svc, const char *action,
	       const struct soap_arg *args, int nargs, struct soap_result *res, char *err,
	       size_t errlen);

#endif
