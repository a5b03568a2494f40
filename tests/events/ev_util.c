/* ev_util.c: see ev_util.h. */
#include "ev_util.h"

int ev_checks, ev_failures;

int ev_mint_key(spb_client *c, const char *account, char key[160])
{
	Smartplus__Billing__V1__CreateApiKeyRequest r =
		SMARTPLUS__BILLING__V1__CREATE_API_KEY_REQUEST__INIT;
	Smartplus__Billing__V1__CreateApiKeyResponse *resp = NULL;
	int rc;

	r.account_id = (char *)account;
	r.scope = SMARTPLUS__BILLING__V1__API_KEY_SCOPE__API_KEY_SCOPE_ACCOUNT;
	rc = spb_directory_create_api_key(c, &r, &resp, NULL);
	if (rc == 0)
		snprintf(key, 160, "%s", resp->secret);
	spb_message_free(resp);
	return rc;
}
