//! The physical address map and the port-I/O map: ranges owned by devices,
//! found by address, accessed at an offset within the range.
//!
//! Both maps are sorted, non-overlapping lists searched by binary search.
//! They sit behind a read-write lock because PCI BARs move at run time
//! (a guest reprogramming a BAR remaps its region); lookups take the read
//! side, which is uncontended on the common path.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::{GuestAddress, GuestRam, Port};

/// Anything that answers reads and writes at an offset within its range:
/// an MMIO region or a block of I/O ports. Accesses are 1, 2, 4 or 8 bytes.
pub trait BusDevice: Send {
    /// Fills `data` with the bytes at `offset` within the device's range.
    fn read(&mut self, offset: u64, data: &mut [u8]);
    /// Accepts `data` written at `offset` within the device's range.
    fn write(&mut self, offset: u64, data: &[u8]);
}

/// A device shared between the bus and whoever else drives it.
pub type SharedDevice = Arc<Mutex<dyn BusDevice>>;

/// Errors building an address map (host configuration mistakes).
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("range {base:#x}+{len:#x} for {name} is empty or wraps")]
    BadRange { name: String, base: u64, len: u64 },
    #[error("range {base:#x}+{len:#x} for {name} overlaps {other}")]
    Overlap {
        name: String,
        base: u64,
        len: u64,
        other: String,
    },
}

struct Region {
    base: u64,
    /// Inclusive end, so a range may reach the top of the address space.
    last: u64,
    name: String,
    dev: SharedDevice,
}

/// A sorted map of address ranges to devices.
#[derive(Default)]
struct RangeMap {
    regions: RwLock<Vec<Region>>,
}

