//! Data movement and exchange (SDM Vol. 2: MOV, MOVZX, MOVSX(D), LEA, XCHG,
//! CMPXCHG, CMPXCHG8B/16B, XADD, CBW family, flag instructions, BSWAP).
//!
//! This interpreter runs one processor and devices never perform locked
//! read-modify-writes, so LOCK needs no extra work: each instruction's
//! memory update is already indivisible from the guest's point of view.

use iced_x86::{Mnemonic, OpKind};

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::flags::{self, mask, sext};
use crate::state::rflags::{AF, ARITH, CF, DF, FIXED1, PF, SF, ZF};
use crate::state::Core;

pub(super) fn mov(cpu: &mut Core, d: &Decoded) -> Res {
    if d.i.op_kind(0) == OpKind::Register && d.i.op_register(0).is_segment_register() {
        return super::system::mov_to_sreg(cpu, d);
    }
    let size = Core::op_size(d, 0);
    let v = if d.i.op_kind(1) == OpKind::Register && d.i.op_register(1).is_segment_register() {
        cpu.reg(d.i.op_register(1))
    } else {
        cpu.op(d, 1, size)?
    };
    // MOV r32, Sreg zero-extends; MOV m16, Sreg stores 16 bits.
    cpu.set_op(d, 0, size, v)
}

pub(super) fn movzx(cpu: &mut Core, d: &Decoded) -> Res {
    let src = Core::op_size(d, 1);
    let v = cpu.op(d, 1, src)?;
    cpu.set_reg(d.i.op_register(0), v & mask(src));
    Ok(())
}

pub(super) fn movsx(cpu: &mut Core, d: &Decoded) -> Res {
    let src = Core::op_size(d, 1);
    let dst = Core::op_size(d, 0);
    let v = cpu.op(d, 1, src)?;
    cpu.set_reg(d.i.op_register(0), sext(v, src) & mask(dst));
    Ok(())
}

pub(super) fn lea(cpu: &mut Core, d: &Decoded) -> Res {
    let ea = cpu.ea(d);
    cpu.set_reg(d.i.op_register(0), ea);
    Ok(())
}

pub(super) fn xchg(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let a = cpu.op(d, 0, size)?;
    let b = cpu.op(d, 1, size)?;
    // Write the memory operand first so a fault leaves registers intact.
    if d.i.op_kind(0) == OpKind::Memory {
        cpu.set_op(d, 0, size, b)?;
        cpu.set_op(d, 1, size, a)
    } else {
        cpu.set_op(d, 1, size, a)?;
        cpu.set_op(d, 0, size, b)
    }
}

/// CMPXCHG: compare the accumulator with the destination; if equal store
/// the source, else load the destination into the accumulator. The
/// destination is written in both cases, as the processor does.
pub(super) fn cmpxchg(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let dst = cpu.op(d, 0, size)?;
    let src = cpu.op(d, 1, size)?;
    let acc = cpu.gpr[0] & mask(size);
    let r = acc.wrapping_sub(dst);
    let f = flags::sub(acc, dst, 0, r, size);
    if acc == dst {
        cpu.set_op(d, 0, size, src)?;
    } else {
        // A memory destination is written back unchanged (the locked
        // read-modify-write always writes); a register destination is not
        // written at all, so a 32-bit one keeps its upper half, as hardware
        // does.
        if d.i.op_kind(0) == OpKind::Memory {
            cpu.set_op(d, 0, size, dst)?;
        }
        cpu.set_gpr_sized(0, size, dst);
    }
    cpu.rflags = flags::merge(cpu.rflags, f, ARITH);
    Ok(())
}

/// CMPXCHG8B/16B: EDX:EAX (RDX:RAX) against m64 (m128); ZF reports success.
pub(super) fn cmpxchg_double(cpu: &mut Core, d: &Decoded) -> Res {
    let half = if d.i.mnemonic() == Mnemonic::Cmpxchg16b {
        8
    } else {
        4
    };
    let ea = cpu.ea(d);
    let seg = Core::mseg(d);
    if half == 8 && ea & 15 != 0 {
        return Err(Fault::GP0);
    }
    let lo = cpu.read(seg, ea, half)?;
    let hi = cpu.read(seg, ea.wrapping_add(half as u64) & d.amask, half)?;
    let m = mask(half);
    let (ax, dx) = (cpu.gpr[0] & m, cpu.gpr[2] & m);
    if lo == ax && hi == dx {
        cpu.probe_write(seg, ea, half * 2)?;
        cpu.write(seg, ea, half, cpu.gpr[3] & m)?;
        cpu.write(
            seg,
            ea.wrapping_add(half as u64) & d.amask,
            half,
            cpu.gpr[1] & m,
        )?;
        cpu.rflags |= ZF;
    } else {
        cpu.probe_write(seg, ea, half * 2)?;
        cpu.write(seg, ea, half, lo)?;
        cpu.write(seg, ea.wrapping_add(half as u64) & d.amask, half, hi)?;
        cpu.set_gpr_sized(0, half, lo);
        cpu.set_gpr_sized(2, half, hi);
        cpu.rflags &= !ZF;
    }
    Ok(())
}

