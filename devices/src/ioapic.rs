//! The I/O APIC (Intel 82093AA datasheet, order no. 290566; section numbers
//! below refer to it), as the ICH9 integrates it: version 0x20, which adds
//! the directed EOI register (ICH9 datasheet 13.5.5), with 24 inputs.
//!
//! [`IoApic`] is a register state machine: two registers in MMIO (IOREGSEL
//! at 0x00 selects, IOWIN at 0x10 reads and writes the selected 32-bit
//! register, 3.1) plus EOI at 0x40; behind them the ID, version and
//! arbitration registers and the 24 64-bit redirection entries (3.2).
//! Devices drive its inputs through [`IoApicPin`]s; an interrupt leaves as an
//! [`MsiMessage`] handed to the [`MsiSink`] it was given — the local APIC
//! today, VT-d interrupt remapping in front of it later — tagged with the
//! IOAPIC's source-id ([`IOAPIC_SOURCE_ID`] by default, bus 0xF0 device 0x1F
//! function 0, the id QEMU's q35 gives its IOAPIC and names in the DMAR
//! table's device scope).
//!
//! The message is the one the ICH's IOAPIC writes on the system bus:
//! address `0xFEE0_0000 | RTE[63:48] << 4 | RTE[11] << 2`, data
//! `vector | delivery_mode << 8 | trigger << 15`. For an entry in
//! compatibility format that is destination `RTE[63:56]` in address bits
//! 19:12 and the destination mode in bit 2 (SDM Vol. 3A, 11.11.1), with
//! `RTE[55:48]` (reserved, zero) in bits 11:4. The same formula is what
//! makes interrupt remapping work unchanged later: an entry in remappable
//! format (VT-d 3.x, 5.1.5.1: `RTE[48]` = 1 format, `RTE[63:49]` and
//! `RTE[11]` the interrupt index) then yields address bit 4 = 1 and the
//! handle in bits 19:5 and 2, exactly the remappable MSI the remapping unit
//! decodes. The IOAPIC never needs to know which format an entry is in.
//!
//! Trigger modes (3.2.4): an edge-triggered entry sends a message for each
//! rising edge of its input while unmasked (edges that arrive while masked
//! are lost, "not delivered or held pending"); a level-triggered entry
//! sends one while its input is asserted, unmasked and Remote IRR is clear,
//! and sets Remote IRR until the local APIC's EOI for its vector arrives
//! ([`IoApic::eoi`], through [`crate::irq::EoiSink`]) or the guest writes
//! the EOI register; if the input is still asserted it sends again.
//!
//! Polarity. An [`IrqLine`] level means *asserted*, everywhere in this crate
//! (a UART holds its line high while it wants service). The polarity bit is
//! therefore stored and read back but does not invert the input: the board's
//! wiring (an active-low PCI INTx# line seen through ACPI as "active low")
//! and the bit cancel, as they do in QEMU's model.

use std::sync::Arc;

use mem::{MsiMessage, MsiSink};
use parking_lot::Mutex;

use crate::irq::{EoiSink, IrqLine};

/// Where the IOAPIC sits in the physical address map.
pub const IOAPIC_BASE: u64 = 0xFEC0_0000;
/// The size of its MMIO window.
pub const IOAPIC_SIZE: u64 = 0x1000;
/// Redirection entries, one per input pin.
pub const IOAPIC_PINS: usize = 24;
/// The version the ICH9 IOAPIC reports (0x20: has the EOI register).
pub const IOAPIC_VERSION: u8 = 0x20;
/// The source-id of the IOAPIC's messages: bus 0xF0, device 0x1F,
/// function 0.
pub const IOAPIC_SOURCE_ID: u16 = 0xF0F8;

/// MMIO offsets (3.1 and ICH9 13.5).
pub mod mmio {
    /// I/O register select (8 bits).
    pub const IOREGSEL: u64 = 0x00;
    /// I/O window: the selected register.
    pub const IOWIN: u64 = 0x10;
    /// Directed EOI: write a vector to clear Remote IRR (version 0x20).
    pub const EOI: u64 = 0x40;
}

