#ifndef SPB_FUZZ_RECORDS_H
#define SPB_FUZZ_RECORDS_H

/* Every record type of storage/proto/, indexed by fuzz_store_decode's first
 * input byte. Add new record types at the end (seeds keep their meaning). */

#include "idempotency.pb-c.h"
#include "ledger.pb-c.h"
#include "order.pb-c.h"
#include "policy.pb-c.h"
#include "store.h"

static const ProtobufCMessageDescriptor *const fuzz_records[] = {
	&smartplus__billing__store__v1__account_record__descriptor,
	&smartplus__billing__store__v1__project_record__descriptor,
	&smartplus__billing__store__v1__item_record__descriptor,
	&smartplus__billing__store__v1__item_record__auto_renew__descriptor,
	&smartplus__billing__store__v1__price_record__descriptor,
	&smartplus__billing__store__v1__credit_price_record__descriptor,
	&smartplus__billing__store__v1__api_key_record__descriptor,
	&smartplus__billing__store__v1__idempotency_record__descriptor,
	&smartplus__billing__store__v1__transfer_record__descriptor,
	&smartplus__billing__store__v1__balance_record__descriptor,
	&smartplus__billing__store__v1__line_record__descriptor,
	&smartplus__billing__store__v1__quote_input_record__descriptor,
	&smartplus__billing__store__v1__quote_record__descriptor,
	&smartplus__billing__store__v1__order_record__descriptor,
	&smartplus__billing__store__v1__coupon_record__descriptor,
	&smartplus__billing__store__v1__coupon_use_record__descriptor,
	&smartplus__billing__store__v1__payment_policy_record__descriptor,
};

#define FUZZ_RECORD_COUNT (sizeof(fuzz_records) / sizeof(fuzz_records[0]))

#endif
