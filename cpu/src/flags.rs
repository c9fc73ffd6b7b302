//! Arithmetic flags as pure functions of operands and result (SDM Vol. 1,
//! 3.4.3.1 and Appendix A). `size` is the operand size in bytes.
//!
//! Most instructions compute their flags eagerly: each function returns the
//! six arithmetic flags, which the caller merges into RFLAGS with [`merge`].
//!
//! The hottest ones (the specialised handlers of `exec/fast.rs`: ADD, SUB,
//! CMP, AND/OR/XOR/TEST, INC/DEC, NEG, SHL/SHR/SAR) record their operands
//! and result in [`Lazy`] instead, and the flags are computed only when
//! something reads them: a condition ([`Core::cond`] answers the common
//! ones straight from the operands), or [`Core::materialize`], which folds
//! them into `rflags`. Every other handler runs behind a wrapper that
//! materializes first (see `exec::handler`), the run loop materializes
//! before delivering an event and before returning, so outside the
//! specialised handlers `rflags` is always exact.

use crate::state::rflags::{AF, ARITH, CF, OF, PF, SF, ZF};
use crate::state::Core;

/// All-ones mask of an operand of `size` bytes.
#[inline(always)]
pub(crate) fn mask(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

/// The sign bit of an operand of `size` bytes.
#[inline(always)]
pub(crate) fn sign_bit(size: usize) -> u64 {
    1u64 << (size * 8 - 1)
}

/// Sign-extends the low `size` bytes of `v` to 64 bits.
#[inline(always)]
pub(crate) fn sext(v: u64, size: usize) -> u64 {
    let shift = 64 - size * 8;
    (((v << shift) as i64) >> shift) as u64
}

/// PF for each value of a result's low byte: set when it has an even
/// number of ones (a table: the baseline x86-64 target has no POPCNT).
static PARITY: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if (i as u8).count_ones().is_multiple_of(2) {
            PF as u8
        } else {
            0
        };
        i += 1;
    }
    t
};

#[inline(always)]
fn parity(v: u64) -> u64 {
    PARITY[(v & 0xFF) as usize] as u64
}

/// SF, ZF and PF of a result.
#[inline(always)]
pub(crate) fn szp(res: u64, size: usize) -> u64 {
    let r = res & mask(size);
    let mut f = parity(r);
    if r == 0 {
        f |= ZF;
    }
    if r & sign_bit(size) != 0 {
        f |= SF;
    }
    f
}

/// Replaces the flags in `which` of `rflags` with those of `new`.
#[inline(always)]
pub(crate) fn merge(rflags: u64, new: u64, which: u64) -> u64 {
    (rflags & !which) | (new & which)
}

