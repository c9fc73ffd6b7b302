//! The real-mode kernel header of a bzImage ("The Real-Mode Kernel Header"
//! in Documentation/arch/x86/boot.rst), read as a typed view.
//!
//! Offsets are those of the image file, which are also those of
//! `struct boot_params` (the header is copied to the zero page at the same
//! offsets, [`super::params`]). Only the fields a 64-bit loader needs are
//! decoded; the rest are copied through untouched.

use super::BootError;

/// Field offsets in the image and in boot_params (boot.rst, "THE REAL-MODE
/// KERNEL HEADER"; the names are those of `struct setup_header`).
pub(crate) mod offset {
    /// Start of the setup header.
    pub const HDR: usize = 0x1F1;
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const VID_MODE: usize = 0x1FA;
    pub const BOOT_FLAG: usize = 0x1FE;
    /// The two-byte short jump whose displacement gives the header's end.
    pub const JUMP: usize = 0x200;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21C;
    pub const HEAP_END_PTR: usize = 0x224;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const KERNEL_ALIGNMENT: usize = 0x230;
    pub const RELOCATABLE_KERNEL: usize = 0x234;
    pub const XLOADFLAGS: usize = 0x236;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const PREF_ADDRESS: usize = 0x258;
    pub const INIT_SIZE: usize = 0x260;
    /// `boot_params.edd_mbr_sig_buffer`: the first byte past the largest
    /// setup header any protocol version defines.
    pub const HDR_LIMIT: usize = 0x290;
}

/// "HdrS", the setup header signature at 0x202.
pub const HDR_MAGIC: u32 = u32::from_le_bytes(*b"HdrS");
/// The boot sector signature at 0x1FE.
pub const BOOT_FLAG_MAGIC: u16 = 0xAA55;
/// The oldest protocol with `xloadflags` (2.12), which is how a kernel says
/// it has a 64-bit entry point.
pub const MIN_PROTOCOL: u16 = 0x020C;
/// The first protocol with `boot_params.acpi_rsdp_addr` (2.14).
pub const PROTOCOL_ACPI_RSDP: u16 = 0x020E;

/// `loadflags` bits (boot.rst, "loadflags").
pub mod loadflags {
    /// The protected-mode code is loaded at 0x100000 (a bzImage).
    pub const LOADED_HIGH: u8 = 1 << 0;
    /// `heap_end_ptr` is valid.
    pub const CAN_USE_HEAP: u8 = 1 << 7;
}

/// `xloadflags` bits (boot.rst, "xloadflags").
pub mod xloadflags {
    /// The kernel has the legacy 64-bit entry point at 0x200.
    pub const KERNEL_64: u16 = 1 << 0;
    /// Kernel, boot_params, command line and ramdisk may sit above 4 GiB.
    pub const CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
}

/// The fields of a bzImage's setup header that loading depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupHeader {
    /// Size of the real-mode setup in 512-byte sectors (0 means 4).
    pub setup_sects: u8,
    /// Boot protocol version, major in the high byte (0x020F is 2.15).
    pub version: u16,
    pub loadflags: u8,
    /// Highest address the initrd may occupy.
    pub initrd_addr_max: u32,
    /// Alignment the kernel must be loaded at if relocated.
    pub kernel_alignment: u32,
    pub relocatable_kernel: bool,
    pub xloadflags: u16,
    /// Longest command line, not counting the terminating NUL.
    pub cmdline_size: u32,
    /// Where the kernel would like to run (0 before protocol 2.10).
    pub pref_address: u64,
    /// Bytes the kernel needs from its run address while it decompresses
    /// and initialises (the "linear memory" it may overwrite).
    pub init_size: u32,
    /// Offset of the first byte past the setup header (0x202 plus the
    /// displacement of the jump at 0x200), capped at 0x290.
    pub header_end: usize,
}

fn u8_at(b: &[u8], off: usize) -> u8 {
    b[off]
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u32_at(b, off) as u64 | (u32_at(b, off + 4) as u64) << 32
}

