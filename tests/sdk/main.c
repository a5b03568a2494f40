/* sdk_unit: runs every suite of tests/sdk/ (one per file). */
#include "sdk_tests.h"
#include "spt_run.h"

static CU_SuiteInfo suites[] = {
	{"sdk_errors", NULL, NULL, NULL, NULL, sdk_errors_tests},
	{"sdk_client", NULL, NULL, NULL, NULL, sdk_client_tests},
	{"sdk_money", NULL, NULL, NULL, NULL, sdk_money_tests},
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return spt_main(argc, argv, "", suites);
}
