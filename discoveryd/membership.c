/* membership.c -- join the SSDP group on the interfaces we search on, again after an interface
 * was deleted and came back, and leave the ones that went away. */
#include "membership.h"
#include "log.h"
#include "msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* IP_ADD_MEMBERSHIP or IP_DROP_MEMBERSHIP for m, by interface index when known (a deleted
 * interface's address may be on another one by now). Returns 0 or a negative errno. */
static int
membership_op(int fd, int op, const char *group, const struct membership *m)
{
	struct ip_mreqn mr;

	memset(&mr, 0, sizeof(mr));
	inet_pton(AF_INET, group, &mr.imr_multiaddr);
	inet_pton(AF_INET, m->addr, &mr.imr_address);
	mr.imr_ifindex = (int)m->ifindex;
	return setsockopt(fd, IPPROTO_IP, op, &mr, sizeof(mr)) < 0 ? -errno : 0;
}

static const struct membership *
membership_find(const struct membership_set *set, const struct membership *m)
{
	for (int i = 0; i < set->n; i++)
		if (set->m[i].ifindex == m->ifindex && strcmp(set->m[i].addr, m->addr) == 0)
			return &set->m[i];
	return NULL;
}

/* The memberships wanted for ifs[0..n), none joined yet. */
static void
membership_wanted(struct membership_set *out, const struct netif *ifs, int n)
{
	out->n = 0;
	if (n == 0) {
		memset(&out->m[0], 0, sizeof(out->m[0]));
		msg_strlcpy(out->m[0].addr, "0.0.0.0", sizeof(out->m[0].addr));
		out->n = 1;
	}
	for (int i = 0; i < n && out->n < NETIF_MAX; i++) {
		struct membership *m = &out->m[out->n++];

		memset(m, 0, sizeof(*m));
		msg_strlcpy(m->addr, ifs[i].addr, sizeof(m->addr));
		m->ifindex = ifs[i].index;
	}
}

void
membership_sync(int fd, const char *group, struct membership_set *set, const struct netif *ifs,
                int n)
{
	struct membership_set next;

	membership_wanted(&next, ifs, n);
	/* Leave first: a slot freed here may be the one a join below needs. */
	for (int i = 0; i < set->n; i++) {
		if (!set->m[i].joined || membership_find(&next, &set->m[i]) != NULL)
			continue;
		if (membership_op(fd, IP_DROP_MEMBERSHIP, group, &set->m[i]) == 0)
			log_debug("NOTIFY: left %s on %s (interface %u gone)", group,
			          set->m[i].addr, set->m[i].ifindex);
	}
	for (int i = 0; i < next.n; i++) {
		struct membership *m = &next.m[i];
		const struct membership *was = membership_find(set, m);
		int rv = membership_op(fd, IP_ADD_MEMBERSHIP, group, m);

		m->joined = rv == 0 || rv == -EADDRINUSE;
		if (!m->joined && (was == NULL || was->joined))
			log_warnx("NOTIFY: joining %s on %s: %s", group, m->addr, strerror(-rv));
		else if (rv == 0)
			log_debug("NOTIFY: joined %s on %s (interface %u)%s", group, m->addr,
			          m->ifindex, was != NULL && was->joined ? " again" : "");
	}
	*set = next;
}