impl SetupHeader {
    /// Reads and checks the header of `image`: a bzImage with a 64-bit
    /// entry point (boot.rst, "64-bit BOOT PROTOCOL").
    pub fn parse(image: &[u8]) -> Result<SetupHeader, BootError> {
        // Every field read below lies before 0x290, and a real image's
        // setup code runs far past it.
        if image.len() < offset::HDR_LIMIT {
            return Err(BootError::NotBzImage(
                "the image is shorter than a setup header",
            ));
        }
        if u32_at(image, offset::HEADER) != HDR_MAGIC {
            return Err(BootError::NotBzImage(
                "no \"HdrS\" signature at offset 0x202",
            ));
        }
        if u16_at(image, offset::BOOT_FLAG) != BOOT_FLAG_MAGIC {
            return Err(BootError::NotBzImage("no 0xAA55 boot flag at offset 0x1FE"));
        }
        let version = u16_at(image, offset::VERSION);
        if version < MIN_PROTOCOL {
            return Err(BootError::ProtocolTooOld {
                major: (version >> 8) as u8,
                minor: version as u8,
            });
        }
        let loadflags = u8_at(image, offset::LOADFLAGS);
        if loadflags & loadflags::LOADED_HIGH == 0 {
            return Err(BootError::NotBzImage(
                "LOADED_HIGH is clear: a zImage, not a bzImage",
            ));
        }
        let xloadflags = u16_at(image, offset::XLOADFLAGS);
        if xloadflags & xloadflags::KERNEL_64 == 0 {
            return Err(BootError::Not64Bit);
        }
        let header_end = (offset::HEADER + u8_at(image, offset::JUMP + 1) as usize)
            .clamp(offset::CMDLINE_SIZE + 4, offset::HDR_LIMIT);
        let header = SetupHeader {
            setup_sects: u8_at(image, offset::SETUP_SECTS),
            version,
            loadflags,
            initrd_addr_max: u32_at(image, offset::INITRD_ADDR_MAX),
            kernel_alignment: u32_at(image, offset::KERNEL_ALIGNMENT),
            relocatable_kernel: u8_at(image, offset::RELOCATABLE_KERNEL) != 0,
            xloadflags,
            cmdline_size: u32_at(image, offset::CMDLINE_SIZE),
            // pref_address and init_size arrived with protocol 2.10, older
            // than the 2.12 we require.
            pref_address: u64_at(image, offset::PREF_ADDRESS),
            init_size: u32_at(image, offset::INIT_SIZE),
            header_end,
        };
        if image.len() <= header.setup_size() {
            return Err(BootError::NotBzImage(
                "the image ends before its protected-mode kernel",
            ));
        }
        Ok(header)
    }

    /// Bytes of real-mode code (boot sector plus setup) at the start of the
    /// image; the protected-mode kernel follows.
    pub fn setup_size(&self) -> usize {
        let sects = if self.setup_sects == 0 {
            4
        } else {
            self.setup_sects as usize
        };
        (sects + 1) * 512
    }

    /// Whether the kernel, boot_params, command line and initrd may be
    /// placed above 4 GiB.
    pub fn can_load_above_4g(&self) -> bool {
        self.xloadflags & xloadflags::CAN_BE_LOADED_ABOVE_4G != 0
    }

