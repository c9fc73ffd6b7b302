//! Exceptions raised while executing an instruction (SDM Vol. 3A, 6.15).

use crate::vector;

/// An exception an instruction raised: a fault, reported with RIP at the
/// faulting instruction. Handlers return it with `?`; the run loop rewinds
/// RIP and delivers it through the IDT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub vector: u8,
    pub error: Option<u32>,
}

impl Fault {
    pub const fn new(vector: u8) -> Fault {
        Fault {
            vector,
            error: None,
        }
    }

    pub const fn with_error(vector: u8, error: u32) -> Fault {
        Fault {
            vector,
            error: Some(error),
        }
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
