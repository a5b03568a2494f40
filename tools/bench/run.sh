#!/usr/bin/env bash
# tools/bench/run.sh: the whole benchmark in one run (issue 8, BENCHMARKS.md).
#
#   tools/bench/run.sh [--build DIR] [--scale S] [--small-scale S|--no-small]
#                      [--duration D] [--warmup D] [--sdk-calls N]
#                      [--lmdb-seconds SEC] [--repeat R] [--settle SEC] [--threads N]
#                      [--work DIR] [--keep]
#
#  1. the limits: lmdb_commit (1 and 100 puts per fsync'd commit) and the bare
#     grpc echo server driven by h2load at 16x64, 16x4 and 1x1;
#  2. billingd on a fresh data directory, seeded (tools/bench/seed, --scale S:
#     1 = 1 distributor, 50 installers, 5,000 projects, 1,000,000 items), then
#     each workload with the same h2load settings and its bearer key;
#     AssignCredits runs in its own billingd process per setting so that the
#     writer's group-commit figures (logged on SIGTERM, --settle seconds after
#     the load, default 1) are that load's alone;
#     then tools/bench/sdk_latency (1 connection, 1 call at a time);
#     the outbox (issue 15): AssignCredits again per setting with
#     billingd --events off, and at 16x64 and 1x1 with a watcher
#     (tools/bench/watch_latency: commit -> WatchEvents delivery latency);
#  3. the same on a store --small-scale (default S/10) big, and the ratios.
#
# D: an h2load duration (5s, 500ms; a bare number is seconds).
# Every load is bounded (a duration, run --repeat times, best req/s kept: the
# machine may be shared); all traffic goes to 127.0.0.1. Output:
# the tables on stdout (markdown), raw h2load output and logs in the work
# directory (removed at the end unless --keep). RPCs the server does not
# implement yet are reported as "n/a (not implemented)".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
scale=1
small_scale=
no_small=0
duration=5s
warmup=1s
sdk_calls=2000
lmdb_seconds=3
repeat=1
settle=1
threads=$(nproc)
work=
keep=0

while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--scale) scale=$2; shift 2 ;;
	--small-scale) small_scale=$2; shift 2 ;;
	--no-small) no_small=1; shift ;;
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--sdk-calls) sdk_calls=$2; shift 2 ;;
	--lmdb-seconds) lmdb_seconds=$2; shift 2 ;;
	--repeat) repeat=$2; shift 2 ;;
	--settle) settle=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ -n "$small_scale" ] || small_scale=$(awk -v s="$scale" 'BEGIN { printf "%g", s / 10 }')

bin=$build/tools/bench
billingd=$build/server/billingd
for f in "$bin/echo_server" "$bin/lmdb_commit" "$bin/seed" "$bin/sdk_latency" "$bin/watch_latency" \
	"$billingd"; do
	[ -x "$f" ] || { echo "run.sh: $f missing: build first (cmake --build build)" >&2; exit 1; }
done
command -v h2load >/dev/null || { echo "run.sh: h2load missing (apt-get install nghttp2-client)" >&2; exit 1; }

