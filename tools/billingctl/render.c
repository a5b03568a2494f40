/*
 * render.c: tables and "field: value" listings of messages (render.h).
 */
#include "render.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pbmsg.h"

#define CELL 256
#define MAX_COLS 32

/* The currency of money fields in m: its own `currency` field, else the
 * inherited one. */
static const char *currency_of(const ProtobufCMessage *m, const char *inherited)
{
	const char *c = pbm_string(m, "currency");
	return *c ? c : inherited ? inherited : "";
}

/* A column-worthy field: a scalar, an enum, a string or a Timestamp /
 * Duration (not a nested message, not repeated messages). */
static int is_cell(const ProtobufCFieldDescriptor *f)
{
	if (f->type != PROTOBUF_C_TYPE_MESSAGE)
		return 1;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	{
		const char *n = ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
		return strcmp(n, "google.protobuf.Timestamp") == 0 ||
		       strcmp(n, "google.protobuf.Duration") == 0;
	}
}

/* Every value of f in m as text, comma-joined for repeated fields. */
static void cell_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		      const char *currency, char *buf, size_t cap)
{
	size_t n = pbm_count(m, f), len = 0;
	buf[0] = 0;
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		if (n == 0 && f->type != PROTOBUF_C_TYPE_MESSAGE)
			n = 1; /* zero values print too: 0, false */
		if (n)
			pbm_format(m, f, 0, currency, buf, cap);
		return;
	}
	for (size_t i = 0; i < n && len + 1 < cap; i++) {
		char one[CELL];
		pbm_format(m, f, i, currency, one, sizeof(one));
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "," : "", one);
	}
}

static void upper(const char *s, char *buf, size_t cap)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++)
		buf[i] = (char)toupper((unsigned char)s[i]);
	buf[i] = 0;
}

/* One cell, padded to its column unless it ends the row. */
static void cell_out(FILE *out, const char *text, size_t width, int last)
{
	if (last)
		fprintf(out, "%s\n", text);
	else
		fprintf(out, "%-*s  ", (int)width, text);
}

void render_table(FILE *out, const ProtobufCMessage *const *msgs, size_t n_msgs,
		  const ProtobufCFieldDescriptor *f, const char *columns, const char *currency)
{
	const ProtobufCMessageDescriptor *row = f->descriptor;
	const ProtobufCFieldDescriptor *cols[MAX_COLS];
	size_t n_cols = 0, width[MAX_COLS], n_rows = 0, r;
	char ***cells;
	int any_money = 0;

	/* the columns */
	if (columns) {
		char *copy = strdup(columns), *save = NULL;
		for (char *c = strtok_r(copy, ",", &save); c && n_cols < MAX_COLS;
		     c = strtok_r(NULL, ",", &save)) {
			const ProtobufCFieldDescriptor *cf = pbm_field(row, c);
			if (cf)
				cols[n_cols++] = cf;
		}
		free(copy);
	} else {
		for (unsigned i = 0; i < row->n_fields; i++)
			if (is_cell(&row->fields[i]) && pbm_is_money(&row->fields[i]))
				any_money = 1;
		for (unsigned i = 0; i < row->n_fields && n_cols < MAX_COLS; i++) {
			const ProtobufCFieldDescriptor *cf = &row->fields[i];
			int used = 0;
			if (!is_cell(cf) || (any_money && strcmp(cf->name, "currency") == 0))
				continue;
			for (size_t m = 0; m < n_msgs && !used; m++)
				for (size_t k = 0; k < pbm_count(msgs[m], f) && !used; k++)
					used = pbm_count(*(ProtobufCMessage *const *)pbm_value(
								 msgs[m], f, k),
							 cf) > 0;
			if (used)
				cols[n_cols++] = cf;
		}
	}
	for (size_t m = 0; m < n_msgs; m++)
		n_rows += pbm_count(msgs[m], f);
	if (n_rows == 0) {
		fprintf(out, "(none)\n");
		return;
	}
	if (n_cols == 0)
		return;

	/* the cells, then the widths */
	cells = calloc(n_rows, sizeof(*cells));
	r = 0;
	for (size_t m = 0; m < n_msgs; m++)
		for (size_t k = 0; k < pbm_count(msgs[m], f); k++, r++) {
			const ProtobufCMessage *rm = *(ProtobufCMessage *const *)pbm_value(msgs[m],
											   f, k);
			const char *cur = currency_of(rm, currency);
			cells[r] = calloc(n_cols, sizeof(char *));
			for (size_t c = 0; c < n_cols; c++) {
				char buf[CELL];
				cell_text(rm, cols[c], cur, buf, sizeof(buf));
				cells[r][c] = strdup(buf[0] ? buf : "-");
			}
		}
	for (size_t c = 0; c < n_cols; c++) {
		width[c] = strlen(cols[c]->name);
		for (r = 0; r < n_rows; r++)
			if (strlen(cells[r][c]) > width[c])
				width[c] = strlen(cells[r][c]);
	}
	for (size_t c = 0; c < n_cols; c++) {
		char h[128];
		upper(cols[c]->name, h, sizeof(h));
		cell_out(out, h, width[c], c + 1 == n_cols);
	}
	for (r = 0; r < n_rows; r++) {
		for (size_t c = 0; c < n_cols; c++) {
			cell_out(out, cells[r][c], width[c], c + 1 == n_cols);
			free(cells[r][c]);
		}
		free(cells[r]);
	}
	free(cells);
}

