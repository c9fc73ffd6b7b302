//! The i8254 programmable interval timer (Intel 82C54 datasheet, order no.
//! 231244; section names below refer to it) and the PC's port 0x61 (NMI
//! status and control, ICH9 datasheet 13.7.1 `NMI_SC`), which gates counter
//! 2 and reads its output.
//!
//! Three 16-bit down counters tick at [`PIT_HZ`] (1.193182 MHz). On a PC,
//! counter 0's OUT is IRQ0; counter 1 once drove DRAM refresh; counter 2's
//! GATE is port 0x61 bit 0 and its OUT is readable at port 0x61 bit 5 (the
//! speaker). Linux calibrates the TSC against counter 2
//! (`pit_calibrate_tsc`, `quick_pit_calibrate`): it sets the gate, programs
//! mode 0, and polls OUT and the counter's MSB, so both are computed from
//! `now_ns` exactly, with no sampling.
//!
//! Time model. The counters share one free-running clock: tick
//! `t = floor(now_ns * PIT_HZ / 1e9)` ([`crate::clock::ticks_at`]). A counter
//! does not store its count; it stores how many ticks it has counted since
//! its count was loaded (`elapsed`, which stops while GATE holds it in modes
//! 0 and 4), and the count and OUT are pure functions of that
//! ("Mode Definitions"). Counter 0's IRQ0 is driven from
//! [`TimerDevice::service`]: the machine services it at
//! [`TimerDevice::next_deadline`], the next change of OUT, and a late
//! service still delivers one rising edge for any edges it missed.
//!
//! Modes 0, 2, 3 and 4 follow the datasheet to the clock; 1 and 5 (gate
//! triggered) too, but only counter 2's gate can trigger them on a PC.
//! Simplifications, none visible to Linux:
//! - A count is loaded into the counting element at the write, not on the
//!   next CLK pulse, and a new count written in modes 2 and 3 takes effect
//!   at once rather than at the end of the current period (QEMU does both).
//! - In mode 3 with an odd count the counting element's intermediate values
//!   are approximated; OUT's timing (high for (N+1)/2, low for (N-1)/2) is
//!   exact.
//!
//! The power-on state is QEMU's: every counter in mode 3 with count 0x10000,
//! counters 0 and 1 gated on (so IRQ0 ticks at 18.2 Hz until the guest
//! reprograms it) and counter 2 gated off.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::{ns_at_tick, ticks_at, Clock, TimerDevice};
use crate::irq::IrqLine;

/// The PIT's input clock.
pub const PIT_HZ: u64 = 1_193_182;
/// Counter 0's data port; counters 1 and 2 follow, then the control word.
pub const PIT_BASE: u16 = 0x40;
/// Ports the PIT decodes: three counters and the control word register.
pub const PIT_PORTS: u16 = 4;
/// NMI status and control (the AT's "port B").
pub const PORT_B: u16 = 0x61;

/// Bits of port 0x61 (ICH9 13.7.1).
pub mod port_b {
    /// Counter 2 gate (read/write).
    pub const TIMER2_GATE: u8 = 1 << 0;
    /// Speaker data enable (read/write).
    pub const SPEAKER_DATA: u8 = 1 << 1;
    /// PCI SERR# NMI disable (read/write).
    pub const SERR_DISABLE: u8 = 1 << 2;
    /// IOCHK# NMI disable (read/write).
    pub const IOCHK_DISABLE: u8 = 1 << 3;
    /// Refresh cycle toggle (read-only).
    pub const REFRESH: u8 = 1 << 4;
    /// Counter 2 OUT (read-only).
    pub const TIMER2_OUT: u8 = 1 << 5;
    /// The bits a write sets.
    pub const WRITABLE: u8 = 0x0F;
}

/// How a counter's 16-bit value moves through the 8-bit data port
/// (control word bits 5:4, "RW1, RW0").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Least significant byte only.
    Lsb,
    /// Most significant byte only.
    Msb,
    /// LSB first, then MSB.
    #[default]
    LsbMsb,
}

