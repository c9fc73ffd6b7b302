//! SSE/SSE2/SSE3/SSE4.1 floating point: arithmetic (ADD, SUB, MUL, DIV,
//! MIN, MAX, SQRT, RCP, RSQRT in PS/PD/SS/SD forms, HADD/HSUB/ADDSUB,
//! DPPS/DPPD, ROUND*), compares (CMPccPS/PD/SS/SD, COMISS/UCOMISS,
//! COMISD/UCOMISD) and every conversion (CVT*, CVTT*).
//!
//! Arithmetic goes through `softfloat`, so results and MXCSR flags
//! (including DAZ, FTZ and the rounding mode) are bit-exact; RCPPS and
//! RSQRTPS return the correctly rounded reciprocal, which is within the
//! architectural 1.5 * 2^-12 error bound.

use std::cmp::Ordering;

use iced_x86::OpKind;

use crate::block::Decoded;
use crate::fault::Res;
use crate::state::rflags::{ARITH, CF, PF, ZF};
use crate::state::Core;

use super::softfloat::{self as sf, Ctx, Fmt, F32, F64, RZ};
use super::sse_int::{d32, from_d32, from_q64, q64};
use super::{mi, mmx_enter, msrc, mxcsr_update, sse, xi, xsrc};

/// Operand shapes: packed single, packed double, scalar single, scalar
/// double.
pub(super) const PS: u8 = 0;
pub(super) const PD: u8 = 1;
pub(super) const SS: u8 = 2;
pub(super) const SD: u8 = 3;

pub(super) mod fop {
    pub const ADD: u8 = 0;
    pub const SUB: u8 = 1;
    pub const MUL: u8 = 2;
    pub const DIV: u8 = 3;
    pub const MIN: u8 = 4;
    pub const MAX: u8 = 5;
    pub const SQRT: u8 = 6;
    pub const RCP: u8 = 7;
    pub const RSQRT: u8 = 8;
}

/// MINPS/MAXPS semantics: the second operand unless the first is
/// strictly smaller (larger); any NaN raises IE and gives the second.
#[inline]
fn minmax(ctx: &mut Ctx, f: Fmt, a: u128, b: u128, max: bool) -> u128 {
    let r = match sf::compare(ctx, f, a, b, true) {
        Some(Ordering::Less) if !max => a,
        Some(Ordering::Greater) if max => a,
        _ => b,
    };
    // Under DAZ the denormal operand is returned as the zero it counted as.
    if ctx.daz && f.is_denormal(r) {
        r & f.sign()
    } else {
        r
    }
}

/// Approximate reciprocal and reciprocal square root (no flags):
/// denormal inputs count as zero, tiny results flush to zero.
fn approx(a: u32, rsqrt: bool) -> u32 {
    let f = F32;
    let x = a as u128;
    if f.is_nan(x) {
        return f.quiet(x) as u32;
    }
    let neg = a >> 31 != 0;
    let mag = a & 0x7FFF_FFFF;
    if mag < 0x0080_0000 {
        // Zero or denormal: infinity of the same sign.
        return f.inf(neg) as u32;
    }
    if rsqrt && neg {
        return f.default_nan() as u32;
    }
    if mag == 0x7F80_0000 {
        return f.zero(neg) as u32;
    }
    let v = f32::from_bits(a) as f64;
    let r = if rsqrt { 1.0 / v.sqrt() } else { 1.0 / v };
    let r = r as f32;
    if r.abs() < f32::MIN_POSITIVE {
        return f.zero(neg) as u32;
    }
    r.to_bits()
}

#[inline(always)]
fn binop(ctx: &mut Ctx, f: Fmt, o: u8, a: u128, b: u128) -> u128 {
    match o {
        fop::ADD => sf::add(ctx, f, a, b, false),
        fop::SUB => sf::add(ctx, f, a, b, true),
        fop::MUL => sf::mul(ctx, f, a, b),
        fop::DIV => sf::div(ctx, f, a, b),
        fop::MIN => minmax(ctx, f, a, b, false),
        fop::MAX => minmax(ctx, f, a, b, true),
        fop::SQRT => sf::sqrt(ctx, f, b),
        fop::RCP => approx(b as u32, false) as u128,
        _ => approx(b as u32, true) as u128,
    }
}

