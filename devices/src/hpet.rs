//! The High Precision Event Timer (IA-PC HPET Specification 1.0a, October
//! 2004; section numbers below refer to it), configured as QEMU's q35 has
//! it: a 64-bit main counter at 100 MHz, three timers, legacy replacement
//! capable, vendor 0x8086.
//!
//! [`Hpet`] is the register block of 2.3 as a state machine: general
//! capabilities and ID (2.3.4), general configuration (2.3.5), general
//! interrupt status (2.3.6), main counter (2.3.7) and per timer the
//! configuration and capability (2.3.8), comparator (2.3.9) and FSB route
//! (2.3.10) registers. FSB (message) delivery is not offered
//! (Tn_FSB_INT_DEL_CAP = 0), so timers interrupt through IOAPIC pins.
//!
//! Time. The main counter is not stored while it runs: it is
//! `counter_base + ticks since enable` at [`HPET_HZ`], from `now_ns`. Each
//! timer whose interrupt is enabled is *armed* at the counter value at
//! which it next fires; [`TimerDevice::next_deadline`] converts the
//! earliest one to nanoseconds and [`TimerDevice::service`] fires what has
//! passed. Arming follows QEMU's `hpet_set_timer`, so the guest sees the
//! same behaviour it sees there:
//! - A comparator already behind the counter (by less than half the
//!   counter's range) fires on the next tick instead of after a full wrap.
//!   Real hardware waits for the wrap; an emulated CPU is slow enough that
//!   "a few ticks in the past" is common and a 43-second stall would be the
//!   result.
//! - In 32-bit one-shot mode a timer also fires when the counter's low 32
//!   bits wrap (2.3.9.2.4).
//! - In periodic mode the comparator advances by the period at each match
//!   (2.3.9.2.2); a late service advances it past the counter and delivers
//!   one interrupt for the periods missed.
//! - Writing the comparator in periodic mode with Tn_VAL_SET_CNF set sets
//!   the comparator; every write sets the period (2.3.9.2.2, Linux's
//!   `hpet_set_periodic` relies on both).
//!
//! Interrupts (2.3.8, 2.3.9.1): an edge-triggered timer pulses its pin; a
//! level-triggered one sets its bit in the interrupt status register and
//! holds its pin high until software writes 1 to that bit. The pins are
//! [`IrqLine`]s the machine hands in, indexed by IOAPIC input (GSI);
//! [`HPET_ROUTE_CAP`] says which a timer may use. With LegacyReplacement
//! Route (2.3.9.2.2, Table 4) timer 0 drives GSI 2 and timer 1 GSI 8: the
//! machine makes output 2 reach both IOAPIC pin 2 and i8259 IRQ0 (the ISA
//! IRQ0 wire, as QEMU's gsi 0 does), output 8 both pin 8 and IRQ8, and
//! passes the switches in series with the PIT's and RTC's outputs
//! ([`IrqSwitch`]), which the HPET opens while legacy replacement is on.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::{ns_at_tick, ticks_at, Clock, TimerDevice};
use crate::irq::{IrqLine, IrqSwitch};

/// Where the HPET sits in the physical address map.
pub const HPET_BASE: u64 = 0xFED0_0000;
/// The size of its register block.
pub const HPET_SIZE: u64 = 0x400;
/// Main counter frequency.
pub const HPET_HZ: u64 = 100_000_000;
/// COUNTER_CLK_PERIOD in femtoseconds (10 ns).
pub const HPET_PERIOD_FS: u64 = 10_000_000;
/// Number of timers.
pub const HPET_TIMERS: usize = 3;
/// Tn_INT_ROUTE_CAP: GSIs 2, 8 and 16..=23, QEMU's q35 value (0xFF0104).
pub const HPET_ROUTE_CAP: u32 = 0x00FF_0104;
/// Vendor id in the capabilities register.
pub const HPET_VENDOR: u16 = 0x8086;

/// Register offsets (2.3, Table 3).
pub mod reg {
    pub const CAPABILITIES: u64 = 0x000;
    pub const CONFIG: u64 = 0x010;
    pub const INTERRUPT_STATUS: u64 = 0x020;
    pub const MAIN_COUNTER: u64 = 0x0F0;
    /// Timer n's configuration and capability register is at
    /// `TIMER0 + n * TIMER_STRIDE`; its comparator 8 bytes later and its
    /// FSB route 16 bytes later.
    pub const TIMER0: u64 = 0x100;
    pub const TIMER_STRIDE: u64 = 0x20;
    pub const TIMER_CONFIG: u64 = 0x00;
    pub const TIMER_COMPARATOR: u64 = 0x08;
    pub const TIMER_FSB: u64 = 0x10;
}

