//! A small seeded PRNG (SplitMix64): fast, dependency-free and stable across
//! platforms and crate versions, so a seed printed in a mismatch report
//! reproduces the same case forever.

/// SplitMix64 (Steele, Lea, Flood 2014), the generator `rand`'s `SeedableRng`
/// uses to expand seeds. Statistically fine for test-case generation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator for one case: independent of every other case, so a
    /// single case can be re-run by its index.
    pub fn for_case(seed: u64, class: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ class.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let a = r.next_u64();
        let mut r = Rng(a ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 != 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An "interesting" value of `bits` bits (8, 16, 32 or 64): zero, one,
    /// all-ones, values around the sign boundary, single bits, small and
    /// large numbers, or plain random bits.
    pub fn interesting(&mut self, bits: u32) -> u64 {
        let mask = mask(bits);
        let sign = 1u64 << (bits - 1);
        let v = match self.below(16) {
            0 => 0,
            1 => 1,
            2 => mask,
            3 => sign - 1,
            4 => sign,
            5 => sign + 1,
            6 => sign.wrapping_sub(2),
            7 => 1 << self.below(bits as u64),
            8 => self.below(16),
            9 => mask - self.below(16),
            10 => !(1u64 << self.below(bits as u64)),
            11 => {
                // A run of ones somewhere.
                let lo = self.below(bits as u64);
                let len = self.range(1, bits as u64 - lo);
                (mask_len(len as u32)) << lo
            }
            _ => self.next_u64(),
        };
        v & mask
    }
}

/// All-ones in the low `bits` bits.
pub fn mask(bits: u32) -> u64 {
    mask_len(bits)
}

fn mask_len(len: u32) -> u64 {
    if len >= 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_bounded() {
        let mut a = Rng::for_case(1, 2, 3);
        let mut b = Rng::for_case(1, 2, 3);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(7) < 7);
            let _ = b.below(7);
            let v = a.interesting(16);
            let _ = b.interesting(16);
            assert!(v <= 0xFFFF);
        }
        assert_ne!(
            Rng::for_case(1, 2, 3).next_u64(),
            Rng::for_case(1, 2, 4).next_u64()
        );
    }
}
