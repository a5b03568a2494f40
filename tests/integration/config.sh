#!/usr/bin/env bash
# billingd's configuration sources and their precedence (flag > BILLINGD_*
# environment > --config file > default), the config file's strict format,
# --version, secrets from $CREDENTIALS_DIRECTORY and never from argv, and
# the start-up line with the version and every setting's source.
# Usage: config.sh <billingd>
source "$(dirname "$0")/../support/lib.sh"
billingd=$1
w=$workdir

# Runs billingd in the background with the given env and args until it has
# written its port file ($w/port.N), then stops it. Sets out= to its log.
run_until_listening() { # <n> env... -- args...
  local n=$1; shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  rm -f "$w/port.$n"
  env "${envs[@]}" "$billingd" "$@" 2>"$w/log.$n" &
  local pid=$!
  for _ in $(seq 1 100); do
    [ -s "$w/port.$n" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  out=$(cat "$w/log.$n")
}
# Runs billingd expecting it to refuse to start; sets rc= and err=.
refused() { # env... -- args...
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  rc=0
  err=$(env "${envs[@]}" timeout 10 "$billingd" "$@" 2>&1 >/dev/null) || rc=$?
}

version=$("$billingd" --version)
check "--version names the version, schema and build ($version)" \
  bash -c '[[ "$1" =~ ^billingd\ [0-9]+\.[0-9]+\.[0-9]+\ \(schema\ [0-9]+,\ build\ [^,]+,\ [A-Za-z]+\)$ ]]' _ "$version"
help=$("$billingd" --help)
check "--help lists every flag with its BILLINGD_ variable" \
  bash -c 'grep -q -- "--provider-timeout-ms N" <<<"$1" && grep -q "BILLINGD_PROVIDER_TIMEOUT_MS" <<<"$1"' _ "$help"

# Precedence, observed through what billingd does: where it writes its
# port file and its data.
cat >"$w/b.conf" <<CONF
# a comment line
; another
listen = 127.0.0.1:0
data-dir = $w/from-file
port-file = $w/port.1
threads = 2
quiet-calls = true
CONF
run_until_listening 1 -- --config "$w/b.conf"
check "file alone: data in the file's data-dir" test -s "$w/from-file/admin.key"
check "start line: version and each setting's source" \
  bash -c 'grep -q "billingd [0-9.]* (schema [0-9]*, build .*) starting: config=.*listen=127.0.0.1:0(file) data-dir=.*from-file(file) threads=2(file) .*payments=sandbox(default)" <<<"$1"' _ "$out"

run_until_listening 1 BILLINGD_DATA_DIR="$w/from-env" BILLINGD_CONFIG="$w/b.conf" --
check "env over file (config named by BILLINGD_CONFIG)" \
  bash -c 'test -s "$1/from-env/admin.key" && grep -q "data-dir=$1/from-env(env)" <<<"$2"' _ "$w" "$out"

run_until_listening 1 BILLINGD_DATA_DIR="$w/from-env2" -- --config "$w/b.conf" --data-dir "$w/from-flag"
check "flag over env over file" \
  bash -c 'test -s "$1/from-flag/admin.key" && ! test -e "$1/from-env2" && grep -q "data-dir=$1/from-flag(flag)" <<<"$2"' _ "$w" "$out"

run_until_listening 2 BILLINGD_LISTEN=127.0.0.1:0 BILLINGD_PORT_FILE="$w/port.2" \
  BILLINGD_DATA_DIR="$w/env-only" BILLINGD_TEST_CLOCK=yes --
check "environment alone, a switch as yes" \
  bash -c 'test -s "$1/env-only/admin.key" && grep -q "test-clock=yes(env)" <<<"$2" && grep -q "test clock" <<<"$2"' _ "$w" "$out"

# Every error names its source and stops billingd before it listens.
printf 'listen = 127.0.0.1:0\nthreds = 2\n' >"$w/typo.conf"
refused -- --config "$w/typo.conf"
check "unknown key in the file: exit 2 naming file:line ($err)" \
  bash -c '[ "$1" = 2 ] && grep -q "typo.conf:2: no such setting .threds." <<<"$2"' _ "$rc" "$err"
printf '[server]\nlisten = 127.0.0.1:0\n' >"$w/section.conf"
refused -- --config "$w/section.conf"
check "sections are refused ($err)" bash -c '[ "$1" = 2 ] && grep -q "sections are not supported" <<<"$2"' _ "$rc" "$err"
printf 'threads = 2\nthreads = 3\n' >"$w/twice.conf"
refused -- --config "$w/twice.conf"
check "a key given twice is refused ($err)" bash -c '[ "$1" = 2 ] && grep -q "twice.conf:2: .threads. given twice" <<<"$2"' _ "$rc" "$err"
printf 'data-dir = /%0250d\n' 0 >"$w/long.conf"
refused -- --config "$w/long.conf"
check "an over-long line is refused, not split ($err)" bash -c '[ "$1" = 2 ] && grep -q "long.conf:1: line longer" <<<"$2"' _ "$rc" "$err"
printf 'listen 127.0.0.1:0\n' >"$w/noeq.conf"
refused -- --config "$w/noeq.conf"
check "a line without '=' is refused ($err)" bash -c '[ "$1" = 2 ] && grep -q "noeq.conf:1:" <<<"$2"' _ "$rc" "$err"
printf 'threads = many\n' >"$w/bad.conf"
refused -- --config "$w/bad.conf"
check "a bad value in the file names file:line and key ($err)" \
  bash -c '[ "$1" = 2 ] && grep -q "bad.conf:1: threads: must be 1..64" <<<"$2"' _ "$rc" "$err"
refused BILLINGD_THREADS=0 -- --data-dir "$w/never"
check "a bad value in the environment names the variable ($err)" \
  bash -c '[ "$1" = 2 ] && grep -q "BILLINGD_THREADS: must be 1..64" <<<"$2"' _ "$rc" "$err"
refused BILLINGD_LISTN=127.0.0.1:0 -- --data-dir "$w/never"
check "an unknown BILLINGD_ variable is refused ($err)" \
  bash -c '[ "$1" = 2 ] && grep -q "BILLINGD_LISTN: no such setting" <<<"$2"' _ "$rc" "$err"
refused -- --config "$w/missing.conf"
check "a missing config file is refused" bash -c '[ "$1" = 2 ] && grep -q "missing.conf" <<<"$2"' _ "$rc" "$err"
refused -- --data-dir "$w/never" --stripe-secret-key sk_live_x
check "no secret flag exists (secrets never from argv)" test "$rc" = 2

# Secrets through systemd's credentials directory: a live key there makes
# sandbox refuse to start, so it was read.
mkdir -p "$w/creds"
printf 'sk_live_fromcreds\n' >"$w/creds/stripe_secret_key"
refused CREDENTIALS_DIRECTORY="$w/creds" -- --data-dir "$w/never" --listen 127.0.0.1:0
check "a live key in \$CREDENTIALS_DIRECTORY is read ($err)" \
  bash -c '[ "$1" = 2 ] && grep -q "live payment keys are set" <<<"$2"' _ "$rc" "$err"
run_until_listening 3 CREDENTIALS_DIRECTORY="$w/creds" -- --listen 127.0.0.1:0 \
  --port-file "$w/port.3" --data-dir "$w/live" --payments live --stripe-url http://127.0.0.1:9
check "live payments with the key from \$CREDENTIALS_DIRECTORY, secret not logged" \
  bash -c 'grep -q "stripe-key=set" <<<"$1" && ! grep -q fromcreds <<<"$1" && test -s "$2/live/admin.key"' _ "$out" "$w"
mkdir -p "$w/empty-creds"
: >"$w/empty-creds/stripe_secret_key"
refused CREDENTIALS_DIRECTORY="$w/empty-creds" -- --data-dir "$w/never" --listen 127.0.0.1:0 --payments live
check "an empty credential is unset (the unit's SetCredential= default) ($err)" \
  bash -c '[ "$1" = 2 ] && grep -q "needs STRIPE_SECRET_KEY" <<<"$2"' _ "$rc" "$err"
check "no data directory was created by a refused start" test ! -e "$w/never"
finish
