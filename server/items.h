#ifndef SPB_ITEMS_H
#define SPB_ITEMS_H

/*
 * items.h: the item rules other modules share (items.c also serves
 * CreateItems, DeleteItem and ListItems). Which items of a project cost
 * nothing (DESIGN R4), for ListItems, QuoteServices, SetAutoRenew and the
 * renewal scheduler, so the rule is written once: the oldest DOOR of a
 * COMMERCIAL project, and the project's free_additional_apps oldest
 * ADDITIONAL_APPs. And the INTEGRATION item of a PMS-integrated project.
 */

#include <stdint.h>

#include "store.h"

struct rpc_write;

/* Item ids of the form "pms_<project id>" are integration items (R5): made
 * by the server only, never in CreateItems. */
#define ITEMS_INTEGRATION_PREFIX "pms_"
/* Room for any item id, an integration item's included. */
#define ITEMS_REF_MAX 80

/* 1 if s is an item id: valid_id(), or an integration item's "pms_<project
 * id>". */
int items_valid_ref(const char *s);

/* Fills *it as the INTEGRATION item of project p (R5), id "pms_<project
 * id>" written into id; strings borrowed from p and id. */
void items_integration_init(store_item *it, const store_project *p, char id[ITEMS_REF_MAX],
			    int64_t now);

/*
 * No path deletes or resets an item that is paid for or about to be (R9):
 * an ACTIVE item runs until it expires, and an item held by an open order
 * (PENDING_PAYMENT within its pay window, or PROCESSING) stays until that
 * order has ended. Every removal (DeleteItem, turning a project's
 * integration off) asks here first, inside its write txn; `field` names the
 * request field that asked. 0 when it may go, else a write_fail() code
 * (FAILED_PRECONDITION, ITEM_STATE or ITEM_IN_OPEN_ORDER) or STORE_*.
 */
int items_guard_removal(store_txn *txn, struct rpc_write *w, const store_item *it,
			const char *field);

/* 1 when an open order (PENDING_PAYMENT within its pay window, or
 * PROCESSING) holds item_id, 0 if none, or STORE_*. */
int items_held_by_open_order(store_txn *txn, const char *item_id, int64_t now);

/* The free items of one project, read in one transaction. */
typedef struct items_free {
	store_list doors; /* the oldest DOOR (COMMERCIAL projects) */
	store_list apps;  /* the free_additional_apps oldest ADDITIONAL_APPs */
} items_free;

#define ITEMS_FREE_INIT   \
	{                 \
		{0},      \
		{         \
			0 \
		}         \
	}

/* Reads the free items of p into *out (start from ITEMS_FREE_INIT; release
 * with items_free_release() whatever the result). 0 or a STORE_* code. */
int items_free_load(store_txn *txn, const store_project *p, items_free *out);

/* 1 if item_id is one of the free items in f, else 0. */
int items_free_has(const items_free *f, const char *item_id);

void items_free_release(items_free *f);

/* *out = 1 if `it` is one of the free items of project p, else 0 (one
 * item: reads only the list of its service type). 0 or a STORE_* code. */
int items_is_free(store_txn *txn, const store_project *p, const store_item *it, int *out);

#endif