impl Access {
    fn from_bits(bits: u8) -> Option<Access> {
        match bits & 3 {
            1 => Some(Access::Lsb),
            2 => Some(Access::Msb),
            3 => Some(Access::LsbMsb),
            _ => None,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Access::Lsb => 1,
            Access::Msb => 2,
            Access::LsbMsb => 3,
        }
    }
}

/// One counter's registers and counting state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelState {
    /// Control word bits 3:1 as written (6 and 7 behave as 2 and 3).
    pub mode_bits: u8,
    pub access: Access,
    /// Binary coded decimal counting.
    pub bcd: bool,
    /// The count register (CR) value as written; 0 means the maximum.
    pub count: u16,
    /// GATE input level.
    pub gate: bool,
    /// A count has been written since the control word.
    pub has_count: bool,
    /// The counter is running a cycle (modes 1 and 5: triggered).
    pub armed: bool,
    /// The gate lets the counter count.
    pub counting: bool,
    /// Ticks counted before `since`.
    pub held: u64,
    /// The tick from which the counter has been counting.
    pub since: u64,
    /// NULL COUNT status: a count was written but not yet loaded.
    pub null_count: bool,
    /// Output latch (counter latch command), not yet fully read.
    pub latched_count: Option<u16>,
    /// Status latch (read-back command), not yet read.
    pub latched_status: Option<u8>,
    /// In LSB/MSB access, the next read returns the MSB.
    pub read_msb_next: bool,
    /// In LSB/MSB access, the LSB written, awaiting the MSB.
    pub write_lsb: Option<u8>,
}

impl ChannelState {
    fn mode(&self) -> u8 {
        if self.mode_bits >= 6 {
            self.mode_bits - 4
        } else {
            self.mode_bits
        }
    }

    /// The count register as a count of ticks: 0 is 2^16 (binary) or 10^4
    /// (BCD), and a BCD count is decoded (invalid digits reduced modulo
    /// 10^4, never a panic).
    fn n(&self) -> u64 {
        let modulus = self.modulus();
        let raw = if self.bcd {
            u64::from(from_bcd(self.count)) % modulus
        } else {
            u64::from(self.count)
        };
        if raw == 0 {
            modulus
        } else {
            raw
        }
    }

    fn modulus(&self) -> u64 {
        if self.bcd {
            10_000
        } else {
            0x1_0000
        }
    }

    fn elapsed(&self, tick: u64) -> u64 {
        let running = if self.counting {
            tick.saturating_sub(self.since)
        } else {
            0
        };
        self.held.saturating_add(running)
    }

    /// OUT after `d` ticks of counting in the current cycle ("Mode
    /// Definitions").
    fn out_at(&self, d: u64) -> bool {
        let mode = self.mode();
        if !self.armed {
            // Mode 0 OUT goes low at the control word; the others go high.
            return mode != 0;
        }
        if matches!(mode, 2 | 3) && !self.gate {
            // "If GATE goes low during counting, OUT is set high
            // immediately."
            return true;
        }
        let n = self.n();
        match mode {
            0 | 1 => d >= n,
            2 => d % n != n - 1,
            3 => d % n < n.div_ceil(2),
            _ => d != n,
        }
    }

    /// Rising edges of OUT for elapsed counts in `(d0, d1]`.
    fn rising_edges(&self, d0: u64, d1: u64) -> u64 {
        if !self.armed || d1 <= d0 {
            return 0;
        }
        let n = self.n();
        let once_at = |edge: u64| u64::from(d0 < edge && edge <= d1);
        match self.mode() {
            0 | 1 => once_at(n),
            2 | 3 if n >= 2 => d1 / n - d0 / n,
            2 | 3 => 0,
            _ => once_at(n + 1),
        }
    }

    /// The next elapsed count after `d` at which OUT changes or rises.
    fn next_change(&self, d: u64) -> Option<u64> {
        if !self.armed {
            return None;
        }
        let n = self.n();
        let p = d % n;
        match self.mode() {
            0 | 1 => (d < n).then_some(n),
            2 if n < 2 => None,
            2 if p < n - 1 => d.checked_add(n - 1 - p),
            2 => d.checked_add(1),
            3 if n < 2 => None,
            3 if p < n.div_ceil(2) => d.checked_add(n.div_ceil(2) - p),
            3 => d.checked_add(n - p),
            _ => match d {
                d if d < n => Some(n),
                d if d == n => Some(n + 1),
                _ => None,
            },
        }
    }

