//! The 16550A UART (National Semiconductor PC16550D datasheet, June 1995;
//! section numbers below refer to it).
//!
//! [`Uart`] is the chip as a pure register state machine, in the manner of
//! vm-superio's `Serial`: `read(offset)` / `write(offset, value)` on its eight
//! registers, with side effects only through what it was given — an
//! [`IrqLine`] for its interrupt output and a [`Write`] for the bytes it
//! transmits. It has no threads, files or clocks; bytes arriving on the wire
//! come in through [`Uart::enqueue_input`]. [`UartPorts`] is the thin adapter
//! that puts it on the port-I/O bus (COM1 is [`COM1_BASE`]).
//!
//! Simplifications, each one invisible to a driver that follows the datasheet:
//! - Transmission is instantaneous: a byte written to THR is on the wire at
//!   once, so LSR.THRE and LSR.TEMT always read 1 and the transmit FIFO is
//!   never occupied.
//! - There is no clock, so the receive FIFO's character timeout (section
//!   8.6.3: "no characters have been removed from or input to the RCVR FIFO
//!   during the last 4 character times") is taken as already elapsed: a FIFO
//!   holding fewer bytes than the trigger level reports a timeout interrupt.
//! - Framing, parity and break errors never happen; overrun does.

use std::collections::VecDeque;
use std::io::Write;

use crate::irq::IrqLine;

/// The first port of COM1 on a PC.
pub const COM1_BASE: u16 = 0x3F8;
/// How many consecutive ports (or bytes of address space) a 16550 decodes.
pub const UART_PORTS: u16 = 8;

/// Register offsets (Table II, "Register Addresses"). Several offsets name
/// two registers: which one is reached depends on the access direction and,
/// for 0 and 1, on LCR.DLAB.
pub mod reg {
    /// Read: receiver buffer. Write: transmitter holding. DLAB=1: divisor low.
    pub const RBR_THR_DLL: u8 = 0;
    /// Interrupt enable. DLAB=1: divisor latch high.
    pub const IER_DLM: u8 = 1;
    /// Read: interrupt identification. Write: FIFO control.
    pub const IIR_FCR: u8 = 2;
    /// Line control.
    pub const LCR: u8 = 3;
    /// Modem control.
    pub const MCR: u8 = 4;
    /// Line status.
    pub const LSR: u8 = 5;
    /// Modem status.
    pub const MSR: u8 = 6;
    /// Scratch.
    pub const SCR: u8 = 7;
}

/// Interrupt enable register bits (section 8.5).
pub mod ier {
    /// Enable received data available (and character timeout) interrupt.
    pub const ERBFI: u8 = 1 << 0;
    /// Enable transmitter holding register empty interrupt.
    pub const ETBEI: u8 = 1 << 1;
    /// Enable receiver line status interrupt.
    pub const ELSI: u8 = 1 << 2;
    /// Enable modem status interrupt.
    pub const EDSSI: u8 = 1 << 3;
    /// The writable bits; the upper four always read 0.
    pub const MASK: u8 = 0x0F;
}

/// Interrupt identification register values (Table IV, section 8.6).
pub mod iir {
    /// Bit 0 set: no interrupt pending.
    pub const NONE: u8 = 0x01;
    /// Priority 1: overrun, parity or framing error, or break.
    pub const LINE_STATUS: u8 = 0x06;
    /// Priority 2: receiver data available (at or above the trigger level).
    pub const RX_DATA: u8 = 0x04;
    /// Priority 2: character timeout (data below the trigger level).
    pub const RX_TIMEOUT: u8 = 0x0C;
    /// Priority 3: transmitter holding register empty.
    pub const THR_EMPTY: u8 = 0x02;
    /// Priority 4: modem status changed.
    pub const MODEM_STATUS: u8 = 0x00;
    /// Bits 7:6, both set when FCR bit 0 has enabled the FIFOs.
    pub const FIFOS_ENABLED: u8 = 0xC0;
}

/// FIFO control register bits (section 8.4).
pub mod fcr {
    /// Enable both FIFOs; the other bits are only written when this is set.
    pub const ENABLE: u8 = 1 << 0;
    /// Clear the receive FIFO (self-clearing).
    pub const CLEAR_RX: u8 = 1 << 1;
    /// Clear the transmit FIFO (self-clearing).
    pub const CLEAR_TX: u8 = 1 << 2;
    /// RXRDY/TXRDY pin mode; no pins here, so only remembered.
    pub const DMA_MODE: u8 = 1 << 3;
    /// Receive trigger level field, bits 7:6 (1, 4, 8 or 14 bytes).
    pub const TRIGGER_SHIFT: u8 = 6;
}

