//! Boots Debian's stock 6.1 kernel (fetched by scripts/fetch-guest.sh) on
//! the Q35-like board with a busybox initramfs whose /init shows
//! /proc/cpuinfo, hashes a file it writes and powers off through ACPI S5.

use std::sync::mpsc;
use std::time::Duration;

use devices::power::PowerEvent;
use machine::{ExitStatus, Machine};
use tests::guest::{initramfs_running, kernel, Console};

/// Long enough for a debug-profile boot on a slow, shared CI machine.
const TIMEOUT: Duration = Duration::from_secs(900);

/// sha256 of "vtdemu boot test\n", as the host's sha256sum gives it.
const TEST_FILE_SHA256: &str = "0d38f036fcd3069cf46ce0d719e08b734c1e19b447a36750483d4079621b370f";

fn boot(cmdline: &str, script: &str) -> (ExitStatus, String) {
    let kernel = kernel();
    let initrd = initramfs_running(script);
    let console = Console::default();
    let mut machine = Machine::builder()
        .memory(256 << 20)
        .serial_output(Box::new(console.clone()))
        .build()
        .expect("machine");
    machine
        .load_linux(&kernel, Some(&initrd), cmdline)
        .expect("load the kernel");
    // The machine runs on its own thread so a hung guest fails the test
    // instead of hanging it.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(machine.run());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(status) => (status.expect("run"), console.text()),
        Err(_) => panic!(
            "the guest did not power off within {TIMEOUT:?}; console:\n{}",
            console.text()
        ),
    }
}

#[test]
fn linux_boots_to_userspace_runs_commands_and_powers_off() {
    let (status, log) = boot("console=ttyS0 nokaslr panic=-1", "boot-test.sh");
    assert_eq!(
        status,
        ExitStatus::Power(PowerEvent::PowerOff),
        "console:\n{log}"
    );

    assert!(log.contains("Linux version 6.1."), "{log}");
    assert!(log.contains("vtdemu-guest: init started"), "{log}");
    // /proc/cpuinfo describes the processor CPUID advertises.
    assert!(log.contains("vendor_id\t: GenuineIntel"), "{log}");
    let flags = log
        .lines()
        .find(|l| l.starts_with("flags\t"))
        .expect("a flags line");
    for f in [
        " fpu ",
        " apic ",
        " sse2 ",
        " sse4_2 ",
        " nx ",
        " lm ",
        " tsc_deadline_timer ",
    ] {
        assert!(format!("{flags} ").contains(f), "flags lack{f}: {flags}");
    }
    assert!(
        log.contains(&format!("{TEST_FILE_SHA256}  /tmp/boot-test")),
        "{log}"
    );
    assert!(log.contains("vtdemu-guest: rc.test exit status 0"), "{log}");
    assert!(log.contains("reboot: Power down"), "{log}");

    // Nothing a correct machine would not make the kernel say.
    for bad in [
        "Call Trace",
        "WARNING:",
        "BUG:",
        "unchecked MSR",
        "Firmware Bug",
        "Kernel panic",
    ] {
        let hit: Vec<&str> = log.lines().filter(|l| l.contains(bad)).collect();
        assert!(hit.is_empty(), "the kernel log has {bad:?}: {hit:#?}");
    }
    // The timer and clock sources QEMU's q35 ends up with.
    assert!(log.contains("..TIMER: vector=0x30 apic1=0 pin1=2"), "{log}");
    assert!(
        log.contains("hpet0: 3 comparators, 64-bit 100.000000 MHz counter"),
        "{log}"
    );
    assert!(
        log.contains("clocksource: Switched to clocksource tsc"),
        "{log}"
    );
}
