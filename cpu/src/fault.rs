//! Exceptions raised while executing an instruction (SDM Vol. 3A, 6.15).

use std::num::NonZeroU64;

use crate::vector;

/// An exception an instruction raised: a fault, reported with RIP at the
/// faulting instruction. Handlers return it with `?`; the run loop rewinds
/// RIP and delivers it through the IDT.
///
/// Packed into one non-zero word (bit 63 always set; bit 40: has an error
/// code; bits 39:8 the code; bits 7:0 the vector), so that `Res<()>` is a
/// single register whose `Ok` is zero: handlers return it without going
/// through memory and the run loop tests it with one instruction.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault(NonZeroU64);

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fault")
            .field("vector", &self.vector())
            .field("error", &self.error())
            .finish()
    }
}

const TAG: u64 = 1 << 63;
const HAS_ERROR: u64 = 1 << 40;

impl Fault {
    pub const fn new(vector: u8) -> Fault {
        match NonZeroU64::new(TAG | vector as u64) {
            Some(v) => Fault(v),
            None => unreachable!(),
        }
    }

    pub const fn with_error(vector: u8, error: u32) -> Fault {
        match NonZeroU64::new(TAG | HAS_ERROR | ((error as u64) << 8) | vector as u64) {
            Some(v) => Fault(v),
            None => unreachable!(),
        }
    }

    /// The exception vector.
    pub const fn vector(&self) -> u8 {
        self.0.get() as u8
    }

    /// The error code pushed with the exception, if it has one.
    pub const fn error(&self) -> Option<u32> {
        if self.0.get() & HAS_ERROR != 0 {
            Some((self.0.get() >> 8) as u32)
        } else {
            None
        }
    }

    /// Not an exception: the instruction retired and asked to end its
    /// block (`Core::end_block`). Handlers whose work may set `end_block`
    /// report it this way so the run loop need not look at the flag after
    /// every instruction.
    pub const END: Fault = match NonZeroU64::new(TAG | (1 << 41)) {
        Some(v) => Fault(v),
        None => unreachable!(),
    };

    /// Whether this is [`Fault::END`].
    #[inline(always)]
    pub fn is_end(&self) -> bool {
        *self == Fault::END
    }

    /// #UD: invalid opcode.
    pub const UD: Fault = Fault::new(vector::UD);
    /// #DE: divide error.
    pub const DE: Fault = Fault::new(vector::DE);
    /// #GP(0).
    pub const GP0: Fault = Fault::with_error(vector::GP, 0);
    /// #SS(0).
    pub const SS0: Fault = Fault::with_error(vector::SS, 0);

    /// #GP with a selector error code (SDM Vol. 3A, 6.13).
    pub const fn gp(selector: u16) -> Fault {
        Fault::with_error(vector::GP, (selector & !3) as u32)
    }

    /// #NP with a selector error code.
    pub const fn np(selector: u16) -> Fault {
        Fault::with_error(vector::NP, (selector & !3) as u32)
    }

    /// #SS with a selector error code.
    pub const fn ss(selector: u16) -> Fault {
        Fault::with_error(vector::SS, (selector & !3) as u32)
    }

    /// #TS with a selector error code.
    pub const fn ts(selector: u16) -> Fault {
        Fault::with_error(vector::TS, (selector & !3) as u32)
    }
}

/// The result of executing (part of) an instruction.
pub(crate) type Res<T = ()> = Result<T, Fault>;

const _: () = assert!(std::mem::size_of::<Res>() == 8);