/// General configuration bits (2.3.5).
pub mod config {
    /// ENABLE_CNF: the main counter runs and timers may interrupt.
    pub const ENABLE: u64 = 1 << 0;
    /// LEG_RT_CNF: LegacyReplacement Route.
    pub const LEGACY: u64 = 1 << 1;
    pub const WRITABLE: u64 = ENABLE | LEGACY;
}

/// Timer configuration and capability bits (2.3.8).
pub mod timer {
    /// Tn_INT_TYPE_CNF: 1 = level-triggered.
    pub const LEVEL: u64 = 1 << 1;
    /// Tn_INT_ENB_CNF.
    pub const INT_ENABLE: u64 = 1 << 2;
    /// Tn_TYPE_CNF: 1 = periodic.
    pub const PERIODIC: u64 = 1 << 3;
    /// Tn_PER_INT_CAP (read-only).
    pub const PERIODIC_CAP: u64 = 1 << 4;
    /// Tn_SIZE_CAP (read-only): a 64-bit timer.
    pub const SIZE_CAP: u64 = 1 << 5;
    /// Tn_VAL_SET_CNF.
    pub const VAL_SET: u64 = 1 << 6;
    /// Tn_32MODE_CNF.
    pub const MODE32: u64 = 1 << 8;
    /// Tn_INT_ROUTE_CNF, bits 13:9.
    pub const ROUTE_SHIFT: u32 = 9;
    pub const ROUTE: u64 = 0x1F << ROUTE_SHIFT;
    /// Tn_FSB_EN_CNF (not writable here: no FSB delivery).
    pub const FSB_ENABLE: u64 = 1 << 14;
    pub const WRITABLE: u64 = LEVEL | INT_ENABLE | PERIODIC | VAL_SET | MODE32 | ROUTE;
}

/// One timer's registers and arming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpetTimerState {
    /// The writable configuration bits.
    pub config: u64,
    pub comparator: u64,
    /// The periodic increment (the last value written to the comparator in
    /// periodic mode).
    pub period: u64,
    pub fsb: u64,
    /// The main counter value at which the timer fires next.
    pub armed: Option<u64>,
    /// The armed firing is the 32-bit wrap, not a comparator match.
    pub wrap_pending: bool,
}

impl Default for HpetTimerState {
    fn default() -> HpetTimerState {
        HpetTimerState {
            config: 0,
            // 2.3.9: the comparator resets to all ones.
            comparator: u64::MAX,
            period: 0,
            fsb: 0,
            armed: None,
            wrap_pending: false,
        }
    }
}

impl HpetTimerState {
    fn mode32(&self) -> bool {
        self.config & timer::MODE32 != 0
    }

    fn periodic(&self) -> bool {
        self.config & timer::PERIODIC != 0
    }

    fn level(&self) -> bool {
        self.config & timer::LEVEL != 0
    }

    fn int_enabled(&self) -> bool {
        self.config & timer::INT_ENABLE != 0
    }

    /// Arms the timer for its next firing after counter value `c`.
    fn arm(&mut self, c: u64) {
        let mut diff = if self.mode32() {
            let d = (self.comparator as u32).wrapping_sub(c as u32) as i32;
            if d > 0 {
                d as u64
            } else {
                1
            }
        } else {
            let d = self.comparator.wrapping_sub(c) as i64;
            if d > 0 {
                d as u64
            } else {
                1
            }
        };
        self.wrap_pending = false;
        if self.mode32() && !self.periodic() {
            let wrap = (1u64 << 32) - (c & 0xFFFF_FFFF);
            if wrap < diff {
                diff = wrap;
                self.wrap_pending = true;
            }
        }
        self.armed = Some(c.wrapping_add(diff));
    }

