#!/usr/bin/env bash
# Boot the same kernel and initramfs in vtdemu and in QEMU TCG, taking turns
# (vtdemu, QEMU, vtdemu, QEMU, ...), and print the median wall time to reach
# userspace for each and the ratio vtdemu/QEMU.
#
#   bench/boot.sh [options]
#
#   --runs N         boots per emulator (default 3)
#   --mem SIZE       guest memory for both (default 256M)
#   --timeout SECS   kill a boot that has not ended after SECS s (default 600)
#   --logs DIR       keep each boot's console output as DIR/<emulator>-<run>.log
#                    (\r and terminal escape codes removed)
#   --no-build       do not run 'cargo build --release -p machine' first
#   --only WHICH     boot only vtdemu or only qemu (no ratio)
#   -h, --help       this text
#
# Both boot cache/guest/vmlinuz with cache/guest/initramfs.cpio.gz and the
# command line "console=ttyS0 nokaslr panic=-1 vtdemu.poweroff": /init prints
# "vtdemu-guest: init started" and powers off at once (ACPI S5).
#   vtdemu: target/release/vtdemu -m SIZE run --kernel ... --initrd ... --append ...
#   QEMU:   qemu-system-x86_64 -accel tcg -M q35 -m SIZE -nographic -no-reboot
#           -kernel ... -initrd ... -append ...   (SeaBIOS, default CPU qemu64)
#
# For each boot it measures, from the moment the process is started:
#   kernel     wall time until the console shows "Linux version" (firmware,
#              bzImage setup and the XZ decompressor are done)
#   userspace  wall time until the console shows "vtdemu-guest: init started"
#   total      wall time until the process has exited after the power-off
# and it reads the kernel's own timestamp of "Run /init as init process"
# (guest clock). The kernel's printk clock starts near 0 when it sets up the
# TSC, so it leaves out firmware and decompression in both emulators. vtdemu's
# TSC runs at 1 GHz from machine creation in host time (no --icount here).
#
# The medians of each column, their range, and the ratio vtdemu/QEMU follow
# the table; the load average before and after is printed too, since other
# work on the machine changes the figures. Exit status: 0 if every boot
# reached userspace and exited with status 0, 1 otherwise.
#
# Needs: cargo (unless --no-build), python3, qemu-system-x86_64
# (apt-get install qemu-system-x86; $QEMU names another binary). Runs
# scripts/fetch-guest.sh if the guest is not in the cache yet.

set -eEuo pipefail
# shellcheck disable=SC2034  # PROG is read by common.sh
PROG=bench/boot
# shellcheck source-path=SCRIPTDIR source=../scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"

usage() { sed -n '2,42s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

RUNS=3
MEM=256M
TIMEOUT=600
LOGS=
BUILD=1
ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
    --runs|--mem|--timeout|--logs|--only)
        [ $# -ge 2 ] || die "$1 needs a value"
        case "$1" in
        --runs) RUNS=$2 ;;
        --mem) MEM=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --logs) LOGS=$2 ;;
        --only) ONLY=$2 ;;
        esac
        shift 2
        ;;
    --no-build) BUILD=; shift ;;
    -h|--help) usage 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive whole number, not '$RUNS'"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--timeout needs a positive number of seconds, not '$TIMEOUT'"
[[ "$MEM" =~ ^[1-9][0-9]*[MG]$ ]] || die "--mem needs a size such as 256M or 1G, not '$MEM'"
case "$ONLY" in ''|vtdemu|qemu) ;; *) die "--only takes vtdemu or qemu, not '$ONLY'" ;; esac

QEMU=${QEMU:-qemu-system-x86_64}
if [ "$ONLY" != vtdemu ]; then
    command -v "$QEMU" >/dev/null 2>&1 \
        || die "$QEMU not found; install it: apt-get install qemu-system-x86"
fi
need_cmd python3 "install it: apt-get install python3"

KERNEL=$GUEST/vmlinuz
INITRD=$GUEST/initramfs.cpio.gz
if [ ! -f "$KERNEL" ] || [ ! -f "$INITRD" ]; then
    note "no cached guest; running scripts/fetch-guest.sh"
    "$SCRIPTS/fetch-guest.sh"
fi
[ -f "$KERNEL" ] || die "kernel $KERNEL not found (run scripts/fetch-guest.sh)"
[ -f "$INITRD" ] || die "initramfs $INITRD not found (run scripts/fetch-guest.sh)"

VTDEMU=$REPO/target/release/vtdemu
if [ "$ONLY" != qemu ]; then
    if [ -n "$BUILD" ]; then
        need_cmd cargo "install Rust (https://rustup.rs) or pass --no-build"
        note "cargo build --release -p machine"
        (cd "$REPO" && cargo build --release -p machine --quiet) \
            || die "cargo build --release -p machine failed"
    fi
    [ -x "$VTDEMU" ] || die "$VTDEMU not found (run cargo build --release -p machine)"
    # Boot a private copy, so that a rebuild by someone else halfway through
    # does not mix two versions in one table.
    TMPDIR_BENCH=$(mktemp -d)
    trap 'rm -rf "$TMPDIR_BENCH"' EXIT
    cp "$VTDEMU" "$TMPDIR_BENCH/vtdemu"
    VTDEMU_REV=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
    VTDEMU=$TMPDIR_BENCH/vtdemu
fi
[ -n "$LOGS" ] && mkdir -p "$LOGS"

