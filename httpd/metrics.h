/* metrics.h -- /metrics: the bridge in the Prometheus text exposition format (version 0.0.4),
 * from the supervisor's status document and the workers' health facts in it. Pure. */
#ifndef SB_METRICS_H
#define SB_METRICS_H

#include <stddef.h>

#include "strbuf.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Render every metric for the status document doc[0..len). Returns 0, or -1 when doc is not
 * a status document (or out of memory). Metrics whose facts are missing (a worker that has
 * not answered yet) are left out rather than reported as 0. */
int metrics_render(const char *doc, size_t len, struct strbuf *out);

#endif
