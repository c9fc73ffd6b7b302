//! The processor state the "64-bit BOOT PROTOCOL" (boot.rst) asks for at
//! the kernel's 64-bit entry: long mode with paging, an identity map over
//! the kernel, boot_params and the command line, a GDT with flat `__BOOT_CS`
//! (0x10, 64-bit code) and `__BOOT_DS` (0x18, data), interrupts disabled,
//! and RSI pointing at boot_params.
//!
//! The GDT and page tables live in low RAM below 64 KiB, which Linux keeps
//! to itself (CONFIG_X86_RESERVE_LOW) and never hands to its allocator; the
//! decompressor switches to page tables and a GDT of its own within its
//! first instructions, so these are dead once the kernel runs.

use cpu::{Cpu, DescriptorTable, SegReg, Segment};
use mem::{GuestAddress, GuestRam};

use super::{BootError, BootInfo};

/// Where the boot GDT sits.
pub const GDT_ADDR: u64 = 0x500;
/// The top of the small stack the kernel is entered with (the protocol
/// does not require one; the decompressor sets its own at once).
pub const BOOT_STACK_TOP: u64 = 0x8FF0;
/// The boot page tables: PML4 at 0x9000, one PDPT at 0xA000, four page
/// directories at 0xB000-0xEFFF mapping the first 4 GiB with 2 MiB pages.
pub const PAGE_TABLES_ADDR: u64 = 0x9000;
/// First byte past the page tables.
pub const PAGE_TABLES_END: u64 = PAGE_TABLES_ADDR + (2 + IDENTITY_MAP_GIB) * PAGE;

const PAGE: u64 = 0x1000;
// Everything the loader leaves in low memory must sit in the first 64 KiB,
// which Linux never allocates (CONFIG_X86_RESERVE_LOW).
const _: () = assert!(PAGE_TABLES_END <= 0x1_0000 && BOOT_STACK_TOP < PAGE_TABLES_ADDR);
/// GiB of the address space the boot page tables map (one page directory
/// each).
const IDENTITY_MAP_GIB: u64 = 4;

/// Selectors the protocol fixes (boot.rst, "64-bit BOOT PROTOCOL").
pub const BOOT_CS: u16 = 0x10;
pub const BOOT_DS: u16 = 0x18;

/// CR0: PE | MP | ET | NE | WP | PG (SDM Vol. 3A, 2.5).
const CR0_LONG_MODE: u64 = 0x8005_0033;
/// CR4: PAE (required for long-mode paging).
const CR4_PAE: u64 = 1 << 5;
/// EFER: SCE | LME | LMA | NXE (SDM Vol. 3A, 2.2.1).
const EFER_LONG_MODE: u64 = 0xD01;
/// RFLAGS with only the always-one bit 1 set: interrupts disabled.
const RFLAGS_RESERVED: u64 = 0x2;
/// RSP and RSI in the GPR array (encoding order).
const RSP: usize = 4;
const RSI: usize = 6;

/// Page-table entry bits (SDM Vol. 3A, 4.5, Tables 4-15 to 4-18).
mod pte {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    /// In a page-directory entry: maps a 2 MiB page.
    pub const PAGE_SIZE: u64 = 1 << 7;
}

/// The descriptors as the GDT holds them (SDM Vol. 3A, 3.4.5): base 0,
/// limit 0xFFFFF with 4 KiB granularity. Code: type 0xB (execute/read,
/// accessed), S, P, L, G. Data: type 0x3 (read/write, accessed), S, P, D/B, G.
const GDT_CODE64: u64 = 0x00AF_9B00_0000_FFFF;
const GDT_DATA: u64 = 0x00CF_9300_0000_FFFF;
/// The same descriptors' attributes in the VMX access-rights layout the
/// CPU's segment cache uses.
const ATTR_CODE64: u16 = 0xA09B;
const ATTR_DATA: u16 = 0xC093;

/// The boot GDT: null, unused, `__BOOT_CS`, `__BOOT_DS`.
fn gdt() -> [u64; 4] {
    [0, 0, GDT_CODE64, GDT_DATA]
}

