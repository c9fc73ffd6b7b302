//! Specialised handlers for the hottest instruction forms, chosen at decode
//! time: register and immediate ALU operations, INC/DEC, MOV between
//! registers, immediates and memory, LEA, near CALL/RET and PUSH/POP of
//! 64-bit registers. Each is monomorphised over the operation and the
//! operand size, so it reads its operands straight from the precomputed
//! fields of `Decoded` without looking at operand kinds again.
//!
//! Only 32- and 64-bit operand sizes are specialised (their register
//! writes replace or zero-extend the whole register); everything else takes
//! the general handlers.

use iced_x86::{Code, ConditionCode, Instruction, Mnemonic, OpKind};

use super::alu::{apply, Op};
use super::shift::{count_mask, shift, Op as ShiftOp};
use super::Handler;
use crate::block::Decoded;
use crate::fault::Res;
use crate::flags::{self, mask};
use crate::state::rflags::{ARITH, CF, OF};
use crate::state::{Core, SegReg};

/// Writes a 32- or 64-bit result to GPR `n` (32-bit writes zero-extend).
#[inline(always)]
fn put<const W: usize>(cpu: &mut Core, n: u8, v: u64) {
    cpu.gpr[(n & 15) as usize] = v & mask(W);
}

fn alu_rr<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = cpu.gpr[(d.r0 & 15) as usize] & mask(W);
    let b = cpu.gpr[(d.r1 & 15) as usize] & mask(W);
    let (r, f) = apply(Op::from(OP), a, b, cpu.rflags, W);
    if Op::from(OP).stores() {
        put::<W>(cpu, d.r0, r);
    }
    cpu.rflags = flags::merge(cpu.rflags, f, ARITH);
    Ok(())
}

fn alu_ri<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = cpu.gpr[(d.r0 & 15) as usize] & mask(W);
    let (r, f) = apply(Op::from(OP), a, d.imm & mask(W), cpu.rflags, W);
    if Op::from(OP).stores() {
        put::<W>(cpu, d.r0, r);
    }
    cpu.rflags = flags::merge(cpu.rflags, f, ARITH);
    Ok(())
}

fn alu_rm<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = cpu.gpr[(d.r0 & 15) as usize] & mask(W);
    let ea = cpu.ea(d);
    let b = cpu.read(d.seg, ea, W)?;
    let (r, f) = apply(Op::from(OP), a, b, cpu.rflags, W);
    if Op::from(OP).stores() {
        put::<W>(cpu, d.r0, r);
    }
    cpu.rflags = flags::merge(cpu.rflags, f, ARITH);
    Ok(())
}

fn incdec<const INC: bool, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = cpu.gpr[(d.r0 & 15) as usize] & mask(W);
    let (r, f) = if INC {
        let r = a.wrapping_add(1);
        (r, flags::add(a, 1, 0, r, W))
    } else {
        let r = a.wrapping_sub(1);
        (r, flags::sub(a, 1, 0, r, W))
    };
    put::<W>(cpu, d.r0, r);
    cpu.rflags = flags::merge(cpu.rflags, f, ARITH & !CF);
    Ok(())
}

fn mov_rr<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = cpu.gpr[(d.r1 & 15) as usize];
    put::<W>(cpu, d.r0, v);
    Ok(())
}

fn mov_ri<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    put::<W>(cpu, d.r0, d.imm);
    Ok(())
}

fn mov_rm<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let ea = cpu.ea(d);
    let v = cpu.read(d.seg, ea, W)?;
    put::<W>(cpu, d.r0, v);
    Ok(())
}

fn mov_mr<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let ea = cpu.ea(d);
    cpu.write(d.seg, ea, W, cpu.gpr[(d.r1 & 15) as usize] & mask(W))
}

fn mov_mi<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let ea = cpu.ea(d);
    cpu.write(d.seg, ea, W, d.imm & mask(W))
}

