#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Load cowdev, run its tools as a user runs them (cowstat, cowtrace,
# cowdemo, cowbench, cowtorture: on PATH, as in the guest), check what they
# print against what the device did, unload it.  Prints TAP; skips the
# tools that are not on PATH.
#
#   test_tools.sh

lib=$(dirname "$0")/cowdev_lib.sh
# shellcheck source=selftests/cowdev_lib.sh source-path=SCRIPTDIR/..
. "$lib"

cowdev_begin
cowdev_load

# Read cowdemo's "page N: pfn X ... -> pfn Y ..." lines: the forked
# child starts on the parent's frames and its write moves to new ones; the
# source's write after CLONE moves to a new frame, and the clone, writing
# after it, stays on the frame both shared.
cowdemo_frames_move() {
	awk '
	function pfn(s) { if (s !~ /pfn 0x/) return ""; sub(/.*pfn /, "", s); sub(/ .*/, "", s); return s }
	/^== / { sec = $0 }
	/^   the parent/ { who = "parent" }
	/^   the child/ { who = "child" }
	/^   page [0-9]+: / {
		i = $2; sub(/:/, "", i)
		split($0, h, " -> ")
		b = pfn(h[1]); a = pfn(h[2])
		if (sec ~ /^== fork/ && who == "child") { cb[i] = b; ca[i] = a }
		else if (sec ~ /^== fork/) { pa[i] = b }
		else if (sec ~ /^== COWDEV_IOC_CLONE/) { sb[i] = b; sa[i] = a }
		else if (sec ~ /^== \.\.\. then write the same pages in the clone/) { kb[i] = b; ka[i] = a }
	}
	END {
		for (i = 0; i < 4; i++) {
			if (pa[i] == "" || cb[i] != pa[i] || ca[i] == "" || ca[i] == cb[i]) bad++
			if (sb[i] == "" || sa[i] == "" || sa[i] == sb[i]) bad++
			if (kb[i] != sb[i] || ka[i] != kb[i]) bad++
		}
		exit bad > 0
	}'
}

# Read cowdemo's paging chapter: the first read of an evicted page is one
# major fault that reads a window (readahead), and of two threads reading
# an evicted page, one reads it and the other waits on its lock.
cowdemo_pages_back() {
	awk '
	/^== / { sec = $0 }
	/^   object / && sec ~ /^== read the first 4/ {
		if ($0 ~ / major_faults \+1( |$)/ && $0 ~ / readahead_pages \+[1-9]/) ok1 = 1
	}
	/^   getrusage: ru_majflt \+1$/ { ok2 = 1 }
	/^   object / && sec ~ /^== evicted again; two threads/ {
		if ($0 ~ / major_faults \+1( |$)/ && $0 ~ / lock_waits \+[12]( |$)/) ok3 = 1
	}
	END { exit !(ok1 && ok2 && ok3) }'
}

