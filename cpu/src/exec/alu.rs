//! Integer arithmetic and logic (SDM Vol. 2: ADD, ADC, SUB, SBB, AND, OR,
//! XOR, CMP, TEST, INC, DEC, NEG, NOT).

use crate::block::Decoded;
use crate::fault::Res;
use crate::flags::{self, mask};
use crate::state::rflags::{ARITH, CF};
use crate::state::Core;

/// The two-operand ALU operations, numbered for const-generic handlers.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Op {
    Add,
    Or,
    Adc,
    Sbb,
    And,
    Sub,
    Xor,
    Cmp,
    Test,
}

impl Op {
    /// The operation numbered `n` (as `Op::X as u8`).
    #[inline(always)]
    pub(super) const fn from(n: u8) -> Op {
        match n {
            0 => Op::Add,
            1 => Op::Or,
            2 => Op::Adc,
            3 => Op::Sbb,
            4 => Op::And,
            5 => Op::Sub,
            6 => Op::Xor,
            7 => Op::Cmp,
            _ => Op::Test,
        }
    }

    /// CMP and TEST only set flags.
    #[inline(always)]
    pub(super) const fn stores(self) -> bool {
        !matches!(self, Op::Cmp | Op::Test)
    }
}

/// `a op b` with the incoming flags (for ADC/SBB): (result, new flags).
#[inline(always)]
pub(super) fn apply(op: Op, a: u64, b: u64, fl: u64, size: usize) -> (u64, u64) {
    match op {
        Op::Add => {
            let r = a.wrapping_add(b);
            (r, flags::add(a, b, 0, r, size))
        }
        Op::Adc => {
            let c = fl & CF;
            let r = a.wrapping_add(b).wrapping_add(c);
            (r, flags::add(a, b, c, r, size))
        }
        Op::Sub | Op::Cmp => {
            let r = a.wrapping_sub(b);
            (r, flags::sub(a, b, 0, r, size))
        }
        Op::Sbb => {
            let c = fl & CF;
            let r = a.wrapping_sub(b).wrapping_sub(c);
            (r, flags::sub(a, b, c, r, size))
        }
        Op::And | Op::Test => {
            let r = a & b;
            (r, flags::logic(r, size))
        }
        Op::Or => {
            let r = a | b;
            (r, flags::logic(r, size))
        }
        Op::Xor => {
            let r = a ^ b;
            (r, flags::logic(r, size))
        }
    }
}

/// Runs a two-operand ALU operation on operands 0 and 1, writing the
/// result back to operand 0 unless it is CMP or TEST.
#[inline(always)]
fn binary(cpu: &mut Core, d: &Decoded, op: Op) -> Res {
    let size = Core::op_size(d, 0);
    let a = cpu.op(d, 0, size)?;
    let b = cpu.op(d, 1, size)?;
    let (r, f) = apply(op, a, b, cpu.rflags, size);
    if op.stores() {
        cpu.set_op(d, 0, size, r & mask(size))?;
    }
    cpu.rflags = flags::merge(cpu.rflags, f, ARITH);
    Ok(())
}

pub(super) fn add(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::Add)
}

pub(super) fn adc(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::Adc)
}

pub(super) fn sub(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::Sub)
}

pub(super) fn sbb(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::Sbb)
}

pub(super) fn and(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::And)
}

pub(super) fn or(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::Or)
}

pub(super) fn xor(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::Xor)
}

pub(super) fn cmp(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::Cmp)
}

pub(super) fn test(cpu: &mut Core, d: &Decoded) -> Res {
    binary(cpu, d, Op::Test)
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
