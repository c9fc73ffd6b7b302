#!/usr/bin/env bash
# Boot the fetched Debian kernel and busybox initramfs in vtdemu: a Linux
# shell on this terminal (COM1). Fetches the guest first if it is missing.
#
#   scripts/boot-linux.sh [vtdemu options...]
#
# Extra arguments go to `vtdemu run` (e.g. --icount, --append "..."); `-m`
# defaults to 256M. Type `poweroff -f` in the guest to end the run.
set -euo pipefail
PROG=boot-linux
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -f "$GUEST/vmlinuz" ] && [ -f "$GUEST/initramfs.cpio.gz" ] || "$SCRIPTS/fetch-guest.sh"
cd "$REPO"
cargo build --release --quiet -p machine
exec "$REPO/target/release/vtdemu" -m 256M run \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.cpio.gz" "$@"
