//! Multiplication and division (SDM Vol. 2: MUL, IMUL, DIV, IDIV).
//!
//! The arithmetic is in pure functions of the operands, the operand size and
//! the incoming RFLAGS. Flags the SDM leaves undefined are set as the AMD
//! Zen 3 host of the differential suite sets them (see each function).

use iced_x86::OpKind;

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::flags::{mask, sext};
use crate::state::rflags::{AF, CF, OF, PF, SF, ZF};
use crate::state::Core;

/// Unsigned `a * b` of `size`-byte operands: (low half, high half, RFLAGS).
/// CF = OF = high half non-zero; SF, ZF, AF and PF (undefined) are left
/// unchanged, as AMD parts do.
pub(super) fn mul_op(a: u64, b: u64, size: usize, rflags: u64) -> (u64, u64, u64) {
    let m = mask(size);
    let p = (a & m) as u128 * (b & m) as u128;
    let bits = size * 8;
    let lo = p as u64 & m;
    let hi = (p >> bits) as u64 & m;
    let o = if hi != 0 { CF | OF } else { 0 };
    (lo, hi, (rflags & !(CF | OF)) | o)
}

/// Signed `a * b` of `size`-byte operands: (low half, high half, RFLAGS).
/// CF = OF = the product does not fit the low half; SF, ZF, AF and PF
/// (undefined) are left unchanged, as AMD parts do.
pub(super) fn imul_op(a: u64, b: u64, size: usize, rflags: u64) -> (u64, u64, u64) {
    let m = mask(size);
    let p = sext(a, size) as i64 as i128 * sext(b, size) as i64 as i128;
    let bits = size * 8;
    let lo = p as u64 & m;
    let hi = (p >> bits) as u64 & m;
    let o = if p != sext(lo, size) as i64 as i128 {
        CF | OF
    } else {
        0
    };
    (lo, hi, (rflags & !(CF | OF)) | o)
}

/// Unsigned `hi:lo / divisor` of `size`-byte operands: (quotient,
/// remainder, RFLAGS), or #DE for a zero divisor or a quotient that does not
/// fit. The flags are undefined; AMD parts set AF, clear SF, ZF and PF,
/// and leave CF and OF unchanged.
pub(super) fn div_op(
    lo: u64,
    hi: u64,
    divisor: u64,
    size: usize,
    rflags: u64,
) -> Res<(u64, u64, u64)> {
    let m = mask(size);
    let bits = size * 8;
    let dv = (divisor & m) as u128;
    if dv == 0 {
        return Err(Fault::DE);
    }
    let n = (((hi & m) as u128) << bits) | (lo & m) as u128;
    let q = n / dv;
    if q > m as u128 {
        return Err(Fault::DE);
    }
    Ok((q as u64, (n % dv) as u64, div_flags(rflags)))
}

/// RFLAGS after DIV or IDIV on the host part (see [`div_op`]).
fn div_flags(rflags: u64) -> u64 {
    (rflags & !(SF | ZF | PF)) | AF
}

/// Signed `hi:lo / divisor`: (quotient, remainder, RFLAGS) or #DE; the
/// quotient truncates toward zero and the remainder has the dividend's sign.
pub(super) fn idiv_op(
    lo: u64,
    hi: u64,
    divisor: u64,
    size: usize,
    rflags: u64,
) -> Res<(u64, u64, u64)> {
    let m = mask(size);
    let bits = size * 8;
    let dv = sext(divisor, size) as i64 as i128;
    if dv == 0 {
        return Err(Fault::DE);
    }
    let n = ((((hi & m) as u128) << bits) | (lo & m) as u128) as i128;
    // Sign-extend the 2*bits-wide dividend.
    let n = (n << (128 - 2 * bits)) >> (128 - 2 * bits);
    let q = n / dv;
    let half = 1i128 << (bits - 1);
    if q < -half || q >= half {
        return Err(Fault::DE);
    }
    Ok((q as u64 & m, (n % dv) as u64 & m, div_flags(rflags)))
}

/// Reads the implicit dividend / multiplicand: (low, high) halves
/// (AL with AH for bytes, else rAX with rDX).
fn acc(cpu: &Core, size: usize) -> (u64, u64) {
    if size == 1 {
        (cpu.gpr[0] & 0xFF, (cpu.gpr[0] >> 8) & 0xFF)
    } else {
        (cpu.gpr[0] & mask(size), cpu.gpr[2] & mask(size))
    }
}

