/* soap.h -- UPnP SOAP envelopes for Sonos services: build requests, parse answers and faults.
 * Pure: no I/O, so tests and fuzzers call these directly. */
#ifndef SB_SOAP_H
#define SB_SOAP_H

#include <stddef.h>

#include "strbuf.h"

#define SOAP_MAX_VALUES 16
#define SOAP_MAX_BODY (256 * 1024)

/* The Sonos services this bridge controls: control path and service type. */
enum soap_service {
	SOAP_AVTRANSPORT,
	SOAP_RENDERING,
	SOAP_GROUP_RENDERING,
	SOAP_TOPOLOGY,
	SOAP_DEVICE_PROPERTIES,
};

struct soap_arg {
	const char *name;
	const char *value; /* plain text; escaped when the envelope is built */
};

struct soap_result {
	int fault;            /* 1 when the answer was a SOAP fault */
	int error_code;       /* UPnP errorCode of the fault, 0 if none given */
	int nvalues;
	char *names[SOAP_MAX_VALUES];
	char *values[SOAP_MAX_VALUES]; /* unescaped text of each output argument */
};

const char *soap_service_name(enum soap_service svc); /* "AVTransport" */
const char *soap_service_path(enum soap_service svc);
const char *soap_service_type(enum soap_service svc);

/* Build the envelope for svc#action with args (XML-escaped here, once). Returns 0 or -1. */
int soap_build(struct strbuf *out, enum soap_service svc, const char *action,
	       const struct soap_arg *args, int nargs);

/* Parse an answer body. For <action>Response, collects its child elements' text. For a
 * Fault, sets fault and error_code. Returns 0 when either was found, -1 for anything else
 * (not XML, too large, neither shape). No network access, no entity expansion. */
int soap_parse(const char *body, size_t len, const char *action, struct soap_result *res);

/* Words for a UPnP error code, which means different things per service (701 on AVTransport:
 * transition not available; on GroupRenderingControl: not the coordinator). Never NULL. */
const char *soap_error_text(enum soap_service svc, int code);

/* Text of an output argument, or NULL. */
const char *soap_value(const struct soap_result *res, const char *name);

void soap_result_free(struct soap_result *res);

#endif