    /// Moves a periodic comparator past counter value `c` (2.3.9.2.2).
    fn advance(&mut self, c: u64) {
        let period = self.period.max(1);
        if self.mode32() {
            let behind = u64::from((c as u32).wrapping_sub(self.comparator as u32));
            let k = behind / period + 1;
            self.comparator =
                u64::from((self.comparator as u32).wrapping_add((k.wrapping_mul(period)) as u32));
        } else {
            let behind = c.wrapping_sub(self.comparator);
            let k = behind / period + 1;
            self.comparator = self.comparator.wrapping_add(k.wrapping_mul(period));
        }
    }
}

/// The HPET's registers, apart from its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpetState {
    /// General configuration (writable bits).
    pub config: u64,
    /// General interrupt status.
    pub status: u64,
    /// The main counter while halted, or its value at `enabled_at_ns`.
    pub counter_base: u64,
    pub enabled_at_ns: u64,
    pub timers: [HpetTimerState; HPET_TIMERS],
}

impl Default for HpetState {
    fn default() -> HpetState {
        HpetState {
            config: 0,
            status: 0,
            counter_base: 0,
            enabled_at_ns: 0,
            timers: std::array::from_fn(|_| HpetTimerState::default()),
        }
    }
}

/// The HPET.
pub struct Hpet {
    s: HpetState,
    route_cap: u32,
    /// Indexed by GSI.
    outputs: Vec<Box<dyn IrqLine>>,
    /// Levels last driven on `outputs`, bit n for output n.
    driven: u32,
    /// Switches in front of the sources legacy replacement displaces.
    legacy_displaced: Vec<IrqSwitch>,
}

impl std::fmt::Debug for Hpet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hpet")
            .field("state", &self.s)
            .field("driven", &format_args!("{:#x}", self.driven))
            .finish()
    }
}

impl Hpet {
    /// An HPET after reset, interrupting through `outputs` (index = GSI;
    /// missing ones are not connected) and opening the `legacy_displaced`
    /// switches (the PIT's and RTC's lines) while legacy replacement is on.
    pub fn new(outputs: Vec<Box<dyn IrqLine>>, legacy_displaced: Vec<IrqSwitch>) -> Hpet {
        Hpet::from_state(HpetState::default(), outputs, legacy_displaced)
    }

    /// An HPET in `state`.
    pub fn from_state(
        state: HpetState,
        outputs: Vec<Box<dyn IrqLine>>,
        legacy_displaced: Vec<IrqSwitch>,
    ) -> Hpet {
        let mut hpet = Hpet {
            s: state,
            route_cap: HPET_ROUTE_CAP,
            outputs,
            driven: 0,
            legacy_displaced,
        };
        hpet.s.config &= config::WRITABLE;
        hpet.s.status &= (1 << HPET_TIMERS) - 1;
        for t in &mut hpet.s.timers {
            t.config &= timer::WRITABLE;
        }
        let legacy = hpet.legacy();
        for sw in &hpet.legacy_displaced {
            sw.set_connected(!legacy);
        }
        hpet.refresh_lines();
        hpet
    }

    /// Offers `route_cap` (bit n: GSI n) in Tn_INT_ROUTE_CAP instead of
    /// [`HPET_ROUTE_CAP`].
    pub fn with_route_cap(mut self, route_cap: u32) -> Hpet {
        self.route_cap = route_cap;
        self
    }

    /// The registers.
    pub fn state(&self) -> &HpetState {
        &self.s
    }

    fn enabled(&self) -> bool {
        self.s.config & config::ENABLE != 0
    }

    fn legacy(&self) -> bool {
        self.s.config & config::LEGACY != 0
    }

    /// The main counter at `now_ns`.
    pub fn counter(&self, now_ns: u64) -> u64 {
        if self.enabled() {
            let ticks = ticks_at(now_ns.saturating_sub(self.s.enabled_at_ns), HPET_HZ);
            self.s.counter_base.wrapping_add(ticks)
        } else {
            self.s.counter_base
        }
    }

    /// The GSI timer `n` interrupts on.
    fn route(&self, n: usize) -> u32 {
        match n {
            0 if self.legacy() => 2,
            1 if self.legacy() => 8,
            _ => ((self.s.timers[n].config & timer::ROUTE) >> timer::ROUTE_SHIFT) as u32,
        }
    }

    /// The levels the outputs should have: level-triggered timers with
    /// their status bit set hold their pin high.
    fn wanted_levels(&self) -> u32 {
        let mut levels = 0;
        if !self.enabled() {
            return 0;
        }
        for (n, t) in self.s.timers.iter().enumerate() {
            if t.level() && t.int_enabled() && self.s.status & (1 << n) != 0 {
                levels |= 1 << self.route(n);
            }
        }
        levels
    }

