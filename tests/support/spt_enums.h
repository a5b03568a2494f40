/*
 * spt_enums.h - short names for the API's enum values in tests:
 * ROLE(INSTALLER), PTYPE(COMMUNITY), STYPE(APP), METHOD(STRIPE), ...
 * (the protoc-c names are SMARTPLUS__BILLING__V1__ROLE__ROLE_INSTALLER).
 */
#ifndef SPT_ENUMS_H
#define SPT_ENUMS_H

#include "smartplus/billing/v1/types.pb-c.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x
#define ROLE(x) V1(ROLE__ROLE_##x)
#define PTYPE(x) V1(PROJECT_TYPE__PROJECT_TYPE_##x)
#define STYPE(x) V1(SERVICE_TYPE__SERVICE_TYPE_##x)
#define FEATURE(x) V1(PREMIUM_FEATURE__PREMIUM_FEATURE_##x)
#define METHOD(x) V1(PAYMENT_METHOD__PAYMENT_METHOD_##x)
#define MODEL(x) V1(PAYMENT_MODEL__PAYMENT_MODEL_##x)
#define OSTATUS(x) V1(ORDER_STATUS__ORDER_STATUS_##x)
#define ISTATUS(x) V1(ITEM_STATUS__ITEM_STATUS_##x)
#define OTYPE(x) V1(ORDER_TYPE__ORDER_TYPE_##x)
#define SCOPE(x) V1(API_KEY_SCOPE__API_KEY_SCOPE_##x)
#define KIND(x) V1(TRANSFER_KIND__TRANSFER_KIND_##x)
#define ACTION(x) V1(QUOTE_ACTION__QUOTE_ACTION_##x)
#define RENEW(x) V1(RENEW_MODE__RENEW_MODE_##x)
#define SKIP(x) V1(SKIP_REASON__SKIP_REASON_##x)

#endif
