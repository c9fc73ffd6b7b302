//! How devices reach guest memory: through a `Dma` bound to their requester
//! id. With no IOMMU that is [`IdentityDma`]; the VT-d model supplies a
//! translating implementation behind the same trait.

use std::sync::Arc;

use crate::{GuestAddress, GuestRam};

/// Why a DMA did not complete. Devices report this to their driver the way
/// their real counterpart reports a failed bus transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DmaError {
    /// The address (after any translation) is not backed by RAM.
    #[error("DMA address {0:#x} is not backed by RAM")]
    NotRam(u64),
    /// The IOMMU refused the request; it has recorded the fault itself.
    #[error("DMA to {0:#x} blocked by the IOMMU")]
    Blocked(u64),
}

/// A device's view of guest memory, as seen from its requester id.
pub trait Dma: Send + Sync {
    /// Reads `buf.len()` bytes at bus address `addr`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError>;
    /// Writes `data` at bus address `addr`.
    fn write(&self, addr: u64, data: &[u8]) -> Result<(), DmaError>;
}

/// Bus addresses are guest-physical addresses: no IOMMU.
#[derive(Clone, Debug)]
pub struct IdentityDma {
    ram: Arc<GuestRam>,
}

impl IdentityDma {
    /// Identity DMA over `ram`.
    pub fn new(ram: Arc<GuestRam>) -> IdentityDma {
        IdentityDma { ram }
    }
}

impl Dma for IdentityDma {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        self.ram
            .read(GuestAddress(addr), buf)
            .map_err(|_| DmaError::NotRam(addr))
    }

    fn write(&self, addr: u64, data: &[u8]) -> Result<(), DmaError> {
        self.ram
            .write(GuestAddress(addr), data)
            .map_err(|_| DmaError::NotRam(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RamLayout;

    #[test]
    fn identity_dma_round_trips_and_refuses_non_ram() {
        let ram = Arc::new(
            GuestRam::new(
                RamLayout {
                    low: 0x1000,
                    high: 0,
                },
                Arc::default(),
            )
            .unwrap(),
        );
        let dma = IdentityDma::new(ram);
        dma.write(0x10, &[1, 2, 3]).unwrap();
        let mut b = [0u8; 3];
        dma.read(0x10, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3]);
        assert_eq!(dma.write(0xFFF, &[0, 0]), Err(DmaError::NotRam(0xFFF)));
    }
}