/// Line control register bits (section 8.1).
pub mod lcr {
    /// Divisor latch access bit.
    pub const DLAB: u8 = 1 << 7;
}

/// Modem control register bits (section 8.8).
pub mod mcr {
    pub const DTR: u8 = 1 << 0;
    pub const RTS: u8 = 1 << 1;
    pub const OUT1: u8 = 1 << 2;
    /// On a PC, OUT2 enables the driver that puts INTR on the ISA IRQ line.
    pub const OUT2: u8 = 1 << 3;
    /// Local loopback (diagnostic) mode.
    pub const LOOP: u8 = 1 << 4;
    /// The writable bits; the upper three always read 0.
    pub const MASK: u8 = 0x1F;
}

/// Line status register bits (section 8.3).
pub mod lsr {
    /// Data ready: at least one byte can be read from RBR.
    pub const DR: u8 = 1 << 0;
    /// Overrun error: a byte arrived with nowhere to go.
    pub const OE: u8 = 1 << 1;
    pub const PE: u8 = 1 << 2;
    pub const FE: u8 = 1 << 3;
    pub const BI: u8 = 1 << 4;
    /// Transmitter holding register (or FIFO) empty.
    pub const THRE: u8 = 1 << 5;
    /// Transmitter empty: THR and the shift register are both empty.
    pub const TEMT: u8 = 1 << 6;
    /// The error bits that raise a line status interrupt and clear on read.
    pub const ERRORS: u8 = OE | PE | FE | BI;
}

/// Modem status register bits (section 8.9).
pub mod msr {
    /// Delta clear-to-send.
    pub const DCTS: u8 = 1 << 0;
    /// Delta data-set-ready.
    pub const DDSR: u8 = 1 << 1;
    /// Trailing edge ring indicator (RI went from on to off).
    pub const TERI: u8 = 1 << 2;
    /// Delta data-carrier-detect.
    pub const DDCD: u8 = 1 << 3;
    pub const CTS: u8 = 1 << 4;
    pub const DSR: u8 = 1 << 5;
    pub const RI: u8 = 1 << 6;
    pub const DCD: u8 = 1 << 7;
    /// The four change bits, cleared when MSR is read.
    pub const DELTAS: u8 = 0x0F;
    /// The four line-state bits.
    pub const LINES: u8 = 0xF0;
}

/// Receive FIFO depth in FIFO mode; in 16450 mode the receiver buffer holds
/// one byte.
const FIFO_DEPTH: usize = 16;

/// The modem lines the host side presents: a terminal that is connected and
/// ready (QEMU and vm-superio present the same).
const HOST_MODEM_LINES: u8 = msr::DCD | msr::DSR | msr::CTS;

/// Divisor at power-on. The datasheet leaves it undefined after reset; 12
/// (9600 baud from the PC's 1.8432 MHz clock) is what a BIOS leaves behind.
const DEFAULT_DIVISOR: u16 = 12;

/// The guest-visible state of a [`Uart`], apart from its connections; enough
/// to rebuild the device with [`Uart::from_state`] (snapshots, tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UartState {
    pub ier: u8,
    /// The last value written to FCR with the enable bit set, or 0.
    pub fcr: u8,
    pub lcr: u8,
    pub mcr: u8,
    /// Pending LSR error bits (cleared when LSR is read).
    pub lsr_errors: u8,
    pub msr: u8,
    pub scr: u8,
    pub divisor: u16,
    /// A transmitter-holding-register-empty interrupt is latched.
    pub thre_pending: bool,
    /// Bytes in the receive FIFO, oldest first.
    pub rx: Vec<u8>,
}

impl Default for UartState {
    /// The state after a master reset (Table V).
    fn default() -> Self {
        UartState {
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr: HOST_MODEM_LINES,
            scr: 0,
            divisor: DEFAULT_DIVISOR,
            thre_pending: false,
            rx: Vec::new(),
        }
    }
}