/// The identity map's tables, one 4 KiB page after another from
/// [`PAGE_TABLES_ADDR`]: PML4, PDPT, then the page directories.
fn page_tables() -> Vec<u8> {
    let entry = |v: u64| v.to_le_bytes();
    let mut t = vec![0u8; ((2 + IDENTITY_MAP_GIB) * PAGE) as usize];
    let pdpt = PAGE_TABLES_ADDR + PAGE;
    t[0..8].copy_from_slice(&entry(pdpt | pte::PRESENT | pte::WRITABLE));
    for gib in 0..IDENTITY_MAP_GIB {
        let pd = PAGE_TABLES_ADDR + (2 + gib) * PAGE;
        let at = (PAGE + gib * 8) as usize;
        t[at..at + 8].copy_from_slice(&entry(pd | pte::PRESENT | pte::WRITABLE));
        for i in 0..512u64 {
            let phys = (gib << 30) | (i << 21);
            let at = ((2 + gib) * PAGE + i * 8) as usize;
            t[at..at + 8]
                .copy_from_slice(&entry(phys | pte::PRESENT | pte::WRITABLE | pte::PAGE_SIZE));
        }
    }
    t
}

/// Writes the boot GDT and page tables to RAM and puts `cpu` at the
/// kernel's 64-bit entry point with the state the protocol requires.
pub fn setup_cpu_for_linux(
    cpu: &mut Cpu,
    info: &BootInfo,
    ram: &GuestRam,
) -> Result<(), BootError> {
    let gdt: Vec<u8> = gdt().iter().flat_map(|d| d.to_le_bytes()).collect();
    ram.write(GuestAddress(GDT_ADDR), &gdt)
        .map_err(BootError::Ram)?;
    ram.write(GuestAddress(PAGE_TABLES_ADDR), &page_tables())
        .map_err(BootError::Ram)?;

    cpu.reset();
    cpu.gpr = [0; 16];
    cpu.gpr[RSI] = info.boot_params;
    cpu.gpr[RSP] = BOOT_STACK_TOP;
    cpu.rip = info.entry;
    cpu.rflags = RFLAGS_RESERVED;
    cpu.gdtr = DescriptorTable {
        base: GDT_ADDR,
        limit: (gdt.len() - 1) as u16,
    };
    // No IDT: an exception before the kernel loads its own shuts the
    // processor down (a triple fault the run loop reports) instead of
    // vectoring through whatever sits at address 0.
    cpu.idtr = DescriptorTable { base: 0, limit: 0 };
    cpu.cr0 = CR0_LONG_MODE;
    cpu.cr3 = PAGE_TABLES_ADDR;
    cpu.cr4 = CR4_PAE;
    cpu.efer = EFER_LONG_MODE;
    let flat = |selector, attr| Segment {
        selector,
        base: 0,
        limit: 0xFFFF_FFFF,
        attr,
    };
    for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
        cpu.set_segment(s, flat(BOOT_DS, ATTR_DATA));
    }
    // CS last: `set_segment` recomputes the mode, which must see long mode.
    cpu.set_segment(SegReg::Cs, flat(BOOT_CS, ATTR_CODE64));
    cpu.sync_mode();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use cpu::Mode;
    use mem::{Attention, Bus, RamLayout};

    fn machine(low: u64) -> (Arc<GuestRam>, Cpu) {
        let ram = Arc::new(
            GuestRam::new(RamLayout { low, high: 0 }, Arc::new(Attention::default())).unwrap(),
        );
        let cpu = Cpu::new(Arc::new(Bus::new(ram.clone())));
        (ram, cpu)
    }

    fn info() -> BootInfo {
        BootInfo {
            entry: 0x100_0200,
            boot_params: 0x7000,
            kernel_load: 0x100_0000,
            kernel_end: 0x200_0000,
            cmdline: (0x2_0000, 1),
            initrd: None,
            protocol: 0x020F,
        }
    }

    fn u64_at(ram: &GuestRam, addr: u64) -> u64 {
        let mut b = [0u8; 8];
        ram.read(GuestAddress(addr), &mut b).unwrap();
        u64::from_le_bytes(b)
    }

    #[test]
    fn long_mode_state_matches_64_bit_protocol() {
        let (ram, mut cpu) = machine(64 << 20);
        setup_cpu_for_linux(&mut cpu, &info(), &ram).unwrap();
        assert_eq!(cpu.mode(), Mode::Long);
        assert_eq!(cpu.cpl(), 0);
        assert_eq!(cpu.rip, 0x100_0200);
        assert_eq!(cpu.gpr[RSI], 0x7000);
        assert_eq!(cpu.rflags & (1 << 9), 0, "interrupts disabled");
        assert_eq!((cpu.cr0, cpu.cr4, cpu.efer), (0x8005_0033, 0x20, 0xD01));
        assert_eq!(cpu.segment(SegReg::Cs).selector, 0x10);
        for s in [SegReg::Ds, SegReg::Es, SegReg::Ss] {
            assert_eq!(cpu.segment(s).selector, 0x18);
        }
    }

    #[test]
    fn long_mode_gdt_in_ram_matches_segment_caches() {
        let (ram, mut cpu) = machine(64 << 20);
        setup_cpu_for_linux(&mut cpu, &info(), &ram).unwrap();
        let code = u64_at(&ram, cpu.gdtr.base + BOOT_CS as u64);
        let data = u64_at(&ram, cpu.gdtr.base + BOOT_DS as u64);
        // Access-rights bits 8-15 and 20-23 of the high dword, as VMX packs them.
        let attr = |d: u64| (((d >> 40) & 0xFF) | ((d >> 40) & 0xF000)) as u16;
        assert_eq!(attr(code), cpu.segment(SegReg::Cs).attr);
        assert_eq!(attr(data), cpu.segment(SegReg::Ds).attr);
        assert_eq!(cpu.gdtr.limit, 31);
    }

    #[test]
    fn long_mode_page_tables_identity_map_first_4g() {
        let (ram, mut cpu) = machine(64 << 20);
        setup_cpu_for_linux(&mut cpu, &info(), &ram).unwrap();
        // Walk 0xFEE0_0000 (the local APIC, in the fourth GiB) by hand.
        let va: u64 = 0xFEE0_0000;
        let pml4e = u64_at(&ram, cpu.cr3 + ((va >> 39) & 511) * 8);
        let pdpte = u64_at(&ram, (pml4e & !0xFFF) + ((va >> 30) & 511) * 8);
        let pde = u64_at(&ram, (pdpte & !0xFFF) + ((va >> 21) & 511) * 8);
        assert_eq!(pde & 0x83, 0x83, "present, writable, 2 MiB page");
        assert_eq!(pde & !0x1F_FFFF, va & !0x1F_FFFF);
    }

    #[test]
    fn long_mode_translates_through_cpu_mmu() {
        // The CPU itself reads through its page walk: a byte stored at a
        // physical address is seen at the same linear address.
        let (ram, mut cpu) = machine(64 << 20);
        ram.write(GuestAddress(0x30_1234), &[0x5A]).unwrap();
        setup_cpu_for_linux(&mut cpu, &info(), &ram).unwrap();
        // mov al, [0x301234]; hlt
        let code = [0x8A, 0x04, 0x25, 0x34, 0x12, 0x30, 0x00, 0xF4];
        ram.write(GuestAddress(0x100_0200), &code).unwrap();
        let exit = cpu.run(&mut cpu::NoInterrupts, 100);
        assert_eq!(exit, cpu::RunExit::Halted);
        assert_eq!(cpu.gpr[0] & 0xFF, 0x5A);
    }

    #[test]
    fn long_mode_setup_without_low_ram_fails() {
        let ram = Arc::new(
            GuestRam::new(
                RamLayout {
                    low: 0x1000,
                    high: 0,
                },
                Arc::new(Attention::default()),
            )
            .unwrap(),
        );
        let mut cpu = Cpu::new(Arc::new(Bus::new(ram.clone())));
        assert!(matches!(
            setup_cpu_for_linux(&mut cpu, &info(), &ram),
            Err(BootError::Ram(_))
        ));
    }
}
