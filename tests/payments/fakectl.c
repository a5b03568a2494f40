/* fakectl.c: see fakectl.h. */
#include "fakectl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payments/http.h"
#include "spt_fake.h"

char fakectl_base[64];
static spt_fake fake;

int fakectl_start(const char *node, const char *js, const char *const *extra)
{
	(void)extra;
	if (spt_fake_start(&fake, node, js) != 0)
		return -1;
	snprintf(fakectl_base, sizeof(fakectl_base), "%s", fake.url);
	return 0;
}

void fakectl_stop(void)
{
	spt_fake_stop(&fake);
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
