//! The x87 FPU (SDM Vol. 1, chapter 8; Vol. 2, F* instructions).
//!
//! Registers hold raw 80-bit values, so loads, stores, exchanges and
//! FXSAVE/FSAVE images round-trip bit for bit. The basic arithmetic
//! (FADD, FSUB, FMUL, FDIV, FSQRT and their variants), conversions,
//! compares, FRNDINT, FSCALE, FXTRACT, FPREM and FPREM1 are exact in
//! 80-bit extended precision through `softfloat`, honouring precision and
//! rounding control and setting IE/DE/ZE/OE/UE/PE, SF and C1.
//!
//! Precision loss: the transcendental instructions (F2XM1, FYL2X,
//! FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS) are computed with the
//! host's f64 functions and widened back, so their results carry at
//! most 53 significant bits (real hardware gives about 64) and C1 is not
//! meaningful for them.
//!
//! Exceptions: masked exceptions give the IEEE default results. An
//! unmasked exception sets ES and B; an unmasked invalid-operation,
//! denormal or divide-by-zero leaves the destination and stack
//! unchanged (an unmasked overflow or underflow still stores the
//! rounded result: the 2^24576 re-biasing is not modelled). The next
//! waiting x87 instruction (or FWAIT, or an MMX instruction) then raises
//! #MF if CR0.NE is set; with CR0.NE clear the external FERR# path is not
//! modelled and the exception is ignored. FOP is recorded as zero.

use std::cmp::Ordering;

use iced_x86::{Code, OpKind, Register};

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::fpu::exc::{DE, IE, PE, ZE};
use crate::fpu::{fsw, F80};
use crate::state::rflags::{ARITH, CF, PF, ZF};
use crate::state::{cr0, Core, Mode, SegReg};
use crate::vector;

use super::softfloat::{self as sf, Ctx, Fmt, Un, Val, F32, F64, RZ, X80};
use super::Handler;

const X: Fmt = X80;
/// +1.0 in the 80-bit format.
const ONE: u128 = (0x3FFF << 64) | (1 << 63);
/// The stack-fault flag, carried in `Ctx::flags` beside the exceptions.
const SF: u32 = fsw::SF as u32;

// ---------------------------------------------------------------------
// Checks, stack and status-word helpers.

/// The checks every x87 instruction makes: #NM if CR0.EM or CR0.TS; for
/// waiting instructions, #MF for a pending unmasked exception.
#[inline]
fn check(cpu: &Core, wait: bool) -> Res {
    if cpu.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Fault::new(vector::NM));
    }
    if wait {
        pending(cpu)?;
    }
    Ok(())
}

/// #MF for a pending unmasked x87 exception (CR0.NE set).
#[inline]
pub(super) fn pending(cpu: &Core) -> Res {
    if cpu.fpu.fsw & fsw::ES != 0 && cpu.cr0 & cr0::NE != 0 {
        return Err(Fault::new(vector::MF));
    }
    Ok(())
}

/// Records the instruction (and data) pointer of a non-control
/// instruction.
#[inline]
fn note(cpu: &mut Core, d: &Decoded) {
    cpu.fpu.fip = d.i.ip();
    cpu.fpu.fcs = cpu.seg[SegReg::Cs as usize].selector;
    cpu.fpu.fop = 0;
    if has_mem(d) {
        cpu.fpu.fdp = cpu.ea(d);
        cpu.fpu.fds = cpu.seg[d.seg as usize].selector;
    }
}

#[inline]
fn has_mem(d: &Decoded) -> bool {
    (0..d.i.op_count()).any(|n| d.i.op_kind(n) == OpKind::Memory)
}

/// The largest ST(i) index among the register operands (ST(1) when the
/// instruction names none, as for FCOMPP).
fn sti(d: &Decoded) -> usize {
    let mut best = None;
    for n in 0..d.i.op_count() {
        if d.i.op_kind(n) == OpKind::Register {
            let r = d.i.op_register(n);
            if (Register::ST0..=Register::ST7).contains(&r) {
                let k = r as usize - Register::ST0 as usize;
                best = Some(best.map_or(k, |b: usize| b.max(k)));
            }
        }
    }
    best.unwrap_or(1)
}

fn empty(cpu: &Core, i: usize) -> bool {
    cpu.fpu.ftag & (1 << cpu.fpu.phys(i)) == 0
}

/// ST(i), or `None` (stack underflow, flagged in `ctx`) if empty.
fn get(cpu: &Core, ctx: &mut Ctx, i: usize) -> Option<u128> {
    if empty(cpu, i) {
        ctx.flags |= IE | SF;
        ctx.up = false;
        None
    } else {
        Some(cpu.fpu.st[cpu.fpu.phys(i)].bits())
    }
}

fn set(cpu: &mut Core, i: usize, v: u128) {
    let p = cpu.fpu.phys(i);
    cpu.fpu.st[p] = F80::from_bits(v);
    cpu.fpu.ftag |= 1 << p;
}

fn pop(cpu: &mut Core) {
    let p = cpu.fpu.top();
    cpu.fpu.ftag &= !(1 << p);
    cpu.fpu.set_top(p + 1);
}

/// Pushes `v`; a full stack is a stack overflow (indefinite pushed when
/// masked). Returns false if nothing was pushed.
fn push(cpu: &mut Core, ctx: &mut Ctx, v: u128) -> bool {
    let t = (cpu.fpu.top() + 7) & 7;
    let v = if cpu.fpu.ftag & (1 << t) != 0 {
        ctx.flags |= IE | SF;
        ctx.up = true;
        if cpu.fpu.fcw & 1 == 0 {
            return false;
        }
        X.default_nan()
    } else {
        v
    };
    cpu.fpu.set_top(t);
    cpu.fpu.st[t] = F80::from_bits(v);
    cpu.fpu.ftag |= 1 << t;
    true
}

/// Folds an operation's exceptions into FSW (C1 from rounding or the
/// stack fault direction). Returns false when an unmasked invalid,
/// denormal or divide-by-zero exception means the destination must be
/// left alone.
fn commit(cpu: &mut Core, ctx: &Ctx) -> bool {
    let f = &mut cpu.fpu;
    let flags = (ctx.flags & 0x7F) as u16;
    f.fsw &= !fsw::C1;
    if (flags & fsw::SF != 0 || flags & PE as u16 != 0) && ctx.up {
        f.fsw |= fsw::C1;
    }
    f.fsw |= flags;
    let unmasked = flags & !f.fcw & 0x3F;
    if unmasked != 0 {
        f.fsw |= fsw::ES | fsw::B;
    }
    unmasked & (IE | DE | ZE) as u16 == 0
}

