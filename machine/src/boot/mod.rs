//! Direct Linux boot, as QEMU's `-kernel` does it, through the 64-bit entry
//! of the x86 boot protocol (Documentation/arch/x86/boot.rst, "64-bit BOOT
//! PROTOCOL"; the zero page in zero-page.rst).
//!
//! Three steps, in linux-loader's shape:
//! 1. parse: [`SetupHeader::parse`] checks the bzImage ("HdrS", protocol
//!    2.12 or later, `XLF_KERNEL_64`);
//! 2. place: [`load_linux`] copies the protected-mode kernel to its preferred
//!    address, the command line to [`CMDLINE_ADDR`], the initrd as high as
//!    the kernel allows, and writes boot_params with the e820 map at
//!    [`BOOT_PARAMS_ADDR`];
//! 3. enter: [`setup_cpu_for_linux`] builds the identity map and boot GDT and
//!    puts the processor in long mode at the entry point.
//!
//! Low memory as the loader leaves it (all below the 64 KiB Linux reserves
//! for itself, except the command line, which the kernel copies out before
//! it allocates anything):
//!
//! | range | what |
//! |---|---|
//! | 0x0500-0x051F | boot GDT ([`GDT_ADDR`]) |
//! | 0x7000-0x7FFF | boot_params, the zero page ([`BOOT_PARAMS_ADDR`]) |
//! | 0x8000-0x8FFF | boot stack ([`BOOT_STACK_TOP`]) |
//! | 0x9000-0xEFFF | identity-map page tables ([`PAGE_TABLES_ADDR`]) |
//! | 0x20000- | command line ([`CMDLINE_ADDR`]) |
//! | 0xE0000-0xFFFFF | ACPI tables (reserved in e820; `crate::acpi`) |
//! | `pref_address`- | protected-mode kernel, then `init_size` bytes of working space |
//! | below top of low RAM | initrd |

mod e820;
mod header;
mod long_mode;
mod params;

pub use e820::{
    E820Entry, E820Error, E820Kind, E820Map, BIOS_AREA_START, E820_MAX_ENTRIES, HIGH_MEMORY_START,
};
pub use header::{loadflags, xloadflags, SetupHeader, MIN_PROTOCOL};
pub use long_mode::{
    setup_cpu_for_linux, BOOT_CS, BOOT_DS, BOOT_STACK_TOP, GDT_ADDR, PAGE_TABLES_ADDR,
    PAGE_TABLES_END,
};

use mem::{GuestAddress, GuestRam, RamError};
use params::ZeroPage;

/// Where boot_params (the zero page) goes.
pub const BOOT_PARAMS_ADDR: u64 = 0x7000;
/// Where the command line goes (QEMU's choice for a bzImage: after a 64 KiB
/// real-mode area at 0x10000).
pub const CMDLINE_ADDR: u64 = 0x2_0000;
/// The command line must end before the VGA hole, and the EBDA below it.
const CMDLINE_LIMIT: u64 = e820::EBDA_START;
/// The protected-mode kernel's address for a non-relocatable kernel, and
/// the lowest address any kernel or initrd is placed at.
pub const KERNEL_DEFAULT_ADDR: u64 = HIGH_MEMORY_START;
/// Offset of the 64-bit entry point from the protected-mode kernel's start.
pub const ENTRY_64_OFFSET: u64 = 0x200;
/// The initrd is page aligned (boot.rst asks for no more; Linux frees it
/// page by page).
const INITRD_ALIGN: u64 = 0x1000;

