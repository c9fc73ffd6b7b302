//! The Differentiated System Description Table, "DSDT" (ACPI 6.5, 5.2.11.1):
//! the AML namespace of the board, shaped like QEMU q35's (decompiled, it
//! reads as the ASL below), encoded with the `acpi_tables` AML builders.
//!
//! ```text
//! \_SB.PCI0        PCIe host bridge: PNP0A08/PNP0A03, _SEG/_BBN/_UID 0,
//!                  _CRS windows, _OSC, _PRT (INTx -> GSI 16-19)
//! \_SB.PCI0.ISA    the LPC bridge at 00:1f.0 and its ISA devices:
//!     RTC  PNP0B00  IO 0x70-0x77, IRQ 8
//!     KBD  PNP0303  IO 0x60, 0x64, IRQ 1       (i8042)
//!     MOU  PNP0F13  IRQ 12                     (i8042 aux port)
//!     COM1 PNP0501  IO 0x3F8-0x3FF, IRQ 4
//! \_SB.GSIA-GSID   PCI interrupt links, fixed to GSI 16-19, level, high
//! \_SB.HPET        PNP0103, 1 KiB at 0xFED00000
//! \_SB.DRAC        PNP0C01 motherboard resource: the ECAM window
//! \_S5             soft-off: SLP_TYP for PM1a_CNT
//! ```
//!
//! PCI INTx routing is the standard swizzle on bus 0: INTA-INTD of slot s
//! reach GSI 16 + (s + pin) mod 4 ([`super::pci_intx_gsi`]), level-triggered
//! and active-high through link devices, as QEMU's APIC-mode routing does
//! (a bare GSI in a `_PRT` would mean level/active-low instead).

use acpi_tables::aml::{
    self, AddressSpace, AddressSpaceCacheable, CreateDWordField, Device, EISAName, Else, Equal, If,
    Interrupt, Method, Name, NotEqual, Package, PackageBuilder, Path, ResourceTemplate, Return,
    Scope, Store, Uuid, IO,
};
use acpi_tables::{Aml, AmlSink};

use super::sdt::Sdt;
use super::{
    pci_intx_gsi, AcpiConfig, ECAM_BASE, ECAM_SIZE, HPET_ADDR, HPET_LEN, PCI_MMIO32_BASE,
    PCI_MMIO32_END, PCI_SLOTS, S5_SLP_TYP,
};

/// Revision 2: AML integers are 64 bits wide.
pub const REVISION: u8 = 2;

/// AML already encoded, placed into a larger object as is.
struct Raw(Vec<u8>);

impl Aml for Raw {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.vec(&self.0);
    }
}

fn encode(obj: &dyn Aml) -> Raw {
    let mut bytes = Vec::new();
    obj.to_aml_bytes(&mut bytes);
    Raw(bytes)
}

/// The small IRQ descriptor without flags, `IRQNoFlags () {n}` (ACPI 6.5,
/// 6.4.2.1): edge-triggered, active-high, exclusive, as the ISA bus is.
/// QEMU declares its ISA devices' IRQs this way; `acpi_tables` only has the
/// extended descriptor.
struct IrqNoFlags(u8);

impl Aml for IrqNoFlags {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        let mask = 1u16 << self.0;
        sink.byte(0x22); // small item, type 4 (IRQ), length 2
        sink.word(mask);
    }
}

/// `Name (_HID, EisaId (id))`.
fn hid(id: &str) -> Raw {
    encode(&Name::new("_HID".into(), &EISAName::new(id)))
}

/// `Device (name) { _HID, [_UID], _CRS }` for a fixed-resource device.
fn fixed_device(name: &str, id: &str, uid: Option<u8>, resources: Vec<&dyn Aml>) -> Raw {
    let hid = hid(id);
    let uid = uid.map(|u| encode(&Name::new("_UID".into(), &u)));
    let crs = encode(&Name::new("_CRS".into(), &ResourceTemplate::new(resources)));
    let mut children: Vec<&dyn Aml> = vec![&hid];
    if let Some(uid) = &uid {
        children.push(uid);
    }
    children.push(&crs);
    encode(&Device::new(name.into(), children))
}

