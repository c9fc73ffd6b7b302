//! Platform devices, each a register state machine behind a thin bus
//! adapter.
//!
//! What this crate owns: the models of the PC platform devices — the
//! 16550A UART ([`uart`]), QEMU's debug-exit port ([`debug_exit`]), the
//! i8259 PIC pair ([`pic`]), the i8254 PIT and port 0x61 ([`pit`]), the
//! MC146818 RTC/CMOS ([`rtc`]), the HPET ([`hpet`]), the ACPI PM block
//! ([`acpi_pm`]), the IOAPIC ([`ioapic`]), the local APIC ([`lapic`]), the
//! reset control register and POST port ([`reset`]) and the i8042 keyboard
//! controller ([`i8042`]) — and, later, PCI devices (virtio-blk, the `edu`
//! teaching DMA device, NVMe). It also owns the small interfaces devices
//! are wired through: [`irq::IrqLine`] (a pin), [`irq::EoiSink`] (the local
//! APIC's EOI broadcast), [`clock::Clock`] and [`clock::TimerDevice`]
//! (virtual time in, deadlines out) and [`power::PowerControl`] (power-off
//! and reset requests).
//!
//! What it refuses to do:
//! - Touch guest RAM, except through the `mem::Dma` a device was given.
//! - Wire itself: a device declares what it needs (ports, an IRQ line, an
//!   output stream, a clock) and takes it as a constructor argument;
//!   `machine` decides where it sits and what its pins connect to.
//! - Keep threads, files or clocks inside a device core. Host I/O is
//!   injected (`std::io::Write` for output, `enqueue_input` for input) and
//!   time comes in as an argument (`now_ns`); only the bus adapters read a
//!   [`clock::Clock`], so every core is unit-tested without a bus.
//! - Treat guest misbehaviour as a host error: a bad register access gets
//!   the hardware's answer, never a panic or an `Err`.
//!
//! Locking. Devices reached from more than one place (bus adapters, input
//! pins, the machine's timer loop) live in an `Arc<parking_lot::Mutex<_>>`
//! (`SharedPic`, `SharedLapic`, ...). A device calls out (an IRQ line, an
//! MSI sink) while holding its own lock, so locks are always taken in one
//! order: timer and I/O devices → IRQ switch/fan-out → PIC or IOAPIC →
//! (interrupt remapping) → local APIC. The local APIC never calls out while
//! locked (its EOI broadcast is made by [`lapic::LapicAdapter`] after
//! unlocking), and the machine must not hold the local APIC's lock while it
//! acknowledges at the PIC.

pub mod acpi_pm;
pub mod clock;
pub mod debug_exit;
pub mod hpet;
pub mod i8042;
pub mod ioapic;
pub mod irq;
pub mod lapic;
pub mod pic;
pub mod pit;
#[cfg(test)]
mod platform_tests;
pub mod power;
pub mod reset;
pub mod rtc;
pub mod uart;

pub use acpi_pm::{AcpiPm, AcpiPmPorts};
pub use clock::{Clock, Deadlines, HostClock, ManualClock, TimerDevice};
pub use debug_exit::{DebugExit, ExitRequest};
pub use hpet::{Hpet, HpetMmio};
pub use i8042::{I8042Port, I8042};
pub use ioapic::{IoApic, IoApicEoi, IoApicMmio, IoApicPin};
pub use irq::{
    EoiRecorder, EoiSink, IrqFanOut, IrqLine, IrqRecorder, IrqSwitch, MsiRecorder, NoEoi, NoIrq,
};
pub use lapic::{LapicAdapter, LapicLint, LapicMsi, LocalApic};
pub use pic::{Pic, PicPin, PicPorts};
pub use pit::{Pit, PitPorts, PortBPort};
pub use power::{PowerControl, PowerEvent};
pub use reset::{PostCode, ResetControl};
pub use rtc::{Rtc, RtcPorts};
pub use uart::{Uart, UartPorts, UartState};
