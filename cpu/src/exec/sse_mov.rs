//! Data movement between XMM/MMX registers, GPRs and memory: the MOV
//! family (aligned, unaligned, non-temporal, scalar, half-register),
//! MOVD/MOVQ, MOVMSKPS/PD, PMOVMSKB, MASKMOVDQU/MASKMOVQ, MOVNTI,
//! PINSR*/PEXTR*, INSERTPS and EXTRACTPS.

use iced_x86::OpKind;

use crate::block::Decoded;
use crate::fault::Res;
use crate::state::Core;

use super::sse_int::{b8, d32};
use super::{load128, mi, mmx, mmx_enter, msrc, sse, store128, xi};

/// Aligned 128-bit load or register move (MOVAPS, MOVAPD, MOVDQA,
/// MOVNTDQA): `xmm, xmm/m128`.
pub(super) fn mov_load_a(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = if d.i.op_kind(1) == OpKind::Register {
        cpu.fpu.xmm[xi(d, 1)]
    } else {
        load128(cpu, d, true)?
    };
    cpu.fpu.xmm[xi(d, 0)] = v;
    Ok(())
}

/// Unaligned 128-bit load (MOVUPS, MOVUPD, MOVDQU, LDDQU).
pub(super) fn mov_load_u(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = if d.i.op_kind(1) == OpKind::Register {
        cpu.fpu.xmm[xi(d, 1)]
    } else {
        load128(cpu, d, false)?
    };
    cpu.fpu.xmm[xi(d, 0)] = v;
    Ok(())
}

/// Aligned 128-bit store (MOVAPS, MOVAPD, MOVDQA, MOVNTPS, MOVNTPD,
/// MOVNTDQ): `xmm/m128, xmm`.
pub(super) fn mov_store_a(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = cpu.fpu.xmm[xi(d, 1)];
    if d.i.op_kind(0) == OpKind::Register {
        cpu.fpu.xmm[xi(d, 0)] = v;
        return Ok(());
    }
    store128(cpu, d, v, true)
}

/// Unaligned 128-bit store (MOVUPS, MOVUPD, MOVDQU).
pub(super) fn mov_store_u(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = cpu.fpu.xmm[xi(d, 1)];
    if d.i.op_kind(0) == OpKind::Register {
        cpu.fpu.xmm[xi(d, 0)] = v;
        return Ok(());
    }
    store128(cpu, d, v, false)
}

/// MOVSS/MOVSD load forms: from memory the upper lanes are zeroed; from a
/// register only the low `N` bytes are replaced.
pub(super) fn movs_load<const N: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let m = u128::MAX >> (128 - N * 8);
    let r = xi(d, 0);
    if d.i.op_kind(1) == OpKind::Register {
        let v = cpu.fpu.xmm[xi(d, 1)];
        cpu.fpu.xmm[r] = (cpu.fpu.xmm[r] & !m) | (v & m);
    } else {
        let ea = cpu.ea(d);
        cpu.fpu.xmm[r] = cpu.read(d.seg, ea, N)? as u128;
    }
    Ok(())
}

/// MOVSS/MOVSD store forms (`xmm/mN, xmm`): a register destination
/// keeps its upper lanes.
pub(super) fn movs_store<const N: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let m = u128::MAX >> (128 - N * 8);
    let v = cpu.fpu.xmm[xi(d, 1)];
    if d.i.op_kind(0) == OpKind::Register {
        let r = xi(d, 0);
        cpu.fpu.xmm[r] = (cpu.fpu.xmm[r] & !m) | (v & m);
        Ok(())
    } else {
        let ea = cpu.ea(d);
        cpu.write(d.seg, ea, N, v as u64)
    }
}

/// Store of the low (`HI` false) or high quadword of an XMM register to
/// m64 (MOVLPS, MOVLPD, MOVHPS, MOVHPD).
pub(super) fn store_q<const HI: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = cpu.fpu.xmm[xi(d, 1)];
    let q = if HI { (v >> 64) as u64 } else { v as u64 };
    let ea = cpu.ea(d);
    cpu.write(d.seg, ea, 8, q)
}

/// MOVLPS/MOVLPD xmm, m64 (`HI` false) and MOVHPS/MOVHPD xmm, m64: load
/// one quadword, keep the other.
pub(super) fn load_q<const HI: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let ea = cpu.ea(d);
    let q = cpu.read(d.seg, ea, 8)? as u128;
    let r = xi(d, 0);
    let old = cpu.fpu.xmm[r];
    cpu.fpu.xmm[r] = if HI {
        (old & u64::MAX as u128) | q << 64
    } else {
        (old & !(u64::MAX as u128)) | q
    };
    Ok(())
}

/// MOVHLPS xmm1, xmm2: low of xmm1 = high of xmm2.
pub(super) fn movhlps(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let s = cpu.fpu.xmm[xi(d, 1)];
    let r = xi(d, 0);
    cpu.fpu.xmm[r] = (cpu.fpu.xmm[r] & !(u64::MAX as u128)) | (s >> 64);
    Ok(())
}