/// Register indices behind IOWIN (3.2).
pub mod index {
    /// IOAPICID: bits 27:24.
    pub const ID: u8 = 0x00;
    /// IOAPICVER: version and maximum redirection entry.
    pub const VERSION: u8 = 0x01;
    /// IOAPICARB: arbitration id.
    pub const ARBITRATION: u8 = 0x02;
    /// IOREDTBL0 low half; entry n is at 0x10 + 2n (low) and +1 (high).
    pub const REDTBL: u8 = 0x10;
}

/// A redirection table entry (3.2.4), as the 64 bits software sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedirectionEntry(pub u64);

impl RedirectionEntry {
    pub const VECTOR: u64 = 0xFF;
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    /// Destination mode: 0 physical, 1 logical (remappable format:
    /// interrupt index bit 15).
    pub const DEST_MODE: u64 = 1 << 11;
    /// Delivery status (read-only): a message is waiting to be sent. Sending
    /// is instantaneous here, so it always reads 0.
    pub const DELIVERY_STATUS: u64 = 1 << 12;
    /// Interrupt input pin polarity: 1 = active low.
    pub const POLARITY_LOW: u64 = 1 << 13;
    /// Remote IRR (read-only): a level-triggered interrupt was accepted and
    /// its EOI has not arrived.
    pub const REMOTE_IRR: u64 = 1 << 14;
    /// Trigger mode: 1 = level.
    pub const LEVEL: u64 = 1 << 15;
    pub const MASK: u64 = 1 << 16;
    pub const DEST_SHIFT: u32 = 56;
    /// The bits a write can change: bits 11:0, 13, 15, 16 and 63:48 (the
    /// destination, and in remappable format the interrupt index). The
    /// rest are reserved or read-only.
    pub const WRITABLE: u64 = 0xFFFF_0000_0000_0000
        | Self::MASK
        | Self::LEVEL
        | Self::POLARITY_LOW
        | Self::DEST_MODE
        | 0x7FF;

    pub fn vector(self) -> u8 {
        (self.0 & Self::VECTOR) as u8
    }

    /// Delivery mode, bits 10:8 (000 fixed, 001 lowest priority, 010 SMI,
    /// 100 NMI, 101 INIT, 111 ExtINT).
    pub fn delivery_mode(self) -> u8 {
        ((self.0 >> Self::DELIVERY_MODE_SHIFT) & 7) as u8
    }

    pub fn level_triggered(self) -> bool {
        self.0 & Self::LEVEL != 0
    }

    pub fn masked(self) -> bool {
        self.0 & Self::MASK != 0
    }

    pub fn remote_irr(self) -> bool {
        self.0 & Self::REMOTE_IRR != 0
    }

    /// Destination field, bits 63:56.
    pub fn destination(self) -> u8 {
        (self.0 >> Self::DEST_SHIFT) as u8
    }

    /// The interrupt message this entry sends, on behalf of `requester`.
    pub fn message(self, requester: u16) -> MsiMessage {
        let address = 0xFEE0_0000 | ((self.0 >> 48) << 4) | (((self.0 >> 11) & 1) << 2);
        let data = u32::from(self.vector())
            | u32::from(self.delivery_mode()) << 8
            | u32::from(self.level_triggered()) << 15;
        MsiMessage {
            address,
            data,
            requester,
        }
    }
}

/// The IOAPIC's registers, apart from its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoApicState {
    /// APIC id, bits 3:0 of `IOAPICID[27:24]`.
    pub id: u8,
    /// IOREGSEL.
    pub select: u8,
    pub entries: [RedirectionEntry; IOAPIC_PINS],
    /// Input levels, bit n for pin n.
    pub inputs: u32,
}

impl Default for IoApicState {
    /// The state after reset (3.2.4: every entry masked, everything else 0).
    fn default() -> IoApicState {
        IoApicState {
            id: 0,
            select: 0,
            entries: [RedirectionEntry(RedirectionEntry::MASK); IOAPIC_PINS],
            inputs: 0,
        }
    }
}

/// The IOAPIC.
pub struct IoApic {
    state: IoApicState,
    source_id: u16,
    sink: Arc<dyn MsiSink>,
}

