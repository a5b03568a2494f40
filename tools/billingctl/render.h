#ifndef BILLINGCTL_RENDER_H
#define BILLINGCTL_RENDER_H

/*
 * render: billingctl's human output. A message prints as aligned
 * "field: value" lines (nested messages as dotted names), its repeated
 * messages as tables after it; a list prints as one table. Money fields
 * print with their message's currency (or the enclosing one's), e.g.
 * "21.00 USD".
 */

#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

/* Prints m as "field: value" lines, then a table per repeated message
 * field. currency: inherited currency for money fields ("" none). zeros:
 * also print m's own numeric and boolean fields that are 0 or false (a
 * balance of 0 is an answer; nested messages never print their zeros). */
void render_message(FILE *out, const ProtobufCMessage *m, const char *currency, int zeros);

/*
 * Prints the values of repeated message field `f` over `n_msgs` messages
 * (e.g. the pages of a List) as one table. columns: comma-separated field
 * names of the row type, or NULL for every column set in some row.
 */
void render_table(FILE *out, const ProtobufCMessage *const *msgs, size_t n_msgs,
		  const ProtobufCFieldDescriptor *f, const char *columns, const char *currency);

#endif
