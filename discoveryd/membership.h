/* membership.h -- the NOTIFY socket's SSDP group memberships, kept in step with the interfaces. */
#ifndef SB_MEMBERSHIP_H
#define SB_MEMBERSHIP_H

#include "netif.h"

/* One membership of the group on one interface. */
struct membership {
	char addr[16];    /* the interface's address; "0.0.0.0" = the system's choice */
	unsigned ifindex; /* its interface, 0 = found by address */
	int joined;       /* 0: the last join failed (said once) */
};

struct membership_set {
	struct membership m[NETIF_MAX];
	int n;
};

/* Make fd a member of group on each of ifs[0..n) (n = 0: on the system's choice), and of no
 * other interface. Every call joins again: the kernel forgets a membership when its interface
 * is deleted, even if one with the same name and address comes back (EADDRINUSE means it is
 * still there). A membership whose interface is gone or was replaced is dropped, so that stale
 * ones do not pile up to the kernel's limit (igmp_max_memberships). A join that fails is
 * logged once, until it works again. */
void membership_sync(int fd, const char *group, struct membership_set *set, const struct netif *ifs,
                     int n);

#endif