# The tools, as a user runs them (in the guest they are on PATH).
if command -v cowstat > /dev/null && command -v cowtrace > /dev/null; then
	cowstat | grep -q '^faults  *[0-9]'
	result $? "cowstat prints the counters"
	cowstat --json | grep -q '^{"objects": [0-9]*, "faults": [0-9]*, .*"pool_limit": [0-9]*, .*"reclaim_asked": [0-9]*}$'
	result $? "cowstat --json is name/number pairs"
	[ "$(cowstat -i 1 -c 2 | grep -c '^faults ')" -eq 2 ]
	result $? "cowstat -i 1 -c 2 prints two samples"
	exec 3<> /dev/cowdev
	id=$(ls /sys/kernel/debug/cowdev/objects)
	cowstat -o "$id" | grep -q "^id  *$id\$"
	result $? "cowstat -o shows one object"
	exec 3<&-
	# The per-CPU ring buffer's size once in use; cowtrace sets 4096 KiB
	# for its run, and the kernel rounds what is put back up to pages.
	kib() {
		sed 's/.*(expanded: \([0-9]*\)).*/\1/' /sys/kernel/tracing/buffer_size_kb
	}
	size=$(kib)
	trace=$(cowtrace -- cowdemo)
	status=$?
	echo "$trace" | sed 's/^/# /'
	[ $status -eq 0 ] && echo "$trace" | grep -q '^cowdev_copy ' &&
		echo "$trace" | grep -q '^bit = locked' &&
		echo "$trace" | grep -q '^bit = writeback'
	result $? "cowtrace -- cowdemo counts events and shows wait histograms"
	echo "$trace" | cowdemo_frames_move
	result $? "cowdemo's pagemap lines: fork and CLONE share a frame, a write moves it"
	echo "$trace" | cowdemo_pages_back &&
		echo "$trace" | grep -q '^cowdev_major_fault ' &&
		echo "$trace" | grep -q '^cowdev_readahead '
	result $? "cowdemo's paging chapter: a major fault reads a window, a second reader waits on its lock"
	# A buffer too small for the run (thousands of faults, some 200 KiB of
	# events, against a few pages a CPU): the events lost are said, and
	# the exit status is not the command's success.
	cowtrace -b 4 -- cowbench -p 256 -r 1 -t lost paths > /dev/null 2> /tmp/cowtrace-lost.txt
	status=$?
	sed 's/^/# /' /tmp/cowtrace-lost.txt
	[ $status -eq 1 ] &&
		grep -q '^cowtrace: the trace buffer overflowed and lost [1-9][0-9]* events' /tmp/cowtrace-lost.txt
	result $? "cowtrace says when the ring buffer lost events, and exits 1"
	rm -f /tmp/cowtrace-lost.txt
	[ "$(cat /sys/kernel/tracing/events/cowdev/enable)" = 0 ] &&
		[ "$(grep -c cowdev /sys/kernel/tracing/trace)" -eq 0 ] &&
		[ "$(kib)" -ge "$size" ] && [ "$(kib)" -lt 4096 ]
	result $? "cowtrace leaves tracefs as it found it (events, buffer and its size)"
	# A timeline in a format gnuplot is not asked for: usage, exit 2,
	# and tracefs untouched (nothing is enabled before the check).
	cowtrace -o /tmp/cowtrace-timeline.txt -- true 2> /dev/null
	status=$?
	[ $status -eq 2 ] && [ ! -e /tmp/cowtrace-timeline.txt ] &&
		[ "$(cat /sys/kernel/tracing/events/cowdev/enable)" = 0 ]
	result $? "cowtrace -o with neither .svg nor .png: usage, exit 2"
	# The timeline: an SVG with a lane for each thread that the summary
	# names, as many wait bars as cowdev_wait_end events, and wakes.
	if command -v gnuplot > /dev/null; then
		tl=$(mktemp -d)
		out=$(cowtrace -o "$tl/run.svg" -- cowdemo 2>&1)
		status=$?
		line=$(echo "$out" | grep "^timeline $tl/run.svg: ")
		echo "# $line"
		waits=$(echo "$out" | awk '$1 == "cowdev_wait_end" { print $2 }')
		lanes=$(echo "$line" | sed -n 's/.*: \([0-9]*\) lanes (\(.*\)), .*/\1/p')
		ok=$status
		[ "${lanes:-0}" -ge 2 ] && [ "${waits:-0}" -ge 1 ] &&
			echo "$line" | grep -q ", $waits waits, [1-9][0-9]* wakes$" &&
			head -n 1 "$tl/run.svg" | grep -q '^<?xml' &&
			tail -n 2 "$tl/run.svg" | grep -q '^</svg>$' || ok=1
		for label in $(echo "$line" | sed 's/.*lanes (\(.*\)), .*/\1/; s/tid /tid_/g; s/,//g'); do
			grep -q ">$(echo "$label" | tr _ ' ')<" "$tl/run.svg" || ok=1
		done
		rm -rf "$tl"
		result $ok "cowtrace -o run.svg draws a lane per thread, each wait and its wake"
	else
		skip "cowtrace -o: a timeline" "gnuplot not on PATH"
	fi
	# The benchmark, small: one CSV row per path and backing it applies to
	# (pfn mode, where there is one, has a row for each of the 11 paths,
	# two first-touch rows, a scaling row and 6 paging rows; memfd and
	# anonymous memory have a write-after-read row where the kernel tracks
	# soft-dirty PTEs, which smaps flags "sd").
	pfn=1 sd=1
	grep -qx "modes page,pfn" /sys/kernel/debug/cowdev/stats || pfn=0
	grep -q '^VmFlags:.* sd' /proc/self/smaps || sd=0
	rows=$(cowbench -p 16 -r 1 -t smoke paths)
	[ "$(echo "$rows" | grep -c ',smoke,1,')" -eq $((25 + 11 * pfn + 2 * sd)) ] &&
		[ "$(echo "$rows" | grep -c '^[^,]*,cowdev-pfn,')" -eq $((11 * pfn)) ] &&
		echo "$rows" | grep -q '^clone_cow_write,anon,' &&
		scaling=$(cowbench -p 16 -r 1 scaling) &&
		[ "$(echo "$scaling" | grep -c '^first_touch_')" -eq $((6 + 2 * pfn)) ] &&
		[ "$(echo "$scaling" | grep -c '^scaling_2_threads,')" -eq $((3 + pfn)) ]
	result $? "cowbench measures every path on every backing"
	# Paging: 3 rows (time, major faults, reads) for each way back in
	# each order; the swap rows where the kernel has swap and cgroup v2's
	# memory controller (cowbench mounts cgroup2 if it can).
	if [ -n "${COWDEV_DIRECT_DIR:-}" ]; then
		err=$(mktemp)
		rows=$(cowbench -p 16 -r 1 -t smoke -D "$COWDEV_DIRECT_DIR" paging 2>"$err")
		want=$((12 + 6 * pfn))
		[ -e /proc/swaps ] &&
			grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null &&
			want=$((want + 12))
		[ "$(echo "$rows" | grep -c ',smoke,1,')" -eq $want ] &&
			! grep -q cowbench-swap /proc/swaps 2>/dev/null
		ok=$?
		[ $ok -eq 0 ] || sed 's/^/# cowbench: /' "$err"
		rm -f "$err"
		result $ok "cowbench pages out to stores, ext4 and swap, and reads back"
	else
		skip "cowbench paging" "no disk in this guest (COWDEV_DIRECT_DIR)"
	fi
