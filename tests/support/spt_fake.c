/* spt_fake.c - see spt_fake.h. */
#include "spt_fake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "spt_proc.h"
#include "spt_run.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int spt_fake_start(spt_fake *f, const char *node, const char *provider_js)
{
	char port_file[SPT_PATH_MAX + 8], log[SPT_PATH_MAX + 8];
	const char *argv[5];
	int port;

	memset(f, 0, sizeof(*f));
	node = node ? node : spt_arg("node");
	provider_js = provider_js ? provider_js : spt_arg("provider_js");
	if (!node || !provider_js) {
		fprintf(stderr, "spt: the fake provider needs NODE and PROVIDER_JS\n");
		return -1;
	}
	if (spt_tmpdir(f->dir, sizeof(f->dir), "fake") != 0)
		return -1;
	spt_path(port_file, sizeof(port_file), f->dir, "port");
	spt_path(log, sizeof(log), f->dir, "fake.log");
	argv[0] = node;
	argv[1] = provider_js;
	argv[2] = "--port-file";
	argv[3] = port_file;
	argv[4] = NULL;
	f->pid = spt_spawn(argv, NULL, log);
	if (f->pid < 0) {
		f->pid = 0;
		return -1;
	}
	port = spt_wait_port_file(port_file, f->pid, 10000);
	if (port < 0) {
		fprintf(stderr, "spt: the fake provider did not start; log %s\n", log);
		spt_kill(&f->pid);
		return -1;
	}
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", port);
	return 0;
}

void spt_fake_stop(spt_fake *f)
{
	if (f->pid > 0)
		spt_terminate(&f->pid, 5000);
	spt_tmpdir_remove(f->dir);
	memset(f, 0, sizeof(*f));
}

typedef struct buf {
	char *p;
	size_t n;
} buf;

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
	buf *b = arg;
	size_t add = sz * nm;
	char *np = realloc(b->p, b->n + add + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, d, add);
	b->n += add;
	b->p[b->n] = 0;
	return add;
}

json_t *spt_fake_request(const spt_fake *f, const char *method, const char *path, const char *body,
			 const char *auth)
{
	CURL *c;
	struct curl_slist *h = NULL;
	char url[256], hdr[256];
	buf b = {0};
	json_t *j = NULL;
	json_error_t err;

	pthread_once(&curl_once, curl_start);
	c = curl_easy_init();
	if (!c)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", f->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (body) {
		h = curl_slist_append(h, auth ? "Content-Type: application/x-www-form-urlencoded"
					      : "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", auth);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) == CURLE_OK && b.p)
		j = json_loads(b.p, 0, &err);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(b.p);
	return j;
}

int spt_fake_control(const spt_fake *f, const char *json)
{
	json_t *j = spt_fake_request(f, "POST", "/_control", json, NULL);
	int rc = j ? 0 : -1;
	json_decref(j);
	return rc;
}

json_t *spt_fake_stats(const spt_fake *f)
{
	return spt_fake_request(f, "GET", "/_stats", NULL, NULL);
}

int spt_fake_charges(const spt_fake *f, const char *key)
{
	json_t *s = spt_fake_stats(f);
	int n = (int)json_integer_value(json_object_get(json_object_get(s, "charges"), key));
	json_decref(s);
	return n;
}