/* "name: value" lines of m's cell fields and, recursively, of its nested
 * messages under "prefix.". Returns how many lines it printed. */
static int render_fields(FILE *out, const ProtobufCMessage *m, const char *prefix,
			 const char *currency, int zeros)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *cur = currency_of(m, currency);
	int lines = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char name[256], buf[1024];
		int number = f->type != PROTOBUF_C_TYPE_STRING &&
			     f->type != PROTOBUF_C_TYPE_BYTES &&
			     f->type != PROTOBUF_C_TYPE_MESSAGE &&
			     f->type != PROTOBUF_C_TYPE_ENUM &&
			     f->label != PROTOBUF_C_LABEL_REPEATED;
		if (pbm_count(m, f) == 0 && !(zeros && number))
			continue;
		if (is_cell(f)) {
			snprintf(name, sizeof(name), "%s%s:", prefix, f->name);
			cell_text(m, f, cur, buf, sizeof(buf));
			fprintf(out, "%-24s %s\n", name, buf);
			lines++;
		} else if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			snprintf(name, sizeof(name), "%s%s.", prefix, f->name);
			lines += render_fields(out, *(ProtobufCMessage *const *)pbm_value(m, f, 0),
					       name, cur, 0);
		}
	}
	return lines;
}

/* 1 when messages of type d hold repeated messages themselves. */
static int has_lists(const ProtobufCMessageDescriptor *d)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE &&
		    d->fields[i].label == PROTOBUF_C_LABEL_REPEATED)
			return 1;
	return 0;
}

/* The tables of m's repeated message fields, and of its nested messages'. */
static void render_tables(FILE *out, const ProtobufCMessage *m, const char *prefix,
			  const char *currency, int *printed)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *cur = currency_of(m, currency);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char name[256];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE || is_cell(f) || pbm_count(m, f) == 0)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED && has_lists(f->descriptor)) {
			/* rows with lists of their own (the catalog): one block each */
			for (size_t k = 0; k < pbm_count(m, f); k++) {
				fprintf(out, "%s%s%s[%zu]:\n", *printed ? "\n" : "", prefix,
					f->name, k);
				render_message(out, *(ProtobufCMessage *const *)pbm_value(m, f, k),
					       cur, 0);
				*printed = 1;
			}
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			fprintf(out, "%s%s%s:\n", *printed ? "\n" : "", prefix, f->name);
			render_table(out, &m, 1, f, NULL, cur);
			*printed = 1;
		} else {
			snprintf(name, sizeof(name), "%s%s.", prefix, f->name);
			render_tables(out, *(ProtobufCMessage *const *)pbm_value(m, f, 0), name,
				      cur, printed);
		}
	}
}

void render_message(FILE *out, const ProtobufCMessage *m, const char *currency, int zeros)
{
	int printed = render_fields(out, m, "", currency, zeros) > 0;
	render_tables(out, m, "", currency, &printed);
	if (!printed)
		fprintf(out, "(done)\n");
}
