//! x87, MMX and SSE instructions: the decode-time dispatch for every
//! legacy-encoded (non-VEX) x87/MMX/SSE-SSE4.2 instruction, and the
//! checks and operand helpers the families share. The families live in
//! the submodules: `x87`, `sse_mov` (data movement), `sse_int` (packed
//! integer and logic, MMX and SSE forms), `sse_fp` (floating point),
//! `sse_str` (SSE4.2 string compares, CRC32, PCLMULQDQ), `xsave`
//! (FXSAVE/XSAVE and MXCSR), over the soft-float core `softfloat`.
//!
//! VEX/EVEX encodings are not matched here, so they reach the generic
//! "unimplemented" handler and raise #UD, as on a processor without AVX.

use iced_x86::{Code, Instruction, OpKind, Register};

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::fpu::exc::{DE, IE, ZE};
use crate::state::{cr0, cr4, Core, Mode, SegReg};
use crate::vector;

use super::Handler;

#[path = "softfloat.rs"]
mod softfloat;
#[path = "sse_fp.rs"]
mod sse_fp;
#[path = "sse_int.rs"]
mod sse_int;
#[path = "sse_mov.rs"]
mod sse_mov;
#[path = "sse_str.rs"]
mod sse_str;
#[path = "x87.rs"]
mod x87;
#[path = "xsave.rs"]
mod xsave;

#[cfg(all(test, target_arch = "x86_64"))]
#[path = "simd_host_tests.rs"]
mod host_tests;
#[cfg(test)]
#[path = "simd_tests.rs"]
mod tests;

// ---------------------------------------------------------------------
// Checks.

/// The SSE checks (SDM Vol. 1, 13.1.3): #UD if CR0.EM or !CR4.OSFXSR,
/// then #NM if CR0.TS.
#[inline(always)]
pub(super) fn sse(cpu: &Core) -> Res {
    if cpu.cr0 & (cr0::EM | cr0::TS) != 0 || cpu.cr4 & cr4::OSFXSR == 0 {
        return Err(sse_fault(cpu));
    }
    Ok(())
}

#[cold]
fn sse_fault(cpu: &Core) -> Fault {
    if cpu.cr0 & cr0::EM != 0 || cpu.cr4 & cr4::OSFXSR == 0 {
        Fault::UD
    } else {
        Fault::new(vector::NM)
    }
}

/// The MMX checks: #UD if CR0.EM, #NM if CR0.TS, #MF for a pending x87
/// exception; then the transition to MMX state.
#[inline(always)]
pub(super) fn mmx(cpu: &mut Core) -> Res {
    if cpu.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(if cpu.cr0 & cr0::EM != 0 {
            Fault::UD
        } else {
            Fault::new(vector::NM)
        });
    }
    mmx_enter(cpu)
}

/// Entering MMX state: pending x87 exceptions are reported, then TOP = 0
/// and every register is tagged valid.
#[inline(always)]
pub(super) fn mmx_enter(cpu: &mut Core) -> Res {
    x87::pending(cpu)?;
    cpu.fpu.set_top(0);
    cpu.fpu.ftag = 0xFF;
    Ok(())
}

/// Folds SIMD floating-point exception flags into MXCSR, or raises #XM
/// (#UD without CR4.OSXMMEXCPT) for an unmasked one, leaving the
/// destination unchanged.
#[inline(always)]
pub(super) fn mxcsr_update(cpu: &mut Core, flags: u32) -> Res {
    if flags == 0 {
        return Ok(());
    }
    let unmasked = flags & !(cpu.fpu.mxcsr >> 7) & 0x3F;
    if unmasked != 0 {
        return Err(simd_exception(cpu, flags, unmasked));
    }
    cpu.fpu.mxcsr |= flags;
    Ok(())
}

#[cold]
fn simd_exception(cpu: &mut Core, flags: u32, unmasked: u32) -> Fault {
    // An unmasked pre-computation exception suppresses the
    // post-computation ones.
    let pre = IE | DE | ZE;
    cpu.fpu.mxcsr |= if unmasked & pre != 0 {
        flags & pre
    } else {
        flags
    };
    if cpu.cr4 & cr4::OSXMMEXCPT != 0 {
        Fault::new(vector::XM)
    } else {
        Fault::UD
    }
}

// ---------------------------------------------------------------------
// Operands.

/// XMM register number of operand `n`.
#[inline(always)]
pub(super) fn xi(d: &Decoded, n: u32) -> usize {
    (d.i.op_register(n) as usize).wrapping_sub(Register::XMM0 as usize) & 15
}

/// MMX register number of operand `n`.
#[inline(always)]
pub(super) fn mi(d: &Decoded, n: u32) -> usize {
    (d.i.op_register(n) as usize).wrapping_sub(Register::MM0 as usize) & 7
}

/// `lin + k` within the linear address space of the current mode.
#[inline(always)]
fn lin_add(cpu: &Core, lin: u64, k: u64) -> u64 {
    let v = lin.wrapping_add(k);
    if cpu.mode == Mode::Long {
        v
    } else {
        v & 0xFFFF_FFFF
    }
}

/// Reads 16 bytes at `seg:off`; `align` requires 16-byte alignment
/// (#GP(0) otherwise).
#[inline(always)]
pub(super) fn load128_at(cpu: &mut Core, seg: SegReg, off: u64, align: bool) -> Res<u128> {
    let lin = cpu.linear(seg, off, 16, false)?;
    if align && lin & 15 != 0 {
        return Err(Fault::GP0);
    }
    let user = cpu.cpl == 3;
    let lo = cpu.read_lin(lin, 8, user)?;
    let hi = cpu.read_lin(lin_add(cpu, lin, 8), 8, user)?;
    Ok(lo as u128 | (hi as u128) << 64)
}

