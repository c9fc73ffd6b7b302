//! ACPI tables for the Q35-like board (ACPI 6.5), built into one blob the
//! board copies to guest RAM at [`ACPI_BASE`].
//!
//! One file per table, each written through the checksumming sink in
//! [`sdt`]: [`rsdp`], [`xsdt`], [`fadt`] (with [`facs`] and [`dsdt`] hanging
//! off it), [`madt`], [`hpet`], [`mcfg`]. Tables other modules own (the
//! DMAR the `iommu` crate writes, an SRAT later) are added as finished
//! bytes through [`AcpiBuilder::add_table`] and listed in the XSDT.
//!
//! The blob's layout, each table 16-byte aligned (the FACS 64):
//!
//! | offset | table |
//! |---|---|
//! | 0x0 | RSDP (found by the legacy scan of 0xE0000-0xFFFFF, and passed in `boot_params.acpi_rsdp_addr`) |
//! | | XSDT: FADT, MADT, HPET, MCFG, then added tables |
//! | | FADT, FACS, DSDT, MADT, HPET, MCFG, added tables |
//!
//! The whole range 0xE0000-0xFFFFF is reserved in the e820 map
//! (`crate::boot::E820Map::q35`), so the tables are never overwritten.
//!
//! The addresses here are the board's memory map (DESIGN.md). Where a
//! device model in `devices` fixes an address, a port or an encoding, the
//! tables take it from there, so the two cannot disagree.

pub mod dsdt;
pub mod facs;
pub mod fadt;
pub mod hpet;
pub mod madt;
pub mod mcfg;
pub mod rsdp;
pub mod sdt;
pub mod xsdt;

use devices::acpi_pm::{self, ACPI_PM_BASE};
use mem::RamLayout;

pub use devices::acpi_pm::S5_SLP_TYP;

/// Where the blob starts: the RSDP, 16-byte aligned inside the BIOS area
/// an OS scans.
pub const ACPI_BASE: u64 = 0xE_0000;
/// First byte past the room for the blob (the end of the BIOS area).
pub const ACPI_END: u64 = 0x10_0000;

/// The local APIC (and MSI) address window.
pub const LAPIC_ADDR: u64 = devices::lapic::LAPIC_BASE;
/// The I/O APIC: id 0 (QEMU's), registers at 0xFEC00000, GSIs 0-23.
pub const IOAPIC_ADDR: u64 = devices::ioapic::IOAPIC_BASE;
pub const IOAPIC_ID: u8 = 0;
pub const IOAPIC_GSI_BASE: u32 = 0;
/// The HPET register block.
pub const HPET_ADDR: u64 = devices::hpet::HPET_BASE;
pub const HPET_LEN: u64 = devices::hpet::HPET_SIZE;
/// The PCIe ECAM window: segment 0, buses 0-255, 1 MiB per bus.
pub const ECAM_BASE: u64 = 0xB000_0000;
pub const ECAM_BUSES: u64 = 256;
pub const ECAM_SIZE: u64 = ECAM_BUSES << 20;
/// The 32-bit PCI memory window the host bridge decodes (inclusive end).
pub const PCI_MMIO32_BASE: u64 = 0xC000_0000;
pub const PCI_MMIO32_END: u64 = 0xFEBF_FFFF;
/// Device slots on bus 0.
pub const PCI_SLOTS: u8 = 32;
/// First GSI of the four PCI INTx lines (INTA-INTD of slot 0).
pub const PCI_INTX_GSI_BASE: u32 = 16;

/// The GSI that INTx pin `pin` (0 = INTA .. 3 = INTD) of device `slot` on
/// bus 0 raises: the standard swizzle over GSI 16-19. The `_PRT` says
/// this; the board must wire INTx the same way.
pub const fn pci_intx_gsi(slot: u8, pin: u8) -> u32 {
    PCI_INTX_GSI_BASE + ((slot as u32 + pin as u32) % 4)
}

/// The fixed-hardware register blocks (ICH9 PM I/O space at PMBASE 0x600,
/// as QEMU q35 places it, taken from the `devices::acpi_pm` model) and the
/// other ports the FADT names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmIo {
    /// PM1a event block: PM1_STS (2 bytes) then PM1_EN (2 bytes).
    pub pm1a_evt: u16,
    /// PM1a control block: PM1_CNT.
    pub pm1a_cnt: u16,
    /// The ACPI PM timer.
    pub pm_tmr: u16,
    /// GPE0 block: status bytes then enable bytes.
    pub gpe0: u16,
    pub gpe0_len: u8,
    /// The ISA IRQ (and GSI) of the SCI.
    pub sci_irq: u8,
    /// The reset register (ICH9 RST_CNT) and the value that resets.
    pub reset_port: u16,
    pub reset_value: u8,
}

