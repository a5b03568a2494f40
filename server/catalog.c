/*
 * catalog.c: the catalog data (R1, R2, R4, R5) and BillingService.GetCatalog.
 */
#include "catalog.h"

#include <pthread.h>
#include <stdlib.h>

#include "billingd.h"
#include "enums.h"
#include "rpc.h"
#include "rpc_handlers.h"
#include "xalloc.h"

#define N_TYPES 3

typedef struct service_info {
	int type;
	const char *name;
	const char *description;
} service_info;

typedef struct feature_info {
	int feature;
	const char *name;
} feature_info;

typedef struct type_info {
	int project_type;
	const char *name;
	const int *services; /* 0-terminated */
	int premium_service; /* the service type that carries features */
	const int *features; /* 0-terminated */
} type_info;

static const service_info services[] = {
	{STYPE(APP), "App", "The main SmartPlus app account of a home or apartment."},
	{STYPE(PM_APP), "PM App", "A SmartPlus app account for the property manager of the site."},
	{STYPE(ADDITIONAL_APP), "Additional App",
	 "An extra family-member app account, once the project's free ones are used up."},
	{STYPE(THIRD_PARTY_LOCK), "Third Party Lock",
	 "Connects a third-party smart lock (such as iTec or Dormakaba) to the platform."},
	{STYPE(PREMIUM_PLAN), "Premium Plan",
	 "Unlocks optional advanced features for the residential project."},
	{STYPE(SENSOR_ALERT), "Sensor Alert",
	 "Places cloud alert calls when an MR01 sensor reports an event such as a fall or a bed "
	 "exit."},
	{STYPE(INTEGRATION), "Integration",
	 "Keeps the project in sync with a property management system; added automatically when "
	 "integrated."},
	{STYPE(DOOR), "Door",
	 "An access-controlled door; the first door of every commercial project is free."},
	{STYPE(PERSONNEL_APP), "Personnel App",
	 "A staff member's app account with intercom calling."},
	{STYPE(ADMIN_APP), "Admin App",
	 "A site administrator's app account with intercom calling."},
	{STYPE(PREMIUM_FEATURES), "Premium Features",
	 "Unlocks optional business features for the commercial project."},
};

static const feature_info features[] = {
	{FEATURE(PACKAGE_ROOM), "Package Room"},
	{FEATURE(THIRD_PARTY_CAMERA), "Third-Party Camera"},
	{FEATURE(BOOKINGS), "Bookings"},
	{FEATURE(ELEVATOR_CONTROL), "Elevator Control"},
	{FEATURE(SMART_PARKING), "Smart Parking"},
	{FEATURE(DYNAMIC_QR_CODE), "Dynamic QR Code"},
	{FEATURE(VIDEO_STORAGE), "Video Storage"},
	{FEATURE(LANDLINE_SERVICE), "Landline Service"},
	{FEATURE(TIME_ATTENDANCE), "Time Attendance"},
};

static const int community_services[] = {
	STYPE(APP),          STYPE(PM_APP),       STYPE(ADDITIONAL_APP), STYPE(THIRD_PARTY_LOCK),
	STYPE(PREMIUM_PLAN), STYPE(SENSOR_ALERT), STYPE(INTEGRATION),    0};
static const int house_services[] = {
	STYPE(APP),          STYPE(ADDITIONAL_APP), STYPE(THIRD_PARTY_LOCK),
	STYPE(PREMIUM_PLAN), STYPE(SENSOR_ALERT),   0};
static const int commercial_services[] = {STYPE(DOOR),         STYPE(PERSONNEL_APP),
					  STYPE(ADMIN_APP),    STYPE(PREMIUM_FEATURES),
					  STYPE(SENSOR_ALERT), 0};
static const int community_features[] = {
	FEATURE(PACKAGE_ROOM),     FEATURE(THIRD_PARTY_CAMERA), FEATURE(BOOKINGS),
	FEATURE(ELEVATOR_CONTROL), FEATURE(SMART_PARKING),      FEATURE(DYNAMIC_QR_CODE),
	FEATURE(VIDEO_STORAGE),    FEATURE(LANDLINE_SERVICE),   0};
static const int house_features[] = {FEATURE(LANDLINE_SERVICE), FEATURE(THIRD_PARTY_CAMERA),
				     FEATURE(DYNAMIC_QR_CODE), FEATURE(VIDEO_STORAGE), 0};
static const int commercial_features[] = {FEATURE(TIME_ATTENDANCE), FEATURE(ELEVATOR_CONTROL), 0};

static const type_info types[N_TYPES] = {
	{PTYPE(COMMUNITY), "Community", community_services, STYPE(PREMIUM_PLAN),
	 community_features},
	{PTYPE(SINGLE_FAMILY_HOUSE), "Single-Family House", house_services, STYPE(PREMIUM_PLAN),
	 house_features},
	{PTYPE(COMMERCIAL), "Commercial", commercial_services, STYPE(PREMIUM_FEATURES),
	 commercial_features},
};

