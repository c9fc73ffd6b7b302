//! The MC146818 real-time clock and CMOS RAM (Motorola MC146818A datasheet;
//! section names below refer to it), as a PC has it at ports 0x70 (index,
//! with the NMI mask in bit 7) and 0x71 (data), and with the register
//! layout QEMU's q35 firmware and Linux expect (century at 0x32, memory
//! sizes at 0x30/0x31, 0x34/0x35 and 0x5B..=0x5D).
//!
//! Time. The clock is not a counter that ticks: the RTC time is
//! `base_secs + floor((now_ns - base_ns) / 1 s)` while it runs, where
//! `base_secs` comes from the host's wall clock at machine start (seconds
//! since the Unix epoch, UTC) and is re-based whenever the guest sets the
//! time. The time registers are computed from it on every read, in the
//! format register B selects (BCD or binary, 12- or 24-hour; "Time, Calendar
//! and Alarm Locations"). While register B.SET is 1 or the divider chain is
//! held in reset (register A.DV), the clock stops ("Register B", SET): the
//! registers hold what was last computed or written, and when it restarts
//! the time is read back from them.
//!
//! The update cycle happens at each second boundary, instantly; register
//! A.UIP reads 1 for the 244 µs before it, as on the chip (t_BUC), so
//! software that waits for UIP to drop and then reads reads a consistent
//! time.
//!
//! Interrupts ("Register C"): PF at the periodic rate register A selects,
//! UF at each update, AF at an update that matches the alarm (an alarm byte
//! with bits 7:6 set matches anything). Flags are set whether or not their
//! interrupt is enabled and are computed lazily from `now_ns` when register
//! C is read or the RTC is serviced; IRQF and the IRQ8 output ([`IrqLine`],
//! high = asserted) follow `flags & enables`. Reading C clears them all.
//! [`TimerDevice::next_deadline`] names the next flag an *enabled*
//! interrupt is waiting for (for AIE, the next update: alarms are checked
//! once a second).

use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::{ns_at_tick, ticks_at, Clock, TimerDevice, NS_PER_SEC};
use crate::irq::IrqLine;

/// The index port; the data port is the next one.
pub const RTC_BASE: u16 = 0x70;
/// Ports the RTC decodes.
pub const RTC_PORTS: u16 = 2;
/// Bytes of CMOS (clock registers included) reachable through port 0x70.
pub const CMOS_SIZE: usize = 128;
/// The century register, named by the FADT's CENTURY field.
pub const RTC_CENTURY: u8 = 0x32;

/// Register indices ("Address Map").
pub mod reg {
    pub const SECONDS: u8 = 0x00;
    pub const SECONDS_ALARM: u8 = 0x01;
    pub const MINUTES: u8 = 0x02;
    pub const MINUTES_ALARM: u8 = 0x03;
    pub const HOURS: u8 = 0x04;
    pub const HOURS_ALARM: u8 = 0x05;
    pub const DAY_OF_WEEK: u8 = 0x06;
    pub const DAY_OF_MONTH: u8 = 0x07;
    pub const MONTH: u8 = 0x08;
    pub const YEAR: u8 = 0x09;
    pub const A: u8 = 0x0A;
    pub const B: u8 = 0x0B;
    pub const C: u8 = 0x0C;
    pub const D: u8 = 0x0D;
}

/// Register A bits.
pub mod reg_a {
    /// Update in progress (read-only).
    pub const UIP: u8 = 0x80;
    /// Divider chain control, bits 6:4: 010 is the 32.768 kHz time base.
    pub const DV: u8 = 0x70;
    /// Rate select, bits 3:0.
    pub const RS: u8 = 0x0F;
}

/// Register B bits.
pub mod reg_b {
    /// Inhibit updates; the time may be set.
    pub const SET: u8 = 0x80;
    /// Periodic interrupt enable.
    pub const PIE: u8 = 0x40;
    /// Alarm interrupt enable.
    pub const AIE: u8 = 0x20;
    /// Update-ended interrupt enable.
    pub const UIE: u8 = 0x10;
    /// Square-wave enable (no pin here).
    pub const SQWE: u8 = 0x08;
    /// Data mode: 1 = binary, 0 = BCD.
    pub const DM_BINARY: u8 = 0x04;
    /// 1 = 24-hour mode.
    pub const HOUR_24: u8 = 0x02;
    /// Daylight saving enable (not emulated).
    pub const DSE: u8 = 0x01;
}

