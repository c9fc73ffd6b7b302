//! PCI Express: configuration space, capabilities (PCIe, MSI, MSI-X, ATS,
//! PASID, PRI), BARs, the host bridge (ECAM and 0xCF8/0xCFC) and the
//! `PciDevice` trait.
//!
//! What this crate refuses to do: know about VT-d. It hands each function a
//! `mem::Dma` and an MSI sender, whatever is behind them.
//!
//! The first machine has no PCI bus yet; the PCI issue fills this crate.
