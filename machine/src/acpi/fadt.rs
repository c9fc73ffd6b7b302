//! The Fixed ACPI Description Table, "FACP" (ACPI 6.5, 5.2.9, Table 5.9):
//! where the fixed-hardware register blocks are, which interrupt the SCI
//! uses, how to reset the machine, and where the DSDT and FACS are.
//!
//! The register blocks are those of the ICH9 power-management I/O space as
//! QEMU's q35 places it (PMBASE 0x600). SMI_CMD is zero: the platform is
//! always in ACPI mode, so the OS never has to hand over from firmware
//! (ACPI 6.5, 4.8.2.1 "Legacy/ACPI Select").

use super::sdt::{Gas, Sdt};
use super::{AcpiConfig, PmIo};

/// Revision 6 with minor version 5: the ACPI 6.5 layout, 276 bytes.
pub const REVISION: u8 = 6;
pub const MINOR_REVISION: u8 = 5;
pub const LEN: usize = 276;

/// Fixed Feature Flags (ACPI 6.5, Table 5.10).
pub mod flags {
    /// WBINVD works (flushes all caches).
    pub const WBINVD: u32 = 1 << 0;
    /// C1 is supported on all processors.
    pub const PROC_C1: u32 = 1 << 2;
    /// The sleep button is a control-method button, or there is none.
    pub const SLP_BUTTON: u32 = 1 << 5;
    /// The RTC can wake the system from S4.
    pub const RTC_S4: u32 = 1 << 7;
    /// The PM timer is 32 bits wide (24 otherwise).
    pub const TMR_VAL_EXT: u32 = 1 << 8;
    /// RESET_REG is supported.
    pub const RESET_REG_SUP: u32 = 1 << 10;
    /// The OS should use a platform clock for its counters.
    pub const USE_PLATFORM_CLOCK: u32 = 1 << 15;
}

/// IA-PC Boot Architecture Flags (ACPI 6.5, Table 5.11).
pub mod boot_arch {
    /// Legacy devices the OS cannot enumerate (LPC/ISA) exist.
    pub const LEGACY_DEVICES: u16 = 1 << 0;
    /// An 8042 keyboard controller (or equivalent) is present.
    pub const I8042: u16 = 1 << 1;
}

/// Where the FADT points.
#[derive(Clone, Copy, Debug)]
pub struct FadtLinks {
    pub facs: u64,
    pub dsdt: u64,
}

/// The FADT for `config`, pointing at the FACS and DSDT in `links`.
pub fn build(config: &AcpiConfig, links: FadtLinks) -> Vec<u8> {
    let pm = PmIo::Q35;
    let mut fixed = flags::WBINVD
        | flags::PROC_C1
        | flags::SLP_BUTTON
        | flags::RTC_S4
        | flags::RESET_REG_SUP
        | flags::USE_PLATFORM_CLOCK;
    if config.pm_timer_32bit {
        fixed |= flags::TMR_VAL_EXT;
    }
    let mut arch = boot_arch::LEGACY_DEVICES;
    if config.i8042 {
        arch |= boot_arch::I8042;
    }
    let reset = Gas {
        access_size: 1,
        ..Gas::io(pm.reset_port, 1)
    };

    let mut t = Sdt::new(*b"FACP", REVISION);
    // Both addresses fit 32 bits (the tables live below 1 MiB), so the
    // FACS goes in FIRMWARE_CTRL only (X_FIRMWARE_CTRL must then be zero)
    // and the DSDT in both DSDT and X_DSDT, as QEMU writes them.
    t.u32(links.facs as u32) // FIRMWARE_CTRL
        .u32(links.dsdt as u32) // DSDT
        .u8(0) // reserved (INT_MODEL in ACPI 1.0)
        .u8(0) // Preferred_PM_Profile: unspecified
        .u16(pm.sci_irq as u16) // SCI_INT
        .u32(0) // SMI_CMD: none, ACPI mode is always on
        .u8(0) // ACPI_ENABLE
        .u8(0) // ACPI_DISABLE
        .u8(0) // S4BIOS_REQ
        .u8(0) // PSTATE_CNT
        .u32(pm.pm1a_evt as u32) // PM1a_EVT_BLK
        .u32(0) // PM1b_EVT_BLK
        .u32(pm.pm1a_cnt as u32) // PM1a_CNT_BLK
        .u32(0) // PM1b_CNT_BLK
        .u32(0) // PM2_CNT_BLK
        .u32(pm.pm_tmr as u32) // PM_TMR_BLK
        .u32(pm.gpe0 as u32) // GPE0_BLK
        .u32(0) // GPE1_BLK
        .u8(PmIo::PM1_EVT_LEN) // PM1_EVT_LEN
        .u8(PmIo::PM1_CNT_LEN) // PM1_CNT_LEN
        .u8(0) // PM2_CNT_LEN
        .u8(PmIo::PM_TMR_LEN) // PM_TMR_LEN
        .u8(pm.gpe0_len) // GPE0_BLK_LEN
        .u8(0) // GPE1_BLK_LEN
        .u8(0) // GPE1_BASE
        .u8(0) // CST_CNT
        .u16(0x0FFF) // P_LVL2_LAT: > 100 us, C2 not supported
        .u16(0x0FFF) // P_LVL3_LAT: > 1000 us, C3 not supported
        .u16(0) // FLUSH_SIZE
        .u16(0) // FLUSH_STRIDE
        .u8(0) // DUTY_OFFSET
        .u8(0) // DUTY_WIDTH
        .u8(0) // DAY_ALRM: no day-of-month alarm
        .u8(0) // MON_ALRM: no month alarm
        .u8(RTC_CENTURY) // CENTURY
        .u16(arch) // IAPC_BOOT_ARCH
        .u8(0) // reserved
        .u32(fixed) // Flags
        .gas(reset) // RESET_REG
        .u8(pm.reset_value) // RESET_VALUE
        .u16(0) // ARM_BOOT_ARCH
        .u8(MINOR_REVISION) // FADT Minor Version
        .u64(0) // X_FIRMWARE_CTRL
        .u64(links.dsdt) // X_DSDT
        .gas(Gas::io(pm.pm1a_evt, PmIo::PM1_EVT_LEN)) // X_PM1a_EVT_BLK
        .gas(Gas::default()) // X_PM1b_EVT_BLK
        .gas(Gas::io(pm.pm1a_cnt, PmIo::PM1_CNT_LEN)) // X_PM1a_CNT_BLK
        .gas(Gas::default()) // X_PM1b_CNT_BLK
        .gas(Gas::default()) // X_PM2_CNT_BLK
        .gas(Gas::io(pm.pm_tmr, PmIo::PM_TMR_LEN)) // X_PM_TMR_BLK
        .gas(Gas::io(pm.gpe0, pm.gpe0_len)) // X_GPE0_BLK
        .gas(Gas::default()) // X_GPE1_BLK
        .gas(Gas::default()) // SLEEP_CONTROL_REG (hardware-reduced only)
        .gas(Gas::default()) // SLEEP_STATUS_REG (hardware-reduced only)
        .u64(0); // Hypervisor Vendor Identity
    t.finish()
}

