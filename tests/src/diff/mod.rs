//! The CPU differential test harness.
//!
//! Randomly generated user-level instruction sequences run on the host CPU
//! (this is an x86-64 machine) and in the interpreter; all sixteen GPRs, the
//! arithmetic flags the sequence defines (plus DF), and the memory the case
//! can touch (a data window and a stack window) must come out the same.
//!
//! - [`gen`]: one generator per instruction class (built on [`build`], which
//!   fills any iced `Code`'s operands with registers, memory through every
//!   addressing form, and immediates, all with interesting values);
//! - [`host`]: runs a case natively through a small thunk at fixed addresses;
//! - [`guest`]: runs it in a `cpu::Cpu` whose page tables map the same
//!   virtual addresses;
//! - [`compare`], [`driver`]: comparison, shrinking, and the report.
//!
//! Run `cargo test -p tests --test cpu_differential`; see [`driver::Config`]
//! for the environment variables (seed, case count, one case, strict flags).
//!
//! # What is not generated, and why
//!
//! - Near CALL/RET/JMP with a 16-bit operand size (0x66): AMD honours the
//!   prefix (16-bit return address, RIP truncated to 16 bits) while Intel
//!   ignores it; the host is AMD and a truncated RIP leaves the code page.
//! - BSWAP r16: undefined result (the SDM says to use XCHG).
//! - 16-bit SHLD/SHRD with a (masked) count above 16: undefined result.
//! - DIV/IDIV operands that raise #DE (checked in software before running).
//! - FS/GS segment overrides: the host's FS/GS bases (TLS) are not the
//!   guest's; string sources get only CS/SS/DS/ES overrides (no-ops).
//! - REPNE on MOVS/STOS/LODS (undocumented; hardware treats it as REP).
//! - LOCK on accesses that split a cache line: split-lock detection on the
//!   host would trap; locked accesses are naturally aligned (unlocked ones
//!   are unaligned a quarter of the time, page-crossing included).
//! - Memory beyond the 8 KiB data window and 4 KiB stack window: so BT's
//!   register bit offset reaches about ±4 KiB, not its full signed range.
//! - RSP as a random operand in the stack, branch and string classes (the
//!   stack class covers PUSH/POP RSP and `[rsp+d]` operands on its own).
//! - Flags an instruction leaves undefined are not compared by default
//!   (`VTDEMU_DIFF_STRICT_FLAGS=1` compares them against this AMD host);
//!   differences are tallied in the summary instead.

pub mod build;
pub mod case;
pub mod compare;
pub mod driver;
pub mod gen;
pub mod guest;
pub mod host;
pub mod rng;

pub use driver::{ClassResult, Config};
pub use gen::Class;

/// Runs one class against the interpreter with the environment's settings.
pub fn run_class(class: Class) -> ClassResult {
    let cfg = Config::from_env();
    let mut host = host::HostRunner::new().expect("map the host runner's windows");
    let layout = host.layout();
    let mut target: Box<dyn compare::Target> =
        Box::new(guest::GuestRunner::new(layout).expect("guest RAM"));
    driver::run_class_on(class, &cfg, &mut host, &mut target, &mut || {
        Box::new(guest::GuestRunner::new(layout).expect("guest RAM"))
    })
}