    fn drive(&self, pin: u32, level: bool) {
        if let Some(out) = self.outputs.get(pin as usize) {
            out.set_level(level);
        }
    }

    fn refresh_lines(&mut self) {
        let wanted = self.wanted_levels();
        let changed = wanted ^ self.driven;
        for pin in 0..32 {
            if changed & (1 << pin) != 0 {
                self.drive(pin, wanted & (1 << pin) != 0);
            }
        }
        self.driven = wanted;
    }

    /// Timer `n` reached its comparator (or wrapped): interrupt.
    fn interrupt(&mut self, n: usize) {
        let t = &self.s.timers[n];
        if !t.int_enabled() {
            return;
        }
        if t.level() {
            self.s.status |= 1 << n;
            self.refresh_lines();
        } else {
            let pin = self.route(n);
            // A pin held high by a level-triggered timer shows no edge.
            if self.driven & (1 << pin) == 0 {
                self.drive(pin, true);
                self.drive(pin, false);
            }
        }
    }

    /// Reads the 64-bit register at the 8-byte-aligned `offset`.
    pub fn read(&self, offset: u64, now_ns: u64) -> u64 {
        match offset {
            reg::CAPABILITIES => {
                (HPET_PERIOD_FS << 32)
                    | u64::from(HPET_VENDOR) << 16
                    | 1 << 15 // LEG_RT_CAP
                    | 1 << 13 // COUNT_SIZE_CAP: 64 bits
                    | ((HPET_TIMERS as u64 - 1) << 8)
                    | 0x01 // REV_ID
            }
            reg::CONFIG => self.s.config,
            reg::INTERRUPT_STATUS => self.s.status,
            reg::MAIN_COUNTER => self.counter(now_ns),
            _ => match Self::timer_register(offset) {
                Some((n, reg::TIMER_CONFIG)) => {
                    self.s.timers[n].config
                        | timer::PERIODIC_CAP
                        | timer::SIZE_CAP
                        | u64::from(self.route_cap) << 32
                }
                Some((n, reg::TIMER_COMPARATOR)) => self.s.timers[n].comparator,
                Some((n, reg::TIMER_FSB)) => self.s.timers[n].fsb,
                _ => 0,
            },
        }
    }

    /// Writes the bytes of `value` selected by `mask` to the 64-bit register
    /// at the 8-byte-aligned `offset` (a 32-bit access writes one half).
    pub fn write(&mut self, offset: u64, value: u64, mask: u64, now_ns: u64) {
        let merge = |old: u64| (old & !mask) | (value & mask);
        match offset {
            reg::CONFIG => {
                let old = self.s.config;
                let new = merge(old) & config::WRITABLE;
                self.write_config(old, new, now_ns);
            }
            reg::INTERRUPT_STATUS => {
                // Level-triggered status bits clear when written with 1.
                self.s.status &= !(value & mask);
                self.refresh_lines();
            }
            reg::MAIN_COUNTER => {
                // Writable only while halted (2.3.7: software must halt it
                // first); writes to a running counter are dropped.
                if !self.enabled() {
                    self.s.counter_base = merge(self.s.counter_base);
                }
            }
            _ => match Self::timer_register(offset) {
                Some((n, reg::TIMER_CONFIG)) => self.write_timer_config(n, merge, now_ns),
                Some((n, reg::TIMER_COMPARATOR)) => self.write_comparator(n, value, mask, now_ns),
                Some((n, reg::TIMER_FSB)) => {
                    let t = &mut self.s.timers[n];
                    t.fsb = merge(t.fsb);
                }
                _ => {}
            },
        }
    }

    fn write_config(&mut self, old: u64, new: u64, now_ns: u64) {
        let counter = self.counter(now_ns);
        self.s.config = new;
        if (old ^ new) & config::ENABLE != 0 {
            self.s.counter_base = counter;
            self.s.enabled_at_ns = now_ns;
            for t in &mut self.s.timers {
                if new & config::ENABLE != 0 && t.int_enabled() {
                    t.arm(counter);
                } else {
                    t.armed = None;
                }
            }
        }
        if (old ^ new) & config::LEGACY != 0 {
            let legacy = new & config::LEGACY != 0;
            for sw in &self.legacy_displaced {
                sw.set_connected(!legacy);
            }
        }
        self.refresh_lines();
    }

