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
//!   result bits XORed (SHRD) for every count, except that a 16-bit SHLD
//!   by exactly 16 gives OF = CF.
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
pub(crate) enum Op {
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
    Rcl,
    Rcr,
}

/// The count mask: 5 bits, or 6 for 64-bit operands.
impl Op {
    /// The operation numbered `n` (as `Op::X as u8`), for const generics.
    #[inline(always)]
    pub(super) const fn from(n: u8) -> Op {
        match n {
            0 => Op::Shl,
            1 => Op::Shr,
            2 => Op::Sar,
            3 => Op::Rol,
            4 => Op::Ror,
            5 => Op::Rcl,
            _ => Op::Rcr,
        }
    }
}

#[inline(always)]
pub(super) fn count_mask(size: usize) -> u32 {
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
#[inline(always)]
pub(crate) fn shift(op: Op, val: u64, count: u32, size: usize, rflags: u64) -> (u64, u64) {
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

/// The six arithmetic flags of SHL, SHR or SAR of `val` by a non-zero
/// (masked) `count` (for lazy flags).
pub(crate) fn shift_flags(op: Op, val: u64, count: u32, size: usize) -> u64 {
    shift(op, val, count, size, 0).1 & ARITH
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

#[cfg(test)]
mod tests {
    use super::super::string::tests::{machine64, step};
    use super::*;
    use crate::state::rflags::{PF, SF, ZF};

    const NONE: u64 = 0x2;

    #[test]
    fn zero_count_changes_nothing() {
        for op in [
            Op::Shl,
            Op::Shr,
            Op::Sar,
            Op::Rol,
            Op::Ror,
            Op::Rcl,
            Op::Rcr,
        ] {
            assert_eq!(
                shift(op, 0x1234, 0, 2, NONE | ARITH),
                (0x1234, NONE | ARITH)
            );
        }
        assert_eq!(
            double_shift(true, 0x12, 0x34, 0, 4, NONE | CF),
            (0x12, NONE | CF)
        );
    }

    #[test]
    fn shl_cf_is_last_bit_out_and_of_for_count_one() {
        // 0x81 << 1: CF = old MSB, OF = MSB(result) ^ CF = 1.
        let (r, f) = shift(Op::Shl, 0x81, 1, 1, NONE);
        assert_eq!(r, 0x02);
        assert_eq!(f & (CF | OF | SF | ZF), CF | OF);
        // 0x40 << 1 = 0x80: CF = 0, OF = 1, SF = 1.
        let (r, f) = shift(Op::Shl, 0x40, 1, 1, NONE);
        assert_eq!((r, f & (CF | OF | SF)), (0x80, OF | SF));
        // Shifting an 8-bit value by 8 moves bit 0 into CF.
        let (r, f) = shift(Op::Shl, 0x01, 8, 1, NONE);
        assert_eq!((r, f & (CF | ZF | PF)), (0, CF | ZF | PF));
        // Beyond the width everything is gone, CF included.
        let (r, f) = shift(Op::Shl, 0xFF, 9, 1, NONE);
        assert_eq!((r, f & CF), (0, 0));
        // 64-bit by 63.
        let (r, f) = shift(Op::Shl, 3, 63, 8, NONE);
        assert_eq!((r, f & CF), (1 << 63, CF));
    }

    #[test]
    fn shr_and_sar_overflow_flag() {
        // SHR by 1: OF = MSB of the original operand.
        let (r, f) = shift(Op::Shr, 0x8001, 1, 2, NONE);
        assert_eq!((r, f & (CF | OF)), (0x4000, CF | OF));
        // SHR by more than 1 (AMD): OF = 0 as the top result bits are 0.
        let (_, f) = shift(Op::Shr, 0x8001, 2, 2, NONE);
        assert_eq!(f & OF, 0);
        // SAR by 1: OF = 0, sign kept.
        let (r, f) = shift(Op::Sar, 0x81, 1, 1, NONE);
        assert_eq!((r, f & (CF | OF | SF)), (0xC0, CF | SF));
        // SAR beyond the width fills with the sign and CF = sign.
        let (r, f) = shift(Op::Sar, 0x80, 20, 1, NONE);
        assert_eq!((r, f & CF), (0xFF, CF));
        let (r, _) = shift(Op::Sar, 0x8000_0000_0000_0000, 63, 8, NONE);
        assert_eq!(r, u64::MAX);
    }

    #[test]
    fn shifts_set_af_and_szp() {
        let (_, f) = shift(Op::Shr, 0x10, 4, 4, NONE);
        assert_eq!(f & ARITH, AF);
        // 0x03 << 6 = 0xC0: CF = 0, OF = MSB ^ CF = 1, even parity.
        let (_, f) = shift(Op::Shl, 0x3, 6, 1, NONE);
        assert_eq!(f & ARITH, AF | SF | OF | PF);
    }

    #[test]
    fn rotates_touch_only_cf_and_of() {
        let (r, f) = shift(Op::Rol, 0x81, 1, 1, NONE | ZF | SF);
        assert_eq!((r, f), (0x03, NONE | ZF | SF | CF | OF));
        let (r, f) = shift(Op::Ror, 0x01, 1, 1, NONE);
        // Result 0x80: CF = MSB = 1, OF = MSB ^ next = 1.
        assert_eq!((r, f), (0x80, NONE | CF | OF));
        // A count that is a multiple of the width leaves the value but
        // still sets CF from it.
        let (r, f) = shift(Op::Rol, 0x01, 8, 1, NONE);
        assert_eq!((r, f & CF), (0x01, CF));
        let (r, f) = shift(Op::Ror, 0x8000, 16, 2, NONE);
        assert_eq!((r, f & CF), (0x8000, CF));
    }

    #[test]
    fn rcl_rcr_rotate_through_carry_with_modulo() {
        let (r, f) = shift(Op::Rcl, 0x80, 1, 1, NONE | CF);
        assert_eq!((r, f & CF), (0x01, CF));
        let (r, f) = shift(Op::Rcr, 0x01, 1, 8, NONE | CF);
        assert_eq!((r, f & (CF | OF)), (0x8000_0000_0000_0000, CF | OF));
        // 8-bit count 9 (mod 9 = 0): value and CF unchanged.
        let (r, f) = shift(Op::Rcl, 0x5A, 9, 1, NONE | CF);
        assert_eq!((r, f & CF), (0x5A, CF));
        // 16-bit count 18 = 1 (mod 17).
        assert_eq!(shift(Op::Rcr, 0x0002, 18, 2, NONE).0, 0x0001);
        // 32-bit count 31 through carry.
        assert_eq!(shift(Op::Rcl, 1, 31, 4, NONE).0, 0x8000_0000);
        assert_eq!(shift(Op::Rcl, 2, 31, 4, NONE), (0, NONE | CF | OF));
    }

    #[test]
    fn shld_shrd() {
        let (r, f) = double_shift(true, 0x1234_5678, 0x9ABC_DEF0, 8, 4, NONE);
        assert_eq!((r, f & CF), (0x3456_789A, 0));
        let (r, f) = double_shift(false, 0x1234_5678, 0x9ABC_DEF0, 4, 4, NONE);
        assert_eq!((r, f & CF), (0x0123_4567, CF));
        let (r, f) = double_shift(true, 1, 0, 63, 8, NONE);
        assert_eq!((r, f & (CF | OF)), (1 << 63, OF));
        // 16-bit by 16: the source moves in whole.
        let (r, f) = double_shift(true, 0x0001, 0xBEEF, 16, 2, NONE);
        assert_eq!((r, f & (CF | OF)), (0xBEEF, CF | OF));
        // 16-bit by 17..31 (undefined): AMD rotates the source.
        let (r, f) = double_shift(true, 0xFFFF, 0x1234, 20, 2, NONE);
        assert_eq!((r, f & (CF | OF)), (0x2341, 0));
        let (r, f) = double_shift(false, 0xFFFF, 0x1234, 20, 2, NONE);
        assert_eq!((r, f & CF), (0x4123, 0));
    }

    #[test]
    fn handler_masks_count_and_zero_extends_on_zero_count() {
        let mut cpu = machine64();
        cpu.gpr[0] = 0xFFFF_FFFF_8000_0001;
        cpu.rflags = NONE | ZF;
        // C1 E0 00: shl eax, 0 still writes EAX (zero-extends).
        step(&mut cpu, &[0xC1, 0xE0, 0x00]).unwrap();
        assert_eq!((cpu.gpr[0], cpu.rflags), (0x8000_0001, NONE | ZF));
        // D3 E0: shl eax, cl with CL = 33 shifts by 1.
        cpu.gpr[1] = 33;
        step(&mut cpu, &[0xD3, 0xE0]).unwrap();
        assert_eq!(cpu.gpr[0], 2);
        assert_eq!(cpu.rflags & (CF | OF), CF | OF);
        // 48 D3 E8: shr rax, cl with CL = 65 shifts by 1.
        cpu.gpr[1] = 65;
        step(&mut cpu, &[0x48, 0xD3, 0xE8]).unwrap();
        assert_eq!(cpu.gpr[0], 1);
        // D0 E4: shl ah, 1 (the "1" form).
        cpu.gpr[0] = 0xC000;
        step(&mut cpu, &[0xD0, 0xE4]).unwrap();
        assert_eq!(cpu.gpr[0], 0x8000);
        // 66 0F A4 D0 04: shld ax, dx, 4
        cpu.gpr[0] = 0x1234;
        cpu.gpr[2] = 0xABCD;
        step(&mut cpu, &[0x66, 0x0F, 0xA4, 0xD0, 0x04]).unwrap();
        assert_eq!(cpu.gpr[0], 0x234A);
        // 0F AD D0: shrd eax, edx, cl (CL = 8)
        cpu.gpr[0] = 0x1122_3344;
        cpu.gpr[2] = 0x5566_7788;
        cpu.gpr[1] = 8;
        step(&mut cpu, &[0x0F, 0xAD, 0xD0]).unwrap();
        assert_eq!(cpu.gpr[0], 0x8811_2233);
    }

    #[test]
    fn memory_destination() {
        let mut cpu = machine64();
        cpu.ram.store(0x3000, 2, 0x8001);
        cpu.gpr[3] = 0x3000;
        cpu.rflags = NONE | CF;
        // 66 D1 13: rcl word [rbx], 1
        step(&mut cpu, &[0x66, 0xD1, 0x13]).unwrap();
        assert_eq!(cpu.ram.load(0x3000, 2), 0x0003);
        assert_eq!(cpu.rflags & CF, CF);
    }
}