/// Writes a double-width result: AL/AH (as AX) for bytes, else rAX and rDX.
fn set_acc(cpu: &mut Core, size: usize, lo: u64, hi: u64) {
    if size == 1 {
        cpu.set_gpr_sized(0, 2, (hi << 8) | lo);
    } else {
        cpu.set_gpr_sized(0, size, lo);
        cpu.set_gpr_sized(2, size, hi);
    }
}

pub(super) fn mul(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let b = cpu.op(d, 0, size)?;
    let (a, _) = acc(cpu, size);
    let (lo, hi, f) = mul_op(a, b, size, cpu.rflags);
    set_acc(cpu, size, lo, hi);
    cpu.rflags = f;
    Ok(())
}

/// IMUL r/m (one operand, double-width result), IMUL r, r/m and
/// IMUL r, r/m, imm (truncated result).
pub(super) fn imul(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    match d.i.op_count() {
        1 => {
            let b = cpu.op(d, 0, size)?;
            let (a, _) = acc(cpu, size);
            let (lo, hi, f) = imul_op(a, b, size, cpu.rflags);
            set_acc(cpu, size, lo, hi);
            cpu.rflags = f;
        }
        n => {
            let (a, b) = if n == 2 {
                (cpu.reg(d.i.op_register(0)), cpu.op(d, 1, size)?)
            } else {
                debug_assert!(d.i.op_kind(2) != OpKind::Register);
                (cpu.op(d, 1, size)?, cpu.op(d, 2, size)?)
            };
            let (lo, _, f) = imul_op(a, b, size, cpu.rflags);
            cpu.set_reg(d.i.op_register(0), lo);
            cpu.rflags = f;
        }
    }
    Ok(())
}

/// A pure division: (low, high, divisor, size, rflags) -> (quotient,
/// remainder, rflags).
type DivOp = fn(u64, u64, u64, usize, u64) -> Res<(u64, u64, u64)>;

fn divide(cpu: &mut Core, d: &Decoded, op: DivOp) -> Res {
    let size = Core::op_size(d, 0);
    let divisor = cpu.op(d, 0, size)?;
    let (lo, hi) = acc(cpu, size);
    let (q, r, f) = op(lo, hi, divisor, size, cpu.rflags)?;
    set_acc(cpu, size, q, r);
    cpu.rflags = f;
    Ok(())
}

pub(super) fn div(cpu: &mut Core, d: &Decoded) -> Res {
    divide(cpu, d, div_op)
}

pub(super) fn idiv(cpu: &mut Core, d: &Decoded) -> Res {
    divide(cpu, d, idiv_op)
}

#[cfg(test)]
mod tests {
    use super::super::string::tests::{machine64, step};
    use super::*;

    const NONE: u64 = 0x2;
    const ARITH: u64 = crate::state::rflags::ARITH;

    #[test]
    fn mul_sets_cf_of_when_high_half_used_and_keeps_szap() {
        assert_eq!(mul_op(0x10, 0x0F, 1, NONE | ZF), (0xF0, 0, NONE | ZF));
        assert_eq!(
            mul_op(0x10, 0x10, 1, NONE | SF | PF),
            (0, 1, NONE | SF | PF | CF | OF)
        );
        let (lo, hi, f) = mul_op(u64::MAX, u64::MAX, 8, NONE);
        assert_eq!((lo, hi, f), (1, u64::MAX - 1, NONE | CF | OF));
    }

    #[test]
    fn imul_overflow_is_relative_to_the_signed_low_half() {
        // -1 * -1 = 1 fits.
        assert_eq!(imul_op(0xFF, 0xFF, 1, NONE), (1, 0, NONE));
        // -128 * 1 fits; -128 * -1 = 128 does not.
        assert_eq!(imul_op(0x80, 1, 1, NONE), (0x80, 0xFF, NONE));
        assert_eq!(imul_op(0x80, 0xFF, 1, NONE), (0x80, 0x00, NONE | CF | OF));
        // 0x7FFF_FFFF * 2 overflows 32 bits.
        let (lo, hi, f) = imul_op(0x7FFF_FFFF, 2, 4, NONE);
        assert_eq!((lo, hi, f & (CF | OF)), (0xFFFF_FFFE, 0, CF | OF));
        // 64-bit: -3 * 5.
        let (lo, hi, f) = imul_op((-3i64) as u64, 5, 8, NONE | ARITH);
        assert_eq!(
            (lo, hi, f),
            ((-15i64) as u64, u64::MAX, NONE | (ARITH & !(CF | OF)))
        );
    }

