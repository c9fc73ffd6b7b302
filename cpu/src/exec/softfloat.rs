//! Software IEEE 754 binary floating point for the three formats the
//! x87 and SSE units use (single, double, x87 double-extended), with the
//! four rounding modes, precision control, DAZ/FTZ and all six exception
//! flags, so results and MXCSR/FSW flags are bit-exact without relying on
//! the host FPU.
//!
//! Values are unpacked to a sign, an unbiased exponent and a 128-bit
//! significand normalised to bit 127 (`value = sig * 2^(exp - 127)`);
//! operations compute an exact or sticky-bit ("jammed") result there and
//! `round_pack` rounds it once into the destination format. Tininess is
//! detected after rounding, as x86 processors do.

use crate::fpu::exc::{DE, IE, OE, PE, UE, ZE};

/// Rounding control as encoded in MXCSR.RC and FCW.RC.
pub(crate) const RN: u32 = 0;
pub(crate) const RD: u32 = 1;
pub(crate) const RU: u32 = 2;
pub(crate) const RZ: u32 = 3;

/// A binary interchange format: exponent bits, stored fraction bits, and
/// whether the integer bit is explicit (x87 double-extended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fmt {
    pub ebits: u32,
    pub fbits: u32,
    pub explicit: bool,
}

pub(crate) const F32: Fmt = Fmt {
    ebits: 8,
    fbits: 23,
    explicit: false,
};
pub(crate) const F64: Fmt = Fmt {
    ebits: 11,
    fbits: 52,
    explicit: false,
};
pub(crate) const X80: Fmt = Fmt {
    ebits: 15,
    fbits: 63,
    explicit: true,
};

impl Fmt {
    #[inline(always)]
    pub const fn bias(self) -> i32 {
        (1 << (self.ebits - 1)) - 1
    }
    #[inline(always)]
    const fn emask(self) -> u32 {
        (1 << self.ebits) - 1
    }
    /// Bit position of the exponent field.
    #[inline(always)]
    const fn eshift(self) -> u32 {
        self.fbits + self.explicit as u32
    }
    #[inline(always)]
    pub const fn sign(self) -> u128 {
        1 << (self.eshift() + self.ebits)
    }
    /// Significand precision in bits (24, 53, 64).
    #[inline(always)]
    pub const fn prec(self) -> u32 {
        self.fbits + 1
    }
    #[inline(always)]
    const fn fmask(self) -> u128 {
        (1 << self.fbits) - 1
    }
    #[inline(always)]
    const fn int_bit(self) -> u128 {
        if self.explicit {
            1 << self.fbits
        } else {
            0
        }
    }
    #[inline(always)]
    pub const fn quiet_bit(self) -> u128 {
        1 << (self.fbits - 1)
    }
    #[inline(always)]
    pub const fn inf(self, neg: bool) -> u128 {
        (if neg { self.sign() } else { 0 })
            | ((self.emask() as u128) << self.eshift())
            | self.int_bit()
    }
    #[inline(always)]
    pub const fn zero(self, neg: bool) -> u128 {
        if neg {
            self.sign()
        } else {
            0
        }
    }
    /// The "QNaN floating-point indefinite": negative, quiet, zero payload.
    #[inline(always)]
    pub const fn default_nan(self) -> u128 {
        self.inf(true) | self.quiet_bit()
    }
    /// Largest finite magnitude with `p` significant bits.
    fn max_finite(self, neg: bool, p: u32) -> u128 {
        let ones = ((1u128 << p) - 1) << (self.prec() - p);
        (if neg { self.sign() } else { 0 })
            | (((self.emask() - 1) as u128) << self.eshift())
            | (ones & (self.fmask() | self.int_bit()))
    }
    #[inline(always)]
    fn biased_exp(self, b: u128) -> u32 {
        ((b >> self.eshift()) as u32) & self.emask()
    }
    #[inline(always)]
    pub fn is_nan(self, b: u128) -> bool {
        self.biased_exp(b) == self.emask() && b & self.fmask() != 0
    }
    #[inline(always)]
    pub fn is_snan(self, b: u128) -> bool {
        self.is_nan(b) && b & self.quiet_bit() == 0
    }
    #[inline(always)]
    pub fn quiet(self, b: u128) -> u128 {
        b | self.quiet_bit()
    }
    /// Denormal encoding (biased exponent 0, nonzero fraction; for the
    /// x87 format also pseudo-denormals).
    #[inline(always)]
    pub fn is_denormal(self, b: u128) -> bool {
        self.biased_exp(b) == 0 && b & (self.fmask() | self.int_bit()) != 0
    }
    #[inline(always)]
    pub fn neg(self, b: u128) -> u128 {
        b ^ self.sign()
    }
    #[inline(always)]
    pub fn abs(self, b: u128) -> u128 {
        b & !self.sign()
    }
    #[inline(always)]
    pub fn is_neg(self, b: u128) -> bool {
        b & self.sign() != 0
    }
}