    fn write_timer_config(&mut self, n: usize, merge: impl Fn(u64) -> u64, now_ns: u64) {
        let counter = self.counter(now_ns);
        let enabled = self.enabled();
        let route_cap = self.route_cap;
        let t = &mut self.s.timers[n];
        let old = t.config;
        let mut new = merge(old) & timer::WRITABLE;
        let route = (new & timer::ROUTE) >> timer::ROUTE_SHIFT;
        if route_cap & (1 << route) == 0 {
            // 2.3.8: an unsupported route does not stick (it reads back
            // as the old one).
            new = (new & !timer::ROUTE) | (old & timer::ROUTE);
        }
        t.config = new;
        if new & timer::MODE32 != 0 {
            t.comparator &= 0xFFFF_FFFF;
            t.period &= 0xFFFF_FFFF;
        }
        let activated = new & timer::INT_ENABLE != 0 && old & timer::INT_ENABLE == 0;
        if new & timer::INT_ENABLE == 0 {
            t.armed = None;
        } else if activated && enabled {
            t.arm(counter);
        }
        if new & timer::LEVEL == 0 || new & timer::INT_ENABLE == 0 {
            // An edge-triggered or disabled timer has no status to hold.
            self.s.status &= !(1 << n);
        }
        self.refresh_lines();
    }

    fn write_comparator(&mut self, n: usize, value: u64, mask: u64, now_ns: u64) {
        let counter = self.counter(now_ns);
        let enabled = self.enabled();
        let t = &mut self.s.timers[n];
        let (mut value, mut mask) = (value, mask);
        if t.mode32() {
            value &= 0xFFFF_FFFF;
            mask |= 0xFFFF_FFFF_0000_0000;
        }
        if !t.periodic() || t.config & timer::VAL_SET != 0 {
            t.comparator = (t.comparator & !mask) | (value & mask);
        }
        if t.periodic() {
            let mut period = (t.period & !mask) | (value & mask);
            if t.mode32() {
                period = period.min(0x7FFF_FFFF);
            }
            t.period = period;
        }
        t.config &= !timer::VAL_SET;
        if enabled && t.int_enabled() {
            t.arm(counter);
        }
    }

    /// The timer and register an offset names.
    fn timer_register(offset: u64) -> Option<(usize, u64)> {
        let rel = offset.checked_sub(reg::TIMER0)?;
        let n = (rel / reg::TIMER_STRIDE) as usize;
        (n < HPET_TIMERS).then_some((n, rel % reg::TIMER_STRIDE))
    }

    /// The counter value `c` as an absolute time (the counter is running).
    fn ns_of_counter(&self, c: u64) -> u64 {
        let ticks = c.wrapping_sub(self.s.counter_base);
        self.s
            .enabled_at_ns
            .saturating_add(ns_at_tick(ticks, HPET_HZ))
    }
}

impl TimerDevice for Hpet {
    fn next_deadline(&self) -> Option<u64> {
        if !self.enabled() {
            return None;
        }
        self.s
            .timers
            .iter()
            .filter_map(|t| t.armed)
            .map(|c| self.ns_of_counter(c))
            .min()
    }

    fn service(&mut self, now_ns: u64) {
        if !self.enabled() {
            return;
        }
        let c = self.counter(now_ns);
        for n in 0..HPET_TIMERS {
            let t = &self.s.timers[n];
            match t.armed {
                Some(at)
                    if at.wrapping_sub(self.s.counter_base)
                        <= c.wrapping_sub(self.s.counter_base) => {}
                _ => continue,
            }
            self.interrupt(n);
            let t = &mut self.s.timers[n];
            if t.wrap_pending {
                t.arm(c);
            } else if t.periodic() && t.period != 0 {
                t.advance(c);
                t.arm(c);
            } else {
                t.armed = None;
            }
        }
    }
}

/// An [`Hpet`] shared between its MMIO adapter and the machine's timer
/// loop.
pub type SharedHpet = Arc<Mutex<Hpet>>;

/// The MMIO adapter: any access of 1 to 8 bytes; each 8-byte-aligned
/// register it touches sees the bytes written as a masked write.
#[derive(Clone)]
pub struct HpetMmio {
    hpet: SharedHpet,
    clock: Arc<dyn Clock>,
}