/// A 16550A: registers, a 16-byte receive FIFO and an interrupt output.
pub struct Uart {
    ier: u8,
    fcr: u8,
    lcr: u8,
    mcr: u8,
    lsr_errors: u8,
    msr: u8,
    scr: u8,
    divisor: u16,
    thre_pending: bool,
    rx: VecDeque<u8>,
    /// The level last driven on `irq`, so the line is told only of changes.
    irq_level: bool,
    irq: Box<dyn IrqLine>,
    out: Box<dyn Write + Send>,
    /// Set after the first failed write to `out`, so the log is not flooded.
    out_failed: bool,
}

impl std::fmt::Debug for Uart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uart")
            .field("state", &self.state())
            .finish()
    }
}

impl Uart {
    /// A UART after master reset, interrupting through `irq` and
    /// transmitting to `out`.
    pub fn new(irq: Box<dyn IrqLine>, out: Box<dyn Write + Send>) -> Uart {
        Uart::from_state(&UartState::default(), irq, out)
    }

    /// A UART in `state`, interrupting through `irq` and transmitting to
    /// `out`. Values a guest could not have produced are masked to ones it
    /// could.
    pub fn from_state(
        state: &UartState,
        irq: Box<dyn IrqLine>,
        out: Box<dyn Write + Send>,
    ) -> Uart {
        let mut uart = Uart {
            ier: state.ier & ier::MASK,
            fcr: 0,
            lcr: state.lcr,
            mcr: state.mcr & mcr::MASK,
            lsr_errors: state.lsr_errors & lsr::ERRORS,
            msr: state.msr,
            scr: state.scr,
            divisor: state.divisor,
            thre_pending: state.thre_pending,
            rx: VecDeque::with_capacity(FIFO_DEPTH),
            irq_level: false,
            irq,
            out,
            out_failed: false,
        };
        if state.fcr & fcr::ENABLE != 0 {
            uart.fcr = state.fcr & (fcr::ENABLE | fcr::DMA_MODE | (0b11 << fcr::TRIGGER_SHIFT));
        }
        let depth = uart.rx_depth();
        uart.rx.extend(state.rx.iter().take(depth));
        uart.update_irq();
        uart
    }

    /// The guest-visible state, for [`Uart::from_state`].
    pub fn state(&self) -> UartState {
        UartState {
            ier: self.ier,
            fcr: self.fcr,
            lcr: self.lcr,
            mcr: self.mcr,
            lsr_errors: self.lsr_errors,
            msr: self.msr,
            scr: self.scr,
            divisor: self.divisor,
            thre_pending: self.thre_pending,
            rx: self.rx.iter().copied().collect(),
        }
    }

    /// The baud-rate divisor the guest programmed (baud = 115200 / divisor
    /// with the PC's clock); 0 means the guest has not made up its mind.
    pub fn divisor(&self) -> u16 {
        self.divisor
    }

    /// Reads the register at `offset` (0..=7; higher bits are ignored, as
    /// the chip decodes only A2..A0).
    pub fn read(&mut self, offset: u8) -> u8 {
        let dlab = self.lcr & lcr::DLAB != 0;
        match offset & 7 {
            reg::RBR_THR_DLL if dlab => self.divisor as u8,
            reg::RBR_THR_DLL => {
                let byte = self.rx.pop_front().unwrap_or(0);
                self.update_irq();
                byte
            }
            reg::IER_DLM if dlab => (self.divisor >> 8) as u8,
            reg::IER_DLM => self.ier,
            reg::IIR_FCR => {
                let id = self.identify();
                // Reading IIR while it reports THRE is one of the two ways
                // to clear that interrupt (Table IV, "Reset control").
                if id == iir::THR_EMPTY {
                    self.thre_pending = false;
                    self.update_irq();
                }
                id | if self.fifos_enabled() {
                    iir::FIFOS_ENABLED
                } else {
                    0
                }
            }
            reg::LCR => self.lcr,
            reg::MCR => self.mcr,
            reg::LSR => {
                let value = self.lsr();
                self.lsr_errors = 0;
                self.update_irq();
                value
            }
            reg::MSR => {
                let value = self.msr;
                self.msr &= !msr::DELTAS;
                self.update_irq();
                value
            }
            _ => self.scr,
        }
    }

