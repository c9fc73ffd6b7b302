# Shared by scripts/*.sh: paths, error handling, the cache lock.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this
# Source it after setting PROG (the name used in messages).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRIPTS="$REPO/scripts"
# The cache lives at the repository root and is git-ignored; VTDEMU_CACHE
# moves it (e.g. to share one cache between work trees).
CACHE=${VTDEMU_CACHE:-$REPO/cache}
GUEST="$CACHE/guest"
LOG="$CACHE/fetch.log"

# Modules the later issues need; their dependencies come from modules.dep.
DEFAULT_MODULES="virtio virtio_pci virtio_pci_modern_dev virtio_pci_legacy_dev virtio_ring virtio_blk vfio vfio_pci vfio_pci_core vfio_iommu_type1 irqbypass"

# die exits with status 3 so that, when it ran inside $(...), the ERR trap of
# the outer shell knows the message is already printed.
die() {
    echo "$PROG: error: $*" >&2
    exit 3
}

note() {
    echo "$PROG: $*" >&2
}

# Any command that fails unexpectedly ends the script with one line naming it.
on_err() {
    local rc=$? line=$1 cmd=$2
    [ "$rc" = 3 ] && exit 3
    echo "$PROG: error: '$cmd' failed (exit $rc, $PROG line $line); see $LOG if it was a package step" >&2
    exit 1
}
trap 'on_err $LINENO "$BASH_COMMAND"' ERR

# Run a noisy command with its output in $LOG; on failure say so in one line.
quiet() {
    local what=$1
    shift
    mkdir -p "$CACHE"
    echo "=== $(date -u +%FT%TZ) $*" >>"$LOG"
    "$@" >>"$LOG" 2>&1 || die "$what failed (command: $*); details in $LOG"
}

# One writer at a time in the cache; a second run waits for the first.
lock_cache() {
    [ -n "${VTDEMU_CACHE_LOCKED:-}" ] && return 0   # a parent run holds it
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    if ! flock -n 9; then
        note "waiting for another run to release $CACHE/.lock"
        flock 9
    fi
    export VTDEMU_CACHE_LOCKED=1
}

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found; $2"
}
