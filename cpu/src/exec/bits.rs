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

#[cfg(test)]
mod tests {
    use super::super::string::tests::{machine64, step};
    use super::*;
    use crate::state::rflags::OF;

    const NONE: u64 = 0x2;

    #[test]
    fn bit_test_family() {
        assert_eq!(
            bt_op(BitOp::Test, 0b100, 2, NONE | ZF),
            (0b100, NONE | ZF | CF)
        );
        assert_eq!(bt_op(BitOp::Set, 0, 63, NONE | CF), (1 << 63, NONE));
        assert_eq!(bt_op(BitOp::Reset, 0xFF, 0, NONE), (0xFE, NONE | CF));
        assert_eq!(bt_op(BitOp::Complement, 0xF0, 4, NONE), (0xE0, NONE | CF));
    }

    #[test]
    fn bit_string_offset_is_signed_and_word_granular() {
        assert_eq!(bit_string_offset(33, 4), (4, 1));
        assert_eq!(bit_string_offset(0xFFFF, 2), ((-2i64) as u64, 15));
        assert_eq!(bit_string_offset(0xFFFF_FFE0, 4), ((-4i64) as u64, 0));
        assert_eq!(bit_string_offset((-65i64) as u64, 8), ((-16i64) as u64, 63));
        // Only the operand-size bits of the register count.
        assert_eq!(bit_string_offset(0x1_0000_0003, 4), (0, 3));
    }

    #[test]
    fn bsf_bsr_zero_source_keeps_destination() {
        assert_eq!(bsf_op(false, 0, 0xDEAD, 2, NONE), (0xDEAD, NONE | ZF));
        assert_eq!(bsf_op(false, 0x10_0000_0000, 7, 4, NONE), (7, NONE | ZF));
        assert_eq!(bsf_op(false, 0x8, 7, 4, NONE | ZF | CF), (3, NONE | CF));
        assert_eq!(bsf_op(true, 0x8001, 7, 2, NONE), (15, NONE));
        assert_eq!(bsf_op(true, 1 << 63, 0, 8, NONE), (63, NONE));
    }

    #[test]
    fn tzcnt_lzcnt_counts_and_flags() {
        assert_eq!(tzcnt_op(false, 0, 2, NONE | OF | SF), (16, NONE | OF | CF));
        assert_eq!(tzcnt_op(false, 1, 8, NONE), (0, NONE | ZF));
        assert_eq!(tzcnt_op(false, 0x8000_0000, 4, NONE), (31, NONE));
        assert_eq!(tzcnt_op(true, 1, 2, NONE), (15, NONE));
        assert_eq!(
            tzcnt_op(true, 0x8000_0000, 4, NONE | PF | AF),
            (0, NONE | ZF)
        );
        assert_eq!(tzcnt_op(true, 0, 8, NONE), (64, NONE | CF));
    }

    #[test]
    fn popcnt_clears_other_flags() {
        assert_eq!(popcnt_op(0xF0F0, 2, NONE | ARITH), (8, NONE));
        assert_eq!(popcnt_op(0x1_0000_0000, 4, NONE | CF), (0, NONE | ZF));
    }

    #[test]
    fn handlers() {
        let mut cpu = machine64();
        // 0F BC C1: bsf eax, ecx with ECX = 0: RAX untouched, ZF set.
        cpu.gpr[0] = 0xFFFF_FFFF_FFFF_FFFF;
        cpu.gpr[1] = 0xFFFF_FFFF_0000_0000;
        step(&mut cpu, &[0x0F, 0xBC, 0xC1]).unwrap();
        assert_eq!(cpu.gpr[0], u64::MAX);
        assert_ne!(cpu.rflags & ZF, 0);
        // 0F 44 C1: cmove eax, ecx with ZF set: moves.
        step(&mut cpu, &[0x0F, 0x44, 0xC1]).unwrap();
        assert_eq!(cpu.gpr[0], 0);
        // cmovne eax, ecx with ZF set: not taken, but EAX is zero-extended.
        cpu.gpr[0] = 0x1234_5678_9ABC_DEF0;
        step(&mut cpu, &[0x0F, 0x45, 0xC1]).unwrap();
        assert_eq!(cpu.gpr[0], 0x9ABC_DEF0);
        // 66 0F 45 C1: cmovne ax, cx not taken: untouched.
        step(&mut cpu, &[0x66, 0x0F, 0x45, 0xC1]).unwrap();
        assert_eq!(cpu.gpr[0], 0x9ABC_DEF0);
        // 0F 94 C0: sete al.
        step(&mut cpu, &[0x0F, 0x94, 0xC0]).unwrap();
        assert_eq!(cpu.gpr[0], 0x9ABC_DE01);

        // 0F AB 0B: bts [rbx], ecx with ECX = -1: bit 7 of the byte below.
        cpu.gpr[3] = 0x4000;
        cpu.gpr[1] = 0xFFFF_FFFF;
        step(&mut cpu, &[0x0F, 0xAB, 0x0B]).unwrap();
        assert_eq!(cpu.ram.load(0x3FFC, 4), 0x8000_0000);
        assert_eq!(cpu.rflags & CF, 0);
        // 0F A3 0B: bt [rbx], ecx finds it.
        step(&mut cpu, &[0x0F, 0xA3, 0x0B]).unwrap();
        assert_eq!(cpu.rflags & CF, CF);
        // 0F BA 33 23: btr dword [rbx], 35 (immediate: modulo 32 -> bit 3).
        cpu.ram.store(0x4000, 4, 0xF);
        step(&mut cpu, &[0x0F, 0xBA, 0x33, 0x23]).unwrap();
        assert_eq!(cpu.ram.load(0x4000, 4), 0x7);
        // 48 0F BB C8: btc rax, rcx with RCX = 64 + 4 -> bit 4.
        cpu.gpr[0] = 0;
        cpu.gpr[1] = 68;
        step(&mut cpu, &[0x48, 0x0F, 0xBB, 0xC8]).unwrap();
        assert_eq!(cpu.gpr[0], 0x10);
        // F3 0F B8 C1: popcnt eax, ecx.
        cpu.gpr[1] = 0xFFFF_FFFF_0000_00FF;
        step(&mut cpu, &[0xF3, 0x0F, 0xB8, 0xC1]).unwrap();
        assert_eq!(cpu.gpr[0], 8);
        // F3 0F BD C1: lzcnt eax, ecx.
        step(&mut cpu, &[0xF3, 0x0F, 0xBD, 0xC1]).unwrap();
        assert_eq!(cpu.gpr[0], 24);
    }
}