/// The ISA devices behind the LPC bridge, as QEMU declares them.
fn isa_bridge(config: &AcpiConfig) -> Raw {
    let adr = encode(&Name::new("_ADR".into(), &0x001F_0000u32));
    let rtc = config.rtc.then(|| {
        fixed_device(
            "RTC_",
            "PNP0B00",
            None,
            vec![&IO::new(0x70, 0x70, 1, 8), &IrqNoFlags(8)],
        )
    });
    let kbd = config.i8042.then(|| {
        fixed_device(
            "KBD_",
            "PNP0303",
            None,
            vec![
                &IO::new(0x60, 0x60, 1, 1),
                &IO::new(0x64, 0x64, 1, 1),
                &IrqNoFlags(1),
            ],
        )
    });
    let mou = config
        .i8042
        .then(|| fixed_device("MOU_", "PNP0F13", None, vec![&IrqNoFlags(12)]));
    let com1 = config.com1.then(|| {
        fixed_device(
            "COM1",
            "PNP0501",
            Some(1),
            vec![&IO::new(0x3F8, 0x3F8, 0, 8), &IrqNoFlags(4)],
        )
    });
    let mut children: Vec<&dyn Aml> = vec![&adr];
    children.extend(
        [&rtc, &kbd, &mou, &com1]
            .into_iter()
            .flatten()
            .map(|d| d as &dyn Aml),
    );
    encode(&Device::new("ISA_".into(), children))
}

/// The host bridge's resource windows: what it decodes for the buses below.
fn pci0_crs(config: &AcpiConfig) -> Raw {
    let buses = AddressSpace::<u16>::new_bus_number(0, 0xFF);
    // The configuration mechanism's own ports, consumed by the bridge.
    let cf8 = IO::new(0xCF8, 0xCF8, 1, 8);
    let io_low = AddressSpace::<u16>::new_io(0x0000, 0x0CF7, None);
    let io_high = AddressSpace::<u16>::new_io(0x0D00, 0xFFFF, None);
    let vga = AddressSpace::<u32>::new_memory(
        AddressSpaceCacheable::Cacheable,
        true,
        0xA_0000,
        0xB_FFFF,
        None,
    );
    let mmio32 = AddressSpace::<u32>::new_memory(
        AddressSpaceCacheable::NotCacheable,
        true,
        PCI_MMIO32_BASE as u32,
        PCI_MMIO32_END as u32,
        None,
    );
    let mmio64 = config.pci_mmio64_window().map(|(base, end)| {
        AddressSpace::<u64>::new_memory(AddressSpaceCacheable::Cacheable, true, base, end, None)
    });
    let mut resources: Vec<&dyn Aml> = vec![&buses, &cf8, &io_low, &io_high, &vga, &mmio32];
    if let Some(w) = &mmio64 {
        resources.push(w);
    }
    encode(&Name::new("_CRS".into(), &ResourceTemplate::new(resources)))
}

/// PCI Firmware Specification 3.2, 4.5.1: the `_OSC` UUID of a PCI host
/// bridge.
const PCI_HOST_BRIDGE_OSC_UUID: &str = "33DB4D5B-1FF7-401C-9657-7441C03DD766";
/// Control the platform grants the OS (4.5.1, "_OSC Control Field"): PCIe
/// native PME (bit 2), AER (3), PCIe capability structure (4) and SHPC
/// hot-plug (1); not PCIe native hot-plug (0), which the board does not
/// model, nor LTR or DPC.
const OSC_GRANTED: u32 = 0x1E;

