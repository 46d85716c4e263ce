/* clientid.h -- the broker client id: made once with libuuid, kept in <state_dir>/client_id. */
#ifndef MQTTD_CLIENTID_H
#define MQTTD_CLIENTID_H

#include <stddef.h>

#define CLIENTID_MAX 64
#define CLIENTID_PREFIX "sonos-bridge-"

/* 1 if s[0..len) is a client id we accept from the file: 1..CLIENTID_MAX-1 bytes of
 * [A-Za-z0-9_-]. Pure. */
int clientid_valid(const char *s, size_t len);

/* A new random UUID in its 36-character lower-case text form. */
void clientid_uuid(char out[37]);

/* Read the client id from <state_dir>/client_id, creating the directory (0700) and the file
 * (atomically: temp file, fsync, rename) when there is none or it is unusable. *created says
 * whether a new one was made. Returns 0, or -1 with a reason in err. */
int clientid_load(const char *state_dir, char *out, size_t size, int *created, char *err,
		  size_t errlen);

#endif