    /// Writes `value` to the register at `offset` (0..=7).
    pub fn write(&mut self, offset: u8, value: u8) {
        let dlab = self.lcr & lcr::DLAB != 0;
        match offset & 7 {
            reg::RBR_THR_DLL if dlab => self.divisor = (self.divisor & 0xFF00) | value as u16,
            reg::RBR_THR_DLL => self.transmit(value),
            reg::IER_DLM if dlab => {
                self.divisor = (self.divisor & 0x00FF) | (value as u16) << 8;
            }
            reg::IER_DLM => self.write_ier(value),
            reg::IIR_FCR => self.write_fcr(value),
            reg::LCR => self.lcr = value,
            reg::MCR => {
                self.mcr = value & mcr::MASK;
                self.update_modem_lines();
            }
            // LSR and MSR are read-only ("factory test" writes are not
            // part of the programming model).
            reg::LSR | reg::MSR => {}
            _ => self.scr = value,
        }
        self.update_irq();
    }

    /// Delivers bytes arriving on the serial line. Returns how many were
    /// taken: the receive FIFO accepts what fits (16 bytes in FIFO mode, one
    /// in 16450 mode) and the caller keeps the rest for later, which is how
    /// a host terminal's flow control looks to the guest. In loopback mode
    /// the receiver is disconnected from the line, so everything is taken
    /// and lost, as on the chip.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        if self.loopback() {
            return bytes.len();
        }
        let room = self.rx_depth().saturating_sub(self.rx.len());
        let taken = room.min(bytes.len());
        self.rx.extend(&bytes[..taken]);
        self.update_irq();
        taken
    }

    /// Whether the interrupt output is asserted (as last driven on the line).
    pub fn irq_level(&self) -> bool {
        self.irq_level
    }

    fn loopback(&self) -> bool {
        self.mcr & mcr::LOOP != 0
    }

    fn fifos_enabled(&self) -> bool {
        self.fcr & fcr::ENABLE != 0
    }

    fn rx_depth(&self) -> usize {
        if self.fifos_enabled() {
            FIFO_DEPTH
        } else {
            1
        }
    }

    /// The receive FIFO trigger level selected by FCR bits 7:6 (Table III).
    fn rx_trigger(&self) -> usize {
        [1, 4, 8, 14][(self.fcr >> fcr::TRIGGER_SHIFT) as usize & 3]
    }

    fn lsr(&self) -> u8 {
        let dr = if self.rx.is_empty() { 0 } else { lsr::DR };
        dr | self.lsr_errors | lsr::THRE | lsr::TEMT
    }

    fn transmit(&mut self, byte: u8) {
        if self.loopback() {
            // Section 8.8: in loopback the transmitter shift register is
            // connected to the receiver shift register.
            self.receive(byte);
        } else if let Err(err) = self.out.write_all(&[byte]).and_then(|()| self.out.flush()) {
            if !self.out_failed {
                tracing::warn!(target: "uart", %err, "serial output failed; dropping bytes");
                self.out_failed = true;
            }
        }
        // Writing THR clears a pending THRE interrupt; the byte leaves at
        // once, so THR is empty again and the interrupt is re-armed.
        self.thre_pending = true;
    }

    /// A byte completes in the receiver shift register.
    fn receive(&mut self, byte: u8) {
        if self.rx.len() < self.rx_depth() {
            self.rx.push_back(byte);
        } else if self.fifos_enabled() {
            // Section 8.3, LSR bit 1: with the FIFO full, the new character
            // overwrites the shift register and the FIFO is left intact.
            self.lsr_errors |= lsr::OE;
        } else {
            // In 16450 mode the new character overwrites the buffer.
            self.rx.clear();
            self.rx.push_back(byte);
            self.lsr_errors |= lsr::OE;
        }
    }

    fn write_ier(&mut self, value: u8) {
        let value = value & ier::MASK;
        let rising = value & !self.ier;
        self.ier = value;
        // Enabling ETBEI while THR is empty (always, here) raises the THRE
        // interrupt at once; drivers rely on this to start transmitting.
        if rising & ier::ETBEI != 0 {
            self.thre_pending = true;
        } else if value & ier::ETBEI == 0 {
            self.thre_pending = false;
        }
    }

    fn write_fcr(&mut self, value: u8) {
        let enable = value & fcr::ENABLE != 0;
        if enable != self.fifos_enabled() {
            // Changing FCR bit 0 resets both FIFOs (section 8.4).
            self.rx.clear();
        }
        if !enable {
            self.fcr = 0;
            return;
        }
        if value & fcr::CLEAR_RX != 0 {
            self.rx.clear();
        }
        // CLEAR_TX has nothing to clear: transmission is instantaneous.
        self.fcr = value & (fcr::ENABLE | fcr::DMA_MODE | (0b11 << fcr::TRIGGER_SHIFT));
    }

    /// Recomputes the MSR line bits from their source and latches the
    /// changes in the delta bits (section 8.9).
    fn update_modem_lines(&mut self) {
        let lines = if self.loopback() {
            // Section 8.8: in loopback, DTR drives DSR, RTS drives CTS, OUT1
            // drives RI and OUT2 drives DCD.
            let m = self.mcr;
            let bit = |set: bool, b: u8| if set { b } else { 0 };
            bit(m & mcr::DTR != 0, msr::DSR)
                | bit(m & mcr::RTS != 0, msr::CTS)
                | bit(m & mcr::OUT1 != 0, msr::RI)
                | bit(m & mcr::OUT2 != 0, msr::DCD)
        } else {
            HOST_MODEM_LINES
        };
        let old = self.msr & msr::LINES;
        let changed = old ^ lines;
        let mut deltas = 0;
        if changed & msr::CTS != 0 {
            deltas |= msr::DCTS;
        }
        if changed & msr::DSR != 0 {
            deltas |= msr::DDSR;
        }
        if old & msr::RI != 0 && lines & msr::RI == 0 {
            deltas |= msr::TERI;
        }
        if changed & msr::DCD != 0 {
            deltas |= msr::DDCD;
        }
        self.msr = (self.msr & msr::DELTAS) | deltas | lines;
    }

    /// The highest-priority pending, enabled interrupt (Table IV), as the
    /// low nibble of IIR.
    fn identify(&self) -> u8 {
        if self.ier & ier::ELSI != 0 && self.lsr_errors != 0 {
            iir::LINE_STATUS
        } else if self.ier & ier::ERBFI != 0 && !self.rx.is_empty() {
            if !self.fifos_enabled() || self.rx.len() >= self.rx_trigger() {
                iir::RX_DATA
            } else {
                iir::RX_TIMEOUT
            }
        } else if self.ier & ier::ETBEI != 0 && self.thre_pending {
            iir::THR_EMPTY
        } else if self.ier & ier::EDSSI != 0 && self.msr & msr::DELTAS != 0 {
            iir::MODEM_STATUS
        } else {
            iir::NONE
        }
    }

    /// Drives the IRQ output. The chip's INTR pin is high while an interrupt
    /// is identified; on a PC it reaches the interrupt controller only
    /// through a buffer enabled by the OUT2 pin, and loopback mode forces
    /// OUT2 inactive (section 8.8), so both gate the line here.
    fn update_irq(&mut self) {
        let level = self.identify() != iir::NONE && self.mcr & mcr::OUT2 != 0 && !self.loopback();
        if level != self.irq_level {
            self.irq_level = level;
            self.irq.set_level(level);
        }
    }
}

