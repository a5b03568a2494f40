/* billingd_proc.c: see billingd_proc.h. */
#include "billingd_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return n ? 0 : -1;
}

int bproc_init(bproc *p, const char *bin, const char *prefix)
{
	memset(p, 0, sizeof(*p));
	p->bin = bin;
	snprintf(p->workdir, sizeof(p->workdir), "/tmp/%s.XXXXXX", prefix);
	if (!mkdtemp(p->workdir))
		return -1;
	snprintf(p->datadir, sizeof(p->datadir), "%s/data", p->workdir);
	snprintf(p->portfile, sizeof(p->portfile), "%s/port", p->workdir);
	snprintf(p->logfile, sizeof(p->logfile), "%s/billingd.log", p->workdir);
	return 0;
}

int bproc_start(bproc *p, const char *fault, const char *const *extra)
{
	char port[16], keypath[128];
	const char *argv[24];
	int n = 0;

	unlink(p->portfile);
	argv[n++] = p->bin;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file";
	argv[n++] = p->portfile;
	argv[n++] = "--data-dir";
	argv[n++] = p->datadir;
	argv[n++] = "--quiet-calls";
	for (int i = 0; extra && extra[i] && n < 23; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	p->pid = fork();
	if (p->pid < 0) {
		p->pid = 0;
		return -1;
	}
	if (p->pid == 0) {
		if (!freopen(p->logfile, "a", stderr))
			_exit(127);
		if (fault)
			setenv("SPB_FAULT", fault, 1);
		else
			unsetenv("SPB_FAULT");
		execv(p->bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		int sig;
		if (slurp(p->portfile, port, sizeof(port)) == 0)
			break;
		if (bproc_died(p, &sig))
			return -1; /* died while starting (a fault point may do that) */
		usleep(10 * 1000);
	}
	if (slurp(p->portfile, port, sizeof(port)) != 0)
		return -1;
	snprintf(p->target, sizeof(p->target), "127.0.0.1:%s", port);
	snprintf(keypath, sizeof(keypath), "%s/admin.key", p->datadir);
	if (!p->admin_key[0] && slurp(keypath, p->admin_key, sizeof(p->admin_key)) != 0)
		return -1;
	return 0;
}

void bproc_kill(bproc *p)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	p->pid = 0;
}

int bproc_died(bproc *p, int *sig)
{
	int status;
	pid_t r;

	if (p->pid <= 0)
		return 1;
	r = waitpid(p->pid, &status, WNOHANG);
	if (r == 0)
		return 0;
	if (r < 0 && errno == EINTR)
		return 0;
	*sig = r > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : r > 0 ? -WEXITSTATUS(status) : 0;
	p->pid = 0;
	return 1;
}

int bproc_stop(bproc *p)
{
	int status = 0;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	p->pid = 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int bproc_ledger_check(const bproc *p, const char *ledger_check, char *out, size_t cap)
{
	char cmd[384];
	FILE *f;
	int status;

	snprintf(cmd, sizeof(cmd), "'%s' '%s' 2>&1", ledger_check, p->datadir);
	out[0] = '\0';
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(out, (int)cap, f))
		out[0] = '\0';
	while (fgetc(f) != EOF)
		;
	status = pclose(f);
	out[strcspn(out, "\n")] = '\0';
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void bproc_cleanup(bproc *p)
{
	char cmd[128];

	if (!p->workdir[0] || getenv("SPB_KEEP_WORKDIR"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->workdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", p->workdir);
}
