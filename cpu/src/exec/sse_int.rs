//! Packed-integer and bitwise instructions, in their MMX (64-bit) and SSE
//! (128-bit) forms: SSE2 integer arithmetic, compares, logic, shifts,
//! unpacks and packs, shuffles, SSSE3 (PSHUFB, PALIGNR, PABS, PSIGN,
//! PHADD/PHSUB, PMULHRSW, PMADDUBSW) and SSE4.1 integer operations, plus
//! the packed-single/double logic and unpack instructions, which are the
//! same bit operations.
//!
//! Every operation is a pure function of two 128-bit values selected by a
//! const generic, so each instruction gets its own monomorphised handler
//! at decode time. The MMX forms compute on zero-extended 64-bit values
//! and keep the low half, which is the MMX result for every lane-wise
//! operation; the few whose MMX form differs are adapted in [`calc64`].

use crate::block::Decoded;
use crate::fault::Res;
use crate::state::rflags::{ARITH, CF, ZF};
use crate::state::Core;

use super::{mi, mmx, msrc, sse, xi, xsrc};

#[inline(always)]
pub(super) fn b8(v: u128) -> [u8; 16] {
    v.to_le_bytes()
}
#[inline(always)]
pub(super) fn from_b8(a: [u8; 16]) -> u128 {
    u128::from_le_bytes(a)
}
#[inline(always)]
pub(super) fn w16(v: u128) -> [u16; 8] {
    std::array::from_fn(|i| (v >> (16 * i)) as u16)
}
#[inline(always)]
pub(super) fn from_w16(a: [u16; 8]) -> u128 {
    a.iter()
        .enumerate()
        .fold(0, |v, (i, &x)| v | (x as u128) << (16 * i))
}
#[inline(always)]
pub(super) fn d32(v: u128) -> [u32; 4] {
    std::array::from_fn(|i| (v >> (32 * i)) as u32)
}
#[inline(always)]
pub(super) fn from_d32(a: [u32; 4]) -> u128 {
    a.iter()
        .enumerate()
        .fold(0, |v, (i, &x)| v | (x as u128) << (32 * i))
}
#[inline(always)]
pub(super) fn q64(v: u128) -> [u64; 2] {
    [v as u64, (v >> 64) as u64]
}
#[inline(always)]
pub(super) fn from_q64(a: [u64; 2]) -> u128 {
    a[0] as u128 | (a[1] as u128) << 64
}

#[inline(always)]
fn map8(a: u128, b: u128, f: impl Fn(u8, u8) -> u8) -> u128 {
    let (x, y) = (b8(a), b8(b));
    from_b8(std::array::from_fn(|i| f(x[i], y[i])))
}
#[inline(always)]
fn map16(a: u128, b: u128, f: impl Fn(u16, u16) -> u16) -> u128 {
    let (x, y) = (w16(a), w16(b));
    from_w16(std::array::from_fn(|i| f(x[i], y[i])))
}
#[inline(always)]
fn map32(a: u128, b: u128, f: impl Fn(u32, u32) -> u32) -> u128 {
    let (x, y) = (d32(a), d32(b));
    from_d32(std::array::from_fn(|i| f(x[i], y[i])))
}
#[inline(always)]
fn map64(a: u128, b: u128, f: impl Fn(u64, u64) -> u64) -> u128 {
    let (x, y) = (q64(a), q64(b));
    from_q64([f(x[0], y[0]), f(x[1], y[1])])
}

#[inline(always)]
fn sat_i8(v: i32) -> u8 {
    v.clamp(-128, 127) as i8 as u8
}
#[inline(always)]
fn sat_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}
#[inline(always)]
fn sat_i16(v: i32) -> u16 {
    v.clamp(-32768, 32767) as i16 as u16
}
#[inline(always)]
fn sat_u16(v: i32) -> u16 {
    v.clamp(0, 65535) as u16
}
#[inline(always)]
fn mask<T: Default + std::ops::Not<Output = T>>(c: bool) -> T {
    if c {
        !T::default()
    } else {
        T::default()
    }
}