/// MOVLHPS xmm1, xmm2: high of xmm1 = low of xmm2.
pub(super) fn movlhps(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let s = cpu.fpu.xmm[xi(d, 1)];
    let r = xi(d, 0);
    cpu.fpu.xmm[r] = (cpu.fpu.xmm[r] & u64::MAX as u128) | (s << 64);
    Ok(())
}

/// MOVD/MOVQ xmm, r/m32|r/m64 and MOVQ xmm, xmm/m64: zero-extended.
pub(super) fn movd_to_xmm(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = match d.i.op_kind(1) {
        OpKind::Register => {
            let r = d.i.op_register(1);
            if r.is_xmm() {
                cpu.fpu.xmm[xi(d, 1)] as u64
            } else {
                cpu.reg(r)
            }
        }
        _ => {
            let ea = cpu.ea(d);
            cpu.read(d.seg, ea, d.i.memory_size().size())?
        }
    };
    cpu.fpu.xmm[xi(d, 0)] = v as u128;
    Ok(())
}

/// MOVD/MOVQ r/m32|r/m64, xmm and MOVQ xmm/m64, xmm (a register
/// destination XMM has its upper half zeroed).
pub(super) fn movd_from_xmm(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = cpu.fpu.xmm[xi(d, 1)] as u64;
    match d.i.op_kind(0) {
        OpKind::Register => {
            let r = d.i.op_register(0);
            if r.is_xmm() {
                cpu.fpu.xmm[xi(d, 0)] = v as u128;
            } else {
                cpu.set_reg(r, v);
            }
            Ok(())
        }
        _ => {
            let ea = cpu.ea(d);
            let size = d.i.memory_size().size();
            cpu.write(d.seg, ea, size, v)
        }
    }
}

/// MOVD/MOVQ mm, r/m32|r/m64 and MOVQ mm, mm/m64.
pub(super) fn movd_to_mm(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let v = match d.i.op_kind(1) {
        OpKind::Register if !d.i.op_register(1).is_mm() => cpu.reg(d.i.op_register(1)),
        _ => msrc(cpu, d, 1)?,
    };
    cpu.fpu.set_mm(mi(d, 0), v);
    Ok(())
}

/// MOVD/MOVQ r/m32|r/m64, mm, MOVQ mm/m64, mm and MOVNTQ m64, mm.
pub(super) fn movd_from_mm(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let v = cpu.fpu.mm(mi(d, 1));
    match d.i.op_kind(0) {
        OpKind::Register => {
            let r = d.i.op_register(0);
            if r.is_mm() {
                cpu.fpu.set_mm(mi(d, 0), v);
            } else {
                cpu.set_reg(r, v);
            }
            Ok(())
        }
        _ => {
            let ea = cpu.ea(d);
            let size = d.i.memory_size().size();
            cpu.write(d.seg, ea, size, v)
        }
    }
}

/// MOVQ2DQ xmm, mm.
pub(super) fn movq2dq(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    mmx_enter(cpu)?;
    cpu.fpu.xmm[xi(d, 0)] = cpu.fpu.mm(mi(d, 1)) as u128;
    Ok(())
}

/// MOVDQ2Q mm, xmm.
pub(super) fn movdq2q(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    mmx_enter(cpu)?;
    let v = cpu.fpu.xmm[xi(d, 1)] as u64;
    cpu.fpu.set_mm(mi(d, 0), v);
    Ok(())
}

/// MOVNTI m32/m64, r32/r64: an ordinary store (no SSE state involved).
pub(super) fn movnti(cpu: &mut Core, d: &Decoded) -> Res {
    let size = d.i.op_register(1).size();
    let v = cpu.reg(d.i.op_register(1));
    let ea = cpu.ea(d);
    cpu.write(d.seg, ea, size, v)
}

/// MOVMSKPS r, xmm.
pub(super) fn movmskps(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = cpu.fpu.xmm[xi(d, 1)];
    let m = (0..4).fold(0u64, |m, i| m | (((v >> (32 * i + 31)) & 1) as u64) << i);
    cpu.set_reg(d.i.op_register(0), m);
    Ok(())
}

/// MOVMSKPD r, xmm.
pub(super) fn movmskpd(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = cpu.fpu.xmm[xi(d, 1)];
    let m = ((v >> 63) & 1) as u64 | (((v >> 127) & 1) as u64) << 1;
    cpu.set_reg(d.i.op_register(0), m);
    Ok(())
}