impl RangeMap {
    fn insert(&self, name: &str, base: u64, len: u64, dev: SharedDevice) -> Result<(), BusError> {
        let bad = || BusError::BadRange {
            name: name.into(),
            base,
            len,
        };
        let last = base
            .checked_add(len.checked_sub(1).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let mut regions = self.regions.write();
        let at = regions.partition_point(|r| r.base < base);
        let clash = [at.checked_sub(1), Some(at)]
            .into_iter()
            .flatten()
            .filter_map(|i| regions.get(i))
            .find(|r| r.base <= last && base <= r.last);
        if let Some(other) = clash {
            return Err(BusError::Overlap {
                name: name.into(),
                base,
                len,
                other: other.name.clone(),
            });
        }
        regions.insert(
            at,
            Region {
                base,
                last,
                name: name.into(),
                dev,
            },
        );
        Ok(())
    }

    fn remove(&self, base: u64) -> bool {
        let mut regions = self.regions.write();
        match regions.binary_search_by_key(&base, |r| r.base) {
            Ok(i) => {
                regions.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn find(&self, addr: u64) -> Option<(SharedDevice, u64)> {
        let regions = self.regions.read();
        let i = regions.partition_point(|r| r.base <= addr).checked_sub(1)?;
        let r = &regions[i];
        (addr <= r.last).then(|| (r.dev.clone(), addr - r.base))
    }

    fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.find(addr) {
            Some((dev, off)) => {
                dev.lock().read(off, data);
                true
            }
            None => {
                data.fill(0xFF);
                false
            }
        }
    }

    fn write(&self, addr: u64, data: &[u8]) -> bool {
        match self.find(addr) {
            Some((dev, off)) => {
                dev.lock().write(off, data);
                true
            }
            None => false,
        }
    }
}

/// The MMIO part of the guest-physical address map.
#[derive(Default)]
pub struct MmioMap(RangeMap);

impl MmioMap {
    /// Maps `dev` at `[base, base+len)`.
    pub fn insert(
        &self,
        name: &str,
        base: GuestAddress,
        len: u64,
        dev: SharedDevice,
    ) -> Result<(), BusError> {
        self.0.insert(name, base.0, len, dev)
    }

    /// Unmaps the region starting at `base`; false if there was none.
    pub fn remove(&self, base: GuestAddress) -> bool {
        self.0.remove(base.0)
    }

    /// Reads from the device owning `addr`; unclaimed addresses read as
    /// all-ones. Returns whether a device claimed the access.
    pub fn read(&self, addr: GuestAddress, data: &mut [u8]) -> bool {
        self.0.read(addr.0, data)
    }

    /// Writes to the device owning `addr`; unclaimed writes are dropped.
    pub fn write(&self, addr: GuestAddress, data: &[u8]) -> bool {
        self.0.write(addr.0, data)
    }
}

/// The port-I/O map.
#[derive(Default)]
pub struct IoMap(RangeMap);

impl IoMap {
    /// Maps `dev` at ports `[base, base+len)`.
    pub fn insert(
        &self,
        name: &str,
        base: Port,
        len: u16,
        dev: SharedDevice,
    ) -> Result<(), BusError> {
        self.0.insert(name, base.0 as u64, len as u64, dev)
    }

    /// Unmaps the block starting at `base`; false if there was none.
    pub fn remove(&self, base: Port) -> bool {
        self.0.remove(base.0 as u64)
    }

    /// `IN`: unclaimed ports read as all-ones.
    pub fn read(&self, port: Port, data: &mut [u8]) -> bool {
        self.0.read(port.0 as u64, data)
    }

    /// `OUT`: unclaimed ports drop the write.
    pub fn write(&self, port: Port, data: &[u8]) -> bool {
        self.0.write(port.0 as u64, data)
    }
}

/// Everything an executor reaches by address: RAM, MMIO and ports.
pub struct Bus {
    pub ram: Arc<GuestRam>,
    pub mmio: MmioMap,
    pub io: IoMap,
}

impl Bus {
    /// A bus over `ram` with empty MMIO and port maps.
    pub fn new(ram: Arc<GuestRam>) -> Bus {
        Bus {
            ram,
            mmio: MmioMap::default(),
            io: IoMap::default(),
        }
    }

    /// Reads guest-physical memory whatever backs it: RAM, a device, or
    /// nothing (all-ones). Accesses that straddle RAM and non-RAM are split.
    pub fn read_phys(&self, gpa: GuestAddress, data: &mut [u8]) {
        if let Some(off) = self.ram.offset_of_range(gpa.0, data.len() as u64) {
            self.ram.load_bytes(off, data);
        } else if data.len() > 1 && self.ram.layout().offset_of(gpa.0).is_some() {
            for (i, b) in data.iter_mut().enumerate() {
                let mut one = [0u8];
                self.read_phys(GuestAddress(gpa.0.wrapping_add(i as u64)), &mut one);
                *b = one[0];
            }
        } else {
            self.mmio.read(gpa, data);
        }
    }

    /// Writes guest-physical memory whatever backs it (code pages tracked).
    pub fn write_phys(&self, gpa: GuestAddress, data: &[u8]) {
        if self.ram.write(gpa, data).is_err() {
            if self.ram.layout().offset_of(gpa.0).is_some() && data.len() > 1 {
                for (i, b) in data.iter().enumerate() {
                    self.write_phys(GuestAddress(gpa.0.wrapping_add(i as u64)), &[*b]);
                }
            } else {
                self.mmio.write(gpa, data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RamLayout;

    struct Echo {
        last_write: Vec<(u64, Vec<u8>)>,
    }

    impl BusDevice for Echo {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            for (i, b) in data.iter_mut().enumerate() {
                *b = (offset as u8).wrapping_add(i as u8);
            }
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.last_write.push((offset, data.to_vec()));
        }
    }

    fn echo() -> Arc<Mutex<Echo>> {
        Arc::new(Mutex::new(Echo { last_write: vec![] }))
    }

    #[test]
    fn mmio_dispatches_by_address_with_offset() {
        let map = MmioMap::default();
        let a = echo();
        map.insert("a", GuestAddress(0x1000), 0x100, a.clone())
            .unwrap();
        map.insert("b", GuestAddress(0x1100), 0x100, echo())
            .unwrap();
        let mut buf = [0u8; 2];
        assert!(map.read(GuestAddress(0x1010), &mut buf));
        assert_eq!(buf, [0x10, 0x11]);
        assert!(map.write(GuestAddress(0x10FF), &[7]));
        assert_eq!(a.lock().last_write, vec![(0xFF, vec![7])]);
    }

    #[test]
    fn mmio_unclaimed_reads_all_ones_and_drops_writes() {
        let map = MmioMap::default();
        map.insert("a", GuestAddress(0x1000), 0x100, echo())
            .unwrap();
        let mut buf = [0u8; 4];
        assert!(!map.read(GuestAddress(0x1100), &mut buf));
        assert_eq!(buf, [0xFF; 4]);
        assert!(!map.write(GuestAddress(0xFFF), &[1]));
    }

    #[test]
    fn mmio_rejects_overlap_and_empty_ranges() {
        let map = MmioMap::default();
        map.insert("a", GuestAddress(0x1000), 0x100, echo())
            .unwrap();
        assert!(matches!(
            map.insert("b", GuestAddress(0x10F0), 0x100, echo()),
            Err(BusError::Overlap { .. })
        ));
        assert!(map.insert("c", GuestAddress(0xF00), 0x101, echo()).is_err());
        assert!(map.insert("d", GuestAddress(0x2000), 0, echo()).is_err());
        assert!(map.insert("e", GuestAddress(u64::MAX), 2, echo()).is_err());
        map.insert("top", GuestAddress(u64::MAX), 1, echo())
            .unwrap();
    }

    #[test]
    fn mmio_remove_unmaps_region() {
        let map = MmioMap::default();
        map.insert("a", GuestAddress(0x1000), 0x100, echo())
            .unwrap();
        assert!(map.remove(GuestAddress(0x1000)));
        assert!(!map.read(GuestAddress(0x1000), &mut [0]));
        assert!(!map.remove(GuestAddress(0x1000)));
    }

    #[test]
    fn io_map_dispatches_ports() {
        let io = IoMap::default();
        let a = echo();
        io.insert("uart", Port(0x3F8), 8, a.clone()).unwrap();
        io.write(Port(0x3FB), &[0x80]);
        assert_eq!(a.lock().last_write, vec![(3, vec![0x80])]);
        let mut b = [0u8];
        assert!(!io.read(Port(0x3F0), &mut b));
        assert_eq!(b, [0xFF]);
    }

    #[test]
    fn bus_phys_access_reaches_ram_and_mmio() {
        let ram = Arc::new(
            GuestRam::new(
                RamLayout {
                    low: 0x2000,
                    high: 0,
                },
                Arc::default(),
            )
            .unwrap(),
        );
        let bus = Bus::new(ram);
        bus.mmio
            .insert("dev", GuestAddress(0x2000), 0x10, echo())
            .unwrap();
        bus.write_phys(GuestAddress(0x1FFE), &[1, 2]);
        let mut buf = [0u8; 4];
        bus.read_phys(GuestAddress(0x1FFE), &mut buf);
        assert_eq!(buf, [1, 2, 0, 1]);
        bus.read_phys(GuestAddress(0x9000), &mut buf);
        assert_eq!(buf, [0xFF; 4]);
    }
}
