//! Shifts and rotates (SDM Vol. 2: SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR,
//! SHLD, SHRD).
//!
//! The arithmetic is in pure functions ([`shift`], [`double_shift`]) of the
//! operand, the masked count, the operand size and the incoming RFLAGS, so
//! that it can be checked without a machine. Where the SDM leaves a flag or
//! result undefined, these functions reproduce what an AMD Zen 3 part (the
//! host the differential suite compares against) was observed to produce:
//!
//! - SHL/SHR/SAR with a non-zero count set AF.
//! - OF for counts above 1 follows the count-1 formula applied to the final
//!   result: SHL: MSB(result) XOR CF; SHR: bit (n-2) of the result (so 0
//!   unless the count is 1); SAR: 0; ROL: MSB(result) XOR CF; ROR: the top
//!   two bits of the result XORed; RCL: MSB(result) XOR CF; RCR: the top
//!   two bits of the result XORed.
//! - A shift count above the operand width (8- and 16-bit operands) shifts
//!   everything out: SHL/SHR give 0 with CF = 0, SAR fills with the sign.
//! - SHLD/SHRD set AF; OF is MSB(result) XOR CF (SHLD) or the top two
//!   result bits XORed (SHRD) for every count.
//! - SHLD/SHRD of a 16-bit operand by 17..31 (result undefined) rotate the
//!   source left/right by count - 16 and clear CF (and OF for SHLD).
//!
//! A zero (masked) count changes no flags and writes nothing to memory; a
//! 32-bit register destination is still written (zero-extended), as the
//! hardware does.

use iced_x86::{Mnemonic, OpKind};

use crate::block::Decoded;
use crate::fault::Res;
use crate::flags::{mask, sext, szp};
use crate::state::rflags::{AF, ARITH, CF, OF};
use crate::state::Core;

/// Which shift or rotate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
    Rcl,
    Rcr,
}

/// The count mask: 5 bits, or 6 for 64-bit operands.
#[inline(always)]
fn count_mask(size: usize) -> u32 {
    if size == 8 {
        0x3F
    } else {
        0x1F
    }
}

/// Bit `n` of `v` as 0 or 1.
#[inline(always)]
fn bit(v: u64, n: u32) -> u64 {
    (v >> n) & 1
}

/// Shifts or rotates `val` (`size` bytes) by `count`, already masked to 5
/// (6) bits, and returns the result and the new RFLAGS (the incoming
/// `rflags` with the affected flags replaced).
pub(super) fn shift(op: Op, val: u64, count: u32, size: usize, rflags: u64) -> (u64, u64) {
    if count == 0 {
        return (val & mask(size), rflags);
    }
    let bits = (size * 8) as u32;
    let m = mask(size);
    let v = val & m;
    let top = bits - 1;
    let of = |x: bool| if x { OF } else { 0 };
    match op {
        Op::Shl | Op::Shr | Op::Sar => {
            let (r, cf) = match op {
                Op::Shl => {
                    let wide = (v as u128) << count;
                    ((wide as u64) & m, (wide >> bits) as u64 & 1)
                }
                Op::Shr => {
                    let r = if count < 64 { v >> count } else { 0 };
                    let cf = if count <= bits { bit(v, count - 1) } else { 0 };
                    (r, cf)
                }
                _ => {
                    let s = sext(v, size) as i64;
                    let r = (s >> count.min(63)) as u64 & m;
                    let cf = ((s >> (count - 1).min(63)) & 1) as u64;
                    (r, cf)
                }
            };
            let o = match op {
                Op::Shl => of(bit(r, top) != cf),
                Op::Shr => of(bit(r, top) != bit(r, top - 1)),
                _ => 0,
            };
            let f = szp(r, size) | AF | cf | o;
            (r, (rflags & !ARITH) | f)
        }
        Op::Rol | Op::Ror => {
            let c = count % bits;
            let r = if c == 0 {
                v
            } else if op == Op::Rol {
                ((v << c) | (v >> (bits - c))) & m
            } else {
                ((v >> c) | (v << (bits - c))) & m
            };
            let (cf, o) = if op == Op::Rol {
                let cf = bit(r, 0);
                (cf, of(bit(r, top) != cf))
            } else {
                (bit(r, top), of(bit(r, top) != bit(r, top - 1)))
            };
            (r, (rflags & !(CF | OF)) | cf | o)
        }
        Op::Rcl | Op::Rcr => {
            // Rotate through the (n+1)-bit value CF:dest.
            let c = match size {
                1 => count % 9,
                2 => count % 17,
                _ => count,
            };
            let cin = rflags & CF;
            let wide = ((cin as u128) << bits) | v as u128;
            let n = bits + 1;
            let full = (1u128 << n) - 1;
            let rot = if c == 0 {
                wide
            } else if op == Op::Rcl {
                ((wide << c) | (wide >> (n - c))) & full
            } else {
                ((wide >> c) | (wide << (n - c))) & full
            };
            let r = rot as u64 & m;
            let cf = (rot >> bits) as u64 & 1;
            let o = if op == Op::Rcl {
                of(bit(r, top) != cf)
            } else {
                of(bit(r, top) != bit(r, top - 1))
            };
            (r, (rflags & !(CF | OF)) | cf | o)
        }
    }
}