/// The sign bits of the sixteen bytes of `v`.
#[inline(always)]
pub(super) fn byte_signs(v: u128) -> u32 {
    // Gather bit 7 of each byte: isolate, then multiply-fold per half.
    let fold = |x: u64| -> u32 {
        let s = (x >> 7) & 0x0101_0101_0101_0101;
        (s.wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    };
    fold(v as u64) | fold((v >> 64) as u64) << 8
}

/// PMOVMSKB r, xmm.
pub(super) fn pmovmskb(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let m = byte_signs(cpu.fpu.xmm[xi(d, 1)]);
    cpu.gpr[d.r0 as usize & 15] = m as u64;
    Ok(())
}

/// PMOVMSKB r, mm.
pub(super) fn pmovmskb_mm(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let m = byte_signs(cpu.fpu.mm(mi(d, 1)) as u128) & 0xFF;
    cpu.gpr[d.r0 as usize & 15] = m as u64;
    Ok(())
}

/// MASKMOVDQU xmm1, xmm2 and MASKMOVQ mm1, mm2: store the bytes of the
/// first operand whose mask byte (second operand) has its top bit set, to
/// DS:rDI (segment overridable). `N` is the width in bytes.
pub(super) fn maskmov<const N: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let (data, m) = if N == 16 {
        sse(cpu)?;
        (cpu.fpu.xmm[xi(d, 1)], cpu.fpu.xmm[xi(d, 2)])
    } else {
        mmx(cpu)?;
        (cpu.fpu.mm(mi(d, 1)) as u128, cpu.fpu.mm(mi(d, 2)) as u128)
    };
    let mask = byte_signs(m) & ((1u32 << N) - 1);
    if mask == 0 {
        return Ok(());
    }
    let seg = d.i.memory_segment();
    let seg = crate::exec::sreg(seg);
    let off = cpu.gpr[7] & d.amask;
    cpu.probe_write(seg, off, N)?;
    let bytes = b8(data);
    for (k, b) in bytes.iter().enumerate().take(N) {
        if mask >> k & 1 != 0 {
            cpu.write(seg, off.wrapping_add(k as u64) & d.amask, 1, *b as u64)?;
        }
    }
    Ok(())
}

/// PEXTRB/PEXTRW/PEXTRD/PEXTRQ/EXTRACTPS r/m, xmm, imm8 (and the legacy
/// PEXTRW r32, xmm, imm8). `W` is the element width in bytes.
pub(super) fn pextr<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let lanes = 16 / W;
    let n = d.i.immediate8() as usize & (lanes - 1);
    let v = (cpu.fpu.xmm[xi(d, 1)] >> (n * W * 8)) as u64 & (u64::MAX >> (64 - W * 8));
    match d.i.op_kind(0) {
        OpKind::Register => {
            // Zero-extended into the full 32/64-bit register.
            let r = d.i.op_register(0);
            cpu.set_reg(r, v);
            Ok(())
        }
        _ => {
            let ea = cpu.ea(d);
            cpu.write(d.seg, ea, W, v)
        }
    }
}

/// PEXTRW r32, mm, imm8.
pub(super) fn pextrw_mm(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let n = d.i.immediate8() as usize & 3;
    let v = (cpu.fpu.mm(mi(d, 1)) >> (16 * n)) & 0xFFFF;
    cpu.set_reg(d.i.op_register(0), v);
    Ok(())
}

/// PINSRB/PINSRW/PINSRD/PINSRQ xmm, r/m, imm8.
pub(super) fn pinsr<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let v = match d.i.op_kind(1) {
        OpKind::Register => cpu.reg(d.i.op_register(1)),
        _ => {
            let ea = cpu.ea(d);
            cpu.read(d.seg, ea, W)?
        }
    };
    let lanes = 16 / W;
    let n = d.i.immediate8() as usize & (lanes - 1);
    let m = (u128::MAX >> (128 - W * 8)) << (n * W * 8);
    let r = xi(d, 0);
    cpu.fpu.xmm[r] = (cpu.fpu.xmm[r] & !m) | (((v as u128) << (n * W * 8)) & m);
    Ok(())
}

/// PINSRW mm, r32/m16, imm8.
pub(super) fn pinsrw_mm(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let v = match d.i.op_kind(1) {
        OpKind::Register => cpu.reg(d.i.op_register(1)),
        _ => {
            let ea = cpu.ea(d);
            cpu.read(d.seg, ea, 2)?
        }
    };
    let n = d.i.immediate8() as usize & 3;
    let r = mi(d, 0);
    let m = 0xFFFFu64 << (16 * n);
    let old = cpu.fpu.mm(r);
    cpu.fpu.set_mm(r, (old & !m) | ((v & 0xFFFF) << (16 * n)));
    Ok(())
}

/// INSERTPS xmm1, xmm2/m32, imm8.
pub(super) fn insertps(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let imm = d.i.immediate8();
    let src = if d.i.op_kind(1) == OpKind::Register {
        d32(cpu.fpu.xmm[xi(d, 1)])[(imm >> 6) as usize]
    } else {
        let ea = cpu.ea(d);
        cpu.read(d.seg, ea, 4)? as u32
    };
    let r = xi(d, 0);
    let mut x = d32(cpu.fpu.xmm[r]);
    x[((imm >> 4) & 3) as usize] = src;
    for (i, lane) in x.iter_mut().enumerate() {
        if imm >> i & 1 != 0 {
            *lane = 0;
        }
    }
    cpu.fpu.xmm[r] = super::sse_int::from_d32(x);
    Ok(())
}
