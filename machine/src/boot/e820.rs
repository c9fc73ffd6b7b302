//! The firmware memory map handed to the kernel in `boot_params.e820_table`
//! (Documentation/arch/x86/zero-page.rst; the entry layout and types are
//! those of the BIOS INT 15h, AX=E820h call, ACPI 6.5 section 15.1).
//!
//! [`E820Map::q35`] gives the map this board reports, shaped like the one a
//! QEMU q35 guest sees: low RAM with the EBDA carved out, the legacy BIOS
//! area reserved (our ACPI tables live there), RAM from 1 MiB to the top of
//! low RAM, the PCIe ECAM window reserved, and RAM above 4 GiB.

use mem::RamLayout;

use crate::acpi::{ACPI_BASE, ECAM_BASE, ECAM_SIZE};

/// Entries `boot_params.e820_table` holds (E820_MAX_ENTRIES_ZEROPAGE).
pub const E820_MAX_ENTRIES: usize = 128;
/// Bytes of one entry: u64 address, u64 size, u32 type, packed.
pub const E820_ENTRY_SIZE: usize = 20;

/// Start of the extended BIOS data area a PC BIOS keeps below 640 KiB.
pub const EBDA_START: u64 = 0x9_FC00;
/// End of conventional memory (640 KiB): the VGA hole starts here.
pub const LOW_MEMORY_END: u64 = 0xA_0000;
/// Start of the legacy BIOS area the board reserves. The ACPI tables and
/// the RSDP sit here ([`crate::acpi::ACPI_BASE`]), where an OS that scans
/// for the RSDP (ACPI 6.5, 5.2.5.1) looks.
pub const BIOS_AREA_START: u64 = ACPI_BASE;
/// One MiB: the end of the real-mode address space.
pub const HIGH_MEMORY_START: u64 = 0x10_0000;
const FOUR_GIB: u64 = 1 << 32;

/// What an address range is (ACPI 6.5, Table 15.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum E820Kind {
    /// Usable RAM.
    Ram = 1,
    /// In use or reserved by the system; not to be used by the OS.
    Reserved = 2,
    /// ACPI tables the OS may reclaim once it has read them.
    Acpi = 3,
    /// ACPI non-volatile storage.
    Nvs = 4,
    /// Memory with detected errors.
    Unusable = 5,
}

/// One range of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: E820Kind,
}

impl E820Entry {
    /// First byte past the range.
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }

    /// The 20 bytes of the entry as `boot_params.e820_table` holds them.
    pub fn to_bytes(&self) -> [u8; E820_ENTRY_SIZE] {
        let mut b = [0u8; E820_ENTRY_SIZE];
        b[0..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..16].copy_from_slice(&self.size.to_le_bytes());
        b[16..20].copy_from_slice(&(self.kind as u32).to_le_bytes());
        b
    }
}

/// Why an entry could not be added.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum E820Error {
    #[error("e820 range {addr:#x}+{size:#x} is empty or wraps")]
    BadRange { addr: u64, size: u64 },
    #[error("e820 range {addr:#x}+{size:#x} overlaps an existing entry")]
    Overlap { addr: u64, size: u64 },
    #[error("the e820 map is full ({E820_MAX_ENTRIES} entries)")]
    Full,
}

/// A memory map: sorted, non-overlapping ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct E820Map {
    entries: Vec<E820Entry>,
}

impl E820Map {
    /// An empty map.
    pub fn new() -> E820Map {
        E820Map::default()
    }

    /// The map of the Q35-like board for `ram` (see the module doc).
    pub fn q35(ram: RamLayout) -> E820Map {
        let mut map = E820Map::new();
        let mut add = |addr: u64, end: u64, kind| {
            if end > addr {
                // The ranges below are disjoint by construction.
                let _ = map.add(E820Entry {
                    addr,
                    size: end - addr,
                    kind,
                });
            }
        };
        add(0, ram.low.min(EBDA_START), E820Kind::Ram);
        add(EBDA_START, LOW_MEMORY_END, E820Kind::Reserved);
        add(BIOS_AREA_START, HIGH_MEMORY_START, E820Kind::Reserved);
        add(HIGH_MEMORY_START, ram.low.min(ECAM_BASE), E820Kind::Ram);
        // The ECAM window (MCFG); Linux checks it is reserved before it
        // trusts MCFG.
        add(ECAM_BASE, ECAM_BASE + ECAM_SIZE, E820Kind::Reserved);
        add(FOUR_GIB, FOUR_GIB + ram.high, E820Kind::Ram);
        map
    }