    #[test]
    fn div_faults_on_zero_and_overflow() {
        assert_eq!(div_op(5, 0, 0, 4, NONE), Err(Fault::DE));
        // 0x100 / 1 does not fit a byte quotient.
        assert_eq!(div_op(0x00, 0x01, 1, 1, NONE), Err(Fault::DE));
        assert_eq!(div_op(0xFF, 0x00, 1, 1, NONE).unwrap().0, 0xFF);
        // u128 dividend: (2^64 + 5) / 2.
        assert_eq!(
            div_op(5, 1, 2, 8, NONE).unwrap(),
            (1 << 63 | 2, 1, NONE | AF)
        );
    }

    #[test]
    fn idiv_truncates_and_checks_signed_range() {
        // -7 / 2 = -3 remainder -1 (16-bit dividend in AX for bytes).
        let (q, r, _) = idiv_op(0xF9, 0xFF, 2, 1, NONE).unwrap();
        assert_eq!((q, r), (0xFD, 0xFF));
        // -128 / -1 overflows; -256 / 2 = -128 is fine.
        assert_eq!(idiv_op(0x80, 0xFF, 0xFF, 1, NONE), Err(Fault::DE));
        assert_eq!(idiv_op(0x00, 0xFF, 0x02, 1, NONE).unwrap().0, 0x80);
        // INT64_MIN / -1.
        assert_eq!(
            idiv_op(1 << 63, u64::MAX, u64::MAX, 8, NONE),
            Err(Fault::DE)
        );
        assert_eq!(idiv_op(0, 0, 0, 2, NONE), Err(Fault::DE));
    }

    #[test]
    fn div_flags_match_amd() {
        let (_, _, f) = div_op(10, 0, 3, 4, NONE | SF | ZF | PF | CF | OF).unwrap();
        assert_eq!(f, NONE | AF | CF | OF);
        let (_, _, f) = idiv_op(10, 0, 3, 4, NONE).unwrap();
        assert_eq!(f, NONE | AF);
    }

    #[test]
    fn handlers_use_the_right_registers() {
        let mut cpu = machine64();
        // F6 F1: div cl: AX / CL -> AL quotient, AH remainder.
        cpu.gpr[0] = 0xFFFF_0000_0000_03E9; // AX = 1001
        cpu.gpr[1] = 10;
        step(&mut cpu, &[0xF6, 0xF1]).unwrap();
        assert_eq!(cpu.gpr[0], 0xFFFF_0000_0000_0164);
        // 48 F7 E1: mul rcx -> RDX:RAX.
        cpu.gpr[0] = 1 << 63;
        cpu.gpr[1] = 4;
        step(&mut cpu, &[0x48, 0xF7, 0xE1]).unwrap();
        assert_eq!((cpu.gpr[0], cpu.gpr[2]), (0, 2));
        // 6B C1 FD: imul eax, ecx, -3 (zero-extends RAX).
        cpu.gpr[1] = 5;
        step(&mut cpu, &[0x6B, 0xC1, 0xFD]).unwrap();
        assert_eq!(cpu.gpr[0], 0xFFFF_FFF1);
        // 66 0F AF C1: imul ax, cx.
        cpu.gpr[0] = 0xAAAA_0000_0000_0100;
        cpu.gpr[1] = 0x100;
        step(&mut cpu, &[0x66, 0x0F, 0xAF, 0xC1]).unwrap();
        assert_eq!(cpu.gpr[0], 0xAAAA_0000_0000_0000);
        assert_eq!(cpu.rflags & (CF | OF), CF | OF);
        // F7 F9: idiv ecx with EDX:EAX = -7, ECX = 2.
        cpu.gpr[0] = 0xFFFF_FFF9;
        cpu.gpr[2] = 0xFFFF_FFFF;
        cpu.gpr[1] = 2;
        step(&mut cpu, &[0xF7, 0xF9]).unwrap();
        assert_eq!((cpu.gpr[0], cpu.gpr[2]), (0xFFFF_FFFD, 0xFFFF_FFFF));
        // A faulting divide changes nothing.
        cpu.gpr[1] = 0;
        let before = cpu.gpr;
        assert_eq!(step(&mut cpu, &[0xF7, 0xF9]), Err(Fault::DE));
        assert_eq!(cpu.gpr, before);
    }
}
