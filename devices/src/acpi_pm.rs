//! ACPI fixed hardware (ACPI 6.5 specification, chapter 4.8 "ACPI Hardware
//! Features"; section numbers below refer to it) at the I/O layout of the
//! ICH9 power-management block that QEMU's q35 uses (base 0x600):
//!
//! | offset | block | FADT field |
//! |---|---|---|
//! | 0x00 | PM1a_EVT_BLK: PM1_STS (2 bytes), PM1_EN (2 bytes) | PM1a_EVT_BLK, PM1_EVT_LEN = 4 |
//! | 0x04 | PM1a_CNT_BLK: PM1_CNT (2 bytes) | PM1a_CNT_BLK, PM1_CNT_LEN = 2 |
//! | 0x08 | PM_TMR_BLK: PM_TMR (4 bytes) | PM_TMR_BLK, PM_TMR_LEN = 4 |
//! | 0x20 | GPE0_BLK: GPE0_STS (8 bytes), GPE0_EN (8 bytes) | GPE0_BLK, GPE0_BLK_LEN = 16 |
//!
//! - PM1_STS / PM1_EN (4.8.3.1, Tables 4.16/4.17): status bits are
//!   write-1-to-clear; an enabled status raises the SCI.
//! - PM1_CNT (4.8.3.2, Table 4.18): SCI_EN reads 1 from reset. The machine
//!   starts in ACPI mode and the FADT declares SMI_CMD = 0 ("no mode
//!   transition": ACPICA then takes ACPI mode as given), so no SMI handler is
//!   needed. Writing SLP_EN with SLP_TYP = [`S5_SLP_TYP`] (the value the
//!   DSDT's `\_S5` package must carry, 0 as in QEMU's q35 DSDT) requests
//!   power-off through [`PowerControl`]; other sleep types are not
//!   supported and are logged and ignored.
//! - PM_TMR (4.8.3.3): a free-running counter at [`PM_TIMER_HZ`]
//!   (3.579545 MHz), 24 bits wide unless built with a 32-bit timer (then
//!   the FADT must set TMR_VAL_EXT), computed from `now_ns`. TMR_STS is set
//!   when its top bit changes and, with TMR_EN, raises the SCI.
//! - GPE0 (4.8.4.1): status and enable bytes; [`AcpiPm::set_gpe`] is the
//!   hook for hot-plug and other general-purpose events later.
//!
//! The SCI is a level, active-high output ([`IrqLine`]) wired to GSI 9
//! ([`SCI_IRQ`]); the MADT's interrupt source override must say "level,
//! active high" for it. As in QEMU, SCI_EN does not gate it.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::{ns_at_tick, ticks_at, Clock, TimerDevice};
use crate::irq::IrqLine;
use crate::power::{PowerControl, PowerEvent};

/// The PM I/O base QEMU's q35 uses (ICH9 PMBASE).
pub const ACPI_PM_BASE: u16 = 0x600;
/// The size of the PM I/O block (ICH9: 128 bytes).
pub const ACPI_PM_PORTS: u16 = 0x80;
/// The PM timer's frequency.
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// SLP_TYP for soft-off (S5), which the DSDT's `\_S5` must declare.
pub const S5_SLP_TYP: u8 = 0;
/// The GSI the SCI is wired to (the FADT's SCI_INT).
pub const SCI_IRQ: u32 = 9;
/// PM1_EVT_LEN for the FADT.
pub const PM1_EVT_LEN: u8 = 4;
/// PM1_CNT_LEN for the FADT.
pub const PM1_CNT_LEN: u8 = 2;
/// PM_TMR_LEN for the FADT.
pub const PM_TMR_LEN: u8 = 4;
/// GPE0 block length (status half, then enable half).
pub const GPE0_BLK_LEN: u8 = 0x10;

/// Offsets within the PM block.
pub mod offset {
    pub const PM1_STS: u8 = 0x00;
    pub const PM1_EN: u8 = 0x02;
    pub const PM1_CNT: u8 = 0x04;
    pub const PM_TMR: u8 = 0x08;
    pub const GPE0_STS: u8 = 0x20;
    pub const GPE0_EN: u8 = 0x28;
}

