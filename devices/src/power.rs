//! Power events a guest can request: turning the machine off (ACPI S5 through
//! PM1a_CNT, [`crate::acpi_pm`]) and resetting it (the reset control register
//! at 0xCF9 and the i8042's reset line, [`crate::reset`],
//! [`crate::i8042`]).
//!
//! Like [`crate::debug_exit::ExitRequest`], a device only records the
//! request in the shared [`PowerControl`] and raises [`Attention::STOP`];
//! the run loop sees the bit between blocks, takes the event and acts on it.
//! Nothing here stops or resets anything by itself.

use std::sync::Arc;

use mem::Attention;
use parking_lot::Mutex;

/// What the guest asked the platform to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerEvent {
    /// Soft off (ACPI S5).
    PowerOff,
    /// Platform reset: every device and the processor back to power-on.
    Reset,
}

/// The shared record of a guest's power request, cloned into every device
/// that can make one and kept by the run loop.
#[derive(Clone, Debug)]
pub struct PowerControl {
    pending: Arc<Mutex<Option<PowerEvent>>>,
    attention: Arc<Attention>,
}

impl PowerControl {
    /// A record that raises `STOP` on `attention` when a request arrives.
    pub fn new(attention: Arc<Attention>) -> PowerControl {
        PowerControl {
            pending: Arc::new(Mutex::new(None)),
            attention,
        }
    }

    /// Records `event` and raises [`Attention::STOP`]. A request already
    /// pending is kept: the first one wins until the run loop takes it,
    /// except that power-off beats a reset (a guest that resets and then
    /// powers off before the loop looks wants to be off).
    pub fn request(&self, event: PowerEvent) {
        tracing::info!(target: "power", ?event, "guest requested");
        {
            let mut pending = self.pending.lock();
            match (*pending, event) {
                (None, _) | (Some(PowerEvent::Reset), PowerEvent::PowerOff) => {
                    *pending = Some(event);
                }
                _ => {}
            }
        }
        self.attention.raise(Attention::STOP);
    }

    /// The pending request, without taking it.
    pub fn pending(&self) -> Option<PowerEvent> {
        *self.pending.lock()
    }

    /// Takes the pending request (the run loop, once it acts on it).
    pub fn take(&self) -> Option<PowerEvent> {
        self.pending.lock().take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> (PowerControl, Arc<Attention>) {
        let attention = Arc::new(Attention::default());
        (PowerControl::new(attention.clone()), attention)
    }

    #[test]
    fn power_request_records_event_and_raises_stop() {
        let (p, attention) = control();
        p.request(PowerEvent::Reset);
        assert_eq!(p.pending(), Some(PowerEvent::Reset));
        assert_eq!(attention.take(Attention::STOP), Attention::STOP);
    }

    #[test]
    fn power_off_after_reset_wins() {
        let (p, _) = control();
        p.request(PowerEvent::Reset);
        p.request(PowerEvent::PowerOff);
        assert_eq!(p.take(), Some(PowerEvent::PowerOff));
    }

    #[test]
    fn power_reset_after_off_is_ignored() {
        let (p, _) = control();
        p.request(PowerEvent::PowerOff);
        p.request(PowerEvent::Reset);
        assert_eq!(p.pending(), Some(PowerEvent::PowerOff));
    }

    #[test]
    fn power_take_clears_request() {
        let (p, _) = control();
        p.request(PowerEvent::Reset);
        assert_eq!(p.take(), Some(PowerEvent::Reset));
        assert_eq!(p.take(), None);
    }
}
