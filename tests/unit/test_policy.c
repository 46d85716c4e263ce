/* test_policy.c -- the supervisor's restart delay and intensity rules. */
#include "check.h"
#include "policy.h"

int
main(void)
{
	struct restart_policy p;
	struct restart_history h = {0};
	uint64_t d = 0;

	restart_policy_defaults(&p);
	/* A worker that had been up for a while restarts at once. */
	CHECK_INT(restart_delay(&p, p.stable_ms, 8000), 0);
	/* One that dies quickly waits, doubling up to the cap. */
	d = restart_delay(&p, 100, 0);
	CHECK_INT(d, p.min_delay_ms);
	d = restart_delay(&p, 100, d);
	CHECK_INT(d, 2 * p.min_delay_ms);
	for (int i = 0; i < 20; i++)
		d = restart_delay(&p, 100, d);
	CHECK_INT(d, p.max_delay_ms);

	/* intensity restarts in the window are tolerated; one more is not. */
	for (unsigned i = 0; i < p.intensity; i++)
		CHECK_INT(restart_record(&p, &h, 1000 + i), 0);
	CHECK_INT(restart_record(&p, &h, 2000), 1);
	/* Restarts spread out beyond the window never add up. */
	h.count = 0;
	for (unsigned i = 0; i < 5 * p.intensity; i++)
		CHECK_INT(restart_record(&p, &h, (uint64_t)i * (p.period_ms / 2)), 0);
	CHECK_DONE();
}
