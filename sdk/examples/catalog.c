/* catalog <target> <api-key>: prints the services each project type offers. */
#include <spbilling.h>
#include <stdio.h>

/* The name of an enum value, e.g. "SERVICE_TYPE_DOOR". */
static const char *name(const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

	return v ? v->name : "?";
}

int main(int argc, char **argv)
{
	spb_client_options opts = SPB_CLIENT_OPTIONS_INIT;
	spb_client *client;
	int type, error = 0;
	size_t i, j;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <target> <api-key>\n", argv[0]);
		return 2;
	}
	opts.api_key = argv[2];
	if (!(client = spb_client_new(argv[1], &opts)))
		goto fail;
	for (type = SMARTPLUS__BILLING__V1__PROJECT_TYPE__PROJECT_TYPE_COMMUNITY;
	     type <= SMARTPLUS__BILLING__V1__PROJECT_TYPE__PROJECT_TYPE_COMMERCIAL; type++) {
		Smartplus__Billing__V1__GetCatalogRequest req =
			SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
		Smartplus__Billing__V1__GetCatalogResponse *resp = NULL;

		req.project_type = type;
		if ((error = spb_billing_get_catalog(client, &req, &resp, NULL)) < 0)
			goto fail;
		for (i = 0; i < resp->n_project_types; i++) {
			const Smartplus__Billing__V1__ProjectTypeCatalog *c =
				resp->project_types[i];

			printf("%s\n", name(&smartplus__billing__v1__project_type__descriptor,
					    c->project_type));
			for (j = 0; j < c->n_services; j++)
				printf("  %s\n",
				       name(&smartplus__billing__v1__service_type__descriptor,
					    c->services[j]->service_type));
		}
		spb_message_free(resp);
	}
	spb_client_free(client);
	return 0;

fail:
	fprintf(stderr, "catalog: %s: %s%s%s\n", spb_status_name(spb_error_last()->grpc_code),
		spb_error_last()->message, *spb_error_last()->reason ? " reason=" : "",
		spb_error_last()->reason);
	spb_client_free(client);
	return 1;
}
