/*
 * sim: the billing simulator's command line (tests/sim/README.md).
 *
 *   sim [--seeds N] [--seed S] [--steps M] [--check-every K] [--jobs J]
 *       [--grpc G --kills K --billingd PATH --ledger-check PATH [--faults SPEC]]
 *       [--off LIST] [--on LIST] [--keep I,J,...] [--no-shrink] [--verbose]
 *
 * Runs seeds S..S+N-1, each a history of M steps after the setup prefix,
 * every seed in a child process (a fresh billingd store, in process; or
 * for every G-th seed, over gRPC with kill -9). On a mismatch: the seed,
 * the step, model vs server, then a shrunk history (delta debugging:
 * steps removed while the same failure stays) and the one command that
 * replays it (--keep). Exit 0 when every seed matched, 1 on a mismatch,
 * 2 on a usage or environment error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drive.h"
#include "gen.h"
#include "model.h"
#include "sim.h"

#define MAX_OPS 4096

typedef struct cfg {
	uint64_t seed;
	int seeds, steps, check_every, jobs, grpc_every, kills, verbose, shrink, keep_going;
	const char *billingd, *ledger_check, *faults;
	gen_config gen;
	char off[512], on[512];
	int keep[MAX_OPS], nkeep, have_keep;
} cfg;

/* What a child reports through its pipe. */
typedef struct outcome {
	int rc; /* 0 ok, 1 mismatch, 2 could not run */
	int step;
	int kind; /* op kind of the failing step (the failure's signature) */
	drive_stats st;
	char report[16384];
} outcome;

static int parse_keep(cfg *c, const char *s)
{
	c->have_keep = 1;
	c->nkeep = 0;
	while (*s && c->nkeep < MAX_OPS) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s)
			return -1;
		c->keep[c->nkeep++] = (int)v;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: sim [--seeds N] [--seed S] [--steps M] [--check-every K] [--jobs J]\n"
		"           [--grpc G] [--kills K] [--billingd PATH] [--ledger-check PATH]\n"
		"           [--faults SPEC] [--off LIST] [--on LIST] [--keep I,J,..] "
		"[--no-shrink]\n"
		"           [--keep-going] [--verbose] [--list-toggles]\n");
	return 2;
}

/* The history of a seed: the setup prefix, then the generated steps. */
static int make_history(const cfg *c, uint64_t seed, op *ops, int *orig)
{
	static model m, tmp;
	int ns = gen_setup(ops, MAX_OPS), n;
	model_init(&m);
	for (int i = 0; i < ns; i++) {
		m_expect e;
		memcpy(&tmp, &m, sizeof(m));
		model_step(&m, &tmp, &ops[i], &e);
		memcpy(&m, &tmp, sizeof(m));
	}
	n = c->steps < MAX_OPS - ns ? c->steps : MAX_OPS - ns;
	gen_history(seed, &c->gen, &m, ops + ns, n, ns);
	for (int i = 0; i < ns + n; i++)
		orig[i] = i;
	return ns + n;
}

static int nsetup(void)
{
	static op tmp[256];
	return gen_setup(tmp, 256);
}