impl std::fmt::Debug for IoApic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoApic")
            .field("state", &self.state)
            .field("source_id", &self.source_id)
            .finish()
    }
}

impl IoApic {
    /// An IOAPIC after reset, sending its messages to `sink` with the
    /// source-id [`IOAPIC_SOURCE_ID`].
    pub fn new(sink: Arc<dyn MsiSink>) -> IoApic {
        IoApic::from_state(IoApicState::default(), sink)
    }

    /// An IOAPIC in `state`.
    pub fn from_state(state: IoApicState, sink: Arc<dyn MsiSink>) -> IoApic {
        let mut state = state;
        state.id &= 0xF;
        for e in &mut state.entries {
            e.0 &= RedirectionEntry::WRITABLE | RedirectionEntry::REMOTE_IRR;
        }
        state.inputs &= (1 << IOAPIC_PINS) - 1;
        IoApic {
            state,
            source_id: IOAPIC_SOURCE_ID,
            sink,
        }
    }

    /// Uses `source_id` for the messages it sends (the requester id VT-d
    /// will check against the DMAR table's IOAPIC device scope).
    pub fn with_source_id(mut self, source_id: u16) -> IoApic {
        self.source_id = source_id;
        self
    }

    /// The registers.
    pub fn state(&self) -> &IoApicState {
        &self.state
    }

    /// Redirection entry `pin`, if it exists.
    pub fn entry(&self, pin: usize) -> Option<RedirectionEntry> {
        self.state.entries.get(pin).copied()
    }

    /// Drives input `pin` to `level` (asserted when `true`); pins beyond
    /// the 24th are ignored.
    pub fn set_pin(&mut self, pin: usize, level: bool) {
        if pin >= IOAPIC_PINS {
            return;
        }
        let bit = 1u32 << pin;
        let was = self.state.inputs & bit != 0;
        if level {
            self.state.inputs |= bit;
        } else {
            self.state.inputs &= !bit;
        }
        let entry = self.state.entries[pin];
        if entry.level_triggered() {
            self.service_level(pin);
        } else if level && !was && !entry.masked() {
            self.send(pin);
        }
    }

    /// The EOI for `vector` from a local APIC (or the EOI register): clears
    /// Remote IRR of every level-triggered entry with that vector, and sends
    /// again for those whose input is still asserted.
    pub fn eoi(&mut self, vector: u8) {
        for pin in 0..IOAPIC_PINS {
            let entry = self.state.entries[pin];
            if entry.vector() == vector && entry.remote_irr() {
                self.state.entries[pin].0 &= !RedirectionEntry::REMOTE_IRR;
                self.service_level(pin);
            }
        }
    }

    /// Reads the 32-bit register at MMIO `offset` (IOREGSEL, IOWIN; the EOI
    /// register and the rest of the window read 0).
    pub fn read(&self, offset: u64) -> u32 {
        match offset {
            mmio::IOREGSEL => u32::from(self.state.select),
            mmio::IOWIN => self.read_register(self.state.select),
            _ => 0,
        }
    }

    /// Writes the 32-bit register at MMIO `offset`.
    pub fn write(&mut self, offset: u64, value: u32) {
        match offset {
            mmio::IOREGSEL => self.state.select = value as u8,
            mmio::IOWIN => self.write_register(self.state.select, value),
            mmio::EOI => self.eoi(value as u8),
            _ => {}
        }
    }

    /// Reads register `index` (3.2); unimplemented indices read 0.
    pub fn read_register(&self, index: u8) -> u32 {
        match index {
            index::ID => u32::from(self.state.id) << 24,
            index::VERSION => ((IOAPIC_PINS as u32 - 1) << 16) | u32::from(IOAPIC_VERSION),
            index::ARBITRATION => u32::from(self.state.id) << 24,
            _ => match Self::entry_index(index) {
                Some((pin, high)) => {
                    let e = self.state.entries[pin].0;
                    if high {
                        (e >> 32) as u32
                    } else {
                        e as u32
                    }
                }
                None => 0,
            },
        }
    }