/// PM1_STS bits (Table 4.16).
pub mod pm1_sts {
    pub const TMR_STS: u16 = 1 << 0;
    pub const BM_STS: u16 = 1 << 4;
    pub const GBL_STS: u16 = 1 << 5;
    pub const PWRBTN_STS: u16 = 1 << 8;
    pub const SLPBTN_STS: u16 = 1 << 9;
    pub const RTC_STS: u16 = 1 << 10;
    pub const PCIEXP_WAKE_STS: u16 = 1 << 14;
    pub const WAK_STS: u16 = 1 << 15;
    /// The bits that exist.
    pub const ALL: u16 =
        TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS | PCIEXP_WAKE_STS | WAK_STS;
}

/// PM1_EN bits (Table 4.17).
pub mod pm1_en {
    pub const TMR_EN: u16 = 1 << 0;
    pub const GBL_EN: u16 = 1 << 5;
    pub const PWRBTN_EN: u16 = 1 << 8;
    pub const SLPBTN_EN: u16 = 1 << 9;
    pub const RTC_EN: u16 = 1 << 10;
    pub const PCIEXP_WAKE_DIS: u16 = 1 << 14;
    pub const ALL: u16 = TMR_EN | GBL_EN | PWRBTN_EN | SLPBTN_EN | RTC_EN | PCIEXP_WAKE_DIS;
    /// The events that raise the SCI when enabled.
    pub const SCI_EVENTS: u16 = TMR_EN | GBL_EN | PWRBTN_EN | SLPBTN_EN | RTC_EN;
}

/// PM1_CNT bits (Table 4.18).
pub mod pm1_cnt {
    pub const SCI_EN: u16 = 1 << 0;
    pub const BM_RLD: u16 = 1 << 1;
    /// Write-only.
    pub const GBL_RLS: u16 = 1 << 2;
    pub const SLP_TYP_SHIFT: u32 = 10;
    pub const SLP_TYP: u16 = 7 << SLP_TYP_SHIFT;
    /// Write-only.
    pub const SLP_EN: u16 = 1 << 13;
    /// The bits that read back.
    pub const STORED: u16 = SCI_EN | BM_RLD | SLP_TYP;
}

/// The PM block's registers, apart from its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiPmState {
    pub pm1_sts: u16,
    pub pm1_en: u16,
    pub pm1_cnt: u16,
    pub gpe0_sts: [u8; 8],
    pub gpe0_en: [u8; 8],
    /// The time up to which TMR_STS has been brought.
    pub tmr_checked_ns: u64,
}

impl AcpiPmState {
    /// After reset, in ACPI mode (SCI_EN set).
    pub fn reset(now_ns: u64) -> AcpiPmState {
        AcpiPmState {
            pm1_sts: 0,
            pm1_en: 0,
            pm1_cnt: pm1_cnt::SCI_EN,
            gpe0_sts: [0; 8],
            gpe0_en: [0; 8],
            tmr_checked_ns: now_ns,
        }
    }
}

/// The ACPI PM block.
pub struct AcpiPm {
    s: AcpiPmState,
    timer_32bit: bool,
    sci_level: bool,
    sci: Box<dyn IrqLine>,
    power: PowerControl,
}

impl std::fmt::Debug for AcpiPm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcpiPm")
            .field("state", &self.s)
            .field("timer_32bit", &self.timer_32bit)
            .field("sci", &self.sci_level)
            .finish()
    }
}

impl AcpiPm {
    /// A PM block after reset at `now_ns`, driving the SCI through `sci`
    /// and requesting power-off through `power`; its timer is 24 bits.
    pub fn new(sci: Box<dyn IrqLine>, power: PowerControl, now_ns: u64) -> AcpiPm {
        AcpiPm::from_state(AcpiPmState::reset(now_ns), sci, power)
    }

    /// A PM block in `state`.
    pub fn from_state(state: AcpiPmState, sci: Box<dyn IrqLine>, power: PowerControl) -> AcpiPm {
        let mut pm = AcpiPm {
            s: state,
            timer_32bit: false,
            sci_level: false,
            sci,
            power,
        };
        pm.s.pm1_sts &= pm1_sts::ALL;
        pm.s.pm1_en &= pm1_en::ALL;
        pm.s.pm1_cnt &= pm1_cnt::STORED;
        pm.update_sci();
        pm
    }

    /// Makes the PM timer 32 bits wide (the FADT must then set
    /// TMR_VAL_EXT).
    pub fn with_32bit_timer(mut self) -> AcpiPm {
        self.timer_32bit = true;
        self
    }