    /// The counting element after `d` ticks, as the guest reads it.
    fn value_at(&self, d: u64) -> u16 {
        let n = self.n();
        let modulus = self.modulus();
        let v = if !self.armed {
            n % modulus
        } else {
            match self.mode() {
                2 => n - d % n,
                3 => {
                    let p = d % n;
                    let high = n.div_ceil(2);
                    let q = if p < high { p } else { p - high };
                    (n & !1).saturating_sub(2 * q)
                }
                _ => (n + modulus - d % modulus) % modulus,
            }
        };
        let v = (v % modulus) as u16;
        if self.bcd {
            to_bcd(v)
        } else {
            v
        }
    }

    fn status(&self, tick: u64) -> u8 {
        (u8::from(self.out_at(self.elapsed(tick))) << 7)
            | (u8::from(self.null_count) << 6)
            | (self.access.bits() << 4)
            | (self.mode_bits << 1)
            | u8::from(self.bcd)
    }

    /// Starts a cycle from the count register now.
    fn start(&mut self, tick: u64) {
        self.armed = true;
        self.null_count = false;
        self.held = 0;
        self.since = tick;
        // Modes 1 and 5 count regardless of the gate's level once
        // triggered; the others count only while it is high.
        self.counting = self.gate || matches!(self.mode(), 1 | 5);
    }

    /// A complete count has been written.
    fn load(&mut self, count: u16, tick: u64) {
        self.count = count;
        self.has_count = true;
        self.null_count = true;
        match self.mode() {
            // Modes 1 and 5 wait for a gate trigger.
            1 | 5 => {}
            _ => self.start(tick),
        }
    }

    fn write_control(&mut self, value: u8) {
        let Some(access) = Access::from_bits(value >> 4) else {
            return;
        };
        let gate = self.gate;
        *self = ChannelState {
            mode_bits: (value >> 1) & 7,
            access,
            bcd: value & 1 != 0,
            count: self.count,
            gate,
            null_count: true,
            ..ChannelState::default()
        };
    }

    fn latch_count(&mut self, tick: u64) {
        if self.latched_count.is_none() {
            self.latched_count = Some(self.value_at(self.elapsed(tick)));
            self.read_msb_next = false;
        }
    }

    fn latch_status(&mut self, tick: u64) {
        if self.latched_status.is_none() {
            self.latched_status = Some(self.status(tick));
        }
    }

    fn read(&mut self, tick: u64) -> u8 {
        if let Some(status) = self.latched_status.take() {
            return status;
        }
        let (value, latched) = match self.latched_count {
            Some(v) => (v, true),
            None => (self.value_at(self.elapsed(tick)), false),
        };
        let [lsb, msb] = value.to_le_bytes();
        let (byte, done) = match self.access {
            Access::Lsb => (lsb, true),
            Access::Msb => (msb, true),
            Access::LsbMsb if self.read_msb_next => (msb, true),
            Access::LsbMsb => (lsb, false),
        };
        self.read_msb_next = !done;
        if latched && done {
            self.latched_count = None;
        }
        byte
    }

    fn write(&mut self, value: u8, tick: u64) {
        match self.access {
            Access::Lsb => self.load(u16::from(value), tick),
            Access::Msb => self.load(u16::from(value) << 8, tick),
            Access::LsbMsb => match self.write_lsb.take() {
                Some(lsb) => self.load(u16::from_le_bytes([lsb, value]), tick),
                None => {
                    self.write_lsb = Some(value);
                    if self.mode() == 0 {
                        // "Writing the first byte disables counting. OUT is
                        // set low immediately."
                        self.armed = false;
                    }
                }
            },
        }
    }

    fn set_gate(&mut self, gate: bool, tick: u64) {
        if gate == self.gate {
            return;
        }
        self.gate = gate;
        match (self.mode(), gate) {
            (0 | 4, false) if self.counting => {
                self.held = self.elapsed(tick);
                self.counting = false;
            }
            (0 | 4, true) if self.armed => {
                self.since = tick;
                self.counting = true;
            }
            // Rising GATE triggers modes 1 and 5 and reloads 2 and 3.
            (1 | 5, true) if self.has_count => self.start(tick),
            (2 | 3, true) if self.has_count => self.start(tick),
            (2 | 3, false) => {
                self.held = self.elapsed(tick);
                self.counting = false;
            }
            _ => {}
        }
    }
}