/// Operation numbers for the const-generic handlers.
pub(super) mod op {
    pub const PADDB: u8 = 0;
    pub const PADDW: u8 = 1;
    pub const PADDD: u8 = 2;
    pub const PADDQ: u8 = 3;
    pub const PSUBB: u8 = 4;
    pub const PSUBW: u8 = 5;
    pub const PSUBD: u8 = 6;
    pub const PSUBQ: u8 = 7;
    pub const PADDSB: u8 = 8;
    pub const PADDSW: u8 = 9;
    pub const PADDUSB: u8 = 10;
    pub const PADDUSW: u8 = 11;
    pub const PSUBSB: u8 = 12;
    pub const PSUBSW: u8 = 13;
    pub const PSUBUSB: u8 = 14;
    pub const PSUBUSW: u8 = 15;
    pub const PMULLW: u8 = 16;
    pub const PMULHW: u8 = 17;
    pub const PMULHUW: u8 = 18;
    pub const PMULUDQ: u8 = 19;
    pub const PMADDWD: u8 = 20;
    pub const PAVGB: u8 = 21;
    pub const PAVGW: u8 = 22;
    pub const PMINUB: u8 = 23;
    pub const PMAXUB: u8 = 24;
    pub const PMINSW: u8 = 25;
    pub const PMAXSW: u8 = 26;
    pub const PSADBW: u8 = 27;
    pub const PCMPEQB: u8 = 28;
    pub const PCMPEQW: u8 = 29;
    pub const PCMPEQD: u8 = 30;
    pub const PCMPGTB: u8 = 31;
    pub const PCMPGTW: u8 = 32;
    pub const PCMPGTD: u8 = 33;
    pub const PAND: u8 = 34;
    pub const PANDN: u8 = 35;
    pub const POR: u8 = 36;
    pub const PXOR: u8 = 37;
    pub const PUNPCKLBW: u8 = 38;
    pub const PUNPCKLWD: u8 = 39;
    pub const PUNPCKLDQ: u8 = 40;
    pub const PUNPCKLQDQ: u8 = 41;
    pub const PUNPCKHBW: u8 = 42;
    pub const PUNPCKHWD: u8 = 43;
    pub const PUNPCKHDQ: u8 = 44;
    pub const PUNPCKHQDQ: u8 = 45;
    pub const PACKSSWB: u8 = 46;
    pub const PACKSSDW: u8 = 47;
    pub const PACKUSWB: u8 = 48;
    pub const PACKUSDW: u8 = 49;
    pub const PSHUFB: u8 = 50;
    pub const PHADDW: u8 = 51;
    pub const PHADDD: u8 = 52;
    pub const PHADDSW: u8 = 53;
    pub const PHSUBW: u8 = 54;
    pub const PHSUBD: u8 = 55;
    pub const PHSUBSW: u8 = 56;
    pub const PMADDUBSW: u8 = 57;
    pub const PMULHRSW: u8 = 58;
    pub const PSIGNB: u8 = 59;
    pub const PSIGNW: u8 = 60;
    pub const PSIGND: u8 = 61;
    pub const PABSB: u8 = 62;
    pub const PABSW: u8 = 63;
    pub const PABSD: u8 = 64;
    pub const PMINSB: u8 = 65;
    pub const PMINSD: u8 = 66;
    pub const PMINUW: u8 = 67;
    pub const PMINUD: u8 = 68;
    pub const PMAXSB: u8 = 69;
    pub const PMAXSD: u8 = 70;
    pub const PMAXUW: u8 = 71;
    pub const PMAXUD: u8 = 72;
    pub const PMULLD: u8 = 73;
    pub const PMULDQ: u8 = 74;
    pub const PCMPEQQ: u8 = 75;
    pub const PCMPGTQ: u8 = 76;
    pub const PHMINPOSUW: u8 = 77;
    pub const PSLLW: u8 = 78;
    pub const PSLLD: u8 = 79;
    pub const PSLLQ: u8 = 80;
    pub const PSRLW: u8 = 81;
    pub const PSRLD: u8 = 82;
    pub const PSRLQ: u8 = 83;
    pub const PSRAW: u8 = 84;
    pub const PSRAD: u8 = 85;
    pub const PMOVSXBW: u8 = 86;
    pub const PMOVSXBD: u8 = 87;
    pub const PMOVSXBQ: u8 = 88;
    pub const PMOVSXWD: u8 = 89;
    pub const PMOVSXWQ: u8 = 90;
    pub const PMOVSXDQ: u8 = 91;
    pub const PMOVZXBW: u8 = 92;
    pub const PMOVZXBD: u8 = 93;
    pub const PMOVZXBQ: u8 = 94;
    pub const PMOVZXWD: u8 = 95;
    pub const PMOVZXWQ: u8 = 96;
    pub const PMOVZXDQ: u8 = 97;
    pub const MOVSLDUP: u8 = 98;
    pub const MOVSHDUP: u8 = 99;
    pub const MOVDDUP: u8 = 100;
    pub const PSLLDQ: u8 = 102;
    pub const PSRLDQ: u8 = 103;
}