    /// The registers.
    pub fn state(&self) -> &AcpiPmState {
        &self.s
    }

    /// The bit of the PM timer whose change sets TMR_STS.
    fn timer_msb_shift(&self) -> u32 {
        if self.timer_32bit {
            31
        } else {
            23
        }
    }

    /// PM_TMR at `now_ns`.
    pub fn timer(&self, now_ns: u64) -> u32 {
        let ticks = ticks_at(now_ns, PM_TIMER_HZ) as u32;
        if self.timer_32bit {
            ticks
        } else {
            ticks & 0x00FF_FFFF
        }
    }

    /// Presses the power button: PWRBTN_STS, and an SCI if enabled (the
    /// guest then shuts down in an orderly way, if it is set up to).
    pub fn press_power_button(&mut self) {
        self.s.pm1_sts |= pm1_sts::PWRBTN_STS;
        self.update_sci();
    }

    /// Sets general-purpose event status bit `bit` (0..64).
    pub fn set_gpe(&mut self, bit: usize) {
        if let Some(byte) = self.s.gpe0_sts.get_mut(bit / 8) {
            *byte |= 1 << (bit % 8);
            self.update_sci();
        }
    }

    fn update_tmr_sts(&mut self, now_ns: u64) {
        let shift = self.timer_msb_shift();
        let from = self.s.tmr_checked_ns;
        if now_ns > from {
            if ticks_at(now_ns, PM_TIMER_HZ) >> shift != ticks_at(from, PM_TIMER_HZ) >> shift {
                self.s.pm1_sts |= pm1_sts::TMR_STS;
            }
            self.s.tmr_checked_ns = now_ns;
        }
    }

    fn update_sci(&mut self) {
        let pm1 = self.s.pm1_sts & self.s.pm1_en & pm1_en::SCI_EVENTS != 0;
        let gpe = self
            .s
            .gpe0_sts
            .iter()
            .zip(&self.s.gpe0_en)
            .any(|(s, e)| s & e != 0);
        let level = pm1 || gpe;
        if level != self.sci_level {
            self.sci_level = level;
            self.sci.set_level(level);
        }
    }

    /// Reads the byte at `offset` in the block; bytes no register covers
    /// read 0.
    pub fn read(&mut self, offset: u8, now_ns: u64) -> u8 {
        self.update_tmr_sts(now_ns);
        let byte = |v: u32, i: u8| (v >> (8 * u32::from(i))) as u8;
        match offset {
            0x00..=0x01 => byte(u32::from(self.s.pm1_sts), offset),
            0x02..=0x03 => byte(u32::from(self.s.pm1_en), offset - 2),
            0x04..=0x05 => byte(u32::from(self.s.pm1_cnt), offset - 4),
            0x08..=0x0B => byte(self.timer(now_ns), offset - 8),
            0x20..=0x27 => self.s.gpe0_sts[usize::from(offset - 0x20)],
            0x28..=0x2F => self.s.gpe0_en[usize::from(offset - 0x28)],
            _ => 0,
        }
    }

    /// Writes the byte at `offset` in the block.
    pub fn write(&mut self, offset: u8, value: u8, now_ns: u64) {
        self.update_tmr_sts(now_ns);
        let shifted = |i: u8| u16::from(value) << (8 * u16::from(i));
        let lane = |i: u8| 0xFFu16 << (8 * u16::from(i));
        match offset {
            0x00..=0x01 => self.s.pm1_sts &= !(shifted(offset) & pm1_sts::ALL),
            0x02..=0x03 => {
                let i = offset - 2;
                self.s.pm1_en = (self.s.pm1_en & !lane(i)) | (shifted(i) & pm1_en::ALL);
            }
            0x04..=0x05 => {
                let i = offset - 4;
                let value = shifted(i);
                self.s.pm1_cnt = (self.s.pm1_cnt & !lane(i)) | (value & pm1_cnt::STORED);
                if value & pm1_cnt::SLP_EN != 0 {
                    self.sleep(((value & pm1_cnt::SLP_TYP) >> pm1_cnt::SLP_TYP_SHIFT) as u8);
                }
            }
            0x20..=0x27 => self.s.gpe0_sts[usize::from(offset - 0x20)] &= !value,
            0x28..=0x2F => self.s.gpe0_en[usize::from(offset - 0x28)] = value,
            _ => {}
        }
        self.update_sci();
    }