fn set_cc(cpu: &mut Core, c3: bool, c2: bool, c1: bool, c0: bool) {
    let mut v = 0;
    if c0 {
        v |= fsw::C0;
    }
    if c1 {
        v |= fsw::C1;
    }
    if c2 {
        v |= fsw::C2;
    }
    if c3 {
        v |= fsw::C3;
    }
    cpu.fpu.fsw = (cpu.fpu.fsw & !fsw::CC) | v;
}

/// Arithmetic context (precision control applies).
fn actx(cpu: &Core) -> Ctx {
    Ctx::x87(cpu.fpu.fcw)
}

/// Context for conversions and other operations precision control does
/// not affect.
fn cctx(cpu: &Core) -> Ctx {
    Ctx {
        prec: 64,
        ..Ctx::x87(cpu.fpu.fcw)
    }
}

// ---------------------------------------------------------------------
// Memory operand forms.

const M32: u8 = 0;
const M64: u8 = 1;
const I16: u8 = 2;
const I32: u8 = 3;
const I64: u8 = 4;
const M80: u8 = 5;
/// Register forms: destination ST(0), source ST(i) ...
const ST0_STI: u8 = 6;
/// ... and destination ST(i), source ST(0).
const STI_ST0: u8 = 7;

fn mem_size(form: u8) -> usize {
    match form {
        M32 | I32 => 4,
        M64 | I64 => 8,
        I16 => 2,
        _ => 10,
    }
}

/// Reads a memory operand of `form` as an 80-bit value (conversion
/// exceptions in `ctx`).
fn load_mem(cpu: &mut Core, d: &Decoded, ctx: &mut Ctx, form: u8) -> Res<u128> {
    let ea = cpu.ea(d);
    Ok(match form {
        M80 => {
            let lo = cpu.read(d.seg, ea, 8)?;
            let hi = cpu.read(d.seg, ea.wrapping_add(8) & d.amask, 2)?;
            lo as u128 | (hi as u128) << 64
        }
        M32 => sf::convert(ctx, F32, X, cpu.read(d.seg, ea, 4)? as u128),
        M64 => sf::convert(ctx, F64, X, cpu.read(d.seg, ea, 8)? as u128),
        I16 => sf::from_i64(ctx, X, cpu.read(d.seg, ea, 2)? as u16 as i16 as i64),
        I32 => sf::from_i64(ctx, X, cpu.read(d.seg, ea, 4)? as u32 as i32 as i64),
        _ => sf::from_i64(ctx, X, cpu.read(d.seg, ea, 8)? as i64),
    })
}

fn store_mem(cpu: &mut Core, d: &Decoded, size: usize, v: u128) -> Res {
    let ea = cpu.ea(d);
    if size == 10 {
        cpu.probe_write(d.seg, ea, 10)?;
        cpu.write(d.seg, ea, 8, v as u64)?;
        return cpu.write(d.seg, ea.wrapping_add(8) & d.amask, 2, (v >> 64) as u64);
    }
    cpu.write(d.seg, ea, size, v as u64)
}

// ---------------------------------------------------------------------
// Loads and stores.

/// FLD m32fp/m64fp/m80fp, FLD ST(i), FILD m16/m32/m64, FBLD m80.
fn fld<const F: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let v = if F == ST0_STI {
        let i = sti(d);
        get(cpu, &mut ctx, i).unwrap_or(X.default_nan())
    } else {
        load_mem(cpu, d, &mut ctx, F)?
    };
    if ctx.flags & (IE | DE) & !(cpu.fpu.fcw as u32) != 0 {
        commit(cpu, &ctx);
        return Ok(());
    }
    push(cpu, &mut ctx, v);
    commit(cpu, &ctx);
    Ok(())
}

fn fbld(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let ea = cpu.ea(d);
    let lo = cpu.read(d.seg, ea, 8)?;
    let hi = cpu.read(d.seg, ea.wrapping_add(8) & d.amask, 2)?;
    let mut mag: u128 = 0;
    for k in (0..9).rev() {
        let byte = if k < 8 {
            (lo >> (8 * k)) as u8
        } else {
            hi as u8
        };
        mag = mag * 100 + (byte >> 4) as u128 * 10 + (byte & 15) as u128;
    }
    let neg = hi & 0x8000 != 0;
    let mut ctx = cctx(cpu);
    let v = if mag == 0 {
        X.zero(neg)
    } else {
        sf::from_int(&mut ctx, X, neg, mag)
    };
    push(cpu, &mut ctx, v);
    commit(cpu, &ctx);
    Ok(())
}

/// FST/FSTP m32fp/m64fp/m80fp and ST(i).
fn fst<const F: u8, const POP: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let src = get(cpu, &mut ctx, 0);
    let v = match (F, src) {
        (ST0_STI, s) => s.unwrap_or(X.default_nan()),
        (M80, s) => s.unwrap_or(X.default_nan()),
        (M32, Some(s)) => sf::convert(&mut ctx, X, F32, s),
        (M32, None) => F32.default_nan(),
        (_, Some(s)) => sf::convert(&mut ctx, X, F64, s),
        (_, None) => F64.default_nan(),
    };
    // Stores do not report denormal sources.
    ctx.flags &= !DE;
    // Nothing is stored on an unmasked invalid operation; memory faults
    // must come before any state change.
    let masked = ctx.flags & IE & !(cpu.fpu.fcw as u32) == 0;
    if masked && F != ST0_STI {
        store_mem(cpu, d, mem_size(F), v)?;
    }
    if !commit(cpu, &ctx) {
        return Ok(());
    }
    if F == ST0_STI {
        set(cpu, sti(d), v);
    }
    if POP {
        pop(cpu);
    }
    Ok(())
}

/// FIST/FISTP m16/m32/m64 and FISTTP (`TRUNC`).
fn fist<const F: u8, const POP: bool, const TRUNC: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let size = mem_size(F);
    let bits = size as u32 * 8;
    let rc = if TRUNC { RZ } else { ctx.rc };
    let v = match get(cpu, &mut ctx, 0) {
        Some(s) => sf::to_int(&mut ctx, X, s, rc, bits),
        None => i64::MIN >> (64 - bits),
    };
    if ctx.flags & IE & !(cpu.fpu.fcw as u32) == 0 {
        store_mem(cpu, d, size, v as u64 as u128)?;
    }
    if commit(cpu, &ctx) && POP {
        pop(cpu);
    }
    Ok(())
}

