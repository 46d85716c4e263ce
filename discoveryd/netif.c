/* netif.c -- list this host's IPv4 interfaces and choose the ones SSDP searches go out on. */
#include "netif.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static void
netif_ntop(const struct sockaddr *sa, char *out, size_t size)
{
	out[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)size);
}

/* The index of the interface an address label names ("eth0:1" is on eth0), 0 if none. */
static unsigned
netif_index(const char *label)
{
	char name[IF_NAMESIZE];
	size_t len = strcspn(label, ":");

	if (len >= sizeof(name))
		return 0;
	memcpy(name, label, len);
	name[len] = '\0';
	return if_nametoindex(name);
}

int
netif_list(struct netif *out, int max)
{
	struct ifaddrs *all, *ifa;
	int n = 0;

	if (getifaddrs(&all) < 0)
		return -1;
	for (ifa = all; ifa != NULL && n < max; ifa = ifa->ifa_next) {
		struct netif *i = &out[n];

		if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		memset(i, 0, sizeof(*i));
		snprintf(i->name, sizeof(i->name), "%s", ifa->ifa_name);
		netif_ntop(ifa->ifa_addr, i->addr, sizeof(i->addr));
		netif_ntop(ifa->ifa_netmask, i->netmask, sizeof(i->netmask));
		if (ifa->ifa_flags & IFF_BROADCAST)
			netif_ntop(ifa->ifa_broadaddr, i->broadcast, sizeof(i->broadcast));
		if (strcmp(i->broadcast, "0.0.0.0") == 0)
			i->broadcast[0] =
			    '\0'; /* added without one: M-SEARCH to 0.0.0.0 is local */
		i->index = netif_index(ifa->ifa_name);
		i->up = (ifa->ifa_flags & IFF_UP) != 0;
		i->loopback = (ifa->ifa_flags & IFF_LOOPBACK) != 0;
		i->multicast = (ifa->ifa_flags & IFF_MULTICAST) != 0;
		n++;
	}
	freeifaddrs(all);
	return n;
}

static int
netif_picked(const struct netif *out, int count, const char *addr)
{
	for (int i = 0; i < count; i++)
		if (strcmp(out[i].addr, addr) == 0)
			return 1;
	return 0;
}

static void
netif_missing(char *missing, size_t len, const char *item)
{
	size_t used = strlen(missing);

	if (used + strlen(item) + 2 < len)
		snprintf(missing + used, len - used, "%s%s", used > 0 ? "," : "", item);
}

int
netif_select(const struct netif *all, int n, const char *spec, struct netif *out, int max,
             char *missing, size_t missing_len)
{
	char item[64];
	const char *p = spec;
	int count = 0;

	if (missing_len > 0)
		missing[0] = '\0';
	if (spec[0] == '\0') {
		for (int i = 0; i < n && count < max; i++)
			if (all[i].up && all[i].multicast && !all[i].loopback &&
			    !netif_picked(out, count, all[i].addr))
				out[count++] = all[i];
		return count;
	}
	while (*p != '\0' && count < max) {
		size_t len = strcspn(p, ",");
		struct in_addr a;
		int found = 0;

		if (len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
		} else {
			item[0] = '\0';
		}
		p += len;
		if (*p == ',')
			p++;
		/* trim */
		{
			char *s = item, *e;

			while (*s == ' ' || *s == '\t')
				s++;
			memmove(item, s, strlen(s) + 1);
			e = item + strlen(item);
			while (e > item && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
		}
		if (item[0] == '\0')
			continue;
		for (int i = 0; i < n && count < max; i++) {
			if (!all[i].up ||
			    (strcmp(all[i].name, item) != 0 && strcmp(all[i].addr, item) != 0))
				continue;
			found = 1;
			if (!netif_picked(out, count, all[i].addr))
				out[count++] = all[i];
		}
		if (!found && inet_pton(AF_INET, item, &a) == 1 && count < max) {
			/* An address we do not see (yet): let the system decide. */
			memset(&out[count], 0, sizeof(out[count]));
			snprintf(out[count].addr, sizeof(out[count].addr), "%s", item);
			snprintf(out[count].name, sizeof(out[count].name), "?");
			out[count].up = out[count].multicast = 1;
			count++;
			found = 1;
		}
		if (!found && missing_len > 0)
			netif_missing(missing, missing_len, item);
	}
	return count;
}

int
netif_on_link(const struct netif *all, int n, const char *ip)
{
	struct in_addr a, addr, mask;

	if (inet_pton(AF_INET, ip, &a) != 1)
		return 0;
	for (int i = 0; i < n; i++) {
		if (inet_pton(AF_INET, all[i].addr, &addr) != 1 ||
		    inet_pton(AF_INET, all[i].netmask, &mask) != 1)
			continue;
		if ((a.s_addr & mask.s_addr) == (addr.s_addr & mask.s_addr))
			return 1;
	}
	return 0;
}

void
netif_describe(const struct netif *ifs, int n, char *out, size_t size)
{
	size_t used = 0;

	if (size == 0)
		return;
	out[0] = '\0';
	for (int i = 0; i < n && used + 1 < size; i++) {
		int w = snprintf(out + used, size - used, "%s%s %s", i > 0 ? ", " : "", ifs[i].name,
		                 ifs[i].addr);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}
