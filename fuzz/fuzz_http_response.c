/* fuzz_http_response.c -- answers from speakers and whatever claims to be one
 * (common/http_client.c http_response_parse): status line, headers, Content-Length and chunked
 * bodies, whole and cut short. */
#include "fuzz.h"
#include "http_client.h"

/* First byte: bit 0 = the connection closed after these bytes, bits 1-2 pick the body limit. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = {0, 16, 4096, 256 * 1024};
	unsigned sel = fuzz_take_byte(&data, &size);
	size_t max_body = limits[(sel >> 1) & 3];
	char *buf = fuzz_copy(data, size);
	struct http_response resp;
	enum http_parse_result rv;

	memset(&resp, 0, sizeof(resp));
	rv = http_response_parse(buf, size, sel & 1, max_body, &resp);
	if (rv == HTTP_PARSE_DONE) {
		if (resp.body == NULL || resp.body_len > max_body || resp.body[resp.body_len] != '\0' ||
		    resp.status < 100 || resp.status > 999 ||
		    memchr(resp.content_type, '\0', sizeof(resp.content_type)) == NULL)
			abort();
		http_response_free(&resp);
		/* Complete without the close: a prefix can be incomplete but never done past it. */
	} else if (rv != HTTP_PARSE_INCOMPLETE && rv != HTTP_PARSE_MALFORMED) {
		abort();
	}
	free(buf);
	return 0;
}
