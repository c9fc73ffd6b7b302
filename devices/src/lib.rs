//! Platform devices, each a register state machine behind a thin bus
//! adapter.
//!
//! What this crate owns: the models of the PC platform devices — today the
//! 16550A UART ([`uart`]) and QEMU's debug-exit port ([`debug_exit`]); the
//! i8259 PIC, i8254 PIT, RTC/CMOS, HPET, ACPI PM timer, IOAPIC, local APIC
//! and i8042 reset come next — and, later, PCI devices (virtio-blk, the
//! `edu` teaching DMA device, NVMe). It also owns [`irq::IrqLine`], the
//! one-method trait through which a device drives an interrupt pin.
//!
//! What it refuses to do:
//! - Touch guest RAM, except through the `mem::Dma` a device was given.
//! - Wire itself: a device declares what it needs (ports, an IRQ line, an
//!   output stream) and takes it as a constructor argument; `machine` decides
//!   where it sits and what its pins connect to.
//! - Keep threads, files or clocks inside a device core. Host I/O is injected
//!   (`std::io::Write` for output, `enqueue_input` for input), and time will
//!   come in as an argument, so every core is unit-tested without a bus.
//! - Treat guest misbehaviour as a host error: a bad register access gets
//!   the hardware's answer, never a panic or an `Err`.

pub mod debug_exit;
pub mod irq;
pub mod uart;

pub use debug_exit::{DebugExit, ExitRequest};
pub use irq::{IrqLine, IrqRecorder, NoIrq};
pub use uart::{Uart, UartPorts, UartState};