else
	echo "# SKIP: cowstat and cowtrace not on PATH"
fi

# The tracepoints as people read them: perf, trace-cmd and bpftrace, each
# checked against the debugfs counters over the same cowdemo run (nothing
# else uses the device meanwhile).  stat NAME: a global counter now.
stat() {
	awk -v k="$1" '$1 == k { print $2 }' /sys/kernel/debug/cowdev/stats
}
# counters: "faults mkwrites reuse copy waits" now, as the events count
# them (cowdev_mkwrite fires for ->page_mkwrite and ->pfn_mkwrite, and
# cowdev_wait_end for page-lock and writeback waits alike).
counters() {
	echo "$(stat faults) $(($(stat mkwrite) + $(stat pfn_mkwrite)))" \
		"$(stat reuse) $(stat copy)" \
		"$(($(stat lock_waits) + $(stat writeback_waits)))"
}
# delta BEFORE AFTER: the counters' change, "cowdev_fault=N ..." sorted.
delta() {
	echo "$1 $2" | awk '{
		split("cowdev_fault cowdev_mkwrite cowdev_reuse cowdev_copy cowdev_wait_end", e)
		for (i = 1; i <= 5; i++) print e[i] "=" $(i + 5) - $i }' | sort
}
# counted_matches TOOL COUNTED: show what TOOL counted beside the change in
# the counters from $before to $after; true if they agree.
counted_matches() {
	want=$(delta "$before" "$after")
	echo "# $1: $(echo $2); debugfs: $(echo $want)"
	[ "$2" = "$want" ]
}
events=$(for e in /sys/kernel/tracing/events/cowdev/cowdev_*; do
	[ -d "$e" ] && basename "$e"; done | sort)

if command -v perf > /dev/null; then
	listed=$(perf list 'cowdev:*' 2> /dev/null |
		sed -n 's/^ *cowdev:\(cowdev_[a-z_]*\) .*Tracepoint event.*/\1/p' | sort)
	[ -n "$events" ] && [ "$listed" = "$events" ]
	result $? "perf list 'cowdev:*' lists every cowdev event"
	# -a: counters on each CPU, not on the task.  A task's counters
	# switch on perf_sched_events, a static branch in __schedule(), and
	# TCG has run a vCPU into that branch's int3 while the other patched
	# it: a 6.12 guest died at __schedule+0x407, inside the branch's NOP
	# (__jump_table puts perf_sched_events there).  A CPU's counters
	# patch only the module's own tracepoint branches, and count the
	# same events: nothing else uses the device meanwhile.
	before=$(counters)
	out=$(perf stat -a -x, -e 'cowdev:*' -- cowdemo 2>&1 > /dev/null)
	status=$?
	after=$(counters)
	echo "$out" | sed 's/^/# /'
	counted=$(echo "$out" | awk -F, '$3 ~ /^cowdev:cowdev_(fault|mkwrite|reuse|copy|wait_end)$/ {
		sub(/^cowdev:/, "", $3); print $3 "=" $1 }' | sort)
	counted_matches perf "$counted" && [ $status -eq 0 ]
	result $? "perf stat -a -e 'cowdev:*' counts what the debugfs counters count"