    /// Whether `boot_params.acpi_rsdp_addr` is read by this kernel.
    pub fn has_acpi_rsdp_addr(&self) -> bool {
        self.version >= PROTOCOL_ACPI_RSDP
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic bzImage: a header as Debian's 6.1 kernel has it (protocol
    /// 2.15, relocatable, 64-bit), `setup_sects` real-mode sectors, and a
    /// protected-mode part of `pm_len` bytes filled with 0xCC.
    pub(crate) fn synthetic_bzimage(pm_len: usize, init_size: u32) -> Vec<u8> {
        let setup_sects = 4u8;
        let setup = (setup_sects as usize + 1) * 512;
        let mut img = vec![0u8; setup + pm_len];
        img[setup..].fill(0xCC);
        img[offset::SETUP_SECTS] = setup_sects;
        img[offset::BOOT_FLAG..offset::BOOT_FLAG + 2].copy_from_slice(&0xAA55u16.to_le_bytes());
        img[offset::JUMP] = 0xEB;
        img[offset::JUMP + 1] = 0x6A; // header ends at 0x26C
        img[offset::HEADER..offset::HEADER + 4].copy_from_slice(b"HdrS");
        img[offset::VERSION..offset::VERSION + 2].copy_from_slice(&0x020Fu16.to_le_bytes());
        img[offset::LOADFLAGS] = loadflags::LOADED_HIGH;
        img[offset::INITRD_ADDR_MAX..offset::INITRD_ADDR_MAX + 4]
            .copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        img[offset::KERNEL_ALIGNMENT..offset::KERNEL_ALIGNMENT + 4]
            .copy_from_slice(&0x20_0000u32.to_le_bytes());
        img[offset::RELOCATABLE_KERNEL] = 1;
        img[offset::XLOADFLAGS..offset::XLOADFLAGS + 2].copy_from_slice(&0x7Fu16.to_le_bytes());
        img[offset::CMDLINE_SIZE..offset::CMDLINE_SIZE + 4]
            .copy_from_slice(&0x7FFu32.to_le_bytes());
        img[offset::PREF_ADDRESS..offset::PREF_ADDRESS + 8]
            .copy_from_slice(&0x100_0000u64.to_le_bytes());
        img[offset::INIT_SIZE..offset::INIT_SIZE + 4].copy_from_slice(&init_size.to_le_bytes());
        img
    }

    #[test]
    fn header_of_synthetic_image_parses() {
        let h = SetupHeader::parse(&synthetic_bzimage(0x1000, 0x40_0000)).unwrap();
        assert_eq!(h.version, 0x020F);
        assert_eq!(h.setup_size(), 5 * 512);
        assert_eq!(h.pref_address, 0x100_0000);
        assert_eq!(h.init_size, 0x40_0000);
        assert_eq!(h.header_end, 0x26C);
        assert!(h.relocatable_kernel && h.can_load_above_4g() && h.has_acpi_rsdp_addr());
    }

    #[test]
    fn header_zero_setup_sects_means_four() {
        let mut img = synthetic_bzimage(0x1000, 0x40_0000);
        img[offset::SETUP_SECTS] = 0;
        assert_eq!(SetupHeader::parse(&img).unwrap().setup_size(), 5 * 512);
    }

    #[test]
    fn header_without_magic_is_not_a_bzimage() {
        let mut img = synthetic_bzimage(0x1000, 0x40_0000);
        img[offset::HEADER] = b'X';
        assert!(matches!(
            SetupHeader::parse(&img),
            Err(BootError::NotBzImage(_))
        ));
        assert!(matches!(
            SetupHeader::parse(&[0u8; 16]),
            Err(BootError::NotBzImage(_))
        ));
    }

    #[test]
    fn header_protocol_2_11_is_too_old() {
        let mut img = synthetic_bzimage(0x1000, 0x40_0000);
        img[offset::VERSION..offset::VERSION + 2].copy_from_slice(&0x020Bu16.to_le_bytes());
        let err = SetupHeader::parse(&img).unwrap_err();
        assert!(matches!(
            err,
            BootError::ProtocolTooOld {
                major: 2,
                minor: 11
            }
        ));
        assert_eq!(
            err.to_string(),
            "boot protocol 2.11 is too old: 64-bit entry needs 2.12 or later"
        );
    }

    #[test]
    fn header_without_kernel_64_is_rejected() {
        let mut img = synthetic_bzimage(0x1000, 0x40_0000);
        img[offset::XLOADFLAGS] = 0x7E;
        assert!(matches!(SetupHeader::parse(&img), Err(BootError::Not64Bit)));
    }

    #[test]
    fn header_of_truncated_image_is_rejected() {
        let img = synthetic_bzimage(0, 0x40_0000);
        assert!(matches!(
            SetupHeader::parse(&img),
            Err(BootError::NotBzImage(_))
        ));
    }
}