APPEND="console=ttyS0 nokaslr panic=-1 vtdemu.poweroff"
export BENCH_RUNS=$RUNS BENCH_TIMEOUT=$TIMEOUT BENCH_LOGS=$LOGS BENCH_ONLY=$ONLY
export BENCH_APPEND=$APPEND BENCH_MEM=$MEM BENCH_KERNEL=$KERNEL BENCH_INITRD=$INITRD
export BENCH_VTDEMU=$VTDEMU BENCH_QEMU=$QEMU
if [ "$ONLY" != qemu ]; then
    echo "bench/boot: vtdemu $VTDEMU_REV (target/release/vtdemu of $(date -r "$REPO/target/release/vtdemu" '+%F %T'))"
fi
if [ "$ONLY" != vtdemu ]; then
    echo "bench/boot: $("$QEMU" --version | head -1)"
fi

trap - ERR
set +e
python3 - <<'PY'
import os, re, signal, statistics, subprocess, sys, threading, time

env = os.environ
runs = int(env["BENCH_RUNS"])
timeout = float(env["BENCH_TIMEOUT"])
logdir = env["BENCH_LOGS"]
only = env["BENCH_ONLY"]
append, mem = env["BENCH_APPEND"], env["BENCH_MEM"]
kernel, initrd = env["BENCH_KERNEL"], env["BENCH_INITRD"]

commands = {
    "vtdemu": [env["BENCH_VTDEMU"], "-m", mem, "run", "--kernel", kernel,
               "--initrd", initrd, "--append", append],
    "qemu": [env["BENCH_QEMU"], "-accel", "tcg", "-M", "q35", "-m", mem,
             "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd,
             "-append", append],
}
names = [only] if only else ["vtdemu", "qemu"]

ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1bc")
RUN_INIT = re.compile(rb"\[\s*(\d+\.\d+)\] Run /init as init process")

def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])

def boot(name, run):
    """One boot: returns a dict of wall times (s) and the guest /init time."""
    r = {"name": name, "run": run, "kernel": None, "user": None,
         "total": None, "init_guest": None, "status": None, "timeout": False}
    log = open(os.path.join(logdir, f"{name}-{run}.log"), "wb") if logdir else None
    errlog = open(os.path.join(logdir, f"{name}-{run}.stderr"), "wb") if logdir else subprocess.DEVNULL
    start = time.monotonic()
    proc = subprocess.Popen(commands[name], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=errlog,
                            start_new_session=True)
    def kill():
        r["timeout"] = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        for raw in proc.stdout:
            now = time.monotonic() - start
            line = ESCAPES.sub(b"", raw).replace(b"\r", b"")
            if log:
                log.write(line if line.endswith(b"\n") else line + b"\n")
            if r["kernel"] is None and b"Linux version " in line:
                r["kernel"] = now
            if r["init_guest"] is None:
                m = RUN_INIT.search(line)
                if m:
                    r["init_guest"] = float(m.group(1))
            if r["user"] is None and b"vtdemu-guest: init started" in line:
                r["user"] = now
        r["status"] = proc.wait()
        r["total"] = time.monotonic() - start
    except KeyboardInterrupt:
        kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        if log:
            log.close()
    return r

def fmt(v, width=9, prec=2):
    return f"{v:{width}.{prec}f}" if v is not None else f"{'-':>{width}}"

print(f"bench/boot: {runs} boot(s) each of {', '.join(names)}, -m {mem}, "
      f'append "{append}"')
print(f"bench/boot: load average before: {load()}  ({os.cpu_count()} CPUs)")
print()
header = (f"{'run':>3}  {'emulator':<8} {'kernel s':>9} {'userspace s':>11} "
          f"{'total s':>9} {'/init at':>9}  status")
print(header)
print("-" * len(header))
sys.stdout.flush()

results = []
try:
    for run in range(1, runs + 1):
        for name in names:
            r = boot(name, run)
            results.append(r)
            status = ("timeout" if r["timeout"] else
                      f"exit {r['status']}" + ("" if r["user"] is not None else ", no init marker"))
            print(f"{run:>3}  {name:<8} {fmt(r['kernel'])} {fmt(r['user'], 11)} "
                  f"{fmt(r['total'])} {fmt(r['init_guest'], 9, 3)}  {status}")
            sys.stdout.flush()
except KeyboardInterrupt:
    print("\nbench/boot: interrupted", file=sys.stderr)
    sys.exit(130)

def ok(r):
    return not r["timeout"] and r["status"] == 0 and r["user"] is not None

metrics = [("kernel", "kernel start (wall s)"),
           ("user", "userspace (wall s)"),
           ("total", "total, exited (wall s)"),
           ("init_guest", "Run /init (guest clock s)")]

def median_of(name, key):
    vals = [r[key] for r in results if r["name"] == name and ok(r) and r[key] is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)

print()
print(f"{'median [min-max]':<26}" + "".join(f"{n:>22}" for n in names)
      + (f"{'vtdemu/qemu':>13}" if len(names) == 2 else ""))
for key, label in metrics:
    row = f"{label:<26}"
    meds = {}
    for n in names:
        med, lo, hi = median_of(n, key)
        meds[n] = med
        cell = f"{med:.2f} [{lo:.2f}-{hi:.2f}]" if med is not None else "-"
        row += f"{cell:>22}"
    if len(names) == 2:
        v, q = meds["vtdemu"], meds["qemu"]
        row += f"{(f'{v / q:.2f}x' if v and q else '-'):>13}"
    print(row)
print()
print(f"bench/boot: load average after: {load()}")
failed = [r for r in results if not ok(r)]
if failed:
    print(f"bench/boot: {len(failed)} boot(s) failed (left out of the medians)"
          + (f"; console logs in {logdir}" if logdir else "; rerun with --logs DIR to see why"),
          file=sys.stderr)
    sys.exit(1)
PY
exit $?
