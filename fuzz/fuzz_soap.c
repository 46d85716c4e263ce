/* fuzz_soap.c -- speakers' SOAP answers and UPnP faults (playerd/soap.c soap_parse). */
#include "fuzz.h"
#include "soap.h"

#include <libxml/parser.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	return 0;
}

/* First byte picks the action whose answer is expected; the rest is the HTTP body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const actions[] = {
		"GetPositionInfo", "GetMediaInfo", "GetTransportInfo", "GetVolume",
		"GetMute",         "AddURIToQueue", "GetZoneGroupState", "Play",
	};
	const char *action = actions[fuzz_take_byte(&data, &size) % 8];
	struct soap_result res;
	char *body = fuzz_copy(data, size);

	if (soap_parse(body, size, action, &res) == 0) {
		if (res.nvalues < 0 || res.nvalues > SOAP_MAX_VALUES || (res.fault && res.nvalues))
			abort();
		size_t out = 0;

		for (int i = 0; i < res.nvalues; i++) {
			if (res.names[i] == NULL || res.values[i] == NULL ||
			    soap_value(&res, res.names[i]) == NULL)
				abort();
			out += strlen(res.values[i]);
		}
		/* Text comes out of the input, never out of entity expansion: no amplification. */
		if (out > size)
			abort();
		(void)soap_value(&res, "TrackURI");
		soap_result_free(&res);
	}
	free(body);
	return 0;
}