impl HpetMmio {
    pub fn new(hpet: SharedHpet, clock: Arc<dyn Clock>) -> HpetMmio {
        HpetMmio { hpet, clock }
    }
}

impl std::fmt::Debug for HpetMmio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HpetMmio").finish_non_exhaustive()
    }
}

impl mem::BusDevice for HpetMmio {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let now = self.clock.now_ns();
        let hpet = self.hpet.lock();
        let mut cached: Option<(u64, [u8; 8])> = None;
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match offset.checked_add(i as u64) {
                Some(o) if o < HPET_SIZE => {
                    let base = o & !7;
                    let bytes = match cached {
                        Some((b, v)) if b == base => v,
                        _ => {
                            let v = hpet.read(base, now).to_le_bytes();
                            cached = Some((base, v));
                            v
                        }
                    };
                    bytes[(o & 7) as usize]
                }
                _ => 0xFF,
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let now = self.clock.now_ns();
        let mut hpet = self.hpet.lock();
        let mut i = 0;
        while i < data.len() {
            let Some(o) = offset.checked_add(i as u64) else {
                return;
            };
            if o >= HPET_SIZE {
                return;
            }
            let base = o & !7;
            let first = (o & 7) as usize;
            let n = (8 - first).min(data.len() - i);
            let mut bytes = [0u8; 8];
            bytes[first..first + n].copy_from_slice(&data[i..i + n]);
            let mut mask = [0u8; 8];
            mask[first..first + n].fill(0xFF);
            hpet.write(
                base,
                u64::from_le_bytes(bytes),
                u64::from_le_bytes(mask),
                now,
            );
            i += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use mem::BusDevice;

    use super::*;
    use crate::clock::ManualClock;
    use crate::irq::IrqRecorder;

    const ALL: u64 = u64::MAX;
    const LOW: u64 = 0xFFFF_FFFF;

    /// Outputs for GSI 0..24 and the recorders behind them.
    fn hpet() -> (Hpet, Vec<IrqRecorder>) {
        let recs: Vec<IrqRecorder> = (0..24).map(|_| IrqRecorder::default()).collect();
        let outs = recs
            .iter()
            .map(|r| Box::new(r.clone()) as Box<dyn IrqLine>)
            .collect();
        (Hpet::new(outs, Vec::new()), recs)
    }

    fn timer_reg(n: u64, r: u64) -> u64 {
        reg::TIMER0 + n * reg::TIMER_STRIDE + r
    }

    /// 10 ns per tick.
    fn ns(ticks: u64) -> u64 {
        ticks * 10
    }

    #[test]
    fn hpet_capabilities_match_qemu_q35() {
        let (h, _) = hpet();
        let cap = h.read(reg::CAPABILITIES, 0);
        assert_eq!(cap >> 32, 10_000_000);
        assert_eq!(cap as u32, 0x8086_A201);
        assert_eq!(h.read(timer_reg(0, 0), 0) >> 32, 0x00FF_0104);
        assert_eq!(h.read(timer_reg(2, 0), 0) & 0x30, 0x30);
        assert_eq!(h.read(timer_reg(1, 8), 0), u64::MAX);
    }

    #[test]
    fn hpet_counter_runs_only_when_enabled() {
        let (mut h, _) = hpet();
        assert_eq!(h.read(reg::MAIN_COUNTER, ns(100)), 0);
        h.write(reg::CONFIG, config::ENABLE, ALL, ns(100));
        assert_eq!(h.read(reg::MAIN_COUNTER, ns(350)), 250);
        h.write(reg::CONFIG, 0, ALL, ns(400));
        assert_eq!(h.read(reg::MAIN_COUNTER, ns(1000)), 300);
    }

    #[test]
    fn hpet_counter_writable_only_while_halted() {
        let (mut h, _) = hpet();
        h.write(reg::MAIN_COUNTER, 0xFFFF_FFF0, LOW, 0);
        h.write(reg::CONFIG, config::ENABLE, ALL, 0);
        h.write(reg::MAIN_COUNTER, 5, ALL, ns(10));
        // A 32-bit read of the low half sees the wrap into the high half.
        assert_eq!(h.read(reg::MAIN_COUNTER, ns(0x20)), 0x1_0000_0010);
    }

    #[test]
    fn hpet_oneshot_edge_timer_pulses_its_route_once() {
        let (mut h, recs) = hpet();
        h.write(timer_reg(2, 0), timer::INT_ENABLE | (20 << 9), ALL, 0);
        h.write(timer_reg(2, 8), 1000, ALL, 0);
        h.write(reg::CONFIG, config::ENABLE, ALL, 0);
        assert_eq!(h.next_deadline(), Some(ns(1000)));
        h.service(ns(999));
        assert_eq!(recs[20].rising_edges(), 0);
        h.service(ns(1000));
        assert_eq!(recs[20].rising_edges(), 1);
        assert!(!recs[20].level());
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.read(reg::INTERRUPT_STATUS, 0), 0, "edge: no status");
    }

    #[test]
    fn hpet_level_timer_holds_line_until_status_cleared() {
        let (mut h, recs) = hpet();
        h.write(reg::CONFIG, config::ENABLE, ALL, 0);
        h.write(
            timer_reg(1, 0),
            timer::INT_ENABLE | timer::LEVEL | (21 << 9),
            ALL,
            0,
        );
        h.write(timer_reg(1, 8), 50, ALL, 0);
        h.service(ns(60));
        assert!(recs[21].level());
        assert_eq!(h.read(reg::INTERRUPT_STATUS, 0), 0b10);
        h.write(reg::INTERRUPT_STATUS, 0b01, ALL, ns(70));
        assert!(recs[21].level(), "writing 1 to another bit clears nothing");
        h.write(reg::INTERRUPT_STATUS, 0b10, ALL, ns(70));
        assert!(!recs[21].level());
    }

    #[test]
    fn hpet_periodic_timer_advances_by_period_and_coalesces() {
        let (mut h, recs) = hpet();
        h.write(reg::CONFIG, config::ENABLE, ALL, 0);
        // Linux's hpet_set_periodic: config with VAL_SET, comparator, then
        // the period.
        let cfg = timer::INT_ENABLE | timer::PERIODIC | timer::VAL_SET | timer::MODE32 | (22 << 9);
        h.write(timer_reg(0, 0), cfg, LOW, 0);
        h.write(timer_reg(0, 8), 100, LOW, 0);
        h.write(timer_reg(0, 8), 100, LOW, 0);
        assert_eq!(h.state().timers[0].period, 100);
        h.service(ns(100));
        assert_eq!(recs[22].rising_edges(), 1);
        assert_eq!(h.read(timer_reg(0, 8), 0), 200);
        assert_eq!(h.next_deadline(), Some(ns(200)));
        h.service(ns(750));
        assert_eq!(recs[22].rising_edges(), 2);
        assert_eq!(h.read(timer_reg(0, 8), 0), 800);
    }

    #[test]
    fn hpet_comparator_in_past_fires_on_next_tick() {
        let (mut h, _) = hpet();
        h.write(reg::CONFIG, config::ENABLE, ALL, 0);
        h.write(timer_reg(0, 0), timer::INT_ENABLE, ALL, ns(500));
        h.write(timer_reg(0, 8), 400, ALL, ns(500));
        assert_eq!(h.next_deadline(), Some(ns(501)));
    }

    #[test]
    fn hpet_32bit_oneshot_also_fires_at_wrap() {
        let (mut h, recs) = hpet();
        h.write(reg::MAIN_COUNTER, 0xFFFF_FF00, ALL, 0);
        h.write(reg::CONFIG, config::ENABLE, ALL, 0);
        h.write(
            timer_reg(0, 0),
            timer::INT_ENABLE | timer::MODE32 | (16 << 9),
            ALL,
            0,
        );
        h.write(timer_reg(0, 8), 0x50, LOW, 0);
        assert_eq!(h.next_deadline(), Some(ns(0x100)));
        h.service(ns(0x100));
        assert_eq!(recs[16].rising_edges(), 1);
        assert_eq!(h.next_deadline(), Some(ns(0x150)));
        h.service(ns(0x150));
        assert_eq!(recs[16].rising_edges(), 2);
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn hpet_mode32_truncates_comparator() {
        let (mut h, _) = hpet();
        h.write(timer_reg(0, 0), timer::MODE32, ALL, 0);
        assert_eq!(h.read(timer_reg(0, 8), 0), 0xFFFF_FFFF);
        h.write(timer_reg(0, 8), 0x1234_5678_9ABC_DEF0, ALL, 0);
        assert_eq!(h.read(timer_reg(0, 8), 0), 0x9ABC_DEF0);
    }

    #[test]
    fn hpet_legacy_route_uses_gsi_2_and_8_and_opens_switches() {
        let recs: Vec<IrqRecorder> = (0..24).map(|_| IrqRecorder::default()).collect();
        let outs = recs
            .iter()
            .map(|r| Box::new(r.clone()) as Box<dyn IrqLine>)
            .collect();
        let pit_out = IrqRecorder::default();
        let pit_switch = IrqSwitch::new(Box::new(pit_out.clone()));
        let mut h = Hpet::new(outs, vec![pit_switch.clone()]);
        pit_switch.set_level(true);
        h.write(reg::CONFIG, config::ENABLE | config::LEGACY, ALL, 0);
        assert!(!pit_switch.connected());
        assert!(!pit_out.level(), "PIT disconnected from IRQ0");
        h.write(timer_reg(0, 0), timer::INT_ENABLE | (20 << 9), ALL, 0);
        h.write(timer_reg(1, 0), timer::INT_ENABLE | (20 << 9), ALL, 0);
        h.write(timer_reg(0, 8), 10, ALL, 0);
        h.write(timer_reg(1, 8), 10, ALL, 0);
        h.service(ns(10));
        assert_eq!(recs[2].rising_edges(), 1);
        assert_eq!(recs[8].rising_edges(), 1);
        assert_eq!(recs[20].rising_edges(), 0);
        h.write(reg::CONFIG, config::ENABLE, ALL, ns(20));
        assert!(pit_out.level(), "PIT reconnected with its level");
    }

    #[test]
    fn hpet_unsupported_route_does_not_stick() {
        let (mut h, _) = hpet();
        h.write(timer_reg(0, 0), 20 << 9, ALL, 0);
        h.write(timer_reg(0, 0), 5 << 9, ALL, 0);
        assert_eq!((h.read(timer_reg(0, 0), 0) >> 9) & 0x1F, 20);
    }

    #[test]
    fn hpet_disabling_interrupt_disarms_timer() {
        let (mut h, _) = hpet();
        h.write(reg::CONFIG, config::ENABLE, ALL, 0);
        h.write(timer_reg(0, 0), timer::INT_ENABLE, ALL, 0);
        h.write(timer_reg(0, 8), 100, ALL, 0);
        h.write(timer_reg(0, 0), 0, ALL, ns(5));
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn hpet_mmio_32bit_halves_and_bytes() {
        let clock = Arc::new(ManualClock::new(0));
        let shared: SharedHpet = Arc::new(Mutex::new(Hpet::new(Vec::new(), Vec::new())));
        let mut mmio = HpetMmio::new(shared.clone(), clock.clone());
        let mut d = [0u8; 4];
        mmio.read(0x004, &mut d);
        assert_eq!(u32::from_le_bytes(d), 10_000_000, "Linux reads HPET_PERIOD");
        mmio.write(0x010, &1u32.to_le_bytes());
        clock.set(ns(0x1234));
        mmio.read(0x0F0, &mut d);
        assert_eq!(u32::from_le_bytes(d), 0x1234);
        mmio.write(timer_reg(0, 0xC), &0xAAAA_AAAAu32.to_le_bytes());
        let mut q = [0u8; 8];
        mmio.read(timer_reg(0, 8), &mut q);
        assert_eq!(u64::from_le_bytes(q), 0xAAAA_AAAA_FFFF_FFFF);
        mmio.read(HPET_SIZE - 2, &mut d);
        assert_eq!(d[2..], [0xFF, 0xFF]);
        mmio.write(u64::MAX - 3, &[1; 8]);
    }

    #[test]
    fn hpet_hostile_writes_do_not_panic() {
        let (mut h, _) = hpet();
        let values = [
            0,
            1,
            0x7FFF_FFFF,
            u64::MAX,
            0xFFFF_FFFF,
            0x8000_0000_0000_0000,
        ];
        for offset in (0..HPET_SIZE).step_by(8) {
            for &v in &values {
                h.write(offset, v, ALL, offset * 3);
                h.write(offset, v, LOW, offset * 3);
                let _ = h.read(offset, u64::MAX);
                let _ = h.next_deadline();
                h.service(offset * 3 + 1);
                h.service(u64::MAX);
            }
        }
    }
}