/// The whole PIT and port 0x61, apart from connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PitState {
    pub channels: [ChannelState; 3],
    /// Port 0x61's writable bits.
    pub port_b: u8,
    /// Port 0x61's refresh toggle.
    pub refresh: bool,
    /// Counter 0's elapsed count up to which OUT has been driven on IRQ0.
    pub irq_seen: u64,
}

/// The i8254 and port 0x61.
pub struct Pit {
    state: PitState,
    irq_level: bool,
    irq: Box<dyn IrqLine>,
}

impl std::fmt::Debug for Pit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pit")
            .field("state", &self.state)
            .field("irq", &self.irq_level)
            .finish()
    }
}

impl Pit {
    /// A PIT at power-on (QEMU's state: mode 3, count 0x10000, counters 0
    /// and 1 counting from `now_ns`), counter 0's OUT driving `irq0`.
    pub fn new(irq0: Box<dyn IrqLine>, now_ns: u64) -> Pit {
        let tick = ticks_at(now_ns, PIT_HZ);
        let mut state = PitState::default();
        for (i, ch) in state.channels.iter_mut().enumerate() {
            ch.write_control(0x36);
            ch.gate = i != 2;
            ch.load(0, tick);
            ch.null_count = false;
        }
        state.irq_seen = 0;
        Pit::from_state(state, irq0)
    }

    /// A PIT in `state`, counter 0's OUT driving `irq0`.
    pub fn from_state(state: PitState, irq0: Box<dyn IrqLine>) -> Pit {
        let mut state = state;
        for ch in &mut state.channels {
            ch.mode_bits &= 7;
        }
        let ch0 = &state.channels[0];
        let level = ch0.out_at(state.irq_seen);
        if level {
            irq0.set_level(true);
        }
        Pit {
            state,
            irq_level: level,
            irq: irq0,
        }
    }

    /// The registers and counting state.
    pub fn state(&self) -> &PitState {
        &self.state
    }

    /// Reads PIT port `offset` (0..=2 counters; 3, the control word
    /// register, reads 0xFF as on the 82C54, where it is write-only).
    pub fn read(&mut self, offset: u8, now_ns: u64) -> u8 {
        let tick = ticks_at(now_ns, PIT_HZ);
        match self.state.channels.get_mut(usize::from(offset)) {
            Some(ch) => ch.read(tick),
            None => 0xFF,
        }
    }

    /// Writes PIT port `offset` (0..=2 a counter's count, 3 the control
    /// word); other offsets are ignored.
    pub fn write(&mut self, offset: u8, value: u8, now_ns: u64) {
        let tick = ticks_at(now_ns, PIT_HZ);
        self.sync_irq(tick);
        match offset {
            0..=2 => self.state.channels[usize::from(offset)].write(value, tick),
            3 => self.write_control(value, tick),
            _ => return,
        }
        self.restart_irq(tick);
    }

    fn write_control(&mut self, value: u8, tick: u64) {
        let select = value >> 6;
        if select == 3 {
            // Read-back command: bit 5 = !COUNT, bit 4 = !STATUS, bits 3:1
            // select counters 2..0 ("Read-Back Command").
            for (i, ch) in self.state.channels.iter_mut().enumerate() {
                if value & (2 << i) == 0 {
                    continue;
                }
                if value & 0x20 == 0 {
                    ch.latch_count(tick);
                }
                if value & 0x10 == 0 {
                    ch.latch_status(tick);
                }
            }
            return;
        }
        let ch = &mut self.state.channels[usize::from(select)];
        if (value >> 4) & 3 == 0 {
            // Counter latch command.
            ch.latch_count(tick);
        } else {
            ch.write_control(value);
        }
    }