/// Register C bits.
pub mod reg_c {
    pub const IRQF: u8 = 0x80;
    pub const PF: u8 = 0x40;
    pub const AF: u8 = 0x20;
    pub const UF: u8 = 0x10;
}

/// Register D: valid RAM and time.
pub const REG_D_VRT: u8 = 0x80;

/// How long UIP reads 1 before each update (t_BUC).
const UIP_NS: u64 = 244_000;
/// The time base of the divider chain.
const RTC_HZ: u64 = 32_768;
/// The registers that hold the time (and the century): the ones frozen
/// while the clock is stopped.
const TIME_REGS: [u8; 8] = [
    reg::SECONDS,
    reg::MINUTES,
    reg::HOURS,
    reg::DAY_OF_WEEK,
    reg::DAY_OF_MONTH,
    reg::MONTH,
    reg::YEAR,
    RTC_CENTURY,
];

/// The RTC's registers and clock, apart from its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtcState {
    /// CMOS bytes. While the clock runs, the time registers here are stale
    /// (reads compute them); A's UIP bit is computed too.
    pub cmos: [u8; CMOS_SIZE],
    /// The index last written to port 0x70.
    pub index: u8,
    /// Port 0x70 bit 7: NMI disabled.
    pub nmi_disabled: bool,
    /// RTC time (seconds since 1970-01-01 00:00:00) at `base_ns`, which
    /// is the start of a second.
    pub base_secs: i64,
    pub base_ns: u64,
    /// Pending register C flags (PF, AF, UF).
    pub flags: u8,
    /// The time up to which `flags` has been brought.
    pub checked_ns: u64,
}

/// The RTC and CMOS.
pub struct Rtc {
    s: RtcState,
    irq_level: bool,
    irq: Box<dyn IrqLine>,
}

impl std::fmt::Debug for Rtc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rtc")
            .field("state", &self.s)
            .field("irq", &self.irq_level)
            .finish()
    }
}

