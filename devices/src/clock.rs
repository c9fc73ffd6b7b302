//! Virtual time: how the platform timers learn what time it is, and how the
//! machine learns when they next need it.
//!
//! A device core never reads a host clock. Every operation whose result
//! depends on time takes `now_ns: u64` — nanoseconds of virtual time since
//! the machine started — as an argument, so a core is a pure function of its
//! inputs and a test can walk it through any schedule it likes. Where time
//! comes from is the machine's decision: host time ([`HostClock`]) for an
//! interactive run, an instruction-count clock for a deterministic one.
//!
//! Two directions of traffic:
//! - **Into a device.** `BusDevice::read/write` carry no time, so each
//!   timer's bus adapter holds an `Arc<dyn Clock>` and passes
//!   [`Clock::now_ns`] into its core on every access.
//! - **Out of a device.** Each timer core implements [`TimerDevice`]:
//!   [`TimerDevice::next_deadline`] says when (absolute ns) it next needs
//!   servicing, and [`TimerDevice::service`] fires whatever has expired by
//!   `now_ns`. There is no timer queue: the machine polls the few timers,
//!   takes the minimum with [`Deadlines`], and sleeps or runs until then.
//!   Servicing late is always allowed: a core works out what happened in
//!   between from `now_ns` (periodic timers coalesce missed periods into
//!   one interrupt, as real hardware does when its interrupt is not
//!   acknowledged in time).
//!
//! The conversions between nanoseconds and a device's own clock
//! ([`ticks_at`], [`ns_at_tick`]) are exact integer arithmetic in `u128`, so
//! a register read and the deadline computed for the same tick always
//! agree: `ticks_at(ns_at_tick(t, hz), hz) == t`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Nanoseconds in one second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// A source of virtual time, in nanoseconds since the machine started.
/// It must never go backwards.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> u64;
}

/// A timer device as the machine's run loop sees it.
pub trait TimerDevice {
    /// The absolute time (ns) at which the device next needs
    /// [`TimerDevice::service`], or `None` while nothing is armed. A time
    /// in the past means "now".
    fn next_deadline(&self) -> Option<u64>;
    /// Fires whatever expired at or before `now_ns`: raises IRQ lines, sends
    /// messages, reloads periodic timers. Calling it early, late or twice is
    /// harmless.
    fn service(&mut self, now_ns: u64);
}

/// Host monotonic time since the clock was made: the clock for an
/// interactive run. (A clock is not a device core; it is what the machine
/// hands to the bus adapters.)
#[derive(Debug)]
pub struct HostClock {
    start: Instant,
}

impl HostClock {
    /// A clock that reads 0 now.
    pub fn new() -> HostClock {
        HostClock {
            start: Instant::now(),
        }
    }
}

impl Default for HostClock {
    fn default() -> HostClock {
        HostClock::new()
    }
}

impl Clock for HostClock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to: for tests, and as the store behind
/// an instruction-count clock (the run loop calls [`ManualClock::set`] after
/// each slice).
#[derive(Debug, Default)]
pub struct ManualClock {
    ns: AtomicU64,
}

impl ManualClock {
    /// A clock reading `ns`.
    pub fn new(ns: u64) -> ManualClock {
        ManualClock {
            ns: AtomicU64::new(ns),
        }
    }

    /// Moves the clock to `ns`; a value behind the current one is ignored,
    /// so time never goes backwards.
    pub fn set(&self, ns: u64) {
        self.ns.fetch_max(ns, Ordering::AcqRel);
    }

    /// Moves the clock forward by `ns`.
    pub fn advance(&self, ns: u64) {
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .ns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(ns))
            });
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.ns.load(Ordering::Acquire)
    }
}

/// The earliest of several optional deadlines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deadlines {
    earliest: Option<u64>,
}

impl Deadlines {
    /// No deadline yet.
    pub fn new() -> Deadlines {
        Deadlines::default()
    }

    /// Takes `deadline` into account (`None` adds nothing).
    pub fn add(&mut self, deadline: Option<u64>) -> &mut Deadlines {
        self.earliest = match (self.earliest, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// Takes a timer's [`TimerDevice::next_deadline`] into account.
    pub fn add_timer(&mut self, timer: &dyn TimerDevice) -> &mut Deadlines {
        self.add(timer.next_deadline())
    }

    /// The earliest deadline added, if any.
    pub fn earliest(&self) -> Option<u64> {
        self.earliest
    }
}

impl FromIterator<Option<u64>> for Deadlines {
    fn from_iter<I: IntoIterator<Item = Option<u64>>>(iter: I) -> Deadlines {
        let mut d = Deadlines::new();
        for deadline in iter {
            d.add(deadline);
        }
        d
    }
}

/// How many whole periods of a `hz` clock have elapsed `ns` nanoseconds
/// after tick 0: `floor(ns * hz / 1e9)`.
pub fn ticks_at(ns: u64, hz: u64) -> u64 {
    let t = u128::from(ns) * u128::from(hz) / u128::from(NS_PER_SEC);
    u64::try_from(t).unwrap_or(u64::MAX)
}

/// The first nanosecond at which tick `tick` of a `hz` clock has happened:
/// `ceil(tick * 1e9 / hz)`, saturating. A zero frequency never ticks.
pub fn ns_at_tick(tick: u64, hz: u64) -> u64 {
    if hz == 0 {
        return u64::MAX;
    }
    let ns = (u128::from(tick) * u128::from(NS_PER_SEC)).div_ceil(u128::from(hz));
    u64::try_from(ns).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_none_added_gives_none() {
        let d: Deadlines = [None, None].into_iter().collect();
        assert_eq!(d.earliest(), None);
    }

    #[test]
    fn deadlines_mixed_gives_minimum() {
        let mut d = Deadlines::new();
        d.add(Some(30)).add(None).add(Some(10)).add(Some(20));
        assert_eq!(d.earliest(), Some(10));
    }

    #[test]
    fn ticks_and_ns_round_trip_at_odd_frequency() {
        let hz = 1_193_182;
        for tick in [0, 1, 2, 1000, 65536, 123_456_789, 1 << 40] {
            let ns = ns_at_tick(tick, hz);
            assert_eq!(ticks_at(ns, hz), tick, "tick {tick}");
            if ns > 0 {
                assert_eq!(ticks_at(ns - 1, hz), tick - 1, "tick {tick} is not early");
            }
        }
    }

    #[test]
    fn ticks_at_huge_time_does_not_overflow() {
        assert_eq!(ticks_at(u64::MAX, NS_PER_SEC), u64::MAX);
        assert_eq!(ns_at_tick(u64::MAX, 1), u64::MAX);
        assert_eq!(ns_at_tick(5, 0), u64::MAX);
    }

    #[test]
    fn manual_clock_never_goes_backwards() {
        let c = ManualClock::new(100);
        c.set(50);
        assert_eq!(c.now_ns(), 100);
        c.advance(25);
        assert_eq!(c.now_ns(), 125);
        c.advance(u64::MAX);
        assert_eq!(c.now_ns(), u64::MAX);
    }

    #[test]
    fn host_clock_is_monotonic() {
        let c = HostClock::new();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
    }
}