else
	skip "perf list and perf stat on the cowdev events" "perf not on PATH"
fi

if command -v trace-cmd > /dev/null; then
	dat=$(mktemp)
	before=$(counters)
	log=$(mktemp)
	trace-cmd record -q -e cowdev -o "$dat" cowdemo > /dev/null 2> "$log"
	status=$?
	after=$(counters)
	report=$(trace-cmd report -N -i "$dat" 2>> "$log")
	[ $status -eq 0 ] || sed 's/^/# /' "$log"
	rm -f "$dat" "$log"
	echo "$report" | grep -m 3 'cowdev_' | sed 's/^/# /'
	counted=$(for e in cowdev_fault cowdev_mkwrite cowdev_reuse cowdev_copy cowdev_wait_end; do
		echo "$e=$(echo "$report" | grep -c " $e: ")"; done | sort)
	counted_matches trace-cmd "$counted" && [ $status -eq 0 ] &&
		echo "$report" | grep ' cowdev_fault: ' | grep -q 'obj=[0-9]* pgoff=[0-9]* flags=0x[0-9a-f]* mode=page result=0x' &&
		echo "$report" | grep ' cowdev_wait_end: ' | grep -q 'bit=locked ns=[0-9]'
	result $? "trace-cmd record -e cowdev; report shows every event with its fields"
else
	skip "trace-cmd record and report" "trace-cmd not on PATH"
fi

if ! command -v bpftrace > /dev/null; then
	skip "a bpftrace wait-time histogram" "bpftrace not on PATH"
elif [ ! -e /proc/sys/kernel/unprivileged_bpf_disabled ]; then
	skip "a bpftrace wait-time histogram" "the kernel has no bpf()"
else
	before=$(counters)
	out=$(bpftrace -e 'tracepoint:cowdev:cowdev_wait_end {
		@waits = count(); @ns[args->bit] = hist(args->ns); }' -c cowdemo 2>&1)
	status=$?
	after=$(counters)
	echo "$out" | grep -v '^cowdemo\|^ \|^==\|^$' | sed 's/^/# /'
	waits=$(delta "$before" "$after" | sed -n 's/^cowdev_wait_end=//p')
	[ $status -eq 0 ] && [ "$waits" -gt 0 ] &&
		echo "$out" | grep -q "^@waits: $waits\$" &&
		echo "$out" | grep -q '^@ns\[[0-9]*\]:' &&
		echo "$out" | grep -q '^\[[0-9][0-9KM]*, [0-9KM]*) *[0-9]* |@*|$'
	result $? "bpftrace: a histogram of cowdev_wait_end's ns, as many waits as debugfs"
fi

# The torture tool refuses what it cannot run before it starts: a message
# on stderr naming it, exit 2, and no "seed" line (nothing opened).
if command -v cowtorture > /dev/null; then
	ok=0
	for args in "-m bogus" "-j 0" "-n 999" "-m pfn -x"; do
		# shellcheck disable=SC2086	# each word is an option
		out=$(cowtorture $args -t 1 2> /tmp/cowtorture.err)
		status=$?
		echo "# cowtorture $args: exit $status, $(head -n 1 /tmp/cowtorture.err)"
		[ $status -eq 2 ] && [ -z "$out" ] &&
			grep -q 'cowtorture' /tmp/cowtorture.err || ok=1
	done
	rm -f /tmp/cowtorture.err
	result $ok "cowtorture -m bogus, -j 0, -n 999, -x: a message and exit 2, nothing run"
fi

# The torture tool: random operations from threads and processes, checked
# byte by byte.  COWDEV_TORTURE_SECONDS sets its length (0: none).
seconds=${COWDEV_TORTURE_SECONDS:-20}
if [ "$seconds" -gt 0 ] && command -v cowtorture > /dev/null; then
	log=$(mktemp)
	cowtorture -t "$seconds" ${COWDEV_TORTURE_SEED:+-s "$COWDEV_TORTURE_SEED"} \
		> "$log" 2>&1
	status=$?
	sed 's/^/# /' "$log"
	rm -f "$log"
	result $status "cowtorture for ${seconds}s: no mismatch"
	[ "$(awk '$1 == "pool_in_use" { print $2 }' /sys/kernel/debug/cowdev/stats)" = 0 ]
	result $? "pool_in_use back to 0 after cowtorture"
fi

cowdev_unload
exit $failed