/// A calendar time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 1 = Sunday.
    weekday: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`); out-of-range days simply count on.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let month = i64::from(month.clamp(1, 12));
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    fn from_secs(secs: i64) -> DateTime {
        let days = secs.div_euclid(86_400);
        let tod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: tod / 3600,
            minute: tod / 60 % 60,
            second: tod % 60,
            // 1970-01-01 was a Thursday (5 with Sunday = 1).
            weekday: ((days + 4).rem_euclid(7) + 1) as u32,
        }
    }

    fn to_secs(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

fn to_bcd(v: u32) -> u8 {
    let v = v % 100;
    (((v / 10) << 4) | (v % 10)) as u8
}

fn from_bcd(v: u8) -> u32 {
    u32::from(v >> 4) * 10 + u32::from(v & 0xF)
}

impl Rtc {
    /// An RTC whose clock reads `wall_secs` (seconds since the Unix epoch,
    /// UTC) at `now_ns`, with registers A = 0x26, B = 0x02 (24-hour, BCD),
    /// C = 0, D = VRT, as QEMU starts it; `irq` is IRQ8.
    pub fn new(irq: Box<dyn IrqLine>, wall_secs: i64, now_ns: u64) -> Rtc {
        let mut cmos = [0u8; CMOS_SIZE];
        cmos[usize::from(reg::A)] = 0x26;
        cmos[usize::from(reg::B)] = reg_b::HOUR_24;
        cmos[usize::from(reg::D)] = REG_D_VRT;
        let state = RtcState {
            cmos,
            index: 0,
            nmi_disabled: false,
            base_secs: wall_secs,
            base_ns: now_ns,
            flags: 0,
            checked_ns: now_ns,
        };
        Rtc::from_state(state, irq)
    }

    /// An RTC in `state`.
    pub fn from_state(state: RtcState, irq: Box<dyn IrqLine>) -> Rtc {
        let mut rtc = Rtc {
            s: state,
            irq_level: false,
            irq,
        };
        rtc.s.index &= 0x7F;
        rtc.s.flags &= reg_c::PF | reg_c::AF | reg_c::UF;
        rtc.update_irq();
        rtc
    }

    /// The registers and clock.
    pub fn state(&self) -> &RtcState {
        &self.s
    }

    /// Sets CMOS byte `index` (0..128) for the firmware or kernel to find;
    /// clock registers and out-of-range indices are left alone.
    pub fn set_nvram(&mut self, index: u8, value: u8) {
        let i = usize::from(index);
        if i < CMOS_SIZE && i > usize::from(reg::D) && index != RTC_CENTURY {
            self.s.cmos[i] = value;
        }
    }

    /// CMOS byte `index` as stored (for the machine and tests).
    pub fn nvram(&self, index: u8) -> u8 {
        self.s.cmos.get(usize::from(index)).copied().unwrap_or(0xFF)
    }

    /// Records the memory sizes where QEMU's `pc_cmos_init` puts them: base
    /// memory in KiB (0x15/0x16), memory from 1 MiB in KiB up to 64 MiB
    /// (0x17/0x18 and 0x30/0x31), from 16 MiB in 64 KiB units up to 4 GiB
    /// (0x34/0x35), and above 4 GiB in 64 KiB units (0x5B..=0x5D).
    pub fn set_memory_size(&mut self, below_4g: u64, above_4g: u64) {
        const KIB: u64 = 1 << 10;
        const MIB: u64 = 1 << 20;
        let base = (below_4g / KIB).min(640);
        self.set_nvram(0x15, base as u8);
        self.set_nvram(0x16, (base >> 8) as u8);
        let ext = (below_4g.saturating_sub(MIB) / KIB).min(0xFFFF);
        for (lo, hi) in [(0x17, 0x18), (0x30, 0x31)] {
            self.set_nvram(lo, ext as u8);
            self.set_nvram(hi, (ext >> 8) as u8);
        }
        let high = (below_4g.saturating_sub(16 * MIB) / (64 * KIB)).min(0xFFFF);
        self.set_nvram(0x34, high as u8);
        self.set_nvram(0x35, (high >> 8) as u8);
        let above = (above_4g / (64 * KIB)).min(0xFF_FFFF);
        self.set_nvram(0x5B, above as u8);
        self.set_nvram(0x5C, (above >> 8) as u8);
        self.set_nvram(0x5D, (above >> 16) as u8);
    }

    /// Whether port 0x70 bit 7 has disabled NMI.
    pub fn nmi_disabled(&self) -> bool {
        self.s.nmi_disabled
    }

    fn cmos(&self, r: u8) -> u8 {
        self.s.cmos[usize::from(r)]
    }

    /// The divider chain runs (DV = 010, or the other time bases, as QEMU
    /// treats them).
    fn divider_running(&self) -> bool {
        self.cmos(reg::A) & reg_a::DV <= 0x20
    }

    /// The clock updates.
    fn running(&self) -> bool {
        self.divider_running() && self.cmos(reg::B) & reg_b::SET == 0
    }

    /// RTC seconds at `now_ns` (the running clock).
    fn secs_at(&self, now_ns: u64) -> i64 {
        let elapsed = now_ns.saturating_sub(self.s.base_ns) / NS_PER_SEC;
        self.s.base_secs.saturating_add(elapsed as i64)
    }

    fn binary(&self) -> bool {
        self.cmos(reg::B) & reg_b::DM_BINARY != 0
    }

    fn encode(&self, v: u32) -> u8 {
        if self.binary() {
            v as u8
        } else {
            to_bcd(v)
        }
    }

    fn decode(&self, v: u8) -> u32 {
        if self.binary() {
            u32::from(v)
        } else {
            from_bcd(v)
        }
    }

    fn encode_hour(&self, hour: u32) -> u8 {
        if self.cmos(reg::B) & reg_b::HOUR_24 != 0 {
            self.encode(hour)
        } else {
            let h12 = match hour % 12 {
                0 => 12,
                h => h,
            };
            self.encode(h12) | if hour >= 12 { 0x80 } else { 0 }
        }
    }

    fn decode_hour(&self, v: u8) -> u32 {
        if self.cmos(reg::B) & reg_b::HOUR_24 != 0 {
            self.decode(v)
        } else {
            self.decode(v & 0x7F) % 12 + if v & 0x80 != 0 { 12 } else { 0 }
        }
    }

    /// Time register `r` of `t` in the current format.
    fn encode_reg(&self, r: u8, t: &DateTime) -> u8 {
        match r {
            reg::SECONDS => self.encode(t.second),
            reg::MINUTES => self.encode(t.minute),
            reg::HOURS => self.encode_hour(t.hour),
            reg::DAY_OF_WEEK => self.encode(t.weekday),
            reg::DAY_OF_MONTH => self.encode(t.day),
            reg::MONTH => self.encode(t.month),
            reg::YEAR => self.encode(t.year.rem_euclid(100) as u32),
            _ => self.encode(t.year.div_euclid(100).rem_euclid(100) as u32),
        }
    }

    /// Writes the running clock's time into the time registers.
    fn freeze(&mut self, now_ns: u64) {
        let t = DateTime::from_secs(self.secs_at(now_ns));
        for r in TIME_REGS {
            self.s.cmos[usize::from(r)] = self.encode_reg(r, &t);
        }
    }

    /// Starts the clock from the time registers at `now_ns`, the next
    /// update `next_update_ns` from now.
    fn thaw(&mut self, now_ns: u64, next_update_ns: u64) {
        let t = DateTime {
            year: i64::from(self.decode(self.cmos(RTC_CENTURY))) * 100
                + i64::from(self.decode(self.cmos(reg::YEAR))),
            month: self.decode(self.cmos(reg::MONTH)),
            day: self.decode(self.cmos(reg::DAY_OF_MONTH)),
            hour: self.decode_hour(self.cmos(reg::HOURS)),
            minute: self.decode(self.cmos(reg::MINUTES)),
            second: self.decode(self.cmos(reg::SECONDS)),
            weekday: 0,
        };
        self.s.base_secs = t.to_secs();
        // base_ns is the start of the current second, so that the next
        // update comes `next_update_ns` from now.
        let into_second = NS_PER_SEC - next_update_ns.clamp(1, NS_PER_SEC);
        self.s.base_ns = now_ns.saturating_sub(into_second);
    }

    /// How far into its second the running clock is.
    fn phase(&self, now_ns: u64) -> u64 {
        now_ns.saturating_sub(self.s.base_ns) % NS_PER_SEC
    }

    /// Applies `change` to the register bytes, stopping or starting the
    /// clock as A and B now say. `sets_time` says whether the change writes
    /// a time register, in which case a running clock restarts from the
    /// registers; otherwise a clock that keeps running keeps its time (a
    /// change of data mode does not reinterpret it).
    fn change_clock(&mut self, now_ns: u64, sets_time: bool, change: impl FnOnce(&mut Rtc)) {
        let was_running = self.running();
        let divider_was = self.divider_running();
        let phase = self.phase(now_ns);
        let base = (self.s.base_secs, self.s.base_ns);
        if was_running {
            self.freeze(now_ns);
        }
        change(self);
        if !self.running() {
            if was_running {
                tracing::trace!(target: "rtc", "clock stopped");
            }
            return;
        }
        if was_running && !sets_time {
            (self.s.base_secs, self.s.base_ns) = base;
            return;
        }
        // The divider keeps its phase through SET; taken out of reset, it
        // makes the first update 500 ms later ("Register A").
        let next = if divider_was {
            NS_PER_SEC - phase
        } else {
            NS_PER_SEC / 2
        };
        self.thaw(now_ns, next);
    }

    /// Periodic interrupt period in 32.768 kHz ticks, from register A.RS
    /// ("Periodic Interrupt Rate", Table 5): rates 1 and 2 repeat 8 and 9.
    fn periodic_ticks(&self) -> Option<u64> {
        match self.cmos(reg::A) & reg_a::RS {
            0 => None,
            1 => Some(1 << 7),
            2 => Some(1 << 8),
            rs => Some(1 << (rs - 1)),
        }
    }

    /// Whether RTC second `secs` matches the alarm registers.
    fn alarm_matches(&self, secs: i64) -> bool {
        let t = DateTime::from_secs(secs);
        [
            (reg::SECONDS_ALARM, reg::SECONDS),
            (reg::MINUTES_ALARM, reg::MINUTES),
            (reg::HOURS_ALARM, reg::HOURS),
        ]
        .into_iter()
        .all(|(alarm, time)| {
            let a = self.cmos(alarm);
            a & 0xC0 == 0xC0 || a == self.encode_reg(time, &t)
        })
    }

    /// Brings the flags up to `now_ns`.
    fn update_flags(&mut self, now_ns: u64) {
        let from = self.s.checked_ns;
        if now_ns <= from {
            return;
        }
        if let Some(p) = self.periodic_ticks().filter(|_| self.divider_running()) {
            if ticks_at(now_ns, RTC_HZ) / p > ticks_at(from, RTC_HZ) / p {
                self.s.flags |= reg_c::PF;
            }
        }
        if self.running() {
            let (s0, s1) = (self.secs_at(from), self.secs_at(now_ns));
            if s1 > s0 {
                self.s.flags |= reg_c::UF;
                // A day of updates covers every alarm that can match.
                let first = s0.saturating_add(1).max(s1.saturating_sub(86_400));
                if (first..=s1).any(|s| self.alarm_matches(s)) {
                    self.s.flags |= reg_c::AF;
                }
            }
        }
        self.s.checked_ns = now_ns;
        self.update_irq();
    }

    fn irqf(&self) -> bool {
        self.s.flags & self.cmos(reg::B) & (reg_b::PIE | reg_b::AIE | reg_b::UIE) != 0
    }

    fn update_irq(&mut self) {
        let level = self.irqf();
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set_level(level);
        }
    }

    /// Reads port `offset` (0: index, which reads 0xFF as QEMU's does; 1:
    /// the selected register).
    pub fn read(&mut self, offset: u8, now_ns: u64) -> u8 {
        if offset != 1 {
            return 0xFF;
        }
        let index = self.s.index;
        match index {
            reg::A => {
                let uip = self.running() && self.phase(now_ns) >= NS_PER_SEC - UIP_NS;
                (self.cmos(reg::A) & !reg_a::UIP) | if uip { reg_a::UIP } else { 0 }
            }
            reg::C => {
                self.update_flags(now_ns);
                let value = self.s.flags | if self.irqf() { reg_c::IRQF } else { 0 };
                self.s.flags = 0;
                self.update_irq();
                value
            }
            reg::D => REG_D_VRT,
            r if TIME_REGS.contains(&r) && self.running() => {
                let t = DateTime::from_secs(self.secs_at(now_ns));
                self.encode_reg(r, &t)
            }
            r => self.cmos(r),
        }
    }

    /// Writes port `offset` (0: index and NMI mask; 1: the selected
    /// register).
    pub fn write(&mut self, offset: u8, value: u8, now_ns: u64) {
        match offset {
            0 => {
                self.s.index = value & 0x7F;
                self.s.nmi_disabled = value & 0x80 != 0;
            }
            1 => self.write_register(value, now_ns),
            _ => {}
        }
    }

    fn write_register(&mut self, value: u8, now_ns: u64) {
        self.update_flags(now_ns);
        let index = self.s.index;
        match index {
            reg::A => self.change_clock(now_ns, false, |rtc| {
                rtc.s.cmos[usize::from(reg::A)] = value & !reg_a::UIP;
            }),
            reg::B => self.change_clock(now_ns, false, |rtc| {
                let mut value = value;
                if value & reg_b::SET != 0 {
                    // "UIE is cleared when SET is set."
                    value &= !reg_b::UIE;
                }
                rtc.s.cmos[usize::from(reg::B)] = value;
            }),
            reg::C | reg::D => {}
            r if TIME_REGS.contains(&r) => self.change_clock(now_ns, true, |rtc| {
                rtc.s.cmos[usize::from(r)] = value;
            }),
            r => self.s.cmos[usize::from(r)] = value,
        }
        // Flags from here on are measured under the new settings.
        self.s.checked_ns = now_ns;
        self.update_irq();
    }
}

impl TimerDevice for Rtc {
    fn next_deadline(&self) -> Option<u64> {
        if self.irq_level {
            // Nothing changes the line until register C is read.
            return None;
        }
        let b = self.cmos(reg::B);
        let mut next: Option<u64> = None;
        let mut consider = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if b & reg_b::PIE != 0 && self.divider_running() {
            if let Some(p) = self.periodic_ticks() {
                let k = ticks_at(self.s.checked_ns, RTC_HZ) / p + 1;
                consider(ns_at_tick(k.saturating_mul(p), RTC_HZ));
            }
        }
        if b & (reg_b::UIE | reg_b::AIE) != 0 && self.running() {
            let into = self.phase(self.s.checked_ns);
            consider(self.s.checked_ns.saturating_add(NS_PER_SEC - into));
        }
        next
    }

    fn service(&mut self, now_ns: u64) {
        self.update_flags(now_ns);
    }
}

/// An [`Rtc`] shared between its ports and the machine's timer loop.
pub type SharedRtc = Arc<Mutex<Rtc>>;

/// The adapter for ports 0x70 and 0x71; byte `i` of a wider access goes to
/// port `offset + i`.
#[derive(Clone)]
pub struct RtcPorts {
    rtc: SharedRtc,
    clock: Arc<dyn Clock>,
}

impl RtcPorts {
    pub fn new(rtc: SharedRtc, clock: Arc<dyn Clock>) -> RtcPorts {
        RtcPorts { rtc, clock }
    }
}

impl std::fmt::Debug for RtcPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtcPorts").finish_non_exhaustive()
    }
}

impl mem::BusDevice for RtcPorts {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let now = self.clock.now_ns();
        let mut rtc = self.rtc.lock();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match offset.checked_add(i as u64) {
                Some(o) if o < u64::from(RTC_PORTS) => rtc.read(o as u8, now),
                _ => 0xFF,
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let now = self.clock.now_ns();
        let mut rtc = self.rtc.lock();
        for (i, &byte) in data.iter().enumerate() {
            if let Some(o) = offset.checked_add(i as u64) {
                if o < u64::from(RTC_PORTS) {
                    rtc.write(o as u8, byte, now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mem::BusDevice;

    use super::*;
    use crate::clock::ManualClock;
    use crate::irq::IrqRecorder;

    /// 2024-02-29 23:59:58 UTC, a Thursday.
    const LEAP_EVE: i64 = 1_709_251_198;
    const SEC: u64 = NS_PER_SEC;

    fn rtc() -> (Rtc, IrqRecorder) {
        let irq = IrqRecorder::default();
        (Rtc::new(Box::new(irq.clone()), LEAP_EVE, 0), irq)
    }

    fn get(r: &mut Rtc, index: u8, now: u64) -> u8 {
        r.write(0, index, now);
        r.read(1, now)
    }

    fn set(r: &mut Rtc, index: u8, value: u8, now: u64) {
        r.write(0, index, now);
        r.write(1, value, now);
    }

    #[test]
    fn rtc_power_on_registers_match_qemu() {
        let (mut r, irq) = rtc();
        assert_eq!(get(&mut r, reg::A, 0), 0x26);
        assert_eq!(get(&mut r, reg::B, 0), 0x02);
        assert_eq!(get(&mut r, reg::C, 0), 0x00);
        assert_eq!(get(&mut r, reg::D, 0), 0x80);
        assert!(!irq.level());
    }

    #[test]
    fn rtc_time_reads_in_bcd_24h_and_rolls_over_leap_day() {
        let (mut r, _) = rtc();
        assert_eq!(get(&mut r, reg::SECONDS, 0), 0x58);
        assert_eq!(get(&mut r, reg::MINUTES, 0), 0x59);
        assert_eq!(get(&mut r, reg::HOURS, 0), 0x23);
        assert_eq!(get(&mut r, reg::DAY_OF_MONTH, 0), 0x29);
        assert_eq!(get(&mut r, reg::MONTH, 0), 0x02);
        assert_eq!(get(&mut r, reg::YEAR, 0), 0x24);
        assert_eq!(get(&mut r, RTC_CENTURY, 0), 0x20);
        assert_eq!(get(&mut r, reg::DAY_OF_WEEK, 0), 5, "Thursday");
        let t = 2 * SEC;
        assert_eq!(get(&mut r, reg::SECONDS, t), 0x00);
        assert_eq!(get(&mut r, reg::HOURS, t), 0x00);
        assert_eq!(get(&mut r, reg::DAY_OF_MONTH, t), 0x01);
        assert_eq!(get(&mut r, reg::MONTH, t), 0x03);
        assert_eq!(get(&mut r, reg::DAY_OF_WEEK, t), 6);
    }

    #[test]
    fn rtc_binary_12h_mode_encodes_pm_flag() {
        let (mut r, _) = rtc();
        set(&mut r, reg::B, reg_b::DM_BINARY, 0);
        assert_eq!(get(&mut r, reg::HOURS, 0), 0x80 | 11);
        assert_eq!(get(&mut r, reg::SECONDS, 0), 58);
        assert_eq!(get(&mut r, reg::HOURS, 2 * SEC), 12, "midnight is 12 AM");
    }

    #[test]
    fn rtc_set_bit_freezes_time_and_clear_restarts_from_registers() {
        let (mut r, _) = rtc();
        set(&mut r, reg::B, reg_b::SET | reg_b::HOUR_24, SEC / 2);
        assert_eq!(get(&mut r, reg::SECONDS, 10 * SEC), 0x58, "frozen");
        set(&mut r, reg::HOURS, 0x08, 10 * SEC);
        set(&mut r, reg::MINUTES, 0x30, 10 * SEC);
        set(&mut r, reg::SECONDS, 0x00, 10 * SEC);
        set(&mut r, reg::DAY_OF_MONTH, 0x15, 10 * SEC);
        set(&mut r, reg::B, reg_b::HOUR_24, 10 * SEC);
        assert_eq!(get(&mut r, reg::HOURS, 10 * SEC), 0x08);
        // The divider kept its phase through SET: updates stay on whole
        // seconds since power-on.
        assert_eq!(get(&mut r, reg::SECONDS, 11 * SEC - 1), 0x00);
        assert_eq!(get(&mut r, reg::SECONDS, 11 * SEC), 0x01);
        assert_eq!(get(&mut r, reg::DAY_OF_MONTH, 11 * SEC), 0x15);
    }

    #[test]
    fn rtc_uip_is_set_244us_before_each_update() {
        let (mut r, _) = rtc();
        assert_eq!(get(&mut r, reg::A, SEC - UIP_NS - 1) & reg_a::UIP, 0);
        assert_eq!(get(&mut r, reg::A, SEC - UIP_NS) & reg_a::UIP, reg_a::UIP);
        assert_eq!(get(&mut r, reg::A, SEC) & reg_a::UIP, 0);
    }

    #[test]
    fn rtc_register_c_read_clears_flags_and_irq() {
        let (mut r, irq) = rtc();
        set(&mut r, reg::B, reg_b::HOUR_24 | reg_b::UIE, 0);
        assert_eq!(r.next_deadline(), Some(SEC));
        r.service(SEC);
        assert!(irq.level());
        assert_eq!(r.next_deadline(), None, "nothing changes until C is read");
        let c = get(&mut r, reg::C, SEC);
        assert_eq!(
            c & (reg_c::IRQF | reg_c::UF | reg_c::AF),
            reg_c::IRQF | reg_c::UF
        );
        assert!(!irq.level());
        assert_eq!(get(&mut r, reg::C, SEC), 0);
    }

    #[test]
    fn rtc_flags_set_without_enables_and_no_irq() {
        let (mut r, irq) = rtc();
        r.service(3 * SEC);
        assert!(!irq.level());
        let c = get(&mut r, reg::C, 3 * SEC);
        assert_eq!(
            c & (reg_c::UF | reg_c::PF | reg_c::IRQF),
            reg_c::UF | reg_c::PF
        );
    }

    #[test]
    fn rtc_periodic_rate_6_is_1024hz() {
        let (mut r, irq) = rtc();
        set(&mut r, reg::B, reg_b::HOUR_24 | reg_b::PIE, 0);
        let first = r.next_deadline().unwrap();
        assert_eq!(first, ns_at_tick(32, RTC_HZ));
        r.service(first - 1);
        assert!(!irq.level());
        r.service(first);
        assert!(irq.level());
        get(&mut r, reg::C, first);
        assert_eq!(r.next_deadline(), Some(ns_at_tick(64, RTC_HZ)));
    }

    #[test]
    fn rtc_alarm_matches_with_dont_care_bytes() {
        let (mut r, irq) = rtc();
        // Alarm at hh:mm:05, any hour and minute.
        set(&mut r, reg::SECONDS_ALARM, 0x05, 0);
        set(&mut r, reg::MINUTES_ALARM, 0xC0, 0);
        set(&mut r, reg::HOURS_ALARM, 0xFF, 0);
        set(&mut r, reg::B, reg_b::HOUR_24 | reg_b::AIE, 0);
        r.service(6 * SEC);
        assert!(!irq.level(), "00:00:04 is the last second so far");
        r.service(7 * SEC);
        assert!(irq.level());
        assert_eq!(get(&mut r, reg::C, 7 * SEC) & reg_c::AF, reg_c::AF);
    }

    #[test]
    fn rtc_divider_reset_stops_clock_then_first_update_after_half_second() {
        let (mut r, _) = rtc();
        set(&mut r, reg::A, 0x70 | 0x06, SEC / 4);
        assert_eq!(get(&mut r, reg::SECONDS, 5 * SEC), 0x58);
        set(&mut r, reg::A, 0x26, 5 * SEC);
        assert_eq!(get(&mut r, reg::SECONDS, 5 * SEC + SEC / 2 - 1), 0x58);
        assert_eq!(get(&mut r, reg::SECONDS, 5 * SEC + SEC / 2), 0x59);
    }

    #[test]
    fn rtc_index_port_masks_nmi_bit() {
        let (mut r, _) = rtc();
        r.write(0, 0x80 | 0x40, 0);
        assert!(r.nmi_disabled());
        r.write(1, 0x5A, 0);
        assert_eq!(r.nvram(0x40), 0x5A);
        assert_eq!(r.read(0, 0), 0xFF);
        r.write(0, 0x0D, 0);
        assert!(!r.nmi_disabled());
    }

    #[test]
    fn rtc_memory_size_layout_matches_qemu() {
        let (mut r, _) = rtc();
        r.set_memory_size(0x8000_0000, 0x1_0000_0000);
        assert_eq!((r.nvram(0x15), r.nvram(0x16)), (0x80, 0x02));
        assert_eq!((r.nvram(0x30), r.nvram(0x31)), (0xFF, 0xFF));
        let above16 = u16::from_le_bytes([r.nvram(0x34), r.nvram(0x35)]);
        assert_eq!(above16, ((0x8000_0000u64 - (16 << 20)) >> 16) as u16);
        assert_eq!(
            [r.nvram(0x5B), r.nvram(0x5C), r.nvram(0x5D)],
            [0x00, 0x00, 0x01]
        );
        r.set_nvram(reg::SECONDS, 1);
        r.set_nvram(200, 1);
        assert_eq!(r.nvram(200), 0xFF);
    }

    #[test]
    fn rtc_civil_conversion_round_trips() {
        for secs in [
            0,
            951_782_400,
            LEAP_EVE,
            4_102_444_800,
            -86_400,
            253_402_300_799,
        ] {
            assert_eq!(DateTime::from_secs(secs).to_secs(), secs);
        }
        assert_eq!(DateTime::from_secs(951_782_400).month, 2, "2000-02-29");
        assert_eq!(DateTime::from_secs(951_782_400).day, 29);
    }

    #[test]
    fn rtc_hostile_writes_do_not_panic() {
        let (mut r, _) = rtc();
        for index in 0..=255u8 {
            for value in [0x00, 0x7F, 0x80, 0xAA, 0xFF] {
                r.write(0, index, u64::from(index) * SEC);
                r.write(1, value, u64::from(index) * SEC);
                r.read(1, u64::from(index) * SEC);
            }
        }
        set(&mut r, reg::B, reg_b::SET, 0);
        for i in 0..10 {
            set(&mut r, i, 0xFF, 0);
        }
        set(&mut r, RTC_CENTURY, 0xFF, 0);
        set(&mut r, reg::B, 0x7F, 0);
        set(&mut r, reg::A, 0x2F, 0);
        r.service(u64::MAX);
        let _ = r.next_deadline();
        get(&mut r, reg::C, u64::MAX);
    }

    #[test]
    fn rtc_ports_adapter_reaches_registers() {
        let clock = Arc::new(ManualClock::new(0));
        let shared: SharedRtc = Arc::new(Mutex::new(Rtc::new(
            Box::new(crate::irq::NoIrq),
            LEAP_EVE,
            0,
        )));
        let mut ports = RtcPorts::new(shared, clock.clone());
        ports.write(0, &[reg::SECONDS]);
        clock.set(SEC);
        let mut b = [0u8; 2];
        ports.read(0, &mut b);
        assert_eq!(b, [0xFF, 0x59]);
        ports.read(1, &mut b);
        assert_eq!(b[1], 0xFF);
    }
}