/// Logical and arithmetic shifts of each lane by `count` bits.
#[inline(always)]
fn shift(o: u8, a: u128, count: u64) -> u128 {
    use op::*;
    match o {
        PSLLW => {
            if count > 15 {
                0
            } else {
                map16(a, 0, |x, _| x << count)
            }
        }
        PSLLD => {
            if count > 31 {
                0
            } else {
                map32(a, 0, |x, _| x << count)
            }
        }
        PSLLQ => {
            if count > 63 {
                0
            } else {
                map64(a, 0, |x, _| x << count)
            }
        }
        PSRLW => {
            if count > 15 {
                0
            } else {
                map16(a, 0, |x, _| x >> count)
            }
        }
        PSRLD => {
            if count > 31 {
                0
            } else {
                map32(a, 0, |x, _| x >> count)
            }
        }
        PSRLQ => {
            if count > 63 {
                0
            } else {
                map64(a, 0, |x, _| x >> count)
            }
        }
        PSRAW => {
            let c = count.min(15);
            map16(a, 0, |x, _| ((x as i16) >> c) as u16)
        }
        PSRAD => {
            let c = count.min(31);
            map32(a, 0, |x, _| ((x as i32) >> c) as u32)
        }
        PSLLDQ => {
            if count > 15 {
                0
            } else {
                a << (count * 8)
            }
        }
        PSRLDQ => {
            if count > 15 {
                0
            } else {
                a >> (count * 8)
            }
        }
        _ => a,
    }
}

