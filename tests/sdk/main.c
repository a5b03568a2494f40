/* sdk_unit: runs every suite of tests/sdk/ and fails if any assertion did. */
#include <CUnit/Basic.h>
#include <stdio.h>

#include "sdk_tests.h"

int main(void)
{
	unsigned failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (sdk_errors_suite() != CUE_SUCCESS || sdk_client_suite() != CUE_SUCCESS ||
	    sdk_money_suite() != CUE_SUCCESS) {
		fprintf(stderr, "sdk_unit: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