static const type_info *type_of(int project_type)
{
	for (int i = 0; i < N_TYPES; i++)
		if (types[i].project_type == project_type)
			return &types[i];
	return NULL;
}

static int in_list(const int *list, int v)
{
	for (; *list; list++)
		if (*list == v)
			return 1;
	return 0;
}

int catalog_valid_project_type(int project_type)
{
	return type_of(project_type) != NULL;
}

int catalog_offers(int project_type, int service_type)
{
	const type_info *t = type_of(project_type);
	return t && in_list(t->services, service_type);
}

int catalog_takes_features(int service_type)
{
	return service_type == STYPE(PREMIUM_PLAN) || service_type == STYPE(PREMIUM_FEATURES);
}

int catalog_feature_allowed(int project_type, int service_type, int feature)
{
	const type_info *t = type_of(project_type);
	return t && t->premium_service == service_type && in_list(t->features, feature);
}

int catalog_payment_model(int project_type, int64_t created_at_us, int64_t cutover_us)
{
	if (project_type == PTYPE(COMMERCIAL) && created_at_us >= cutover_us)
		return MODEL(CREDITS);
	return MODEL(REGULAR);
}

int catalog_model_allows(int payment_model, int method)
{
	if (payment_model == MODEL(CREDITS))
		return method == METHOD(CREDITS);
	return method == METHOD(STRIPE) || method == METHOD(PAYPAL) || method == METHOD(COUPON);
}

const char *catalog_service_name(int service_type)
{
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (services[i].type == service_type)
			return services[i].name;
	return "unknown service";
}

const char *catalog_project_type_name(int project_type)
{
	const type_info *t = type_of(project_type);
	return t ? t->name : "unknown project type";
}

/* ------------------------------------------------------------------------ */
/* GetCatalog                                                                */

/*
 * The response is built once per project type at first use and kept for the
 * life of the process: the catalog and the cut-over never change while
 * billingd runs, so the handler only packs it.
 */
typedef Smartplus__Billing__V1__ProjectTypeCatalog ptc_t;
typedef Smartplus__Billing__V1__ServiceOffering offering_t;

static struct {
	uint8_t *bytes[N_TYPES + 1]; /* [0]: all types; [i]: types[i - 1] */
	size_t len[N_TYPES + 1];
} packed;

static const service_info *service_of(int type)
{
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (services[i].type == type)
			return &services[i];
	return NULL;
}

static const char *feature_name(int f)
{
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (features[i].feature == f)
			return features[i].name;
	return "";
}

static Google__Protobuf__Timestamp *timestamp(int64_t us)
{
	Google__Protobuf__Timestamp *ts = xcalloc(1, sizeof(*ts));
	google__protobuf__timestamp__init(ts);
	ts->seconds = us / 1000000;
	ts->nanos = (int32_t)(us % 1000000) * 1000;
	return ts;
}

static Smartplus__Billing__V1__PaymentModelRule *model_rule(int model, int64_t after,
							    int64_t before)
{
	Smartplus__Billing__V1__PaymentModelRule *r = xcalloc(1, sizeof(*r));
	smartplus__billing__v1__payment_model_rule__init(r);
	r->payment_model = model;
	r->methods = xcalloc(3, sizeof(*r->methods));
	if (model == MODEL(CREDITS)) {
		r->methods[r->n_methods++] = METHOD(CREDITS);
	} else {
		r->methods[r->n_methods++] = METHOD(STRIPE);
		r->methods[r->n_methods++] = METHOD(PAYPAL);
		r->methods[r->n_methods++] = METHOD(COUPON);
	}
	if (after >= 0)
		r->created_on_or_after = timestamp(after);
	if (before >= 0)
		r->created_before = timestamp(before);
	return r;
}

static Smartplus__Billing__V1__FreeAllowance *allowance(int service, int count, const char *what)
{
	Smartplus__Billing__V1__FreeAllowance *a = xcalloc(1, sizeof(*a));
	smartplus__billing__v1__free_allowance__init(a);
	a->service_type = service;
	a->count = count;
	a->description = (char *)what;
	return a;
}