/// Writes 16 bytes at `seg:off`, all or nothing.
#[inline(always)]
pub(super) fn store128_at(cpu: &mut Core, seg: SegReg, off: u64, v: u128, align: bool) -> Res {
    let lin = cpu.linear(seg, off, 16, true)?;
    if align && lin & 15 != 0 {
        return Err(Fault::GP0);
    }
    if lin & 0xFFF > 0xFF0 {
        cpu.probe_write(seg, off, 16)?;
    }
    let user = cpu.cpl == 3;
    cpu.write_lin(lin, 8, v as u64, user)?;
    cpu.write_lin(lin_add(cpu, lin, 8), 8, (v >> 64) as u64, user)
}

/// The 16-byte memory operand.
#[inline(always)]
pub(super) fn load128(cpu: &mut Core, d: &Decoded, align: bool) -> Res<u128> {
    let ea = cpu.ea(d);
    load128_at(cpu, d.seg, ea, align)
}

#[inline(always)]
pub(super) fn store128(cpu: &mut Core, d: &Decoded, v: u128, align: bool) -> Res {
    let ea = cpu.ea(d);
    store128_at(cpu, d.seg, ea, v, align)
}

/// Source operand `n` of an XMM instruction: the register, or the memory
/// operand of the size the instruction reads, zero-extended (16-byte
/// operands must be aligned, as for legacy SSE encodings).
#[inline(always)]
pub(super) fn xsrc(cpu: &mut Core, d: &Decoded, n: u32) -> Res<u128> {
    if d.i.op_kind(n) == OpKind::Register {
        return Ok(cpu.fpu.xmm[xi(d, n)]);
    }
    let size = d.i.memory_size().size();
    if size == 16 {
        return load128(cpu, d, true);
    }
    let ea = cpu.ea(d);
    Ok(cpu.read(d.seg, ea, size)? as u128)
}

/// Source operand `n` of an MMX instruction (MM register or memory).
#[inline(always)]
pub(super) fn msrc(cpu: &mut Core, d: &Decoded, n: u32) -> Res<u64> {
    if d.i.op_kind(n) == OpKind::Register {
        return Ok(cpu.fpu.mm(mi(d, n)));
    }
    let size = d.i.memory_size().size().min(8);
    let ea = cpu.ea(d);
    cpu.read(d.seg, ea, size)
}

// ---------------------------------------------------------------------
// Dispatch.

