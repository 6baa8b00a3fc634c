/* The benchmark harness shared by spawn_bench, coro_bench and rt_bench
 * (bench/README.md): clocks, interleaved rounds, statistics over rounds,
 * the machine's load, and the result rows that spawn_bench prints as markdown
 * tables and writes as CSV.
 *
 * Why interleaved rounds: the machines are shared and noisy. Running every
 * method once per round, in an order rotated by the round, makes slow drift
 * hit all methods alike; the median over rounds ignores a single bad round.
 */
#ifndef NF_BENCH_HARNESS_H
#define NF_BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#define HN_MAX_ROUNDS 101
#define HN_MAX_ROWS 256

/* ---- clocks ---- */

/* CLOCK_MONOTONIC in seconds / nanoseconds. */
double hn_now_s(void);
double hn_now_ns(void);
/* CPU time of this process and its reaped children (user + system), in
 * seconds. When other people load the machine, wall time mostly measures
 * their load; CPU time still compares the work each method makes the kernel
 * do, though it misses the time spent waiting for wake-ups (cross-CPU IPIs,
 * in a VM). */
double hn_cpu_s(void);

/* ---- interleaved rounds and statistics ---- */

/* Calls run(arg, round, j) for every round < rounds and every j < n, each
 * round in the order j = round, round+1, ... (mod n). */
void hn_interleave(int rounds, int n, void (*run)(void *arg, int round, int j), void *arg);

/* Median (the mean of the middle two for an even n), min and max of v[0..n),
 * 1 <= n <= HN_MAX_ROUNDS; v is left as it was. */
struct hn_stats {
	double med, min, max;
};
struct hn_stats hn_stats(const double *v, int n);

/* "<when>: load average a b c on N CPUs" on stdout: a reader can tell a
 * noisy run from a real regression. */
void hn_print_load(const char *when);

/* ---- result rows, tables, CSV ---- */

/* One measured (sweep, point, method): the median and range over rounds of
 * the per-round values (µs, or spawns/s when throughput). */
struct hn_row {
	const char *sweep;
	char point[40];
	const char *method;
	bool throughput;      /* value is spawns/s (higher is better), else µs */
	bool ok;
	char why[96];         /* when !ok */
	double med, min, max;
	int rounds;
	long spawns;          /* timed spawns over all rounds */
};

/* The two methods every row is divided by (ratio columns of the tables and
 * the CSV), and the short names their columns carry ("vfork" gives
 * "/ vfork" and "ratio_vfork"). Set before printing. */
struct hn_ref {
	const char *method, *label;
};
extern struct hn_ref hn_refs[2];

/* Appends a row with these keys and ok = true; exits when full. */
struct hn_row *hn_row_add(const char *sweep, const char *point, const char *method, bool throughput);
/* Marks a row failed: "<what>: <strerror(e)>" ("not built in" for ENOSYS). */
void hn_row_fail(struct hn_row *r, const char *what, int e);
/* The row for (sweep, point, method), or NULL. */
const struct hn_row *hn_find_row(const char *sweep, const char *point, const char *method);
/* a's median over b's; NAN if either is missing or failed. */
double hn_ratio(const struct hn_row *a, const struct hn_row *b);
/* "%.2f", or "-" for NAN. */
void hn_fmt_ratio(char *buf, size_t n, double r);

/* The markdown table of one sweep's rows under "### title". */
void hn_print_table(const char *sweep, const char *title);
/* Every row as CSV (header: sweep,point,method,unit,median,min,max,
 * ratio_<ref0>,ratio_<ref1>,rounds,spawns,status); says where on stdout. */
void hn_write_csv(const char *path);

/* ---- one sweep point ---- */

/* What the harness needs to time the contenders of one point: open(j)
 * prepares contender j outside the timing (an errno fails its row), batch
 * times k of its operations and returns the batch's value (single: one
 * thread, for the warm-up), close releases it. */
struct hn_contenders {
	int n;
	const char *const *names;
	int (*open)(void *arg, int j, void **run);
	int (*batch)(void *arg, void *run, long k, bool single, double *value);
	void (*close)(void *arg, void *run);
	void *arg;
};

struct hn_budget {
	int rounds;     /* rounds per point, <= HN_MAX_ROUNDS */
	long kmax;      /* operations per contender per round, upper bound */
	double point_s; /* time budget of one point */
	int parallel;   /* operations one unit of k makes (threads), >= 1 */
};

/* Runs one point: opens and warms up each contender (the warm-up also sizes
 * its k so the point stays within budget), then budget->rounds interleaved
 * rounds of one batch per contender; adds a row per contender with the
 * statistics of its batch values. Returns the seconds spent up to the end of
 * the rounds. */
double hn_run_point(const char *sweep, const char *point, bool throughput,
		    const struct hn_budget *budget, const struct hn_contenders *c);

/* Contender a's value over b's in each round of the point hn_run_point ran
 * last (both rounds ran the two back to back, so drift between rounds
 * cancels): median, min and max of the per-round ratios; NAN if either is
 * missing or failed. */
struct hn_stats hn_last_ratio(const char *a, const char *b);

#endif
