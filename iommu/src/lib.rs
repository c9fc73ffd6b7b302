//! The Intel VT-d model: registers, root/context/PASID tables, page walks,
//! IOTLB and other caches, invalidation, fault recording, interrupt
//! remapping, the ATS translation service and the DMAR ACPI table.
//!
//! What this crate refuses to do: know which devices exist. It translates
//! requests tagged with a source-id, behind the `mem::Dma` trait.
//!
//! The first machine has no IOMMU yet; the VT-d issue fills this crate.
