//! The Firmware ACPI Control Structure, "FACS" (ACPI 6.5, 5.2.10, Table
//! 5.14): the global lock and the waking vectors. Not a described table: no
//! checksum, no common header, and it must be 64-byte aligned.
//!
//! A platform that is not hardware-reduced must have one (the FADT's
//! FIRMWARE_CTRL points here). We offer no sleep states but S5, so the
//! waking vectors stay zero, and nothing else ever takes the global lock.

/// Bytes of the FACS.
pub const LEN: usize = 64;
/// Required alignment of the FACS.
pub const ALIGN: usize = 64;
/// The FACS version this layout is (ACPI 6.5: 2).
pub const VERSION: u8 = 2;

/// The FACS bytes.
pub fn build() -> Vec<u8> {
    let mut t = Vec::with_capacity(LEN);
    t.extend_from_slice(b"FACS"); // Signature
    t.extend_from_slice(&(LEN as u32).to_le_bytes()); // Length
    t.extend_from_slice(&0u32.to_le_bytes()); // Hardware Signature
    t.extend_from_slice(&0u32.to_le_bytes()); // Firmware Waking Vector
    t.extend_from_slice(&0u32.to_le_bytes()); // Global Lock
    t.extend_from_slice(&0u32.to_le_bytes()); // Flags: no S4BIOS, 32-bit wake only
    t.extend_from_slice(&0u64.to_le_bytes()); // X Firmware Waking Vector
    t.push(VERSION); // Version
    t.extend_from_slice(&[0; 3]); // Reserved
    t.extend_from_slice(&0u32.to_le_bytes()); // OSPM Flags
    t.resize(LEN, 0); // Reserved
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facs_length_field_and_size_are_64() {
        let t = build();
        assert_eq!(t.len(), LEN);
        assert_eq!(&t[0..4], b"FACS");
        assert_eq!(u32::from_le_bytes(t[4..8].try_into().unwrap()), 64);
        assert_eq!(t[32], VERSION);
    }
}
