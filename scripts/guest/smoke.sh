# Guest smoke test: runs as /etc/rc.test (scripts/make-initramfs.sh --script),
# then /init powers the machine off.
#   scripts/boot-qemu.sh --script scripts/guest/smoke.sh
# Prints what the kernel found (CPU, interrupts, memory map, PCI devices,
# clock source), checks the modules load, and checks a checksum computed by
# the guest CPU against the one known on the host:
#   seq 1 100000 | sha256sum
#   = b2bc7d3f8b652d2ec96865b68ad8f80e22cca174abe1aed7889e242a747d590f
# Markers for tests: "vtdemu-guest: sha256 ok" / "vtdemu-guest: sha256 MISMATCH".

section() { echo "---- $* ----"; }

section "uname"
uname -a
section "/proc/cmdline"
cat /proc/cmdline
section "/proc/cpuinfo"
cat /proc/cpuinfo
section "clocksource"
echo "current:   $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "available: $(cat /sys/devices/system/clocksource/clocksource0/available_clocksource)"
section "/proc/interrupts"
cat /proc/interrupts
section "/proc/iomem"
cat /proc/iomem
section "/proc/ioports"
cat /proc/ioports
section "PCI devices (bdf vendor:device class irq driver)"
for d in /sys/bus/pci/devices/*; do
    [ -e "$d" ] || continue
    drv=-
    [ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
    echo "${d##*/} $(cat "$d/vendor"):$(cat "$d/device") $(cat "$d/class") irq=$(cat "$d/irq") $drv"
done
section "ACPI tables"
ls /sys/firmware/acpi/tables 2>/dev/null | tr '\n' ' '
echo
section "modules"
for m in virtio_pci virtio_blk vfio_pci vfio_iommu_type1; do
    if modprobe "$m"; then echo "vtdemu-guest: modprobe $m ok"; else echo "vtdemu-guest: modprobe $m FAILED"; fi
done
cat /proc/modules
section "sha256"
seq 1 100000 >/tmp/seq.txt
sum=$(sha256sum /tmp/seq.txt | cut -d' ' -f1)
expected=b2bc7d3f8b652d2ec96865b68ad8f80e22cca174abe1aed7889e242a747d590f
echo "sha256 /tmp/seq.txt = $sum"
if [ "$sum" = "$expected" ]; then
    echo "vtdemu-guest: sha256 ok"
else
    echo "vtdemu-guest: sha256 MISMATCH (expected $expected)"
    exit 1
fi