/// The handler for an x87/MMX/SSE instruction, or `None` if `i` is not
/// one (or is one this processor does not implement, e.g. AES-NI or any
/// VEX form).
pub(crate) fn handler(i: &Instruction) -> Option<Handler> {
    use sse_fp::{cvt, fop, PD, PS, SD, SS};
    use sse_int::{iop, op};
    use sse_int::{mop, mshift_imm, xop, xop_imm, xshift_imm};
    use Code as C;
    let code = i.code();
    if let Some(h) = x87::handler(code) {
        return Some(h);
    }
    Some(match code {
        // --- moves (sse_mov) ---
        C::Movaps_xmm_xmmm128
        | C::Movapd_xmm_xmmm128
        | C::Movdqa_xmm_xmmm128
        | C::Movntdqa_xmm_m128 => sse_mov::mov_load_a,
        C::Movups_xmm_xmmm128
        | C::Movupd_xmm_xmmm128
        | C::Movdqu_xmm_xmmm128
        | C::Lddqu_xmm_m128 => sse_mov::mov_load_u,
        C::Movaps_xmmm128_xmm
        | C::Movapd_xmmm128_xmm
        | C::Movdqa_xmmm128_xmm
        | C::Movntps_m128_xmm
        | C::Movntpd_m128_xmm
        | C::Movntdq_m128_xmm => sse_mov::mov_store_a,
        C::Movups_xmmm128_xmm | C::Movupd_xmmm128_xmm | C::Movdqu_xmmm128_xmm => {
            sse_mov::mov_store_u
        }
        C::Movss_xmm_xmmm32 => sse_mov::movs_load::<4>,
        C::Movsd_xmm_xmmm64 => sse_mov::movs_load::<8>,
        C::Movss_xmmm32_xmm => sse_mov::movs_store::<4>,
        C::Movsd_xmmm64_xmm => sse_mov::movs_store::<8>,
        C::Movlps_xmm_m64 | C::Movlpd_xmm_m64 => sse_mov::load_q::<false>,
        C::Movhps_xmm_m64 | C::Movhpd_xmm_m64 => sse_mov::load_q::<true>,
        C::Movlps_m64_xmm | C::Movlpd_m64_xmm => sse_mov::store_q::<false>,
        C::Movhps_m64_xmm | C::Movhpd_m64_xmm => sse_mov::store_q::<true>,
        C::Movhlps_xmm_xmm => sse_mov::movhlps,
        C::Movlhps_xmm_xmm => sse_mov::movlhps,
        C::Movd_xmm_rm32 | C::Movq_xmm_rm64 | C::Movq_xmm_xmmm64 => sse_mov::movd_to_xmm,
        C::Movd_rm32_xmm | C::Movq_rm64_xmm | C::Movq_xmmm64_xmm => sse_mov::movd_from_xmm,
        C::Movd_mm_rm32 | C::Movq_mm_rm64 | C::Movq_mm_mmm64 => sse_mov::movd_to_mm,
        C::Movd_rm32_mm | C::Movq_rm64_mm | C::Movq_mmm64_mm | C::Movntq_m64_mm => {
            sse_mov::movd_from_mm
        }
        C::Movq2dq_xmm_mm => sse_mov::movq2dq,
        C::Movdq2q_mm_xmm => sse_mov::movdq2q,
        C::Movnti_m32_r32 | C::Movnti_m64_r64 => sse_mov::movnti,
        C::Movmskps_r32_xmm | C::Movmskps_r64_xmm => sse_mov::movmskps,
        C::Movmskpd_r32_xmm | C::Movmskpd_r64_xmm => sse_mov::movmskpd,
        C::Pmovmskb_r32_xmm | C::Pmovmskb_r64_xmm => sse_mov::pmovmskb,
        C::Pmovmskb_r32_mm | C::Pmovmskb_r64_mm => sse_mov::pmovmskb_mm,
        C::Maskmovdqu_rDI_xmm_xmm => sse_mov::maskmov::<16>,
        C::Maskmovq_rDI_mm_mm => sse_mov::maskmov::<8>,
        C::Pextrb_r32m8_xmm_imm8 | C::Pextrb_r64m8_xmm_imm8 => sse_mov::pextr::<1>,
        C::Pextrw_r32_xmm_imm8
        | C::Pextrw_r64_xmm_imm8
        | C::Pextrw_r32m16_xmm_imm8
        | C::Pextrw_r64m16_xmm_imm8 => sse_mov::pextr::<2>,
        C::Pextrd_rm32_xmm_imm8 | C::Extractps_rm32_xmm_imm8 | C::Extractps_r64m32_xmm_imm8 => {
            sse_mov::pextr::<4>
        }
        C::Pextrq_rm64_xmm_imm8 => sse_mov::pextr::<8>,
        C::Pextrw_r32_mm_imm8 | C::Pextrw_r64_mm_imm8 => sse_mov::pextrw_mm,
        C::Pinsrb_xmm_r32m8_imm8 | C::Pinsrb_xmm_r64m8_imm8 => sse_mov::pinsr::<1>,
        C::Pinsrw_xmm_r32m16_imm8 | C::Pinsrw_xmm_r64m16_imm8 => sse_mov::pinsr::<2>,
        C::Pinsrd_xmm_rm32_imm8 => sse_mov::pinsr::<4>,
        C::Pinsrq_xmm_rm64_imm8 => sse_mov::pinsr::<8>,
        C::Pinsrw_mm_r32m16_imm8 | C::Pinsrw_mm_r64m16_imm8 => sse_mov::pinsrw_mm,
        C::Insertps_xmm_xmmm32_imm8 => sse_mov::insertps,

        // --- packed integer, SSE forms (sse_int) ---
        C::Paddb_xmm_xmmm128 => xop::<{ op::PADDB }>,
        C::Paddw_xmm_xmmm128 => xop::<{ op::PADDW }>,
        C::Paddd_xmm_xmmm128 => xop::<{ op::PADDD }>,
        C::Paddq_xmm_xmmm128 => xop::<{ op::PADDQ }>,
        C::Psubb_xmm_xmmm128 => xop::<{ op::PSUBB }>,
        C::Psubw_xmm_xmmm128 => xop::<{ op::PSUBW }>,
        C::Psubd_xmm_xmmm128 => xop::<{ op::PSUBD }>,
        C::Psubq_xmm_xmmm128 => xop::<{ op::PSUBQ }>,
        C::Paddsb_xmm_xmmm128 => xop::<{ op::PADDSB }>,
        C::Paddsw_xmm_xmmm128 => xop::<{ op::PADDSW }>,
        C::Paddusb_xmm_xmmm128 => xop::<{ op::PADDUSB }>,
        C::Paddusw_xmm_xmmm128 => xop::<{ op::PADDUSW }>,
        C::Psubsb_xmm_xmmm128 => xop::<{ op::PSUBSB }>,
        C::Psubsw_xmm_xmmm128 => xop::<{ op::PSUBSW }>,
        C::Psubusb_xmm_xmmm128 => xop::<{ op::PSUBUSB }>,
        C::Psubusw_xmm_xmmm128 => xop::<{ op::PSUBUSW }>,
        C::Pmullw_xmm_xmmm128 => xop::<{ op::PMULLW }>,
        C::Pmulhw_xmm_xmmm128 => xop::<{ op::PMULHW }>,
        C::Pmulhuw_xmm_xmmm128 => xop::<{ op::PMULHUW }>,
        C::Pmuludq_xmm_xmmm128 => xop::<{ op::PMULUDQ }>,
        C::Pmaddwd_xmm_xmmm128 => xop::<{ op::PMADDWD }>,
        C::Pavgb_xmm_xmmm128 => xop::<{ op::PAVGB }>,
        C::Pavgw_xmm_xmmm128 => xop::<{ op::PAVGW }>,
        C::Pminub_xmm_xmmm128 => xop::<{ op::PMINUB }>,
        C::Pmaxub_xmm_xmmm128 => xop::<{ op::PMAXUB }>,
        C::Pminsw_xmm_xmmm128 => xop::<{ op::PMINSW }>,
        C::Pmaxsw_xmm_xmmm128 => xop::<{ op::PMAXSW }>,
        C::Psadbw_xmm_xmmm128 => xop::<{ op::PSADBW }>,
        C::Pcmpeqb_xmm_xmmm128 => xop::<{ op::PCMPEQB }>,
        C::Pcmpeqw_xmm_xmmm128 => xop::<{ op::PCMPEQW }>,
        C::Pcmpeqd_xmm_xmmm128 => xop::<{ op::PCMPEQD }>,
        C::Pcmpeqq_xmm_xmmm128 => xop::<{ op::PCMPEQQ }>,
        C::Pcmpgtb_xmm_xmmm128 => xop::<{ op::PCMPGTB }>,
        C::Pcmpgtw_xmm_xmmm128 => xop::<{ op::PCMPGTW }>,
        C::Pcmpgtd_xmm_xmmm128 => xop::<{ op::PCMPGTD }>,
        C::Pcmpgtq_xmm_xmmm128 => xop::<{ op::PCMPGTQ }>,
        C::Pand_xmm_xmmm128 | C::Andps_xmm_xmmm128 | C::Andpd_xmm_xmmm128 => xop::<{ op::PAND }>,
        C::Pandn_xmm_xmmm128 | C::Andnps_xmm_xmmm128 | C::Andnpd_xmm_xmmm128 => {
            xop::<{ op::PANDN }>
        }
        C::Por_xmm_xmmm128 | C::Orps_xmm_xmmm128 | C::Orpd_xmm_xmmm128 => xop::<{ op::POR }>,
        C::Pxor_xmm_xmmm128 | C::Xorps_xmm_xmmm128 | C::Xorpd_xmm_xmmm128 => xop::<{ op::PXOR }>,
        C::Punpcklbw_xmm_xmmm128 => xop::<{ op::PUNPCKLBW }>,
        C::Punpcklwd_xmm_xmmm128 => xop::<{ op::PUNPCKLWD }>,
        C::Punpckldq_xmm_xmmm128 | C::Unpcklps_xmm_xmmm128 => xop::<{ op::PUNPCKLDQ }>,
        C::Punpcklqdq_xmm_xmmm128 | C::Unpcklpd_xmm_xmmm128 => xop::<{ op::PUNPCKLQDQ }>,
        C::Punpckhbw_xmm_xmmm128 => xop::<{ op::PUNPCKHBW }>,
        C::Punpckhwd_xmm_xmmm128 => xop::<{ op::PUNPCKHWD }>,
        C::Punpckhdq_xmm_xmmm128 | C::Unpckhps_xmm_xmmm128 => xop::<{ op::PUNPCKHDQ }>,
        C::Punpckhqdq_xmm_xmmm128 | C::Unpckhpd_xmm_xmmm128 => xop::<{ op::PUNPCKHQDQ }>,
        C::Packsswb_xmm_xmmm128 => xop::<{ op::PACKSSWB }>,
        C::Packssdw_xmm_xmmm128 => xop::<{ op::PACKSSDW }>,
        C::Packuswb_xmm_xmmm128 => xop::<{ op::PACKUSWB }>,
        C::Packusdw_xmm_xmmm128 => xop::<{ op::PACKUSDW }>,
        C::Pshufb_xmm_xmmm128 => xop::<{ op::PSHUFB }>,
        C::Phaddw_xmm_xmmm128 => xop::<{ op::PHADDW }>,
        C::Phaddd_xmm_xmmm128 => xop::<{ op::PHADDD }>,
        C::Phaddsw_xmm_xmmm128 => xop::<{ op::PHADDSW }>,
        C::Phsubw_xmm_xmmm128 => xop::<{ op::PHSUBW }>,
        C::Phsubd_xmm_xmmm128 => xop::<{ op::PHSUBD }>,
        C::Phsubsw_xmm_xmmm128 => xop::<{ op::PHSUBSW }>,
        C::Pmaddubsw_xmm_xmmm128 => xop::<{ op::PMADDUBSW }>,
        C::Pmulhrsw_xmm_xmmm128 => xop::<{ op::PMULHRSW }>,
        C::Psignb_xmm_xmmm128 => xop::<{ op::PSIGNB }>,
        C::Psignw_xmm_xmmm128 => xop::<{ op::PSIGNW }>,
        C::Psignd_xmm_xmmm128 => xop::<{ op::PSIGND }>,
        C::Pabsb_xmm_xmmm128 => xop::<{ op::PABSB }>,
        C::Pabsw_xmm_xmmm128 => xop::<{ op::PABSW }>,
        C::Pabsd_xmm_xmmm128 => xop::<{ op::PABSD }>,
        C::Pminsb_xmm_xmmm128 => xop::<{ op::PMINSB }>,
        C::Pminsd_xmm_xmmm128 => xop::<{ op::PMINSD }>,
        C::Pminuw_xmm_xmmm128 => xop::<{ op::PMINUW }>,
        C::Pminud_xmm_xmmm128 => xop::<{ op::PMINUD }>,
        C::Pmaxsb_xmm_xmmm128 => xop::<{ op::PMAXSB }>,
        C::Pmaxsd_xmm_xmmm128 => xop::<{ op::PMAXSD }>,
        C::Pmaxuw_xmm_xmmm128 => xop::<{ op::PMAXUW }>,
        C::Pmaxud_xmm_xmmm128 => xop::<{ op::PMAXUD }>,
        C::Pmulld_xmm_xmmm128 => xop::<{ op::PMULLD }>,
        C::Pmuldq_xmm_xmmm128 => xop::<{ op::PMULDQ }>,
        C::Phminposuw_xmm_xmmm128 => xop::<{ op::PHMINPOSUW }>,
        C::Psllw_xmm_xmmm128 => xop::<{ op::PSLLW }>,
        C::Pslld_xmm_xmmm128 => xop::<{ op::PSLLD }>,
        C::Psllq_xmm_xmmm128 => xop::<{ op::PSLLQ }>,
        C::Psrlw_xmm_xmmm128 => xop::<{ op::PSRLW }>,
        C::Psrld_xmm_xmmm128 => xop::<{ op::PSRLD }>,
        C::Psrlq_xmm_xmmm128 => xop::<{ op::PSRLQ }>,
        C::Psraw_xmm_xmmm128 => xop::<{ op::PSRAW }>,
        C::Psrad_xmm_xmmm128 => xop::<{ op::PSRAD }>,
        C::Pmovsxbw_xmm_xmmm64 => xop::<{ op::PMOVSXBW }>,
        C::Pmovsxbd_xmm_xmmm32 => xop::<{ op::PMOVSXBD }>,
        C::Pmovsxbq_xmm_xmmm16 => xop::<{ op::PMOVSXBQ }>,
        C::Pmovsxwd_xmm_xmmm64 => xop::<{ op::PMOVSXWD }>,
        C::Pmovsxwq_xmm_xmmm32 => xop::<{ op::PMOVSXWQ }>,
        C::Pmovsxdq_xmm_xmmm64 => xop::<{ op::PMOVSXDQ }>,
        C::Pmovzxbw_xmm_xmmm64 => xop::<{ op::PMOVZXBW }>,
        C::Pmovzxbd_xmm_xmmm32 => xop::<{ op::PMOVZXBD }>,
        C::Pmovzxbq_xmm_xmmm16 => xop::<{ op::PMOVZXBQ }>,
        C::Pmovzxwd_xmm_xmmm64 => xop::<{ op::PMOVZXWD }>,
        C::Pmovzxwq_xmm_xmmm32 => xop::<{ op::PMOVZXWQ }>,
        C::Pmovzxdq_xmm_xmmm64 => xop::<{ op::PMOVZXDQ }>,
        C::Movsldup_xmm_xmmm128 => xop::<{ op::MOVSLDUP }>,
        C::Movshdup_xmm_xmmm128 => xop::<{ op::MOVSHDUP }>,
        C::Movddup_xmm_xmmm64 => xop::<{ op::MOVDDUP }>,
        C::Psllw_xmm_imm8 => xshift_imm::<{ op::PSLLW }>,
        C::Pslld_xmm_imm8 => xshift_imm::<{ op::PSLLD }>,
        C::Psllq_xmm_imm8 => xshift_imm::<{ op::PSLLQ }>,
        C::Psrlw_xmm_imm8 => xshift_imm::<{ op::PSRLW }>,
        C::Psrld_xmm_imm8 => xshift_imm::<{ op::PSRLD }>,
        C::Psrlq_xmm_imm8 => xshift_imm::<{ op::PSRLQ }>,
        C::Psraw_xmm_imm8 => xshift_imm::<{ op::PSRAW }>,
        C::Psrad_xmm_imm8 => xshift_imm::<{ op::PSRAD }>,
        C::Pslldq_xmm_imm8 => xshift_imm::<{ op::PSLLDQ }>,
        C::Psrldq_xmm_imm8 => xshift_imm::<{ op::PSRLDQ }>,
        C::Pshufd_xmm_xmmm128_imm8 => xop_imm::<{ iop::PSHUFD }>,
        C::Pshuflw_xmm_xmmm128_imm8 => xop_imm::<{ iop::PSHUFLW }>,
        C::Pshufhw_xmm_xmmm128_imm8 => xop_imm::<{ iop::PSHUFHW }>,
        C::Shufps_xmm_xmmm128_imm8 => xop_imm::<{ iop::SHUFPS }>,
        C::Shufpd_xmm_xmmm128_imm8 => xop_imm::<{ iop::SHUFPD }>,
        C::Palignr_xmm_xmmm128_imm8 => xop_imm::<{ iop::PALIGNR }>,
        C::Pblendw_xmm_xmmm128_imm8 => xop_imm::<{ iop::PBLENDW }>,
        C::Blendps_xmm_xmmm128_imm8 => xop_imm::<{ iop::BLENDPS }>,
        C::Blendpd_xmm_xmmm128_imm8 => xop_imm::<{ iop::BLENDPD }>,
        C::Mpsadbw_xmm_xmmm128_imm8 => xop_imm::<{ iop::MPSADBW }>,
        C::Pblendvb_xmm_xmmm128 => sse_int::blendv::<1>,
        C::Blendvps_xmm_xmmm128 => sse_int::blendv::<4>,
        C::Blendvpd_xmm_xmmm128 => sse_int::blendv::<8>,
        C::Ptest_xmm_xmmm128 => sse_int::ptest,

        // --- packed integer, MMX forms ---
        C::Paddb_mm_mmm64 => mop::<{ op::PADDB }>,
        C::Paddw_mm_mmm64 => mop::<{ op::PADDW }>,
        C::Paddd_mm_mmm64 => mop::<{ op::PADDD }>,
        C::Paddq_mm_mmm64 => mop::<{ op::PADDQ }>,
        C::Psubb_mm_mmm64 => mop::<{ op::PSUBB }>,
        C::Psubw_mm_mmm64 => mop::<{ op::PSUBW }>,
        C::Psubd_mm_mmm64 => mop::<{ op::PSUBD }>,
        C::Psubq_mm_mmm64 => mop::<{ op::PSUBQ }>,
        C::Paddsb_mm_mmm64 => mop::<{ op::PADDSB }>,
        C::Paddsw_mm_mmm64 => mop::<{ op::PADDSW }>,
        C::Paddusb_mm_mmm64 => mop::<{ op::PADDUSB }>,
        C::Paddusw_mm_mmm64 => mop::<{ op::PADDUSW }>,
        C::Psubsb_mm_mmm64 => mop::<{ op::PSUBSB }>,
        C::Psubsw_mm_mmm64 => mop::<{ op::PSUBSW }>,
        C::Psubusb_mm_mmm64 => mop::<{ op::PSUBUSB }>,
        C::Psubusw_mm_mmm64 => mop::<{ op::PSUBUSW }>,
        C::Pmullw_mm_mmm64 => mop::<{ op::PMULLW }>,
        C::Pmulhw_mm_mmm64 => mop::<{ op::PMULHW }>,
        C::Pmulhuw_mm_mmm64 => mop::<{ op::PMULHUW }>,
        C::Pmuludq_mm_mmm64 => mop::<{ op::PMULUDQ }>,
        C::Pmaddwd_mm_mmm64 => mop::<{ op::PMADDWD }>,
        C::Pavgb_mm_mmm64 => mop::<{ op::PAVGB }>,
        C::Pavgw_mm_mmm64 => mop::<{ op::PAVGW }>,
        C::Pminub_mm_mmm64 => mop::<{ op::PMINUB }>,
        C::Pmaxub_mm_mmm64 => mop::<{ op::PMAXUB }>,
        C::Pminsw_mm_mmm64 => mop::<{ op::PMINSW }>,
        C::Pmaxsw_mm_mmm64 => mop::<{ op::PMAXSW }>,
        C::Psadbw_mm_mmm64 => mop::<{ op::PSADBW }>,
        C::Pcmpeqb_mm_mmm64 => mop::<{ op::PCMPEQB }>,
        C::Pcmpeqw_mm_mmm64 => mop::<{ op::PCMPEQW }>,
        C::Pcmpeqd_mm_mmm64 => mop::<{ op::PCMPEQD }>,
        C::Pcmpgtb_mm_mmm64 => mop::<{ op::PCMPGTB }>,
        C::Pcmpgtw_mm_mmm64 => mop::<{ op::PCMPGTW }>,
        C::Pcmpgtd_mm_mmm64 => mop::<{ op::PCMPGTD }>,
        C::Pand_mm_mmm64 => mop::<{ op::PAND }>,
        C::Pandn_mm_mmm64 => mop::<{ op::PANDN }>,
        C::Por_mm_mmm64 => mop::<{ op::POR }>,
        C::Pxor_mm_mmm64 => mop::<{ op::PXOR }>,
        C::Punpcklbw_mm_mmm32 => mop::<{ op::PUNPCKLBW }>,
        C::Punpcklwd_mm_mmm32 => mop::<{ op::PUNPCKLWD }>,
        C::Punpckldq_mm_mmm32 => mop::<{ op::PUNPCKLDQ }>,
        C::Punpckhbw_mm_mmm64 => mop::<{ op::PUNPCKHBW }>,
        C::Punpckhwd_mm_mmm64 => mop::<{ op::PUNPCKHWD }>,
        C::Punpckhdq_mm_mmm64 => mop::<{ op::PUNPCKHDQ }>,
        C::Packsswb_mm_mmm64 => mop::<{ op::PACKSSWB }>,
        C::Packssdw_mm_mmm64 => mop::<{ op::PACKSSDW }>,
        C::Packuswb_mm_mmm64 => mop::<{ op::PACKUSWB }>,
        C::Pshufb_mm_mmm64 => mop::<{ op::PSHUFB }>,
        C::Phaddw_mm_mmm64 => mop::<{ op::PHADDW }>,
        C::Phaddd_mm_mmm64 => mop::<{ op::PHADDD }>,
        C::Phaddsw_mm_mmm64 => mop::<{ op::PHADDSW }>,
        C::Phsubw_mm_mmm64 => mop::<{ op::PHSUBW }>,
        C::Phsubd_mm_mmm64 => mop::<{ op::PHSUBD }>,
        C::Phsubsw_mm_mmm64 => mop::<{ op::PHSUBSW }>,
        C::Pmaddubsw_mm_mmm64 => mop::<{ op::PMADDUBSW }>,
        C::Pmulhrsw_mm_mmm64 => mop::<{ op::PMULHRSW }>,
        C::Psignb_mm_mmm64 => mop::<{ op::PSIGNB }>,
        C::Psignw_mm_mmm64 => mop::<{ op::PSIGNW }>,
        C::Psignd_mm_mmm64 => mop::<{ op::PSIGND }>,
        C::Pabsb_mm_mmm64 => mop::<{ op::PABSB }>,
        C::Pabsw_mm_mmm64 => mop::<{ op::PABSW }>,
        C::Pabsd_mm_mmm64 => mop::<{ op::PABSD }>,
        C::Psllw_mm_mmm64 => mop::<{ op::PSLLW }>,
        C::Pslld_mm_mmm64 => mop::<{ op::PSLLD }>,
        C::Psllq_mm_mmm64 => mop::<{ op::PSLLQ }>,
        C::Psrlw_mm_mmm64 => mop::<{ op::PSRLW }>,
        C::Psrld_mm_mmm64 => mop::<{ op::PSRLD }>,
        C::Psrlq_mm_mmm64 => mop::<{ op::PSRLQ }>,
        C::Psraw_mm_mmm64 => mop::<{ op::PSRAW }>,
        C::Psrad_mm_mmm64 => mop::<{ op::PSRAD }>,
        C::Psllw_mm_imm8 => mshift_imm::<{ op::PSLLW }>,
        C::Pslld_mm_imm8 => mshift_imm::<{ op::PSLLD }>,
        C::Psllq_mm_imm8 => mshift_imm::<{ op::PSLLQ }>,
        C::Psrlw_mm_imm8 => mshift_imm::<{ op::PSRLW }>,
        C::Psrld_mm_imm8 => mshift_imm::<{ op::PSRLD }>,
        C::Psrlq_mm_imm8 => mshift_imm::<{ op::PSRLQ }>,
        C::Psraw_mm_imm8 => mshift_imm::<{ op::PSRAW }>,
        C::Psrad_mm_imm8 => mshift_imm::<{ op::PSRAD }>,
        C::Pshufw_mm_mmm64_imm8 => sse_int::pshufw,
        C::Palignr_mm_mmm64_imm8 => sse_int::palignr_mm,

        // --- floating point (sse_fp) ---
        C::Addps_xmm_xmmm128 => sse_fp::arith::<{ fop::ADD }, PS>,
        C::Addpd_xmm_xmmm128 => sse_fp::arith::<{ fop::ADD }, PD>,
        C::Addss_xmm_xmmm32 => sse_fp::arith::<{ fop::ADD }, SS>,
        C::Addsd_xmm_xmmm64 => sse_fp::arith::<{ fop::ADD }, SD>,
        C::Subps_xmm_xmmm128 => sse_fp::arith::<{ fop::SUB }, PS>,
        C::Subpd_xmm_xmmm128 => sse_fp::arith::<{ fop::SUB }, PD>,
        C::Subss_xmm_xmmm32 => sse_fp::arith::<{ fop::SUB }, SS>,
        C::Subsd_xmm_xmmm64 => sse_fp::arith::<{ fop::SUB }, SD>,
        C::Mulps_xmm_xmmm128 => sse_fp::arith::<{ fop::MUL }, PS>,
        C::Mulpd_xmm_xmmm128 => sse_fp::arith::<{ fop::MUL }, PD>,
        C::Mulss_xmm_xmmm32 => sse_fp::arith::<{ fop::MUL }, SS>,
        C::Mulsd_xmm_xmmm64 => sse_fp::arith::<{ fop::MUL }, SD>,
        C::Divps_xmm_xmmm128 => sse_fp::arith::<{ fop::DIV }, PS>,
        C::Divpd_xmm_xmmm128 => sse_fp::arith::<{ fop::DIV }, PD>,
        C::Divss_xmm_xmmm32 => sse_fp::arith::<{ fop::DIV }, SS>,
        C::Divsd_xmm_xmmm64 => sse_fp::arith::<{ fop::DIV }, SD>,
        C::Minps_xmm_xmmm128 => sse_fp::arith::<{ fop::MIN }, PS>,
        C::Minpd_xmm_xmmm128 => sse_fp::arith::<{ fop::MIN }, PD>,
        C::Minss_xmm_xmmm32 => sse_fp::arith::<{ fop::MIN }, SS>,
        C::Minsd_xmm_xmmm64 => sse_fp::arith::<{ fop::MIN }, SD>,
        C::Maxps_xmm_xmmm128 => sse_fp::arith::<{ fop::MAX }, PS>,
        C::Maxpd_xmm_xmmm128 => sse_fp::arith::<{ fop::MAX }, PD>,
        C::Maxss_xmm_xmmm32 => sse_fp::arith::<{ fop::MAX }, SS>,
        C::Maxsd_xmm_xmmm64 => sse_fp::arith::<{ fop::MAX }, SD>,
        C::Sqrtps_xmm_xmmm128 => sse_fp::arith::<{ fop::SQRT }, PS>,
        C::Sqrtpd_xmm_xmmm128 => sse_fp::arith::<{ fop::SQRT }, PD>,
        C::Sqrtss_xmm_xmmm32 => sse_fp::arith::<{ fop::SQRT }, SS>,
        C::Sqrtsd_xmm_xmmm64 => sse_fp::arith::<{ fop::SQRT }, SD>,
        C::Rcpps_xmm_xmmm128 => sse_fp::arith::<{ fop::RCP }, PS>,
        C::Rcpss_xmm_xmmm32 => sse_fp::arith::<{ fop::RCP }, SS>,
        C::Rsqrtps_xmm_xmmm128 => sse_fp::arith::<{ fop::RSQRT }, PS>,
        C::Rsqrtss_xmm_xmmm32 => sse_fp::arith::<{ fop::RSQRT }, SS>,
        C::Haddps_xmm_xmmm128 => sse_fp::horizontal::<0, PS>,
        C::Haddpd_xmm_xmmm128 => sse_fp::horizontal::<0, PD>,
        C::Hsubps_xmm_xmmm128 => sse_fp::horizontal::<1, PS>,
        C::Hsubpd_xmm_xmmm128 => sse_fp::horizontal::<1, PD>,
        C::Addsubps_xmm_xmmm128 => sse_fp::horizontal::<2, PS>,
        C::Addsubpd_xmm_xmmm128 => sse_fp::horizontal::<2, PD>,
        C::Dpps_xmm_xmmm128_imm8 => sse_fp::dpps,
        C::Dppd_xmm_xmmm128_imm8 => sse_fp::dppd,
        C::Roundps_xmm_xmmm128_imm8 => sse_fp::round::<PS>,
        C::Roundpd_xmm_xmmm128_imm8 => sse_fp::round::<PD>,
        C::Roundss_xmm_xmmm32_imm8 => sse_fp::round::<SS>,
        C::Roundsd_xmm_xmmm64_imm8 => sse_fp::round::<SD>,
        C::Cmpps_xmm_xmmm128_imm8 => sse_fp::cmp::<PS>,
        C::Cmppd_xmm_xmmm128_imm8 => sse_fp::cmp::<PD>,
        C::Cmpss_xmm_xmmm32_imm8 => sse_fp::cmp::<SS>,
        C::Cmpsd_xmm_xmmm64_imm8 => sse_fp::cmp::<SD>,
        C::Comiss_xmm_xmmm32 => sse_fp::comi::<SS, true>,
        C::Ucomiss_xmm_xmmm32 => sse_fp::comi::<SS, false>,
        C::Comisd_xmm_xmmm64 => sse_fp::comi::<SD, true>,
        C::Ucomisd_xmm_xmmm64 => sse_fp::comi::<SD, false>,
        C::Cvtps2pd_xmm_xmmm64 => sse_fp::convert::<{ cvt::PS2PD }>,
        C::Cvtpd2ps_xmm_xmmm128 => sse_fp::convert::<{ cvt::PD2PS }>,
        C::Cvtss2sd_xmm_xmmm32 => sse_fp::convert::<{ cvt::SS2SD }>,
        C::Cvtsd2ss_xmm_xmmm64 => sse_fp::convert::<{ cvt::SD2SS }>,
        C::Cvtdq2ps_xmm_xmmm128 => sse_fp::convert::<{ cvt::DQ2PS }>,
        C::Cvtps2dq_xmm_xmmm128 => sse_fp::convert::<{ cvt::PS2DQ }>,
        C::Cvttps2dq_xmm_xmmm128 => sse_fp::convert::<{ cvt::TPS2DQ }>,
        C::Cvtdq2pd_xmm_xmmm64 => sse_fp::convert::<{ cvt::DQ2PD }>,
        C::Cvtpd2dq_xmm_xmmm128 => sse_fp::convert::<{ cvt::PD2DQ }>,
        C::Cvttpd2dq_xmm_xmmm128 => sse_fp::convert::<{ cvt::TPD2DQ }>,
        C::Cvtsi2ss_xmm_rm32 | C::Cvtsi2ss_xmm_rm64 => sse_fp::cvtsi2s::<SS>,
        C::Cvtsi2sd_xmm_rm32 | C::Cvtsi2sd_xmm_rm64 => sse_fp::cvtsi2s::<SD>,
        C::Cvtss2si_r32_xmmm32 | C::Cvtss2si_r64_xmmm32 => sse_fp::cvts2si::<SS, false>,
        C::Cvttss2si_r32_xmmm32 | C::Cvttss2si_r64_xmmm32 => sse_fp::cvts2si::<SS, true>,
        C::Cvtsd2si_r32_xmmm64 | C::Cvtsd2si_r64_xmmm64 => sse_fp::cvts2si::<SD, false>,
        C::Cvttsd2si_r32_xmmm64 | C::Cvttsd2si_r64_xmmm64 => sse_fp::cvts2si::<SD, true>,
        C::Cvtpi2ps_xmm_mmm64 => sse_fp::cvtpi2p::<PS>,
        C::Cvtpi2pd_xmm_mmm64 => sse_fp::cvtpi2p::<PD>,
        C::Cvtps2pi_mm_xmmm64 => sse_fp::cvtp2pi::<PS, false>,
        C::Cvttps2pi_mm_xmmm64 => sse_fp::cvtp2pi::<PS, true>,
        C::Cvtpd2pi_mm_xmmm128 => sse_fp::cvtp2pi::<PD, false>,
        C::Cvttpd2pi_mm_xmmm128 => sse_fp::cvtp2pi::<PD, true>,

        // --- SSE4.2 and friends (sse_str) ---
        C::Pcmpestri_xmm_xmmm128_imm8 | C::Pcmpestri64_xmm_xmmm128_imm8 => {
            sse_str::pcmpstr::<true, true>
        }
        C::Pcmpestrm_xmm_xmmm128_imm8 | C::Pcmpestrm64_xmm_xmmm128_imm8 => {
            sse_str::pcmpstr::<true, false>
        }
        C::Pcmpistri_xmm_xmmm128_imm8 => sse_str::pcmpstr::<false, true>,
        C::Pcmpistrm_xmm_xmmm128_imm8 => sse_str::pcmpstr::<false, false>,
        C::Crc32_r32_rm8
        | C::Crc32_r64_rm8
        | C::Crc32_r32_rm16
        | C::Crc32_r32_rm32
        | C::Crc32_r64_rm64 => sse_str::crc32,
        C::Pclmulqdq_xmm_xmmm128_imm8 => sse_str::pclmulqdq,

        // --- state management (xsave) ---
        C::Fxsave_m512byte | C::Fxsave64_m512byte => xsave::fxsave,
        C::Fxrstor_m512byte | C::Fxrstor64_m512byte => xsave::fxrstor,
        C::Xsave_mem | C::Xsave64_mem => xsave::xsave,
        C::Xrstor_mem | C::Xrstor64_mem => xsave::xrstor,
        C::Ldmxcsr_m32 => xsave::ldmxcsr,
        C::Stmxcsr_m32 => xsave::stmxcsr,
        _ => return None,
    })
}