    /// Reads port 0x61: the writable bits, the refresh toggle (which flips
    /// on every read, enough for the BIOS-era delay loops that wait for it
    /// to change) and counter 2's OUT.
    pub fn read_port_b(&mut self, now_ns: u64) -> u8 {
        let tick = ticks_at(now_ns, PIT_HZ);
        self.state.refresh = !self.state.refresh;
        let ch2 = &self.state.channels[2];
        let out = ch2.out_at(ch2.elapsed(tick));
        self.state.port_b
            | if self.state.refresh {
                port_b::REFRESH
            } else {
                0
            }
            | if out { port_b::TIMER2_OUT } else { 0 }
    }

    /// Writes port 0x61: bit 0 is counter 2's GATE.
    pub fn write_port_b(&mut self, value: u8, now_ns: u64) {
        let tick = ticks_at(now_ns, PIT_HZ);
        self.state.port_b = value & port_b::WRITABLE;
        self.state.channels[2].set_gate(value & port_b::TIMER2_GATE != 0, tick);
    }

    /// Counter `channel`'s OUT at `now_ns` (false for a channel that does
    /// not exist).
    pub fn out(&self, channel: usize, now_ns: u64) -> bool {
        let tick = ticks_at(now_ns, PIT_HZ);
        self.state
            .channels
            .get(channel)
            .is_some_and(|ch| ch.out_at(ch.elapsed(tick)))
    }

    /// Drives IRQ0 with what counter 0's OUT did up to `tick`: the level it
    /// has now, and one rising edge if it rose at least once since the last
    /// look.
    fn sync_irq(&mut self, tick: u64) {
        let ch = &self.state.channels[0];
        let d = ch.elapsed(tick);
        let edges = ch.rising_edges(self.state.irq_seen, d);
        let level = ch.out_at(d);
        self.state.irq_seen = d;
        if edges > 0 {
            if self.irq_level {
                self.irq.set_level(false);
            }
            self.irq.set_level(true);
            self.irq_level = true;
        }
        self.drive(level);
    }

    /// After a write that may have restarted counter 0's cycle: drive its
    /// new OUT and count edges from the new elapsed value.
    fn restart_irq(&mut self, tick: u64) {
        let ch = &self.state.channels[0];
        let d = ch.elapsed(tick);
        self.state.irq_seen = d;
        let level = ch.out_at(d);
        self.drive(level);
    }

    fn drive(&mut self, level: bool) {
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set_level(level);
        }
    }
}

impl TimerDevice for Pit {
    fn next_deadline(&self) -> Option<u64> {
        let ch = &self.state.channels[0];
        if !ch.counting {
            return None;
        }
        let next = ch.next_change(self.state.irq_seen)?;
        let tick = ch.since.checked_add(next.checked_sub(ch.held)?)?;
        Some(ns_at_tick(tick, PIT_HZ))
    }

    fn service(&mut self, now_ns: u64) {
        self.sync_irq(ticks_at(now_ns, PIT_HZ));
    }
}

fn from_bcd(v: u16) -> u16 {
    (v >> 12) * 1000 + ((v >> 8) & 0xF) * 100 + ((v >> 4) & 0xF) * 10 + (v & 0xF)
}

fn to_bcd(v: u16) -> u16 {
    let v = v % 10_000;
    ((v / 1000) << 12) | ((v / 100 % 10) << 8) | ((v / 10 % 10) << 4) | (v % 10)
}

/// A [`Pit`] shared between its two adapters and the machine's timer loop.
pub type SharedPit = Arc<Mutex<Pit>>;

/// The adapter for ports 0x40..=0x43. Byte `i` of a wider access goes to
/// port `offset + i`.
#[derive(Clone)]
pub struct PitPorts {
    pit: SharedPit,
    clock: Arc<dyn Clock>,
}

impl PitPorts {
    pub fn new(pit: SharedPit, clock: Arc<dyn Clock>) -> PitPorts {
        PitPorts { pit, clock }
    }
}

impl std::fmt::Debug for PitPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PitPorts").finish_non_exhaustive()
    }
}

fn port_offset(offset: u64, i: usize, len: u16) -> Option<u8> {
    let o = offset.checked_add(i as u64)?;
    (o < u64::from(len)).then_some(o as u8)
}

