//! Two small pieces of the PC's legacy I/O space:
//!
//! - The reset control register at 0xCF9 (Intel ICH9 datasheet 13.7.5,
//!   `RST_CNT`), which the FADT's RESET_REG names: a write with RST_CPU
//!   (bit 2) set resets the platform. Like QEMU's ICH9 model, every such
//!   write resets (the chipset acts on the bit's 0-to-1 edge, but software
//!   always writes 0x02 then 0x06, or the FADT's reset value, so the two
//!   agree). The request goes to [`PowerControl`].
//! - The POST code port at 0x80 ([`PostCode`]), which firmware writes
//!   progress codes to and Linux uses as an I/O delay (`native_io_delay`).
//!   Writes are remembered (the last code) and traced; reads return 0xFF.
//!
//! The i8042's reset line is in [`crate::i8042`].
//!
//! Note for the board: 0xCF9 is a byte port inside the PCI configuration
//! mechanism's 0xCF8..=0xCFF range. A byte access to 0xCF9 goes to
//! [`ResetControl`]; dword accesses at 0xCF8 are CONFIG_ADDRESS. Whoever owns
//! that range must forward byte accesses at 0xCF9 here.

use crate::power::{PowerControl, PowerEvent};

/// The reset control register's port.
pub const RESET_CONTROL_PORT: u16 = 0xCF9;
/// The value QEMU's q35 FADT puts in RESET_VALUE for RESET_REG = 0xCF9.
pub const FADT_RESET_VALUE: u8 = 0x0F;
/// The POST code port.
pub const POST_CODE_PORT: u16 = 0x80;

/// RST_CNT bits (ICH9 13.7.5).
pub mod rst_cnt {
    /// System reset: 1 = hard reset (stored).
    pub const SYS_RST: u8 = 1 << 1;
    /// Reset CPU: initiates the reset SYS_RST and FULL_RST select.
    pub const RST_CPU: u8 = 1 << 2;
    /// Full reset: power cycle (stored).
    pub const FULL_RST: u8 = 1 << 3;
    pub const STORED: u8 = SYS_RST | FULL_RST;
}

/// The reset control register.
#[derive(Debug)]
pub struct ResetControl {
    value: u8,
    power: PowerControl,
}

impl ResetControl {
    /// The register after reset (0), requesting resets through `power`.
    pub fn new(power: PowerControl) -> ResetControl {
        ResetControl { value: 0, power }
    }

    /// Reads RST_CNT.
    pub fn read(&self) -> u8 {
        self.value
    }

    /// Writes RST_CNT: RST_CPU requests a reset.
    pub fn write(&mut self, value: u8) {
        if value & rst_cnt::RST_CPU != 0 {
            self.power.request(PowerEvent::Reset);
            return;
        }
        self.value = value & rst_cnt::STORED;
    }
}

impl mem::BusDevice for ResetControl {
    /// One port: the first byte of an access is RST_CNT, the rest read
    /// 0xFF.
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = if offset.checked_add(i as u64) == Some(0) {
                ResetControl::read(self)
            } else {
                0xFF
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset == 0 {
            if let Some(&value) = data.first() {
                ResetControl::write(self, value);
            }
        }
    }
}

/// The POST code port.
#[derive(Debug, Default)]
pub struct PostCode {
    last: Option<u8>,
}

impl PostCode {
    pub fn new() -> PostCode {
        PostCode::default()
    }

    /// The last code written, if any.
    pub fn last(&self) -> Option<u8> {
        self.last
    }
}

impl mem::BusDevice for PostCode {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0xFF);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let (0, Some(&code)) = (offset, data.first()) {
            tracing::trace!(target: "post", code = format_args!("{code:#04x}"), "POST code");
            self.last = Some(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mem::{Attention, BusDevice};

    use super::*;

    fn control() -> (ResetControl, PowerControl) {
        let power = PowerControl::new(Arc::new(Attention::default()));
        (ResetControl::new(power.clone()), power)
    }

    #[test]
    fn reset_control_rst_cpu_requests_reset() {
        let (mut r, power) = control();
        r.write(rst_cnt::SYS_RST);
        assert_eq!(power.pending(), None);
        assert_eq!(r.read(), rst_cnt::SYS_RST);
        r.write(rst_cnt::SYS_RST | rst_cnt::RST_CPU);
        assert_eq!(power.take(), Some(PowerEvent::Reset));
    }

    #[test]
    fn reset_control_fadt_value_resets() {
        let (mut r, power) = control();
        BusDevice::write(&mut r, 0, &[FADT_RESET_VALUE]);
        assert_eq!(power.take(), Some(PowerEvent::Reset));
    }

    #[test]
    fn reset_control_keeps_only_defined_bits() {
        let (mut r, _) = control();
        r.write(0xF3);
        let mut b = [0u8; 2];
        BusDevice::read(&mut r, 0, &mut b);
        assert_eq!(b, [rst_cnt::SYS_RST, 0xFF]);
        BusDevice::write(&mut r, 1, &[0xFF]);
        BusDevice::read(&mut r, u64::MAX, &mut b);
    }

    #[test]
    fn post_code_remembers_writes_and_reads_ff() {
        let mut p = PostCode::new();
        p.write(0, &[0x42]);
        assert_eq!(p.last(), Some(0x42));
        let mut b = [0u8; 1];
        p.read(0, &mut b);
        assert_eq!(b, [0xFF]);
    }
}