/// Flags of `a + b + carry` = `res` (ADD, ADC, INC without CF).
#[inline(always)]
pub(crate) fn add(a: u64, b: u64, carry: u64, res: u64, size: usize) -> u64 {
    let m = mask(size);
    let (a, b, r) = (a & m, b & m, res & m);
    let mut f = szp(r, size);
    if r < a || (carry != 0 && r == a) {
        f |= CF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    if (a ^ r) & (b ^ r) & sign_bit(size) != 0 {
        f |= OF;
    }
    f
}

/// Flags of `a - b - borrow` = `res` (SUB, SBB, CMP, NEG, DEC without CF).
#[inline(always)]
pub(crate) fn sub(a: u64, b: u64, borrow: u64, res: u64, size: usize) -> u64 {
    let m = mask(size);
    let (a, b, r) = (a & m, b & m, res & m);
    let mut f = szp(r, size);
    if a < b || (borrow != 0 && a == b) {
        f |= CF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    if (a ^ b) & (a ^ r) & sign_bit(size) != 0 {
        f |= OF;
    }
    f
}

/// Flags of AND/OR/XOR/TEST: CF and OF clear, AF clear (undefined by the
/// SDM; Intel and AMD parts clear it).
#[inline(always)]
pub(crate) fn logic(res: u64, size: usize) -> u64 {
    szp(res, size)
}

/// Arithmetic flags not yet computed: the operation (`kind`: a class
/// below, plus log2 of the operand size in the low two bits), its operands
/// and result, all truncated to the operand size. `kind` is [`Lazy::NONE`]
/// when `rflags` holds the flags.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Lazy {
    pub kind: u8,
    pub a: u64,
    pub b: u64,
    pub r: u64,
}

impl Lazy {
    pub const NONE: u8 = 0;
    /// `r = a + b`.
    pub const ADD: u8 = 1 << 2;
    /// `r = a - b` (SUB, CMP, NEG).
    pub const SUB: u8 = 2 << 2;
    /// AND, OR, XOR, TEST: only `r` matters.
    pub const LOGIC: u8 = 3 << 2;
    /// `r = a + 1`, `b` = the CF to keep.
    pub const INC: u8 = 4 << 2;
    /// `r = a - 1`, `b` = the CF to keep.
    pub const DEC: u8 = 5 << 2;
    /// SHL/SHR/SAR of `a` by `b` (non-zero, masked) giving `r`.
    pub const SHL: u8 = 6 << 2;
    pub const SHR: u8 = 7 << 2;
    pub const SAR: u8 = 8 << 2;
    /// The class bits of `kind`.
    pub const CLASS: u8 = 15 << 2;
    /// Flag bit of `kind`: CF and OF were since replaced by [`Lazy::OVR_SET`]
    /// (IMUL sets only those two; the others stay as the class says).
    pub const OVR: u8 = 1 << 6;
    /// With [`Lazy::OVR`]: CF = OF = 1 (else both 0).
    pub const OVR_SET: u8 = 1 << 7;

    /// The `kind` of class `class` at operand size `size` (1, 2, 4 or 8).
    #[inline(always)]
    pub const fn kind(class: u8, size: usize) -> u8 {
        class | size.trailing_zeros() as u8
    }
}

impl Core {
    /// Records the operation whose flags are now current.
    #[inline(always)]
    pub(crate) fn set_lazy(&mut self, kind: u8, a: u64, b: u64, r: u64) {
        self.lf = Lazy { kind, a, b, r };
    }

    /// Folds pending lazy flags into `rflags`.
    #[inline(always)]
    pub(crate) fn materialize(&mut self) {
        if self.lf.kind != Lazy::NONE {
            self.materialize_slow();
        }
    }

    #[inline(never)]
    fn materialize_slow(&mut self) {
        self.rflags = merge(self.rflags, self.lazy_arith(), ARITH);
        self.lf.kind = Lazy::NONE;
    }

    /// Replaces CF and OF (both set if `set`, else both clear), as IMUL
    /// does, keeping any pending lazy flags pending.
    #[inline(always)]
    pub(crate) fn set_cf_of(&mut self, set: bool) {
        if self.lf.kind == Lazy::NONE {
            self.rflags = merge(self.rflags, if set { CF | OF } else { 0 }, CF | OF);
        } else {
            self.lf.kind = (self.lf.kind & (Lazy::CLASS | 3))
                | Lazy::OVR
                | if set { Lazy::OVR_SET } else { 0 };
        }
    }

    /// The arithmetic flags of the pending lazy operation.
    fn lazy_arith(&self) -> u64 {
        let kind = self.lf.kind;
        let f = self.lazy_class_arith();
        if kind & Lazy::OVR == 0 {
            f
        } else if kind & Lazy::OVR_SET != 0 {
            f | CF | OF
        } else {
            f & !(CF | OF)
        }
    }

    fn lazy_class_arith(&self) -> u64 {
        let Lazy { kind, a, b, r } = self.lf;
        let size = 1usize << (kind & 3);
        match kind & Lazy::CLASS {
            Lazy::ADD => add(a, b, 0, r, size),
            Lazy::SUB => sub(a, b, 0, r, size),
            Lazy::LOGIC => logic(r, size),
            Lazy::INC => (add(a, 1, 0, r, size) & !CF) | (b & CF),
            Lazy::DEC => (sub(a, 1, 0, r, size) & !CF) | (b & CF),
            Lazy::SHL | Lazy::SHR | Lazy::SAR => {
                use crate::exec::ShiftOp;
                let op = match kind & Lazy::CLASS {
                    Lazy::SHL => ShiftOp::Shl,
                    Lazy::SHR => ShiftOp::Shr,
                    _ => ShiftOp::Sar,
                };
                crate::exec::shift_flags(op, a, b as u32, size)
            }
            _ => self.rflags,
        }
    }

    /// The current arithmetic flags (and the rest of RFLAGS), lazy or not.
    #[inline(always)]
    pub(crate) fn flags_now(&self) -> u64 {
        if self.lf.kind == Lazy::NONE {
            self.rflags
        } else {
            merge(self.rflags, self.lazy_arith(), ARITH)
        }
    }

    /// CF, lazy or not.
    #[inline(always)]
    pub(crate) fn carry(&self) -> u64 {
        let Lazy { kind, a, b, r } = self.lf;
        if kind & Lazy::OVR != 0 {
            return (kind & Lazy::OVR_SET != 0) as u64;
        }
        match kind & Lazy::CLASS {
            Lazy::NONE => self.rflags & CF,
            Lazy::ADD => (r < a) as u64,
            Lazy::SUB => (a < b) as u64,
            Lazy::LOGIC => 0,
            Lazy::INC | Lazy::DEC => b & CF,
            _ => self.lazy_arith() & CF,
        }
    }

    /// Evaluates condition code `cc` (SDM Vol. 1, Appendix B). The common
    /// conditions after CMP/SUB, TEST/AND/OR/XOR and ADD are answered from
    /// the lazy operands without computing the flags.
    #[inline(always)]
    pub(crate) fn cond(&self, cc: iced_x86::ConditionCode) -> bool {
        use iced_x86::ConditionCode as C;
        let Lazy { kind, a, b, r } = self.lf;
        if kind == Lazy::NONE {
            return cond_of(self.rflags, cc);
        }
        // Every lazy result is truncated, so ZF is `r == 0` and SF its top
        // bit for all classes.
        let sign = 1u64 << ((8u32 << (kind & 3)) - 1);
        let zf = r == 0;
        let sf = r & sign != 0;
        if kind & Lazy::OVR != 0 {
            // IMUL replaced CF and OF (both equal).
            let cfof = kind & Lazy::OVR_SET != 0;
            return match cc {
                C::e => zf,
                C::ne => !zf,
                C::s => sf,
                C::ns => !sf,
                C::o | C::b => cfof,
                C::no | C::ae => !cfof,
                C::be => cfof || zf,
                C::a => !cfof && !zf,
                C::l => sf != cfof,
                C::ge => sf == cfof,
                C::le => zf || sf != cfof,
                C::g => !zf && sf == cfof,
                _ => cond_of(self.flags_now(), cc),
            };
        }
        match cc {
            C::e => return zf,
            C::ne => return !zf,
            C::s => return sf,
            C::ns => return !sf,
            _ => {}
        }
        let (cf, of) = match kind & Lazy::CLASS {
            Lazy::SUB => match cc {
                // Unsigned and signed compares straight from the operands.
                C::b => return a < b,
                C::ae => return a >= b,
                C::be => return a <= b,
                C::a => return a > b,
                C::l => return (a ^ sign) < (b ^ sign),
                C::ge => return (a ^ sign) >= (b ^ sign),
                C::le => return (a ^ sign) <= (b ^ sign),
                C::g => return (a ^ sign) > (b ^ sign),
                _ => (a < b, (a ^ b) & (a ^ r) & sign != 0),
            },
            Lazy::ADD => (r < a, (a ^ r) & (b ^ r) & sign != 0),
            Lazy::LOGIC => (false, false),
            // OF: INC overflows only from the largest positive value to
            // the sign bit, DEC only from the sign bit down.
            Lazy::INC => (b & CF != 0, r == sign),
            Lazy::DEC => (b & CF != 0, a == sign),
            _ => return cond_of(self.flags_now(), cc),
        };
        match cc {
            C::e => zf,
            C::ne => !zf,
            C::s => sf,
            C::ns => !sf,
            C::b => cf,
            C::ae => !cf,
            C::be => cf || zf,
            C::a => !cf && !zf,
            C::o => of,
            C::no => !of,
            C::l => sf != of,
            C::ge => sf == of,
            C::le => zf || sf != of,
            C::g => !zf && sf == of,
            _ => cond_of(self.flags_now(), cc),
        }
    }
}

/// Evaluates condition code `cc` on the flags `f`.
#[inline(always)]
pub(crate) fn cond_of(f: u64, cc: iced_x86::ConditionCode) -> bool {
    use iced_x86::ConditionCode as C;
    let sf_ne_of = (f & SF != 0) != (f & OF != 0);
    match cc {
        C::o => f & OF != 0,
        C::no => f & OF == 0,
        C::b => f & CF != 0,
        C::ae => f & CF == 0,
        C::e => f & ZF != 0,
        C::ne => f & ZF == 0,
        C::be => f & (CF | ZF) != 0,
        C::a => f & (CF | ZF) == 0,
        C::s => f & SF != 0,
        C::ns => f & SF == 0,
        C::p => f & PF != 0,
        C::np => f & PF == 0,
        C::l => sf_ne_of,
        C::ge => !sf_ne_of,
        C::le => sf_ne_of || f & ZF != 0,
        C::g => !sf_ne_of && f & ZF == 0,
        C::None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_byte_overflow_and_carry() {
        let f = add(0x7F, 1, 0, 0x80, 1);
        assert_eq!(f & (OF | SF | CF | AF | ZF), OF | SF | AF);
        let f = add(0xFF, 1, 0, 0x100, 1);
        assert_eq!(f & (OF | CF | ZF | AF | PF), CF | ZF | AF | PF);
    }

    #[test]
    fn adc_with_carry_wraps_to_same_value_sets_cf() {
        let f = add(5, u64::MAX, 1, 5, 8);
        assert!(f & CF != 0);
    }

    #[test]
    fn sub_borrow_and_signed_overflow() {
        let f = sub(0, 1, 0, u64::MAX, 4);
        assert_eq!(f & (CF | SF | OF | AF), CF | SF | AF);
        let f = sub(0x8000, 1, 0, 0x7FFF, 2);
        assert_eq!(f & (OF | CF | SF), OF);
        let f = sub(3, 3, 1, u64::MAX, 8);
        assert!(f & CF != 0);
    }

    #[test]
    fn sext_extends_sign() {
        assert_eq!(sext(0x80, 1), 0xFFFF_FFFF_FFFF_FF80);
        assert_eq!(sext(0x7FFF, 2), 0x7FFF);
        assert_eq!(sext(0x8000_0000, 4), 0xFFFF_FFFF_8000_0000);
    }

    /// Every condition on every lazy class agrees with the eager flags.
    #[test]
    fn lazy_conditions_match_eager_flags() {
        use crate::exec::ShiftOp;
        use iced_x86::ConditionCode as C;
        let ccs = [
            C::o,
            C::no,
            C::b,
            C::ae,
            C::e,
            C::ne,
            C::be,
            C::a,
            C::s,
            C::ns,
            C::p,
            C::np,
            C::l,
            C::ge,
            C::le,
            C::g,
        ];
        let mut core = crate::Cpu::new(std::sync::Arc::new(mem::Bus::new(std::sync::Arc::new(
            mem::GuestRam::new(
                mem::RamLayout {
                    low: 1 << 20,
                    high: 0,
                },
                Default::default(),
            )
            .unwrap(),
        ))));
        let values = [
            0u64,
            1,
            2,
            0x7F,
            0x80,
            0xFF,
            0x7FFF,
            0x8000,
            0xFFFF,
            0x7FFF_FFFF,
        ];
        let more = [
            0x8000_0000u64,
            0xFFFF_FFFF,
            1 << 63,
            u64::MAX,
            u64::MAX >> 1,
            0x1234_5678_9ABC_DEF0,
        ];
        let all: Vec<u64> = values.iter().chain(more.iter()).copied().collect();
        for size in [1usize, 2, 4, 8] {
            let m = mask(size);
            for &a in &all {
                for &b in &all {
                    let (a, b) = (a & m, b & m);
                    for cin in [0u64, 1] {
                        let cases = [
                            (
                                Lazy::ADD,
                                a,
                                b,
                                a.wrapping_add(b) & m,
                                add(a, b, 0, a.wrapping_add(b), size),
                            ),
                            (
                                Lazy::SUB,
                                a,
                                b,
                                a.wrapping_sub(b) & m,
                                sub(a, b, 0, a.wrapping_sub(b), size),
                            ),
                            (Lazy::LOGIC, a, b, a & b, logic(a & b, size)),
                            (
                                Lazy::INC,
                                a,
                                cin,
                                a.wrapping_add(1) & m,
                                (add(a, 1, 0, a.wrapping_add(1), size) & !CF) | cin,
                            ),
                            (
                                Lazy::DEC,
                                a,
                                cin,
                                a.wrapping_sub(1) & m,
                                (sub(a, 1, 0, a.wrapping_sub(1), size) & !CF) | cin,
                            ),
                        ];
                        for (class, la, lb, r, eager) in cases {
                            for base in [0x2u64, 0x2 | ARITH] {
                                core.rflags = base;
                                core.lf = Lazy {
                                    kind: Lazy::kind(class, size),
                                    a: la,
                                    b: lb,
                                    r,
                                };
                                let want = merge(base, eager, ARITH);
                                assert_eq!(
                                    core.flags_now(),
                                    want,
                                    "class {class} size {size} a {a:#x} b {b:#x}"
                                );
                                assert_eq!(core.carry(), want & CF);
                                for cc in ccs {
                                    assert_eq!(
                                        core.cond(cc),
                                        cond_of(want, cc),
                                        "class {class} size {size} a {a:#x} b {b:#x} {cc:?}"
                                    );
                                }
                                for set in [true, false] {
                                    core.set_cf_of(set);
                                    let want = merge(want, if set { CF | OF } else { 0 }, CF | OF);
                                    assert_eq!(core.flags_now(), want);
                                    assert_eq!(core.carry(), want & CF);
                                    for cc in ccs {
                                        assert_eq!(core.cond(cc), cond_of(want, cc));
                                    }
                                }
                            }
                        }
                    }
                    let count = (b as u32 & if size == 8 { 63 } else { 31 }).max(1);
                    for (class, op) in [
                        (Lazy::SHL, ShiftOp::Shl),
                        (Lazy::SHR, ShiftOp::Shr),
                        (Lazy::SAR, ShiftOp::Sar),
                    ] {
                        let (r, f) = crate::exec::shift_op(op, a, count, size, 0x2);
                        core.rflags = 0x2;
                        core.lf = Lazy {
                            kind: Lazy::kind(class, size),
                            a,
                            b: count as u64,
                            r,
                        };
                        assert_eq!(core.flags_now(), f);
                        for cc in ccs {
                            assert_eq!(core.cond(cc), cond_of(f, cc));
                        }
                    }
                }
            }
        }
    }
}
