/*
 * Compiled alone by ctest with -std=c99 -pedantic -Wall -Wextra -Werror:
 * the public header must stand on its own, twice included, and its _INIT
 * macros must initialise every field.
 */
#include <spbilling.h>
#include <spbilling.h>

int main(void)
{
	spb_client_options client_opts = SPB_CLIENT_OPTIONS_INIT;
	spb_call_options call_opts = SPB_CALL_OPTIONS_INIT;
	Smartplus__Billing__V1__GetCatalogRequest req =
		SMARTPLUS__BILLING__V1__GET_CATALOG_REQUEST__INIT;
	int (*rpc)(spb_client *, const Smartplus__Billing__V1__GetCatalogRequest *,
		   Smartplus__Billing__V1__GetCatalogResponse **,
		   const spb_call_options *) = spb_billing_get_catalog;
	const spb_error *(*last)(void) = spb_error_last;

	(void)client_opts;
	(void)call_opts;
	(void)req;
	(void)rpc;
	(void)last;
	return SPB_OK;
}
