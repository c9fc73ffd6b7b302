//! Arithmetic flags as pure functions of operands and result (SDM Vol. 1,
//! 3.4.3.1 and Appendix A). `size` is the operand size in bytes.
//!
//! Flags are computed eagerly: each function returns the six arithmetic
//! flags, which the caller merges into RFLAGS with [`merge`].

use crate::state::rflags::{AF, CF, OF, PF, SF, ZF};

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
}
