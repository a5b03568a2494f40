#!/usr/bin/env bash
# Disk full on commit: billingd's data directory on a 4 MiB tmpfs (the map is
# larger, so the disk fills first). Writes must fail RESOURCE_EXHAUSTED with
# reason STORAGE_FULL and nothing half-written; reads go on; the server stops
# cleanly.
# Usage: diskfull.sh <billingd> <buf>. Exit 77 (skipped) when tmpfs cannot be
# mounted (not root, or a sandbox without mount).
source "$(dirname "$0")/../support/lib.sh"
billingd=$1 buf=$2
fs="$workdir/fs"
mkdir -p "$fs"
if ! mount -t tmpfs -o size=4m tmpfs "$fs" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here"; exit 77
fi
trap 'if [ -n "$billingd_pid" ]; then kill -TERM "$billingd_pid" 2>/dev/null; wait "$billingd_pid" 2>/dev/null; fi; umount "$fs" 2>/dev/null; billingd_pid=""; cleanup' EXIT
data_dir="$fs/data"
start_billingd "$billingd" --map-size 67108864 --quiet-calls
key=$admin_key
url="http://127.0.0.1:$port"
bc() { (cd "$workdir" && "$buf" curl --protocol grpc --http2-prior-knowledge -H "authorization: Bearer $key" "$@"); }
bc -d '{"accountId":"d1","role":"ROLE_DISTRIBUTOR","parentId":"vendor"}' "$url/smartplus.billing.v1.DirectoryService/CreateAccount" >/dev/null
bc -d '{"accountId":"i1","role":"ROLE_INSTALLER","parentId":"d1"}' "$url/smartplus.billing.v1.DirectoryService/CreateAccount" >/dev/null
bc -d '{"projectId":"p1","installerId":"i1","type":"PROJECT_TYPE_COMMUNITY"}' "$url/smartplus.billing.v1.DirectoryService/CreateProject" >/dev/null

# Batches of 500 items with long labels until the disk is full (bounded).
label=$(printf 'x%.0s' $(seq 1 200))
acked=0 full=""
for b in $(seq 1 60); do
  items=$(for i in $(seq 1 500); do printf '{"itemId":"b%d_%d","serviceType":"SERVICE_TYPE_APP","label":"%s"},' "$b" "$i" "$label"; done)
  printf '{"projectId":"p1","items":[%s]}' "${items%,}" > "$workdir/batch.json"
  out=$(bc -d @"$workdir/batch.json" "$url/smartplus.billing.v1.DirectoryService/CreateItems" 2>&1 || true)
  if grep -q '"itemId"' <<<"$out"; then acked=$((acked + 500)); continue; fi
  full=$out; break
done
echo "refused write: $(head -c 300 <<<"$full")"
check "the disk filled and the write was refused RESOURCE_EXHAUSTED ($acked items acknowledged first)" \
  grep -q '"resource_exhausted"' <<<"$full"
info=$(jq -r '.details[0].value // ""' <<<"$full" 2>/dev/null | tr '_-' '/+')
while [ $(( ${#info} % 4 )) -ne 0 ]; do info="$info="; done
check "with reason STORAGE_FULL" bash -c 'base64 -d <<<"$1" 2>/dev/null | grep -aq STORAGE_FULL' _ "$info"
count=0 token=""
while :; do
  page=$(bc -d "{\"projectId\":\"p1\",\"pageSize\":1000,\"pageToken\":\"$token\"}" "$url/smartplus.billing.v1.BillingService/ListItems")
  count=$((count + $(jq '.items | length' <<<"$page")))
  token=$(jq -r '.nextPageToken // ""' <<<"$page")
  [ -n "$token" ] || break
done
check "reads go on, and exactly the acknowledged items are there ($count of $acked)" test "$count" -eq "$acked"
check "billingd stops cleanly on a full disk" stop_billingd
finish