/// The 128-bit result of operation `o` on destination `a` and source `b`.
#[inline(always)]
pub(super) fn calc(o: u8, a: u128, b: u128) -> u128 {
    use op::*;
    match o {
        PADDB => map8(a, b, u8::wrapping_add),
        PADDW => map16(a, b, u16::wrapping_add),
        PADDD => map32(a, b, u32::wrapping_add),
        PADDQ => map64(a, b, u64::wrapping_add),
        PSUBB => map8(a, b, u8::wrapping_sub),
        PSUBW => map16(a, b, u16::wrapping_sub),
        PSUBD => map32(a, b, u32::wrapping_sub),
        PSUBQ => map64(a, b, u64::wrapping_sub),
        PADDSB => map8(a, b, |x, y| (x as i8).saturating_add(y as i8) as u8),
        PADDSW => map16(a, b, |x, y| (x as i16).saturating_add(y as i16) as u16),
        PADDUSB => map8(a, b, u8::saturating_add),
        PADDUSW => map16(a, b, u16::saturating_add),
        PSUBSB => map8(a, b, |x, y| (x as i8).saturating_sub(y as i8) as u8),
        PSUBSW => map16(a, b, |x, y| (x as i16).saturating_sub(y as i16) as u16),
        PSUBUSB => map8(a, b, u8::saturating_sub),
        PSUBUSW => map16(a, b, u16::saturating_sub),
        PMULLW => map16(a, b, u16::wrapping_mul),
        PMULHW => map16(a, b, |x, y| {
            ((x as i16 as i32 * y as i16 as i32) >> 16) as u16
        }),
        PMULHUW => map16(a, b, |x, y| ((x as u32 * y as u32) >> 16) as u16),
        PMULUDQ => map64(a, b, |x, y| (x as u32 as u64) * (y as u32 as u64)),
        PMULDQ => map64(a, b, |x, y| {
            ((x as u32 as i32 as i64) * (y as u32 as i32 as i64)) as u64
        }),
        PMADDWD => {
            let (x, y) = (w16(a), w16(b));
            from_d32(std::array::from_fn(|i| {
                let p0 = x[2 * i] as i16 as i32 * y[2 * i] as i16 as i32;
                let p1 = x[2 * i + 1] as i16 as i32 * y[2 * i + 1] as i16 as i32;
                p0.wrapping_add(p1) as u32
            }))
        }
        PAVGB => map8(a, b, |x, y| ((x as u16 + y as u16 + 1) >> 1) as u8),
        PAVGW => map16(a, b, |x, y| ((x as u32 + y as u32 + 1) >> 1) as u16),
        PMINUB => map8(a, b, u8::min),
        PMAXUB => map8(a, b, u8::max),
        PMINSW => map16(a, b, |x, y| (x as i16).min(y as i16) as u16),
        PMAXSW => map16(a, b, |x, y| (x as i16).max(y as i16) as u16),
        PMINSB => map8(a, b, |x, y| (x as i8).min(y as i8) as u8),
        PMAXSB => map8(a, b, |x, y| (x as i8).max(y as i8) as u8),
        PMINUW => map16(a, b, u16::min),
        PMAXUW => map16(a, b, u16::max),
        PMINSD => map32(a, b, |x, y| (x as i32).min(y as i32) as u32),
        PMAXSD => map32(a, b, |x, y| (x as i32).max(y as i32) as u32),
        PMINUD => map32(a, b, u32::min),
        PMAXUD => map32(a, b, u32::max),
        PMULLD => map32(a, b, u32::wrapping_mul),
        PSADBW => {
            let (x, y) = (b8(a), b8(b));
            let sum = |h: usize| -> u64 {
                (0..8)
                    .map(|i| x[h + i].abs_diff(y[h + i]) as u64)
                    .sum::<u64>()
            };
            from_q64([sum(0), sum(8)])
        }
        PCMPEQB => map8(a, b, |x, y| mask(x == y)),
        PCMPEQW => map16(a, b, |x, y| mask(x == y)),
        PCMPEQD => map32(a, b, |x, y| mask(x == y)),
        PCMPEQQ => map64(a, b, |x, y| mask(x == y)),
        PCMPGTB => map8(a, b, |x, y| mask((x as i8) > (y as i8))),
        PCMPGTW => map16(a, b, |x, y| mask((x as i16) > (y as i16))),
        PCMPGTD => map32(a, b, |x, y| mask((x as i32) > (y as i32))),
        PCMPGTQ => map64(a, b, |x, y| mask((x as i64) > (y as i64))),
        PAND => a & b,
        PANDN => !a & b,
        POR => a | b,
        PXOR => a ^ b,
        PUNPCKLBW | PUNPCKHBW => {
            let h = if o == PUNPCKHBW { 8 } else { 0 };
            let (x, y) = (b8(a), b8(b));
            from_b8(std::array::from_fn(|i| {
                if i & 1 == 0 {
                    x[h + i / 2]
                } else {
                    y[h + i / 2]
                }
            }))
        }
        PUNPCKLWD | PUNPCKHWD => {
            let h = if o == PUNPCKHWD { 4 } else { 0 };
            let (x, y) = (w16(a), w16(b));
            from_w16(std::array::from_fn(|i| {
                if i & 1 == 0 {
                    x[h + i / 2]
                } else {
                    y[h + i / 2]
                }
            }))
        }
        PUNPCKLDQ | PUNPCKHDQ => {
            let h = if o == PUNPCKHDQ { 2 } else { 0 };
            let (x, y) = (d32(a), d32(b));
            from_d32([x[h], y[h], x[h + 1], y[h + 1]])
        }
        PUNPCKLQDQ => from_q64([a as u64, b as u64]),
        PUNPCKHQDQ => from_q64([(a >> 64) as u64, (b >> 64) as u64]),
        PACKSSWB => {
            let (x, y) = (w16(a), w16(b));
            from_b8(std::array::from_fn(|i| {
                let w = if i < 8 { x[i] } else { y[i - 8] };
                sat_i8(w as i16 as i32)
            }))
        }
        PACKUSWB => {
            let (x, y) = (w16(a), w16(b));
            from_b8(std::array::from_fn(|i| {
                let w = if i < 8 { x[i] } else { y[i - 8] };
                sat_u8(w as i16 as i32)
            }))
        }
        PACKSSDW => {
            let (x, y) = (d32(a), d32(b));
            from_w16(std::array::from_fn(|i| {
                let w = if i < 4 { x[i] } else { y[i - 4] };
                sat_i16(w as i32)
            }))
        }
        PACKUSDW => {
            let (x, y) = (d32(a), d32(b));
            from_w16(std::array::from_fn(|i| {
                let w = if i < 4 { x[i] } else { y[i - 4] };
                sat_u16(w as i32)
            }))
        }
        PSHUFB => {
            let (x, y) = (b8(a), b8(b));
            from_b8(std::array::from_fn(|i| {
                if y[i] & 0x80 != 0 {
                    0
                } else {
                    x[(y[i] & 15) as usize]
                }
            }))
        }
        PHADDW | PHADDSW | PHSUBW | PHSUBSW => {
            let (x, y) = (w16(a), w16(b));
            from_w16(std::array::from_fn(|i| {
                let s = if i < 4 { &x } else { &y };
                let (p, q) = (
                    s[2 * (i & 3)] as i16 as i32,
                    s[2 * (i & 3) + 1] as i16 as i32,
                );
                match o {
                    PHADDW => (p + q) as u16,
                    PHADDSW => sat_i16(p + q),
                    PHSUBW => (p - q) as u16,
                    _ => sat_i16(p - q),
                }
            }))
        }
        PHADDD | PHSUBD => {
            let (x, y) = (d32(a), d32(b));
            let f = |p: u32, q: u32| {
                if o == PHADDD {
                    p.wrapping_add(q)
                } else {
                    p.wrapping_sub(q)
                }
            };
            from_d32([f(x[0], x[1]), f(x[2], x[3]), f(y[0], y[1]), f(y[2], y[3])])
        }
        PMADDUBSW => {
            let (x, y) = (b8(a), b8(b));
            from_w16(std::array::from_fn(|i| {
                let p0 = x[2 * i] as i32 * y[2 * i] as i8 as i32;
                let p1 = x[2 * i + 1] as i32 * y[2 * i + 1] as i8 as i32;
                sat_i16(p0 + p1)
            }))
        }
        PMULHRSW => map16(a, b, |x, y| {
            ((((x as i16 as i32 * y as i16 as i32) >> 14) + 1) >> 1) as u16
        }),
        PSIGNB => map8(a, b, |x, y| match (y as i8).signum() {
            -1 => x.wrapping_neg(),
            0 => 0,
            _ => x,
        }),
        PSIGNW => map16(a, b, |x, y| match (y as i16).signum() {
            -1 => x.wrapping_neg(),
            0 => 0,
            _ => x,
        }),
        PSIGND => map32(a, b, |x, y| match (y as i32).signum() {
            -1 => x.wrapping_neg(),
            0 => 0,
            _ => x,
        }),
        PABSB => map8(b, 0, |y, _| (y as i8).unsigned_abs()),
        PABSW => map16(b, 0, |y, _| (y as i16).unsigned_abs()),
        PABSD => map32(b, 0, |y, _| (y as i32).unsigned_abs()),
        PHMINPOSUW => {
            let y = w16(b);
            let (idx, min) =
                y.iter().enumerate().fold(
                    (0, y[0]),
                    |(bi, bm), (i, &v)| if v < bm { (i, v) } else { (bi, bm) },
                );
            min as u128 | (idx as u128) << 16
        }
        PSLLW | PSLLD | PSLLQ | PSRLW | PSRLD | PSRLQ | PSRAW | PSRAD => shift(o, a, b as u64),
        PMOVSXBW => {
            let y = b8(b);
            from_w16(std::array::from_fn(|i| y[i] as i8 as i16 as u16))
        }
        PMOVSXBD => {
            let y = b8(b);
            from_d32(std::array::from_fn(|i| y[i] as i8 as i32 as u32))
        }
        PMOVSXBQ => from_q64([
            b as u8 as i8 as i64 as u64,
            (b >> 8) as u8 as i8 as i64 as u64,
        ]),
        PMOVSXWD => {
            let y = w16(b);
            from_d32(std::array::from_fn(|i| y[i] as i16 as i32 as u32))
        }
        PMOVSXWQ => from_q64([
            b as u16 as i16 as i64 as u64,
            (b >> 16) as u16 as i16 as i64 as u64,
        ]),
        PMOVSXDQ => from_q64([
            b as u32 as i32 as i64 as u64,
            (b >> 32) as u32 as i32 as i64 as u64,
        ]),
        PMOVZXBW => {
            let y = b8(b);
            from_w16(std::array::from_fn(|i| y[i] as u16))
        }
        PMOVZXBD => {
            let y = b8(b);
            from_d32(std::array::from_fn(|i| y[i] as u32))
        }
        PMOVZXBQ => from_q64([b as u8 as u64, (b >> 8) as u8 as u64]),
        PMOVZXWD => {
            let y = w16(b);
            from_d32(std::array::from_fn(|i| y[i] as u32))
        }
        PMOVZXWQ => from_q64([b as u16 as u64, (b >> 16) as u16 as u64]),
        PMOVZXDQ => from_q64([b as u32 as u64, (b >> 32) as u32 as u64]),
        MOVSLDUP => {
            let y = d32(b);
            from_d32([y[0], y[0], y[2], y[2]])
        }
        MOVSHDUP => {
            let y = d32(b);
            from_d32([y[1], y[1], y[3], y[3]])
        }
        MOVDDUP => from_q64([b as u64, b as u64]),
        _ => b,
    }
}

