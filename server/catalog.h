#ifndef SPB_CATALOG_H
#define SPB_CATALOG_H

/*
 * The service catalog (R1), free allowances (R4, R5) and payment models (R2):
 * static data, the single place that knows which service types and premium
 * features a project type offers. Values are the API's enum numbers.
 */

#include <stddef.h>
#include <stdint.h>

#include "smartplus/billing/v1/types.pb-c.h"

/* 1 if `project_type` offers `service_type`. */
int catalog_offers(int project_type, int service_type);

/* 1 if `feature` may be enabled on a `service_type` item of `project_type`
 * (only PREMIUM_PLAN and PREMIUM_FEATURES items take features). */
int catalog_feature_allowed(int project_type, int service_type, int feature);

/* 1 if items of this service type take premium features. */
int catalog_takes_features(int service_type);

/* 1 for a valid project type (COMMUNITY, SINGLE_FAMILY_HOUSE, COMMERCIAL). */
int catalog_valid_project_type(int project_type);

/* R2: the payment model of a project of `project_type` created at
 * `created_at_us`, given the cut-over. */
int catalog_payment_model(int project_type, int64_t created_at_us, int64_t cutover_us);

/* R2: 1 if `method` belongs to `payment_model`. */
int catalog_model_allows(int payment_model, int method);

/* The packed GetCatalogResponse for one project type (0 = all), built once
 * and owned by the catalog; NULL for an unknown type. */
const uint8_t *catalog_packed(int project_type, size_t *len);

/* Display names for logs and messages. */
const char *catalog_service_name(int service_type);
const char *catalog_project_type_name(int project_type);

#endif
