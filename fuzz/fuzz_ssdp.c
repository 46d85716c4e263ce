/* fuzz_ssdp.c -- SSDP answers and NOTIFYs from anyone on the LAN (discoveryd/ssdp.c). */
#include "fuzz.h"
#include "ssdp.h"

#include <arpa/inet.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ssdp_message msg;
	char *buf = fuzz_copy(data, size), host[64], path[256];
	uint16_t port;

	if (ssdp_parse(buf, size, &msg) == 0 && msg.location[0] != '\0') {
		int rv = ssdp_location_check(msg.location, "192.168.1.20", host, sizeof(host), &port,
					     path, sizeof(path));
		struct in_addr a;

		/* Accepted means: the URL names exactly the address the datagram came from. */
		if (rv == 0 && (inet_pton(AF_INET, host, &a) != 1 ||
				a.s_addr != inet_addr("192.168.1.20")))
			abort();
	}
	free(buf);
	return 0;
}