/// The MMX form of operation `o` on 64-bit operands.
#[inline(always)]
pub(super) fn calc64(o: u8, a: u64, b: u64) -> u64 {
    use op::*;
    let (a, b) = (a as u128, b as u128);
    (match o {
        PUNPCKHBW => calc(PUNPCKLBW, a >> 32, b >> 32),
        PUNPCKHWD => calc(PUNPCKLWD, a >> 32, b >> 32),
        PUNPCKHDQ => calc(PUNPCKLDQ, a >> 32, b >> 32),
        PACKSSWB | PACKSSDW | PACKUSWB | PHADDW | PHADDD | PHADDSW | PHSUBW | PHSUBD | PHSUBSW => {
            calc(o, a | b << 64, 0)
        }
        PSHUFB => {
            let (x, y) = (b8(a), b8(b));
            from_b8(std::array::from_fn(|i| {
                if i >= 8 || y[i] & 0x80 != 0 {
                    0
                } else {
                    x[(y[i] & 7) as usize]
                }
            }))
        }
        _ => calc(o, a, b),
    }) as u64
}

/// `op xmm, xmm/m128` (and unary `op xmm, xmm/mN` forms).
pub(super) fn xop<const O: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    cpu.fpu.xmm[r] = calc(O, cpu.fpu.xmm[r], b);
    Ok(())
}

