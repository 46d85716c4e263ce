/* fuzz_gena_route.c -- NOTIFY requests from speakers (or anyone) to httpd: the request head
 * parser, then the GENA checks of path and headers (httpd/gena_route.c gena_notify_begin) and
 * the header lookup (common/http_client.c http_header_value). */
#include "fuzz.h"
#include "gena_route.h"
#include "http_client.h"
#include "http_request.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"SID", "SEQ", "NT", "NTS", "Content-Length", "HOST"};
	char *buf = fuzz_copy(data, size), value[64];
	struct msg_gena_notify *m = NULL;
	struct http_request req;
	int rv;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = http_header_value(buf, size, names[i], value, sizeof(value));

		if (n >= (int)sizeof(value) || (n >= 0 && strlen(value) != (size_t)n))
			abort();
	}
	rv = http_request_parse(buf, size, &req);
	if (rv > 0 && gena_route(&req)) {
		size_t skip;
		int status = gena_notify_begin(&req, buf, (size_t)rv, &m, &skip);

		if (status == 0) {
			if (m == NULL || (m->body_len == 0) == (skip == 0) ||
			    m->body_len > MSG_GENA_BODY_MAX || skip > GENA_TOPOLOGY_BODY_MAX ||
			    memchr(m->uuid, '\0', sizeof(m->uuid)) == NULL ||
			    memchr(m->service, '\0', sizeof(m->service)) == NULL ||
			    memchr(m->sid, '\0', sizeof(m->sid)) == NULL ||
			    strncmp(m->sid, "uuid:", 5) != 0)
				abort();
			free(m);
		} else if (status < 400 || status > 500) {
			abort();
		}
	}
	free(buf);
	return 0;
}
