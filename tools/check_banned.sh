#!/usr/bin/env bash
# Fails if our C sources call functions that are easy to misuse (curl's list):
# unbounded copies and formatting, strtok's hidden state, atoi's silent errors.
# Usage: check_banned.sh <source-root>
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\('
hits=$(grep -rnE "$banned" --include='*.c' --include='*.h' \
  "$root/server" "$root/storage" "$root/sdk" "$root/tools" "$root/tests" 2>/dev/null \
  | grep -v '/node_modules/' || true)
if [ -n "$hits" ]; then
  echo "banned functions used:"
  echo "$hits"
  exit 1
fi
echo "no banned functions"