/// `op mm, mm/m64`.
pub(super) fn mop<const O: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let b = msrc(cpu, d, 1)?;
    let r = mi(d, 0);
    let v = calc64(O, cpu.fpu.mm(r), b);
    cpu.fpu.set_mm(r, v);
    Ok(())
}

/// `shift xmm, imm8`.
pub(super) fn xshift_imm<const O: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let r = xi(d, 0);
    cpu.fpu.xmm[r] = shift(O, cpu.fpu.xmm[r], d.i.immediate8() as u64);
    Ok(())
}

/// `shift mm, imm8`.
pub(super) fn mshift_imm<const O: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let r = mi(d, 0);
    let v = shift(O, cpu.fpu.mm(r) as u128, d.i.immediate8() as u64) as u64;
    cpu.fpu.set_mm(r, v);
    Ok(())
}

/// Operations with an immediate byte.
pub(super) mod iop {
    pub const PSHUFD: u8 = 0;
    pub const PSHUFLW: u8 = 1;
    pub const PSHUFHW: u8 = 2;
    pub const SHUFPS: u8 = 3;
    pub const SHUFPD: u8 = 4;
    pub const PALIGNR: u8 = 5;
    pub const PBLENDW: u8 = 6;
    pub const BLENDPS: u8 = 7;
    pub const BLENDPD: u8 = 8;
    pub const MPSADBW: u8 = 9;
}

