//! The one word an executor checks between blocks of guest code.
//!
//! Devices, timers and other threads raise bits here when they need the
//! executor to stop and look (an interrupt line changed, code pages were
//! overwritten by DMA, the machine must stop). Checking is a single relaxed
//! load, so the interpreter can afford it after every block.

use std::sync::atomic::{AtomicU32, Ordering};

/// Bits of the attention word; any non-zero value makes the executor leave
/// its inner loop.
#[derive(Debug, Default)]
pub struct Attention {
    word: AtomicU32,
}

impl Attention {
    /// An interrupt controller's output may have changed.
    pub const INTERRUPT: u32 = 1 << 0;
    /// Pages holding cached code were written by someone other than the CPU.
    pub const CODE_WRITTEN: u32 = 1 << 1;
    /// The machine must stop (power-off, debug exit, reset, host signal).
    pub const STOP: u32 = 1 << 2;
    /// A timer or other host event wants the run loop to service it.
    pub const SERVICE: u32 = 1 << 3;

    /// Raises the given bits.
    pub fn raise(&self, bits: u32) {
        self.word.fetch_or(bits, Ordering::Release);
    }

    /// Whether any bit is raised (the between-blocks check).
    #[inline(always)]
    pub fn any(&self) -> bool {
        self.word.load(Ordering::Relaxed) != 0
    }

    /// The raised bits, without clearing them.
    pub fn peek(&self) -> u32 {
        self.word.load(Ordering::Acquire)
    }

    /// Clears and returns the given bits.
    pub fn take(&self, bits: u32) -> u32 {
        self.word.fetch_and(!bits, Ordering::AcqRel) & bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_take_clears_only_requested_bits() {
        let a = Attention::default();
        a.raise(Attention::INTERRUPT | Attention::STOP);
        assert_eq!(a.take(Attention::INTERRUPT), Attention::INTERRUPT);
        assert!(a.any());
        assert_eq!(a.peek(), Attention::STOP);
        assert_eq!(a.take(Attention::INTERRUPT), 0);
    }
}