fn lea<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let ea = cpu.ea(d);
    put::<W>(cpu, d.r0, ea);
    Ok(())
}

/// Jcc in 64-bit mode, one instance per condition (iced's
/// `ConditionCode` numbering); the target was checked canonical at decode.
fn jcc64<const CC: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    if cpu.cond(condition(CC)) {
        cpu.rip = d.imm;
    }
    Ok(())
}

#[inline(always)]
const fn condition(n: u8) -> ConditionCode {
    use ConditionCode as C;
    match n {
        1 => C::o,
        2 => C::no,
        3 => C::b,
        4 => C::ae,
        5 => C::e,
        6 => C::ne,
        7 => C::be,
        8 => C::a,
        9 => C::s,
        10 => C::ns,
        11 => C::p,
        12 => C::np,
        13 => C::l,
        14 => C::ge,
        15 => C::le,
        16 => C::g,
        _ => C::None,
    }
}

fn jcc64_handler(cc: ConditionCode) -> Handler {
    macro_rules! table {
        ($($n:literal),*) => {
            match cc as u8 {
                $($n => jcc64::<$n>,)*
                _ => jcc64::<0>,
            }
        };
    }
    table!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
}

fn jmp64(cpu: &mut Core, d: &Decoded) -> Res {
    cpu.rip = d.imm;
    Ok(())
}

/// CALL rel32 in 64-bit mode.
fn call64(cpu: &mut Core, d: &Decoded) -> Res {
    let sp = cpu.gpr[4].wrapping_sub(8);
    cpu.write(SegReg::Ss, sp, 8, cpu.rip)?;
    cpu.gpr[4] = sp;
    cpu.rip = d.imm;
    Ok(())
}

/// RET in 64-bit mode.
fn ret64(cpu: &mut Core, _: &Decoded) -> Res {
    let sp = cpu.gpr[4];
    let t = cpu.read(SegReg::Ss, sp, 8)?;
    if ((t << 16) as i64 >> 16) as u64 != t {
        return Err(crate::fault::Fault::GP0);
    }
    cpu.gpr[4] = sp.wrapping_add(8);
    cpu.rip = t;
    Ok(())
}

fn push64(cpu: &mut Core, d: &Decoded) -> Res {
    let sp = cpu.gpr[4].wrapping_sub(8);
    cpu.write(SegReg::Ss, sp, 8, cpu.gpr[(d.r0 & 15) as usize])?;
    cpu.gpr[4] = sp;
    Ok(())
}

fn pop64(cpu: &mut Core, d: &Decoded) -> Res {
    let sp = cpu.gpr[4];
    let v = cpu.read(SegReg::Ss, sp, 8)?;
    cpu.gpr[4] = sp.wrapping_add(8);
    cpu.gpr[(d.r0 & 15) as usize] = v;
    Ok(())
}

/// SHL/SHR/SAR/ROL/ROR of a register by an immediate (or the `1` form).
fn shift_ri<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let count = d.imm as u32 & count_mask(W);
    let v = cpu.gpr[(d.r0 & 15) as usize];
    let (r, f) = shift(ShiftOp::from(OP), v, count, W, cpu.rflags);
    put::<W>(cpu, d.r0, r);
    cpu.rflags = f;
    Ok(())
}

/// The same with the count in CL.
fn shift_rcl<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let count = cpu.gpr[1] as u32 & count_mask(W);
    let v = cpu.gpr[(d.r0 & 15) as usize];
    let (r, f) = shift(ShiftOp::from(OP), v, count, W, cpu.rflags);
    put::<W>(cpu, d.r0, r);
    cpu.rflags = f;
    Ok(())
}

