/* nf_cmd_ioprio, the op added by following the recipe in nofork/ops.h: the
 * child's I/O priority as the probe reads it back, the setter's validation,
 * and the failing step's message. */
#include "kit.h"

#include <errno.h>
#include <string.h>

#define PRIO(cls, level) ((cls) << 13 | (level))

START_TEST(ioprio_reaches_the_child)
{
	static const int prios[] = {PRIO(2, 0), PRIO(2, 7), PRIO(3, 0), PRIO(1, 4)};
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ioprio(cmd, prios[_i]), 0);
	probe_report r;
	probe_run_ok(cmd, &r);
	ck_assert_int_eq(probe_long(&r, "ioprio"), prios[_i]);
	probe_report_free(&r);
	nf_cmd_free(cmd);
}
END_TEST

START_TEST(ioprio_setter_refuses_what_the_kernel_would)
{
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ioprio(cmd, -1), EINVAL);
	ck_assert_int_eq(nf_cmd_ioprio(cmd, PRIO(4, 0)), EINVAL);
	ck_assert_int_eq(nf_cmd_ioprio(cmd, PRIO(2, 8)), EINVAL);
	ck_assert_int_eq(nf_cmd_ioprio(cmd, PRIO(0, 1)), EINVAL);
	ck_assert_int_eq(nf_cmd_ioprio(NULL, PRIO(2, 0)), EINVAL);
	nf_cmd_free(cmd);
}
END_TEST

/* The realtime class needs CAP_SYS_ADMIN or CAP_SYS_NICE: as nobody the
 * step fails, and the message names it. */
START_TEST(ioprio_failure_names_the_step)
{
	kit_public_probe();
	kit_become_nobody();
	nf_cmd *cmd = probe_cmd(NULL);
	ck_assert_int_eq(nf_cmd_ioprio(cmd, PRIO(1, 0)), 0);
	probe_report r;
	nf_error e;
	memset(&e, 0, sizeof e);
	ck_assert_int_eq(probe_run(cmd, &r, &e), EPERM);
	ck_assert_int_eq(e.op, NF_OP_IOPRIO);
	char msg[NF_ERROR_MAX];
	ck_assert_str_eq(nf_error_format(&e, msg, sizeof msg), "ioprio_set 8192: Operation not permitted");
	nf_cmd_free(cmd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ioprio");
	TCase *tc = kit_tcase("ioprio", 30);
	tcase_add_loop_test(tc, ioprio_reaches_the_child, 0, 4);
	tcase_add_test(tc, ioprio_setter_refuses_what_the_kernel_would);
	tcase_add_test(tc, ioprio_failure_names_the_step);
	suite_add_tcase(s, tc);
	return kit_main(s);
}