impl PmIo {
    pub const Q35: PmIo = PmIo {
        pm1a_evt: ACPI_PM_BASE + acpi_pm::offset::PM1_STS as u16,
        pm1a_cnt: ACPI_PM_BASE + acpi_pm::offset::PM1_CNT as u16,
        pm_tmr: ACPI_PM_BASE + acpi_pm::offset::PM_TMR as u16,
        gpe0: ACPI_PM_BASE + acpi_pm::offset::GPE0_STS as u16,
        gpe0_len: acpi_pm::GPE0_BLK_LEN,
        sci_irq: acpi_pm::SCI_IRQ as u8,
        reset_port: 0xCF9,
        // SYS_RST | RST_CPU: a hard reset. (QEMU writes 0x0F, adding
        // FULL_RST; either resets the machine.)
        reset_value: 0x06,
    };
    pub const PM1_EVT_LEN: u8 = 4;
    pub const PM1_CNT_LEN: u8 = 2;
    pub const PM_TMR_LEN: u8 = 4;
}

/// What the tables describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiConfig {
    /// Guest RAM; sizes the 64-bit PCI window, which starts above it.
    pub ram: RamLayout,
    /// Processors (local APIC ids 0..cpus); 0 is taken as 1.
    pub cpus: u8,
    /// An HPET at [`HPET_ADDR`]: the HPET table and `\_SB.HPET`.
    pub hpet: bool,
    /// An i8042 keyboard controller: the FADT's 8042 flag and `KBD`/`MOU`.
    pub i8042: bool,
    /// An MC146818 RTC/CMOS at port 0x70: `RTC`.
    pub rtc: bool,
    /// A 16550 UART at 0x3F8, IRQ 4: `COM1`.
    pub com1: bool,
    /// The PM timer counts 32 bits (the FADT's TMR_VAL_EXT), not 24; the
    /// `devices::acpi_pm::AcpiPm` must then be built `with_32bit_timer()`.
    pub pm_timer_32bit: bool,
    /// The processor's physical address width (CPUID 0x80000008 EAX[7:0]);
    /// the 64-bit PCI window must end below it.
    pub phys_addr_bits: u8,
    /// Size of the 64-bit PCI memory window; 0 for none.
    pub pci_mmio64_size: u64,
}

impl AcpiConfig {
    /// The board's defaults for `ram`: one processor and every legacy
    /// device QEMU q35 has, a 32-bit PM timer, a 32 GiB 64-bit window (QEMU
    /// q35's default), 40 physical address bits (our CPUID).
    pub fn new(ram: RamLayout) -> AcpiConfig {
        AcpiConfig {
            ram,
            cpus: 1,
            hpet: true,
            i8042: true,
            rtc: true,
            com1: true,
            pm_timer_32bit: true,
            phys_addr_bits: 40,
            pci_mmio64_size: 32 << 30,
        }
    }

    /// Processors described (at least one).
    pub fn cpus(&self) -> u8 {
        self.cpus.max(1)
    }

    /// The 64-bit PCI memory window as (base, inclusive end): from the
    /// first 1 GiB boundary above RAM, clipped to the physical address
    /// width; `None` if empty.
    pub fn pci_mmio64_window(&self) -> Option<(u64, u64)> {
        const GIB: u64 = 1 << 30;
        let ram_top = (1u64 << 32).checked_add(self.ram.high)?;
        let base = ram_top.checked_add(GIB - 1)? & !(GIB - 1);
        let limit = 1u64.checked_shl(self.phys_addr_bits as u32)?;
        let end = base.checked_add(self.pci_mmio64_size)?.min(limit);
        (end > base).then(|| (base, end - 1))
    }
}

/// Why tables could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AcpiError {
    #[error("an added ACPI table is malformed: {0}")]
    BadTable(&'static str),
    #[error("the ACPI tables need {need:#x} bytes, the BIOS area has room for {room:#x}")]
    TooLarge { need: u64, room: u64 },
}

/// Where one table landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableLocation {
    pub signature: [u8; 4],
    pub addr: u64,
    pub len: usize,
}

