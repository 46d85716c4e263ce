/* sonos.c -- SOAP over the blocking HTTP client: one bounded request per action. */
#include "sonos.h"
#include "http_client.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int
sonos_call(const struct msg_speaker *sp, enum soap_service svc, const char *action,
	   const struct soap_arg *args, int nargs, struct soap_result *res, char *err,
	   size_t errlen)
{
	struct strbuf body = STRBUF_INIT;
	struct http_response resp;
	struct soap_result local;
	char soapaction[160];
	const char *headers[] = {"Content-Type: text/xml; charset=\"utf-8\"", soapaction, NULL};
	const char *svcname = soap_service_name(svc);
	int rv;

	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	snprintf(soapaction, sizeof(soapaction), "SOAPACTION: \"%s#%s\"", soap_service_type(svc),
		 action);
	if (soap_build(&body, svc, action, args, nargs) < 0) {
		snprintf(err, errlen, "%.40s#%s: request too large", svcname, action);
		strbuf_free(&body);
		return -EMSGSIZE;
	}
	rv = http_request("POST", sp->ip, sp->port, soap_service_path(svc), headers, body.s,
			  body.len, SONOS_TIMEOUT_MS, SOAP_MAX_BODY, &resp);
	strbuf_free(&body);
	if (rv < 0) {
		snprintf(err, errlen, "%.40s#%s: %s", svcname, action, strerror(-rv));
		return rv;
	}
	if (soap_parse(resp.body, resp.body_len, action, res) < 0) {
		/* Some devices answer 405 or 500 with no SOAP body at all. */
		snprintf(err, errlen, "%.40s#%s: HTTP %d without a SOAP answer", svcname, action,
			 resp.status);
		rv = resp.status == 200 ? -EPROTO : resp.status;
	} else if (res->fault) {
		snprintf(err, errlen, "%.40s#%s: UPnP error %d (%s)", svcname, action,
			 res->error_code, soap_error_text(svc, res->error_code));
		rv = res->error_code > 0 ? res->error_code : resp.status;
	} else if (resp.status != 200) {
		snprintf(err, errlen, "%.40s#%s: HTTP %d", svcname, action, resp.status);
		rv = resp.status;
	} else {
		snprintf(err, errlen, "%.40s#%s: ok", svcname, action);
	}
	http_response_free(&resp);
	if (res == &local || rv != 0)
		soap_result_free(res);
	log_debug("%s (%s): %s", sp->room, sp->ip, err);
	return rv;
}