/// Rounding environment and accumulated exception flags of one operation
/// (or of all lanes of one instruction).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    pub rc: u32,
    /// Significand bits to round to (x87 precision control); at most the
    /// format's own precision.
    pub prec: u32,
    pub daz: bool,
    pub ftz: bool,
    /// Underflow masked: UE is then reported only when also inexact.
    pub um: bool,
    /// x87 NaN propagation (larger significand wins) instead of SSE's
    /// (first operand wins).
    pub x87: bool,
    pub flags: u32,
    /// The last rounding increased the magnitude (x87 C1).
    pub up: bool,
    /// An operand was denormal before the caller widened it (x87 m32/m64
    /// operands): DE is due unless the operation is invalid.
    pub den: bool,
}

impl Ctx {
    /// The SSE environment MXCSR describes.
    #[inline]
    pub fn sse(mxcsr: u32) -> Ctx {
        Ctx {
            rc: (mxcsr >> 13) & 3,
            prec: 64,
            daz: mxcsr & (1 << 6) != 0,
            ftz: mxcsr & (1 << 15) != 0,
            um: mxcsr & (1 << 11) != 0,
            x87: false,
            flags: 0,
            up: false,
            den: false,
        }
    }

    /// The x87 environment FCW describes.
    #[inline]
    pub fn x87(fcw: u16) -> Ctx {
        Ctx {
            rc: ((fcw >> 10) & 3) as u32,
            prec: match (fcw >> 8) & 3 {
                0 => 24,
                2 => 53,
                _ => 64,
            },
            daz: false,
            ftz: false,
            um: fcw & (1 << 4) != 0,
            x87: true,
            flags: 0,
            up: false,
            den: false,
        }
    }
}

/// A finite nonzero value: `sig * 2^(exp - 127)`, `sig` normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Un {
    pub neg: bool,
    pub exp: i32,
    pub sig: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Val {
    Zero(bool),
    Inf(bool),
    /// A NaN (the caller propagates it from the raw bits).
    NaN,
    /// An x87 encoding the 387 and later reject (unnormal, pseudo-NaN,
    /// pseudo-infinity): an invalid operand.
    Bad,
    /// Finite nonzero; `true` if it was a denormal encoding.
    Fin(Un, bool),
}

/// Shifts right, ORing lost bits into bit 0.
#[inline(always)]
pub(crate) fn shr_jam(v: u128, n: u32) -> u128 {
    if n == 0 {
        v
    } else if n >= 128 {
        (v != 0) as u128
    } else {
        (v >> n) | ((v & ((1u128 << n) - 1) != 0) as u128)
    }
}

/// Classifies and unpacks `b`. Denormals are zero under DAZ.
#[inline]
pub(crate) fn unpack(ctx: &Ctx, f: Fmt, b: u128) -> Val {
    let neg = f.is_neg(b);
    let e = f.biased_exp(b);
    let frac = b & f.fmask();
    if f.explicit {
        let int = b & f.int_bit() != 0;
        if e == f.emask() {
            return if !int {
                Val::Bad
            } else if frac == 0 {
                Val::Inf(neg)
            } else {
                Val::NaN
            };
        }
        let sig = b & (f.fmask() | f.int_bit());
        if e == 0 {
            if sig == 0 {
                return Val::Zero(neg);
            }
            // Denormal or pseudo-denormal: exponent as if biased 1.
            let lz = sig.leading_zeros();
            return Val::Fin(
                Un {
                    neg,
                    exp: 1 - f.bias() - (lz as i32 - 64),
                    sig: sig << lz,
                },
                true,
            );
        }
        if !int {
            return Val::Bad;
        }
        return Val::Fin(
            Un {
                neg,
                exp: e as i32 - f.bias(),
                sig: sig << 64,
            },
            false,
        );
    }
    if e == f.emask() {
        return if frac == 0 { Val::Inf(neg) } else { Val::NaN };
    }
    if e == 0 {
        if frac == 0 || ctx.daz {
            return Val::Zero(neg);
        }
        let lz = frac.leading_zeros();
        // frac * 2^(1 - bias - fbits) = (frac << lz) * 2^(exp - 127)
        let exp = 1 - f.bias() - f.fbits as i32 + (127 - lz as i32);
        return Val::Fin(
            Un {
                neg,
                exp,
                sig: frac << lz,
            },
            true,
        );
    }
    Val::Fin(
        Un {
            neg,
            exp: e as i32 - f.bias(),
            sig: (frac | (1 << f.fbits)) << (127 - f.fbits),
        },
        false,
    )
}

