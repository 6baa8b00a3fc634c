/* The shared benchmark harness: see harness.h. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- clocks ---------------------------------------------------------------- */

double hn_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double hn_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double hn_cpu_s(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			kids.ru_stime.tv_sec) +
	       (self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
		kids.ru_stime.tv_usec) * 1e-6;
}

/* ---- interleaved rounds and statistics ------------------------------------ */

void hn_interleave(int rounds, int n, void (*run)(void *arg, int round, int j), void *arg)
{
	for (int round = 0; round < rounds; round++)
		for (int i = 0; i < n; i++)
			run(arg, round, (i + round) % n);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct hn_stats hn_stats(const double *v, int n)
{
	double t[HN_MAX_ROUNDS];
	memcpy(t, v, sizeof(double) * (size_t)n);
	qsort(t, (size_t)n, sizeof(double), cmp_double);
	return (struct hn_stats){
		.med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2,
		.min = t[0],
		.max = t[n - 1],
	};
}

void hn_print_load(const char *when)
{
	double l[3];
	if (getloadavg(l, 3) == 3)
		printf("%s: load average %.2f %.2f %.2f on %ld CPUs\n", when, l[0], l[1], l[2],
		       sysconf(_SC_NPROCESSORS_ONLN));
}

/* ---- result rows ------------------------------------------------------------ */

struct hn_ref hn_refs[2];
static struct hn_row rows[HN_MAX_ROWS];
static int nrows;

struct hn_row *hn_row_add(const char *sweep, const char *point, const char *method, bool throughput)
{
	if (nrows == HN_MAX_ROWS) {
		fprintf(stderr, "bench: too many rows\n");
		exit(1);
	}
	struct hn_row *r = &rows[nrows++];
	*r = (struct hn_row){ .sweep = sweep, .method = method, .ok = true, .throughput = throughput };
	snprintf(r->point, sizeof r->point, "%s", point);
	return r;
}

void hn_row_fail(struct hn_row *r, const char *what, int e)
{
	r->ok = false;
	snprintf(r->why, sizeof r->why, "%s: %s", what, e == ENOSYS ? "not built in" : strerror(e));
}

const struct hn_row *hn_find_row(const char *sweep, const char *point, const char *method)
{
	for (int i = 0; i < nrows; i++)
		if (!strcmp(rows[i].sweep, sweep) && !strcmp(rows[i].point, point) &&
		    !strcmp(rows[i].method, method))
			return &rows[i];
	return NULL;
}

double hn_ratio(const struct hn_row *a, const struct hn_row *b)
{
	if (!a || !b || !a->ok || !b->ok || b->med == 0)
		return NAN;
	return a->med / b->med;
}

void hn_fmt_ratio(char *buf, size_t n, double r)
{
	if (isnan(r))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.2f", r);
}

/* r's ratio to reference i at the same sweep point. */
static double ref_ratio(const struct hn_row *r, int i)
{
	return hn_ratio(r, hn_find_row(r->sweep, r->point, hn_refs[i].method));
}

/* ---- tables and CSV ----------------------------------------------------------- */

static void fmt_val(char *buf, size_t n, double v, bool throughput)
{
	snprintf(buf, n, throughput ? "%.0f" : "%.1f", v);
}

static void table_head(const char *title, bool thr)
{
	printf("\n### %s\n\n", title);
	if (thr)
		printf("| point | method | median spawns/s | min-max spawns/s | vs %s (x) | vs %s (x) |\n",
		       hn_refs[0].label, hn_refs[1].label);
	else
		printf("| point | method | median µs | min-max µs | / %s | / %s |\n", hn_refs[0].label,
		       hn_refs[1].label);
	printf("|---|---|---:|---:|---:|---:|\n");
}

void hn_print_table(const char *sweep, const char *title)
{
	bool thr = false;
	for (int i = 0; i < nrows; i++)
		if (!strcmp(rows[i].sweep, sweep))
			thr = rows[i].throughput;
	table_head(title, thr);
	for (int i = 0; i < nrows; i++) {
		const struct hn_row *r = &rows[i];
		if (strcmp(r->sweep, sweep))
			continue;
		if (!r->ok) {
			printf("| %s | %s | n/a | %s | - | - |\n", r->point, r->method, r->why);
			continue;
		}
		char med[32], lo[32], hi[32], rv[16], rp[16];
		fmt_val(med, sizeof med, r->med, thr);
		fmt_val(lo, sizeof lo, r->min, thr);
		fmt_val(hi, sizeof hi, r->max, thr);
		hn_fmt_ratio(rv, sizeof rv, ref_ratio(r, 0));
		hn_fmt_ratio(rp, sizeof rp, ref_ratio(r, 1));
		printf("| %s | %s | %s | %s-%s | %s | %s |\n", r->point, r->method, med, lo, hi, rv, rp);
	}
	if (thr)
		printf("\nThroughput ratios are method/reference: above 1 is faster.\n");
	fflush(stdout);
}

/* A ratio column: the value and a comma, or only the comma. */
static void csv_ratio(FILE *f, double r)
{
	if (isnan(r))
		fprintf(f, ",");
	else
		fprintf(f, "%.4f,", r);
}

void hn_write_csv(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "spawn_bench: cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "sweep,point,method,unit,median,min,max,ratio_%s,ratio_%s,rounds,spawns,status\n",
		hn_refs[0].label, hn_refs[1].label);
	for (int i = 0; i < nrows; i++) {
		const struct hn_row *r = &rows[i];
		fprintf(f, "%s,%s,%s,%s,", r->sweep, r->point, r->method,
			r->throughput ? "spawns/s" : "us");
		if (r->ok)
			fprintf(f, "%.3f,%.3f,%.3f,", r->med, r->min, r->max);
		else
			fprintf(f, ",,,");
		csv_ratio(f, ref_ratio(r, 0));
		csv_ratio(f, ref_ratio(r, 1));
		fprintf(f, "%d,%ld,%s\n", r->rounds, r->spawns, r->ok ? "ok" : r->why);
	}
	fclose(f);
	printf("\nCSV: %s\n", path);
}

