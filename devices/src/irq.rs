//! Interrupt pins: the one-method trait a device drives its IRQ output
//! through, and two implementations that need no interrupt controller; the
//! end-of-interrupt path back from the local APIC ([`EoiSink`]); small
//! wiring helpers ([`IrqFanOut`], [`IrqSwitch`]); and recording fakes for
//! tests ([`IrqRecorder`], [`MsiRecorder`], [`EoiRecorder`]).
//!
//! A device never knows what is at the other end of its pin (an i8259 input,
//! an IOAPIC redirection entry, nothing at all); `machine` decides that when
//! it wires the board. This mirrors vm-superio's `Trigger`, but for a *level*:
//! ISA devices such as the 16550 hold their line high while an interrupt is
//! pending, and the controller decides whether that means an edge.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use mem::{MsiMessage, MsiSink};
use parking_lot::Mutex;

/// A device's interrupt output pin.
pub trait IrqLine: Send + Sync {
    /// Drives the pin high (`true`) or low (`false`). Devices call this only
    /// when the level changes, but receivers must tolerate repeats.
    fn set_level(&self, high: bool);
}

/// A pin connected to nothing (the board has no controller for it yet).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoIrq;

impl IrqLine for NoIrq {
    fn set_level(&self, _high: bool) {}
}

/// A pin that remembers its level and counts rising edges: the recording
/// fake for tests, cheap enough to clone into the device and keep a handle.
#[derive(Clone, Debug, Default)]
pub struct IrqRecorder {
    inner: Arc<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    level: AtomicBool,
    rising_edges: AtomicU32,
}

impl IrqRecorder {
    /// The level the device last drove.
    pub fn level(&self) -> bool {
        self.inner.level.load(Ordering::Acquire)
    }

    /// How many times the pin went from low to high.
    pub fn rising_edges(&self) -> u32 {
        self.inner.rising_edges.load(Ordering::Acquire)
    }
}

impl IrqLine for IrqRecorder {
    fn set_level(&self, high: bool) {
        let was = self.inner.level.swap(high, Ordering::AcqRel);
        if high && !was {
            self.inner.rising_edges.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// One output driving several inputs: an ISA interrupt reaches both the
/// i8259 and the IOAPIC (PIT channel 0 to IRQ0 and IOAPIC pin 2, the RTC to
/// IRQ8 and pin 8), as QEMU's `gsi` lines do.
pub struct IrqFanOut {
    outputs: Vec<Box<dyn IrqLine>>,
}

impl IrqFanOut {
    /// A pin that drives every one of `outputs` in order.
    pub fn new(outputs: Vec<Box<dyn IrqLine>>) -> IrqFanOut {
        IrqFanOut { outputs }
    }
}

impl std::fmt::Debug for IrqFanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrqFanOut")
            .field("outputs", &self.outputs.len())
            .finish()
    }
}

impl IrqLine for IrqFanOut {
    fn set_level(&self, high: bool) {
        for out in &self.outputs {
            out.set_level(high);
        }
    }
}

/// A switch in series with an interrupt line: the chipset's way of taking a
/// device off its IRQ when another source replaces it (the HPET's legacy
/// replacement route disconnects the PIT from IRQ0 and the RTC from IRQ8,
/// IA-PC HPET 1.0a, 2.3.9.2.2). While open, the device's level is
/// remembered and the output held low; closing the switch drives the
/// remembered level. Clones share the switch.
#[derive(Clone)]
pub struct IrqSwitch {
    inner: Arc<Mutex<Switch>>,
}

struct Switch {
    connected: bool,
    input: bool,
    output: Box<dyn IrqLine>,
}

impl IrqSwitch {
    /// A closed (connected) switch in front of `output`.
    pub fn new(output: Box<dyn IrqLine>) -> IrqSwitch {
        IrqSwitch {
            inner: Arc::new(Mutex::new(Switch {
                connected: true,
                input: false,
                output,
            })),
        }
    }