/// The NaN result of an operation with NaN operands `ops` (raw bits),
/// raising IE for a signalling one. SSE returns the first NaN operand
/// (quieted); the x87 returns the NaN with the larger significand,
/// preferring a quiet one over a signalling one.
pub(crate) fn propagate(ctx: &mut Ctx, f: Fmt, ops: &[u128]) -> u128 {
    let mut best: Option<u128> = None;
    for &o in ops {
        if f.explicit && matches!(unpack(ctx, f, o), Val::Bad) {
            ctx.flags |= IE;
            return f.default_nan();
        }
        if !f.is_nan(o) {
            continue;
        }
        if f.is_snan(o) {
            ctx.flags |= IE;
        }
        best = Some(match best {
            None => o,
            Some(b) if ctx.x87 => {
                let (bq, oq) = (!f.is_snan(b), !f.is_snan(o));
                if bq != oq {
                    if oq {
                        o
                    } else {
                        b
                    }
                } else {
                    let m = f.fmask() | f.int_bit();
                    if (o & m) > (b & m) {
                        o
                    } else {
                        b
                    }
                }
            }
            Some(b) => b,
        });
    }
    f.quiet(best.unwrap_or_else(|| f.default_nan()))
}

/// Unpacks the operands of an arithmetic operation. `Err` carries the
/// NaN result when any operand is a NaN (or an unsupported x87 encoding);
/// otherwise the values and whether any operand was denormal.
#[inline]
fn operands<const N: usize>(
    ctx: &mut Ctx,
    f: Fmt,
    ops: [u128; N],
) -> Result<([Val; N], bool), u128> {
    let vals = ops.map(|o| unpack(ctx, f, o));
    if vals.iter().any(|v| matches!(v, Val::NaN | Val::Bad)) {
        return Err(propagate(ctx, f, &ops));
    }
    let den = ctx.den || vals.iter().any(|v| matches!(v, Val::Fin(_, true)));
    Ok((vals, den))
}

/// Runs `op` and then raises DE for a denormal operand, unless the
/// operation was invalid or a division by zero (processors report only
/// those then).
#[inline(always)]
fn with_de(ctx: &mut Ctx, den: bool, op: impl FnOnce(&mut Ctx) -> u128) -> u128 {
    let saved = ctx.flags;
    ctx.flags = 0;
    let r = op(ctx);
    if den && ctx.flags & (IE | ZE) == 0 {
        ctx.flags |= DE;
    }
    ctx.flags |= saved;
    r
}

/// Rounds `sig` at `p` significant bits (bit 127 down): (rounded, carry
/// out of bit 127, inexact, rounded up).
#[inline(always)]
fn round_sig(sig: u128, p: u32, rc: u32, neg: bool) -> (u128, bool, bool, bool) {
    let sh = 128 - p;
    let lsb = 1u128 << sh;
    let rem = sig & (lsb - 1);
    let trunc = sig & !(lsb - 1);
    let half = lsb >> 1;
    let up = match rc {
        RN => rem > half || (rem == half && trunc & lsb != 0),
        RD => rem != 0 && neg,
        RU => rem != 0 && !neg,
        _ => false,
    };
    if up {
        let (s, c) = trunc.overflowing_add(lsb);
        (if c { 1 << 127 } else { s }, c, rem != 0, true)
    } else {
        (trunc, false, rem != 0, false)
    }
}