impl mem::BusDevice for PitPorts {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let now = self.clock.now_ns();
        let mut pit = self.pit.lock();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match port_offset(offset, i, PIT_PORTS) {
                Some(o) => pit.read(o, now),
                None => 0xFF,
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let now = self.clock.now_ns();
        let mut pit = self.pit.lock();
        for (i, &byte) in data.iter().enumerate() {
            if let Some(o) = port_offset(offset, i, PIT_PORTS) {
                pit.write(o, byte, now);
            }
        }
    }
}

/// The adapter for port 0x61 (one port).
#[derive(Clone)]
pub struct PortBPort {
    pit: SharedPit,
    clock: Arc<dyn Clock>,
}

impl PortBPort {
    pub fn new(pit: SharedPit, clock: Arc<dyn Clock>) -> PortBPort {
        PortBPort { pit, clock }
    }
}

impl std::fmt::Debug for PortBPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortBPort").finish_non_exhaustive()
    }
}

impl mem::BusDevice for PortBPort {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let now = self.clock.now_ns();
        let mut pit = self.pit.lock();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match port_offset(offset, i, 1) {
                Some(_) => pit.read_port_b(now),
                None => 0xFF,
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let now = self.clock.now_ns();
        let mut pit = self.pit.lock();
        for (i, &byte) in data.iter().enumerate() {
            if port_offset(offset, i, 1).is_some() {
                pit.write_port_b(byte, now);
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

    /// The first nanosecond of PIT tick `t`.
    fn ns(t: u64) -> u64 {
        ns_at_tick(t, PIT_HZ)
    }

    fn pit() -> (Pit, IrqRecorder) {
        let irq = IrqRecorder::default();
        (Pit::new(Box::new(irq.clone()), 0), irq)
    }

    fn read16(p: &mut Pit, ch: u8, now: u64) -> u16 {
        let lo = p.read(ch, now);
        let hi = p.read(ch, now);
        u16::from_le_bytes([lo, hi])
    }

    /// Counter 2 set up as Linux's `pit_calibrate_tsc` does: gate on,
    /// speaker off, mode 0 binary LSB/MSB, then the count.
    fn calibrate_setup(p: &mut Pit, now: u64, count: u16) {
        let b = p.read_port_b(now);
        p.write_port_b((b & !port_b::SPEAKER_DATA) | port_b::TIMER2_GATE, now);
        p.write(3, 0xB0, now);
        let [lo, hi] = count.to_le_bytes();
        p.write(2, lo, now);
        p.write(2, hi, now);
    }

    #[test]
    fn pit_mode0_counter2_out_rises_exactly_at_terminal_count() {
        let (mut p, _) = pit();
        let start = ns(1000);
        calibrate_setup(&mut p, start, 11932);
        assert_eq!(p.read_port_b(start) & port_b::TIMER2_OUT, 0);
        assert_eq!(p.read_port_b(ns(1000 + 11931)) & port_b::TIMER2_OUT, 0);
        assert_ne!(p.read_port_b(ns(1000 + 11932)) & port_b::TIMER2_OUT, 0);
        assert_ne!(p.read_port_b(ns(1000 + 50000)) & port_b::TIMER2_OUT, 0);
    }

    #[test]
    fn pit_mode0_count_reads_down_and_wraps() {
        let (mut p, _) = pit();
        calibrate_setup(&mut p, 0, 0xFFFF);
        // quick_pit_calibrate reads the count without a latch, LSB then MSB.
        assert_eq!(read16(&mut p, 2, ns(0x100)), 0xFFFF - 0x100);
        assert_eq!(read16(&mut p, 2, ns(0xFFFF)), 0);
        assert_eq!(read16(&mut p, 2, ns(0x10000)), 0xFFFF, "wraps after 0");
    }

    #[test]
    fn pit_gate_low_holds_mode0_count() {
        let (mut p, _) = pit();
        calibrate_setup(&mut p, 0, 1000);
        p.write_port_b(0, ns(100));
        assert_eq!(read16(&mut p, 2, ns(500)), 900);
        p.write_port_b(port_b::TIMER2_GATE, ns(600));
        assert_eq!(read16(&mut p, 2, ns(700)), 800);
    }

    #[test]
    fn pit_port_b_refresh_toggles_on_each_read() {
        let (mut p, _) = pit();
        let a = p.read_port_b(0) & port_b::REFRESH;
        let b = p.read_port_b(0) & port_b::REFRESH;
        assert_ne!(a, b);
    }

    #[test]
    fn pit_port_b_keeps_writable_bits_only() {
        let (mut p, _) = pit();
        p.write_port_b(0xFF, 0);
        assert_eq!(p.read_port_b(0) & 0xCF, 0x0F);
    }

    #[test]
    fn pit_counter_latch_freezes_value_until_read() {
        let (mut p, _) = pit();
        calibrate_setup(&mut p, 0, 5000);
        p.write(3, 0x80, ns(1000)); // latch counter 2
        assert_eq!(read16(&mut p, 2, ns(3000)), 4000);
        assert_eq!(read16(&mut p, 2, ns(3000)), 2000, "latch released");
    }

    #[test]
    fn pit_read_back_latches_status_then_count() {
        let (mut p, _) = pit();
        calibrate_setup(&mut p, 0, 100);
        // Read-back: count and status of counter 2.
        p.write(3, 0xC8, ns(150));
        let status = p.read(2, ns(200));
        assert_eq!(status & 0x80, 0x80, "OUT high after terminal count");
        assert_eq!(status & 0x40, 0, "count loaded");
        assert_eq!(status & 0x3F, 0x30, "LSB/MSB, mode 0, binary");
        assert_eq!(read16(&mut p, 2, ns(200)), (100u16).wrapping_sub(150));
    }

    #[test]
    fn pit_control_word_sets_null_count_until_count_written() {
        let (mut p, _) = pit();
        p.write(3, 0xB4, 0); // counter 2, mode 2
        p.write(3, 0xE8, 0); // read back status of counter 2
        assert_eq!(p.read(2, 0) & 0x40, 0x40);
    }

    #[test]
    fn pit_mode2_irq0_rises_once_per_period() {
        let (mut p, irq) = pit();
        p.write(3, 0x34, 0); // counter 0, LSB/MSB, mode 2
        p.write(0, 100, 0);
        p.write(0, 0, 0);
        assert!(irq.level());
        let base = irq.rising_edges();
        let mut now = 0;
        for _ in 0..10 {
            now = p.next_deadline().unwrap();
            p.service(now);
        }
        assert_eq!(irq.rising_edges() - base, 5, "falls at 99, rises at 100");
        assert!(now >= ns(500) && now < ns(501));
        assert_eq!(read16(&mut p, 0, now), 100);
    }

    #[test]
    fn pit_mode2_late_service_delivers_one_edge() {
        let (mut p, irq) = pit();
        p.write(3, 0x34, 0);
        p.write(0, 100, 0);
        p.write(0, 0, 0);
        let base = irq.rising_edges();
        p.service(ns(1050));
        assert_eq!(irq.rising_edges() - base, 1);
        assert!(irq.level());
    }

    #[test]
    fn pit_mode3_square_wave_has_half_periods() {
        let (mut p, _) = pit();
        p.write(3, 0x36, 0);
        p.write(0, 9, 0);
        p.write(0, 0, 0);
        let highs = (0..9).filter(|&t| p.out(0, ns(t))).count();
        assert_eq!(highs, 5, "odd count: high (N+1)/2");
        assert!(p.out(0, ns(9)), "next period starts high");
    }

    #[test]
    fn pit_mode0_oneshot_irq0_deadline_is_terminal_count() {
        let (mut p, irq) = pit();
        p.write(3, 0x30, ns(10));
        assert!(!irq.level(), "mode 0 control word sets OUT low");
        p.write(0, 0x10, ns(10));
        p.write(0, 0x00, ns(10));
        assert_eq!(p.next_deadline(), Some(ns(10 + 16)));
        p.service(ns(10 + 15));
        assert!(!irq.level());
        p.service(ns(10 + 16));
        assert!(irq.level());
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn pit_mode0_first_byte_stops_counting_and_sets_out_low() {
        let (mut p, _) = pit();
        calibrate_setup(&mut p, 0, 10);
        assert!(p.out(2, ns(20)));
        p.write(2, 50, ns(20));
        assert!(!p.out(2, ns(30)));
        p.write(2, 0, ns(30));
        assert!(!p.out(2, ns(79)));
        assert!(p.out(2, ns(80)));
    }

    #[test]
    fn pit_mode4_strobe_is_one_tick_low() {
        let (mut p, irq) = pit();
        p.write(3, 0x38, 0); // counter 0, mode 4
        p.write(0, 5, 0);
        p.write(0, 0, 0);
        assert!(p.out(0, ns(4)));
        assert!(!p.out(0, ns(5)));
        assert!(p.out(0, ns(6)));
        let base = irq.rising_edges();
        p.service(ns(100));
        assert_eq!(irq.rising_edges() - base, 1);
    }

    #[test]
    fn pit_mode1_waits_for_gate_trigger() {
        let (mut p, _) = pit();
        p.write(3, 0xB2, 0); // counter 2, mode 1
        p.write(2, 10, 0);
        p.write(2, 0, 0);
        assert!(p.out(2, ns(50)), "no trigger yet");
        p.write_port_b(port_b::TIMER2_GATE, ns(100));
        assert!(!p.out(2, ns(105)));
        assert!(p.out(2, ns(110)));
    }

    #[test]
    fn pit_bcd_count_reads_in_bcd() {
        let (mut p, _) = pit();
        p.write_port_b(port_b::TIMER2_GATE, 0);
        p.write(3, 0xB1, 0); // counter 2, LSB/MSB, mode 0, BCD
        p.write(2, 0x00, 0);
        p.write(2, 0x10, 0); // 1000 decimal
        assert_eq!(read16(&mut p, 2, ns(1)), 0x0999);
    }

    #[test]
    fn pit_lsb_only_access_reads_and_writes_one_byte() {
        let (mut p, _) = pit();
        p.write_port_b(port_b::TIMER2_GATE, 0);
        p.write(3, 0x90, 0); // counter 2, LSB only, mode 0
        p.write(2, 0x40, 0);
        assert_eq!(p.read(2, ns(0x10)), 0x30);
        assert_eq!(p.read(2, ns(0x10)), 0x30);
    }

    #[test]
    fn pit_power_on_counter0_ticks_at_18hz() {
        let (p, _) = pit();
        assert!(p.out(0, 0));
        let d = p.next_deadline().unwrap();
        assert_eq!(d, ns(0x8000), "square wave falls at half period");
    }

    #[test]
    fn pit_hostile_writes_do_not_panic() {
        let (mut p, _) = pit();
        for v in 0..=255u8 {
            p.write(3, v, u64::from(v) * 1000);
            p.write(0, v, u64::from(v) * 1000);
            p.write(1, v, u64::from(v) * 1000);
            p.write(2, !v, u64::from(v) * 1000);
            p.write_port_b(v, u64::from(v) * 1000);
            p.read(0, u64::MAX);
            p.read(2, u64::MAX);
            p.read_port_b(u64::MAX);
            let _ = p.next_deadline();
            p.service(u64::MAX);
        }
        p.write(9, 0, 0);
        assert_eq!(p.read(9, 0), 0xFF);
    }

    #[test]
    fn pit_bus_adapters_use_clock() {
        let clock = Arc::new(ManualClock::new(0));
        let shared: SharedPit = Arc::new(Mutex::new(Pit::new(Box::new(crate::irq::NoIrq), 0)));
        let mut ports = PitPorts::new(shared.clone(), clock.clone());
        let mut b = PortBPort::new(shared, clock.clone());
        b.write(0, &[port_b::TIMER2_GATE]);
        ports.write(3, &[0xB0]);
        ports.write(2, &[0x64]);
        ports.write(2, &[0x00]);
        clock.set(ns(100));
        let mut v = [0u8];
        b.read(0, &mut v);
        assert_ne!(v[0] & port_b::TIMER2_OUT, 0);
        let mut c = [0u8; 2];
        clock.set(ns(150));
        ports.read(2, &mut c[..1]);
        ports.read(2, &mut c[1..]);
        assert_eq!(u16::from_le_bytes(c), 100u16.wrapping_sub(150));
        let mut wide = [0u8; 2];
        ports.read(3, &mut wide);
        assert_eq!(wide, [0xFF, 0xFF], "control word is write-only");
    }
}
