//! Integration tests live in `tests/`; this library holds their shared
//! helpers: the CPU differential harness and real-guest support.

pub mod diff;
pub mod guest;
