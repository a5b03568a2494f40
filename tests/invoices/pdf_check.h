#ifndef SPB_TEST_PDF_CHECK_H
#define SPB_TEST_PDF_CHECK_H

/*
 * pdf_check.h - what a PDF says, for the invoice tests: the document is
 * written to <dir>/<name>, poppler-utils' pdfinfo must accept it (a valid
 * document) and pdftotext gives its text. poppler-utils comes from
 * tools/setup.sh.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct pdf_facts {
	int pages;   /* pdfinfo's "Pages:" (-1 unknown) */
	char *title; /* pdfinfo's "Title:" (malloc'd; "" when none) */
	char *text;  /* pdftotext -layout (malloc'd) */
} pdf_facts;

/* 0 with *f filled (free with pdf_facts_free), or -1 when the file could
 * not be written or pdfinfo/pdftotext refused it (not a valid PDF). */
int pdf_check(const uint8_t *pdf, size_t len, const char *dir, const char *name, pdf_facts *f);
void pdf_facts_free(pdf_facts *f);

#endif
