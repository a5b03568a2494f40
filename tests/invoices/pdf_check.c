/* pdf_check.c - see pdf_check.h. */
#include "pdf_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole output of cmd, or NULL when it could not run or exited
 * non-zero. */
static char *capture(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *out = NULL, buf[4096];
	size_t n = 0, r;

	if (!p)
		return NULL;
	while ((r = fread(buf, 1, sizeof(buf), p)) > 0) {
		char *np = realloc(out, n + r + 1);
		if (!np)
			break;
		out = np;
		memcpy(out + n, buf, r);
		n += r;
		out[n] = '\0';
	}
	if (pclose(p) != 0) {
		free(out);
		return NULL;
	}
	return out ? out : strdup("");
}

/* The value of pdfinfo's line "<key>:" (spaces trimmed), malloc'd. */
static char *info_value(const char *info, const char *key)
{
	char needle[64];
	const char *p, *end;

	snprintf(needle, sizeof(needle), "%s:", key);
	for (p = info; (p = strstr(p, needle)) != NULL; p++)
		if (p == info || p[-1] == '\n')
			break;
	if (!p)
		return strdup("");
	for (p += strlen(needle); *p == ' '; p++)
		;
	end = strchr(p, '\n');
	return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

int pdf_check(const uint8_t *pdf, size_t len, const char *dir, const char *name, pdf_facts *f)
{
	char path[1024], cmd[1200], *info, *pages;
	FILE *out;

	memset(f, 0, sizeof(*f));
	f->pages = -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	out = fopen(path, "wb");
	if (!out)
		return -1;
	if (fwrite(pdf, 1, len, out) != len) {
		fclose(out);
		return -1;
	}
	fclose(out);
	snprintf(cmd, sizeof(cmd), "pdfinfo '%s' 2>&1", path);
	info = capture(cmd);
	if (!info)
		return -1;
	pages = info_value(info, "Pages");
	f->pages = (int)strtol(pages, NULL, 10);
	f->title = info_value(info, "Title");
	free(pages);
	free(info);
	snprintf(cmd, sizeof(cmd), "pdftotext -layout '%s' - 2>&1", path);
	f->text = capture(cmd);
	if (!f->text) {
		pdf_facts_free(f);
		return -1;
	}
	return 0;
}

void pdf_facts_free(pdf_facts *f)
{
	free(f->title);
	free(f->text);
	f->title = f->text = NULL;
}