/// IMUL r, r/m (and r, r/m, imm when `IMM`): the truncated signed product;
/// CF = OF = the product did not fit. SF, ZF, AF and PF are left as they
/// were, as the reference (AMD) hardware does.
fn imul_r<const IMM: bool, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = if d.i.op_kind(1) == OpKind::Register {
        cpu.gpr[(d.r1 & 15) as usize]
    } else {
        let ea = cpu.ea(d);
        cpu.read(d.seg, ea, W)?
    };
    let b = if IMM {
        d.imm
    } else {
        cpu.gpr[(d.r0 & 15) as usize]
    };
    let p = (flags::sext(a, W) as i64 as i128) * (flags::sext(b, W) as i64 as i128);
    let r = p as u64 & mask(W);
    let overflow = flags::sext(r, W) as i64 as i128 != p;
    put::<W>(cpu, d.r0, r);
    let f = if overflow { CF | OF } else { 0 };
    cpu.rflags = flags::merge(cpu.rflags, f, CF | OF);
    Ok(())
}

fn canonical(v: u64) -> bool {
    ((v << 16) as i64 >> 16) as u64 == v
}

/// GPR number and size of register operand `n`, for GPRs without the
/// legacy high-byte forms.
fn gpr(i: &Instruction, n: u32) -> Option<(u8, usize)> {
    if n >= i.op_count() || i.op_kind(n) != OpKind::Register {
        return None;
    }
    let r = i.op_register(n);
    let size = r.size();
    (r.is_gpr() && matches!(size, 4 | 8)).then(|| (r.full_register().number() as u8, size))
}

fn is_imm(k: OpKind) -> bool {
    matches!(
        k,
        OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32
            | OpKind::Immediate32to64
            | OpKind::Immediate64
    )
}

macro_rules! by_size {
    ($w:expr, $f:ident $(::<$($g:tt),*>)?) => {
        if $w == 8 {
            $f::<$($($g,)*)? 8> as Handler
        } else {
            $f::<$($($g,)*)? 4> as Handler
        }
    };
}

fn alu_handler(op: Op, w: usize, form: u8) -> Handler {
    macro_rules! forms {
        ($($op:ident),*) => {
            match op {
                $(Op::$op => match form {
                    0 => by_size!(w, alu_rr::<{ Op::$op as u8 }>),
                    1 => by_size!(w, alu_ri::<{ Op::$op as u8 }>),
                    _ => by_size!(w, alu_rm::<{ Op::$op as u8 }>),
                },)*
            }
        };
    }
    forms!(Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test)
}

