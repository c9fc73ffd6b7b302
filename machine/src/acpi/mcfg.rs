//! The PCI Express memory-mapped configuration table, "MCFG" (PCI Firmware
//! Specification 3.2, 4.1.2): where the ECAM window of each segment is.
//! One allocation: segment 0, buses 0-255, at [`ECAM_BASE`].

use super::sdt::Sdt;
use super::{ECAM_BASE, ECAM_BUSES};

pub const REVISION: u8 = 1;
/// Header, 8 reserved bytes, one 16-byte allocation.
pub const LEN: usize = 36 + 8 + 16;

/// The MCFG table.
pub fn build() -> Vec<u8> {
    let mut t = Sdt::new(*b"MCFG", REVISION);
    t.zeroes(8); // Reserved
                 // Configuration Space Base Address Allocation Structure (Table 4-3).
    t.u64(ECAM_BASE) // Base Address
        .u16(0) // PCI Segment Group Number
        .u8(0) // Start Bus Number
        .u8((ECAM_BUSES - 1) as u8) // End Bus Number
        .u32(0); // Reserved
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::sdt::sums_to_zero;

    #[test]
    fn mcfg_checksum_and_length_are_right() {
        let t = build();
        assert_eq!(t.len(), LEN);
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
            LEN
        );
        assert!(sums_to_zero(&t));
    }

    #[test]
    fn mcfg_allocation_covers_256_buses_at_ecam_base() {
        let t = build();
        assert_eq!(
            u64::from_le_bytes(t[44..52].try_into().unwrap()),
            0xB000_0000
        );
        assert_eq!(t[52..56], [0, 0, 0, 255]);
    }
}