    /// Adds a range, keeping the map sorted.
    pub fn add(&mut self, entry: E820Entry) -> Result<(), E820Error> {
        let (addr, size) = (entry.addr, entry.size);
        if size == 0 || addr.checked_add(size).is_none() {
            return Err(E820Error::BadRange { addr, size });
        }
        if self.entries.len() == E820_MAX_ENTRIES {
            return Err(E820Error::Full);
        }
        let at = self.entries.partition_point(|e| e.addr < addr);
        let overlaps_prev = at > 0 && self.entries[at - 1].end() > addr;
        let overlaps_next = self.entries.get(at).is_some_and(|e| e.addr < entry.end());
        if overlaps_prev || overlaps_next {
            return Err(E820Error::Overlap { addr, size });
        }
        self.entries.insert(at, entry);
        Ok(())
    }

    /// The entries, in address order.
    pub fn entries(&self) -> &[E820Entry] {
        &self.entries
    }

    /// Whether `[addr, addr + len)` lies inside one range of kind `kind`.
    pub fn contains(&self, addr: u64, len: u64, kind: E820Kind) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        self.entries
            .iter()
            .any(|e| e.kind == kind && e.addr <= addr && end <= e.end())
    }

    /// The usable RAM ranges as `(start, end)` pairs, in address order.
    pub fn ram_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.entries
            .iter()
            .filter(|e| e.kind == E820Kind::Ram)
            .map(|e| (e.addr, e.end()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q35_map_with_small_ram_matches_qemu_shape() {
        let map = E820Map::q35(RamLayout {
            low: 256 << 20,
            high: 0,
        });
        let e: Vec<_> = map
            .entries()
            .iter()
            .map(|e| (e.addr, e.end(), e.kind))
            .collect();
        assert_eq!(
            e,
            vec![
                (0, 0x9_FC00, E820Kind::Ram),
                (0x9_FC00, 0xA_0000, E820Kind::Reserved),
                (0xE_0000, 0x10_0000, E820Kind::Reserved),
                (0x10_0000, 256 << 20, E820Kind::Ram),
                (0xB000_0000, 0xC000_0000, E820Kind::Reserved),
            ]
        );
    }

    #[test]
    fn q35_map_with_high_ram_adds_ram_above_4g() {
        let map = E820Map::q35(RamLayout {
            low: 0xB000_0000,
            high: 1 << 30,
        });
        let last = *map.entries().last().unwrap();
        assert_eq!(
            last,
            E820Entry {
                addr: 1 << 32,
                size: 1 << 30,
                kind: E820Kind::Ram
            }
        );
        assert!(map.contains(0x10_0000, 0xB000_0000 - 0x10_0000, E820Kind::Ram));
    }

    #[test]
    fn e820_add_rejects_overlap_and_empty_ranges() {
        let mut map = E820Map::q35(RamLayout {
            low: 64 << 20,
            high: 0,
        });
        let overlap = E820Entry {
            addr: 0xF_0000,
            size: 0x2_0000,
            kind: E820Kind::Reserved,
        };
        assert!(matches!(map.add(overlap), Err(E820Error::Overlap { .. })));
        let empty = E820Entry {
            addr: 0xFEC0_0000,
            size: 0,
            kind: E820Kind::Reserved,
        };
        assert!(matches!(map.add(empty), Err(E820Error::BadRange { .. })));
        let ioapic = E820Entry {
            addr: 0xFEC0_0000,
            size: 0x1000,
            kind: E820Kind::Reserved,
        };
        map.add(ioapic).unwrap();
        assert_eq!(map.entries().last(), Some(&ioapic));
    }

    #[test]
    fn e820_entry_bytes_are_packed_little_endian() {
        let b = E820Entry {
            addr: 0x1_0000_0000,
            size: 0x2000,
            kind: E820Kind::Acpi,
        }
        .to_bytes();
        assert_eq!(&b[0..8], &0x1_0000_0000u64.to_le_bytes());
        assert_eq!(&b[8..16], &0x2000u64.to_le_bytes());
        assert_eq!(&b[16..20], &3u32.to_le_bytes());
    }
}
