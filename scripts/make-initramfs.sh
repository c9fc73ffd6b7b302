#!/usr/bin/env bash
# Build a gzip'd newc initramfs for the vtdemu guest kernel.
#
#   scripts/make-initramfs.sh [--script FILE] [--out PATH]
#                             [--modules LIST] [--file SRC[:DEST]]...
#
#   --script FILE   becomes /etc/rc.test: /init runs it with sh, prints
#                   "vtdemu-guest: rc.test exit status N" and powers off
#                   (poweroff -f). Without it /init gives a shell.
#   --out PATH      where to write the archive; default
#                   cache/guest/initramfs.cpio.gz without --script,
#                   cache/guest/initramfs-<script name>.cpio.gz with it.
#   --modules LIST  kernel modules to include (comma or space separated, or
#                   'none'), with everything they need per modules.dep.
#                   Default: the virtio and vfio set (see scripts/lib/common.sh).
#                   They go to /lib/modules/<release>/ with a modules.dep for
#                   busybox modprobe; nothing is loaded unless the script
#                   says so or the kernel command line has
#                   vtdemu.modules=a,b,c.
#   --file SRC[:DEST]  add a file (DEST defaults to /root/<name of SRC>).
#
# The archive holds static busybox (with a link for each applet), /init from
# scripts/guest/init, /dev/console, a minimal /etc, and the modules. It is
# written by scripts/mkcpio.py, so no root is needed, and it is reproducible
# (same inputs, same bytes). Runs scripts/fetch-guest.sh first if the kernel
# and busybox are not in the cache yet.

