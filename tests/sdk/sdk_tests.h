/* tests/sdk/: the suites of sdk_unit, one per file, run by main.c. */
#ifndef SDK_TESTS_H
#define SDK_TESTS_H

#include <CUnit/CUnit.h>

extern CU_TestInfo sdk_errors_tests[]; /* test_errors.c */
extern CU_TestInfo sdk_client_tests[]; /* test_client.c */
extern CU_TestInfo sdk_money_tests[];  /* test_money.c */

#endif
