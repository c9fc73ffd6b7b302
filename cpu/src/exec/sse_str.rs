//! SSE4.2 string compares (PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM;
//! SDM Vol. 2B, 4.1), CRC32 and PCLMULQDQ.

use iced_x86::OpKind;

use crate::block::Decoded;
use crate::fault::Res;
use crate::state::rflags::{ARITH, CF, OF, SF, ZF};
use crate::state::Core;

use super::sse_int::{b8, from_b8, from_w16, w16};
use super::{load128, sse, xi};

/// Elements of a string operand as i32 (sign- or zero-extended per the
/// format), and the element count.
#[inline]
fn elements(v: u128, ctl: u8) -> ([i32; 16], usize) {
    let mut e = [0i32; 16];
    match ctl & 3 {
        0 => b8(v).iter().enumerate().for_each(|(i, &x)| e[i] = x as i32),
        1 => w16(v)
            .iter()
            .enumerate()
            .for_each(|(i, &x)| e[i] = x as i32),
        2 => b8(v)
            .iter()
            .enumerate()
            .for_each(|(i, &x)| e[i] = x as i8 as i32),
        _ => w16(v)
            .iter()
            .enumerate()
            .for_each(|(i, &x)| e[i] = x as i16 as i32),
    }
    (e, if ctl & 1 != 0 { 8 } else { 16 })
}

/// Implicit length: index of the first zero element.
#[inline]
fn implicit_len(e: &[i32; 16], ub: usize) -> usize {
    e[..ub].iter().position(|&x| x == 0).unwrap_or(ub)
}

/// Explicit length: |reg| saturated to the element count.
#[inline]
fn explicit_len(v: i64, ub: usize) -> usize {
    (v.unsigned_abs()).min(ub as u64) as usize
}

/// IntRes2 of the comparison, as a bit mask over the `ub` elements of
/// the second operand.
fn compare(ctl: u8, a: &[i32; 16], la: usize, b: &[i32; 16], lb: usize, ub: usize) -> u32 {
    let agg = (ctl >> 2) & 3;
    // BoolRes with the invalid-element overrides (SDM Table 4-7).
    let bool_res = |i: usize, j: usize| -> bool {
        let (va, vb) = (i < la, j < lb);
        match (va, vb) {
            (true, true) => match agg {
                1 => {
                    if i & 1 == 0 {
                        b[j] >= a[i]
                    } else {
                        b[j] <= a[i]
                    }
                }
                _ => a[i] == b[j],
            },
            (false, false) => agg >= 2,
            (false, true) => agg == 3,
            (true, false) => false,
        }
    };
    let mut r1 = 0u32;
    for j in 0..ub {
        let hit = match agg {
            0 => (0..ub).any(|i| bool_res(i, j)),
            1 => (0..ub / 2).any(|k| bool_res(2 * k, j) && bool_res(2 * k + 1, j)),
            2 => bool_res(j, j),
            _ => (0..ub - j).all(|k| bool_res(k, j + k)),
        };
        r1 |= (hit as u32) << j;
    }
    let all = (1u32 << ub) - 1;
    match (ctl >> 4) & 3 {
        1 => r1 ^ all,
        3 => r1 ^ ((1u32 << lb) - 1),
        _ => r1,
    }
}

/// PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM. `EXPLICIT` selects the
/// lengths in EAX/EDX (RAX/RDX with REX.W); `INDEX` the ECX output
/// (otherwise the mask in XMM0).
pub(super) fn pcmpstr<const EXPLICIT: bool, const INDEX: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = if d.i.op_kind(1) == OpKind::Register {
        cpu.fpu.xmm[xi(d, 1)]
    } else {
        load128(cpu, d, false)?
    };
    let a = cpu.fpu.xmm[xi(d, 0)];
    let ctl = d.i.immediate8();
    let (ea, ub) = elements(a, ctl);
    let (eb, _) = elements(b, ctl);
    let (la, lb) = if EXPLICIT {
        let w = matches!(
            d.i.code(),
            iced_x86::Code::Pcmpestri64_xmm_xmmm128_imm8
                | iced_x86::Code::Pcmpestrm64_xmm_xmmm128_imm8
        );
        let (ra, rd) = if w {
            (cpu.gpr[0] as i64, cpu.gpr[2] as i64)
        } else {
            (cpu.gpr[0] as i32 as i64, cpu.gpr[2] as i32 as i64)
        };
        (explicit_len(ra, ub), explicit_len(rd, ub))
    } else {
        (implicit_len(&ea, ub), implicit_len(&eb, ub))
    };
    let r = compare(ctl, &ea, la, &eb, lb, ub);
    if INDEX {
        let idx = if r == 0 {
            ub as u32
        } else if ctl & 0x40 != 0 {
            31 - r.leading_zeros()
        } else {
            r.trailing_zeros()
        };
        cpu.gpr[1] = idx as u64;
    } else if ctl & 0x40 == 0 {
        cpu.fpu.xmm[0] = r as u128;
    } else if ub == 16 {
        cpu.fpu.xmm[0] = from_b8(std::array::from_fn(
            |i| if r >> i & 1 != 0 { 0xFF } else { 0 },
        ));
    } else {
        cpu.fpu.xmm[0] = from_w16(std::array::from_fn(|i| {
            if r >> i & 1 != 0 {
                0xFFFF
            } else {
                0
            }
        }));
    }
    let mut f = 0;
    if r != 0 {
        f |= CF;
    }
    if lb < ub {
        f |= ZF;
    }
    if la < ub {
        f |= SF;
    }
    if r & 1 != 0 {
        f |= OF;
    }
    cpu.rflags = (cpu.rflags & !ARITH) | f;
    Ok(())
}

/// CRC-32C (Castagnoli, reflected) table.
static CRC32C: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC32 r32/r64, r/m8|16|32|64: accumulates CRC-32C of the source bytes
/// (little-endian) into the low 32 bits of the destination, no inversion.
pub(super) fn crc32(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 1);
    let src = cpu.op(d, 1, size)?;
    let dst = d.i.op_register(0);
    let mut c = cpu.reg(dst) as u32;
    for k in 0..size {
        let byte = (src >> (8 * k)) as u8;
        c = (c >> 8) ^ CRC32C[((c as u8) ^ byte) as usize];
    }
    cpu.set_reg(dst, c as u64);
    Ok(())
}

/// Carry-less 64 x 64 -> 128 multiplication.
#[inline]
fn clmul(a: u64, b: u64) -> u128 {
    let mut r = 0u128;
    for k in 0..64 {
        if b >> k & 1 != 0 {
            r ^= (a as u128) << k;
        }
    }
    r
}

/// PCLMULQDQ xmm, xmm/m128, imm8.
pub(super) fn pclmulqdq(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = super::xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let imm = d.i.immediate8();
    let a = cpu.fpu.xmm[r];
    let x = if imm & 1 != 0 {
        (a >> 64) as u64
    } else {
        a as u64
    };
    let y = if imm & 0x10 != 0 {
        (b >> 64) as u64
    } else {
        b as u64
    };
    cpu.fpu.xmm[r] = clmul(x, y);
    Ok(())
}
