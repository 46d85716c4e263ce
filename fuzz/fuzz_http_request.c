/* fuzz_http_request.c -- request heads from any HTTP client (httpd/http_request.c): the head,
 * its Range value and the clip path rule. */
#include "fuzz.h"
#include "http_request.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	char *buf = fuzz_copy(data, size), name[80];
	int rv = http_request_parse(buf, size, &req);

	if (rv > 0) {
		uint64_t first, last, sizes[] = {0, 1, 44, 1000000, UINT64_MAX};

		if ((size_t)rv > size || (size_t)rv != req.head_len ||
		    memchr(req.target, '\0', sizeof(req.target)) == NULL ||
		    memchr(req.range, '\0', sizeof(req.range)) == NULL)
			abort();
		for (size_t i = 0; req.has_range && i < sizeof(sizes) / sizeof(sizes[0]); i++)
			if (http_range_parse(req.range, sizes[i], &first, &last) == 1 &&
			    (first > last || last >= sizes[i]))
				abort();
		if (http_clip_target(req.target, name, sizeof(name))) {
			/* Only "<64 hex>.wav" names a clip: no slash, no dot-dot, no encoding. */
			if (strlen(name) != 68 || strchr(name, '/') != NULL ||
			    strstr(name, "..") != NULL || strchr(name, '%') != NULL)
				abort();
		}
	} else if (rv != 0 && rv != -400 && rv != -414 && rv != -431 && rv != -501 && rv != -505) {
		abort();
	}
	free(buf);
	return 0;
}