#[inline(always)]
fn pack(f: Fmt, neg: bool, biased: u32, sig: u128) -> u128 {
    let m = sig >> (127 - f.fbits);
    let m = if f.explicit { m } else { m & f.fmask() };
    (if neg { f.sign() } else { 0 }) | ((biased as u128) << f.eshift()) | m
}

/// Rounds the exact (or jammed) value `sig * 2^(exp - 127)` (`sig`
/// normalised, nonzero) into format `f`, raising OE/UE/PE and applying
/// FTZ.
pub(crate) fn round_pack(ctx: &mut Ctx, f: Fmt, neg: bool, exp: i32, sig: u128) -> u128 {
    debug_assert!(sig >> 127 == 1);
    let p = ctx.prec.min(f.prec());
    let emin = 1 - f.bias();
    let emax = f.bias();
    let (s1, c1, inexact1, up1) = round_sig(sig, p, ctx.rc, neg);
    let e1 = exp + c1 as i32;
    if exp >= emin {
        if e1 > emax {
            return overflow(ctx, f, neg, p);
        }
        if inexact1 {
            ctx.flags |= PE;
        }
        ctx.up = up1;
        return pack(f, neg, (e1 + f.bias()) as u32, s1);
    }
    // Below the normal range. Tiny if the result rounded with an
    // unbounded exponent is still below 2^emin.
    let tiny = e1 < emin;
    let s2 = shr_jam(sig, (emin - exp) as u32);
    let (s3, _, inexact, up) = round_sig(s2, p, ctx.rc, neg);
    if tiny && ctx.ftz && ctx.um {
        ctx.flags |= UE | PE;
        ctx.up = false;
        return f.zero(neg);
    }
    if tiny && (inexact || !ctx.um) {
        ctx.flags |= UE;
    }
    if inexact {
        ctx.flags |= PE;
    }
    ctx.up = up;
    let biased = if s3 >> 127 != 0 { 1 } else { 0 };
    pack(f, neg, biased, s3)
}

fn overflow(ctx: &mut Ctx, f: Fmt, neg: bool, p: u32) -> u128 {
    ctx.flags |= OE | PE;
    let to_inf = match ctx.rc {
        RN => true,
        RU => !neg,
        RD => neg,
        _ => false,
    };
    ctx.up = to_inf;
    if to_inf {
        f.inf(neg)
    } else {
        f.max_finite(neg, p)
    }
}

/// Packs an unpacked value, rounding as needed.
#[inline]
pub(crate) fn pack_un(ctx: &mut Ctx, f: Fmt, u: Un) -> u128 {
    round_pack(ctx, f, u.neg, u.exp, u.sig)
}

/// The exact sum of two finite nonzero values, or `None` if it is zero.
fn add_un(a: Un, b: Un) -> Option<Un> {
    let (x, y) = if a.exp > b.exp || (a.exp == b.exp && a.sig >= b.sig) {
        (a, b)
    } else {
        (b, a)
    };
    let d = (x.exp - y.exp) as u32;
    let xs = shr_jam(x.sig, 1);
    let ys = shr_jam(shr_jam(y.sig, 1), d);
    let s = if x.neg == y.neg { xs + ys } else { xs - ys };
    if s == 0 {
        return None;
    }
    let lz = s.leading_zeros();
    Some(Un {
        neg: x.neg,
        exp: x.exp + 1 - lz as i32,
        sig: s << lz,
    })
}

/// a + b (or a - b).
pub(crate) fn add(ctx: &mut Ctx, f: Fmt, a: u128, b: u128, sub: bool) -> u128 {
    let ([va, vb], den) = match operands(ctx, f, [a, b]) {
        Ok(v) => v,
        Err(n) => return n,
    };
    let vb = if sub { negate(vb) } else { vb };
    with_de(ctx, den, |ctx| match (va, vb) {
        (Val::Inf(s1), Val::Inf(s2)) => {
            if s1 != s2 {
                ctx.flags |= IE;
                f.default_nan()
            } else {
                f.inf(s1)
            }
        }
        (Val::Inf(s), _) | (_, Val::Inf(s)) => f.inf(s),
        (Val::Zero(s1), Val::Zero(s2)) => f.zero(if s1 == s2 { s1 } else { ctx.rc == RD }),
        (Val::Zero(_), Val::Fin(u, _)) | (Val::Fin(u, _), Val::Zero(_)) => pack_un(ctx, f, u),
        (Val::Fin(x, _), Val::Fin(y, _)) => match add_un(x, y) {
            Some(u) => pack_un(ctx, f, u),
            None => f.zero(ctx.rc == RD),
        },
        _ => f.default_nan(),
    })
}