/// SHLD (`left`) / SHRD: shifts `dst` (`size` bytes) by `count` (masked to
/// 5 or 6 bits), filling from `src`. Returns the result and new RFLAGS.
pub(super) fn double_shift(
    left: bool,
    dst: u64,
    src: u64,
    count: u32,
    size: usize,
    rflags: u64,
) -> (u64, u64) {
    if count == 0 {
        return (dst & mask(size), rflags);
    }
    let bits = (size * 8) as u32;
    let m = mask(size);
    let (d, s) = (dst & m, src & m);
    let top = bits - 1;
    let (r, cf) = if count > bits {
        // Only 16-bit operands get here (counts 17..31). The result is
        // undefined; AMD rotates the source by count - 16 and clears CF.
        let c = count - bits;
        let r = if left {
            (s << c) | (s >> (bits - c))
        } else {
            (s >> c) | (s << (bits - c))
        };
        (r & m, 0)
    } else if left {
        let r = (d << count) | (s >> (bits - count));
        (r & m, bit(d, bits - count))
    } else {
        let r = (d >> count) | (s << (bits - count));
        (r & m, bit(d, count - 1))
    };
    let o = if left {
        // MSB(result) XOR CF, except that a 16-bit SHLD by 16 gives CF and
        // the undefined counts above 16 give 0.
        match count.cmp(&bits) {
            std::cmp::Ordering::Less => bit(r, top) != cf,
            std::cmp::Ordering::Equal => cf != 0,
            std::cmp::Ordering::Greater => false,
        }
    } else {
        bit(r, top) != bit(r, top - 1)
    };
    let f = szp(r, size) | AF | cf | if o { OF } else { 0 };
    (r, (rflags & !ARITH) | f)
}

/// Writes the result of a shift to operand 0. A zero count writes a
/// register destination back (zero-extending a 32-bit one) but leaves
/// memory untouched, after checking it is writable as the read-modify-write
/// would.
fn store(cpu: &mut Core, d: &Decoded, size: usize, count: u32, r: u64) -> Res {
    if count == 0 && d.i.op_kind(0) == OpKind::Memory {
        let ea = cpu.ea(d);
        cpu.probe_write(Core::mseg(d), ea, size)?;
        return Ok(());
    }
    cpu.set_op(d, 0, size, r)
}

fn run(cpu: &mut Core, d: &Decoded, op: Op) -> Res {
    let size = Core::op_size(d, 0);
    let count = cpu.op(d, 1, 1)? as u32 & count_mask(size);
    let v = cpu.op(d, 0, size)?;
    let (r, f) = shift(op, v, count, size, cpu.rflags);
    store(cpu, d, size, count, r)?;
    cpu.rflags = f;
    Ok(())
}

pub(super) fn shl(cpu: &mut Core, d: &Decoded) -> Res {
    run(cpu, d, Op::Shl)
}

pub(super) fn shr(cpu: &mut Core, d: &Decoded) -> Res {
    run(cpu, d, Op::Shr)
}

pub(super) fn sar(cpu: &mut Core, d: &Decoded) -> Res {
    run(cpu, d, Op::Sar)
}

pub(super) fn rol(cpu: &mut Core, d: &Decoded) -> Res {
    run(cpu, d, Op::Rol)
}

pub(super) fn ror(cpu: &mut Core, d: &Decoded) -> Res {
    run(cpu, d, Op::Ror)
}

pub(super) fn rcl(cpu: &mut Core, d: &Decoded) -> Res {
    run(cpu, d, Op::Rcl)
}

pub(super) fn rcr(cpu: &mut Core, d: &Decoded) -> Res {
    run(cpu, d, Op::Rcr)
}

fn run_double(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let count = cpu.op(d, 2, 1)? as u32 & count_mask(size);
    let src = cpu.reg(d.i.op_register(1));
    let v = cpu.op(d, 0, size)?;
    let left = d.i.mnemonic() == Mnemonic::Shld;
    let (r, f) = double_shift(left, v, src, count, size, cpu.rflags);
    store(cpu, d, size, count, r)?;
    cpu.rflags = f;
    Ok(())
}

pub(super) fn shld(cpu: &mut Core, d: &Decoded) -> Res {
    run_double(cpu, d)
}

pub(super) fn shrd(cpu: &mut Core, d: &Decoded) -> Res {
    run_double(cpu, d)
}
