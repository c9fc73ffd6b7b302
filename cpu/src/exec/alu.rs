//! Integer arithmetic and logic (SDM Vol. 2: ADD, ADC, SUB, SBB, AND, OR,
//! XOR, CMP, TEST, INC, DEC, NEG, NOT).

use crate::block::Decoded;
use crate::fault::Res;
use crate::flags::{self, mask};
use crate::state::rflags::{ARITH, CF};
use crate::state::Core;

/// Runs a two-operand ALU operation `op(a, b, rflags) -> (result, flags)`
/// on operands 0 and 1, writing the result back to operand 0 if `store`.
#[inline(always)]
fn binary(
    cpu: &mut Core,
    d: &Decoded,
    store: bool,
    op: fn(u64, u64, u64, usize) -> (u64, u64),
) -> Res {
    let size = Core::op_size(d, 0);
    let a = cpu.op(d, 0, size)?;
    let b = cpu.op(d, 1, size)?;
    let (r, f) = op(a, b, cpu.rflags, size);
    if store {
        cpu.set_op(d, 0, size, r & mask(size))?;
    }
    cpu.rflags = flags::merge(cpu.rflags, f, ARITH);
    Ok(())
}

fn add_op(a: u64, b: u64, _: u64, size: usize) -> (u64, u64) {
    let r = a.wrapping_add(b);
    (r, flags::add(a, b, 0, r, size))
}

fn adc_op(a: u64, b: u64, fl: u64, size: usize) -> (u64, u64) {
    let c = fl & CF;
    let r = a.wrapping_add(b).wrapping_add(c);
    (r, flags::add(a, b, c, r, size))
}

fn sub_op(a: u64, b: u64, _: u64, size: usize) -> (u64, u64) {
    let r = a.wrapping_sub(b);
    (r, flags::sub(a, b, 0, r, size))
}

fn sbb_op(a: u64, b: u64, fl: u64, size: usize) -> (u64, u64) {
    let c = fl & CF;
    let r = a.wrapping_sub(b).wrapping_sub(c);
    (r, flags::sub(a, b, c, r, size))
}

fn and_op(a: u64, b: u64, _: u64, size: usize) -> (u64, u64) {
    let r = a & b;
    (r, flags::logic(r, size))
}

fn or_op(a: u64, b: u64, _: u64, size: usize) -> (u64, u64) {
    let r = a | b;
    (r, flags::logic(r, size))
}

fn xor_op(a: u64, b: u64, _: u64, size: usize) -> (u64, u64) {
    let r = a ^ b;
    (r, flags::logic(r, size))
}

pub(super) fn add(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, true, add_op)
}

pub(super) fn adc(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, true, adc_op)
}

pub(super) fn sub(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, true, sub_op)
}

pub(super) fn sbb(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, true, sbb_op)
}

pub(super) fn and(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, true, and_op)
}

pub(super) fn or(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, true, or_op)
}

pub(super) fn xor(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, true, xor_op)
}

pub(super) fn cmp(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, false, sub_op)
}

pub(super) fn test(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, false, and_op)
}

/// INC and DEC leave CF unchanged.
pub(super) fn inc(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let a = cpu.op(d, 0, size)?;
    let r = a.wrapping_add(1);
    cpu.set_op(d, 0, size, r & mask(size))?;
    cpu.rflags = flags::merge(cpu.rflags, flags::add(a, 1, 0, r, size), ARITH & !CF);
    Ok(())
}

pub(super) fn dec(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let a = cpu.op(d, 0, size)?;
    let r = a.wrapping_sub(1);
    cpu.set_op(d, 0, size, r & mask(size))?;
    cpu.rflags = flags::merge(cpu.rflags, flags::sub(a, 1, 0, r, size), ARITH & !CF);
    Ok(())
}

/// NEG: 0 - operand; CF is set unless the operand was zero.
pub(super) fn neg(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let a = cpu.op(d, 0, size)?;
    let r = 0u64.wrapping_sub(a);
    cpu.set_op(d, 0, size, r & mask(size))?;
    cpu.rflags = flags::merge(cpu.rflags, flags::sub(0, a, 0, r, size), ARITH);
    Ok(())
}

/// NOT: no flags.
pub(super) fn not(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let a = cpu.op(d, 0, size)?;
    cpu.set_op(d, 0, size, !a & mask(size))
}
