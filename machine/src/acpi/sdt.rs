//! The System Description Table header (ACPI 6.5, 5.2.6) and the sink every
//! table in this module is written through.
//!
//! A table is written field by field, in the specification's order, into an
//! [`Sdt`]; [`Sdt::finish`] then patches the length and the checksum, so no
//! table can be handed out with either wrong. [`Sdt`] is also an
//! `acpi_tables::AmlSink`, so AML is emitted straight into the DSDT.

use acpi_tables::AmlSink;

/// OEM identification every table carries (ACPI 6.5, Table 5.4).
pub const OEM_ID: [u8; 6] = *b"VTDEMU";
pub const OEM_TABLE_ID: [u8; 8] = *b"VTDEMUPC";
pub const OEM_REVISION: u32 = 1;
/// "Vendor ID of the utility that created the table": us.
pub const CREATOR_ID: [u8; 4] = *b"VTDE";
pub const CREATOR_REVISION: u32 = 1;

/// Bytes of the common header.
pub const HEADER_LEN: usize = 36;
/// Offsets within the header.
const LENGTH: usize = 4;
const CHECKSUM: usize = 9;

/// The 8-bit checksum that makes `bytes` sum to zero (ACPI 6.5, 5.2.6:
/// "the entire table, including the checksum field, must add to zero").
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)))
}

/// Whether `bytes` sum to zero modulo 256.
pub fn sums_to_zero(bytes: &[u8]) -> bool {
    checksum(bytes) == 0
}

/// A table being written: header first, then the body in field order.
pub struct Sdt {
    bytes: Vec<u8>,
}

impl Sdt {
    /// A table with signature `signature` and revision `revision`, its
    /// length and checksum still zero.
    pub fn new(signature: [u8; 4], revision: u8) -> Sdt {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&signature);
        bytes.extend_from_slice(&0u32.to_le_bytes()); // Length, patched by `finish`
        bytes.push(revision);
        bytes.push(0); // Checksum, patched by `finish`
        bytes.extend_from_slice(&OEM_ID);
        bytes.extend_from_slice(&OEM_TABLE_ID);
        bytes.extend_from_slice(&OEM_REVISION.to_le_bytes());
        bytes.extend_from_slice(&CREATOR_ID);
        bytes.extend_from_slice(&CREATOR_REVISION.to_le_bytes());
        debug_assert_eq!(bytes.len(), HEADER_LEN);
        Sdt { bytes }
    }

    pub fn u8(&mut self, v: u8) -> &mut Sdt {
        self.bytes.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Sdt {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Sdt {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Sdt {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, v: &[u8]) -> &mut Sdt {
        self.bytes.extend_from_slice(v);
        self
    }

    /// `n` zero bytes (reserved fields).
    pub fn zeroes(&mut self, n: usize) -> &mut Sdt {
        self.bytes.resize(self.bytes.len() + n, 0);
        self
    }

    pub fn gas(&mut self, g: Gas) -> &mut Sdt {
        self.bytes(&g.to_bytes())
    }

    /// Patches length and checksum and hands out the table.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.bytes.len() as u32;
        self.bytes[LENGTH..LENGTH + 4].copy_from_slice(&len.to_le_bytes());
        self.bytes[CHECKSUM] = 0;
        self.bytes[CHECKSUM] = checksum(&self.bytes);
        self.bytes
    }
}

impl AmlSink for Sdt {
    fn byte(&mut self, byte: u8) {
        self.bytes.push(byte);
    }

    fn vec(&mut self, v: &[u8]) {
        self.bytes.extend_from_slice(v);
    }
}

/// Address space ids of a Generic Address Structure (ACPI 6.5, Table 5.1).
pub mod space {
    pub const SYSTEM_MEMORY: u8 = 0;
    pub const SYSTEM_IO: u8 = 1;
}

/// A Generic Address Structure (ACPI 6.5, 5.2.3.2): where a register is
/// and how wide it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gas {
    pub space: u8,
    pub bit_width: u8,
    pub bit_offset: u8,
    /// 0 undefined (legacy), 1 byte, 2 word, 3 dword, 4 qword.
    pub access_size: u8,
    pub address: u64,
}

impl Gas {
    /// Bytes of a GAS.
    pub const LEN: usize = 12;

    /// A register block of `bytes` bytes at I/O port `port`, access size
    /// left undefined so the OS derives it from the block (as QEMU's and
    /// most firmware's FADT blocks do).
    pub fn io(port: u16, bytes: u8) -> Gas {
        Gas {
            space: space::SYSTEM_IO,
            bit_width: bytes.wrapping_mul(8),
            address: port as u64,
            ..Gas::default()
        }
    }

    pub fn to_bytes(&self) -> [u8; Gas::LEN] {
        let mut b = [0u8; Gas::LEN];
        b[0] = self.space;
        b[1] = self.bit_width;
        b[2] = self.bit_offset;
        b[3] = self.access_size;
        b[4..12].copy_from_slice(&self.address.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdt_finish_patches_length_and_checksum() {
        let mut t = Sdt::new(*b"TEST", 3);
        t.u32(0xDEAD_BEEF).u8(7);
        let bytes = t.finish();
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 41);
        assert!(sums_to_zero(&bytes));
        assert_eq!(&bytes[10..16], b"VTDEMU");
    }

    #[test]
    fn gas_io_block_is_twelve_bytes_with_bit_width() {
        let g = Gas::io(0x620, 16).to_bytes();
        assert_eq!(g[..4], [1, 128, 0, 0]);
        assert_eq!(u64::from_le_bytes(g[4..].try_into().unwrap()), 0x620);
    }
}
