//! The Multiple APIC Description Table, "APIC" (ACPI 6.5, 5.2.12): the
//! local APIC address, one Processor Local APIC per CPU, the I/O APIC, the
//! ISA interrupt overrides and the LINT1 NMI wiring.
//!
//! The overrides are QEMU q35's: the PIT's IRQ 0 arrives on GSI 2 (the
//! IOAPIC's pin 0 carries the 8259's INTR output), and the SCI on GSI 9 is
//! level-triggered, active-high. Every other ISA IRQ n is GSI n, edge,
//! active-high, as the ISA bus conforms to.

use super::sdt::Sdt;
use super::{AcpiConfig, PmIo, IOAPIC_ADDR, IOAPIC_GSI_BASE, IOAPIC_ID, LAPIC_ADDR};

/// MADT revision 5 (ACPI 6.3 and later: the Online Capable flag exists).
pub const REVISION: u8 = 5;

/// MADT Flags (ACPI 6.5, Table 5.20).
pub const PCAT_COMPAT: u32 = 1 << 0;

/// Interrupt controller structure types (ACPI 6.5, Table 5.21).
mod kind {
    pub const LOCAL_APIC: u8 = 0;
    pub const IO_APIC: u8 = 1;
    pub const INTERRUPT_SOURCE_OVERRIDE: u8 = 2;
    pub const LOCAL_APIC_NMI: u8 = 4;
}

/// Local APIC Flags (ACPI 6.5, Table 5.23).
const LAPIC_ENABLED: u32 = 1 << 0;

/// MPS INTI flags (ACPI 6.5, Table 5.26): polarity in bits 0-1, trigger
/// mode in bits 2-3.
pub mod inti {
    pub const CONFORMS: u16 = 0;
    pub const ACTIVE_HIGH: u16 = 0b01;
    pub const ACTIVE_LOW: u16 = 0b11;
    pub const EDGE: u16 = 0b01 << 2;
    pub const LEVEL: u16 = 0b11 << 2;
}

/// "All processors" in a Local APIC NMI structure.
const ALL_PROCESSORS: u8 = 0xFF;
/// The LINT pin NMI is wired to on a PC.
const NMI_LINT: u8 = 1;

/// The MADT for `config.cpus` processors, APIC ids 0..cpus.
pub fn build(config: &AcpiConfig) -> Vec<u8> {
    let mut t = Sdt::new(*b"APIC", REVISION);
    t.u32(LAPIC_ADDR as u32) // Local Interrupt Controller Address
        .u32(PCAT_COMPAT); // Flags: dual 8259s are present too
    for cpu in 0..config.cpus() {
        // Processor Local APIC (Table 5.22): UID, APIC ID, flags.
        t.u8(kind::LOCAL_APIC)
            .u8(8)
            .u8(cpu)
            .u8(cpu)
            .u32(LAPIC_ENABLED);
    }
    // I/O APIC (Table 5.24).
    t.u8(kind::IO_APIC)
        .u8(12)
        .u8(IOAPIC_ID)
        .u8(0)
        .u32(IOAPIC_ADDR as u32)
        .u32(IOAPIC_GSI_BASE);
    let overrides = [
        (0u8, 2u32, inti::CONFORMS),
        (
            PmIo::Q35.sci_irq,
            PmIo::Q35.sci_irq as u32,
            inti::ACTIVE_HIGH | inti::LEVEL,
        ),
    ];
    for (irq, gsi, flags) in overrides {
        // Interrupt Source Override (Table 5.25): bus 0 is ISA.
        t.u8(kind::INTERRUPT_SOURCE_OVERRIDE)
            .u8(10)
            .u8(0)
            .u8(irq)
            .u32(gsi)
            .u16(flags);
    }
    // Local APIC NMI (Table 5.28): LINT1 of every processor.
    t.u8(kind::LOCAL_APIC_NMI)
        .u8(6)
        .u8(ALL_PROCESSORS)
        .u16(inti::CONFORMS)
        .u8(NMI_LINT);
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::sdt::sums_to_zero;

    fn config(cpus: u8) -> AcpiConfig {
        let mut c = AcpiConfig::new(mem::RamLayout {
            low: 128 << 20,
            high: 0,
        });
        c.cpus = cpus;
        c
    }

    #[test]
    fn madt_checksum_and_length_are_right() {
        let t = build(&config(1));
        // Header, 8 fixed bytes, LAPIC 8, IOAPIC 12, 2 overrides, NMI 6.
        assert_eq!(t.len(), 36 + 8 + 8 + 12 + 2 * 10 + 6);
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
            t.len()
        );
        assert!(sums_to_zero(&t));
    }

    #[test]
    fn madt_lists_one_enabled_lapic_per_cpu() {
        let t = build(&config(3));
        let lapics: Vec<_> = (0..3).map(|i| &t[44 + 8 * i..52 + 8 * i]).collect();
        for (i, s) in lapics.iter().enumerate() {
            assert_eq!(s[..4], [0, 8, i as u8, i as u8]);
            assert_eq!(s[4], 1, "enabled");
        }
        assert!(sums_to_zero(&t));
    }

    #[test]
    fn madt_ioapic_and_overrides_match_q35() {
        let t = build(&config(1));
        assert_eq!(
            u32::from_le_bytes(t[36..40].try_into().unwrap()),
            0xFEE0_0000
        );
        assert_eq!(u32::from_le_bytes(t[40..44].try_into().unwrap()), 1);
        let io = &t[52..64];
        assert_eq!(io[..4], [1, 12, 0, 0]);
        assert_eq!(
            u32::from_le_bytes(io[4..8].try_into().unwrap()),
            0xFEC0_0000
        );
        assert_eq!(t[64..74], [2, 10, 0, 0, 2, 0, 0, 0, 0, 0], "IRQ0 -> GSI2");
        assert_eq!(
            t[74..84],
            [2, 10, 0, 9, 9, 0, 0, 0, 0x0D, 0],
            "SCI level/high"
        );
        assert_eq!(t[84..90], [4, 6, 0xFF, 0, 0, 1], "NMI on LINT1");
    }
}