pub(super) fn xadd(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let a = cpu.op(d, 0, size)?;
    let b = cpu.op(d, 1, size)?;
    let r = a.wrapping_add(b);
    if d.i.op_kind(0) == OpKind::Memory {
        cpu.set_op(d, 0, size, r & mask(size))?;
        cpu.set_op(d, 1, size, a)?;
    } else {
        cpu.set_op(d, 1, size, a)?;
        cpu.set_op(d, 0, size, r & mask(size))?;
    }
    cpu.rflags = flags::merge(cpu.rflags, flags::add(a, b, 0, r, size), ARITH);
    Ok(())
}

/// CBW/CWDE/CDQE: sign-extend the lower half of the accumulator.
pub(super) fn cbw(cpu: &mut Core, d: &Decoded) -> Res {
    let size = match d.i.mnemonic() {
        Mnemonic::Cbw => 2,
        Mnemonic::Cwde => 4,
        _ => 8,
    };
    let v = sext(cpu.gpr[0], size / 2);
    cpu.set_gpr_sized(0, size, v);
    Ok(())
}

/// CWD/CDQ/CQO: fill DX/EDX/RDX with the accumulator's sign.
pub(super) fn cwd(cpu: &mut Core, d: &Decoded) -> Res {
    let size = match d.i.mnemonic() {
        Mnemonic::Cwd => 2,
        Mnemonic::Cdq => 4,
        _ => 8,
    };
    let neg = cpu.gpr[0] & flags::sign_bit(size) != 0;
    cpu.set_gpr_sized(2, size, if neg { u64::MAX } else { 0 });
    Ok(())
}

pub(super) fn nop(_: &mut Core, _: &Decoded) -> Res {
    Ok(())
}

/// CLC, STC, CMC, CLD, STD.
pub(super) fn flag_op(cpu: &mut Core, d: &Decoded) -> Res {
    match d.i.mnemonic() {
        Mnemonic::Clc => cpu.rflags &= !CF,
        Mnemonic::Stc => cpu.rflags |= CF,
        Mnemonic::Cmc => cpu.rflags ^= CF,
        Mnemonic::Cld => cpu.rflags &= !DF,
        _ => cpu.rflags |= DF,
    }
    Ok(())
}

/// LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.
pub(super) fn lahf(cpu: &mut Core, _: &Decoded) -> Res {
    let ah = (cpu.rflags & (SF | ZF | AF | PF | CF)) | FIXED1;
    cpu.gpr[0] = (cpu.gpr[0] & !0xFF00) | (ah << 8);
    Ok(())
}

/// SAHF: SF, ZF, AF, PF, CF from AH.
pub(super) fn sahf(cpu: &mut Core, _: &Decoded) -> Res {
    let ah = (cpu.gpr[0] >> 8) & 0xFF;
    cpu.rflags = flags::merge(cpu.rflags, ah, SF | ZF | AF | PF | CF);
    Ok(())
}

/// BSWAP; with a 16-bit operand the result is undefined and real parts
/// give zero.
pub(super) fn bswap(cpu: &mut Core, d: &Decoded) -> Res {
    let r = d.i.op_register(0);
    let v = cpu.reg(r);
    let out = match r.size() {
        8 => v.swap_bytes(),
        4 => (v as u32).swap_bytes() as u64,
        _ => 0,
    };
    cpu.set_reg(r, out);
    Ok(())
}

/// XLAT: AL = [seg:rBX + AL].
pub(super) fn xlat(cpu: &mut Core, d: &Decoded) -> Res {
    let off = cpu.gpr[3].wrapping_add(cpu.gpr[0] & 0xFF) & d.amask;
    let v = cpu.read(Core::mseg(d), off, 1)?;
    cpu.set_gpr_sized(0, 1, v);
    Ok(())
}
