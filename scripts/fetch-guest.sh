#!/usr/bin/env bash
# Fetch the Linux guest for vtdemu's tests and build its default initramfs.
#
#   scripts/fetch-guest.sh [--kernel-pkg NAME] [--no-initramfs]
#
# On a Debian machine (amd64) this:
#   1. picks the newest Debian 6.1 kernel image package the apt lists offer
#      (linux-image-6.1.0-NN-amd64 with the highest NN; runs 'apt-get update'
#      first if the lists have none), or NAME from --kernel-pkg /
#      $VTDEMU_KERNEL_PKG;
#   2. gets it and busybox-static with 'apt-get download' (nothing is
#      installed system-wide) into cache/debs/, and unpacks each with
#      'dpkg -x' into cache/pkgs/; for the kernel it also generates
#      modules.dep with busybox depmod (the .deb has none: depmod normally
#      runs at install time);
#   3. puts stable-path outputs in cache/guest/:
#        vmlinuz             the kernel (bzImage)
#        config              the kernel's .config
#        busybox             static busybox
#        guest.env           KREL, KPKG, KVER, MODDIR, ... for the other scripts
#        versions.txt        what was fetched, for reports
#        initramfs.cpio.gz   default initramfs (scripts/make-initramfs.sh):
#                            busybox, the virtio/vfio modules, and an /init
#                            that runs /etc/rc.test if present, else a shell
#
# It is idempotent: what is already in cache/ is not fetched or unpacked
# again, and a cached run takes a few seconds. Needs: apt-get, dpkg-deb,
# python3 (installed with apt-get if missing and run as root), flock.
# Errors end the script with one line on stderr; package-tool output goes to
# cache/fetch.log.

set -eEuo pipefail
PROG=fetch-guest
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { sed -n '2,32s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

KPKG=${VTDEMU_KERNEL_PKG:-}
BUILD_INITRAMFS=1
while [ $# -gt 0 ]; do
    case "$1" in
    --kernel-pkg) [ $# -ge 2 ] || die "--kernel-pkg needs a package name"; KPKG=$2; shift 2 ;;
    --no-initramfs) BUILD_INITRAMFS=; shift ;;
    -h|--help) usage 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
done

# ---------------------------------------------------------------- host checks
need_cmd apt-get "this script needs a Debian (or derived) machine"
need_cmd apt-cache "this script needs a Debian (or derived) machine"
need_cmd dpkg-deb "this script needs a Debian (or derived) machine"
need_cmd flock "install util-linux"
arch=$(dpkg --print-architecture)
[ "$arch" = amd64 ] || die "host architecture is $arch; the guest packages are fetched for amd64 hosts only"
if ! command -v python3 >/dev/null 2>&1; then
    # make-initramfs.sh writes the cpio archive with scripts/mkcpio.py.
    [ "$(id -u)" = 0 ] || die "python3 not found; install it: sudo apt-get install python3-minimal"
    note "python3 not found; installing python3-minimal with apt-get (needed to write the initramfs)"
    quiet "apt-get install python3-minimal" apt-get install -y --no-install-recommends python3-minimal
fi

lock_cache
mkdir -p "$CACHE/debs" "$CACHE/pkgs" "$GUEST"

APT_OPTS=()
# As root, apt-get download drops to the _apt user, who cannot write here.
[ "$(id -u)" = 0 ] && APT_OPTS=(-o APT::Sandbox::User=root)
updated=

apt_update() {
    [ -z "$updated" ] || return 0
    [ "$(id -u)" = 0 ] || die "the apt package lists need refreshing; run: sudo apt-get update"
    note "running apt-get update"
    quiet "apt-get update" apt-get update
    updated=1
}

newest_kernel_pkg() {
    apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
        awk '{print $1}' | sort -V | tail -n 1
}

newest_cached_kernel_pkg() {
    local f
    for f in "$CACHE"/debs/linux-image-6.1.0-*-amd64_*.deb; do
        [ -e "$f" ] || continue
        basename "$f" | cut -d_ -f1
    done | sort -V | tail -n 1
}

# ------------------------------------------------------------ pick the kernel
if [ -z "$KPKG" ]; then
    KPKG=$(newest_kernel_pkg)
    if [ -z "$KPKG" ]; then
        if [ "$(id -u)" = 0 ]; then
            apt_update
            KPKG=$(newest_kernel_pkg)
        fi
    fi
    if [ -z "$KPKG" ]; then
        KPKG=$(newest_cached_kernel_pkg)
        [ -n "$KPKG" ] || die "apt lists no linux-image-6.1.0-NN-amd64 package; does /etc/apt/sources.list(.d) include Debian bookworm (main and bookworm-security)?"
        note "apt lists no 6.1 kernel; using cached $KPKG"
    fi
fi

# ------------------------------------------------------------------- download
candidate_version() {
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '^(none)$' || true
}

# Print the path of a cached .deb of package $1 (version $2 if not empty).
cached_deb() {
    local pkg=$1 ver=$2 f
    for f in "$CACHE/debs/${pkg}"_*.deb; do
        [ -e "$f" ] || continue
        [ "$(dpkg-deb -f "$f" Package)" = "$pkg" ] || continue
        if [ -z "$ver" ] || [ "$(dpkg-deb -f "$f" Version)" = "$ver" ]; then
            echo "$f"
        fi
    done | sort -V | tail -n 1
}

