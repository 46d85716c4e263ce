/* test_netif.c -- choosing the interfaces SSDP searches go out on. */
#include "check.h"
#include "netif.h"

static const struct netif host[] = {
    {"lo", "127.0.0.1", "255.0.0.0", "", 1, 1, 0, 1},
    {"eth0", "192.168.1.5", "255.255.255.0", "192.168.1.255", 1, 0, 1, 2},
    {"docker0", "172.17.0.1", "255.255.0.0", "172.17.255.255", 1, 0, 1, 3},
    {"wlan0", "10.0.0.7", "255.255.255.0", "10.0.0.255", 0, 0, 1, 4}, /* down */
    {"tun0", "10.8.0.2", "255.255.255.255", "", 1, 0, 0, 5},          /* no multicast */
};
#define NHOST (int)(sizeof(host) / sizeof(host[0]))

int
main(void)
{
	struct netif out[NETIF_MAX];
	char missing[64], desc[128];
	int n;

	/* Default: every interface that is up, has multicast and is not loopback. */
	n = netif_select(host, NHOST, "", out, NETIF_MAX, missing, sizeof(missing));
	CHECK_INT(n, 2);
	CHECK_STR(out[0].name, "eth0");
	CHECK_STR(out[1].name, "docker0");
	CHECK_STR(missing, "");
	netif_describe(out, n, desc, sizeof(desc));
	CHECK_STR(desc, "eth0 192.168.1.5, docker0 172.17.0.1");

	/* An override by name and by address; loopback when asked for; duplicates once. */
	n = netif_select(host, NHOST, " eth0 , 127.0.0.1,192.168.1.5", out, NETIF_MAX, missing,
	                 sizeof(missing));
	CHECK_INT(n, 2);
	CHECK_STR(out[0].addr, "192.168.1.5");
	CHECK_STR(out[1].name, "lo");

	/* Unknown names are reported; an unknown address is kept for the system to judge; a
	 * down interface is not used. */
	n = netif_select(host, NHOST, "eth9,10.1.2.3,wlan0", out, NETIF_MAX, missing,
	                 sizeof(missing));
	CHECK_INT(n, 1);
	CHECK_STR(out[0].addr, "10.1.2.3");
	CHECK_STR(missing, "eth9,wlan0");

	/* At most max. */
	CHECK_INT(netif_select(host, NHOST, "", out, 1, missing, sizeof(missing)), 1);

	/* On a subnet of ours, or behind a gateway. */
	CHECK(netif_on_link(host, NHOST, "192.168.1.20"));
	CHECK(netif_on_link(host, NHOST, "127.0.0.2"));
	CHECK(!netif_on_link(host, NHOST, "192.168.2.20"));
	CHECK(!netif_on_link(host, NHOST, "not an address"));

	/* Whatever this host has: listing works and gives addresses. */
	n = netif_list(out, NETIF_MAX);
	CHECK(n >= 1);
	for (int i = 0; i < n; i++)
		CHECK(out[i].addr[0] != '\0');
	CHECK_DONE();
}