/// The adapter that maps a [`Uart`] on the port-I/O bus: byte `i` of an
/// access at offset `o` is register `o + i`, so a word access reaches two
/// registers in turn, as it would on an 8-bit ISA bus.
#[derive(Debug)]
pub struct UartPorts {
    uart: Uart,
}

impl UartPorts {
    /// Wraps `uart` for the bus.
    pub fn new(uart: Uart) -> UartPorts {
        UartPorts { uart }
    }

    /// The UART behind the ports (host-side input, state).
    pub fn uart(&mut self) -> &mut Uart {
        &mut self.uart
    }
}

impl mem::BusDevice for UartPorts {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match offset.checked_add(i as u64) {
                Some(o) if o < UART_PORTS as u64 => self.uart.read(o as u8),
                _ => 0xFF,
            };
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        for (i, &byte) in data.iter().enumerate() {
            match offset.checked_add(i as u64) {
                Some(o) if o < UART_PORTS as u64 => self.uart.write(o as u8, byte),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mem::BusDevice;
    use parking_lot::Mutex;

    use super::*;
    use crate::irq::IrqRecorder;

    /// A `Write` whose bytes the test can inspect afterwards.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn uart() -> (Uart, IrqRecorder, Captured) {
        let irq = IrqRecorder::default();
        let out = Captured::default();
        let uart = Uart::new(Box::new(irq.clone()), Box::new(out.clone()));
        (uart, irq, out)
    }

    #[test]
    fn reset_state_matches_datasheet() {
        let (mut u, irq, _) = uart();
        assert_eq!(u.read(reg::IER_DLM), 0);
        assert_eq!(u.read(reg::IIR_FCR), iir::NONE);
        assert_eq!(u.read(reg::LCR), 0);
        assert_eq!(u.read(reg::MCR), 0);
        assert_eq!(u.read(reg::LSR), lsr::THRE | lsr::TEMT);
        assert_eq!(u.read(reg::MSR), msr::DCD | msr::DSR | msr::CTS);
        assert!(!irq.level());
    }

    #[test]
    fn divisor_latch_shadows_rbr_and_ier_while_dlab_set() {
        let (mut u, _, out) = uart();
        u.write(reg::IER_DLM, ier::ERBFI);
        u.write(reg::LCR, lcr::DLAB | 0x03);
        u.write(reg::RBR_THR_DLL, 0x01);
        u.write(reg::IER_DLM, 0x00);
        assert_eq!(u.read(reg::RBR_THR_DLL), 0x01);
        assert_eq!(u.read(reg::IER_DLM), 0x00);
        u.write(reg::LCR, 0x03);
        assert_eq!(u.divisor(), 1);
        assert_eq!(u.read(reg::IER_DLM), ier::ERBFI);
        assert!(out.0.lock().is_empty(), "DLL write must not transmit");
    }

    #[test]
    fn thr_write_transmits_byte() {
        let (mut u, _, out) = uart();
        for &b in b"hi\n" {
            u.write(reg::RBR_THR_DLL, b);
        }
        assert_eq!(*out.0.lock(), b"hi\n");
        assert_eq!(
            u.read(reg::LSR) & (lsr::THRE | lsr::TEMT),
            lsr::THRE | lsr::TEMT
        );
    }

    #[test]
    fn ier_thre_enable_raises_interrupt_until_iir_read() {
        let (mut u, irq, _) = uart();
        u.write(reg::MCR, mcr::OUT2);
        u.write(reg::IER_DLM, ier::ETBEI);
        assert!(irq.level());
        assert_eq!(u.read(reg::IIR_FCR), iir::THR_EMPTY);
        assert!(!irq.level());
        assert_eq!(u.read(reg::IIR_FCR), iir::NONE);
    }

    #[test]
    fn thr_write_rearms_thre_interrupt() {
        let (mut u, irq, _) = uart();
        u.write(reg::MCR, mcr::OUT2);
        u.write(reg::IER_DLM, ier::ETBEI);
        u.read(reg::IIR_FCR);
        u.write(reg::RBR_THR_DLL, b'x');
        assert!(irq.level());
        assert_eq!(irq.rising_edges(), 2);
    }

    #[test]
    fn ier_rewrite_without_change_does_not_rearm_thre() {
        let (mut u, irq, _) = uart();
        u.write(reg::MCR, mcr::OUT2);
        u.write(reg::IER_DLM, ier::ETBEI);
        u.read(reg::IIR_FCR);
        u.write(reg::IER_DLM, ier::ETBEI);
        assert!(!irq.level());
    }

    #[test]
    fn irq_output_gated_by_out2() {
        let (mut u, irq, _) = uart();
        u.write(reg::IER_DLM, ier::ETBEI);
        assert!(!irq.level());
        assert_eq!(u.read(reg::IIR_FCR), iir::THR_EMPTY, "still identified");
        u.write(reg::IER_DLM, 0);
        u.write(reg::IER_DLM, ier::ETBEI);
        u.write(reg::MCR, mcr::OUT2);
        assert!(irq.level());
    }

    #[test]
    fn fifo_enable_reports_c0_in_iir() {
        let (mut u, _, _) = uart();
        u.write(reg::IIR_FCR, fcr::ENABLE);
        assert_eq!(u.read(reg::IIR_FCR), iir::FIFOS_ENABLED | iir::NONE);
        u.write(reg::IIR_FCR, 0);
        assert_eq!(u.read(reg::IIR_FCR), iir::NONE);
    }

    #[test]
    fn receive_fifo_holds_sixteen_bytes_in_order_with_dr() {
        let (mut u, _, _) = uart();
        u.write(reg::IIR_FCR, fcr::ENABLE | fcr::CLEAR_RX | fcr::CLEAR_TX);
        let input: Vec<u8> = (0..20).collect();
        assert_eq!(u.enqueue_input(&input), 16);
        for expected in 0..16 {
            assert_ne!(u.read(reg::LSR) & lsr::DR, 0);
            assert_eq!(u.read(reg::RBR_THR_DLL), expected);
        }
        assert_eq!(u.read(reg::LSR) & lsr::DR, 0);
        assert_eq!(u.enqueue_input(&input[16..]), 4);
    }

    #[test]
    fn receive_without_fifo_holds_one_byte() {
        let (mut u, _, _) = uart();
        assert_eq!(u.enqueue_input(b"ab"), 1);
        assert_eq!(u.read(reg::RBR_THR_DLL), b'a');
        assert_eq!(u.read(reg::LSR) & lsr::DR, 0);
    }

    #[test]
    fn fcr_clear_rx_empties_fifo() {
        let (mut u, _, _) = uart();
        u.write(reg::IIR_FCR, fcr::ENABLE);
        u.enqueue_input(b"abc");
        u.write(reg::IIR_FCR, fcr::ENABLE | fcr::CLEAR_RX);
        assert_eq!(u.read(reg::LSR) & lsr::DR, 0);
    }

    #[test]
    fn rx_below_trigger_reports_timeout_then_data_at_trigger() {
        let (mut u, irq, _) = uart();
        u.write(reg::MCR, mcr::OUT2);
        u.write(reg::IIR_FCR, fcr::ENABLE | 1 << fcr::TRIGGER_SHIFT); // 4 bytes
        u.write(reg::IER_DLM, ier::ERBFI);
        u.enqueue_input(b"ab");
        assert_eq!(u.read(reg::IIR_FCR), iir::FIFOS_ENABLED | iir::RX_TIMEOUT);
        u.enqueue_input(b"cd");
        assert_eq!(u.read(reg::IIR_FCR), iir::FIFOS_ENABLED | iir::RX_DATA);
        assert!(irq.level());
        for _ in 0..4 {
            u.read(reg::RBR_THR_DLL);
        }
        assert!(!irq.level());
    }

    #[test]
    fn iir_reports_rx_data_before_thre() {
        let (mut u, _, _) = uart();
        u.write(reg::IER_DLM, ier::ERBFI | ier::ETBEI);
        u.enqueue_input(b"z");
        assert_eq!(u.read(reg::IIR_FCR), iir::RX_DATA);
        assert_eq!(
            u.read(reg::IIR_FCR),
            iir::RX_DATA,
            "reading IIR does not clear RDA"
        );
        u.read(reg::RBR_THR_DLL);
        assert_eq!(u.read(reg::IIR_FCR), iir::THR_EMPTY);
        assert_eq!(u.read(reg::IIR_FCR), iir::NONE);
    }

    #[test]
    fn iir_reports_line_status_before_rx_data_and_lsr_read_clears_it() {
        let (mut u, _, _) = uart();
        u.write(reg::MCR, mcr::LOOP);
        u.write(reg::IER_DLM, ier::ERBFI | ier::ELSI);
        u.write(reg::RBR_THR_DLL, b'1');
        u.write(reg::RBR_THR_DLL, b'2'); // overruns the one-byte buffer
        assert_eq!(u.read(reg::IIR_FCR), iir::LINE_STATUS);
        assert_eq!(u.read(reg::LSR) & (lsr::OE | lsr::DR), lsr::OE | lsr::DR);
        assert_eq!(u.read(reg::LSR) & lsr::OE, 0);
        assert_eq!(u.read(reg::IIR_FCR), iir::RX_DATA);
        assert_eq!(
            u.read(reg::RBR_THR_DLL),
            b'2',
            "16450 mode overwrites the buffer"
        );
    }

    #[test]
    fn fifo_overrun_keeps_fifo_and_drops_new_byte() {
        let (mut u, _, _) = uart();
        u.write(reg::IIR_FCR, fcr::ENABLE);
        u.write(reg::MCR, mcr::LOOP);
        for b in 0..17 {
            u.write(reg::RBR_THR_DLL, b);
        }
        assert_ne!(u.read(reg::LSR) & lsr::OE, 0);
        let got: Vec<u8> = (0..16).map(|_| u.read(reg::RBR_THR_DLL)).collect();
        assert_eq!(got, (0..16).collect::<Vec<u8>>());
    }

    #[test]
    fn loopback_returns_transmitted_bytes_and_sends_nothing() {
        let (mut u, irq, out) = uart();
        u.write(reg::MCR, mcr::LOOP | mcr::OUT2);
        u.write(reg::IER_DLM, ier::ERBFI);
        u.write(reg::RBR_THR_DLL, 0x5A);
        assert!(out.0.lock().is_empty());
        assert!(!irq.level(), "OUT2 is forced inactive in loopback");
        assert_eq!(u.read(reg::IIR_FCR), iir::RX_DATA);
        assert_eq!(u.read(reg::RBR_THR_DLL), 0x5A);
        assert_eq!(u.enqueue_input(b"lost"), 4, "the line is disconnected");
        assert_eq!(u.read(reg::LSR) & lsr::DR, 0);
    }

    #[test]
    fn loopback_wires_modem_outputs_to_inputs() {
        // The check Linux's 8250 autoconfig makes: MCR = LOOP|OUT2|RTS must
        // read back as MSR lines DCD|CTS.
        let (mut u, _, _) = uart();
        u.write(reg::MCR, mcr::LOOP | mcr::OUT2 | mcr::RTS);
        assert_eq!(u.read(reg::MSR) & msr::LINES, msr::DCD | msr::CTS);
        u.write(reg::MCR, mcr::LOOP | mcr::DTR | mcr::OUT1);
        assert_eq!(u.read(reg::MSR) & msr::LINES, msr::DSR | msr::RI);
    }

    #[test]
    fn modem_status_change_interrupts_until_msr_read() {
        let (mut u, _, _) = uart();
        u.read(reg::MSR);
        u.write(reg::IER_DLM, ier::EDSSI);
        u.write(reg::MCR, mcr::LOOP | mcr::RTS | mcr::OUT1);
        u.write(reg::MCR, mcr::LOOP | mcr::RTS);
        assert_eq!(u.read(reg::IIR_FCR), iir::MODEM_STATUS);
        let status = u.read(reg::MSR);
        // Entering loopback dropped DSR and DCD (the host drove them) and kept
        // CTS; RI then went from on to off.
        assert_eq!(status & msr::DELTAS, msr::DDSR | msr::TERI | msr::DDCD);
        assert_eq!(status & msr::LINES, msr::CTS);
        assert_eq!(u.read(reg::MSR) & msr::DELTAS, 0);
        assert_eq!(u.read(reg::IIR_FCR), iir::NONE);
    }

    #[test]
    fn scratch_register_holds_any_value() {
        let (mut u, _, _) = uart();
        for v in [0x00, 0x55, 0xAA, 0xFF] {
            u.write(reg::SCR, v);
            assert_eq!(u.read(reg::SCR), v);
        }
    }

    #[test]
    fn state_round_trips() {
        let (mut u, _, _) = uart();
        u.write(reg::IIR_FCR, fcr::ENABLE | 2 << fcr::TRIGGER_SHIFT);
        u.write(reg::LCR, 0x1B);
        u.write(reg::SCR, 0x42);
        u.write(reg::IER_DLM, ier::ETBEI | ier::ERBFI);
        u.enqueue_input(b"xyz");
        let state = u.state();
        let irq = IrqRecorder::default();
        let copy = Uart::from_state(&state, Box::new(irq), Box::new(std::io::sink()));
        assert_eq!(copy.state(), state);
    }

    #[test]
    fn bus_adapter_splits_wide_access_into_registers() {
        let (u, _, _) = uart();
        let mut ports = UartPorts::new(u);
        ports.write(reg::LCR as u64, &[0x83]);
        ports.write(0, &[0x34, 0x12]); // DLL, DLM in one word write
        let mut word = [0u8; 2];
        ports.read(0, &mut word);
        assert_eq!(word, [0x34, 0x12]);
        assert_eq!(ports.uart().divisor(), 0x1234);
        let mut beyond = [0u8; 2];
        ports.read(7, &mut beyond);
        assert_eq!(beyond[1], 0xFF);
    }
}
