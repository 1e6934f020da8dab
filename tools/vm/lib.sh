# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the guest tools: where the cache lives, which kernel a
# name stands for, and how to fetch what is missing.  Sourced, not run.
#
# Everything large (kernel images, unpacked source, initramfs work trees) is
# cached outside the checkout, keyed by version, and recreated when missing.

COWDEV_CACHE=${COWDEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cowdev}
COWDEV_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

die() { echo "cowdev: $*" >&2; exit 1; }
note() { echo "cowdev: $*" >&2; }

# Host packages the project needs; installed on first use.
COWDEV_HOST_PKGS="qemu-system-x86 busybox-static kmod cpio gzip xz-utils
	sparse dkms linux-headers-amd64 linux-source-6.1 gcc make libc6-dev"

cowdev_apt_updated=
cowdev_apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
	note "installing ${missing[*]}"
	if [ -z "$cowdev_apt_updated" ]; then
		apt-get update -q >/dev/null || die "apt-get update failed"
		cowdev_apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

cowdev_host_setup() {
	# shellcheck disable=SC2086
	cowdev_apt_install $COWDEV_HOST_PKGS
}

# cowdev_kernel_release NAME: the uname -r of the guest kernel NAME stands for.
# 6.1 is whatever linux-headers-amd64 (the Debian 12 meta package) points at,
# so a point release needs no change here.
cowdev_kernel_release() {
	case "$1" in
	6.1)
		dpkg-query -W -f='${Depends}' linux-headers-amd64 |
			sed -n 's/.*linux-headers-\([^ ,]*\).*/\1/p'
		;;
	*)
		die "unknown KERNEL=$1 (known: 6.1)"
		;;
	esac
}

# cowdev_kdir NAME: the kbuild tree to build the module against for NAME.
cowdev_kdir() {
	local kver
	kver=$(cowdev_kernel_release "$1") || exit 1
	echo "/lib/modules/$kver/build"
}

# cowdev_kernel_image NAME: path of the cached vmlinuz for NAME, fetched from
# Debian's archive on first use.
cowdev_kernel_image() {
	local kver dir deb
	kver=$(cowdev_kernel_release "$1") || exit 1
	dir=$COWDEV_CACHE/kernels/$kver
	if [ ! -s "$dir/vmlinuz" ]; then
		note "fetching guest kernel $kver"
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" || exit 1
		(cd "$dir.tmp" && apt-get download -q "linux-image-$kver-unsigned" \
			>/dev/null 2>&1) || die "cannot download linux-image-$kver-unsigned"
		deb=$(ls "$dir.tmp"/*.deb)
		dpkg-deb --fsys-tarfile "$deb" |
			tar -x -C "$dir.tmp" "./boot/vmlinuz-$kver" ||
			die "no vmlinuz in $deb"
		mv "$dir.tmp/boot/vmlinuz-$kver" "$dir.tmp/vmlinuz"
		rm -rf "$dir.tmp/boot" "$deb"
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
	fi
	echo "$dir/vmlinuz"
}

# cowdev_kernel_source: the unpacked parts of Debian's linux-source-6.1 the
# project uses (kselftest headers, checkpatch), extracted once per version.
cowdev_kernel_source() {
	local tarball=/usr/src/linux-source-6.1.tar.xz ver dir
	[ -f "$tarball" ] || cowdev_apt_install linux-source-6.1
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
	dir=$COWDEV_CACHE/src/linux-source-$ver
	if [ ! -f "$dir/.done" ]; then
		rm -rf "$dir" && mkdir -p "$dir" || exit 1
		tar -xJf "$tarball" -C "$dir" --strip-components=1 \
			linux-source-6.1/tools/testing/selftests/kselftest.h \
			linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
			linux-source-6.1/scripts/checkpatch.pl \
			linux-source-6.1/scripts/spelling.txt \
			linux-source-6.1/scripts/const_structs.checkpatch ||
			die "cannot unpack $tarball"
		touch "$dir/.done"
	fi
	echo "$dir"
}