if [ -z "$work" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/spb-bench.XXXXXX")
else
	mkdir -p "$work"
fi
pids=()
cleanup() {
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "run.sh: work directory kept: $work" >&2; fi
}
trap cleanup EXIT

workloads=(GetCreditBalance GetCatalog QuoteServices AssignCredits ListItems)
settings=("16 64" "16 4" "1 1")
clk_tck=$(getconf CLK_TCK)
echo_path=/bench.v1.EchoService/Echo

log() { echo "run.sh: $*" >&2; }

# ---------------------------------------------------------------------------
# helpers

wait_port() { # file pid
	local i
	for i in $(seq 1 300); do
		[ -s "$1" ] && { cat "$1"; return 0; }
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

cpu_ticks() { # pid: utime + stime
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

rss_anon_kib() { # pid
	awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"
}

# h2load_once tag port path args...: one timed run; "$work/$tag.res":
# rps p50_us p99_us cpu_us_per_req bytes_per_req done load1
h2load_once() {
	local tag=$1 port=$2 path=$3 pid=$4
	shift 4
	local t0 t1 rps done_n data pct
	t0=$(cpu_ticks "$pid")
	h2load -D "$duration" "$@" --log-file="$work/$tag.log" \
		"http://127.0.0.1:$port$path" >"$work/$tag.out" 2>&1 || true
	t1=$(cpu_ticks "$pid")
	rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$work/$tag.out")
	done_n=$(awk '/^requests:/ { print $8 }' "$work/$tag.out")
	data=$(sed -n 's/^traffic:.*(\([0-9]*\)) data.*/\1/p' "$work/$tag.out")
	pct=$(cut -f3 "$work/$tag.log" 2>/dev/null | sort -n |
		awk '{ a[NR] = $1 } END { if (NR == 0) print "0 0"; else print a[int(NR * 0.50) + 1], a[int(NR * 0.99) + 1] }')
	rm -f "$work/$tag.log"
	awk -v rps="${rps:-0}" -v pct="$pct" -v t0="$t0" -v t1="$t1" -v tck="$clk_tck" \
		-v n="${done_n:-0}" -v d="${data:-0}" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
		'BEGIN { split(pct, p, " "); printf "%s %s %s %.1f %.1f %d %s\n", rps, p[1], p[2],
			(n > 0 ? (t1 - t0) * 1e6 / tck / n : 0), (n > 0 ? d / n : 0), n, l }' >"$work/$tag.res"
}

# h2load_run tag port path reqfile conns streams key pid: a warm-up, then
# --repeat timed runs; the one with the most req/s is kept as "$work/$tag.res".
h2load_run() {
	local tag=$1 port=$2 path=$3 req=$4 c=$5 m=$6 key=$7 pid=$8 r
	local args=(-c "$c" -m "$m" -t 1 --header 'content-type: application/grpc'
		--header 'te: trailers' -d "$req")
	[ -n "$key" ] && args+=(--header "authorization: Bearer $key")
	h2load -D "$warmup" "${args[@]}" "http://127.0.0.1:$port$path" >"$work/$tag.warm" 2>&1 || true
	for r in $(seq 1 "$repeat"); do
		h2load_once "$tag.$r" "$port" "$path" "$pid" "${args[@]}"
		if [ ! -s "$work/$tag.res" ] ||
			awk -v a="$(cut -d' ' -f1 "$work/$tag.$r.res")" -v b="$(cut -d' ' -f1 "$work/$tag.res")" \
				'BEGIN { exit !(a > b) }'; then
			cp "$work/$tag.$r.res" "$work/$tag.res"
		fi
	done
}

start_billingd() { # name data-dir [billingd args...] -> sets bd_pid, bd_port
	local name=$1 dir=$2
	shift 2
	rm -f "$work/$name.port"
	"$billingd" --listen 127.0.0.1:0 --port-file "$work/$name.port" --data-dir "$dir" \
		--quiet-calls --threads "$threads" "$@" 2>"$work/$name.log" &
	bd_pid=$!
	pids+=("$bd_pid")
	bd_port=$(wait_port "$work/$name.port" "$bd_pid") || {
		cat "$work/$name.log" >&2
		echo "run.sh: billingd did not start" >&2
		exit 1
	}
}

forget_pid() { # pid: no longer ours to clean up
	local p keep_pids=()
	for p in "${pids[@]+"${pids[@]}"}"; do
		[ "$p" = "$1" ] || keep_pids+=("$p")
	done
	pids=("${keep_pids[@]+"${keep_pids[@]}"}")
}

stop_billingd() { # name -> sets bd_writer ("N M mean max" or "")
	local name=$1 rc=0
	# Let calls the load generator abandoned finish before the shutdown.
	sleep "$settle"
	kill -TERM "$bd_pid"
	wait "$bd_pid" || rc=$?
	forget_pid "$bd_pid"
	if [ "$rc" != 0 ]; then
		log "billingd ($name) exited with status $rc on SIGTERM: $(grep -v ' INFO ' "$work/$name.log" | tail -1)"
		echo "$name: exit status $rc: $(grep -v ' INFO ' "$work/$name.log" | tail -1)" >>"$work/billingd-exits"
	fi
	bd_writer=$(sed -n 's/.*writer: \([0-9]*\) mutations in \([0-9]*\) batches (mean \([0-9.]*\), max \([0-9]*\)).*/\1 \2 \3 \4/p' \
		"$work/$name.log" | tail -1)
}

# ---------------------------------------------------------------------------
# 0. the machine

echo "## Machine"
echo
echo "- nproc: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "- memory: $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); kernel: $(uname -r)"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- settings: duration $duration per load (+ $warmup warm-up), best of $repeat, server threads $threads, scale $scale, small scale $small_scale"
echo

# ---------------------------------------------------------------------------
# 1. the limits

log "lmdb_commit (${lmdb_seconds}s per mode)"
"$bin/lmdb_commit" --dir "$work/lmdb" --seconds "$lmdb_seconds" >"$work/lmdb.out"
rm -rf "$work/lmdb"
fsync_us=$(awk '/^lmdb 1 put\/commit/ { print $(NF - 1) }' "$work/lmdb.out")
echo "## Limits"
echo
echo '```'
cat "$work/lmdb.out"
echo '```'
echo


# ---------------------------------------------------------------------------
# 2. the echo server and billingd at a scale

# The echo request: a GetCreditBalanceRequest-sized message (field 1 = "inst01").
printf '\000\000\000\000\010\012\006inst01' >"$work/echo.bin"

# bench_echo label: the echo server at every setting, tags "$label-echo-CxM".
bench_echo() {
	local label=$1 echo_pid echo_port s
	log "[$label] echo server"
	rm -f "$work/echo.port"
	"$bin/echo_server" --listen 127.0.0.1:0 --port-file "$work/echo.port" --threads "$threads" \
		--method "$echo_path" 2>"$work/echo-$label.log" &
	echo_pid=$!
	pids+=("$echo_pid")
	echo_port=$(wait_port "$work/echo.port" "$echo_pid") || { echo "run.sh: echo_server did not start" >&2; exit 1; }
	for s in "${settings[@]}"; do
		set -- $s
		log "[$label] echo ${1}x$2"
		# The same settings as billingd's loads, bearer header included (a key of
		# the same shape; the echo server ignores it, but HTTP/2 still carries it).
		h2load_run "$label-echo-${1}x$2" "$echo_port" "$echo_path" "$work/echo.bin" "$1" "$2" \
			"spb_0123456789abcdef_$(printf '%064d' 0)" "$echo_pid"
		rss_anon_kib "$echo_pid" >"$work/$label-echo-${1}x$2.rss"
	done
	kill -TERM "$echo_pid"
	wait "$echo_pid" || true
	forget_pid "$echo_pid"
}

# bench_scale label scale: the echo limit again (same moment, same machine
# load), then a fresh store, seeded, and every workload.
bench_scale() {
	local label=$1 sc=$2 dir=$work/data-$1 out=$work/seed-$1
	mkdir -p "$out"
	bench_echo "$label"
	log "[$label] billingd + seed --scale $sc"
	start_billingd "seed-$label" "$dir"
	local t0=$SECONDS
	"$bin/seed" --target "127.0.0.1:$bd_port" --key-file "$dir/admin.key" --out "$out" \
		--scale "$sc" --threads 4 2>"$work/seed-$label.err" || {
		cat "$work/seed-$label.err" >&2
		exit 1
	}
	echo "seed_seconds $((SECONDS - t0))" >"$work/$label.meta"
	echo "seed_rss $(rss_anon_kib "$bd_pid")" >>"$work/$label.meta"
	stop_billingd "seed-$label"
	echo "seed_writer $bd_writer" >>"$work/$label.meta"
	echo "store_kib $(du -sk "$dir" | cut -f1)" >>"$work/$label.meta"
	# shellcheck disable=SC1091
	. "$out/bench.env"

	# Reads: one billingd process, every read workload and setting.
	start_billingd "reads-$label" "$dir"
	local w st s
	for w in "${workloads[@]}"; do
		[ "$w" = AssignCredits ] && continue
		st=$(sed -n "s/^STATUS_$w=//p" "$out/bench.env")
		[ "$st" = ok ] || continue
		for s in "${settings[@]}"; do
			set -- $s
			log "[$label] $w ${1}x$2"
			h2load_run "$label-$w-${1}x$2" "$bd_port" "$(cat "$out/path_$w")" "$out/req_$w.bin" \
				"$1" "$2" "$BENCH_KEY" "$bd_pid"
			echo "$(rss_anon_kib "$bd_pid")" >"$work/$label-$w-${1}x$2.rss"
		done
	done
	echo "reads_rss $(rss_anon_kib "$bd_pid")" >>"$work/$label.meta"
	stop_billingd "reads-$label"
	echo "reads_writer $bd_writer" >>"$work/$label.meta"

	# AssignCredits: one process per setting, for its writer figures.
	st=$(sed -n "s/^STATUS_AssignCredits=//p" "$out/bench.env")
	if [ "$st" = ok ]; then
		for s in "${settings[@]}"; do
			set -- $s
			log "[$label] AssignCredits ${1}x$2"
			start_billingd "assign-$label-${1}x$2" "$dir"
			h2load_run "$label-AssignCredits-${1}x$2" "$bd_port" "$(cat "$out/path_AssignCredits")" \
				"$out/req_AssignCredits.bin" "$1" "$2" "$BENCH_KEY" "$bd_pid"
			echo "$(rss_anon_kib "$bd_pid")" >"$work/$label-AssignCredits-${1}x$2.rss"
			stop_billingd "assign-$label-${1}x$2"
			echo "$bd_writer" >"$work/$label-AssignCredits-${1}x$2.writer"
			# the same without the outbox, right after (issue 15)
			log "[$label] AssignCredits ${1}x$2, events off"
			start_billingd "assign-noev-$label-${1}x$2" "$dir" --events off
			h2load_run "$label-AssignCreditsNoEvents-${1}x$2" "$bd_port" \
				"$(cat "$out/path_AssignCredits")" "$out/req_AssignCredits.bin" "$1" "$2" \
				"$BENCH_KEY" "$bd_pid"
			stop_billingd "assign-noev-$label-${1}x$2"
		done
		# commit -> watcher latency while AssignCredits runs (the watcher
		# sees every event: the vendor's key)
		for s in "16 64" "1 1"; do
			set -- $s
			log "[$label] AssignCredits ${1}x$2 with a WatchEvents watcher"
			start_billingd "assign-watch-$label-${1}x$2" "$dir"
			rm -f "$work/watch.stop"
			"$bin/watch_latency" --target "127.0.0.1:$bd_port" --key-file "$dir/admin.key" \
				--seconds 3600 --stop-file "$work/watch.stop" \
				>"$work/$label-watch-${1}x$2.out" 2>"$work/$label-watch-${1}x$2.err" &
			local wpid=$!
			pids+=("$wpid")
			sleep 0.5
			h2load_run "$label-AssignCreditsWatched-${1}x$2" "$bd_port" \
				"$(cat "$out/path_AssignCredits")" "$out/req_AssignCredits.bin" "$1" "$2" \
				"$BENCH_KEY" "$bd_pid"
			touch "$work/watch.stop"
			wait "$wpid" || true
			forget_pid "$wpid"
			stop_billingd "assign-watch-$label-${1}x$2"
		done
	fi

	# SDK latency: 1 connection, 1 call at a time.
	log "[$label] sdk_latency"
	start_billingd "sdk-$label" "$dir"
	"$bin/sdk_latency" --target "127.0.0.1:$bd_port" --env "$out/bench.env" --calls "$sdk_calls" \
		>"$work/$label.sdk" 2>"$work/$label.sdk.err" || true
	echo "end_rss $(rss_anon_kib "$bd_pid")" >>"$work/$label.meta"
	stop_billingd "sdk-$label"
}

bench_scale full "$scale"
[ "$no_small" = 1 ] || bench_scale small "$small_scale"

# ---------------------------------------------------------------------------
# 3. the tables

res() { # tag field(1..6)
	if [ -s "$work/$1.res" ]; then awk -v f="$2" '{ print $f }' "$work/$1.res"; else echo ""; fi
}
meta() { # label key
	awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$work/$1.meta"
}

print_table() { # label
	local label=$1 out=$work/seed-$1 w s tag st rps p50 p99 cpu bpr rss ratio erps exp ok
	# shellcheck disable=SC1091
	. "$out/bench.env"
	echo "## billingd, scale $(sed -n 's/^SEED_SCALE=//p' "$out/bench.env") ($label):" \
		"$SEED_PROJECTS projects, $SEED_ITEMS items, $SEED_INSTALLERS installers," \
		"store $(( $(meta "$label" store_kib) / 1024 )) MiB, seeded in $(meta "$label" seed_seconds) s"
	echo
	echo "| workload | c×m | req/s | p50 µs | p99 µs | vs echo | server CPU µs/req | resp B/req | RssAnon MiB | load1 |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for s in "${settings[@]}"; do
		set -- $s
		tag=$label-echo-${1}x$2
		printf '| echo (limit) | %s×%s | %.0f | %s | %s | 1.00 | %s | %s | %.1f | %s |\n' "$1" "$2" \
			"$(res "$tag" 1)" "$(res "$tag" 2)" "$(res "$tag" 3)" "$(res "$tag" 4)" \
			"$(res "$tag" 5)" "$(awk -v k="$(cat "$work/$tag.rss")" 'BEGIN { print k / 1024 }')" "$(res "$tag" 7)"
	done
	for w in "${workloads[@]}"; do
		st=$(sed -n "s/^STATUS_$w=//p" "$out/bench.env")
		for s in "${settings[@]}"; do
			set -- $s
			tag=$label-$w-${1}x$2
			if [ "$st" != ok ]; then
				if [ "$st" = unimplemented ]; then
					echo "| $w | ${1}×$2 | n/a (not implemented) | | | | | | | |"
				else
					echo "| $w | ${1}×$2 | n/a (error: see seed log) | | | | | | | |"
				fi
				continue
			fi
			rps=$(res "$tag" 1)
			erps=$(res "$label-echo-${1}x$2" 1)
			exp=$(sed -n "s/^RESP_BYTES_$w=//p" "$out/bench.env")
			bpr=$(res "$tag" 5)
			ok=""
			# A gRPC error carries no message: far fewer bytes than the probe's reply.
			if [ -n "$exp" ] && awk -v b="$bpr" -v e="$exp" 'BEGIN { exit !(b < 0.9 * (e + 5)) }'; then
				ok=" (ERRORS)"
			fi
			rss=$(cat "$work/$tag.rss" 2>/dev/null || echo 0)
			printf '| %s | %s×%s | %.0f | %s | %s | %.2f | %s | %s%s | %.1f | %s |\n' "$w" "$1" "$2" "$rps" \
				"$(res "$tag" 2)" "$(res "$tag" 3)" \
				"$(awk -v a="$rps" -v b="$erps" 'BEGIN { print (b > 0 ? a / b : 0) }')" \
				"$(res "$tag" 4)" "$bpr" "$ok" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(res "$tag" 7)"
		done
	done
	echo
	echo "- RssAnon of billingd: $(awk -v k="$(meta "$label" reads_rss)" 'BEGIN { printf "%.1f", k / 1024 }') MiB" \
		"after all read loads; $(awk -v k="$(meta "$label" end_rss)" 'BEGIN { printf "%.1f", k / 1024 }') MiB" \
		"after the SDK run; $(awk -v k="$(meta "$label" seed_rss)" 'BEGIN { printf "%.1f", k / 1024 }') MiB" \
		"at the end of seeding (seeding process)"
	echo "- seeding writer: $(meta "$label" seed_writer | awk '{ if (NF) printf "%s mutations in %s batches (mean %s, max %s)", $1, $2, $3, $4; else print "n/a" }')"
	echo "- writer of the read loads' process: $(meta "$label" reads_writer | awk '{ if (NF) printf "%s mutations in %s batches (mean %s, max %s)", $1, $2, $3, $4; else print "n/a" }')"
	for s in "${settings[@]}"; do
		set -- $s
		if [ -s "$work/$label-AssignCredits-${1}x$2.writer" ]; then
			echo "- AssignCredits ${1}×$2 group commit: $(awk '{ if (NF) printf "%s mutations in %s batches (mean %s, max %s)", $1, $2, $3, $4; else print "n/a (billingd did not log its writer figures)" }' \
				"$work/$label-AssignCredits-${1}x$2.writer")"
		fi
	done
	if [ -s "$work/$label-AssignCreditsNoEvents-16x64.res" ]; then
		echo
		echo "Outbox (issue 15): AssignCredits with every transfer's credits.assigned event"
		echo "committed with it, and the same with \`billingd --events off\` (a process each, one after"
		echo "the other); then with a WatchEvents watcher of every event (tools/bench/watch_latency:"
		echo "delivery latency = receipt - the event's create_time, taken inside the write"
		echo "transaction, so it includes the group commit's fsync):"
		echo
		echo "| c×m | req/s with events | req/s without | ratio | CPU µs/req with | CPU µs/req without | p50 µs with | p50 µs without |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		for s in "${settings[@]}"; do
			set -- $s
			local on=$label-AssignCredits-${1}x$2 off=$label-AssignCreditsNoEvents-${1}x$2
			printf '| %s×%s | %.0f | %.0f | %s | %s | %s | %s | %s |\n' "$1" "$2" "$(res "$on" 1)" "$(res "$off" 1)" \
				"$(awk -v a="$(res "$on" 1)" -v b="$(res "$off" 1)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" \
				"$(res "$on" 4)" "$(res "$off" 4)" "$(res "$on" 2)" "$(res "$off" 2)"
		done
		echo
		echo "| load | AssignCredits req/s | its p50 / p99 µs | events watched | delivery p50 µs | p99 µs | max µs | gaps |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		for s in "16 64" "1 1"; do
			set -- $s
			local t=$label-AssignCreditsWatched-${1}x$2 wl
			wl=$(cat "$work/$label-watch-${1}x$2.out" 2>/dev/null)
			printf '| %s×%s | %.0f | %s / %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$(res "$t" 1)" \
				"$(res "$t" 2)" "$(res "$t" 3)" \
				"$(awk '{ print $3 }' <<<"$wl")" "$(awk '{ print $5 }' <<<"$wl")" \
				"$(awk '{ print $7 }' <<<"$wl")" "$(awk '{ print $9 }' <<<"$wl")" "$(awk '{ print $11 }' <<<"$wl")"
		done
		echo
	fi
	echo "- SDK latency (1 connection, 1 call at a time, $sdk_calls calls):"
	echo
	echo '```'
	cat "$work/$label.sdk"
	echo '```'
	echo
}

# The durability limit again, after the loads (the disk may be shared too).
"$bin/lmdb_commit" --dir "$work/lmdb" --seconds "$lmdb_seconds" --batch 1 >"$work/lmdb-end.out"
rm -rf "$work/lmdb"

print_table full
[ "$no_small" = 1 ] || print_table small

echo "## Targets (scale $scale)"
echo
fsync_line="1 fsync = ${fsync_us} µs (lmdb_commit, 1 put per commit, at the start; $(awk '{ print $(NF - 1) }' "$work/lmdb-end.out") µs at the end)"
e64=$(res full-echo-16x64 1)
e11=$(res full-echo-1x1 2)
target() { # description met?(1/0/"") figure
	local verdict
	case "$2" in
	1) verdict=met ;;
	0) verdict=MISSED ;;
	*) verdict="n/a (not implemented)" ;;
	esac
	echo "| $1 | $3 | $verdict |"
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? 1 : 0 }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
status_of() { sed -n "s/^STATUS_$1=//p" "$work/seed-full/bench.env"; }
echo "| target | measured | verdict |"
echo "|---|---|---|"
for w in GetCreditBalance GetCatalog; do
	if [ "$(status_of $w)" = ok ]; then
		r=$(awk -v a="$(res "full-$w-16x64" 1)" -v b="$e64" 'BEGIN { printf "%.2f", a / b }')
		target "$w ≥ 0.70 × echo req/s at 16×64" "$(ge "$r" 0.70)" "$r × echo"
	else
		target "$w ≥ 0.70 × echo req/s at 16×64" "" ""
	fi
