/* fakectl.c: see fakectl.h. */
#include "fakectl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "payments/http.h"

char fakectl_base[64];
static pid_t fake_pid;

int fakectl_start(const char *node, const char *js, const char *const *extra)
{
	char pf[] = "/tmp/spb-fake-XXXXXX", path[128];
	const char *argv[32];
	int n = 0, port = 0;
	FILE *f;
	if (!mkdtemp(pf))
		return -1;
	snprintf(path, sizeof(path), "%s/port", pf);
	argv[n++] = node;
	argv[n++] = js;
	argv[n++] = "--port-file";
	argv[n++] = path;
	for (; extra && *extra && n < 30; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	fake_pid = fork();
	if (fake_pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execv(node, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 200 && port == 0; i++) {
		usleep(50000);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
	}
	unlink(path);
	rmdir(pf);
	snprintf(fakectl_base, sizeof(fakectl_base), "http://127.0.0.1:%d", port);
	return port ? 0 : -1;
}

void fakectl_stop(void)
{
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
	}
	fake_pid = 0;
}

json_t *fakectl_call(const char *method, const char *path, const char *body, const char *auth,
		     const char *extra_header, long *status)
{
	char url[1024], a[700];
	const char *h[5];
	int n = 0;
	http_response r;
	json_t *j;
	snprintf(url, sizeof(url), "%s%s", fakectl_base, path);
	if (body)
		h[n++] = auth && strncmp(auth, "sk_", 3) == 0
				 ? "Content-Type: application/x-www-form-urlencoded"
				 : "Content-Type: application/json";
	if (auth) {
		snprintf(a, sizeof(a), "Authorization: Bearer %s", auth);
		h[n++] = a;
	}
	if (extra_header)
		h[n++] = extra_header;
	h[n] = NULL;
	http_request(method, url, h, body, NULL, &r);
	if (status)
		*status = r.status;
	j = r.body ? json_loads(r.body, 0, NULL) : NULL;
	http_response_free(&r);
	return j;
}

json_t *fakectl_control(const char *json)
{
	return fakectl_call("POST", "/_control", json, NULL, NULL, NULL);
}

void fakectl_ctl(const char *json)
{
	json_decref(fakectl_control(json));
}

long fakectl_stat(const char *path)
{
	json_t *s = fakectl_call("GET", "/_stats", NULL, NULL, NULL, NULL), *v = s;
	char part[64];
	long out;
	for (const char *p = path; v && *p;) {
		size_t k = strcspn(p, ".");
		snprintf(part, sizeof(part), "%.*s", (int)k, p);
		v = json_object_get(v, part);
		p += k;
		if (*p == '.')
			p++;
	}
	out = (long)json_integer_value(v);
	json_decref(s);
	return out;
}
