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
