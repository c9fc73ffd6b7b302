//! `struct boot_params`, the "zero page" (Documentation/arch/x86/zero-page.rst),
//! built as a 4 KiB byte image.
//!
//! A loader using the 64-bit entry starts from zeroes, copies the image's
//! setup header to offset 0x1F1, and fills in the fields boot.rst marks
//! "write" or "modify" for a boot loader. Everything else stays zero, which
//! the kernel reads as "not provided" (and the zero `sentinel` at 0x1EF tells
//! it the loader knows to clear what it does not fill).

use super::e820::{E820Map, E820_ENTRY_SIZE, E820_MAX_ENTRIES};
use super::header::{loadflags, offset as hdr, SetupHeader};

/// Size of boot_params.
pub const ZERO_PAGE_SIZE: usize = 4096;

/// Offsets of the boot_params fields outside the setup header
/// (zero-page.rst).
mod offset {
    pub const ACPI_RSDP_ADDR: usize = 0x070;
    pub const EXT_RAMDISK_IMAGE: usize = 0x0C0;
    pub const EXT_RAMDISK_SIZE: usize = 0x0C4;
    pub const EXT_CMD_LINE_PTR: usize = 0x0C8;
    pub const E820_ENTRIES: usize = 0x1E8;
    pub const E820_TABLE: usize = 0x2D0;
}

/// boot.rst, "type_of_loader": 0xFF is "undefined", for a loader without
/// an assigned id.
pub const LOADER_TYPE_UNDEFINED: u8 = 0xFF;
/// `vid_mode` value asking for the normal 80x25 mode (no prompt).
const VID_MODE_NORMAL: u16 = 0xFFFF;
/// Offset from the real-mode code's start, less 0x200, where the setup
/// heap ends. Only the real-mode entry uses it; 0xFE00 is boot.rst's worked
/// example ("0x9800 ... heap_end_ptr"), kept so the field is never garbage.
const HEAP_END_PTR: u16 = 0xFE00;

/// A zero page under construction.
pub struct ZeroPage {
    bytes: Box<[u8; ZERO_PAGE_SIZE]>,
}

impl ZeroPage {
    /// Zeroes with the setup header of `image` (as `header` describes it)
    /// copied in, and the loader's obligatory header fields set.
    pub fn new(image: &[u8], header: &SetupHeader) -> ZeroPage {
        let mut zp = ZeroPage {
            bytes: Box::new([0u8; ZERO_PAGE_SIZE]),
        };
        let end = header.header_end.min(image.len());
        zp.bytes[hdr::HDR..end].copy_from_slice(&image[hdr::HDR..end]);
        zp.put_u16(hdr::VID_MODE, VID_MODE_NORMAL);
        zp.bytes[hdr::TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
        zp.bytes[hdr::LOADFLAGS] =
            header.loadflags | loadflags::LOADED_HIGH | loadflags::CAN_USE_HEAP;
        zp.put_u16(hdr::HEAP_END_PTR, HEAP_END_PTR);
        zp
    }

    fn put_u16(&mut self, off: usize, v: u16) {
        self.bytes[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn put_u32(&mut self, off: usize, v: u32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put_u64(&mut self, off: usize, v: u64) {
        self.bytes[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// `cmd_line_ptr`, with the high half in `ext_cmd_line_ptr`.
    pub fn set_cmdline(&mut self, addr: u64) {
        self.put_u32(hdr::CMD_LINE_PTR, addr as u32);
        self.put_u32(offset::EXT_CMD_LINE_PTR, (addr >> 32) as u32);
    }

    /// `ramdisk_image` / `ramdisk_size`, with their high halves in
    /// `ext_ramdisk_image` / `ext_ramdisk_size`.
    pub fn set_ramdisk(&mut self, addr: u64, size: u64) {
        self.put_u32(hdr::RAMDISK_IMAGE, addr as u32);
        self.put_u32(hdr::RAMDISK_SIZE, size as u32);
        self.put_u32(offset::EXT_RAMDISK_IMAGE, (addr >> 32) as u32);
        self.put_u32(offset::EXT_RAMDISK_SIZE, (size >> 32) as u32);
    }

    /// `acpi_rsdp_addr` (protocol 2.14 and later).
    pub fn set_acpi_rsdp(&mut self, addr: u64) {
        self.put_u64(offset::ACPI_RSDP_ADDR, addr);
    }

    /// `e820_entries` and `e820_table`. A map never holds more entries
    /// than the table has room for ([`E820Map::add`] refuses them).
    pub fn set_e820(&mut self, map: &E820Map) {
        let entries = &map.entries()[..map.entries().len().min(E820_MAX_ENTRIES)];
        self.bytes[offset::E820_ENTRIES] = entries.len() as u8;
        for (i, e) in entries.iter().enumerate() {
            let at = offset::E820_TABLE + i * E820_ENTRY_SIZE;
            self.bytes[at..at + E820_ENTRY_SIZE].copy_from_slice(&e.to_bytes());
        }
    }

    /// The finished page.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::e820::E820Kind;
    use crate::boot::header::tests::synthetic_bzimage;
    use mem::RamLayout;

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn zero_page_copies_header_and_marks_loader() {
        let img = synthetic_bzimage(0x1000, 0x10_0000);
        let h = SetupHeader::parse(&img).unwrap();
        let zp = ZeroPage::new(&img, &h);
        let b = zp.as_bytes();
        assert_eq!(&b[0x202..0x206], b"HdrS");
        assert_eq!(b[0x1EF], 0, "sentinel stays zero");
        assert_eq!(b[0x210], 0xFF);
        assert_eq!(b[0x211], 0x81);
        // Bytes past the header's end are not copied from the image.
        assert!(b[0x26C..0x290].iter().all(|&x| x == 0));
    }

    #[test]
    fn zero_page_splits_high_addresses_into_ext_fields() {
        let img = synthetic_bzimage(0x1000, 0x10_0000);
        let mut zp = ZeroPage::new(&img, &SetupHeader::parse(&img).unwrap());
        zp.set_ramdisk(0x1_2345_6000, 0x80_0000);
        zp.set_cmdline(0x2_0000);
        let b = zp.as_bytes();
        assert_eq!(u32_at(b, 0x218), 0x2345_6000);
        assert_eq!(u32_at(b, 0x0C0), 1);
        assert_eq!(u32_at(b, 0x21C), 0x80_0000);
        assert_eq!(u32_at(b, 0x0C4), 0);
        assert_eq!(u32_at(b, 0x228), 0x2_0000);
        assert_eq!(u32_at(b, 0x0C8), 0);
    }

    #[test]
    fn zero_page_e820_table_is_at_0x2d0() {
        let img = synthetic_bzimage(0x1000, 0x10_0000);
        let mut zp = ZeroPage::new(&img, &SetupHeader::parse(&img).unwrap());
        let map = E820Map::q35(RamLayout {
            low: 128 << 20,
            high: 0,
        });
        zp.set_e820(&map);
        let b = zp.as_bytes();
        assert_eq!(b[0x1E8] as usize, map.entries().len());
        let second = 0x2D0 + E820_ENTRY_SIZE;
        assert_eq!(u32_at(b, second), 0x9_FC00);
        assert_eq!(u32_at(b, second + 16), E820Kind::Reserved as u32);
    }
}