/// `_OSC`, as QEMU's (ACPI 6.5, 6.2.11): grant what [`OSC_GRANTED`] says,
/// flag an unknown revision or UUID, and report any bits masked.
fn pci0_osc() -> Raw {
    let cdw1 = Path::new("CDW1");
    let cdw2 = Path::new("CDW2");
    let cdw3 = Path::new("CDW3");
    let ctrl = aml::Local(0);
    let create_cdw1 = CreateDWordField::new(&cdw1, &aml::Arg(3), &aml::ZERO);
    let create_cdw2 = CreateDWordField::new(&cdw2, &aml::Arg(3), &4u8);
    let create_cdw3 = CreateDWordField::new(&cdw3, &aml::Arg(3), &8u8);
    let load_ctrl = Store::new(&ctrl, &cdw3);
    let mask_ctrl = aml::And::new(&ctrl, &ctrl, &OSC_GRANTED);
    // Status bits in CDW1: 3 unrecognised revision, 4 capabilities masked,
    // 2 unrecognised UUID.
    let bad_rev_set = aml::Or::new(&cdw1, &cdw1, &0x08u8);
    let bad_rev_test = NotEqual::new(&aml::Arg(1), &aml::ONE);
    let bad_rev = If::new(&bad_rev_test, vec![&bad_rev_set]);
    let masked_set = aml::Or::new(&cdw1, &cdw1, &0x10u8);
    let masked_test = NotEqual::new(&cdw3, &ctrl);
    let masked = If::new(&masked_test, vec![&masked_set]);
    let store_ctrl = Store::new(&cdw3, &ctrl);
    let uuid = Uuid::new(PCI_HOST_BRIDGE_OSC_UUID);
    let is_pci = Equal::new(&aml::Arg(0), &uuid);
    let known = If::new(
        &is_pci,
        vec![
            &create_cdw2,
            &create_cdw3,
            &load_ctrl,
            &mask_ctrl,
            &bad_rev,
            &masked,
            &store_ctrl,
        ],
    );
    let bad_uuid_set = aml::Or::new(&cdw1, &cdw1, &0x04u8);
    let unknown = Else::new(vec![&bad_uuid_set]);
    let ret = Return::new(&aml::Arg(3));
    encode(&Method::new(
        "_OSC".into(),
        4,
        false,
        vec![&create_cdw1, &known, &unknown, &ret],
    ))
}

/// Link device names, one per GSI 16-19.
const LINKS: [&str; 4] = ["GSIA", "GSIB", "GSIC", "GSID"];

/// `_PRT`: every slot's four pins on bus 0, each to its link device.
fn pci0_prt() -> Raw {
    let mut table = PackageBuilder::new();
    for slot in 0..PCI_SLOTS {
        let addr = (slot as u32) << 16 | 0xFFFF; // any function of the slot
        for pin in 0..4u8 {
            let link = Path::new(LINKS[(pci_intx_gsi(slot, pin) - 16) as usize]);
            table.add_element(&Package::new(vec![&addr, &pin, &link, &aml::ZERO]));
        }
    }
    encode(&Name::new("_PRT".into(), &table))
}

/// An interrupt link (PNP0C0F) fixed to `gsi`: `_PRS` and `_CRS` offer only
/// that GSI, level-triggered, active-high, shared; `_SRS` and `_DIS` do
/// nothing, since the routing cannot change (QEMU's GSI links).
fn gsi_link(name: &str, gsi: u32) -> Raw {
    let hid = hid("PNP0C0F");
    let uid = encode(&Name::new("_UID".into(), &gsi));
    let irq = Interrupt::new(true, false, false, true, gsi);
    let prs = encode(&Name::new(
        "_PRS".into(),
        &ResourceTemplate::new(vec![&irq]),
    ));
    let crs = encode(&Name::new(
        "_CRS".into(),
        &ResourceTemplate::new(vec![&irq]),
    ));
    let dis = encode(&Method::new("_DIS".into(), 0, false, vec![]));
    let srs = encode(&Method::new("_SRS".into(), 1, false, vec![]));
    encode(&Device::new(
        name.into(),
        vec![&hid, &uid, &prs, &crs, &dis, &srs],
    ))
}