/// Applies `lane` to each lane of the shape `K` (scalar shapes keep the
/// destination's upper lanes).
#[inline(always)]
fn lanes<const K: u8>(a: u128, b: u128, mut lane: impl FnMut(Fmt, u128, u128) -> u128) -> u128 {
    match K {
        PS => {
            let (x, y) = (d32(a), d32(b));
            from_d32(std::array::from_fn(|i| {
                lane(F32, x[i] as u128, y[i] as u128) as u32
            }))
        }
        PD => {
            let (x, y) = (q64(a), q64(b));
            let r0 = lane(F64, x[0] as u128, y[0] as u128) as u64;
            let r1 = lane(F64, x[1] as u128, y[1] as u128) as u64;
            from_q64([r0, r1])
        }
        SS => {
            let r = lane(F32, a & 0xFFFF_FFFF, b & 0xFFFF_FFFF) as u32;
            (a & !0xFFFF_FFFFu128) | r as u128
        }
        _ => {
            let r = lane(F64, a & u64::MAX as u128, b & u64::MAX as u128) as u64;
            (a & !(u64::MAX as u128)) | r as u128
        }
    }
}

/// `op xmm, xmm/mN` for the arithmetic operations.
pub(super) fn arith<const O: u8, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let mut ctx = Ctx::sse(cpu.fpu.mxcsr);
    let v = lanes::<K>(cpu.fpu.xmm[r], b, |f, x, y| binop(&mut ctx, f, O, x, y));
    mxcsr_update(cpu, ctx.flags)?;
    cpu.fpu.xmm[r] = v;
    Ok(())
}

/// The CMPPS predicates 0-7: (result, signalling).
#[inline(always)]
fn predicate(p: u8, ord: Option<Ordering>) -> bool {
    match (p & 7, ord) {
        (0, o) => o == Some(Ordering::Equal),
        (1, o) => o == Some(Ordering::Less),
        (2, o) => matches!(o, Some(Ordering::Less | Ordering::Equal)),
        (3, o) => o.is_none(),
        (4, o) => o != Some(Ordering::Equal),
        (5, o) => o != Some(Ordering::Less),
        (6, o) => !matches!(o, Some(Ordering::Less | Ordering::Equal)),
        (_, o) => o.is_some(),
    }
}

/// CMPPS/CMPPD/CMPSS/CMPSD xmm, xmm/mN, imm8.
pub(super) fn cmp<const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let p = d.i.immediate8() & 7;
    let signalling = matches!(p, 1 | 2 | 5 | 6);
    let mut ctx = Ctx::sse(cpu.fpu.mxcsr);
    let v = lanes::<K>(cpu.fpu.xmm[r], b, |f, x, y| {
        let o = sf::compare(&mut ctx, f, x, y, signalling);
        if predicate(p, o) {
            if f == F32 {
                u32::MAX as u128
            } else {
                u64::MAX as u128
            }
        } else {
            0
        }
    });
    mxcsr_update(cpu, ctx.flags)?;
    cpu.fpu.xmm[r] = v;
    Ok(())
}

/// COMISS/UCOMISS/COMISD/UCOMISD: ZF, PF, CF from the comparison; OF,
/// SF, AF cleared. `SIG` selects the signalling (COMI) form.
pub(super) fn comi<const K: u8, const SIG: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let a = cpu.fpu.xmm[xi(d, 0)];
    let mut ctx = Ctx::sse(cpu.fpu.mxcsr);
    let (f, x, y) = if K == SS {
        (F32, a & 0xFFFF_FFFF, b & 0xFFFF_FFFF)
    } else {
        (F64, a & u64::MAX as u128, b & u64::MAX as u128)
    };
    let fl = match sf::compare(&mut ctx, f, x, y, SIG) {
        None => ZF | PF | CF,
        Some(Ordering::Greater) => 0,
        Some(Ordering::Less) => CF,
        Some(Ordering::Equal) => ZF,
    };
    mxcsr_update(cpu, ctx.flags)?;
    cpu.rflags = (cpu.rflags & !ARITH) | fl;
    Ok(())
}

