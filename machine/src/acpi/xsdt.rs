//! The Extended System Description Table, "XSDT" (ACPI 6.5, 5.2.8): 64-bit
//! pointers to every other described table except the DSDT and FACS (those
//! hang off the FADT).

use super::sdt::Sdt;

pub const REVISION: u8 = 1;

/// Bytes of an XSDT listing `entries` tables.
pub const fn len(entries: usize) -> usize {
    36 + 8 * entries
}

/// The XSDT pointing at `tables`, in order.
pub fn build(tables: &[u64]) -> Vec<u8> {
    let mut t = Sdt::new(*b"XSDT", REVISION);
    for &addr in tables {
        t.u64(addr);
    }
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::sdt::sums_to_zero;

    #[test]
    fn xsdt_checksum_and_length_are_right() {
        let t = build(&[0xE_0100, 0x1_0000_0000]);
        assert_eq!(t.len(), len(2));
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
            len(2)
        );
        assert!(sums_to_zero(&t));
        assert_eq!(
            u64::from_le_bytes(t[44..52].try_into().unwrap()),
            0x1_0000_0000
        );
    }
}
