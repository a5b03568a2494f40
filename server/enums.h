#ifndef SPB_ENUMS_H
#define SPB_ENUMS_H

/*
 * enums.h: short names for the API's enum values, one alias per enum of
 * proto/smartplus/billing/v1/types.proto, so handlers write
 * METHOD(CREDITS) for SMARTPLUS__BILLING__V1__PAYMENT_METHOD__PAYMENT_METHOD_CREDITS.
 * The values themselves come from protoc-c; nothing is restated here.
 */

#include "smartplus/billing/v1/types.pb-c.h"

#define V1(x) SMARTPLUS__BILLING__V1__##x

#define PTYPE(x) V1(PROJECT_TYPE__PROJECT_TYPE_##x)             /* ProjectType */
#define STYPE(x) V1(SERVICE_TYPE__SERVICE_TYPE_##x)             /* ServiceType */
#define FEATURE(x) V1(PREMIUM_FEATURE__PREMIUM_FEATURE_##x)     /* PremiumFeature */
#define ROLE(x) V1(ROLE__ROLE_##x)                              /* Role */
#define METHOD(x) V1(PAYMENT_METHOD__PAYMENT_METHOD_##x)        /* PaymentMethod */
#define MODEL(x) V1(PAYMENT_MODEL__PAYMENT_MODEL_##x)           /* PaymentModel */
#define ACTION(x) V1(QUOTE_ACTION__QUOTE_ACTION_##x)            /* QuoteAction */
#define RENEW(x) V1(RENEW_MODE__RENEW_MODE_##x)                 /* RenewMode */
#define ISTATUS(x) V1(ITEM_STATUS__ITEM_STATUS_##x)             /* ItemStatus */
#define INTEG(x) V1(INTEGRATION_STATUS__INTEGRATION_STATUS_##x) /* IntegrationStatus */
#define OSTATUS(x) V1(ORDER_STATUS__ORDER_STATUS_##x)           /* OrderStatus */
#define OTYPE(x) V1(ORDER_TYPE__ORDER_TYPE_##x)                 /* OrderType */
#define TKIND(x) V1(TRANSFER_KIND__TRANSFER_KIND_##x)           /* TransferKind */
#define SCOPE(x) V1(API_KEY_SCOPE__API_KEY_SCOPE_##x)           /* ApiKeyScope */
#define SKIP(x) V1(SKIP_REASON__SKIP_REASON_##x)                /* SkipReason */
#define TERM(x) V1(AUTO_RENEW_TERM__END_##x)                    /* AutoRenewTerm's oneof */
#define PRSTATUS(x) \
	V1(PAYMENT_REQUEST_STATUS__PAYMENT_REQUEST_STATUS_##x) /* PaymentRequestStatus */
#define RSTEP(x) V1(RECOVERY_STEP__RECOVERY_STEP_##x)          /* RecoveryStep */

#endif