#[inline(always)]
fn negate(v: Val) -> Val {
    match v {
        Val::Zero(s) => Val::Zero(!s),
        Val::Inf(s) => Val::Inf(!s),
        Val::Fin(u, d) => Val::Fin(Un { neg: !u.neg, ..u }, d),
        o => o,
    }
}

/// The exact product of two finite nonzero values (at most 64
/// significant bits each).
pub(crate) fn mul_un(a: Un, b: Un) -> Un {
    let p = (a.sig >> 64) * (b.sig >> 64);
    let lz = p.leading_zeros();
    Un {
        neg: a.neg != b.neg,
        exp: a.exp + b.exp + 1 - lz as i32,
        sig: p << lz,
    }
}

pub(crate) fn mul(ctx: &mut Ctx, f: Fmt, a: u128, b: u128) -> u128 {
    let ([va, vb], den) = match operands(ctx, f, [a, b]) {
        Ok(v) => v,
        Err(n) => return n,
    };
    let sign = f.is_neg(a) != f.is_neg(b);
    with_de(ctx, den, |ctx| match (va, vb) {
        (Val::Inf(_), Val::Zero(_)) | (Val::Zero(_), Val::Inf(_)) => {
            ctx.flags |= IE;
            f.default_nan()
        }
        (Val::Inf(_), _) | (_, Val::Inf(_)) => f.inf(sign),
        (Val::Zero(_), _) | (_, Val::Zero(_)) => f.zero(sign),
        (Val::Fin(x, _), Val::Fin(y, _)) => pack_un(ctx, f, mul_un(x, y)),
        _ => f.default_nan(),
    })
}

/// The quotient of two finite nonzero values, jammed.
fn div_un(a: Un, b: Un) -> Un {
    let sa = a.sig >> 64;
    let sb = b.sig >> 64;
    let n = sa << 64;
    let q1 = n / sb;
    let r1 = n % sb;
    let n2 = r1 << 64;
    let q2 = n2 / sb;
    let r2 = n2 % sb;
    let (sig, exp) = if q1 >> 64 != 0 {
        (
            (q1 << 63) | (q2 >> 1) | (q2 & 1) | (r2 != 0) as u128,
            a.exp - b.exp,
        )
    } else {
        ((q1 << 64) | q2 | (r2 != 0) as u128, a.exp - b.exp - 1)
    };
    Un {
        neg: a.neg != b.neg,
        exp,
        sig,
    }
}

pub(crate) fn div(ctx: &mut Ctx, f: Fmt, a: u128, b: u128) -> u128 {
    let ([va, vb], den) = match operands(ctx, f, [a, b]) {
        Ok(v) => v,
        Err(n) => return n,
    };
    let sign = f.is_neg(a) != f.is_neg(b);
    with_de(ctx, den, |ctx| match (va, vb) {
        (Val::Inf(_), Val::Inf(_)) | (Val::Zero(_), Val::Zero(_)) => {
            ctx.flags |= IE;
            f.default_nan()
        }
        (Val::Inf(_), _) => f.inf(sign),
        (_, Val::Inf(_)) => f.zero(sign),
        (Val::Zero(_), _) => f.zero(sign),
        (_, Val::Zero(_)) => {
            ctx.flags |= ZE;
            f.inf(sign)
        }
        (Val::Fin(x, _), Val::Fin(y, _)) => pack_un(ctx, f, div_un(x, y)),
        _ => f.default_nan(),
    })
}

/// The square root of a positive finite value, jammed.
fn sqrt_un(a: Un) -> Un {
    let mut m = a.sig >> 64;
    let mut e = a.exp - 63;
    if e & 1 != 0 {
        m <<= 1;
        e -= 1;
    }
    // floor(sqrt(m * 2^(2K))), digit by digit.
    const K: u32 = 40;
    let pairs = (128 - m.leading_zeros()).div_ceil(2) + K;
    let mut rem: u128 = 0;
    let mut root: u128 = 0;
    for j in (0..pairs).rev() {
        let pair = if j >= K { (m >> (2 * (j - K))) & 3 } else { 0 };
        rem = (rem << 2) | pair;
        let t = (root << 2) | 1;
        if rem >= t {
            rem -= t;
            root = (root << 1) | 1;
        } else {
            root <<= 1;
        }
    }
    let lz = root.leading_zeros();
    Un {
        neg: false,
        exp: e / 2 - K as i32 + 127 - lz as i32,
        sig: (root << lz) | (rem != 0) as u128,
    }
}

