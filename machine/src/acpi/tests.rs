//! Whole-blob tests: layout, links between tables, and (when `iasl` is
//! installed) that ACPICA's own disassembler accepts every table.

use super::*;
use crate::boot::{E820Kind, E820Map};

fn config() -> AcpiConfig {
    AcpiConfig::new(RamLayout {
        low: 256 << 20,
        high: 0,
    })
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// The table at guest address `addr` inside `blob`.
fn table_at(blob: &AcpiBlob, addr: u64) -> &[u8] {
    let off = (addr - blob.base) as usize;
    let len = u32_at(&blob.bytes, off + 4) as usize;
    &blob.bytes[off..off + len]
}

#[test]
fn build_puts_rsdp_at_base_on_a_scan_boundary() {
    let blob = build(&config());
    assert_eq!(blob.base, ACPI_BASE);
    assert_eq!(blob.rsdp_addr, 0xE_0000);
    assert_eq!(&blob.bytes[0..8], b"RSD PTR ");
    assert_eq!(blob.rsdp_addr % 16, 0);
}

#[test]
fn build_every_table_sums_to_zero_with_right_length() {
    let blob = build(&config());
    for t in &blob.tables {
        let off = (t.addr - blob.base) as usize;
        let bytes = &blob.bytes[off..off + t.len];
        let name = String::from_utf8_lossy(&t.signature).into_owned();
        match &t.signature {
            b"RSD " => assert!(sdt::sums_to_zero(&bytes[..20]) && sdt::sums_to_zero(bytes)),
            b"FACS" => assert_eq!(u32_at(bytes, 4) as usize, t.len),
            _ => {
                assert_eq!(u32_at(bytes, 4) as usize, t.len, "{name} length");
                assert!(sdt::sums_to_zero(bytes), "{name} checksum");
            }
        }
        assert_eq!(t.addr % 16, 0, "{name} alignment");
    }
}

#[test]
fn build_links_rsdp_xsdt_fadt_dsdt_facs() {
    let blob = build(&config());
    let xsdt = table_at(&blob, u64_at(&blob.bytes, 24));
    assert_eq!(&xsdt[0..4], b"XSDT");
    let listed: Vec<[u8; 4]> = xsdt[36..]
        .chunks(8)
        .map(|e| {
            table_at(&blob, u64::from_le_bytes(e.try_into().unwrap()))[0..4]
                .try_into()
                .unwrap()
        })
        .collect();
    assert_eq!(listed, [*b"FACP", *b"APIC", *b"HPET", *b"MCFG"]);
    let fadt = table_at(&blob, u64_at(xsdt, 36));
    let dsdt_addr = u64_at(fadt, 140);
    assert_eq!(u32_at(fadt, 40) as u64, dsdt_addr);
    assert_eq!(&table_at(&blob, dsdt_addr)[0..4], b"DSDT");
    let facs_addr = u32_at(fadt, 36) as u64;
    assert_eq!(facs_addr % 64, 0);
    let off = (facs_addr - blob.base) as usize;
    assert_eq!(&blob.bytes[off..off + 4], b"FACS");
}

#[test]
fn build_largest_config_fits_bios_area() {
    let mut c = AcpiConfig::new(RamLayout {
        low: 0xB000_0000,
        high: 1 << 40,
    });
    c.cpus = 255;
    let blob = AcpiBuilder::new(&c).build().unwrap();
    assert!(blob.bytes.len() as u64 <= ACPI_END - ACPI_BASE);
}

#[test]
fn build_blob_lies_in_reserved_e820_range() {
    let c = config();
    let blob = build(&c);
    let map = E820Map::q35(c.ram);
    assert!(map.contains(blob.base, ACPI_END - blob.base, E820Kind::Reserved));
}

#[test]
fn add_table_lists_it_in_xsdt() {
    let mut t = sdt::Sdt::new(*b"DMAR", 1);
    t.u8(38).u8(1).zeroes(10);
    let dmar = t.finish();
    let mut b = AcpiBuilder::new(&config());
    b.add_table(dmar.clone()).unwrap();
    let blob = b.build().unwrap();
    let xsdt = table_at(&blob, u64_at(&blob.bytes, 24));
    let last = u64_at(xsdt, xsdt.len() - 8);
    assert_eq!(table_at(&blob, last), &dmar[..]);
    assert!(sdt::sums_to_zero(xsdt));
}

#[test]
fn add_table_rejects_bad_checksum_and_length() {
    let mut t = sdt::Sdt::new(*b"SRAT", 3);
    t.zeroes(12);
    let good = t.finish();
    let mut b = AcpiBuilder::new(&config());
    let mut bad_sum = good.clone();
    bad_sum[40] ^= 1;
    assert!(matches!(b.add_table(bad_sum), Err(AcpiError::BadTable(_))));
    let mut bad_len = good.clone();
    bad_len.push(0);
    assert!(matches!(b.add_table(bad_len), Err(AcpiError::BadTable(_))));
    assert!(matches!(
        b.add_table(vec![0; 8]),
        Err(AcpiError::BadTable(_))
    ));
}

#[test]
fn add_table_too_large_for_bios_area_is_an_error() {
    let mut t = sdt::Sdt::new(*b"OEM1", 1);
    t.zeroes(0x2_0000);
    let mut b = AcpiBuilder::new(&config());
    b.add_table(t.finish()).unwrap();
    assert!(matches!(b.build(), Err(AcpiError::TooLarge { .. })));
}

#[test]
fn pci_mmio64_window_starts_above_ram_and_ends_below_phys_limit() {
    let mut c = AcpiConfig::new(RamLayout {
        low: 0xB000_0000,
        high: (1 << 30) + 1,
    });
    assert_eq!(
        c.pci_mmio64_window(),
        Some((6 << 30, (6 << 30) + (32 << 30) - 1))
    );
    c.phys_addr_bits = 35;
    assert_eq!(c.pci_mmio64_window(), Some((6 << 30, (32 << 30) - 1)));
    c.pci_mmio64_size = 0;
    assert_eq!(c.pci_mmio64_window(), None);
}

#[test]
fn pci_intx_gsi_swizzles_over_16_to_19() {
    assert_eq!(pci_intx_gsi(0, 0), 16);
    assert_eq!(pci_intx_gsi(1, 0), 17);
    assert_eq!(pci_intx_gsi(3, 2), 17);
    assert_eq!(pci_intx_gsi(31, 3), 18);
}

/// Runs `iasl` on each table, if it is installed: the disassembler must
/// accept every table, and the disassembled DSDT must compile back without
/// errors. Skipped (passing) when `iasl` is absent.
#[test]
fn iasl_decodes_every_table() {
    use std::process::Command;
    if Command::new("iasl").arg("-v").output().is_err() {
        eprintln!("skipped: iasl is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("vtdemu-acpi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blob = build(&config());
    for t in blob.tables.iter().filter(|t| &t.signature != b"RSD ") {
        let name = String::from_utf8_lossy(&t.signature).to_lowercase();
        let off = (t.addr - blob.base) as usize;
        let dat = dir.join(format!("{name}.dat"));
        std::fs::write(&dat, &blob.bytes[off..off + t.len]).unwrap();
        let out = Command::new("iasl")
            .current_dir(&dir)
            .args(["-d", dat.to_str().unwrap()])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "iasl -d {name}: {log}");
        let dsl = std::fs::read_to_string(dir.join(format!("{name}.dsl"))).unwrap();
        assert!(!dsl.contains("**** Unknown"), "{name}: {dsl}");
        if name == "dsdt" {
            for want in [
                "PNP0A08", "PNP0501", "PNP0103", "_PRT", "_OSC", "_S5_", "GSIA",
            ] {
                assert!(dsl.contains(want), "DSDT lacks {want}:\n{dsl}");
            }
            let out = Command::new("iasl")
                .current_dir(&dir)
                .args(["-p", "recompiled", "dsdt.dsl"])
                .output()
                .unwrap();
            let log = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "DSDT does not recompile: {log}\n{dsl}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
