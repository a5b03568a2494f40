#ifndef SPB_RENEWAL_GROUPS_H
#define SPB_RENEWAL_GROUPS_H

/*
 * renewal_groups.h: renewal groups (issue 16), the way resellers renew:
 * one charge per payer per period.
 *
 * A group is the set of items one payer renews with one payment method
 * (and saved card) on one day of the 30-day cycle. Its renewal times are
 * anchor + k x 30 days; its id is derived from (payer, method, card, anchor
 * day), so the same choice always finds the same group. The renewal
 * scheduler places one AUTO_RENEWAL order per group and period holding
 * every due member as a line (scheduler.h). An item whose expiry is not one
 * of its group's renewal times joins with a prorated first order, by the
 * day (R3), from its expiry up to the group's next renewal time.
 *
 * An item leaves the open renewal orders that hold it whenever it is
 * renewed by hand, deleted, turned off or moved to another group
 * (groups_release_item): a period's order and a manual renewal never both
 * charge the same period.
 */

#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "store.h"
#include "store_renewal.h"

#define GROUPS_ID_MAX 32 /* "rgp_" + 24 hex digits + NUL */
#define GROUPS_ORDER_ID_MAX 48

/* floor(t / 1 day) mod 30: the day of the 30-day cycle of time t (>= 0). */
int groups_anchor_day(int64_t t);

/* The derived id of the group of (payer, method, card, anchor day). */
void groups_id(const char *payer_id, int method, const char *stripe_customer_id,
	       const char *stripe_payment_method_id, int anchor_day, char out[GROUPS_ID_MAX]);

/* The first renewal time of g strictly after t. */
int64_t groups_boundary_after(const store_group *g, int64_t t);

/* 1 if t is one of g's renewal times. */
int groups_on_boundary(const store_group *g, int64_t t);

/* What the caller wants its items to renew with. */
typedef struct groups_want {
	const char *payer_id;
	int method;
	const char *stripe_customer_id; /* "" for CREDITS */
	const char *stripe_payment_method_id;
	const char *group_id; /* "" or NULL: choose */
	int64_t anchor;       /* 0: none asked for */
	int64_t first_expiry; /* anchor of a new group when nothing else decides */
} groups_want;

/*
 * The group for w in txn (a write transaction: a new group is put):
 *   group_id given: that group, which must be the payer's, with the same
 *     method and card;
 *   anchor given: the group of the anchor's day (created anchored there);
 *   else the payer's oldest group with this method and card, or a new one
 *     anchored at first_expiry.
 * 0 with *out (the caller frees it), 1 with a client-safe sentence in why
 * (a renewal_group_id that does not fit), or a STORE_* code.
 */
int groups_choose(store_txn *txn, const groups_want *want, int64_t now, store_group **out,
		  char *why, size_t cap);

/*
 * Takes item_id out of the open renewal-group orders that hold it, in w: an
 * order waiting between attempts (PENDING_PAYMENT) drops the item's line
 * and its totals go down (the provider's payment is set to the new amount
 * before the next attempt; an order left with no line is canceled at the
 * provider on the scheduler's next visit), and the item's
 * auto_renew.order_id is cleared (the item is read and put here: a caller
 * holding the item record reads it again afterwards). An order in flight at
 * the provider (PROCESSING) cannot let go: returns 1 with its id in
 * busy[GROUPS_ORDER_ID_MAX] and changes nothing (the caller refuses,
 * ITEM_IN_OPEN_ORDER). 0 when no renewal order holds it any more, or a
 * STORE_* code.
 */
int groups_release_item(store_txn *w, const char *item_id, int64_t now,
			char busy[GROUPS_ORDER_ID_MAX]);

/* The API message of g at now, strings borrowed. */
Smartplus__Billing__V1__RenewalGroup *groups_conv(arena *a, const store_group *g, int64_t now,
						  int64_t members);

#endif