    /// SLP_EN was written with `slp_typ` (4.8.3.2.1; 7.4.2 for `\_Sx`).
    fn sleep(&mut self, slp_typ: u8) {
        if slp_typ == S5_SLP_TYP {
            self.power.request(PowerEvent::PowerOff);
        } else {
            tracing::warn!(target: "acpi", slp_typ, "sleep state not supported; ignored");
        }
    }
}

impl TimerDevice for AcpiPm {
    fn next_deadline(&self) -> Option<u64> {
        if self.s.pm1_en & pm1_en::TMR_EN == 0 || self.s.pm1_sts & pm1_sts::TMR_STS != 0 {
            return None;
        }
        let shift = self.timer_msb_shift();
        let next = ((ticks_at(self.s.tmr_checked_ns, PM_TIMER_HZ) >> shift) + 1) << shift;
        Some(ns_at_tick(next, PM_TIMER_HZ))
    }

    fn service(&mut self, now_ns: u64) {
        self.update_tmr_sts(now_ns);
        self.update_sci();
    }
}

/// An [`AcpiPm`] shared between its ports and the machine.
pub type SharedAcpiPm = Arc<Mutex<AcpiPm>>;

/// The adapter for the [`ACPI_PM_PORTS`] ports from [`ACPI_PM_BASE`];
/// byte `i` of an access goes to offset `offset + i`, all at one instant.
#[derive(Clone)]
pub struct AcpiPmPorts {
    pm: SharedAcpiPm,
    clock: Arc<dyn Clock>,
}

impl AcpiPmPorts {
    pub fn new(pm: SharedAcpiPm, clock: Arc<dyn Clock>) -> AcpiPmPorts {
        AcpiPmPorts { pm, clock }
    }
}

impl std::fmt::Debug for AcpiPmPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcpiPmPorts").finish_non_exhaustive()
    }
}