/// HADDPS/HADDPD/HSUBPS/HSUBPD/ADDSUBPS/ADDSUBPD. `O`: 0 hadd, 1 hsub,
/// 2 addsub.
pub(super) fn horizontal<const O: u8, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let a = cpu.fpu.xmm[r];
    let mut ctx = Ctx::sse(cpu.fpu.mxcsr);
    let c = &mut ctx;
    let v = if K == PS {
        let (x, y) = (d32(a), d32(b));
        let op = |c: &mut Ctx, p: u32, q: u32, sub: bool| {
            sf::add(c, F32, p as u128, q as u128, sub) as u32
        };
        match O {
            0 | 1 => {
                let s = O == 1;
                from_d32([
                    op(c, x[0], x[1], s),
                    op(c, x[2], x[3], s),
                    op(c, y[0], y[1], s),
                    op(c, y[2], y[3], s),
                ])
            }
            _ => from_d32([
                op(c, x[0], y[0], true),
                op(c, x[1], y[1], false),
                op(c, x[2], y[2], true),
                op(c, x[3], y[3], false),
            ]),
        }
    } else {
        let (x, y) = (q64(a), q64(b));
        let op = |c: &mut Ctx, p: u64, q: u64, sub: bool| {
            sf::add(c, F64, p as u128, q as u128, sub) as u64
        };
        match O {
            0 | 1 => {
                let s = O == 1;
                from_q64([op(c, x[0], x[1], s), op(c, y[0], y[1], s)])
            }
            _ => from_q64([op(c, x[0], y[0], true), op(c, x[1], y[1], false)]),
        }
    };
    mxcsr_update(cpu, ctx.flags)?;
    cpu.fpu.xmm[r] = v;
    Ok(())
}

/// DPPS xmm, xmm/m128, imm8.
pub(super) fn dpps(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let imm = d.i.immediate8();
    let (x, y) = (d32(cpu.fpu.xmm[r]), d32(b));
    let mut c = Ctx::sse(cpu.fpu.mxcsr);
    let t: [u128; 4] = std::array::from_fn(|i| {
        if imm >> (4 + i) & 1 != 0 {
            sf::mul(&mut c, F32, x[i] as u128, y[i] as u128)
        } else {
            0
        }
    });
    let s1 = sf::add(&mut c, F32, t[0], t[1], false);
    let s2 = sf::add(&mut c, F32, t[2], t[3], false);
    let s = sf::add(&mut c, F32, s1, s2, false) as u32;
    let v = from_d32(std::array::from_fn(
        |i| if imm >> i & 1 != 0 { s } else { 0 },
    ));
    mxcsr_update(cpu, c.flags)?;
    cpu.fpu.xmm[r] = v;
    Ok(())
}

/// DPPD xmm, xmm/m128, imm8.
pub(super) fn dppd(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let imm = d.i.immediate8();
    let (x, y) = (q64(cpu.fpu.xmm[r]), q64(b));
    let mut c = Ctx::sse(cpu.fpu.mxcsr);
    let t: [u128; 2] = std::array::from_fn(|i| {
        if imm >> (4 + i) & 1 != 0 {
            sf::mul(&mut c, F64, x[i] as u128, y[i] as u128)
        } else {
            0
        }
    });
    let s = sf::add(&mut c, F64, t[0], t[1], false) as u64;
    let v = from_q64(std::array::from_fn(
        |i| if imm >> i & 1 != 0 { s } else { 0 },
    ));
    mxcsr_update(cpu, c.flags)?;
    cpu.fpu.xmm[r] = v;
    Ok(())
}

