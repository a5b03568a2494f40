#!/usr/bin/env bash
# billingd restore: backups taken by billingctl backup (AdminService.Backup)
# and by billingd backup while billingd runs are put back into empty data
# directories and served by billingd (what was acknowledged before the
# backup is there, what came after is not); refusals change nothing: a
# running billingd on the directory, a directory that holds a store, a file
# that is not LMDB, an LMDB file that is no billingd store, a missing file.
# Usage: restore.sh <billingd> <billingctl>
source "$(dirname "$0")/../support/lib.sh"
billingd=$1 ctl=$2
b() { "$ctl" "$@"; }
st() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }

start_billingd "$billingd"
export BILLINGCTL_TARGET=127.0.0.1:$port BILLINGCTL_KEY_FILE=$data_dir/admin.key
b account create before --role distributor --parent-id vendor --display-name "Before" >/dev/null
b backup b1 >/dev/null
b account create after --role distributor --parent-id vendor --display-name "After" >/dev/null
"$billingd" backup --data-dir "$data_dir" --out "$workdir/cli.mdb" >/dev/null
b account create later --role distributor --parent-id vendor >/dev/null
rpc_file=$data_dir/backups/b1/data.mdb

# refusals: `try FILE DIR` runs billingd restore, sets $rc and $msg (stderr)
try() { rc=0; msg=$("$billingd" restore --from "$1" --data-dir "$2" 2>&1 >/dev/null) || rc=$?; }
try "$rpc_file" "$data_dir"
check "restore into the directory of a running billingd: exit 1, names its pid" \
  bash -c '[ "$1" = 1 ] && grep -q "in use by pid $3" <<<"$2"' _ "$rc" "$msg" "$billingd_pid"
stop_billingd
sum=$(sha256sum <"$data_dir/data.mdb")
try "$rpc_file" "$data_dir"
check "restore over a store: exit 1, the store untouched" \
  bash -c '[ "$1" = 1 ] && grep -q "already holds a store" <<<"$2" && [ "$(sha256sum <"$3/data.mdb")" = "$4" ] && [ ! -e "$3/restore.tmp" ]' \
  _ "$rc" "$msg" "$data_dir" "$sum"
head -c 65536 /dev/urandom >"$workdir/noise.mdb"
try "$workdir/noise.mdb" "$workdir/r-noise"
check "a file that is not LMDB: exit 1, nothing left in the directory" \
  bash -c '[ "$1" = 1 ] && grep -q "is not a store this billingd can open" <<<"$2" && [ ! -e "$3/data.mdb" ] && [ ! -e "$3/restore.tmp" ]' \
  _ "$rc" "$msg" "$workdir/r-noise"
printf 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n' |
  mdb_load -n -f /dev/stdin "$workdir/other.mdb"
try "$workdir/other.mdb" "$workdir/r-other"
check "an LMDB file that is no billingd store: exit 1 (no vendor account), nothing left" \
  bash -c '[ "$1" = 1 ] && grep -q "no vendor account" <<<"$2" && [ ! -e "$3/data.mdb" ] && [ ! -e "$3/restore.tmp" ]' \
  _ "$rc" "$msg" "$workdir/r-other"
check "a missing file: exit 1" test "$(st "$billingd" restore --from "$workdir/none.mdb" --data-dir "$workdir/r-none")" = 1
check "usage: exit 2" test "$(st "$billingd" restore --data-dir "$workdir/r-none")" = 2

# the AdminService.Backup copy, served with the old admin.key
out=$("$billingd" restore --from "$rpc_file" --data-dir "$workdir/r1")
check "restore: says what it restored and where" \
  bash -c 'grep -q "restored to $2/data.mdb" <<<"$1" && grep -q "schema 1" <<<"$1"' _ "$out" "$workdir/r1"
check "restore: data.mdb mode 0600, no staging left" \
  bash -c '[ "$(stat -c %a "$1/data.mdb")" = 600 ] && [ ! -e "$1/restore.tmp" ]' _ "$workdir/r1"
cp "$data_dir/admin.key" "$workdir/r1/admin.key"
data_dir=$workdir/r1 start_billingd "$billingd"
export BILLINGCTL_TARGET=127.0.0.1:$port BILLINGCTL_KEY_FILE=$workdir/r1/admin.key
check "restored (billingctl backup): the account made before the backup" \
  bash -c '[ "$("$1" -o json account get before | jq -r .account.displayName)" = Before ]' _ "$ctl"
check "restored: the account made after the backup is not there (PERMISSION_DENIED, exit 7)" \
  test "$(st "$ctl" account get after)" = 7
check "the restored store takes writes" \
  bash -c '"$1" account create new1 --role distributor --parent-id vendor >/dev/null' _ "$ctl"
stop_billingd

# the billingd backup copy, with a key minted by billingd admin-key
"$billingd" restore --from "$workdir/cli.mdb" --data-dir "$workdir/r2" >/dev/null
"$billingd" admin-key --data-dir "$workdir/r2" >/dev/null
data_dir=$workdir/r2 start_billingd "$billingd"
export BILLINGCTL_TARGET=127.0.0.1:$port BILLINGCTL_KEY_FILE=$workdir/r2/admin.key
check "restored (billingd backup): accounts before it, with a new admin key" \
  bash -c '[ "$("$1" -o json account get after | jq -r .account.displayName)" = After ] && [ "$("$1" -o json account get before | jq -r .account.displayName)" = Before ]' _ "$ctl"
check "restored (billingd backup): the account made after it is not there (exit 7)" \
  test "$(st "$ctl" account get later)" = 7
finish