/// The CMOS register holding the century (the MC146818 "century" byte
/// QEMU keeps at 0x32).
pub const RTC_CENTURY: u8 = devices::rtc::RTC_CENTURY;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::sdt::sums_to_zero;

    fn fadt() -> Vec<u8> {
        let config = AcpiConfig::new(mem::RamLayout {
            low: 128 << 20,
            high: 0,
        });
        build(
            &config,
            FadtLinks {
                facs: 0xE_0100,
                dsdt: 0xE_0200,
            },
        )
    }

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn fadt_checksum_and_length_are_right() {
        let t = fadt();
        assert_eq!(t.len(), LEN);
        assert_eq!(u32_at(&t, 4) as usize, LEN);
        assert!(sums_to_zero(&t));
        assert_eq!(&t[0..4], b"FACP");
        assert_eq!((t[8], t[131]), (6, 5));
    }

    #[test]
    fn fadt_fields_sit_at_spec_offsets() {
        let t = fadt();
        assert_eq!(u32_at(&t, 36), 0xE_0100, "FIRMWARE_CTRL");
        assert_eq!(u32_at(&t, 40), 0xE_0200, "DSDT");
        assert_eq!(u16::from_le_bytes([t[46], t[47]]), 9, "SCI_INT");
        assert_eq!(u32_at(&t, 48), 0, "SMI_CMD");
        assert_eq!(u32_at(&t, 56), 0x600, "PM1a_EVT_BLK");
        assert_eq!(u32_at(&t, 64), 0x604, "PM1a_CNT_BLK");
        assert_eq!(u32_at(&t, 76), 0x608, "PM_TMR_BLK");
        assert_eq!(u32_at(&t, 80), 0x620, "GPE0_BLK");
        assert_eq!(t[88..93], [4, 2, 0, 4, 16], "block lengths");
        assert_eq!(t[108], 0x32, "CENTURY");
        assert_eq!(u16::from_le_bytes([t[109], t[110]]), 3, "IAPC_BOOT_ARCH");
        let f = u32_at(&t, 112);
        assert_ne!(f & flags::RESET_REG_SUP, 0);
        assert_ne!(f & flags::TMR_VAL_EXT, 0);
        assert_eq!(f & (1 << 20), 0, "not hardware-reduced");
        assert_eq!(t[116..120], [1, 8, 0, 1], "RESET_REG: I/O, 8 bits, byte");
        assert_eq!(u32_at(&t, 120), 0xCF9);
        assert_eq!(t[128], 0x06, "RESET_VALUE");
        assert_eq!(
            u64::from_le_bytes(t[140..148].try_into().unwrap()),
            0xE_0200
        );
        assert_eq!(t[208..210], [1, 32], "X_PM_TMR_BLK");
        assert_eq!(t[220..222], [1, 128], "X_GPE0_BLK");
    }
}