/// ROUNDPS/ROUNDPD/ROUNDSS/ROUNDSD xmm, xmm/mN, imm8.
pub(super) fn round<const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let imm = d.i.immediate8();
    let mut ctx = Ctx::sse(cpu.fpu.mxcsr);
    let rc = if imm & 4 != 0 {
        ctx.rc
    } else {
        (imm & 3) as u32
    };
    let pe = imm & 8 == 0;
    let v = lanes::<K>(cpu.fpu.xmm[r], b, |f, _, y| {
        sf::round_to_integral(&mut ctx, f, y, rc, pe)
    });
    mxcsr_update(cpu, ctx.flags)?;
    cpu.fpu.xmm[r] = v;
    Ok(())
}

/// Conversions, by kind.
pub(super) mod cvt {
    /// CVTPS2PD xmm, xmm/m64.
    pub const PS2PD: u8 = 0;
    /// CVTPD2PS xmm, xmm/m128.
    pub const PD2PS: u8 = 1;
    /// CVTSS2SD xmm, xmm/m32.
    pub const SS2SD: u8 = 2;
    /// CVTSD2SS xmm, xmm/m64.
    pub const SD2SS: u8 = 3;
    /// CVTDQ2PS xmm, xmm/m128.
    pub const DQ2PS: u8 = 4;
    /// CVTPS2DQ / CVTTPS2DQ xmm, xmm/m128.
    pub const PS2DQ: u8 = 5;
    pub const TPS2DQ: u8 = 6;
    /// CVTDQ2PD xmm, xmm/m64.
    pub const DQ2PD: u8 = 7;
    /// CVTPD2DQ / CVTTPD2DQ xmm, xmm/m128.
    pub const PD2DQ: u8 = 8;
    pub const TPD2DQ: u8 = 9;
}

/// XMM-to-XMM conversions.
pub(super) fn convert<const C: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let a = cpu.fpu.xmm[r];
    let mut c = Ctx::sse(cpu.fpu.mxcsr);
    let rc = c.rc;
    let v = match C {
        cvt::PS2PD => {
            let y = d32(b);
            from_q64([
                sf::convert(&mut c, F32, F64, y[0] as u128) as u64,
                sf::convert(&mut c, F32, F64, y[1] as u128) as u64,
            ])
        }
        cvt::PD2PS => {
            let y = q64(b);
            let lo = sf::convert(&mut c, F64, F32, y[0] as u128) as u32;
            let hi = sf::convert(&mut c, F64, F32, y[1] as u128) as u32;
            from_d32([lo, hi, 0, 0])
        }
        cvt::SS2SD => {
            let v = sf::convert(&mut c, F32, F64, b & 0xFFFF_FFFF) as u64;
            (a & !(u64::MAX as u128)) | v as u128
        }
        cvt::SD2SS => {
            let v = sf::convert(&mut c, F64, F32, b & u64::MAX as u128) as u32;
            (a & !0xFFFF_FFFFu128) | v as u128
        }
        cvt::DQ2PS => {
            let y = d32(b);
            from_d32(std::array::from_fn(|i| {
                sf::from_i64(&mut c, F32, y[i] as i32 as i64) as u32
            }))
        }
        cvt::PS2DQ | cvt::TPS2DQ => {
            let rc = if C == cvt::TPS2DQ { RZ } else { rc };
            let y = d32(b);
            from_d32(std::array::from_fn(|i| {
                sf::to_int(&mut c, F32, y[i] as u128, rc, 32) as u32
            }))
        }
        cvt::DQ2PD => {
            let y = d32(b);
            from_q64([
                sf::from_i64(&mut c, F64, y[0] as i32 as i64) as u64,
                sf::from_i64(&mut c, F64, y[1] as i32 as i64) as u64,
            ])
        }
        _ => {
            let rc = if C == cvt::TPD2DQ { RZ } else { rc };
            let y = q64(b);
            let lo = sf::to_int(&mut c, F64, y[0] as u128, rc, 32) as u32;
            let hi = sf::to_int(&mut c, F64, y[1] as u128, rc, 32) as u32;
            from_d32([lo, hi, 0, 0])
        }
    };
    mxcsr_update(cpu, c.flags)?;
    cpu.fpu.xmm[r] = v;
    Ok(())
}

