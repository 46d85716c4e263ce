/* netif.h -- the IPv4 interfaces SSDP searches go out on: list them, pick them (pure). */
#ifndef SB_NETIF_H
#define SB_NETIF_H

#include <stddef.h>
#include <stdint.h>

#define NETIF_MAX 32

struct netif {
	char name[32];      /* "eth0" */
	char addr[16];      /* dotted IPv4 */
	char netmask[16];   /* dotted IPv4 */
	char broadcast[16]; /* "" when the interface has none */
	uint8_t up;
	uint8_t loopback;
	uint8_t multicast; /* IFF_MULTICAST */
	unsigned index;    /* interface index, 0 when not known */
};

/* Every IPv4 address of this host (getifaddrs), at most max, with its interface index. A
 * broadcast address of 0.0.0.0 (an address added without one) counts as none. Returns the
 * count or -1. */
int netif_list(struct netif *out, int max);

/* Pure: pick the interfaces to search on from all[0..n). spec "" picks every interface that
 * is up, has multicast and is not loopback. Otherwise spec is a comma-separated list of
 * interface names or IPv4 addresses; each picks the matching interface that is up (loopback
 * too, as tests use it), or, for an address no interface has, that address as it is (the
 * system may still accept it). Items that match nothing are copied to missing (comma
 * separated). Returns the number written to out (at most max). */
int netif_select(const struct netif *all, int n, const char *spec, struct netif *out, int max,
                 char *missing, size_t missing_len);

/* Pure: 1 when ip lies in the subnet of one of all[0..n) (reached without a gateway). */
int netif_on_link(const struct netif *all, int n, const char *ip);

/* Pure: "eth0 192.168.1.5, wlan0 10.0.0.7" into out, for logs. */
void netif_describe(const struct netif *ifs, int n, char *out, size_t size);

#endif
