//! Bit instructions (SDM Vol. 2: BT, BTS, BTR, BTC, BSF, BSR, TZCNT, LZCNT,
//! POPCNT, SETcc, CMOVcc).
//!
//! Flag results are pure functions of the operands so they can be checked
//! without a machine; flags the SDM leaves undefined are set as the AMD
//! Zen 3 host of the differential suite sets them (see each function).

use iced_x86::{Mnemonic, OpKind};

use crate::block::Decoded;
use crate::fault::Res;
use crate::flags::{mask, sext};
use crate::state::rflags::{AF, ARITH, CF, PF, SF, ZF};
use crate::state::Core;

/// Which of the bit-test family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BitOp {
    Test,
    Set,
    Reset,
    Complement,
}

/// BT/BTS/BTR/BTC on `val` at bit `bit` (already reduced modulo the
/// operand width): (new value, RFLAGS). CF = the bit's old value; the other
/// flags are left unchanged (undefined for OF, SF, AF, PF).
pub(super) fn bt_op(op: BitOp, val: u64, bit: u32, rflags: u64) -> (u64, u64) {
    let b = 1u64 << bit;
    let cf = (val >> bit) & 1;
    let r = match op {
        BitOp::Test => val,
        BitOp::Set => val | b,
        BitOp::Reset => val & !b,
        BitOp::Complement => val ^ b,
    };
    (r, (rflags & !CF) | cf)
}

/// BSF (`reverse` false) / BSR of `src` into a destination holding `dst`
/// (`size` bytes): (result, RFLAGS). A zero source sets ZF and leaves the
/// destination unchanged (all 64 bits, even for a 32-bit destination, as
/// AMD parts do); otherwise ZF is cleared. CF, OF, SF, AF and PF
/// (undefined) are left unchanged, as observed on AMD.
pub(super) fn bsf_op(reverse: bool, src: u64, dst: u64, size: usize, rflags: u64) -> (u64, u64) {
    let s = src & mask(size);
    if s == 0 {
        return (dst, rflags | ZF);
    }
    let r = if reverse {
        63 - s.leading_zeros()
    } else {
        s.trailing_zeros()
    };
    (r as u64, rflags & !ZF)
}

/// TZCNT (`leading` false) / LZCNT of `src` (`size` bytes): (count,
/// RFLAGS). CF = the source was zero, ZF = the count is zero. Of the
/// undefined flags, AMD parts clear SF, AF and PF and leave OF unchanged.
pub(super) fn tzcnt_op(leading: bool, src: u64, size: usize, rflags: u64) -> (u64, u64) {
    let bits = (size * 8) as u32;
    let s = src & mask(size);
    let n = if s == 0 {
        bits
    } else if leading {
        s.leading_zeros() - (64 - bits)
    } else {
        s.trailing_zeros()
    };
    let mut f = rflags & !(CF | ZF | SF | AF | PF);
    if s == 0 {
        f |= CF;
    }
    if n == 0 {
        f |= ZF;
    }
    (n as u64, f)
}

/// POPCNT: (count, RFLAGS) with ZF = the source was zero and CF, OF, SF,
/// AF, PF cleared.
pub(super) fn popcnt_op(src: u64, size: usize, rflags: u64) -> (u64, u64) {
    let s = src & mask(size);
    let f = if s == 0 { ZF } else { 0 };
    (s.count_ones() as u64, (rflags & !ARITH) | f)
}

/// The bit offset of a BT-family instruction with a register offset and a
/// memory operand, split into a byte displacement from the effective
/// address and a bit number within the operand (SDM Vol. 2, "BT—Bit
/// Test"): the offset register is a signed value of the operand size, and
/// the operand-sized word holding the bit is at EA + size * (offset DIV
/// bits), rounding toward minus infinity.
pub(super) fn bit_string_offset(offset: u64, size: usize) -> (u64, u32) {
    let bits = (size * 8) as i64;
    let o = sext(offset, size) as i64;
    let word = o.div_euclid(bits);
    ((word * size as i64) as u64, o.rem_euclid(bits) as u32)
}

/// BT, BTS, BTR, BTC.
pub(super) fn bt(cpu: &mut Core, d: &Decoded) -> Res {
    let op = match d.i.mnemonic() {
        Mnemonic::Bts => BitOp::Set,
        Mnemonic::Btr => BitOp::Reset,
        Mnemonic::Btc => BitOp::Complement,
        _ => BitOp::Test,
    };
    let size = Core::op_size(d, 0);
    let bits = (size * 8) as u32;
    let reg_offset = d.i.op_kind(1) == OpKind::Register;
    let offset = if reg_offset {
        cpu.reg(d.i.op_register(1))
    } else {
        d.i.immediate(1) & 0xFF
    };
    if d.i.op_kind(0) == OpKind::Register {
        let r = d.i.op_register(0);
        let (v, f) = bt_op(op, cpu.reg(r), offset as u32 & (bits - 1), cpu.rflags);
        if op != BitOp::Test {
            cpu.set_reg(r, v);
        }
        cpu.rflags = f;
        return Ok(());
    }
    let seg = Core::mseg(d);
    let mut ea = cpu.ea(d);
    let bit = if reg_offset {
        let (disp, bit) = bit_string_offset(offset, size);
        ea = ea.wrapping_add(disp) & d.amask;
        bit
    } else {
        offset as u32 & (bits - 1)
    };
    let v = cpu.read(seg, ea, size)?;
    let (r, f) = bt_op(op, v, bit, cpu.rflags);
    if op != BitOp::Test {
        cpu.write(seg, ea, size, r)?;
    }
    cpu.rflags = f;
    Ok(())
}

/// BSF, BSR.
pub(super) fn bsf_bsr(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let src = cpu.op(d, 1, size)?;
    let r = d.i.op_register(0);
    let reverse = d.i.mnemonic() == Mnemonic::Bsr;
    let (v, f) = bsf_op(reverse, src, cpu.reg(r), size, cpu.rflags);
    if src & mask(size) != 0 {
        cpu.set_reg(r, v);
    }
    cpu.rflags = f;
    Ok(())
}

/// TZCNT, LZCNT.
pub(super) fn tzcnt_lzcnt(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let src = cpu.op(d, 1, size)?;
    let (v, f) = tzcnt_op(d.i.mnemonic() == Mnemonic::Lzcnt, src, size, cpu.rflags);
    cpu.set_reg(d.i.op_register(0), v);
    cpu.rflags = f;
    Ok(())
}

pub(super) fn popcnt(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let src = cpu.op(d, 1, size)?;
    let (v, f) = popcnt_op(src, size, cpu.rflags);
    cpu.set_reg(d.i.op_register(0), v);
    cpu.rflags = f;
    Ok(())
}

/// SETcc r/m8.
pub(super) fn setcc(cpu: &mut Core, d: &Decoded) -> Res {
    let v = cpu.cond(d.i.condition_code()) as u64;
    cpu.set_op(d, 0, 1, v)
}

/// CMOVcc: the source is read (and may fault) whatever the condition; a
/// 32-bit destination is zero-extended even when the condition is false.
pub(super) fn cmovcc(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let v = cpu.op(d, 1, size)?;
    let r = d.i.op_register(0);
    if cpu.cond(d.i.condition_code()) {
        cpu.set_reg(r, v);
    } else if size == 4 {
        let old = cpu.reg(r);
        cpu.set_reg(r, old);
    }
    Ok(())
}