    /// Writes register `index`; read-only and unimplemented ones ignore it.
    pub fn write_register(&mut self, index: u8, value: u32) {
        if index == index::ID {
            self.state.id = ((value >> 24) & 0xF) as u8;
            return;
        }
        let Some((pin, high)) = Self::entry_index(index) else {
            return;
        };
        let old = self.state.entries[pin].0;
        let merged = if high {
            (old & 0xFFFF_FFFF) | (u64::from(value) << 32)
        } else {
            (old & !0xFFFF_FFFF) | u64::from(value)
        };
        let mut new = (merged & RedirectionEntry::WRITABLE) | (old & RedirectionEntry::REMOTE_IRR);
        if new & RedirectionEntry::LEVEL == 0 {
            // An edge-triggered entry has no Remote IRR; switching to edge
            // is also how pre-0x20 IOAPIC drivers clear a stuck one.
            new &= !RedirectionEntry::REMOTE_IRR;
        }
        self.state.entries[pin].0 = new;
        tracing::trace!(target: "ioapic", pin, entry = format_args!("{new:#018x}"), "redirection entry");
        if RedirectionEntry(new).level_triggered() {
            self.service_level(pin);
        }
    }

    /// The entry and half (high?) that register `index` names.
    fn entry_index(index: u8) -> Option<(usize, bool)> {
        let i = usize::from(index.checked_sub(index::REDTBL)?);
        (i < 2 * IOAPIC_PINS).then_some((i / 2, i % 2 == 1))
    }

    /// Sends for level-triggered `pin` if it is asserted, unmasked and not
    /// waiting for an EOI.
    fn service_level(&mut self, pin: usize) {
        let entry = self.state.entries[pin];
        let asserted = self.state.inputs & (1 << pin) != 0;
        if entry.level_triggered() && asserted && !entry.masked() && !entry.remote_irr() {
            self.state.entries[pin].0 |= RedirectionEntry::REMOTE_IRR;
            self.send(pin);
        }
    }

    fn send(&self, pin: usize) {
        let msg = self.state.entries[pin].message(self.source_id);
        tracing::trace!(target: "ioapic", pin, address = format_args!("{:#x}", msg.address), data = format_args!("{:#x}", msg.data), "interrupt");
        self.sink.send(msg);
    }
}

/// An [`IoApic`] shared between its MMIO adapter, its pins and the EOI path.
pub type SharedIoApic = Arc<Mutex<IoApic>>;

/// One input pin of a shared [`IoApic`], for a device's [`IrqLine`].
#[derive(Clone)]
pub struct IoApicPin {
    ioapic: SharedIoApic,
    pin: usize,
}

impl IoApicPin {
    /// Input `pin` (0..24) of `ioapic`.
    pub fn new(ioapic: SharedIoApic, pin: usize) -> IoApicPin {
        IoApicPin { ioapic, pin }
    }
}

impl std::fmt::Debug for IoApicPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoApicPin").field("pin", &self.pin).finish()
    }
}

impl IrqLine for IoApicPin {
    fn set_level(&self, high: bool) {
        self.ioapic.lock().set_pin(self.pin, high);
    }
}

/// The EOI path into a shared [`IoApic`], for the local APIC.
#[derive(Clone)]
pub struct IoApicEoi(pub SharedIoApic);

impl std::fmt::Debug for IoApicEoi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoApicEoi").finish_non_exhaustive()
    }
}

impl EoiSink for IoApicEoi {
    fn eoi(&self, vector: u8) {
        self.0.lock().eoi(vector);
    }
}

/// The MMIO adapter. The registers are 32 bits wide at 16-byte strides;
/// narrower accesses reach the bytes of the dword they fall in (a byte
/// write to IOREGSEL is the common one), a write narrower than a dword
/// merges with the register's current value, and wider accesses are split
/// into dwords.
#[derive(Clone)]
pub struct IoApicMmio {
    ioapic: SharedIoApic,
}

impl IoApicMmio {
    pub fn new(ioapic: SharedIoApic) -> IoApicMmio {
        IoApicMmio { ioapic }
    }
}

impl std::fmt::Debug for IoApicMmio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoApicMmio").finish_non_exhaustive()
    }
}

