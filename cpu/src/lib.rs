//! The x86-64 interpreter.
//!
//! Instructions are decoded by `iced-x86` once, cached in blocks keyed by the
//! guest-physical address they were fetched from, and executed through a
//! handler pointer stored beside each decoded instruction. Memory accesses go
//! through a software TLB from guest-linear page to RAM offset; everything
//! that is not RAM (MMIO, ports) is a call into `mem`'s maps.
//!
//! What this crate refuses to do: know about any device. It sees memory and
//! I/O only through [`mem::Bus`], and interrupts only through
//! [`InterruptSource`].
//!
//! Layout: `state` (registers, segments), `flags` (arithmetic flags),
//! `mmu` (paging walk and TLB), `access` (segmented and linear memory
//! access), `block` (the decode cache), `exec/*` (one file per instruction
//! family, one dispatch table in `exec/mod.rs`), `interrupt` (exception and
//! interrupt delivery), `segment` (descriptor loads), `run` (the loop).

mod access;
mod block;
mod cpuid;
mod exec;
mod fault;
mod flags;
mod fpu;
mod interrupt;
mod mmu;
mod msr;
mod run;
mod segment;
mod state;
#[cfg(test)]
mod tests;

pub use run::Cpu;
pub use run::{InterruptSource, NoInterrupts, RunExit};
pub use state::{Core, DescriptorTable, Mode, SegReg, Segment};

/// Exception vectors (Intel SDM Vol. 3A, 6.3.1, Table 6-1).
pub mod vector {
    pub const DE: u8 = 0;
    pub const DB: u8 = 1;
    pub const NMI: u8 = 2;
    pub const BP: u8 = 3;
    pub const OF: u8 = 4;
    pub const BR: u8 = 5;
    pub const UD: u8 = 6;
    pub const NM: u8 = 7;
    pub const DF: u8 = 8;
    pub const TS: u8 = 10;
    pub const NP: u8 = 11;
    pub const SS: u8 = 12;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
    pub const MF: u8 = 16;
    pub const AC: u8 = 17;
    pub const MC: u8 = 18;
    pub const XM: u8 = 19;
}
