//! QEMU's `isa-debug-exit` device (QEMU `hw/misc/debugexit.c`): a guest
//! writes a value V to the port and the emulator exits with status
//! `(V << 1) | 1`. Test guests use it to report pass or fail; the odd status
//! can never be mistaken for the emulator's own clean exit (0).
//!
//! The device only records the request and raises [`Attention::STOP`]; the
//! run loop sees the bit between blocks, reads the [`ExitRequest`] and ends
//! the run. Nothing here exits the process.

use std::sync::Arc;

use mem::Attention;
use parking_lot::Mutex;

/// The port QEMU's default configuration decodes (`iobase=0x501`).
pub const DEBUG_EXIT_BASE: u16 = 0x501;
/// How many ports it decodes (QEMU's default `iosize=0x02`). A 32-bit
/// `out dx, eax` at the base port still delivers all four bytes.
pub const DEBUG_EXIT_PORTS: u16 = 2;

/// The shared record of a guest's exit request; cloned into the device and
/// kept by the run loop.
#[derive(Clone, Debug, Default)]
pub struct ExitRequest {
    value: Arc<Mutex<Option<u32>>>,
}

impl ExitRequest {
    /// The value V the guest wrote, if it has written one.
    pub fn value(&self) -> Option<u32> {
        *self.value.lock()
    }

    /// The exit status QEMU would give for it: `(V << 1) | 1`.
    pub fn status(&self) -> Option<u64> {
        self.value().map(exit_status)
    }

    fn record(&self, value: u32) {
        // QEMU exits on the first write; later ones never happen there, so
        // the first one wins here too.
        self.value.lock().get_or_insert(value);
    }
}

/// The exit status for a written value V: `(V << 1) | 1`.
pub fn exit_status(value: u32) -> u64 {
    (u64::from(value) << 1) | 1
}

/// The device on the port bus.
#[derive(Debug)]
pub struct DebugExit {
    request: ExitRequest,
    attention: Arc<Attention>,
}

impl DebugExit {
    /// A device that records into `request` and raises `STOP` on `attention`.
    pub fn new(request: ExitRequest, attention: Arc<Attention>) -> DebugExit {
        DebugExit { request, attention }
    }
}

impl mem::BusDevice for DebugExit {
    /// Reads return 0, as QEMU's do.
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    /// Any write, of any width at any decoded port, is an exit request with
    /// the little-endian value written (QEMU accepts 1 to 4 bytes).
    fn write(&mut self, _offset: u64, data: &[u8]) {
        let mut bytes = [0u8; 4];
        let n = data.len().min(4);
        bytes[..n].copy_from_slice(&data[..n]);
        let value = u32::from_le_bytes(bytes);
        tracing::debug!(target: "debug_exit", value, status = exit_status(value), "guest requested exit");
        self.request.record(value);
        self.attention.raise(Attention::STOP);
    }
}

#[cfg(test)]
mod tests {
    use mem::BusDevice;

    use super::*;

    fn device() -> (DebugExit, ExitRequest, Arc<Attention>) {
        let request = ExitRequest::default();
        let attention = Arc::new(Attention::default());
        let dev = DebugExit::new(request.clone(), attention.clone());
        (dev, request, attention)
    }

    #[test]
    fn dword_write_records_status_and_raises_stop() {
        let (mut dev, request, attention) = device();
        dev.write(0, &0x10u32.to_le_bytes());
        assert_eq!(request.value(), Some(0x10));
        assert_eq!(request.status(), Some(0x21));
        assert_eq!(attention.take(Attention::STOP), Attention::STOP);
    }

    #[test]
    fn byte_write_uses_byte_value() {
        let (mut dev, request, _) = device();
        dev.write(1, &[0x03]);
        assert_eq!(request.status(), Some(7));
    }

    #[test]
    fn first_write_wins() {
        let (mut dev, request, _) = device();
        dev.write(0, &[1, 0]);
        dev.write(0, &[2, 0]);
        assert_eq!(request.value(), Some(1));
    }

    #[test]
    fn largest_value_keeps_all_bits_of_status() {
        assert_eq!(exit_status(u32::MAX), 0x1_FFFF_FFFF);
    }

    #[test]
    fn no_write_means_no_request_and_reads_are_zero() {
        let (mut dev, request, attention) = device();
        let mut data = [0xAA; 4];
        dev.read(0, &mut data);
        assert_eq!(data, [0; 4]);
        assert_eq!(request.value(), None);
        assert_eq!(attention.peek(), 0);
    }
}
