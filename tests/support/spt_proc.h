/*
 * spt_proc.h - child processes of a test: spawn with a log file and extra
 * environment, wait for a port file, stop with SIGTERM then SIGKILL, run a
 * command to completion. Every wait is bounded.
 *
 * The child's environment is built before fork() (execve with a ready
 * envp), so spawning from a program with other threads running is safe.
 *
 * Every child is remembered until it is reaped: when spt_main() has run the
 * suites, the ones still running (left behind by a fatal assertion) are
 * killed, each with the end of its log on stderr.
 */
#ifndef SPT_PROC_H
#define SPT_PROC_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Starts argv[0] with argv (NULL-terminated). env: NAME=VALUE entries
 * (NULL-terminated, may be NULL) set in the child on top of this
 * process's environment; "NAME=" with nothing after it removes NAME.
 * stdout and stderr are appended to log_path (NULL: /dev/null); stdin is
 * /dev/null. Returns the pid, or -1 (printed).
 */
pid_t spt_spawn(const char *const *argv, const char *const *env, const char *log_path);

/* Non-blocking: 1 when *pid has exited (reaped; *pid = 0; *how = the
 * signal that killed it, or -(exit status)), 0 while it runs. how may be
 * NULL. A *pid of 0 counts as exited with how 0. */
int spt_exited(pid_t *pid, int *how);

/* Waits up to timeout_ms for *pid to exit by itself: its exit status
 * (0..255), 128 + signal when killed by one, or -1 on the time-out (it is
 * still running). Reaped: *pid = 0 unless it timed out. */
int spt_wait_exit(pid_t *pid, long timeout_ms);

/* SIGTERM, waits up to timeout_ms, then SIGKILL. Its exit status, 128 +
 * signal, or -1 when it had to be killed. *pid = 0 afterwards. */
int spt_terminate(pid_t *pid, long timeout_ms);

/* SIGKILL and reap. *pid = 0. Does nothing when *pid is 0. */
void spt_kill(pid_t *pid);

/* Waits up to timeout_ms for path to hold a port number (a child writes it
 * once listening). The port, or -1 on the time-out or when pid (if not 0)
 * exits first. */
int spt_wait_port_file(const char *path, pid_t pid, long timeout_ms);

/*
 * Runs argv to completion (at most timeout_ms; then it is killed), output
 * (stdout and stderr) captured: out[cap] (may be NULL) gets its first line.
 * Returns the exit status, or -1 when it timed out, died from a signal or
 * could not start.
 */
int spt_run_cmd(const char *const *argv, long timeout_ms, char *out, size_t cap);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to 0, read,
 * closed), for a listener the test names itself; 0 when none was found. */
int spt_free_port(void);

#endif