/* ---- one sweep point ---------------------------------------------------------- */

/* The state of hn_run_point, shared with its per-round callback. */
struct point_run {
	const struct hn_budget *b;
	const struct hn_contenders *c;
	struct hn_row *rows[HN_MAX_ROWS];
	void *run[HN_MAX_ROWS];
	long k[HN_MAX_ROWS];
	double vals[HN_MAX_ROWS][HN_MAX_ROUNDS];
	int n, rounds; /* for hn_last_ratio, after the point */
};

/* The point running, or the last one run (large; points run one at a
 * time). */
static struct point_run pr;

/* Opens contender j and warms it up, single-threaded: the warm-up estimates
 * one operation's latency, which bounds a parallel batch's length too, and
 * sets k[j]. A failure marks the row. */
static void warm_up(struct point_run *pr, int j)
{
	const struct hn_contenders *c = pr->c;
	double per_round_s = pr->b->point_s / pr->b->rounds / c->n;
	int e = c->open(c->arg, j, &pr->run[j]);
	if (e) {
		pr->run[j] = NULL;
		hn_row_fail(pr->rows[j], "open", e);
		return;
	}
	double t0 = hn_now_s(), t1 = t0, v;
	long done = 0;
	/* At least 3 operations, at most 50 ms or 200 of them. */
	while (!e && (done < 3 || (t1 - t0 < 0.05 && done < 200))) {
		e = c->batch(c->arg, pr->run[j], 1, true, &v);
		done++;
		t1 = hn_now_s();
	}
	if (e) {
		hn_row_fail(pr->rows[j], "warm-up", e);
		return;
	}
	double est = (t1 - t0) / done;
	long km = (long)(per_round_s / est / pr->b->parallel);
	pr->k[j] = km < 1 ? 1 : km > pr->b->kmax ? pr->b->kmax : km;
}

static void one_batch(void *arg, int round, int j)
{
	struct point_run *pr = arg;
	struct hn_row *r = pr->rows[j];
	if (!r->ok)
		return;
	int e = pr->c->batch(pr->c->arg, pr->run[j], pr->k[j], false, &pr->vals[j][round]);
	if (e)
		hn_row_fail(r, "spawn", e);
	else
		r->spawns += pr->k[j] * pr->b->parallel;
}

double hn_run_point(const char *sweep, const char *point, bool throughput,
		    const struct hn_budget *budget, const struct hn_contenders *c)
{
	pr.b = budget;
	pr.c = c;
	pr.n = c->n;
	pr.rounds = budget->rounds;
	for (int j = 0; j < c->n; j++)
		pr.rows[j] = hn_row_add(sweep, point, c->names[j], throughput);
	double t0 = hn_now_s();
	for (int j = 0; j < c->n; j++)
		warm_up(&pr, j);
	hn_interleave(budget->rounds, c->n, one_batch, &pr);
	double dt = hn_now_s() - t0;
	for (int j = 0; j < c->n; j++) {
		struct hn_row *r = pr.rows[j];
		if (pr.run[j] && c->close)
			c->close(c->arg, pr.run[j]);
		if (!r->ok)
			continue;
		struct hn_stats s = hn_stats(pr.vals[j], budget->rounds);
		r->rounds = budget->rounds;
		r->med = s.med;
		r->min = s.min;
		r->max = s.max;
	}
	return dt;
}

struct hn_stats hn_last_ratio(const char *a, const char *b)
{
	int ia = -1, ib = -1;
	for (int j = 0; j < pr.n; j++) {
		if (!strcmp(pr.rows[j]->method, a))
			ia = j;
		if (!strcmp(pr.rows[j]->method, b))
			ib = j;
	}
	if (ia < 0 || ib < 0 || !pr.rows[ia]->ok || !pr.rows[ib]->ok)
		return (struct hn_stats){ NAN, NAN, NAN };
	double r[HN_MAX_ROUNDS];
	for (int i = 0; i < pr.rounds; i++)
		r[i] = pr.vals[ia][i] / pr.vals[ib][i];
	return hn_stats(r, pr.rounds);
}