# Print the path of the .deb for package $1, downloading it if needed.
fetch_deb() {
    local pkg=$1 ver deb tmp
    ver=$(candidate_version "$pkg")
    if [ -z "$ver" ]; then
        # Not in the lists (yet, or any more): a cached copy of any version will do.
        deb=$(cached_deb "$pkg" "")
        if [ -z "$deb" ] && [ "$(id -u)" = 0 ]; then
            apt_update
            ver=$(candidate_version "$pkg")
        fi
        if [ -z "$ver" ]; then
            [ -n "$deb" ] || die "apt knows no package $pkg and none is cached in $CACHE/debs"
            echo "$deb"
            return
        fi
    fi
    deb=$(cached_deb "$pkg" "$ver")
    if [ -z "$deb" ]; then
        note "downloading $pkg $ver"
        tmp=$(mktemp -d "$CACHE/debs/.download.XXXXXX")
        if ! (cd "$tmp" && apt-get "${APT_OPTS[@]}" download "$pkg=$ver" >>"$LOG" 2>&1); then
            # The lists may point at a file the mirror no longer has.
            if [ -z "$updated" ] && [ "$(id -u)" = 0 ]; then
                apt_update
                ver=$(candidate_version "$pkg")
                (cd "$tmp" && apt-get "${APT_OPTS[@]}" download "$pkg=$ver" >>"$LOG" 2>&1) ||
                    { rm -rf "$tmp"; die "apt-get download $pkg failed; details in $LOG"; }
            else
                rm -rf "$tmp"
                die "apt-get download $pkg failed; details in $LOG"
            fi
        fi
        mv "$tmp"/*.deb "$CACHE/debs/"
        rm -rf "$tmp"
        deb=$(cached_deb "$pkg" "$ver")
        [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $CACHE/debs"
    fi
    echo "$deb"
}

# Unpack a .deb with dpkg -x into cache/pkgs/NAME_VERSION_ARCH/; print that path.
unpack_deb() {
    local deb=$1 dir tmp
    dir="$CACHE/pkgs/$(basename "$deb" .deb)"
    if [ ! -e "$dir/.unpacked" ]; then
        note "unpacking $(basename "$deb")"
        rm -rf "$dir" "$dir.tmp"
        tmp="$dir.tmp"
        mkdir -p "$tmp"
        quiet "dpkg -x $(basename "$deb")" dpkg -x "$deb" "$tmp"
        touch "$tmp/.unpacked"
        mv "$tmp" "$dir"
    fi
    echo "$dir"
}

KDEB=$(fetch_deb "$KPKG")
BBDEB=$(fetch_deb busybox-static)
KDIR=$(unpack_deb "$KDEB")
BBDIR=$(unpack_deb "$BBDEB")
KVER=$(dpkg-deb -f "$KDEB" Version)
BBVER=$(dpkg-deb -f "$BBDEB" Version)

BUSYBOX="$BBDIR/bin/busybox"
[ -x "$BUSYBOX" ] || die "no bin/busybox in $(basename "$BBDEB")"
"$BUSYBOX" true 2>/dev/null || die "the fetched busybox does not run on this host"

# The kernel release is the one directory under lib/modules.
KREL=$(ls "$KDIR/lib/modules")
[ -n "$KREL" ] && [ "$(echo "$KREL" | wc -l)" = 1 ] || die "expected one kernel release under $KDIR/lib/modules, found: $KREL"
MODDIR="$KDIR/lib/modules/$KREL"
[ -f "$KDIR/boot/vmlinuz-$KREL" ] || die "no boot/vmlinuz-$KREL in $(basename "$KDEB")"

# modules.dep is made by depmod at install time; make it here, once.
if [ ! -e "$MODDIR/.depmod-done" ]; then
    note "generating modules.dep for $KREL (busybox depmod)"
    quiet "busybox depmod" "$BUSYBOX" depmod -b "$KDIR" "$KREL"
    [ -s "$MODDIR/modules.dep" ] || die "busybox depmod wrote no $MODDIR/modules.dep"
    touch "$MODDIR/.depmod-done"
fi

# ------------------------------------------------------- stable-path outputs
install_if_changed() {
    local src=$1 dst=$2 mode=$3
    if ! cmp -s "$src" "$dst" 2>/dev/null; then
        install -m "$mode" "$src" "$dst.tmp"
        mv "$dst.tmp" "$dst"
    fi
}
install_if_changed "$KDIR/boot/vmlinuz-$KREL" "$GUEST/vmlinuz" 0644
install_if_changed "$KDIR/boot/config-$KREL" "$GUEST/config" 0644
install_if_changed "$BUSYBOX" "$GUEST/busybox" 0755

cat >"$GUEST/guest.env.tmp" <<EOF
# Written by scripts/fetch-guest.sh; sourced by scripts/make-initramfs.sh.
KPKG='$KPKG'
KVER='$KVER'
KREL='$KREL'
KDEB='$KDEB'
MODDIR='$MODDIR'
BUSYBOX='$GUEST/busybox'
BBVER='$BBVER'
EOF
mv "$GUEST/guest.env.tmp" "$GUEST/guest.env"

{
    echo "kernel package:  $KPKG $KVER ($(basename "$KDEB"))"
    echo "kernel release:  $KREL"
    echo "kernel image:    $(file -b "$GUEST/vmlinuz" 2>/dev/null || echo bzImage)"
    echo "busybox-static:  $BBVER ($("$BUSYBOX" --help 2>&1 | sed -n 1p))"
} >"$GUEST/versions.txt"

note "kernel $KPKG $KVER (release $KREL) -> $GUEST/vmlinuz"

if [ -n "$BUILD_INITRAMFS" ]; then
    "$SCRIPTS/make-initramfs.sh" --out "$GUEST/initramfs.cpio.gz"
fi