pub(crate) fn sqrt(ctx: &mut Ctx, f: Fmt, a: u128) -> u128 {
    let ([va], den) = match operands(ctx, f, [a]) {
        Ok(v) => v,
        Err(n) => return n,
    };
    with_de(ctx, den, |ctx| match va {
        Val::Zero(s) => f.zero(s),
        Val::Inf(false) => f.inf(false),
        Val::Fin(u, _) if !u.neg => pack_un(ctx, f, sqrt_un(u)),
        _ => {
            ctx.flags |= IE;
            f.default_nan()
        }
    })
}

/// Converts between formats (SNaN raises IE and is quieted; payloads keep
/// their high bits).
pub(crate) fn convert(ctx: &mut Ctx, from: Fmt, to: Fmt, a: u128) -> u128 {
    match unpack(ctx, from, a) {
        Val::Zero(s) => to.zero(s),
        Val::Inf(s) => to.inf(s),
        Val::Bad => {
            ctx.flags |= IE;
            to.default_nan()
        }
        Val::NaN => {
            if from.is_snan(a) {
                ctx.flags |= IE;
            }
            let payload = a & from.fmask();
            let payload = if to.fbits >= from.fbits {
                payload << (to.fbits - from.fbits)
            } else {
                payload >> (from.fbits - to.fbits)
            };
            to.inf(from.is_neg(a)) | payload | to.quiet_bit()
        }
        Val::Fin(u, d) => {
            if d {
                ctx.flags |= DE;
            }
            pack_un(ctx, to, u)
        }
    }
}

/// Converts an integer (sign and magnitude) to format `f`.
pub(crate) fn from_int(ctx: &mut Ctx, f: Fmt, neg: bool, mag: u128) -> u128 {
    if mag == 0 {
        return f.zero(false);
    }
    let lz = mag.leading_zeros();
    round_pack(ctx, f, neg, 127 - lz as i32, mag << lz)
}

#[inline]
pub(crate) fn from_i64(ctx: &mut Ctx, f: Fmt, v: i64) -> u128 {
    from_int(ctx, f, v < 0, v.unsigned_abs() as u128)
}

/// Rounds a finite nonzero value to an integer magnitude with `rc`:
/// (magnitude, inexact). Magnitudes of 2^66 and above saturate there.
fn round_int_mag(u: Un, rc: u32) -> (u128, bool) {
    if u.exp > 65 {
        return (1 << 66, false);
    }
    let (ip, rem_gt_half, rem_eq_half, rem_nz) = if u.exp < -1 {
        (0u128, false, false, true)
    } else if u.exp == -1 {
        (0, u.sig != 1 << 127, u.sig == 1 << 127, true)
    } else {
        let sh = (127 - u.exp) as u32;
        let rem = u.sig & ((1u128 << sh) - 1);
        let half = 1u128 << (sh - 1);
        (u.sig >> sh, rem > half, rem == half, rem != 0)
    };
    let up = match rc {
        RN => rem_gt_half || (rem_eq_half && ip & 1 != 0),
        RD => rem_nz && u.neg,
        RU => rem_nz && !u.neg,
        _ => false,
    };
    (ip + up as u128, rem_nz)
}

/// Converts to a signed integer of `bits` bits with rounding `rc`; NaNs,
/// infinities and out-of-range values raise IE and give the integer
/// indefinite (the most negative value).
pub(crate) fn to_int(ctx: &mut Ctx, f: Fmt, a: u128, rc: u32, bits: u32) -> i64 {
    let indefinite = (u64::MAX << (bits - 1)) as i64;
    match unpack(ctx, f, a) {
        Val::Zero(_) => 0,
        Val::Fin(u, _) => {
            let (mag, inexact) = round_int_mag(u, rc);
            let limit = 1u128 << (bits - 1);
            if mag > limit || (mag == limit && !u.neg) {
                ctx.flags |= IE;
                return indefinite;
            }
            if inexact {
                ctx.flags |= PE;
                // Rounded away from zero iff above the truncated value.
                ctx.up = mag > round_int_mag(u, RZ).0;
            }
            let v = mag as i64;
            if u.neg {
                v.wrapping_neg()
            } else {
                v
            }
        }
        _ => {
            ctx.flags |= IE;
            indefinite
        }
    }
}

