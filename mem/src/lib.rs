//! The floor every other crate stands on: guest RAM, the physical address map
//! (RAM, ROM and MMIO regions), the port-I/O map, and the few traits that
//! cross crate lines (`BusDevice` for anything mapped on a bus, `Dma` for a
//! device's view of memory).
//!
//! What this crate refuses to do: know about any device, CPU or IOMMU. It
//! dispatches accesses by address to whatever was registered there, and it
//! is the only crate in the workspace with `unsafe` code (the RAM mapping).

mod addr;
mod attention;
mod bus;
mod dma;
mod msi;
mod ram;

pub use addr::{GuestAddress, Port};
pub use attention::Attention;
pub use bus::{Bus, BusDevice, BusError, IoMap, MmioMap, SharedDevice};
pub use dma::{Dma, DmaError, IdentityDma};
pub use msi::{MsiMessage, MsiSink};
pub use ram::{GuestRam, RamError, RamLayout, PAGE_SIZE};
