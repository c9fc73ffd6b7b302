//! Interrupt pins: the one-method trait a device drives its IRQ output
//! through, and two implementations that need no interrupt controller.
//!
//! A device never knows what is at the other end of its pin (an i8259 input,
//! an IOAPIC redirection entry, nothing at all); `machine` decides that when
//! it wires the board. This mirrors vm-superio's `Trigger`, but for a *level*:
//! ISA devices such as the 16550 hold their line high while an interrupt is
//! pending, and the controller decides whether that means an edge.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

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
}