/// FBSTP m80bcd.
fn fbstp(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let indefinite: u128 = 0xFFFF_C000_0000_0000_0000;
    let v = match get(cpu, &mut ctx, 0) {
        None => indefinite,
        Some(s) => match sf::unpack(&ctx, X, s) {
            Val::Zero(neg) => (neg as u128) << 79,
            Val::Fin(u, den) => {
                if den {
                    ctx.flags |= DE;
                }
                let rc = ctx.rc;
                let mut c2 = ctx;
                let i = sf::round_to_integral(&mut c2, X, s, rc, true);
                ctx.flags |= c2.flags & PE;
                ctx.up = c2.up;
                let mag = match sf::unpack(&ctx, X, i) {
                    Val::Fin(m, _) if m.exp < 64 => (m.sig >> (127 - m.exp)) as u64,
                    Val::Zero(_) => 0,
                    _ => u64::MAX,
                };
                if mag > 999_999_999_999_999_999 {
                    ctx.flags |= IE;
                    ctx.flags &= !PE;
                    indefinite
                } else {
                    let mut r: u128 = 0;
                    let mut m = mag;
                    for k in 0..18 {
                        r |= ((m % 10) as u128) << (4 * k);
                        m /= 10;
                    }
                    r | (u.neg as u128) << 79
                }
            }
            _ => {
                ctx.flags |= IE;
                indefinite
            }
        },
    };
    if ctx.flags & IE & !(cpu.fpu.fcw as u32) == 0 {
        store_mem(cpu, d, 10, v)?;
    }
    if commit(cpu, &ctx) {
        pop(cpu);
    }
    Ok(())
}

/// FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: the constants are
/// held to 128 bits and rounded with FCW.RC.
fn fldconst<const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let v = match K {
        0 => ONE,
        1 => sf::round_pack(&mut ctx, X, false, 1, 0xd49a784bcd1b8afe492bf6ff4dafdb4c),
        2 => sf::round_pack(&mut ctx, X, false, 0, 0xb8aa3b295c17f0bbbe87fed0691d3e88),
        3 => sf::round_pack(&mut ctx, X, false, 1, 0xc90fdaa22168c234c4c6628b80dc1cd1),
        4 => sf::round_pack(&mut ctx, X, false, -2, 0x9a209a84fbcff7988f8959ac0b7c9178),
        5 => sf::round_pack(&mut ctx, X, false, -1, 0xb17217f7d1cf79abc9e3b39803f2f6af),
        _ => 0,
    };
    // Loading a constant is exact as far as the exception flags go.
    ctx.flags &= !PE;
    push(cpu, &mut ctx, v);
    commit(cpu, &ctx);
    Ok(())
}

// ---------------------------------------------------------------------
// Arithmetic.

const ADD: u8 = 0;
const MUL: u8 = 1;
const SUB: u8 = 2;
const SUBR: u8 = 3;
const DIV: u8 = 4;
const DIVR: u8 = 5;

fn compute(ctx: &mut Ctx, o: u8, a: u128, b: u128) -> u128 {
    match o {
        ADD => sf::add(ctx, X, a, b, false),
        MUL => sf::mul(ctx, X, a, b),
        SUB => sf::add(ctx, X, a, b, true),
        SUBR => sf::add(ctx, X, b, a, true),
        DIV => sf::div(ctx, X, a, b),
        _ => sf::div(ctx, X, b, a),
    }
}

/// FADD/FMUL/FSUB/FSUBR/FDIV/FDIVR in every form; `POP` for the P forms.
fn farith<const O: u8, const F: u8, const POP: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = actx(cpu);
    let (dst, a, b) = match F {
        ST0_STI => {
            let i = sti(d);
            let a = get(cpu, &mut ctx, 0);
            (0, a, get(cpu, &mut ctx, i))
        }
        STI_ST0 => {
            let i = sti(d);
            let a = get(cpu, &mut ctx, i);
            (i, a, get(cpu, &mut ctx, 0))
        }
        _ => {
            let mut lc = cctx(cpu);
            let b = load_mem(cpu, d, &mut lc, F)?;
            ctx.flags |= lc.flags & !DE;
            ctx.den = lc.flags & DE != 0;
            (0, get(cpu, &mut ctx, 0), Some(b))
        }
    };
    let r = match (a, b) {
        (Some(a), Some(b)) => compute(&mut ctx, O, a, b),
        _ => X.default_nan(),
    };
    if commit(cpu, &ctx) {
        set(cpu, dst, r);
        if POP {
            pop(cpu);
        }
    }
    Ok(())
}

/// One-operand operations on ST(0).
const SQRT: u8 = 0;
const ABS: u8 = 1;
const CHS: u8 = 2;
const RNDINT: u8 = 3;

fn funary<const O: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = actx(cpu);
    let r = match get(cpu, &mut ctx, 0) {
        None => X.default_nan(),
        Some(a) => match O {
            SQRT => sf::sqrt(&mut ctx, X, a),
            ABS => X.abs(a),
            CHS => X.neg(a),
            _ => {
                let rc = ctx.rc;
                sf::round_to_integral(&mut ctx, X, a, rc, true)
            }
        },
    };
    if commit(cpu, &ctx) {
        set(cpu, 0, r);
    }
    Ok(())
}

// ---------------------------------------------------------------------
// Compares.

fn cc_of(o: Option<Ordering>) -> (bool, bool, bool) {
    match o {
        None => (true, true, true),
        Some(Ordering::Greater) => (false, false, false),
        Some(Ordering::Less) => (false, false, true),
        Some(Ordering::Equal) => (true, false, false),
    }
}

/// FCOM/FCOMP/FCOMPP/FUCOM/FUCOMP/FUCOMPP/FICOM/FICOMP and FTST (form
/// `M80`, compare with +0.0). `POPS` pops 0-2 times; `SIG` is the
/// signalling (FCOM) flavour.
fn fcom<const F: u8, const POPS: u8, const SIG: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let a = get(cpu, &mut ctx, 0);
    let b = match F {
        ST0_STI => get(cpu, &mut ctx, sti(d)),
        M80 => Some(0),
        _ => {
            let mut lc = cctx(cpu);
            let v = load_mem(cpu, d, &mut lc, F)?;
            ctx.flags |= lc.flags & !(IE | DE);
            ctx.den = lc.flags & DE != 0;
            Some(v)
        }
    };
    let o = match (a, b) {
        (Some(a), Some(b)) => sf::compare(&mut ctx, X, a, b, SIG),
        _ => None,
    };
    if commit(cpu, &ctx) {
        let (c3, c2, c0) = cc_of(o);
        set_cc(cpu, c3, c2, false, c0);
        for _ in 0..POPS {
            pop(cpu);
        }
    }
    Ok(())
}