/// The DSDT for `config`.
pub fn build(config: &AcpiConfig) -> Vec<u8> {
    let pci0 = {
        let hid = hid("PNP0A08");
        let cid = encode(&Name::new("_CID".into(), &EISAName::new("PNP0A03")));
        let adr = encode(&Name::new("_ADR".into(), &aml::ZERO));
        let seg = encode(&Name::new("_SEG".into(), &aml::ZERO));
        let bbn = encode(&Name::new("_BBN".into(), &aml::ZERO));
        let uid = encode(&Name::new("_UID".into(), &aml::ZERO));
        let crs = pci0_crs(config);
        let osc = pci0_osc();
        let prt = pci0_prt();
        let isa = isa_bridge(config);
        encode(&Device::new(
            "PCI0".into(),
            vec![&hid, &cid, &adr, &seg, &bbn, &uid, &crs, &osc, &prt, &isa],
        ))
    };
    let links: Vec<Raw> = LINKS
        .iter()
        .zip(16u32..)
        .map(|(name, gsi)| gsi_link(name, gsi))
        .collect();
    let hpet = config.hpet.then(|| {
        fixed_device(
            "HPET",
            "PNP0103",
            Some(0),
            vec![&aml::Memory32Fixed::new(
                false,
                HPET_ADDR as u32,
                HPET_LEN as u32,
            )],
        )
    });
    // The ECAM window, claimed as a motherboard resource so Linux accepts
    // MCFG without falling back to the e820 check.
    let drac = fixed_device(
        "DRAC",
        "PNP0C01",
        None,
        vec![&AddressSpace::<u32>::new_memory(
            AddressSpaceCacheable::NotCacheable,
            true,
            ECAM_BASE as u32,
            (ECAM_BASE + ECAM_SIZE - 1) as u32,
            None,
        )],
    );
    let mut sb_children: Vec<&dyn Aml> = vec![&pci0];
    sb_children.extend(links.iter().map(|l| l as &dyn Aml));
    if let Some(hpet) = &hpet {
        sb_children.push(hpet);
    }
    sb_children.push(&drac);
    let sb = Scope::new("\\_SB_".into(), sb_children);

    // \_S5: PM1a_CNT.SLP_TYP, PM1b_CNT.SLP_TYP (no PM1b), two reserved.
    let s5 = Name::new(
        "\\_S5_".into(),
        &Package::new(vec![&S5_SLP_TYP, &S5_SLP_TYP, &aml::ZERO, &aml::ZERO]),
    );

    let mut t = Sdt::new(*b"DSDT", REVISION);
    sb.to_aml_bytes(&mut t);
    s5.to_aml_bytes(&mut t);
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::sdt::sums_to_zero;

    fn config() -> AcpiConfig {
        AcpiConfig::new(mem::RamLayout {
            low: 0xB000_0000,
            high: 1 << 30,
        })
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn dsdt_checksum_and_length_are_right() {
        let t = build(&config());
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
            t.len()
        );
        assert!(sums_to_zero(&t));
        assert_eq!(t[8], 2);
    }

    #[test]
    fn dsdt_declares_q35_devices() {
        let t = build(&config());
        for name in [
            b"PCI0", b"ISA_", b"RTC_", b"KBD_", b"MOU_", b"COM1", b"HPET", b"GSIA",
        ] {
            assert!(contains(&t, name), "{}", String::from_utf8_lossy(name));
        }
        assert!(contains(&t, b"_S5_"));
        // COM1's resources: IO(Decode16, 0x3F8, 0x3F8, 0, 8), IRQNoFlags {4}.
        assert!(contains(
            &t,
            &[0x47, 1, 0xF8, 3, 0xF8, 3, 0, 8, 0x22, 0x10, 0]
        ));
    }

    #[test]
    fn dsdt_flags_drop_devices() {
        let mut c = config();
        c.hpet = false;
        c.i8042 = false;
        let t = build(&c);
        assert!(!contains(&t, b"HPET") && !contains(&t, b"KBD_"));
        assert!(sums_to_zero(&t));
    }

    #[test]
    fn irq_no_flags_encodes_mask() {
        let mut b = Vec::new();
        IrqNoFlags(12).to_aml_bytes(&mut b);
        assert_eq!(b, [0x22, 0x00, 0x10]);
    }
}