impl mem::BusDevice for AcpiPmPorts {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let now = self.clock.now_ns();
        let mut pm = self.pm.lock();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match offset.checked_add(i as u64) {
                Some(o) if o < u64::from(ACPI_PM_PORTS) => pm.read(o as u8, now),
                _ => 0xFF,
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let now = self.clock.now_ns();
        let mut pm = self.pm.lock();
        // PM1_CNT's SLP_EN and SLP_TYP share its high byte, so a 16-bit
        // write acts on both bytes before the sleep request is looked at.
        for (i, &byte) in data.iter().enumerate() {
            if let Some(o) = offset.checked_add(i as u64) {
                if o < u64::from(ACPI_PM_PORTS) {
                    pm.write(o as u8, byte, now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mem::{Attention, BusDevice};

    use super::*;
    use crate::clock::ManualClock;
    use crate::irq::IrqRecorder;

    fn pm() -> (AcpiPm, IrqRecorder, PowerControl) {
        let sci = IrqRecorder::default();
        let power = PowerControl::new(Arc::new(Attention::default()));
        (
            AcpiPm::new(Box::new(sci.clone()), power.clone(), 0),
            sci,
            power,
        )
    }

    fn w16(p: &mut AcpiPm, offset: u8, v: u16, now: u64) {
        let [lo, hi] = v.to_le_bytes();
        p.write(offset, lo, now);
        p.write(offset + 1, hi, now);
    }

    fn r16(p: &mut AcpiPm, offset: u8, now: u64) -> u16 {
        u16::from_le_bytes([p.read(offset, now), p.read(offset + 1, now)])
    }

    fn r32(p: &mut AcpiPm, offset: u8, now: u64) -> u32 {
        u32::from_le_bytes([0, 1, 2, 3].map(|i| p.read(offset + i, now)))
    }

    #[test]
    fn acpi_reset_is_in_acpi_mode() {
        let (mut p, sci, _) = pm();
        assert_eq!(r16(&mut p, offset::PM1_CNT, 0), pm1_cnt::SCI_EN);
        assert!(!sci.level());
    }

    #[test]
    fn acpi_pm_timer_counts_at_3_58_mhz_and_wraps_at_24_bits() {
        let (mut p, _, _) = pm();
        assert_eq!(r32(&mut p, offset::PM_TMR, 1_000_000_000), 3_579_545);
        let wrap = ns_at_tick(1 << 24, PM_TIMER_HZ);
        assert_eq!(r32(&mut p, offset::PM_TMR, wrap), 0);
        assert_eq!(r32(&mut p, offset::PM_TMR, wrap - 1), 0x00FF_FFFF);
    }

    #[test]
    fn acpi_pm_timer_32bit_does_not_wrap_at_24_bits() {
        let (p, _, _) = pm();
        let p = p.with_32bit_timer();
        assert_eq!(p.timer(ns_at_tick(1 << 24, PM_TIMER_HZ)), 1 << 24);
    }

    #[test]
    fn acpi_s5_sleep_requests_power_off() {
        let (mut p, _, power) = pm();
        w16(
            &mut p,
            offset::PM1_CNT,
            pm1_cnt::SCI_EN | u16::from(S5_SLP_TYP) << 10 | pm1_cnt::SLP_EN,
            0,
        );
        assert_eq!(power.take(), Some(PowerEvent::PowerOff));
        assert_eq!(
            r16(&mut p, offset::PM1_CNT, 0) & pm1_cnt::SLP_EN,
            0,
            "write-only"
        );
    }

    #[test]
    fn acpi_other_sleep_types_are_ignored() {
        let (mut p, _, power) = pm();
        w16(&mut p, offset::PM1_CNT, 1 << 10 | pm1_cnt::SLP_EN, 0);
        assert_eq!(power.pending(), None);
    }

    #[test]
    fn acpi_power_button_raises_sci_when_enabled_and_clears_on_write_one() {
        let (mut p, sci, _) = pm();
        p.press_power_button();
        assert!(!sci.level());
        w16(&mut p, offset::PM1_EN, pm1_en::PWRBTN_EN, 0);
        assert!(sci.level());
        assert_eq!(r16(&mut p, offset::PM1_STS, 0), pm1_sts::PWRBTN_STS);
        w16(&mut p, offset::PM1_STS, pm1_sts::PWRBTN_STS, 0);
        assert!(!sci.level());
    }

    #[test]
    fn acpi_tmr_sts_sets_on_msb_toggle_and_raises_sci() {
        let (mut p, sci, _) = pm();
        w16(&mut p, offset::PM1_EN, pm1_en::TMR_EN, 0);
        let toggle = ns_at_tick(1 << 23, PM_TIMER_HZ);
        assert_eq!(p.next_deadline(), Some(toggle));
        p.service(toggle - 1);
        assert!(!sci.level());
        p.service(toggle);
        assert!(sci.level());
        assert_eq!(p.next_deadline(), None);
        w16(&mut p, offset::PM1_STS, pm1_sts::TMR_STS, toggle);
        assert!(!sci.level());
    }

    #[test]
    fn acpi_gpe_status_and_enable_raise_sci() {
        let (mut p, sci, _) = pm();
        p.set_gpe(9);
        assert!(!sci.level());
        p.write(offset::GPE0_EN + 1, 0x02, 0);
        assert!(sci.level());
        assert_eq!(p.read(offset::GPE0_STS + 1, 0), 0x02);
        p.write(offset::GPE0_STS + 1, 0x02, 0);
        assert!(!sci.level());
        p.set_gpe(1000);
    }

    #[test]
    fn acpi_ports_adapter_reads_timer_with_one_timestamp() {
        let sci = IrqRecorder::default();
        let power = PowerControl::new(Arc::new(Attention::default()));
        let shared: SharedAcpiPm = Arc::new(Mutex::new(AcpiPm::new(Box::new(sci), power, 0)));
        let clock = Arc::new(ManualClock::new(0));
        let mut ports = AcpiPmPorts::new(shared, clock.clone());
        clock.set(ns_at_tick(0x12_3456, PM_TIMER_HZ));
        let mut d = [0u8; 4];
        ports.read(u64::from(offset::PM_TMR), &mut d);
        assert_eq!(u32::from_le_bytes(d), 0x12_3456);
        ports.read(u64::from(ACPI_PM_PORTS) - 2, &mut d);
        assert_eq!(d, [0, 0, 0xFF, 0xFF]);
        ports.write(u64::MAX, &[0xFF; 4]);
    }

    #[test]
    fn acpi_hostile_writes_do_not_panic() {
        let (mut p, _, _) = pm();
        for offset in 0..=255u8 {
            for v in [0, 0x55, 0xAA, 0xFF] {
                p.write(offset, v, u64::from(offset));
                p.read(offset, u64::MAX);
                p.service(u64::MAX);
                let _ = p.next_deadline();
            }
        }
    }
}