/// CVTSI2SS/CVTSI2SD xmm, r/m32|r/m64. `K` is SS or SD.
pub(super) fn cvtsi2s<const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let (v, size) = match d.i.op_kind(1) {
        OpKind::Register => {
            let reg = d.i.op_register(1);
            (cpu.reg(reg), reg.size())
        }
        _ => {
            let size = d.i.memory_size().size();
            let ea = cpu.ea(d);
            (cpu.read(d.seg, ea, size)?, size)
        }
    };
    let i = if size == 8 {
        v as i64
    } else {
        v as u32 as i32 as i64
    };
    let mut c = Ctx::sse(cpu.fpu.mxcsr);
    let r = xi(d, 0);
    let a = cpu.fpu.xmm[r];
    let res = if K == SS {
        (a & !0xFFFF_FFFFu128) | sf::from_i64(&mut c, F32, i)
    } else {
        (a & !(u64::MAX as u128)) | sf::from_i64(&mut c, F64, i)
    };
    mxcsr_update(cpu, c.flags)?;
    cpu.fpu.xmm[r] = res;
    Ok(())
}

/// CVTSS2SI/CVTTSS2SI/CVTSD2SI/CVTTSD2SI r32|r64, xmm/mN.
pub(super) fn cvts2si<const K: u8, const TRUNC: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let dst = d.i.op_register(0);
    let bits = dst.size() as u32 * 8;
    let mut c = Ctx::sse(cpu.fpu.mxcsr);
    let rc = if TRUNC { RZ } else { c.rc };
    let v = if K == SS {
        sf::to_int(&mut c, F32, b & 0xFFFF_FFFF, rc, bits)
    } else {
        sf::to_int(&mut c, F64, b & u64::MAX as u128, rc, bits)
    };
    mxcsr_update(cpu, c.flags)?;
    cpu.set_reg(dst, v as u64);
    Ok(())
}

/// CVTPI2PS xmm, mm/m64 (`K` = PS: low two lanes replaced) and CVTPI2PD
/// xmm, mm/m64 (`K` = PD).
pub(super) fn cvtpi2p<const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    if d.i.op_kind(1) == OpKind::Register {
        mmx_enter(cpu)?;
    }
    let s = msrc(cpu, d, 1)?;
    let (i0, i1) = (s as u32 as i32 as i64, (s >> 32) as u32 as i32 as i64);
    let mut c = Ctx::sse(cpu.fpu.mxcsr);
    let r = xi(d, 0);
    let v = if K == PS {
        let lo =
            sf::from_i64(&mut c, F32, i0) as u64 | (sf::from_i64(&mut c, F32, i1) as u64) << 32;
        (cpu.fpu.xmm[r] & !(u64::MAX as u128)) | lo as u128
    } else {
        from_q64([
            sf::from_i64(&mut c, F64, i0) as u64,
            sf::from_i64(&mut c, F64, i1) as u64,
        ])
    };
    mxcsr_update(cpu, c.flags)?;
    cpu.fpu.xmm[r] = v;
    Ok(())
}

/// CVTPS2PI/CVTTPS2PI mm, xmm/m64 and CVTPD2PI/CVTTPD2PI mm, xmm/m128.
pub(super) fn cvtp2pi<const K: u8, const TRUNC: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    mmx_enter(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let mut c = Ctx::sse(cpu.fpu.mxcsr);
    let rc = if TRUNC { RZ } else { c.rc };
    let (lo, hi) = if K == PS {
        let y = d32(b);
        (
            sf::to_int(&mut c, F32, y[0] as u128, rc, 32),
            sf::to_int(&mut c, F32, y[1] as u128, rc, 32),
        )
    } else {
        let y = q64(b);
        (
            sf::to_int(&mut c, F64, y[0] as u128, rc, 32),
            sf::to_int(&mut c, F64, y[1] as u128, rc, 32),
        )
    };
    mxcsr_update(cpu, c.flags)?;
    cpu.fpu
        .set_mm(mi(d, 0), lo as u32 as u64 | (hi as u32 as u64) << 32);
    Ok(())
}
