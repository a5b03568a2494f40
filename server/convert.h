#ifndef SPB_CONVERT_H
#define SPB_CONVERT_H

/*
 * Building API messages from storage records, and checking API input.
 *
 * Response messages are assembled in an arena: every sub-message, array and
 * copied string comes from it and is released at once with arena_free()
 * after the response is packed. Strings may also point into records that
 * outlive the packing.
 */

#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "smartplus/billing/v1/types.pb-c.h"
#include "store.h"

typedef struct arena arena;

arena *arena_new(void);
void *arena_alloc(arena *a, size_t n); /* zeroed */
char *arena_strdup(arena *a, const char *s);
void arena_free(arena *a); /* NULL ok */

/* Timestamp for unix micros; NULL for 0 (unset). */
Google__Protobuf__Timestamp *conv_ts(arena *a, int64_t us);
/* Unix micros of a timestamp; 0 for NULL. *ok = 0 when out of range. */
int64_t conv_us(const Google__Protobuf__Timestamp *ts, int *ok);

Smartplus__Billing__V1__Account *conv_account(arena *a, const store_account *r);
Smartplus__Billing__V1__Project *conv_project(arena *a, const store_project *r, int64_t cutover_us);
/* `now` decides EXPIRED; `is_free` the R4 flag. */
Smartplus__Billing__V1__Item *conv_item(arena *a, const store_item *r, int64_t now, int is_free);
Smartplus__Billing__V1__ApiKey *conv_apikey(arena *a, const store_apikey *r);
Smartplus__Billing__V1__Price *conv_price(arena *a, const store_price *r);

/* "ROLE_INSTALLER"..., for messages; "ROLE_UNSPECIFIED" for an unknown one. */
const char *conv_role_name(int role);

/* The API status of an item at `now`. */
int conv_item_status(const store_item *r, int64_t now);

/* 1 if s matches [A-Za-z0-9_.-]{1,64}. */
int valid_id(const char *s);
/* 1 if v is a non-zero value of the enum. */
int valid_enum(const ProtobufCEnumDescriptor *d, int v);
/* 1 if s is three upper-case letters (ISO-4217 shape). */
int valid_currency(const char *s);

#endif