/// Why a kernel could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("not a bzImage: {0}")]
    NotBzImage(&'static str),
    #[error("boot protocol {major}.{minor:02} is too old: 64-bit entry needs 2.12 or later")]
    ProtocolTooOld { major: u8, minor: u8 },
    #[error("the kernel has no 64-bit entry point (XLF_KERNEL_64 is clear)")]
    Not64Bit,
    #[error("the kernel needs usable RAM at {start:#x}-{end:#x} (its image and init_size), which the guest does not have")]
    KernelTooBig { start: u64, end: u64 },
    #[error("no usable RAM range holds the {size:#x}-byte initrd below {limit:#x}")]
    InitrdTooBig { size: u64, limit: u64 },
    #[error("the command line is {len} bytes, the kernel accepts at most {max}")]
    CmdlineTooLong { len: usize, max: usize },
    #[error("the command line contains a NUL byte")]
    CmdlineNul,
    #[error("cannot write boot data to guest RAM")]
    Ram(#[source] RamError),
}

/// What the board tells the kernel besides its image: where the ACPI tables
/// are and what the memory map looks like.
#[derive(Clone, Debug)]
pub struct BootPlatform {
    /// Guest-physical address of the ACPI RSDP, written to
    /// `boot_params.acpi_rsdp_addr` for kernels that read it (2.14+);
    /// older ones find it by scanning the BIOS area.
    pub rsdp_addr: Option<u64>,
    /// The memory map handed to the kernel; also where the kernel and
    /// initrd may be placed (usable RAM only).
    pub e820: E820Map,
}

impl BootPlatform {
    /// The board's memory map for `ram` ([`E820Map::q35`]) and the RSDP at
    /// `rsdp_addr`.
    pub fn q35(ram: mem::RamLayout, rsdp_addr: Option<u64>) -> BootPlatform {
        BootPlatform {
            rsdp_addr,
            e820: E820Map::q35(ram),
        }
    }
}

/// Where [`load_linux`] put things, and what the processor must be given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootInfo {
    /// The 64-bit entry point (protected-mode kernel + 0x200).
    pub entry: u64,
    /// boot_params, for RSI at entry.
    pub boot_params: u64,
    /// Where the protected-mode kernel was copied.
    pub kernel_load: u64,
    /// The end of the RAM the kernel may use while it starts (its run
    /// address plus `init_size`, or the image's end if that is later).
    pub kernel_end: u64,
    /// Command line address and length (without the NUL).
    pub cmdline: (u64, usize),
    /// Initrd address and size, if one was given.
    pub initrd: Option<(u64, u64)>,
    /// The kernel's boot protocol version (0x020F is 2.15).
    pub protocol: u16,
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

/// Loads a bzImage, its command line and initrd into `ram` and writes
/// boot_params; see the module doc for the layout.
///
/// The kernel is copied to `pref_address` when it is relocatable (aligned
/// to `kernel_alignment`), else to 1 MiB; either way it runs from
/// `max(load address, pref_address)`, where its decompressor needs
/// `init_size` bytes, so that whole range must be usable RAM. The initrd
/// goes to the top of the highest usable RAM range below
/// `initrd_addr_max` that does not overlap the kernel's range, or above
/// 4 GiB if nothing below fits and the kernel allows it.
pub fn load_linux(
    ram: &GuestRam,
    kernel: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &str,
    platform: &BootPlatform,
) -> Result<BootInfo, BootError> {
    let header = SetupHeader::parse(kernel)?;
    let pm = &kernel[header.setup_size()..];

    // Where the protected-mode kernel goes, and the range it then needs.
    let align = (header.kernel_alignment as u64)
        .max(0x1000)
        .next_power_of_two();
    let load = if header.relocatable_kernel && header.pref_address != 0 {
        align_up(header.pref_address.max(KERNEL_DEFAULT_ADDR), align)
    } else {
        Some(KERNEL_DEFAULT_ADDR)
    };
    let run = load.map(|l| l.max(header.pref_address));
    let end = (|| {
        let image_end = load?.checked_add(pm.len() as u64)?;
        let init_end = run?.checked_add(header.init_size as u64)?;
        Some(image_end.max(init_end))
    })();
    let (Some(load), Some(end)) = (load, end) else {
        return Err(BootError::KernelTooBig {
            start: header.pref_address,
            end: u64::MAX,
        });
    };
    if !platform.e820.contains(load, end - load, E820Kind::Ram) {
        return Err(BootError::KernelTooBig { start: load, end });
    }

    // The command line, NUL-terminated, within the kernel's limit and the
    // room below the EBDA.
    let max = (header.cmdline_size as usize).min((CMDLINE_LIMIT - CMDLINE_ADDR - 1) as usize);
    if cmdline.len() > max {
        return Err(BootError::CmdlineTooLong {
            len: cmdline.len(),
            max,
        });
    }
    if cmdline.contains('\0') {
        return Err(BootError::CmdlineNul);
    }
    let mut line = Vec::with_capacity(cmdline.len() + 1);
    line.extend_from_slice(cmdline.as_bytes());
    line.push(0);

    let initrd_at = match initrd {
        Some(data) => Some(place_initrd(
            &header,
            &platform.e820,
            data.len() as u64,
            (load, end),
        )?),
        None => None,
    };

    let write =
        |addr: u64, data: &[u8]| ram.write(GuestAddress(addr), data).map_err(BootError::Ram);
    write(load, pm)?;
    write(CMDLINE_ADDR, &line)?;
    if let (Some(addr), Some(data)) = (initrd_at, initrd) {
        write(addr, data)?;
    }

    let mut zp = ZeroPage::new(kernel, &header);
    zp.set_cmdline(CMDLINE_ADDR);
    if let (Some(addr), Some(data)) = (initrd_at, initrd) {
        zp.set_ramdisk(addr, data.len() as u64);
    }
    if let (Some(rsdp), true) = (platform.rsdp_addr, header.has_acpi_rsdp_addr()) {
        zp.set_acpi_rsdp(rsdp);
    }
    zp.set_e820(&platform.e820);
    write(BOOT_PARAMS_ADDR, zp.as_bytes())?;

    let info = BootInfo {
        entry: load + ENTRY_64_OFFSET,
        boot_params: BOOT_PARAMS_ADDR,
        kernel_load: load,
        kernel_end: end,
        cmdline: (CMDLINE_ADDR, cmdline.len()),
        initrd: initrd_at.zip(initrd.map(|d| d.len() as u64)),
        protocol: header.version,
    };
    tracing::info!(
        target: "boot",
        "Linux (protocol {}.{:02}) at {:#x}-{:#x}, entry {:#x}, initrd {:x?}",
        header.version >> 8,
        header.version & 0xFF,
        load,
        end,
        info.entry,
        info.initrd
    );
    Ok(info)
}

/// Picks the initrd's address: the top of the highest usable range that
/// fits, below `initrd_addr_max` and 4 GiB, above 1 MiB, outside `kernel`;
/// failing that, the top of RAM above 4 GiB if the kernel accepts it there.
fn place_initrd(
    header: &SetupHeader,
    e820: &E820Map,
    size: u64,
    kernel: (u64, u64),
) -> Result<u64, BootError> {
    let limit = (header.initrd_addr_max as u64)
        .saturating_add(1)
        .min(1 << 32);
    let fits = |start: u64, end: u64| -> Option<u64> {
        let top = end.checked_sub(size)? & !(INITRD_ALIGN - 1);
        (top >= start).then_some(top)
    };
    let mut best: Option<u64> = None;
    for (start, end) in e820.ram_ranges() {
        let (start, end) = (start.max(KERNEL_DEFAULT_ADDR), end.min(limit));
        if start >= end {
            continue;
        }
        // The pieces of this range on either side of the kernel's.
        let pieces = [(start, end.min(kernel.0)), (start.max(kernel.1), end)];
        for (s, e) in pieces {
            if s < e {
                if let Some(at) = fits(s, e) {
                    best = best.max(Some(at));
                }
            }
        }
    }
    if let Some(at) = best {
        return Ok(at);
    }
    if header.can_load_above_4g() {
        let high = e820
            .ram_ranges()
            .filter(|&(start, _)| start >= 1 << 32)
            .filter_map(|(s, e)| fits(s, e))
            .max();
        if let Some(at) = high {
            return Ok(at);
        }
    }
    Err(BootError::InitrdTooBig { size, limit })
}

#[cfg(test)]
mod tests {
    use super::header::tests::synthetic_bzimage;
    use super::*;
    use std::sync::Arc;

    use mem::{Attention, RamLayout};

    const INIT_SIZE: u32 = 0x80_0000;

    fn ram(low: u64, high: u64) -> GuestRam {
        GuestRam::new(RamLayout { low, high }, Arc::new(Attention::default())).unwrap()
    }

    fn platform(ram: &GuestRam) -> BootPlatform {
        BootPlatform::q35(ram.layout(), Some(0xE_0000))
    }

    fn read(ram: &GuestRam, addr: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        ram.read(GuestAddress(addr), &mut b).unwrap();
        b
    }

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn load_linux_places_kernel_at_pref_address() {
        let ram = ram(64 << 20, 0);
        let img = synthetic_bzimage(0x3000, INIT_SIZE);
        let info = load_linux(&ram, &img, None, "console=ttyS0", &platform(&ram)).unwrap();
        assert_eq!(info.kernel_load, 0x100_0000);
        assert_eq!(info.entry, 0x100_0200);
        assert_eq!(info.kernel_end, 0x100_0000 + INIT_SIZE as u64);
        assert_eq!(read(&ram, 0x100_0000, 4), vec![0xCC; 4]);
        assert_eq!(read(&ram, CMDLINE_ADDR, 14), b"console=ttyS0\0");
    }

    #[test]
    fn load_linux_fills_boot_params() {
        let ram = ram(64 << 20, 0);
        let img = synthetic_bzimage(0x3000, INIT_SIZE);
        let info = load_linux(&ram, &img, Some(&[7u8; 0x1800]), "quiet", &platform(&ram)).unwrap();
        let zp = read(&ram, BOOT_PARAMS_ADDR, 4096);
        assert_eq!(&zp[0x202..0x206], b"HdrS");
        assert_eq!(zp[0x210], 0xFF, "type_of_loader");
        assert_eq!(zp[0x211] & 0x81, 0x81, "LOADED_HIGH | CAN_USE_HEAP");
        assert_eq!(u32_at(&zp, 0x228), CMDLINE_ADDR as u32);
        let (initrd, size) = info.initrd.unwrap();
        assert_eq!(u32_at(&zp, 0x218) as u64, initrd);
        assert_eq!(u32_at(&zp, 0x21C), 0x1800);
        assert_eq!(
            u64::from_le_bytes(zp[0x70..0x78].try_into().unwrap()),
            0xE_0000
        );
        assert_eq!(zp[0x1E8] as usize, platform(&ram).e820.entries().len());
        assert_eq!(size, 0x1800);
    }

    #[test]
    fn load_linux_puts_initrd_at_top_of_low_ram_page_aligned() {
        let ram = ram(64 << 20, 0);
        let img = synthetic_bzimage(0x3000, INIT_SIZE);
        let data = vec![0xA5u8; 0x1_2345];
        let info = load_linux(&ram, &img, Some(&data), "", &platform(&ram)).unwrap();
        let (addr, size) = info.initrd.unwrap();
        assert_eq!(addr % 0x1000, 0);
        assert!(addr + size <= 64 << 20);
        assert!(addr + size > (64 << 20) - 0x1000, "as high as possible");
        assert_eq!(read(&ram, addr, size as usize), data);
    }

    #[test]
    fn load_linux_initrd_avoids_kernel_init_region() {
        // RAM ends 1 MiB past the kernel's range: a 2 MiB initrd only fits
        // below the kernel.
        let low = 0x100_0000 + INIT_SIZE as u64 + (1 << 20);
        let ram = ram(low, 0);
        let img = synthetic_bzimage(0x3000, INIT_SIZE);
        let data = vec![1u8; 2 << 20];
        let info = load_linux(&ram, &img, Some(&data), "", &platform(&ram)).unwrap();
        let (addr, size) = info.initrd.unwrap();
        assert!(addr + size <= info.kernel_load);
        assert!(addr >= HIGH_MEMORY_START);
    }

    #[test]
    fn load_linux_initrd_respects_initrd_addr_max() {
        let ram = ram(64 << 20, 0);
        let mut img = synthetic_bzimage(0x3000, INIT_SIZE);
        img[0x22C..0x230].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes()); // 16 MiB - 1
        let info = load_linux(&ram, &img, Some(&[0u8; 0x1000]), "", &platform(&ram)).unwrap();
        let (addr, size) = info.initrd.unwrap();
        assert!(addr + size <= 0x100_0000);
    }

    #[test]
    fn load_linux_initrd_goes_above_4g_when_low_ram_is_full() {
        let low = 0x100_0000 + INIT_SIZE as u64;
        let ram = ram(low, 64 << 20);
        let img = synthetic_bzimage(0x3000, INIT_SIZE);
        let data = vec![3u8; 32 << 20];
        let info = load_linux(&ram, &img, Some(&data), "", &platform(&ram)).unwrap();
        let (addr, _) = info.initrd.unwrap();
        assert_eq!(addr, (1 << 32) + (32 << 20));
        let zp = read(&ram, BOOT_PARAMS_ADDR, 4096);
        assert_eq!(u32_at(&zp, 0x0C0), 1, "ext_ramdisk_image");
        assert_eq!(u32_at(&zp, 0x218), 32 << 20);
    }

    #[test]
    fn load_linux_initrd_too_big_is_an_error() {
        let ram = ram(64 << 20, 0);
        let img = synthetic_bzimage(0x3000, INIT_SIZE);
        let data = vec![0u8; 60 << 20];
        let err = load_linux(&ram, &img, Some(&data), "", &platform(&ram)).unwrap_err();
        assert!(matches!(err, BootError::InitrdTooBig { .. }), "{err}");
    }

    #[test]
    fn load_linux_kernel_larger_than_ram_is_an_error() {
        let ram = ram(16 << 20, 0);
        let img = synthetic_bzimage(0x3000, INIT_SIZE);
        let err = load_linux(&ram, &img, None, "", &platform(&ram)).unwrap_err();
        assert!(matches!(
            err,
            BootError::KernelTooBig {
                start: 0x100_0000,
                end: 0x180_0000
            }
        ));
    }

    #[test]
    fn load_linux_non_relocatable_kernel_loads_at_1m() {
        let ram = ram(64 << 20, 0);
        let mut img = synthetic_bzimage(0x3000, INIT_SIZE);
        img[0x234] = 0;
        let info = load_linux(&ram, &img, None, "", &platform(&ram)).unwrap();
        assert_eq!(info.kernel_load, 0x10_0000);
        // It moves itself to pref_address and needs init_size from there.
        assert_eq!(info.kernel_end, 0x100_0000 + INIT_SIZE as u64);
    }

    #[test]
    fn load_linux_rejects_overlong_command_line() {
        let ram = ram(64 << 20, 0);
        let img = synthetic_bzimage(0x3000, INIT_SIZE);
        let line = "x".repeat(0x800);
        let err = load_linux(&ram, &img, None, &line, &platform(&ram)).unwrap_err();
        assert!(matches!(
            err,
            BootError::CmdlineTooLong {
                len: 0x800,
                max: 0x7FF
            }
        ));
        assert!(matches!(
            load_linux(&ram, &img, None, "a\0b", &platform(&ram)),
            Err(BootError::CmdlineNul)
        ));
    }

    #[test]
    fn load_linux_old_kernel_without_rsdp_field_leaves_it_zero() {
        let ram = ram(64 << 20, 0);
        let mut img = synthetic_bzimage(0x3000, INIT_SIZE);
        img[0x206..0x208].copy_from_slice(&0x020Du16.to_le_bytes());
        load_linux(&ram, &img, None, "", &platform(&ram)).unwrap();
        let zp = read(&ram, BOOT_PARAMS_ADDR, 0x80);
        assert!(zp[0x70..0x78].iter().all(|&b| b == 0));
    }

    /// The kernel the boot tests use, when `scripts/fetch-guest.sh` has
    /// fetched it; skipped otherwise.
    fn real_kernel() -> Option<Vec<u8>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../cache/guest/vmlinuz");
        std::fs::read(path).ok()
    }

    #[test]
    fn real_kernel_header_parses_as_64_bit_bzimage() {
        let Some(img) = real_kernel() else {
            eprintln!("skipped: cache/guest/vmlinuz is absent");
            return;
        };
        let h = SetupHeader::parse(&img).unwrap();
        assert!(h.version >= MIN_PROTOCOL);
        assert!(h.relocatable_kernel);
        assert!(h.xloadflags & xloadflags::KERNEL_64 != 0);
        assert!(h.kernel_alignment.is_power_of_two());
        assert!(h.pref_address >= KERNEL_DEFAULT_ADDR);
        assert!(h.init_size as usize > img.len() - h.setup_size());
    }

    #[test]
    fn real_kernel_loads_into_256m_guest() {
        let Some(img) = real_kernel() else {
            eprintln!("skipped: cache/guest/vmlinuz is absent");
            return;
        };
        let ram = ram(256 << 20, 0);
        let info = load_linux(
            &ram,
            &img,
            Some(&[0u8; 4096]),
            "console=ttyS0",
            &platform(&ram),
        )
        .unwrap();
        let h = SetupHeader::parse(&img).unwrap();
        assert_eq!(info.kernel_load, h.pref_address);
        assert_eq!(info.entry, h.pref_address + 0x200);
        let pm = &img[h.setup_size()..];
        assert_eq!(read(&ram, info.kernel_load, 64), &pm[..64]);
    }
}