/// FCOMI/FCOMIP/FUCOMI/FUCOMIP: ZF, PF, CF; OF, SF, AF cleared.
fn fcomi<const POP: bool, const SIG: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let a = get(cpu, &mut ctx, 0);
    let b = get(cpu, &mut ctx, sti(d));
    let o = match (a, b) {
        (Some(a), Some(b)) => sf::compare(&mut ctx, X, a, b, SIG),
        _ => None,
    };
    if commit(cpu, &ctx) {
        let f = match o {
            None => ZF | PF | CF,
            Some(Ordering::Greater) => 0,
            Some(Ordering::Less) => CF,
            Some(Ordering::Equal) => ZF,
        };
        cpu.rflags = (cpu.rflags & !ARITH) | f;
        if POP {
            pop(cpu);
        }
    }
    Ok(())
}

/// FXAM: classify ST(0) into C3, C2, C0; C1 is its sign.
fn fxam(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let r = cpu.fpu.st[cpu.fpu.phys(0)];
    let neg = r.se & 0x8000 != 0;
    let (c3, c2, c0) = if empty(cpu, 0) {
        (true, false, true)
    } else {
        let ctx = cctx(cpu);
        match sf::unpack(&ctx, X, r.bits()) {
            Val::Bad => (false, false, false),
            Val::NaN => (false, false, true),
            Val::Inf(_) => (false, true, true),
            Val::Zero(_) => (true, false, false),
            Val::Fin(_, true) => (true, true, false),
            Val::Fin(_, false) => (false, true, false),
        }
    };
    set_cc(cpu, c3, c2, neg, c0);
    Ok(())
}

// ---------------------------------------------------------------------
// Stack manipulation.

fn fxch(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let i = sti(d);
    let mut ctx = cctx(cpu);
    let a = get(cpu, &mut ctx, 0);
    let b = get(cpu, &mut ctx, i);
    if !commit(cpu, &ctx) {
        return Ok(());
    }
    let (a, b) = (a.unwrap_or(X.default_nan()), b.unwrap_or(X.default_nan()));
    set(cpu, 0, b);
    set(cpu, i, a);
    Ok(())
}

/// FCMOVcc ST(0), ST(i).
fn fcmov(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    use crate::state::rflags;
    let f = cpu.rflags;
    let cond = match d.i.code() {
        Code::Fcmovb_st0_sti => f & rflags::CF != 0,
        Code::Fcmove_st0_sti => f & rflags::ZF != 0,
        Code::Fcmovbe_st0_sti => f & (rflags::CF | rflags::ZF) != 0,
        Code::Fcmovu_st0_sti => f & rflags::PF != 0,
        Code::Fcmovnb_st0_sti => f & rflags::CF == 0,
        Code::Fcmovne_st0_sti => f & rflags::ZF == 0,
        Code::Fcmovnbe_st0_sti => f & (rflags::CF | rflags::ZF) == 0,
        _ => f & rflags::PF == 0,
    };
    let i = sti(d);
    let mut ctx = cctx(cpu);
    let a = get(cpu, &mut ctx, 0);
    let b = get(cpu, &mut ctx, i);
    if !commit(cpu, &ctx) {
        return Ok(());
    }
    if a.is_none() || b.is_none() {
        set(cpu, 0, X.default_nan());
    } else if cond {
        set(cpu, 0, b.unwrap_or(0));
    }
    Ok(())
}

/// FFREE ST(i) (`POP`: FFREEP).
fn ffree<const POP: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let p = cpu.fpu.phys(sti_or0(d));
    cpu.fpu.ftag &= !(1 << p);
    if POP {
        pop(cpu);
    }
    Ok(())
}

fn sti_or0(d: &Decoded) -> usize {
    if d.i.op_count() == 0 {
        0
    } else {
        sti(d)
    }
}

/// FINCSTP (`UP`) and FDECSTP.
fn fstp_move<const UP: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let t = cpu.fpu.top();
    cpu.fpu.set_top(if UP { t + 1 } else { t + 7 });
    cpu.fpu.fsw &= !fsw::C1;
    Ok(())
}

fn fnop(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    Ok(())
}

// ---------------------------------------------------------------------
// FSCALE, FXTRACT, FPREM, FPREM1.

fn fscale(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = actx(cpu);
    ctx.prec = 64;
    let (a, b) = (get(cpu, &mut ctx, 0), get(cpu, &mut ctx, 1));
    let r = match (a, b) {
        (Some(a), Some(b)) => scale(&mut ctx, a, b),
        _ => X.default_nan(),
    };
    if commit(cpu, &ctx) {
        set(cpu, 0, r);
    }
    Ok(())
}

fn scale(ctx: &mut Ctx, a: u128, b: u128) -> u128 {
    let va = sf::unpack(ctx, X, a);
    let vb = sf::unpack(ctx, X, b);
    if matches!(va, Val::NaN | Val::Bad) || matches!(vb, Val::NaN | Val::Bad) {
        return sf::propagate(ctx, X, &[a, b]);
    }
    if matches!(
        (va, vb),
        (Val::Zero(_), Val::Inf(false)) | (Val::Inf(_), Val::Inf(true))
    ) {
        ctx.flags |= IE;
        return X.default_nan();
    }
    // DE is reported only for operations that are not invalid.
    if matches!(va, Val::Fin(_, true)) || matches!(vb, Val::Fin(_, true)) {
        ctx.flags |= DE;
    }
    match (va, vb) {
        (Val::Zero(s), _) => X.zero(s),
        (Val::Inf(s), _) => X.inf(s),
        (Val::Fin(u, _), Val::Inf(neg)) => {
            if neg {
                X.zero(u.neg)
            } else {
                X.inf(u.neg)
            }
        }
        (Val::Fin(u, _), Val::Zero(_)) => sf::pack_un(ctx, X, u),
        (Val::Fin(u, _), Val::Fin(n, _)) => {
            // trunc(ST(1)), saturated well beyond the exponent range.
            let k = if n.exp > 20 {
                1 << 20
            } else if n.exp < 0 {
                0
            } else {
                (n.sig >> (127 - n.exp)) as i32
            };
            sf::scale(ctx, X, u, if n.neg { -k } else { k })
        }
        _ => X.default_nan(),
    }
}