    /// Connects (`true`) or disconnects the input from the output.
    pub fn set_connected(&self, connected: bool) {
        let mut s = self.inner.lock();
        if s.connected == connected {
            return;
        }
        s.connected = connected;
        if s.input {
            s.output.set_level(connected);
        }
    }

    /// Whether the input currently reaches the output.
    pub fn connected(&self) -> bool {
        self.inner.lock().connected
    }
}

impl std::fmt::Debug for IrqSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.lock();
        f.debug_struct("IrqSwitch")
            .field("connected", &s.connected)
            .field("input", &s.input)
            .finish()
    }
}

impl IrqLine for IrqSwitch {
    fn set_level(&self, high: bool) {
        let mut s = self.inner.lock();
        s.input = high;
        if s.connected {
            s.output.set_level(high);
        }
    }
}

/// Where a local APIC sends the EOI of a level-triggered interrupt: the
/// IOAPICs, which clear the remote IRR of every entry with that vector
/// (Intel SDM Vol. 3A, 11.8.5 "Signaling Interrupt Servicing Completion";
/// 82093AA datasheet 3.2.4, Remote IRR).
pub trait EoiSink: Send + Sync {
    fn eoi(&self, vector: u8);
}

/// An EOI path to nothing (no IOAPIC on the board).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEoi;

impl EoiSink for NoEoi {
    fn eoi(&self, _vector: u8) {}
}

/// An EOI sink that remembers the vectors it was sent, for tests.
#[derive(Clone, Debug, Default)]
pub struct EoiRecorder {
    vectors: Arc<Mutex<Vec<u8>>>,
}

impl EoiRecorder {
    /// The vectors broadcast so far, oldest first.
    pub fn vectors(&self) -> Vec<u8> {
        self.vectors.lock().clone()
    }
}

impl EoiSink for EoiRecorder {
    fn eoi(&self, vector: u8) {
        self.vectors.lock().push(vector);
    }
}

/// An MSI sink that remembers the messages it was sent, for tests.
#[derive(Clone, Debug, Default)]
pub struct MsiRecorder {
    messages: Arc<Mutex<Vec<MsiMessage>>>,
}

impl MsiRecorder {
    /// The messages sent so far, oldest first.
    pub fn messages(&self) -> Vec<MsiMessage> {
        self.messages.lock().clone()
    }

    /// Takes the messages sent so far.
    pub fn take(&self) -> Vec<MsiMessage> {
        std::mem::take(&mut *self.messages.lock())
    }
}

impl MsiSink for MsiRecorder {
    fn send(&self, msg: MsiMessage) {
        self.messages.lock().push(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_counts_only_rising_edges() {
        let pin = IrqRecorder::default();
        pin.set_level(true);
        pin.set_level(true);
        pin.set_level(false);
        pin.set_level(true);
        assert!(pin.level());
        assert_eq!(pin.rising_edges(), 2);
    }

    #[test]
    fn fan_out_drives_every_output() {
        let a = IrqRecorder::default();
        let b = IrqRecorder::default();
        let fan = IrqFanOut::new(vec![Box::new(a.clone()), Box::new(b.clone())]);
        fan.set_level(true);
        assert!(a.level() && b.level());
        fan.set_level(false);
        assert!(!a.level() && !b.level());
    }

    #[test]
    fn switch_open_holds_output_low_and_close_restores_level() {
        let out = IrqRecorder::default();
        let sw = IrqSwitch::new(Box::new(out.clone()));
        sw.set_level(true);
        assert!(out.level());
        sw.set_connected(false);
        assert!(!out.level());
        sw.set_level(false);
        sw.set_level(true);
        assert_eq!(
            out.rising_edges(),
            1,
            "input changes do not pass while open"
        );
        sw.set_connected(true);
        assert!(out.level());
        assert!(sw.connected());
    }
}
