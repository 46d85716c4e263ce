/* report.h -- what the CLI makes of a status document: the healthcheck verdict and the table.
 * Pure: text in, text out. */
#ifndef SB_REPORT_H
#define SB_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* 0 when every worker is ready and mqttd is connected to the broker, else 1; either way one
 * line (no newline) in why. A document that does not parse is unhealthy. */
int report_verdict(const char *doc, size_t len, char *why, size_t whylen);

/* The readable status: a header line, a table of workers, a table of speakers. Returns 0, or
 * -1 when doc is not a status document. */
int report_table(const char *doc, size_t len, struct strbuf *out);

/* "850ms", "42s", "3m12s", "5h07m", "2d03h". */
void report_duration(uint64_t ms, char *out, size_t size);

#endif
