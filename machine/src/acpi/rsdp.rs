//! The Root System Description Pointer (ACPI 6.5, 5.2.5.3): the structure
//! an OS finds first, by scanning 0xE0000-0xFFFFF on 16-byte boundaries
//! for "RSD PTR " (5.2.5.1) or through `boot_params.acpi_rsdp_addr`.
//! Revision 2: it points at the XSDT. There is no RSDT; an OS reading ACPI
//! 2.0 or later tables uses the XSDT when the revision is 2 and its address
//! is not zero.

use super::sdt::{checksum, OEM_ID};

/// Revision 2: ACPI 2.0 and later.
pub const REVISION: u8 = 2;
/// Bytes of the revision-2 structure.
pub const LEN: usize = 36;
/// Bytes covered by the ACPI 1.0 checksum.
const V1_LEN: usize = 20;
/// The RSDP must sit on a 16-byte boundary to be found by the scan.
pub const ALIGN: usize = 16;

/// The RSDP pointing at the XSDT at `xsdt`.
pub fn build(xsdt: u64) -> Vec<u8> {
    let mut t = Vec::with_capacity(LEN);
    t.extend_from_slice(b"RSD PTR "); // Signature
    t.push(0); // Checksum (first 20 bytes)
    t.extend_from_slice(&OEM_ID); // OEMID
    t.push(REVISION); // Revision
    t.extend_from_slice(&0u32.to_le_bytes()); // RsdtAddress: no RSDT
    t.extend_from_slice(&(LEN as u32).to_le_bytes()); // Length
    t.extend_from_slice(&xsdt.to_le_bytes()); // XsdtAddress
    t.push(0); // Extended Checksum (whole structure)
    t.extend_from_slice(&[0; 3]); // Reserved
    t[8] = checksum(&t[..V1_LEN]);
    t[32] = checksum(&t);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::sdt::sums_to_zero;

    #[test]
    fn rsdp_both_checksums_and_length_are_right() {
        let t = build(0xE_0030);
        assert_eq!(t.len(), LEN);
        assert!(sums_to_zero(&t[..20]), "ACPI 1.0 checksum");
        assert!(sums_to_zero(&t), "extended checksum");
        assert_eq!(u32::from_le_bytes(t[20..24].try_into().unwrap()), 36);
        assert_eq!(u64::from_le_bytes(t[24..32].try_into().unwrap()), 0xE_0030);
        assert_eq!(t[15], 2);
    }
}