impl mem::BusDevice for IoApicMmio {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let ioapic = self.ioapic.lock();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match offset.checked_add(i as u64) {
                Some(o) => ioapic.read(o & !3).to_le_bytes()[(o & 3) as usize],
                None => 0xFF,
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut ioapic = self.ioapic.lock();
        let mut i = 0;
        while i < data.len() {
            let Some(o) = offset.checked_add(i as u64) else {
                return;
            };
            let dword = o & !3;
            let first = (o & 3) as usize;
            let n = (4 - first).min(data.len() - i);
            let mut bytes = if n == 4 || dword == mmio::EOI {
                [0; 4]
            } else {
                ioapic.read(dword).to_le_bytes()
            };
            bytes[first..first + n].copy_from_slice(&data[i..i + n]);
            ioapic.write(dword, u32::from_le_bytes(bytes));
            i += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use mem::BusDevice;

    use super::*;
    use crate::irq::MsiRecorder;

    fn ioapic() -> (IoApic, MsiRecorder) {
        let rec = MsiRecorder::default();
        (IoApic::new(Arc::new(rec.clone())), rec)
    }

    fn program(io: &mut IoApic, pin: u8, low: u32, high: u32) {
        io.write(mmio::IOREGSEL, u32::from(index::REDTBL + 2 * pin));
        io.write(mmio::IOWIN, low);
        io.write(mmio::IOREGSEL, u32::from(index::REDTBL + 2 * pin + 1));
        io.write(mmio::IOWIN, high);
    }

    #[test]
    fn ioapic_version_reports_24_entries_and_0x20() {
        let (mut io, _) = ioapic();
        io.write(mmio::IOREGSEL, u32::from(index::VERSION));
        assert_eq!(io.read(mmio::IOWIN), 0x0017_0020);
    }

    #[test]
    fn ioapic_reset_entries_are_masked() {
        let (io, _) = ioapic();
        assert!((0..IOAPIC_PINS).all(|p| io.entry(p).unwrap().masked()));
    }

    #[test]
    fn ioapic_id_is_bits_27_24_and_arbitration_follows() {
        let (mut io, _) = ioapic();
        io.write_register(index::ID, 0xFF00_0000);
        assert_eq!(io.read_register(index::ID), 0x0F00_0000);
        assert_eq!(io.read_register(index::ARBITRATION), 0x0F00_0000);
    }

    #[test]
    fn ioapic_edge_pin_sends_compatibility_message() {
        let (mut io, rec) = ioapic();
        // Vector 0x30, fixed, physical, edge, unmasked, destination 0.
        program(&mut io, 2, 0x30, 0);
        io.set_pin(2, true);
        io.set_pin(2, true);
        io.set_pin(2, false);
        assert_eq!(
            rec.messages(),
            vec![MsiMessage {
                address: 0xFEE0_0000,
                data: 0x30,
                requester: IOAPIC_SOURCE_ID
            }]
        );
    }

    #[test]
    fn ioapic_message_encodes_destination_mode_and_trigger() {
        let e = RedirectionEntry(0x0300_0000_0000_0000 | 0x0800 | 0x8000 | 0x100 | 0x41);
        let msg = e.message(0x1234);
        assert_eq!(msg.address, 0xFEE0_3004);
        assert_eq!(msg.data, 0x8141);
        assert_eq!(msg.requester, 0x1234);
    }

    #[test]
    fn ioapic_remappable_entry_puts_handle_in_address() {
        // VT-d 5.1.5.1: index 0x1234 in RTE[63:49] and RTE[11] (bit 15 of
        // the index, 0 here), format bit 48 set.
        let index: u64 = 0x1234;
        let e = RedirectionEntry((index << 49) | (1 << 48) | 0x8000 | 0x50);
        let msg = e.message(IOAPIC_SOURCE_ID);
        assert_eq!(msg.address & 0x10, 0x10, "format bit");
        assert_eq!((msg.address >> 5) & 0x7FFF, index);
    }

    #[test]
    fn ioapic_masked_edge_is_lost() {
        let (mut io, rec) = ioapic();
        program(&mut io, 4, 0x1_0031, 0);
        io.set_pin(4, true);
        program(&mut io, 4, 0x31, 0);
        assert!(rec.messages().is_empty());
        io.set_pin(4, false);
        io.set_pin(4, true);
        assert_eq!(rec.messages().len(), 1);
    }

    #[test]
    fn ioapic_level_pin_waits_for_eoi_then_resends() {
        let (mut io, rec) = ioapic();
        program(&mut io, 9, 0x8000 | 0x41, 0);
        io.set_pin(9, true);
        assert_eq!(rec.take().len(), 1);
        assert!(io.entry(9).unwrap().remote_irr());
        io.set_pin(9, true);
        assert!(rec.take().is_empty(), "remote IRR holds it");
        io.eoi(0x41);
        assert_eq!(rec.take().len(), 1, "still asserted: sent again");
        io.set_pin(9, false);
        io.eoi(0x41);
        assert!(rec.take().is_empty());
        assert!(!io.entry(9).unwrap().remote_irr());
    }

    #[test]
    fn ioapic_level_pin_sends_on_unmask() {
        let (mut io, rec) = ioapic();
        program(&mut io, 16, 0x1_8000 | 0x51, 0);
        io.set_pin(16, true);
        assert!(rec.messages().is_empty());
        program(&mut io, 16, 0x8000 | 0x51, 0);
        assert_eq!(rec.messages().len(), 1);
    }

    #[test]
    fn ioapic_eoi_register_clears_remote_irr() {
        let (mut io, _) = ioapic();
        program(&mut io, 9, 0x8000 | 0x41, 0);
        io.set_pin(9, true);
        io.set_pin(9, false);
        io.write(mmio::EOI, 0x41);
        assert!(!io.entry(9).unwrap().remote_irr());
    }

    #[test]
    fn ioapic_read_only_bits_ignore_writes() {
        let (mut io, _) = ioapic();
        program(&mut io, 1, 0xFFFF_FFFF, 0xFFFF_FFFF);
        let e = io.entry(1).unwrap();
        assert_eq!(e.0 & RedirectionEntry::DELIVERY_STATUS, 0);
        assert_eq!(e.0 & 0x0000_FFFF_FFFE_0000, 0, "reserved bits read 0");
        assert!(!e.remote_irr());
    }

    #[test]
    fn ioapic_switch_to_edge_clears_remote_irr() {
        let (mut io, _) = ioapic();
        program(&mut io, 9, 0x8000 | 0x41, 0);
        io.set_pin(9, true);
        program(&mut io, 9, 0x41, 0);
        assert!(!io.entry(9).unwrap().remote_irr());
    }

    #[test]
    fn ioapic_out_of_range_pin_and_index_are_ignored() {
        let (mut io, rec) = ioapic();
        io.set_pin(24, true);
        io.set_pin(usize::MAX, true);
        io.write_register(0xFF, 0);
        assert_eq!(io.read_register(0x10 + 48), 0);
        assert_eq!(io.read_register(0x03), 0);
        assert!(rec.messages().is_empty());
    }

    #[test]
    fn ioapic_mmio_byte_select_and_dword_window() {
        let rec = MsiRecorder::default();
        let shared: SharedIoApic = Arc::new(Mutex::new(IoApic::new(Arc::new(rec.clone()))));
        let mut mmio = IoApicMmio::new(shared.clone());
        mmio.write(0x00, &[0x12]);
        mmio.write(0x10, &0x0000_0033u32.to_le_bytes());
        let mut v = [0u8; 4];
        mmio.read(0x10, &mut v);
        assert_eq!(u32::from_le_bytes(v), 0x33);
        mmio.write(0x11, &[0x80]); // byte write merges: level trigger
        mmio.read(0x10, &mut v);
        assert_eq!(u32::from_le_bytes(v), 0x8033);
        let mut sel = [0u8; 1];
        mmio.read(0x00, &mut sel);
        assert_eq!(sel[0], 0x12);
        IoApicPin::new(shared.clone(), 1).set_level(true);
        assert_eq!(rec.messages().len(), 1);
        IoApicEoi(shared.clone()).eoi(0x33);
        mmio.write(u64::MAX - 1, &[1, 2, 3, 4]);
        mmio.read(u64::MAX, &mut v);
    }
}
