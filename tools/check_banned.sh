#!/usr/bin/env bash
# Fails if our C sources call functions that are easy to misuse. The list
# starts from curl's (lib/checksrc.pl) and CERT C's, one reason per group:
#   unbounded or truncating copies and formatting: sprintf vsprintf strcpy
#     strcat stpcpy gets, and strncpy strncat (no terminator / silent
#     truncation: use snprintf, or memcpy with a checked length);
#   hidden static state: strtok, asctime ctime gmtime localtime (their _r
#     forms take the buffer);
#   silent conversion errors: atoi atol atoll atof (strtol/strtod with a
#     check of end and errno);
#   predictable randomness: rand srand random srandom drand48 lrand48
#     mrand48 (OpenSSL RAND_bytes for anything secret, a local PRNG
#     otherwise);
#   racy temporary names: tmpnam tempnam mktemp (mkstemp, mkdtemp);
#   unbounded stack: alloca;
#   a scanf-family "%s" or "%[" without a field width (overflows its buffer);
#   in server/ and storage/ only: malloc calloc realloc strdup strndup, which
#     go through common/xalloc.h (abort on exhaustion, never NULL).
# Usage: check_banned.sh [source-root]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
dirs=("$root/server" "$root/storage" "$root/common" "$root/sdk" "$root/tools" "$root/tests")
banned='\b(sprintf|vsprintf|strcpy|strcat|stpcpy|gets|strncpy|strncat|strtok|asctime|ctime|gmtime|localtime|atoi|atol|atoll|atof|rand|srand|random|srandom|drand48|lrand48|mrand48|tmpnam|tempnam|mktemp|alloca)[[:space:]]*\('
scanf_s='\b(v?f?scanf|v?sscanf)[[:space:]]*\([^;]*"[^"]*%(s|\[)'
grep_c() { grep -rnE "$1" --include='*.c' --include='*.h' "${dirs[@]}" 2>/dev/null | grep -v '/node_modules/' || true; }
alloc='(^|[^_[:alnum:]>.])(malloc|calloc|realloc|strdup|strndup)[[:space:]]*\('
hits=$(grep_c "$banned")
scan=$(grep_c "$scanf_s")
raw=$(grep -rnE "$alloc" --include='*.c' --include='*.h' "$root/server" "$root/storage" 2>/dev/null || true)
if [ -n "$hits$scan$raw" ]; then
  echo "banned functions used (see the list at the top of $0):"
  [ -z "$hits" ] || echo "$hits"
  [ -z "$scan" ] || echo "$scan"
  [ -z "$raw" ] || echo "$raw"
  exit 1
fi
echo "no banned functions"