/* Runs ops (a subset of a seed's history) in a child; fills *out. */
static void run_child(const cfg *c, uint64_t seed, int use_grpc, const op *ops, const int *orig,
		      int n, outcome *out)
{
	int fd[2];
	pid_t pid;
	memset(out, 0, sizeof(*out));
	if (pipe(fd) != 0) {
		out->rc = 2;
		return;
	}
	pid = fork();
	if (pid < 0) {
		out->rc = 2;
		return;
	}
	if (pid == 0) {
		static outcome o;
		static drive_result r;
		drive_opts dop = {0};
		sim_transport *t;
		size_t off = 0;
		char logpath[64];
		FILE *lf = NULL;
		close(fd[0]);
		memset(&o, 0, sizeof(o));
		/* billingd's log lines go to a file; its errors join a report */
		snprintf(logpath, sizeof(logpath), "/tmp/spb-sim-%d.log", (int)getpid());
		if (!c->verbose)
			lf = freopen(logpath, "w+", stderr);
		t = use_grpc ? sim_grpc_open(c->billingd, c->ledger_check, c->faults)
			     : sim_local_open();
		if (!t) {
			o.rc = 2;
			snprintf(o.report, sizeof(o.report), "cannot start billingd (%s)\n",
				 use_grpc ? "gRPC" : "in process");
		} else {
			dop.check_every = c->check_every;
			dop.verbose = c->verbose;
			dop.kills = use_grpc ? c->kills : 0;
			dop.kill_mode = use_grpc;
			dop.seed = seed;
			dop.nsetup = nsetup();
			dop.twins = c->gen.on[T_FOREIGN];
			dop.confirm_race = c->gen.on[T_CONFIRM_RACE];
			dop.gen = &c->gen;
			o.rc = drive_run(t, ops, orig, n, &dop, &r);
			if (o.rc < 0)
				o.rc = 2;
			o.step = r.step;
			o.kind = r.failed && r.step < n ? ops[r.step].kind : -1;
			o.st = r.st;
			snprintf(o.report, sizeof(o.report), "%s", r.report);
			t->close(t);
		}
		if (lf) {
			char line[600];
			int k = 0;
			fflush(stderr);
			rewind(lf);
			while (fgets(line, sizeof(line), lf) && k < 6)
				if (o.rc == 1 &&
				    (strstr(line, " ERROR ") || strstr(line, " WARN "))) {
					size_t l = strlen(o.report);
					snprintf(o.report + l, sizeof(o.report) - l,
						 "  billingd log: %s", line);
					k++;
				}
			fclose(lf);
			unlink(logpath);
		}
		while (off < sizeof(o)) {
			ssize_t w = write(fd[1], (char *)&o + off, sizeof(o) - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		_exit(0);
	}
	close(fd[1]);
	{
		size_t off = 0;
		while (off < sizeof(*out)) {
			ssize_t r = read(fd[0], (char *)out + off, sizeof(*out) - off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			off += (size_t)r;
		}
		if (off < sizeof(*out)) {
			int st = 0;
			waitpid(pid, &st, 0);
			memset(out, 0, sizeof(*out));
			out->rc = 1;
			out->kind = -2;
			snprintf(out->report, sizeof(out->report),
				 "the simulator process died (%s %d): a crash of billingd in "
				 "process\n",
				 WIFSIGNALED(st) ? "signal" : "exit",
				 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			close(fd[0]);
			return;
		}
	}
	close(fd[0]);
	waitpid(pid, NULL, 0);
}

/* Mismatches of a --keep-going run, grouped by a signature: the failing
 * op kind and the model's expectation or the first difference, digits
 * and ids dropped. */
#define MAX_SIG 64
static char sig_text[MAX_SIG][160];
static int sig_count[MAX_SIG], nsig;
static uint64_t sig_seed[MAX_SIG];

static void note_signature(const outcome *o, uint64_t seed)
{
	char sig[160] = "", *p;
	const char *line = strchr(o->report, '\n');
	size_t n = 0;
	const char *kind = o->kind >= 0 && o->kind < OP_KINDS ? sim_op_name[o->kind]
							      : "state check";
	n = (size_t)snprintf(sig, sizeof(sig), "%s: ", kind);
	if (line) {
		line++;
		while (*line == ' ')
			line++;
		for (; *line && *line != '\n' && n + 1 < sizeof(sig); line++) {
			if (*line >= '0' && *line <= '9')
				continue;
			sig[n++] = *line;
		}
		sig[n] = 0;
	}
	if ((p = strstr(sig, "server")) && p - sig > 40)
		*p = 0; /* the model's side names the defect */
	for (int k = 0; k < nsig; k++)
		if (strcmp(sig_text[k], sig) == 0) {
			sig_count[k]++;
			return;
		}
	if (nsig < MAX_SIG) {
		snprintf(sig_text[nsig], sizeof(sig_text[0]), "%s", sig);
		sig_seed[nsig] = seed;
		sig_count[nsig++] = 1;
	}
}

static int same_failure(const outcome *a, const outcome *b)
{
	return b->rc == 1 && a->kind == b->kind;
}

/* Delta debugging (ddmin) over the generated part of the history: removes
 * chunks of steps while the failure (same op kind failing) stays. */
static int shrink(const cfg *c, uint64_t seed, int use_grpc, const op *all, int n, int ns,
		  const outcome *first, int *keep, outcome *last)
{
	static op ops[MAX_OPS];
	static int orig[MAX_OPS], cand[MAX_OPS];
	int nk = 0, gran = 2, trials = 0;
	/* steps after the failing one never matter */
	for (int i = ns; i <= first->step && i < n; i++)
		keep[nk++] = i;
	*last = *first;
	while (nk >= 2 && trials < 400) {
		int chunk = (nk + gran - 1) / gran, removed = 0;
		for (int start = 0; start < nk && trials < 400; start += chunk) {
			int m = 0, cn = 0;
			outcome o;
			for (int i = 0; i < nk; i++)
				if (i < start || i >= start + chunk)
					cand[cn++] = keep[i];
			if (cn == nk || cn == 0)
				continue;
			for (int i = 0; i < ns; i++) {
				ops[m] = all[i];
				orig[m++] = i;
			}
			for (int i = 0; i < cn; i++) {
				ops[m] = all[cand[i]];
				orig[m++] = cand[i];
			}
			trials++;
			run_child(c, seed, use_grpc, ops, orig, m, &o);
			if (same_failure(first, &o)) {
				memcpy(keep, cand, sizeof(int) * (size_t)cn);
				nk = cn;
				*last = o;
				removed = 1;
				/* drop steps after the new failing step */
				{
					int fail_orig = orig[o.step < m ? o.step : m - 1], k2 = 0;
					for (int i = 0; i < nk; i++)
						if (keep[i] <= fail_orig)
							keep[k2++] = keep[i];
					nk = k2;
				}
				gran = gran > 2 ? gran - 1 : 2;
				break;
			}
		}
		if (!removed) {
			if (gran >= nk)
				break;
			gran = gran * 2 < nk ? gran * 2 : nk;
		}
	}
	return nk;
}

static void print_toggles(const cfg *c, FILE *f)
{
	int first = 1;
	for (int t = 0; t < T_COUNT; t++)
		if (!c->gen.on[t]) {
			fprintf(f, "%s%s", first ? "" : ",", toggle_name[t]);
			first = 0;
		}
	if (first)
		fprintf(f, "(none)");
}

static void report_failure(const cfg *c, uint64_t seed, int use_grpc, const op *all, int n, int ns,
			   const outcome *o)
{
	static int keep[MAX_OPS];
	outcome last;
	int nk;
	printf("\n=== MISMATCH: seed %" PRIu64 " (%s), step %d of %d\n%s", seed,
	       use_grpc ? "gRPC + kill -9" : "in process", o->step, n, o->report);
	if (!c->shrink || c->have_keep) {
		fflush(stdout);
		return;
	}
	printf("--- shrinking (steps removed while the failure stays)...\n");
	fflush(stdout);
	{
		/* every trial checks the whole state after every step, so that a
		 * state difference is pinned to the step that made it */
		static cfg c1;
		static int orig[MAX_OPS];
		outcome ref;
		c1 = *c;
		c1.check_every = 1;
		for (int i = 0; i < n; i++)
			orig[i] = i;
		run_child(&c1, seed, use_grpc, all, orig, n, &ref);
		if (ref.rc != 1)
			ref = *o;
		nk = shrink(&c1, seed, use_grpc, all, n, ns, &ref, keep, &last);
	}
	printf("--- shrunk history: %d steps after the %d setup steps\n", nk, ns);
	for (int i = 0; i < nk; i++) {
		char desc[600];
		sim_op_describe(&all[keep[i]], desc, sizeof(desc));
		printf("  [%d] %s\n", keep[i], desc);
	}
	printf("--- failure of the shrunk history:\n%s", last.report);
	printf("--- replay: sim --seed %" PRIu64 " --seeds 1 --steps %d --check-every 1", seed,
	       c->steps);
	if (c->off[0])
		printf(" --off %s", c->off);
	if (c->on[0])
		printf(" --on %s", c->on);
	if (use_grpc)
		printf(" --grpc 1 --kills %d --billingd %s --ledger-check %s%s%s", c->kills,
		       c->billingd, c->ledger_check, c->faults ? " --faults " : "",
		       c->faults ? c->faults : "");
	printf(" --keep ");
	for (int i = 0; i < nk; i++)
		printf("%s%d", i ? "," : "", keep[i]);
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static cfg c;
	static op ops[MAX_OPS], sub[MAX_OPS];
	static int orig[MAX_OPS], sorig[MAX_OPS];
	int failed = 0, errors = 0, ns = nsetup();
	drive_stats tot = {0};
	struct timespec t0, t1;

	memset(&c, 0, sizeof(c));
	c.seed = 1;
	c.seeds = 1;
	c.steps = 200;
	c.check_every = 10;
	c.jobs = 1;
	c.kills = 3;
	c.shrink = 1;
	gen_config_all(&c.gen);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
		if (ARG("--seeds"))
			c.seeds = (int)strtol(v, NULL, 10);
		else if (ARG("--seed"))
			c.seed = strtoull(v, NULL, 10);
		else if (ARG("--steps"))
			c.steps = (int)strtol(v, NULL, 10);
		else if (ARG("--check-every"))
			c.check_every = (int)strtol(v, NULL, 10);
		else if (ARG("--jobs"))
			c.jobs = (int)strtol(v, NULL, 10);
		else if (ARG("--grpc"))
			c.grpc_every = (int)strtol(v, NULL, 10);
		else if (ARG("--kills"))
			c.kills = (int)strtol(v, NULL, 10);
		else if (ARG("--billingd"))
			c.billingd = v;
		else if (ARG("--ledger-check"))
			c.ledger_check = v;
		else if (ARG("--faults"))
			c.faults = v;
		else if (ARG("--off")) {
			snprintf(c.off, sizeof(c.off), "%s", v);
			if (gen_config_set(&c.gen, v, 0) != 0)
				return fprintf(stderr, "sim: unknown toggle in '%s'\n", v), 2;
		} else if (ARG("--on")) {
			snprintf(c.on, sizeof(c.on), "%s", v);
			if (gen_config_set(&c.gen, v, 1) != 0)
				return fprintf(stderr, "sim: unknown toggle in '%s'\n", v), 2;
		} else if (ARG("--keep")) {
			if (parse_keep(&c, v) != 0)
				return usage();
		} else if (strcmp(a, "--no-shrink") == 0)
			c.shrink = 0;
		else if (strcmp(a, "--keep-going") == 0)
			c.keep_going = 1;
		else if (strcmp(a, "--verbose") == 0)
			c.verbose = 1;
		else if (strcmp(a, "--list-toggles") == 0) {
			for (int t = 0; t < T_COUNT; t++)
				printf("%s\n", toggle_name[t]);
			return 0;
		} else
			return usage();
#undef ARG
	}
	if (c.steps < 1 || c.steps > MAX_OPS - ns || c.seeds < 1 || c.jobs < 1)
		return usage();
	if (c.grpc_every && (!c.billingd || !c.ledger_check)) {
		fprintf(stderr, "sim: --grpc needs --billingd and --ledger-check\n");
		return 2;
	}
	printf("sim: seeds %" PRIu64 "..%" PRIu64 ", %d steps, check every %d, toggles off: ",
	       c.seed, c.seed + (uint64_t)c.seeds - 1, c.steps, c.check_every);
	print_toggles(&c, stdout);
	if (c.grpc_every)
		printf(", every %d. seed over gRPC with %d kills%s%s", c.grpc_every, c.kills,
		       c.faults ? " and faults " : "", c.faults ? c.faults : "");
	printf("\n");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c.gen.kill_mode = 0;
	for (int s = 0; s < c.seeds && (!failed || c.keep_going); s += c.jobs) {
		int batch = c.seeds - s < c.jobs ? c.seeds - s : c.jobs;
		pid_t pids[64];
		int fds[64];
		for (int j = 0; j < batch; j++) {
			/* each job forks its own runner so that runs overlap */
			uint64_t seed = c.seed + (uint64_t)s + (uint64_t)j;
			int use_grpc = c.grpc_every && (s + j) % c.grpc_every == c.grpc_every - 1;
			int fd[2];
			if (pipe(fd) != 0)
				return 2;
			pids[j] = fork();
			if (pids[j] == 0) {
				static outcome o;
				int n, m = 0;
				size_t off = 0;
				close(fd[0]);
				c.gen.kill_mode = use_grpc;
				n = make_history(&c, seed, ops, orig);
				if (c.have_keep) {
					for (int i = 0; i < ns; i++) {
						sub[m] = ops[i];
						sorig[m++] = i;
					}
					for (int i = 0; i < c.nkeep; i++)
						if (c.keep[i] >= ns && c.keep[i] < n) {
							sub[m] = ops[c.keep[i]];
							sorig[m++] = c.keep[i];
						}
				}
				run_child(&c, seed, use_grpc, c.have_keep ? sub : ops,
					  c.have_keep ? sorig : orig, c.have_keep ? m : n, &o);
				if (o.rc == 1)
					report_failure(&c, seed, use_grpc, ops, n, ns, &o);
				else if (o.rc == 2)
					printf("\n=== seed %" PRIu64 ": could not run: %s", seed,
					       o.report);
				while (off < sizeof(o)) {
					ssize_t w = write(fd[1], (char *)&o + off, sizeof(o) - off);
					if (w <= 0)
						break;
					off += (size_t)w;
				}
				fflush(stdout);
				_exit(0);
			}
			close(fd[1]);
			fds[j] = fd[0];
		}
		for (int j = 0; j < batch; j++) {
			static outcome o;
			size_t off = 0;
			memset(&o, 0, sizeof(o));
			while (off < sizeof(o)) {
				ssize_t r = read(fds[j], (char *)&o + off, sizeof(o) - off);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				off += (size_t)r;
			}
			close(fds[j]);
			waitpid(pids[j], NULL, 0);
			if (off < sizeof(o))
				o.rc = 2;
			failed += o.rc == 1;
			if (o.rc == 1)
				note_signature(&o, c.seed + (uint64_t)s + (uint64_t)j);
			errors += o.rc == 2;
			tot.steps += o.st.steps;
			tot.calls += o.st.calls;
			tot.checks += o.st.checks;
			tot.kills += o.st.kills;
			tot.faults += o.st.faults;
			tot.twins += o.st.twins;
			tot.replays += o.st.replays;
			tot.groups += o.st.groups;
			tot.skipped += o.st.skipped;
			tot.orders += o.st.orders;
			tot.succeeded += o.st.succeeded;
			tot.failed += o.st.failed;
			tot.timed_out += o.st.timed_out;
			tot.canceled += o.st.canceled;
			tot.pending += o.st.pending;
			tot.renewals += o.st.renewals;
			tot.transfers += o.st.transfers;
			tot.refusals += o.st.refusals;
			tot.redemptions += o.st.redemptions;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (nsig) {
		printf("sim: %d seeds mismatched; by kind of mismatch (count, first seed):\n",
		       failed);
		for (int k = 0; k < nsig; k++)
			printf("  %5d  seed %-8" PRIu64 " %s\n", sig_count[k], sig_seed[k],
			       sig_text[k]);
	}
	printf("sim: %s: %ld steps, %ld calls, %ld state checks, %ld R17 replays, %ld AIP-211 "
	       "twins, "
	       "%ld concurrent groups, %ld kills, %ld faults; %.1f s\n",
	       failed   ? "MISMATCH"
	       : errors ? "ERROR"
			: "ok",
	       tot.steps, tot.calls, tot.checks, tot.replays, tot.twins, tot.groups, tot.kills,
	       tot.faults,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("sim: coverage: %ld refusals checked, %ld steps skipped (toggles/shrinking); orders "
	       "%ld: "
	       "%ld succeeded, %ld failed, %ld timed out, %ld canceled, %ld pending at the end; "
	       "%ld "
	       "auto-renewal attempts; %ld credit transfers; %ld coupon redemptions\n",
	       tot.refusals, tot.skipped, tot.orders, tot.succeeded, tot.failed, tot.timed_out,
	       tot.canceled, tot.pending, tot.renewals, tot.transfers, tot.redemptions);
	return failed ? 1 : errors ? 2 : 0;
}
