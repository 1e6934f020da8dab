#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Load cowdev, run its kselftests, unload it.  Prints TAP; exits 0 when
# every test passed, 4 (kselftest "skip") when the module cannot be found,
# 1 otherwise.  Run as root, in a kernel you can afford to break.
#
#   test_cowdev.sh [TEST_BINARY...]

dir=$(dirname "$0")
ksft_skip=4
n=0
failed=0

result() {	# result STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n test_cowdev.sh: $2"
	else
		echo "not ok $n test_cowdev.sh: $2"
		failed=1
	fi
}

if [ "$(id -u)" -ne 0 ]; then
	echo "# SKIP: must be run as root"
	exit $ksft_skip
fi
if ! modinfo cowdev > /dev/null 2>&1; then
	echo "# SKIP: module cowdev not found"
	exit $ksft_skip
fi

modprobe cowdev
result $? "modprobe cowdev"
[ -c /dev/cowdev ]
result $? "/dev/cowdev exists after load"

progs=${*:-"$dir/cowdev_device $dir/cowdev_mappings $dir/cowdev_clone"}
for prog in $progs; do
	"$prog"
	status=$?
	# A harness that crashed may not have printed its own failure.
	[ $status -eq 0 ] || [ $status -eq $ksft_skip ]
	result $? "$(basename "$prog") exit status $status"
done

# Every file is closed and unmapped now: the module must unload.
rmmod cowdev
result $? "rmmod cowdev after all files are closed"
[ ! -e /dev/cowdev ]
result $? "/dev/cowdev gone after unload"

exit $failed