fn fxtract(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let Some(a) = get(cpu, &mut ctx, 0) else {
        if commit(cpu, &ctx) {
            set(cpu, 0, X.default_nan());
            push(cpu, &mut ctx, X.default_nan());
        }
        return Ok(());
    };
    let (e, s) = match sf::unpack(&ctx, X, a) {
        Val::NaN | Val::Bad => {
            let n = sf::propagate(&mut ctx, X, &[a]);
            (n, n)
        }
        Val::Zero(neg) => {
            ctx.flags |= ZE;
            (X.inf(true), X.zero(neg))
        }
        Val::Inf(neg) => (X.inf(false), X.inf(neg)),
        Val::Fin(u, den) => {
            if den {
                ctx.flags |= DE;
            }
            let e = sf::from_i64(&mut ctx, X, u.exp as i64);
            let s = sf::pack_un(&mut ctx, X, Un { exp: 0, ..u });
            (e, s)
        }
    };
    if commit(cpu, &ctx) {
        set(cpu, 0, e);
        let mut c2 = cctx(cpu);
        push(cpu, &mut c2, s);
        commit(cpu, &c2);
    }
    Ok(())
}

/// FPREM (`NEAREST` false: truncated quotient) and FPREM1 (IEEE
/// remainder). Partial remainders reduce the exponent difference by up
/// to 63 per execution and set C2.
fn fprem<const NEAREST: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let (a, b) = (get(cpu, &mut ctx, 0), get(cpu, &mut ctx, 1));
    let (Some(a), Some(b)) = (a, b) else {
        if commit(cpu, &ctx) {
            set(cpu, 0, X.default_nan());
        }
        return Ok(());
    };
    let va = sf::unpack(&ctx, X, a);
    let vb = sf::unpack(&ctx, X, b);
    let mut cc = None;
    let r = if matches!(va, Val::NaN | Val::Bad) || matches!(vb, Val::NaN | Val::Bad) {
        sf::propagate(&mut ctx, X, &[a, b])
    } else {
        let invalid = matches!((va, vb), (Val::Inf(_), _) | (_, Val::Zero(_)));
        // DE is reported only for operations that are not invalid.
        if !invalid && (matches!(va, Val::Fin(_, true)) || matches!(vb, Val::Fin(_, true))) {
            ctx.flags |= DE;
        }
        match (va, vb) {
            _ if invalid => {
                ctx.flags |= IE;
                X.default_nan()
            }
            (Val::Zero(_), _) | (_, Val::Inf(_)) => {
                cc = Some((0u64, false));
                a
            }
            (Val::Fin(x, _), Val::Fin(y, _)) => {
                let (r, q, partial) = remainder(&mut ctx, x, y, NEAREST);
                cc = Some((q, partial));
                r
            }
            _ => X.default_nan(),
        }
    };
    if commit(cpu, &ctx) {
        set(cpu, 0, r);
        if let Some((q, partial)) = cc {
            if partial {
                set_cc(cpu, false, true, false, false);
            } else {
                set_cc(cpu, q & 2 != 0, false, q & 1 != 0, q & 4 != 0);
            }
        }
    }
    Ok(())
}

/// (remainder, low quotient bits, partial) of finite nonzero x / y.
fn remainder(ctx: &mut Ctx, x: Un, y: Un, nearest: bool) -> (u128, u64, bool) {
    let sa = x.sig >> 64;
    let sb = y.sig >> 64;
    let dexp = x.exp - y.exp;
    // Work as integers: x = A * 2^base, y = B * 2^base.
    let (a, b, base, partial) = if dexp >= 64 {
        const N: i32 = 63;
        (sa << N, sb, y.exp - 63 + (dexp - N), true)
    } else if dexp >= 0 {
        (sa << dexp, sb, y.exp - 63, false)
    } else if nearest && dexp == -1 {
        (sa, sb << 1, x.exp - 63, false)
    } else {
        // |x| < |y| (or < |y|/2 for FPREM1): x is the remainder.
        let r = sf::pack_un(ctx, X, x);
        return (r, 0, false);
    };
    let mut q = a / b;
    let mut r = a % b;
    let mut neg = x.neg;
    if nearest && !partial && (2 * r > b || (2 * r == b && q & 1 != 0)) {
        r = b - r;
        q += 1;
        neg = !neg;
    }
    if r == 0 {
        return (X.zero(x.neg), q as u64, partial);
    }
    let lz = r.leading_zeros();
    let v = sf::round_pack(ctx, X, neg, base + 127 - lz as i32, r << lz);
    (v, q as u64, partial)
}

// ---------------------------------------------------------------------
// Transcendental functions (double precision, see the module comment).

const F2XM1: u8 = 0;
const FYL2X: u8 = 1;
const FYL2XP1: u8 = 2;
const FPTAN: u8 = 3;
const FPATAN: u8 = 4;
const FSIN: u8 = 5;
const FCOS: u8 = 6;
const FSINCOS: u8 = 7;

fn ftrans<const O: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    note(cpu, d);
    let mut ctx = cctx(cpu);
    let two = matches!(O, FYL2X | FYL2XP1 | FPATAN);
    let a = get(cpu, &mut ctx, 0);
    let b = if two { get(cpu, &mut ctx, 1) } else { Some(0) };
    let (Some(a), Some(b)) = (a, b) else {
        if commit(cpu, &ctx) {
            if two {
                set(cpu, 1, X.default_nan());
                pop(cpu);
            } else {
                set(cpu, 0, X.default_nan());
                if matches!(O, FPTAN | FSINCOS) {
                    push(cpu, &mut ctx, X.default_nan());
                }
            }
        }
        return Ok(());
    };
    let ops: &[u128] = if two { &[a, b] } else { &[a] };
    let nan = ops
        .iter()
        .any(|&v| matches!(sf::unpack(&ctx, X, v), Val::NaN | Val::Bad));
    if ops.iter().any(|&v| X.is_denormal(v)) {
        ctx.flags |= DE;
    }
    let x = sf::to_host(X, a);
    let y = sf::to_host(X, b);
    // Out-of-range arguments of the trigonometric functions: C2 set,
    // ST(0) unchanged.
    if matches!(O, FPTAN | FSIN | FCOS | FSINCOS)
        && !nan
        && x.is_finite()
        && x.abs() >= (1u64 << 63) as f64
    {
        cpu.fpu.fsw |= fsw::C2;
        return Ok(());
    }
    let host = |ctx: &mut Ctx, v: f64| -> u128 {
        if v.is_nan() {
            ctx.flags |= IE;
            X.default_nan()
        } else {
            let r = sf::from_host(ctx, X, v);
            if v != 0.0 && v.is_finite() {
                ctx.flags |= PE;
            }
            r
        }
    };
    let (r0, r1) = if nan {
        let n = sf::propagate(&mut ctx, X, ops);
        (n, n)
    } else {
        match O {
            F2XM1 => (host(&mut ctx, (x * std::f64::consts::LN_2).exp_m1()), 0),
            FYL2X => {
                if x == 0.0 && y.is_finite() && y != 0.0 {
                    ctx.flags |= ZE;
                }
                if x < 0.0 {
                    ctx.flags |= IE;
                    (X.default_nan(), 0)
                } else {
                    (host(&mut ctx, y * x.log2()), 0)
                }
            }
            FYL2XP1 => (host(&mut ctx, y * x.ln_1p() / std::f64::consts::LN_2), 0),
            FPATAN => (host(&mut ctx, y.atan2(x)), 0),
            FPTAN => (host(&mut ctx, x.tan()), ONE),
            FSIN => (host(&mut ctx, x.sin()), 0),
            FCOS => (host(&mut ctx, x.cos()), 0),
            _ => (host(&mut ctx, x.sin()), host(&mut ctx, x.cos())),
        }
    };
    cpu.fpu.fsw &= !fsw::C2;
    if !commit(cpu, &ctx) {
        return Ok(());
    }
    match O {
        FYL2X | FYL2XP1 | FPATAN => {
            set(cpu, 1, r0);
            pop(cpu);
        }
        FPTAN | FSINCOS => {
            set(cpu, 0, r0);
            let mut c2 = cctx(cpu);
            push(cpu, &mut c2, r1);
            commit(cpu, &c2);
        }
        _ => set(cpu, 0, r0),
    }
    Ok(())
}

