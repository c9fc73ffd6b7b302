#!/usr/bin/env bash
# Boot the cached guest kernel and initramfs in QEMU (TCG, q35): the
# reference machine vtdemu is compared with.
#
#   scripts/boot-qemu.sh [options] [-- extra qemu arguments]
#
#   --kernel PATH    default cache/guest/vmlinuz
#   --initrd PATH    default cache/guest/initramfs.cpio.gz
#   --script FILE    build (scripts/make-initramfs.sh) and boot an initramfs
#                    that runs FILE and powers off; overrides --initrd
#   --append TEXT    added to the kernel command line
#                    "console=ttyS0 earlyprintk=ttyS0 panic=-1"
#   --cpu MODEL      -cpu MODEL (default: QEMU's default for TCG, qemu64)
#   --mem SIZE       -m SIZE (default 512M)
#   --timeout SECS   kill QEMU after SECS seconds (exit status 124)
#   --log FILE       also write the console output to FILE (\r and the
#                    firmware's terminal escape sequences removed)
#   --time           print wall times since QEMU started, on stderr:
#                    "boot-qemu: kernel started after S s" (first "Linux
#                    version" line), "boot-qemu: init started after S s"
#                    (the guest's "vtdemu-guest: init started" line), and
#                    "boot-qemu: qemu exited after S s (status N)"
#   --print-cmd      print the QEMU command line and exit
#
# The machine: qemu-system-x86_64 -accel tcg -M q35 -m 512M -nographic
# -no-reboot -kernel ... -initrd ... -append "console=ttyS0 ...". With
# -no-reboot and panic=-1 a kernel panic ends QEMU instead of looping; the
# guest's poweroff -f ends it too. The console is on stdio: type into the
# guest shell, Ctrl-A X quits QEMU. With --log/--time/--timeout, stdin is
# still passed through.
#
# Needs qemu-system-x86_64: apt-get install qemu-system-x86

set -eEuo pipefail
PROG=boot-qemu
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { sed -n '2,33s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

KERNEL=$GUEST/vmlinuz
INITRD=$GUEST/initramfs.cpio.gz
SCRIPT=
APPEND_EXTRA=
CPU=
MEM=512M
TIMEOUT=
LOGFILE=
TIME=
PRINT=
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
    --kernel|--initrd|--script|--append|--cpu|--mem|--timeout|--log)
        [ $# -ge 2 ] || die "$1 needs a value"
        case "$1" in
        --kernel) KERNEL=$2 ;;
        --initrd) INITRD=$2 ;;
        --script) SCRIPT=$2 ;;
        --append) APPEND_EXTRA=$2 ;;
        --cpu) CPU=$2 ;;
        --mem) MEM=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --log) LOGFILE=$2 ;;
        esac
        shift 2
        ;;
    --time) TIME=1; shift ;;
    --print-cmd) PRINT=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
done

QEMU=${QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null 2>&1 || die "$QEMU not found; install it: apt-get install qemu-system-x86"

if [ -n "$SCRIPT" ]; then
    name=$(basename "$SCRIPT")
    INITRD=$GUEST/initramfs-${name%.*}.cpio.gz
    "$SCRIPTS/make-initramfs.sh" --script "$SCRIPT" --out "$INITRD"
elif [ ! -f "$KERNEL" ] || [ ! -f "$INITRD" ]; then
    if [ "$KERNEL" = "$GUEST/vmlinuz" ] && [ "$INITRD" = "$GUEST/initramfs.cpio.gz" ]; then
        note "no cached guest; running scripts/fetch-guest.sh"
        "$SCRIPTS/fetch-guest.sh"
    fi
fi
[ -f "$KERNEL" ] || die "kernel $KERNEL not found (run scripts/fetch-guest.sh)"
[ -f "$INITRD" ] || die "initramfs $INITRD not found (run scripts/fetch-guest.sh)"

APPEND="console=ttyS0 earlyprintk=ttyS0 panic=-1${APPEND_EXTRA:+ $APPEND_EXTRA}"
CMD=("$QEMU" -accel tcg -M q35)
[ -n "$CPU" ] && CMD+=(-cpu "$CPU")
CMD+=(-m "$MEM" -nographic -no-reboot -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND")
CMD+=("${EXTRA[@]}")
[ -n "$TIMEOUT" ] && CMD=(timeout --foreground -k 5 "$TIMEOUT" "${CMD[@]}")

if [ -n "$PRINT" ]; then
    printf '%q ' "${CMD[@]}"
    echo
    exit 0
fi

trap - ERR
if [ -z "$LOGFILE" ] && [ -z "$TIME" ]; then
    exec "${CMD[@]}"
fi

# Read the console line by line: copy it to stdout (and the log), and note
# when the init marker shows up.
[ -n "$LOGFILE" ] && : >"$LOGFILE"
start=$EPOCHREALTIME
elapsed() { awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
set +e
"${CMD[@]}" | {
    seen_kernel='' seen_init=''
    while IFS= read -r line; do
        line=${line%$'\r'}
        printf '%s\n' "$line"
        [ -n "$LOGFILE" ] && printf '%s\n' "$line" >>"$LOGFILE"
        [ -n "$TIME" ] || continue
        if [ -z "$seen_kernel" ] && [[ "$line" == *"Linux version "* ]]; then
            seen_kernel=1
            echo "boot-qemu: kernel started after $(elapsed) s" >&2
        fi
        if [ -z "$seen_init" ] && [[ "$line" == *"vtdemu-guest: init started"* ]]; then
            seen_init=1
            echo "boot-qemu: init started after $(elapsed) s" >&2
        fi
    done
    # A last line without a newline.
    if [ -n "$line" ]; then
        printf '%s\n' "${line%$'\r'}"
        [ -n "$LOGFILE" ] && printf '%s\n' "${line%$'\r'}" >>"$LOGFILE"
    fi
}
status=${PIPESTATUS[0]}
if [ -n "$LOGFILE" ]; then
    # SeaBIOS and iPXE clear the screen with escape sequences: drop them.
    sed -i 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\r/\n/g' "$LOGFILE"
fi
[ -n "$TIME" ] && echo "boot-qemu: qemu exited after $(elapsed) s (status $status)" >&2
exit "$status"
