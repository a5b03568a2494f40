/* spt_proc.c - see spt_proc.h. */
#include "spt_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spt_fs.h"
#include "spt_run.h"
#include "spt_time.h"

extern char **environ;

/* The children not reaped yet. */
#define MAX_CHILDREN 64
static struct child {
	pid_t pid;
	char log[SPT_PATH_MAX];
} children[MAX_CHILDREN];
static pthread_mutex_t children_lock = PTHREAD_MUTEX_INITIALIZER;

static void forget(pid_t pid)
{
	pthread_mutex_lock(&children_lock);
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid == pid)
			children[i].pid = 0;
	pthread_mutex_unlock(&children_lock);
}

/* Kills what a test left running (spt_at_end). */
static void kill_leftovers(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		pid_t pid = children[i].pid;
		if (pid <= 0)
			continue;
		fprintf(stderr, "spt: killing pid %d, still running after the tests (log %s)\n",
			(int)pid, children[i].log[0] ? children[i].log : "none");
		if (children[i].log[0])
			spt_print_tail(children[i].log, 40);
		spt_kill(&pid);
	}
}

static void remember(pid_t pid, const char *log)
{
	pthread_mutex_lock(&children_lock);
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid <= 0) {
			children[i].pid = pid;
			snprintf(children[i].log, sizeof(children[i].log), "%s", log ? log : "");
			break;
		}
	pthread_mutex_unlock(&children_lock);
	spt_at_end(kill_leftovers);
}

/* environ with env applied: a malloc'ed, NULL-terminated array of pointers
 * into environ and env (nothing copied). */
static char **child_env(const char *const *env)
{
	size_t n = 0, m = 0, k = 0;
	char **out;

	while (environ[n])
		n++;
	while (env && env[m])
		m++;
	out = calloc(n + m + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int replaced = 0;
		for (size_t j = 0; j < m && !replaced; j++) {
			size_t eq = strcspn(env[j], "=");
			replaced = strncmp(environ[i], env[j], eq) == 0 && environ[i][eq] == '=';
		}
		if (!replaced)
			out[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++) {
		const char *eq = strchr(env[j], '=');
		if (eq && eq[1])
			out[k++] = (char *)env[j];
	}
	out[k] = NULL;
	return out;
}

pid_t spt_spawn(const char *const *argv, const char *const *env, const char *log_path)
{
	char **envp = child_env(env);
	pid_t pid;

	if (!envp)
		return -1;
	pid = fork();
	if (pid < 0) {
		perror("spt_spawn: fork");
		free(envp);
		return -1;
	}
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644)
				   : open("/dev/null", O_WRONLY);
		if (in >= 0)
			dup2(in, 0);
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	free(envp);
	remember(pid, log_path);
	return pid;
}

int spt_exited(pid_t *pid, int *how)
{
	int status;
	pid_t r;

	if (how)
		*how = 0;
	if (*pid <= 0)
		return 1;
	r = waitpid(*pid, &status, WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return 0;
	if (how && r > 0)
		*how = WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
	forget(*pid);
	*pid = 0;
	return 1;
}

static int status_of(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Waits up to timeout_ms; 1 with the raw status when it exited (reaped,
 * *pid = 0), 0 on the time-out. */
static int wait_raw(pid_t *pid, long timeout_ms, int *status)
{
	int64_t end = spt_mono_ms() + timeout_ms;

	*status = 0;
	if (*pid <= 0)
		return 1;
	for (;;) {
		pid_t r = waitpid(*pid, status, WNOHANG);
		if (r == *pid || (r < 0 && errno != EINTR)) {
			forget(*pid);
			*pid = 0;
			return 1;
		}
		if (spt_mono_ms() >= end)
			return 0;
		spt_sleep_ms(10);
	}
}

int spt_wait_exit(pid_t *pid, long timeout_ms)
{
	int status;

	if (*pid <= 0 || !wait_raw(pid, timeout_ms, &status))
		return -1;
	return status_of(status);
}

int spt_terminate(pid_t *pid, long timeout_ms)
{
	int rc;

	if (*pid <= 0)
		return -1;
	kill(*pid, SIGTERM);
	rc = spt_wait_exit(pid, timeout_ms);
	if (*pid > 0) {
		fprintf(stderr, "spt: pid %d ignored SIGTERM for %ld ms; killing it\n", (int)*pid,
			timeout_ms);
		spt_kill(pid);
		return -1;
	}
	return rc;
}

void spt_kill(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
		;
	forget(*pid);
	*pid = 0;
}

int spt_wait_port_file(const char *path, pid_t pid, long timeout_ms)
{
	int64_t end = spt_mono_ms() + timeout_ms;
	char line[32];

	for (;;) {
		if (spt_read_line(path, line, sizeof(line)) == 0) {
			long port = strtol(line, NULL, 10);
			if (port > 0 && port < 65536)
				return (int)port;
		}
		if (pid > 0) {
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid == pid)
				return -1; /* died before listening (the caller reaps it) */
		}
		if (spt_mono_ms() >= end)
			return -1;
		spt_sleep_ms(10);
	}
}

int spt_run_cmd(const char *const *argv, long timeout_ms, char *out, size_t cap)
{
	char dir[SPT_PATH_MAX], log[SPT_PATH_MAX + 8];
	pid_t pid;
	int rc, status;

	if (out && cap)
		out[0] = 0;
	if (spt_tmpdir(dir, sizeof(dir), "cmd") != 0)
		return -1;
	snprintf(log, sizeof(log), "%s/out", dir);
	pid = spt_spawn(argv, NULL, log);
	if (pid < 0) {
		spt_rmtree(dir);
		return -1;
	}
	if (!wait_raw(&pid, timeout_ms, &status)) {
		fprintf(stderr, "spt: %s did not finish in %ld ms; killed\n", argv[0], timeout_ms);
		spt_kill(&pid);
		rc = -1;
	} else {
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	if (out && cap)
		spt_read_line(log, out, cap);
	spt_rmtree(dir);
	return rc;
}

int spt_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}