/* Builds the catalog of one project type; freed with free_type(). */
static ptc_t *build_type(const type_info *t, int64_t cutover)
{
	ptc_t *c = xcalloc(1, sizeof(*c));
	size_t n = 0;
	smartplus__billing__v1__project_type_catalog__init(c);
	c->project_type = t->project_type;
	c->display_name = (char *)t->name;
	while (t->services[n])
		n++;
	c->services = xcalloc(n, sizeof(*c->services));
	for (size_t i = 0; i < n; i++) {
		const service_info *si = service_of(t->services[i]);
		offering_t *o = xcalloc(1, sizeof(*o));
		smartplus__billing__v1__service_offering__init(o);
		o->service_type = si->type;
		o->display_name = (char *)si->name;
		o->description = (char *)si->description;
		o->automatic = si->type == STYPE(INTEGRATION);
		if (si->type == t->premium_service) {
			size_t nf = 0;
			while (t->features[nf])
				nf++;
			o->premium_features = xcalloc(nf, sizeof(*o->premium_features));
			for (size_t f = 0; f < nf; f++) {
				Smartplus__Billing__V1__PremiumFeatureInfo *fi = xcalloc(
					1, sizeof(*fi));
				smartplus__billing__v1__premium_feature_info__init(fi);
				fi->feature = t->features[f];
				fi->display_name = (char *)feature_name(t->features[f]);
				o->premium_features[o->n_premium_features++] = fi;
			}
		}
		c->services[c->n_services++] = o;
	}
	c->free_allowances = xcalloc(2, sizeof(*c->free_allowances));
	if (t->project_type == PTYPE(COMMERCIAL))
		c->free_allowances[c->n_free_allowances++] = allowance(
			STYPE(DOOR), 1,
			"The oldest door of each commercial project costs nothing.");
	else
		c->free_allowances[c->n_free_allowances++] = allowance(
			STYPE(ADDITIONAL_APP), -1,
			"The project's free_additional_apps oldest additional app accounts cost "
			"nothing.");
	if (t->project_type == PTYPE(COMMUNITY))
		c->free_allowances[c->n_free_allowances++] = allowance(
			STYPE(INTEGRATION), 0,
			"A PMS-integrated project always renews its integration item with the "
			"rest; "
			"without integration the project shows NORMAL and has no such item.");
	c->payment_models = xcalloc(2, sizeof(*c->payment_models));
	if (t->project_type == PTYPE(COMMERCIAL)) {
		c->payment_models[c->n_payment_models++] = model_rule(MODEL(REGULAR), -1, cutover);
		c->payment_models[c->n_payment_models++] = model_rule(MODEL(CREDITS), cutover, -1);
	} else {
		c->payment_models[c->n_payment_models++] = model_rule(MODEL(REGULAR), -1, -1);
	}
	return c;
}

static void free_type(ptc_t *c)
{
	for (size_t i = 0; i < c->n_services; i++) {
		for (size_t f = 0; f < c->services[i]->n_premium_features; f++)
			free(c->services[i]->premium_features[f]);
		free(c->services[i]->premium_features);
		free(c->services[i]);
	}
	for (size_t i = 0; i < c->n_free_allowances; i++)
		free(c->free_allowances[i]);
	for (size_t i = 0; i < c->n_payment_models; i++) {
		free(c->payment_models[i]->methods);
		free(c->payment_models[i]->created_on_or_after);
		free(c->payment_models[i]->created_before);
		free(c->payment_models[i]);
	}
	free(c->services);
	free(c->free_allowances);
	free(c->payment_models);
	free(c);
}

static void pack_into(Smartplus__Billing__V1__GetCatalogResponse *r, size_t slot)
{
	packed.len[slot] = smartplus__billing__v1__get_catalog_response__get_packed_size(r);
	packed.bytes[slot] = xmalloc(packed.len[slot]);
	smartplus__billing__v1__get_catalog_response__pack(r, packed.bytes[slot]);
}

static void build_packed(void)
{
	ptc_t *all[N_TYPES];
	Smartplus__Billing__V1__GetCatalogResponse r =
		SMARTPLUS__BILLING__V1__GET_CATALOG_RESPONSE__INIT;
	for (int i = 0; i < N_TYPES; i++)
		all[i] = build_type(&types[i], billingd.cfg.cutover_us);
	r.n_project_types = N_TYPES;
	r.project_types = all;
	pack_into(&r, 0);
	for (int i = 0; i < N_TYPES; i++) {
		r.n_project_types = 1;
		r.project_types = &all[i];
		pack_into(&r, (size_t)i + 1);
	}
	for (int i = 0; i < N_TYPES; i++)
		free_type(all[i]);
}

/* The packed GetCatalogResponse for one project type (0 = all), built once. */
const uint8_t *catalog_packed(int project_type, size_t *len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	size_t slot = 0;
	pthread_once(&once, build_packed);
	if (project_type) {
		for (int i = 0; i < N_TYPES; i++)
			if (types[i].project_type == project_type)
				slot = (size_t)i + 1;
		if (!slot)
			return NULL;
	}
	*len = packed.len[slot];
	return packed.bytes[slot];
}

void rpc_BillingService_GetCatalog(struct rpc_call *call,
				   const Smartplus__Billing__V1__GetCatalogRequest *req)
{
	size_t len;
	const uint8_t *bytes = catalog_packed(req->project_type, &len);
	if (!bytes) {
		rpc_fail(call, GRPC_STATUS_INVALID_ARGUMENT, NULL,
			 "project_type: unknown project type %d", (int)req->project_type);
		return;
	}
	rpc_finish_raw(call, GRPC_STATUS_OK, NULL, NULL, bytes, len);
}