done
if [ "$(status_of AssignCredits)" = ok ]; then
	r=$(awk -v a="$(res full-AssignCredits-16x64 1)" -v b="$e64" 'BEGIN { printf "%.2f", a / b }')
	target "AssignCredits ≥ 0.40 × echo req/s at 16×64 (durable)" "$(ge "$r" 0.40)" \
		"$r × echo ($(res full-AssignCredits-16x64 1 | awk '{ printf "%.0f", $1 }') req/s; mean batch $(awk '{ print $3 }' "$work/full-AssignCredits-16x64.writer"))"
	r=$(res full-AssignCredits-16x64 1)
	target "AssignCredits ≥ 7 × PostgreSQL TPC-B (the issue's 5,600 tps, not measured here: 39,200 req/s)" "$(ge "$r" 39200)" "$(printf '%.0f' "$r") req/s"
else
	target "AssignCredits ≥ 0.40 × echo req/s at 16×64 (durable)" "" ""
	target "AssignCredits ≥ 7 × PostgreSQL TPC-B" "" ""
fi
if [ -s "$work/full-AssignCreditsNoEvents-16x64.res" ]; then
	r=$(awk -v a="$(res full-AssignCredits-16x64 1)" -v b="$(res full-AssignCreditsNoEvents-16x64 1)" \
		'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	target "AssignCredits with the outbox ≥ 0.90 × without, 16×64 (issue 15)" "$(ge "$r" 0.90)" \
		"$r × ($(res full-AssignCredits-16x64 1 | awk '{ printf "%.0f", $1 }') vs $(res full-AssignCreditsNoEvents-16x64 1 | awk '{ printf "%.0f", $1 }') req/s; CPU $(res full-AssignCredits-16x64 4) vs $(res full-AssignCreditsNoEvents-16x64 4) µs/req)"
fi
if [ "$(status_of QuoteServices)" = ok ]; then
	r=$(awk -v a="$(res full-QuoteServices-16x64 1)" -v b="$e64" 'BEGIN { printf "%.2f", a / b }')
	target "QuoteServices (100 items) ≥ 0.25 × echo" "$(ge "$r" 0.25)" "$r × echo"
else
	target "QuoteServices (100 items) ≥ 0.25 × echo" "" ""
fi
for w in GetCreditBalance GetCatalog QuoteServices ListItems; do
	if [ "$(status_of $w)" = ok ]; then
		p=$(res "full-$w-1x1" 2)
		note=""
		target "$w unloaded p50 ≤ 2 × echo's ($e11 µs)" "$(le "$p" $((2 * e11)))" "$p µs (h2load 1×1$note)"
	else
		target "$w unloaded p50 ≤ 2 × echo's" "" ""
	fi
done
if [ "$(status_of AssignCredits)" = ok ]; then
	p=$(res full-AssignCredits-1x1 2)
	lim=$(awk -v a="$e11" -v b="$fsync_us" 'BEGIN { printf "%.0f", a + b }')
	target "AssignCredits unloaded p50 ≤ echo's + 1 fsync ($lim µs; $fsync_line)" "$(le "$p" "$lim")" "$p µs (h2load 1×1)"
else
	target "AssignCredits unloaded p50 ≤ echo's + 1 fsync" "" ""
fi
rss=$(meta full reads_rss)
rss2=$(meta full end_rss)
[ "${rss2:-0}" -gt "${rss:-0}" ] && rss=$rss2
target "RssAnon < 64 MiB at the end with $(sed -n 's/^SEED_ITEMS=//p' "$work/seed-full/bench.env") items" \
	"$(awk -v k="$rss" 'BEGIN { print (k < 65536) ? 1 : 0 }')" "$(awk -v k="$rss" 'BEGIN { printf "%.1f MiB", k / 1024 }')"
if [ "$no_small" = 0 ]; then
	for w in "${workloads[@]}"; do
		if [ "$(status_of $w)" = ok ]; then
			# Each figure relative to the echo server measured just before
			# it (same machine load), full store over small store.
			r=$(awk -v a="$(res "full-$w-16x64" 1)" -v ea="$(res full-echo-16x64 1)" \
				-v b="$(res "small-$w-16x64" 1)" -v eb="$(res small-echo-16x64 1)" \
				'BEGIN { printf "%.2f", (b > 0 && ea > 0 ? (a / ea) / (b / eb) : 0) }')
			rp=$(awk -v a="$(res "full-$w-1x1" 2)" -v ea="$(res full-echo-1x1 2)" \
				-v b="$(res "small-$w-1x1" 2)" -v eb="$(res small-echo-1x1 2)" \
				'BEGIN { printf "%.2f", (b > 0 && ea > 0 ? (a / ea) / (b / eb) : 0) }')
			raw=$(awk -v a="$(res "full-$w-16x64" 1)" -v b="$(res "small-$w-16x64" 1)" \
				-v pa="$(res "full-$w-1x1" 2)" -v pb="$(res "small-$w-1x1" 2)" \
				'BEGIN { printf "raw: req/s %.2f ×, p50 %.2f ×", (b > 0 ? a / b : 0), (pb > 0 ? pa / pb : 0) }')
			ok=$(awk -v r="$r" -v p="$rp" 'BEGIN { print (r >= 0.8 && p <= 1.2) ? 1 : 0 }')
			target "$w: full store no more than 20% worse than the 10× smaller one (req/s 16×64 ≥ 0.8 ×, p50 1×1 ≤ 1.2 ×; each relative to its echo)" "$ok" \
				"req/s $r ×, p50 $rp × ($raw)"
		else
			target "$w: full store within 20% of the 10× smaller one" "" ""
		fi
	done
fi
echo
if [ -s "$work/billingd-exits" ]; then
	echo "billingd did not stop cleanly on SIGTERM:"
	echo
	sed 's/^/- /' "$work/billingd-exits"
	echo
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (load1 column: 1-minute load average after each load; above ~1.5, other processes shared the 2 CPUs)"
echo
echo "BENCH_DONE"
