#!/usr/bin/env bash
# Fails if a C source of ours differs from what clang-format (.clang-format at
# the top) would write. Usage: check_format.sh [source-root]
# To fix: clang-format -i $(git ls-files '*.c' '*.h')
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
mapfile -t files < <(find proto common server storage sdk tools tests -name node_modules -prune -o \
  \( -name '*.c' -o -name '*.h' \) -print | sort)
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "not formatted (clang-format -i FILE):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "${#files[@]} files formatted"