/// Rounds to an integral value in the same format (FRNDINT, ROUNDSS).
/// `pe` false suppresses the precision exception.
pub(crate) fn round_to_integral(ctx: &mut Ctx, f: Fmt, a: u128, rc: u32, pe: bool) -> u128 {
    match unpack(ctx, f, a) {
        Val::NaN | Val::Bad => propagate(ctx, f, &[a]),
        Val::Zero(s) => f.zero(s),
        Val::Inf(s) => f.inf(s),
        Val::Fin(u, d) => {
            if d && f.explicit {
                ctx.flags |= DE;
            }
            if u.exp >= f.fbits as i32 {
                return a;
            }
            let (mag, inexact) = round_int_mag(u, rc);
            if inexact && pe {
                ctx.flags |= PE;
            }
            if mag == 0 {
                return f.zero(u.neg);
            }
            let lz = mag.leading_zeros();
            let mut exact = Ctx { prec: 64, ..*ctx };
            let r = round_pack(&mut exact, f, u.neg, 127 - lz as i32, mag << lz);
            ctx.up = inexact && mag > round_int_mag(u, RZ).0;
            r
        }
    }
}

/// Compares two values: `None` if unordered. Raises IE for a signalling
/// NaN, or for any NaN when `signalling`; DE for a denormal operand.
pub(crate) fn compare(
    ctx: &mut Ctx,
    f: Fmt,
    a: u128,
    b: u128,
    signalling: bool,
) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let va = unpack(ctx, f, a);
    let vb = unpack(ctx, f, b);
    let nan = |v: Val| matches!(v, Val::NaN | Val::Bad);
    if nan(va) || nan(vb) {
        if signalling
            || f.is_snan(a)
            || f.is_snan(b)
            || matches!(va, Val::Bad)
            || matches!(vb, Val::Bad)
        {
            ctx.flags |= IE;
        }
        return None;
    }
    if ctx.den || matches!(va, Val::Fin(_, true)) || matches!(vb, Val::Fin(_, true)) {
        ctx.flags |= DE;
    }
    // Map to (class, sign) keys: -inf < -fin < 0 < +fin < +inf.
    fn key(v: Val) -> (i32, i32, u128) {
        match v {
            Val::Zero(_) => (0, 0, 0),
            Val::Inf(s) => (if s { -2 } else { 2 }, 0, 0),
            Val::Fin(u, _) => (if u.neg { -1 } else { 1 }, u.exp, u.sig),
            _ => (0, 0, 0),
        }
    }
    let (ka, kb) = (key(va), key(vb));
    Some(match ka.0.cmp(&kb.0) {
        Ordering::Equal if ka.0 == 1 => (ka.1, ka.2).cmp(&(kb.1, kb.2)),
        Ordering::Equal if ka.0 == -1 => (kb.1, kb.2).cmp(&(ka.1, ka.2)),
        o => o,
    })
}

/// Multiplies by 2^n exactly, then rounds (FSCALE).
pub(crate) fn scale(ctx: &mut Ctx, f: Fmt, u: Un, n: i32) -> u128 {
    round_pack(ctx, f, u.neg, u.exp.saturating_add(n), u.sig)
}

/// The host f64 nearest to `b` (for the x87 transcendental functions,
/// which are computed in double precision).
pub(crate) fn to_host(f: Fmt, b: u128) -> f64 {
    let mut ctx = Ctx::sse(0x1F80);
    f64::from_bits(convert(&mut ctx, f, F64, b) as u64)
}

/// A host f64 in format `f`, rounded with `ctx`.
pub(crate) fn from_host(ctx: &mut Ctx, f: Fmt, v: f64) -> u128 {
    let mut c = Ctx { flags: 0, ..*ctx };
    let r = convert(&mut c, F64, f, v.to_bits() as u128);
    ctx.flags |= c.flags & !DE;
    ctx.up = c.up;
    r
}
