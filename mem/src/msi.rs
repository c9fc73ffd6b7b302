//! Message-signalled interrupts as they travel from a requester to the
//! interrupt fabric (PCI Local Bus 3.0, 6.8; Intel SDM Vol. 3A, 11.11):
//! a DWORD write of `data` to `address` in the 0xFEEx_xxxx window, tagged
//! with the requester id of whoever sent it (the IOAPIC, a PCI function).
//! With interrupt remapping the message is translated before delivery;
//! without it, address and data name the destination and vector directly.

/// One interrupt message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiMessage {
    pub address: u64,
    pub data: u32,
    /// The sender's source-id (bus << 8 | device << 3 | function).
    pub requester: u16,
}

/// Whatever receives interrupt messages: the local APIC directly, or
/// interrupt remapping in front of it.
pub trait MsiSink: Send + Sync {
    fn send(&self, msg: MsiMessage);
}