/// The assembled tables: copy `bytes` to guest-physical `base`.
#[derive(Clone, Debug)]
pub struct AcpiBlob {
    pub bytes: Vec<u8>,
    pub base: u64,
    /// The RSDP's address, for `boot_params.acpi_rsdp_addr`.
    pub rsdp_addr: u64,
    /// Every table (the RSDP first), for logs and debuggers.
    pub tables: Vec<TableLocation>,
}

/// Builds the board's tables plus any added ones.
#[derive(Debug)]
pub struct AcpiBuilder {
    config: AcpiConfig,
    extra: Vec<Vec<u8>>,
}

impl AcpiBuilder {
    pub fn new(config: &AcpiConfig) -> AcpiBuilder {
        AcpiBuilder {
            config: config.clone(),
            extra: Vec::new(),
        }
    }

    /// Adds a finished table (a DMAR, an SRAT): a header whose length is
    /// the table's and whose bytes sum to zero. It is placed after the
    /// board's tables and listed in the XSDT.
    pub fn add_table(&mut self, table: Vec<u8>) -> Result<&mut AcpiBuilder, AcpiError> {
        if table.len() < sdt::HEADER_LEN {
            return Err(AcpiError::BadTable("shorter than a table header"));
        }
        let len = u32::from_le_bytes([table[4], table[5], table[6], table[7]]) as usize;
        if len != table.len() {
            return Err(AcpiError::BadTable("length field does not match its size"));
        }
        if !sdt::sums_to_zero(&table) {
            return Err(AcpiError::BadTable("checksum does not sum to zero"));
        }
        self.extra.push(table);
        Ok(self)
    }

    /// Lays the tables out from [`ACPI_BASE`] and links them.
    pub fn build(&self) -> Result<AcpiBlob, AcpiError> {
        let c = &self.config;
        // Tables whose bytes do not depend on where anything is.
        let mut listed: Vec<Vec<u8>> = vec![madt::build(c)];
        if c.hpet {
            listed.push(hpet::build());
        }
        listed.push(mcfg::build());
        listed.extend(self.extra.iter().cloned());
        let dsdt = dsdt::build(c);
        let facs = facs::build();

        // Offsets, in blob order.
        let mut end = 0usize;
        let mut place = |len: usize, align: usize| {
            let at = end.next_multiple_of(align);
            end = at + len;
            at
        };
        let rsdp_at = place(rsdp::LEN, rsdp::ALIGN);
        let xsdt_at = place(xsdt::len(1 + listed.len()), 16);
        let fadt_at = place(fadt::LEN, 16);
        let facs_at = place(facs::LEN, facs::ALIGN);
        let dsdt_at = place(dsdt.len(), 16);
        let listed_at: Vec<usize> = listed.iter().map(|t| place(t.len(), 16)).collect();
        let room = ACPI_END - ACPI_BASE;
        if end as u64 > room {
            return Err(AcpiError::TooLarge {
                need: end as u64,
                room,
            });
        }
        let addr = |off: usize| ACPI_BASE + off as u64;

        let fadt = fadt::build(
            c,
            fadt::FadtLinks {
                facs: addr(facs_at),
                dsdt: addr(dsdt_at),
            },
        );
        let xsdt_entries: Vec<u64> = std::iter::once(fadt_at)
            .chain(listed_at.iter().copied())
            .map(addr)
            .collect();
        let xsdt = xsdt::build(&xsdt_entries);
        let rsdp = rsdp::build(addr(xsdt_at));

        let mut bytes = vec![0u8; end];
        let mut tables = Vec::new();
        let mut put = |at: usize, t: &[u8]| {
            bytes[at..at + t.len()].copy_from_slice(t);
            tables.push(TableLocation {
                signature: [t[0], t[1], t[2], t[3]],
                addr: addr(at),
                len: t.len(),
            });
        };
        put(rsdp_at, &rsdp);
        put(xsdt_at, &xsdt);
        put(fadt_at, &fadt);
        put(facs_at, &facs);
        put(dsdt_at, &dsdt);
        for (t, &at) in listed.iter().zip(&listed_at) {
            put(at, t);
        }
        Ok(AcpiBlob {
            bytes,
            base: ACPI_BASE,
            rsdp_addr: addr(rsdp_at),
            tables,
        })
    }
}

/// The board's tables for `config`, without added tables.
pub fn build(config: &AcpiConfig) -> AcpiBlob {
    AcpiBuilder::new(config)
        .build()
        // The board's own tables are a few KiB for any configuration (255
        // processors add 2 KiB to the MADT); see the test
        // `build_largest_config_fits_bios_area`.
        .expect("the board's ACPI tables fit the BIOS area")
}

#[cfg(test)]
mod tests;