/// A specialised handler for `i`, if its form has one.
pub(super) fn select(i: &Instruction) -> Option<Handler> {
    let long = i.code_size() == iced_x86::CodeSize::Code64;
    let k1 = if i.op_count() > 1 {
        i.op_kind(1)
    } else {
        OpKind::Register
    };
    let r0 = gpr(i, 0);
    let op = match i.mnemonic() {
        Mnemonic::Add => Some(Op::Add),
        Mnemonic::Or => Some(Op::Or),
        Mnemonic::Adc => Some(Op::Adc),
        Mnemonic::Sbb => Some(Op::Sbb),
        Mnemonic::And => Some(Op::And),
        Mnemonic::Sub => Some(Op::Sub),
        Mnemonic::Xor => Some(Op::Xor),
        Mnemonic::Cmp => Some(Op::Cmp),
        Mnemonic::Test => Some(Op::Test),
        _ => None,
    };
    if let (Some(op), Some((_, w))) = (op, r0) {
        if i.op_count() != 2 {
            return None;
        }
        return match k1 {
            OpKind::Register => gpr(i, 1)
                .filter(|g| g.1 == w)
                .map(|_| alu_handler(op, w, 0)),
            k if is_imm(k) => Some(alu_handler(op, w, 1)),
            OpKind::Memory => Some(alu_handler(op, w, 2)),
            _ => None,
        };
    }
    match i.mnemonic() {
        Mnemonic::Inc | Mnemonic::Dec => {
            let (_, w) = r0?;
            Some(if i.mnemonic() == Mnemonic::Inc {
                by_size!(w, incdec::<true>)
            } else {
                by_size!(w, incdec::<false>)
            })
        }
        Mnemonic::Mov => {
            if let Some((_, w)) = r0 {
                match k1 {
                    OpKind::Register => gpr(i, 1).filter(|g| g.1 == w).map(|_| by_size!(w, mov_rr)),
                    k if is_imm(k) => Some(by_size!(w, mov_ri)),
                    OpKind::Memory => Some(by_size!(w, mov_rm)),
                    _ => None,
                }
            } else if i.op_kind(0) == OpKind::Memory {
                let w = i.memory_size().size();
                if !matches!(w, 4 | 8) {
                    return None;
                }
                match k1 {
                    OpKind::Register => gpr(i, 1).filter(|g| g.1 == w).map(|_| by_size!(w, mov_mr)),
                    k if is_imm(k) => Some(by_size!(w, mov_mi)),
                    _ => None,
                }
            } else {
                None
            }
        }
        Mnemonic::Lea => {
            let (_, w) = r0?;
            Some(by_size!(w, lea))
        }
        Mnemonic::Shl
        | Mnemonic::Sal
        | Mnemonic::Shr
        | Mnemonic::Sar
        | Mnemonic::Rol
        | Mnemonic::Ror => {
            let (_, w) = r0?;
            let by_cl = match k1 {
                OpKind::Register if i.op_register(1) == iced_x86::Register::CL => true,
                OpKind::Immediate8 => false,
                _ => return None,
            };
            macro_rules! pick {
                ($op:expr) => {
                    if by_cl {
                        by_size!(w, shift_rcl::<{ $op as u8 }>)
                    } else {
                        by_size!(w, shift_ri::<{ $op as u8 }>)
                    }
                };
            }
            Some(match i.mnemonic() {
                Mnemonic::Shl | Mnemonic::Sal => pick!(ShiftOp::Shl),
                Mnemonic::Shr => pick!(ShiftOp::Shr),
                Mnemonic::Sar => pick!(ShiftOp::Sar),
                Mnemonic::Rol => pick!(ShiftOp::Rol),
                _ => pick!(ShiftOp::Ror),
            })
        }
        Mnemonic::Imul if i.op_count() >= 2 => {
            let (_, w) = r0?;
            if !matches!(k1, OpKind::Register | OpKind::Memory)
                || (k1 == OpKind::Register && gpr(i, 1).is_none_or(|g| g.1 != w))
            {
                return None;
            }
            Some(if i.op_count() == 3 {
                by_size!(w, imul_r::<true>)
            } else {
                by_size!(w, imul_r::<false>)
            })
        }
        _ if !long => None,
        Mnemonic::Jmp if i.op_kind(0) == OpKind::NearBranch64 && canonical(i.near_branch64()) => {
            Some(jmp64)
        }
        _ if i.op_count() > 0
            && i.op_kind(0) == OpKind::NearBranch64
            && i.condition_code() != iced_x86::ConditionCode::None
            && matches!(i.mnemonic(), m if super::is_jcc(m))
            && canonical(i.near_branch64()) =>
        {
            Some(jcc64_handler(i.condition_code()))
        }
        Mnemonic::Call if i.code() == Code::Call_rel32_64 && canonical(i.near_branch64()) => {
            Some(call64)
        }
        Mnemonic::Ret if i.code() == Code::Retnq => Some(ret64),
        Mnemonic::Push if i.code() == Code::Push_r64 => Some(push64),
        Mnemonic::Pop if i.code() == Code::Pop_r64 => Some(pop64),
        _ => None,
    }
}

/// The immediate a specialised handler reads from `Decoded::imm`: branch
/// targets for the branch forms.
pub(crate) fn branch_target(i: &Instruction) -> Option<u64> {
    (i.op_count() > 0 && i.op_kind(0) == OpKind::NearBranch64).then(|| i.near_branch64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_numbering_matches_iced() {
        for n in 0..=16u8 {
            assert_eq!(condition(n) as u8, n);
        }
    }
}