// ---------------------------------------------------------------------
// Control instructions.

fn finit<const WAIT: bool>(cpu: &mut Core, _: &Decoded) -> Res {
    check(cpu, WAIT)?;
    cpu.fpu.finit();
    Ok(())
}

fn fclex<const WAIT: bool>(cpu: &mut Core, _: &Decoded) -> Res {
    check(cpu, WAIT)?;
    cpu.fpu.fsw &= !(0xFF | fsw::B);
    Ok(())
}

fn fldcw(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    let ea = cpu.ea(d);
    let v = cpu.read(d.seg, ea, 2)? as u16;
    cpu.fpu.fcw = v | 0x40;
    update_es(cpu);
    Ok(())
}

/// ES and B follow the unmasked exception flags after FCW/FSW loads.
fn update_es(cpu: &mut Core) {
    let f = &mut cpu.fpu;
    if f.fsw & !f.fcw & 0x3F != 0 {
        f.fsw |= fsw::ES | fsw::B;
    } else {
        f.fsw &= !(fsw::ES | fsw::B);
    }
}

fn fstcw<const WAIT: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, WAIT)?;
    let ea = cpu.ea(d);
    let v = cpu.fpu.fcw as u64;
    cpu.write(d.seg, ea, 2, v)
}

fn fstsw<const WAIT: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, WAIT)?;
    let v = cpu.fpu.fsw as u64;
    if d.i.op_count() > 0 && d.i.op_kind(0) == OpKind::Register {
        cpu.set_reg(Register::AX, v);
        return Ok(());
    }
    let ea = cpu.ea(d);
    cpu.write(d.seg, ea, 2, v)
}

/// FWAIT: #NM only if both CR0.MP and CR0.TS; then pending exceptions.
fn fwait(cpu: &mut Core, _: &Decoded) -> Res {
    if cpu.cr0 & (cr0::MP | cr0::TS) == cr0::MP | cr0::TS {
        return Err(Fault::new(vector::NM));
    }
    pending(cpu)
}

/// FENI, FDISI, FSETPM and friends: no-ops on a 387 and later.
fn fcontrol_nop<const WAIT: bool>(cpu: &mut Core, _: &Decoded) -> Res {
    check(cpu, WAIT)
}

/// EMMS: all registers empty.
pub(super) fn emms(cpu: &mut Core, _: &Decoded) -> Res {
    if cpu.cr0 & cr0::EM != 0 {
        return Err(Fault::UD);
    }
    if cpu.cr0 & cr0::TS != 0 {
        return Err(Fault::new(vector::NM));
    }
    pending(cpu)?;
    cpu.fpu.ftag = 0;
    Ok(())
}

fn real_env(cpu: &Core) -> bool {
    matches!(cpu.mode, Mode::Real) || cpu.rflags & crate::state::rflags::VM != 0
}

/// The FSTENV image: 14 bytes (`big` false) or 28.
fn env_bytes(cpu: &Core, big: bool) -> Vec<u8> {
    let f = &cpu.fpu;
    let tw = f.tag_word();
    let (fip, fdp, fop) = (f.fip as u32, f.fdp as u32, f.fop as u32 & 0x7FF);
    let mut out = Vec::with_capacity(28);
    if big {
        let mut w = |v: u32| out.extend_from_slice(&v.to_le_bytes());
        w(f.fcw as u32);
        w(f.fsw as u32);
        w(tw as u32);
        if real_env(cpu) {
            w(fip & 0xFFFF);
            w(fop | ((fip >> 16) << 12));
            w(fdp & 0xFFFF);
            w((fdp >> 16) << 12);
        } else {
            w(fip);
            w(f.fcs as u32 | fop << 16);
            w(fdp);
            w(f.fds as u32);
        }
    } else {
        let mut w = |v: u32| out.extend_from_slice(&(v as u16).to_le_bytes());
        w(f.fcw as u32);
        w(f.fsw as u32);
        w(tw as u32);
        if real_env(cpu) {
            w(fip);
            w(fop | ((fip >> 16) & 0xF) << 12);
            w(fdp);
            w(((fdp >> 16) & 0xF) << 12);
        } else {
            w(fip);
            w(f.fcs as u32);
            w(fdp);
            w(f.fds as u32);
        }
    }
    out
}

fn load_env(cpu: &mut Core, b: &[u8], big: bool) {
    let rd = |k: usize| -> u32 {
        if big {
            u32::from_le_bytes([b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]])
        } else {
            u16::from_le_bytes([b[2 * k], b[2 * k + 1]]) as u32
        }
    };
    let real = real_env(cpu);
    let f = &mut cpu.fpu;
    f.fcw = rd(0) as u16 | 0x40;
    f.fsw = rd(1) as u16;
    f.set_tag_word(rd(2) as u16);
    if real {
        let hi = if big { 0xFFFF } else { 0xF };
        f.fip = (rd(3) & 0xFFFF) as u64 | (((rd(4) >> 12) & hi) as u64) << 16;
        f.fop = (rd(4) & 0x7FF) as u16;
        f.fdp = (rd(5) & 0xFFFF) as u64 | (((rd(6) >> 12) & hi) as u64) << 16;
        f.fcs = 0;
        f.fds = 0;
    } else {
        f.fip = rd(3) as u64;
        f.fcs = rd(4) as u16;
        f.fop = if big {
            ((rd(4) >> 16) & 0x7FF) as u16
        } else {
            0
        };
        f.fdp = rd(5) as u64;
        f.fds = rd(6) as u16;
    }
    update_es(cpu);
}

