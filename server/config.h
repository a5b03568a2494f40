#ifndef SPB_CONFIG_H
#define SPB_CONFIG_H

/*
 * billingd's configuration: one table of settings (config.c), each with a
 * flag, an environment variable and a config-file key, filled from four
 * sources in this order of precedence:
 *
 *   --flag VALUE  >  BILLINGD_FLAG=VALUE  >  key = value in --config FILE  >  default
 *
 * The config file is named by --config or BILLINGD_CONFIG (never implied):
 * one `key = value` per line, keys are the flag names without "--"
 * (`listen = 127.0.0.1:50051`), `#` or `;` starts a comment line, switches
 * take true/false (also 1/0, yes/no, on/off), no sections, no key twice,
 * lines of at most 199 characters. It is read with inih (libinih).
 *
 * Secrets are never settings: live payment keys come from STRIPE_SECRET_KEY,
 * PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET, or NAME_FILE naming a file, or a
 * file of the lower-case name in $CREDENTIALS_DIRECTORY (systemd
 * LoadCredential=), in that order; an empty file counts as unset.
 *
 * Every value is checked by the same parser whatever its source, and an
 * error names its source (flag, variable, or file:line).
 */

#include <stddef.h>
#include <stdio.h>

#include "billingd.h"

/* Where a setting's value came from. */
typedef enum {
	CONFIG_DEFAULT = 0,
	CONFIG_FILE,
	CONFIG_ENV,
	CONFIG_FLAG,
} config_source;

/*
 * Fills *c from the defaults, the config file, the environment and argv
 * (argv strings are used in place; the others are copied and live for the
 * process). Reads the live payment secrets too. Returns 0; 1 after printing
 * --help or --version to stdout (the caller exits 0); -1 after printing the
 * error to stderr (the caller exits 2).
 */
int config_load(int argc, char **argv, billingd_config *c);

/*
 * Writes the effective configuration, one "name=value (source)" per
 * setting, into buf as a single line (truncated to cap). Secrets are shown
 * only as set/unset. Used for the start-up log line.
 */
void config_summary(const billingd_config *c, char *buf, size_t cap);

/* "billingd 0.1.0 (schema 1, build <git describe>, <build type>)". */
const char *config_version_string(void);

/* A secret from NAME, NAME_FILE or $CREDENTIALS_DIRECTORY/<name in lower
 * case>; NULL when none is set. On an unreadable file prints why and sets
 * *failed. The result is malloc'ed. */
char *config_secret(const char *name, int *failed);

#endif