#[inline(always)]
fn calc_imm(o: u8, a: u128, b: u128, imm: u8) -> u128 {
    use iop::*;
    let sel = |n: usize| ((imm >> (2 * n)) & 3) as usize;
    match o {
        PSHUFD => {
            let y = d32(b);
            from_d32(std::array::from_fn(|i| y[sel(i)]))
        }
        PSHUFLW => {
            let y = w16(b);
            from_w16(std::array::from_fn(
                |i| if i < 4 { y[sel(i)] } else { y[i] },
            ))
        }
        PSHUFHW => {
            let y = w16(b);
            from_w16(std::array::from_fn(|i| {
                if i < 4 {
                    y[i]
                } else {
                    y[4 + sel(i - 4)]
                }
            }))
        }
        SHUFPS => {
            let (x, y) = (d32(a), d32(b));
            from_d32([x[sel(0)], x[sel(1)], y[sel(2)], y[sel(3)]])
        }
        SHUFPD => {
            let (x, y) = (q64(a), q64(b));
            from_q64([x[(imm & 1) as usize], y[((imm >> 1) & 1) as usize]])
        }
        PALIGNR => {
            // (a:b) >> (imm * 8), 256-bit intermediate.
            let n = imm as u32 * 8;
            if n >= 256 {
                0
            } else if n >= 128 {
                a >> (n - 128)
            } else if n == 0 {
                b
            } else {
                (b >> n) | (a << (128 - n))
            }
        }
        PBLENDW => {
            let (x, y) = (w16(a), w16(b));
            from_w16(std::array::from_fn(|i| {
                if imm >> i & 1 != 0 {
                    y[i]
                } else {
                    x[i]
                }
            }))
        }
        BLENDPS => {
            let (x, y) = (d32(a), d32(b));
            from_d32(std::array::from_fn(|i| {
                if imm >> i & 1 != 0 {
                    y[i]
                } else {
                    x[i]
                }
            }))
        }
        BLENDPD => {
            let (x, y) = (q64(a), q64(b));
            from_q64(std::array::from_fn(|i| {
                if imm >> i & 1 != 0 {
                    y[i]
                } else {
                    x[i]
                }
            }))
        }
        MPSADBW => {
            let (x, y) = (b8(a), b8(b));
            let ao = 4 * ((imm >> 2) & 1) as usize;
            let bo = 4 * (imm & 3) as usize;
            from_w16(std::array::from_fn(|i| {
                (0..4)
                    .map(|k| x[ao + i + k].abs_diff(y[bo + k]) as u16)
                    .sum()
            }))
        }
        _ => b,
    }
}

/// `op xmm, xmm/m128, imm8`.
pub(super) fn xop_imm<const O: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    cpu.fpu.xmm[r] = calc_imm(O, cpu.fpu.xmm[r], b, d.i.immediate8());
    Ok(())
}

/// PSHUFW mm, mm/m64, imm8.
pub(super) fn pshufw(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let b = msrc(cpu, d, 1)?;
    let imm = d.i.immediate8();
    let y = w16(b as u128);
    let v = (0..4).fold(0u64, |v, i| {
        v | (y[((imm >> (2 * i)) & 3) as usize] as u64) << (16 * i)
    });
    cpu.fpu.set_mm(mi(d, 0), v);
    Ok(())
}

/// PALIGNR mm, mm/m64, imm8.
pub(super) fn palignr_mm(cpu: &mut Core, d: &Decoded) -> Res {
    mmx(cpu)?;
    let b = msrc(cpu, d, 1)?;
    let r = mi(d, 0);
    let cat = (cpu.fpu.mm(r) as u128) << 64 | b as u128;
    let n = d.i.immediate8() as u32 * 8;
    let v = if n >= 128 { 0 } else { (cat >> n) as u64 };
    cpu.fpu.set_mm(r, v);
    Ok(())
}

/// PBLENDVB/BLENDVPS/BLENDVPD xmm, xmm/m128, <XMM0>: select by the sign
/// bit of each lane of XMM0. `W` is the lane width in bytes.
pub(super) fn blendv<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let r = xi(d, 0);
    let m = cpu.fpu.xmm[0];
    let mut sel = 0u128;
    for lane in 0..16 / W {
        let top = (lane + 1) * W * 8 - 1;
        if (m >> top) & 1 != 0 {
            sel |= (u128::MAX >> (128 - W * 8)) << (lane * W * 8);
        }
    }
    cpu.fpu.xmm[r] = (cpu.fpu.xmm[r] & !sel) | (b & sel);
    Ok(())
}

/// PTEST xmm, xmm/m128: ZF = (a AND b) == 0, CF = (NOT a AND b) == 0.
pub(super) fn ptest(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let b = xsrc(cpu, d, 1)?;
    let a = cpu.fpu.xmm[xi(d, 0)];
    let mut f = 0;
    if a & b == 0 {
        f |= ZF;
    }
    if !a & b == 0 {
        f |= CF;
    }
    cpu.rflags = (cpu.rflags & !ARITH) | f;
    Ok(())
}
