//! x87, MMX and SSE instructions.

use iced_x86::Instruction;

use super::Handler;

/// The handler for an x87/MMX/SSE instruction, or `None` if `i` is not one.
pub(crate) fn handler(_i: &Instruction) -> Option<Handler> {
    None
}