fn env_big(d: &Decoded) -> bool {
    matches!(
        d.i.code(),
        Code::Fnstenv_m28byte
            | Code::Fstenv_m28byte
            | Code::Fldenv_m28byte
            | Code::Fnsave_m108byte
            | Code::Fsave_m108byte
            | Code::Frstor_m108byte
    )
}

fn write_bytes(cpu: &mut Core, d: &Decoded, bytes: &[u8]) -> Res {
    let ea = cpu.ea(d);
    cpu.probe_write(d.seg, ea, bytes.len())?;
    for (k, b) in bytes.iter().enumerate() {
        cpu.write(d.seg, ea.wrapping_add(k as u64) & d.amask, 1, *b as u64)?;
    }
    Ok(())
}

fn read_bytes(cpu: &mut Core, d: &Decoded, n: usize) -> Res<Vec<u8>> {
    let ea = cpu.ea(d);
    (0..n)
        .map(|k| Ok(cpu.read(d.seg, ea.wrapping_add(k as u64) & d.amask, 1)? as u8))
        .collect()
}

/// FNSTENV/FSTENV: store the environment, then mask all exceptions.
fn fstenv<const WAIT: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, WAIT)?;
    let env = env_bytes(cpu, env_big(d));
    write_bytes(cpu, d, &env)?;
    cpu.fpu.fcw |= 0x3F;
    Ok(())
}

fn fldenv(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    let big = env_big(d);
    let b = read_bytes(cpu, d, if big { 28 } else { 14 })?;
    load_env(cpu, &b, big);
    Ok(())
}

/// FNSAVE/FSAVE: environment and the eight registers in stack order,
/// then FNINIT.
fn fsave<const WAIT: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, WAIT)?;
    let mut b = env_bytes(cpu, env_big(d));
    for i in 0..8 {
        let r = cpu.fpu.st[cpu.fpu.phys(i)];
        b.extend_from_slice(&r.sig.to_le_bytes());
        b.extend_from_slice(&r.se.to_le_bytes());
    }
    write_bytes(cpu, d, &b)?;
    cpu.fpu.finit();
    Ok(())
}

fn frstor(cpu: &mut Core, d: &Decoded) -> Res {
    check(cpu, true)?;
    let big = env_big(d);
    let n = if big { 28 } else { 14 };
    let b = read_bytes(cpu, d, n + 80)?;
    load_env(cpu, &b[..n], big);
    for i in 0..8 {
        let o = n + 10 * i;
        let mut sig = [0u8; 8];
        sig.copy_from_slice(&b[o..o + 8]);
        let p = cpu.fpu.phys(i);
        cpu.fpu.st[p] = F80 {
            sig: u64::from_le_bytes(sig),
            se: u16::from_le_bytes([b[o + 8], b[o + 9]]),
        };
    }
    Ok(())
}

// ---------------------------------------------------------------------
// Dispatch.

