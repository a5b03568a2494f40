/* tests/sdk/: the suites of sdk_unit, one per file, registered by main.c. */
#ifndef SDK_TESTS_H
#define SDK_TESTS_H

#include <CUnit/CUnit.h>

/* Each adds its suite to the registry; returns CUE_SUCCESS or a CUnit error. */
CU_ErrorCode sdk_errors_suite(void);
CU_ErrorCode sdk_client_suite(void);
CU_ErrorCode sdk_money_suite(void);

#endif