set -eEuo pipefail
PROG=make-initramfs
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { sed -n '2,27s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

SCRIPT=
OUT=
MODULES=$DEFAULT_MODULES
EXTRA_FILES=()
while [ $# -gt 0 ]; do
    case "$1" in
    --script) [ $# -ge 2 ] || die "--script needs a file"; SCRIPT=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a path"; OUT=$2; shift 2 ;;
    --modules) [ $# -ge 2 ] || die "--modules needs a list (or 'none')"; MODULES=$2; shift 2 ;;
    --file) [ $# -ge 2 ] || die "--file needs SRC[:DEST]"; EXTRA_FILES+=("$2"); shift 2 ;;
    -h|--help) usage 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
done
[ "$MODULES" = none ] && MODULES=
MODULES=$(echo "$MODULES" | tr ',' ' ')

if [ -n "$SCRIPT" ]; then
    [ -f "$SCRIPT" ] || die "script $SCRIPT not found"
    SCRIPT=$(realpath "$SCRIPT")
    name=$(basename "$SCRIPT")
    : "${OUT:=$GUEST/initramfs-${name%.*}.cpio.gz}"
else
    : "${OUT:=$GUEST/initramfs.cpio.gz}"
fi
need_cmd python3 "install it: apt-get install python3-minimal"

lock_cache
if [ ! -f "$GUEST/guest.env" ]; then
    note "no guest in $CACHE yet; running scripts/fetch-guest.sh"
    "$SCRIPTS/fetch-guest.sh" --no-initramfs
fi
# shellcheck source=/dev/null
source "$GUEST/guest.env"
[ -f "$MODDIR/modules.dep" ] || die "$MODDIR/modules.dep missing; rerun scripts/fetch-guest.sh"
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing; rerun scripts/fetch-guest.sh"

WORK=$(mktemp -d "$CACHE/.initramfs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SPEC="$WORK/spec"
: >"$SPEC"

# ----------------------------------------------------------------- the spec
declare -A have_dir=()
add_dir() {  # add_dir /a/b/c: entries for /a, /a/b, /a/b/c unless present
    local d=${1%/} parent
    [ -z "$d" ] && return 0
    [ -n "${have_dir[$d]:-}" ] && return 0
    parent=${d%/*}
    [ -n "$parent" ] && add_dir "$parent"
    have_dir[$d]=1
    echo "dir $d ${2:-0755} 0 0" >>"$SPEC"
}
add_file() {  # add_file DEST SRC MODE
    [ -f "$2" ] || die "missing file $2"
    add_dir "$(dirname "$1")"
    echo "file $1 $2 $3 0 0" >>"$SPEC"
}
case "$WORK" in *[[:space:]]*) die "the cache path may not contain spaces: $CACHE" ;; esac

for d in /bin /sbin /usr/bin /usr/sbin /etc /proc /sys /dev /run /var /mnt /root /lib/modules; do
    add_dir "$d"
done
add_dir /tmp 1777
echo "nod /dev/console 0600 0 0 c 5 1" >>"$SPEC"
echo "nod /dev/null 0666 0 0 c 1 3" >>"$SPEC"

add_file /init "$SCRIPTS/guest/init" 0755
add_file /bin/busybox "$BUSYBOX" 0755
while read -r applet; do
    case "$applet" in
    bin/busybox|linuxrc|'') continue ;;
    esac
    add_dir "/$(dirname "$applet")"
    echo "slink /$applet /bin/busybox 0777 0 0" >>"$SPEC"
done < <("$BUSYBOX" --list-full)

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$WORK/passwd"
printf 'root:x:0:\n' >"$WORK/group"
printf 'export PS1='"'"'\\h:\\w\\$ '"'"'\nexport PATH=/sbin:/bin:/usr/sbin:/usr/bin\n' >"$WORK/profile"
add_file /etc/passwd "$WORK/passwd" 0644
add_file /etc/group "$WORK/group" 0644
add_file /etc/profile "$WORK/profile" 0644

if [ -n "$SCRIPT" ]; then
    add_file /etc/rc.test "$SCRIPT" 0755
fi

for spec in "${EXTRA_FILES[@]}"; do
    src=${spec%%:*}
    dest=/root/$(basename "$src")
    [ "$spec" != "$src" ] && dest=${spec#*:}
    case "$dest" in /*) ;; *) die "--file destination must be absolute: $dest" ;; esac
    case "$src$dest" in *[[:space:]]*) die "--file paths may not contain spaces: $spec" ;; esac
    add_file "$dest" "$(realpath "$src")" 0755
done

# ---------------------------------------------------------------- modules
# modules.dep lines are "path/name.ko[.xz]: dep.ko dep2.ko ..."; a module's
# name is its file name without .ko*, with '-' read as '_'.
modname() {
    local b=${1##*/}
    b=${b%%.ko*}
    echo "${b//-/_}"
}
declare -A mod_path=() mod_deps=()
while IFS= read -r line; do
    path=${line%%:*}
    n=${path##*/}       # modname without a fork per line: 4000 lines
    n=${n%%.ko*}
    mod_path[${n//-/_}]=$path
    mod_deps[$path]=${line#*:}
done <"$MODDIR/modules.dep"

plain() { echo "${1%.ko*}.ko"; }   # name.ko.xz -> name.ko
declare -A want=()   # module path -> 1
resolve() {
    local path=$1 d
    [ -n "${want[$path]:-}" ] && return 0
    want[$path]=1
    for d in ${mod_deps[$path]}; do resolve "$d"; done
}
builtin_mods=
for m in $MODULES; do
    n=${m//-/_}
    if [ -n "${mod_path[$n]:-}" ]; then
        resolve "${mod_path[$n]}"
    elif grep -q "/$m\.ko\$\|/${n}\.ko\$\|/${n//_/-}\.ko\$" "$MODDIR/modules.builtin" 2>/dev/null; then
        builtin_mods+=" $n"
    else
        die "module $m is neither in $MODDIR/modules.dep nor built into $KREL"
    fi
done

mods_in=()
if [ ${#want[@]} -gt 0 ]; then
    kmods=/lib/modules/$KREL
    add_dir "$kmods"
    : >"$WORK/modules.dep"
    # Keep modules.dep's order; rename compressed modules to plain .ko,
    # because busybox's modprobe may lack the decompressor.
    while IFS= read -r line; do
        path=${line%%:*}
        [ -n "${want[$path]:-}" ] || continue
        deps=
        for d in ${mod_deps[$path]}; do deps+=" $(plain "$d")"; done
        echo "$(plain "$path"):$deps" >>"$WORK/modules.dep"
        mods_in+=("$(modname "$path")")
        case "$path" in
        *.ko) add_file "$kmods/$path" "$MODDIR/$path" 0644 ;;
        *.ko.xz|*.ko.zst|*.ko.gz)
            mkdir -p "$WORK/mods/$(dirname "$path")"
            dst="$WORK/mods/$(plain "$path")"
            case "$path" in
            *.xz) xz -dc "$MODDIR/$path" >"$dst" ;;
            *.zst) zstd -qdc "$MODDIR/$path" >"$dst" ;;
            *.gz) gzip -dc "$MODDIR/$path" >"$dst" ;;
            esac
            add_file "$kmods/$(plain "$path")" "$dst" 0644
            ;;
        *) die "unexpected module file name in modules.dep: $path" ;;
        esac
    done <"$MODDIR/modules.dep"
    add_file "$kmods/modules.dep" "$WORK/modules.dep" 0644
    [ -f "$MODDIR/modules.builtin" ] && add_file "$kmods/modules.builtin" "$MODDIR/modules.builtin" 0644
    if [ -f "$MODDIR/modules.order" ]; then
        # Only the lines for the modules shipped (kernel/...ko in both files).
        sed 's/:.*//' "$WORK/modules.dep" | grep -F -x -f - "$MODDIR/modules.order" >"$WORK/modules.order" || true
        add_file "$kmods/modules.order" "$WORK/modules.order" 0644
    fi
fi

# ------------------------------------------------------------------ write
mkdir -p "$(dirname "$OUT")"
python3 "$SCRIPTS/mkcpio.py" "$SPEC" "$OUT" || die "mkcpio.py failed writing $OUT"

summary="$(du -k "$OUT" | cut -f1) KiB, kernel $KREL"
[ ${#mods_in[@]} -gt 0 ] && summary+=", ${#mods_in[@]} modules"
[ -n "$builtin_mods" ] && summary+=" (built in:$builtin_mods)"
[ -n "$SCRIPT" ] && summary+=", /etc/rc.test from $SCRIPT"
note "wrote $OUT ($summary)"