/// The handler for an x87 instruction (or FWAIT/EMMS), if `c` is one.
pub(super) fn handler(c: Code) -> Option<Handler> {
    use Code as C;
    Some(match c {
        // Loads.
        C::Fld_m32fp => fld::<M32>,
        C::Fld_m64fp => fld::<M64>,
        C::Fld_m80fp => fld::<M80>,
        C::Fld_sti => fld::<ST0_STI>,
        C::Fild_m16int => fld::<I16>,
        C::Fild_m32int => fld::<I32>,
        C::Fild_m64int => fld::<I64>,
        C::Fbld_m80bcd => fbld,
        C::Fld1 => fldconst::<0>,
        C::Fldl2t => fldconst::<1>,
        C::Fldl2e => fldconst::<2>,
        C::Fldpi => fldconst::<3>,
        C::Fldlg2 => fldconst::<4>,
        C::Fldln2 => fldconst::<5>,
        C::Fldz => fldconst::<6>,
        // Stores.
        C::Fst_m32fp => fst::<M32, false>,
        C::Fstp_m32fp => fst::<M32, true>,
        C::Fst_m64fp => fst::<M64, false>,
        C::Fstp_m64fp => fst::<M64, true>,
        C::Fstp_m80fp => fst::<M80, true>,
        C::Fst_sti => fst::<ST0_STI, false>,
        C::Fstp_sti | C::Fstpnce_sti | C::Fstp_sti_DFD0 | C::Fstp_sti_DFD8 => fst::<ST0_STI, true>,
        C::Fist_m16int => fist::<I16, false, false>,
        C::Fistp_m16int => fist::<I16, true, false>,
        C::Fist_m32int => fist::<I32, false, false>,
        C::Fistp_m32int => fist::<I32, true, false>,
        C::Fistp_m64int => fist::<I64, true, false>,
        C::Fisttp_m16int => fist::<I16, true, true>,
        C::Fisttp_m32int => fist::<I32, true, true>,
        C::Fisttp_m64int => fist::<I64, true, true>,
        C::Fbstp_m80bcd => fbstp,
        // Arithmetic.
        C::Fadd_m32fp => farith::<ADD, M32, false>,
        C::Fmul_m32fp => farith::<MUL, M32, false>,
        C::Fsub_m32fp => farith::<SUB, M32, false>,
        C::Fsubr_m32fp => farith::<SUBR, M32, false>,
        C::Fdiv_m32fp => farith::<DIV, M32, false>,
        C::Fdivr_m32fp => farith::<DIVR, M32, false>,
        C::Fadd_m64fp => farith::<ADD, M64, false>,
        C::Fmul_m64fp => farith::<MUL, M64, false>,
        C::Fsub_m64fp => farith::<SUB, M64, false>,
        C::Fsubr_m64fp => farith::<SUBR, M64, false>,
        C::Fdiv_m64fp => farith::<DIV, M64, false>,
        C::Fdivr_m64fp => farith::<DIVR, M64, false>,
        C::Fiadd_m32int => farith::<ADD, I32, false>,
        C::Fimul_m32int => farith::<MUL, I32, false>,
        C::Fisub_m32int => farith::<SUB, I32, false>,
        C::Fisubr_m32int => farith::<SUBR, I32, false>,
        C::Fidiv_m32int => farith::<DIV, I32, false>,
        C::Fidivr_m32int => farith::<DIVR, I32, false>,
        C::Fiadd_m16int => farith::<ADD, I16, false>,
        C::Fimul_m16int => farith::<MUL, I16, false>,
        C::Fisub_m16int => farith::<SUB, I16, false>,
        C::Fisubr_m16int => farith::<SUBR, I16, false>,
        C::Fidiv_m16int => farith::<DIV, I16, false>,
        C::Fidivr_m16int => farith::<DIVR, I16, false>,
        C::Fadd_st0_sti => farith::<ADD, ST0_STI, false>,
        C::Fmul_st0_sti => farith::<MUL, ST0_STI, false>,
        C::Fsub_st0_sti => farith::<SUB, ST0_STI, false>,
        C::Fsubr_st0_sti => farith::<SUBR, ST0_STI, false>,
        C::Fdiv_st0_sti => farith::<DIV, ST0_STI, false>,
        C::Fdivr_st0_sti => farith::<DIVR, ST0_STI, false>,
        C::Fadd_sti_st0 => farith::<ADD, STI_ST0, false>,
        C::Fmul_sti_st0 => farith::<MUL, STI_ST0, false>,
        C::Fsub_sti_st0 => farith::<SUB, STI_ST0, false>,
        C::Fsubr_sti_st0 => farith::<SUBR, STI_ST0, false>,
        C::Fdiv_sti_st0 => farith::<DIV, STI_ST0, false>,
        C::Fdivr_sti_st0 => farith::<DIVR, STI_ST0, false>,
        C::Faddp_sti_st0 => farith::<ADD, STI_ST0, true>,
        C::Fmulp_sti_st0 => farith::<MUL, STI_ST0, true>,
        C::Fsubp_sti_st0 => farith::<SUB, STI_ST0, true>,
        C::Fsubrp_sti_st0 => farith::<SUBR, STI_ST0, true>,
        C::Fdivp_sti_st0 => farith::<DIV, STI_ST0, true>,
        C::Fdivrp_sti_st0 => farith::<DIVR, STI_ST0, true>,
        C::Fsqrt => funary::<SQRT>,
        C::Fabs => funary::<ABS>,
        C::Fchs => funary::<CHS>,
        C::Frndint => funary::<RNDINT>,
        C::Fscale => fscale,
        C::Fxtract => fxtract,
        C::Fprem => fprem::<false>,
        C::Fprem1 => fprem::<true>,
        C::F2xm1 => ftrans::<F2XM1>,
        C::Fyl2x => ftrans::<FYL2X>,
        C::Fyl2xp1 => ftrans::<FYL2XP1>,
        C::Fptan => ftrans::<FPTAN>,
        C::Fpatan => ftrans::<FPATAN>,
        C::Fsin => ftrans::<FSIN>,
        C::Fcos => ftrans::<FCOS>,
        C::Fsincos => ftrans::<FSINCOS>,
        // Compares.
        C::Fcom_m32fp => fcom::<M32, 0, true>,
        C::Fcomp_m32fp => fcom::<M32, 1, true>,
        C::Fcom_m64fp => fcom::<M64, 0, true>,
        C::Fcomp_m64fp => fcom::<M64, 1, true>,
        C::Ficom_m16int => fcom::<I16, 0, true>,
        C::Ficomp_m16int => fcom::<I16, 1, true>,
        C::Ficom_m32int => fcom::<I32, 0, true>,
        C::Ficomp_m32int => fcom::<I32, 1, true>,
        C::Fcom_st0_sti | C::Fcom_st0_sti_DCD0 => fcom::<ST0_STI, 0, true>,
        C::Fcomp_st0_sti | C::Fcomp_st0_sti_DCD8 | C::Fcomp_st0_sti_DED0 => {
            fcom::<ST0_STI, 1, true>
        }
        C::Fcompp => fcom::<ST0_STI, 2, true>,
        C::Fucom_st0_sti => fcom::<ST0_STI, 0, false>,
        C::Fucomp_st0_sti => fcom::<ST0_STI, 1, false>,
        C::Fucompp => fcom::<ST0_STI, 2, false>,
        C::Ftst => fcom::<M80, 0, true>,
        C::Fcomi_st0_sti => fcomi::<false, true>,
        C::Fcomip_st0_sti => fcomi::<true, true>,
        C::Fucomi_st0_sti => fcomi::<false, false>,
        C::Fucomip_st0_sti => fcomi::<true, false>,
        C::Fxam => fxam,
        // Stack.
        C::Fxch_st0_sti | C::Fxch_st0_sti_DDC8 | C::Fxch_st0_sti_DFC8 => fxch,
        C::Fcmovb_st0_sti
        | C::Fcmove_st0_sti
        | C::Fcmovbe_st0_sti
        | C::Fcmovu_st0_sti
        | C::Fcmovnb_st0_sti
        | C::Fcmovne_st0_sti
        | C::Fcmovnbe_st0_sti
        | C::Fcmovnu_st0_sti => fcmov,
        C::Ffree_sti => ffree::<false>,
        C::Ffreep_sti => ffree::<true>,
        C::Fincstp => fstp_move::<true>,
        C::Fdecstp => fstp_move::<false>,
        C::Fnop => fnop,
        // Control.
        C::Fninit => finit::<false>,
        C::Finit => finit::<true>,
        C::Fnclex => fclex::<false>,
        C::Fclex => fclex::<true>,
        C::Fldcw_m2byte => fldcw,
        C::Fnstcw_m2byte => fstcw::<false>,
        C::Fstcw_m2byte => fstcw::<true>,
        C::Fnstsw_m2byte | C::Fnstsw_AX => fstsw::<false>,
        C::Fstsw_m2byte | C::Fstsw_AX => fstsw::<true>,
        C::Fnstenv_m14byte | C::Fnstenv_m28byte => fstenv::<false>,
        C::Fstenv_m14byte | C::Fstenv_m28byte => fstenv::<true>,
        C::Fldenv_m14byte | C::Fldenv_m28byte => fldenv,
        C::Fnsave_m94byte | C::Fnsave_m108byte => fsave::<false>,
        C::Fsave_m94byte | C::Fsave_m108byte => fsave::<true>,
        C::Frstor_m94byte | C::Frstor_m108byte => frstor,
        C::Fneni | C::Fndisi | C::Fnsetpm => fcontrol_nop::<false>,
        C::Feni | C::Fdisi | C::Fsetpm => fcontrol_nop::<true>,
        C::Wait => fwait,
        C::Emms => emms,
        _ => return None,
    })
}
