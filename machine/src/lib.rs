//! The board: builds a machine out of `mem`, `cpu` and `devices`, runs it,
//! and hosts the `vtdemu` command line.
//!
//! What this crate owns: the Q35-like memory map, which device sits at which
//! address and what its pins connect to, image loading, the run loop and how
//! a run ends (debug exit, triple fault, a halt nothing can wake), and the
//! host side of the console (stdout for COM1 output, a stdin thread for
//! input). Later: ACPI tables, the Linux boot protocol, the monitor and the
//! debugger front ends.
//!
//! What it refuses to do: hold device logic. A register's meaning belongs in
//! `devices` (or `iommu`, `pci`); this crate only wires and drives. It is also
//! the only crate that knows every other crate, so nothing depends on it.
//!
//! A run, end to end: [`Machine::builder`] reserves RAM and maps the devices;
//! [`Machine::load_demo`] (or a later loader) places an image and sets the
//! entry point; [`Machine::run`] calls `cpu::Cpu::run` in slices and turns
//! what stops it into an [`ExitStatus`].

pub mod acpi;
pub mod board;
pub mod boot;
pub mod demo;
mod size;

use std::io::{Read, Write};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use board::{Board, ClockKind};
use cpu::{Cpu, RunExit};
use devices::debug_exit::{self, DebugExit, ExitRequest, DEBUG_EXIT_BASE, DEBUG_EXIT_PORTS};
use devices::power::PowerEvent;
use devices::uart::{Uart, UartPorts, COM1_BASE, UART_PORTS};
use mem::{Attention, Bus, BusError, GuestAddress, GuestRam, Port, RamError, RamLayout};
use parking_lot::Mutex;

pub use size::{parse_memory_size, SizeError};

/// RAM below 4 GiB ends where the PCIe ECAM window begins (the memory map in
/// DESIGN.md); the rest of a larger guest's RAM starts at 4 GiB.
pub const LOW_RAM_LIMIT: u64 = 0xB000_0000;
/// Guest memory when none is asked for.
pub const DEFAULT_MEMORY: u64 = 64 << 20;
/// Instructions per call into the CPU: long enough to amortise the call,
/// short enough that host events are looked at promptly.
const SLICE: u64 = 1_000_000;
/// How long the run loop sleeps while the guest waits in HLT.
const HALT_POLL: Duration = Duration::from_millis(1);

/// Process exit status when the guest triple-faulted. Statuses the
/// emulator picks are even; debug-exit statuses are always odd.
pub const STATUS_TRIPLE_FAULT: i32 = 4;
/// Process exit status when the guest halted with interrupts disabled.
pub const STATUS_HALTED_FOREVER: i32 = 6;

/// Host failures building or loading a machine. What the guest does is
/// never one of these: it ends a run with an [`ExitStatus`].
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("cannot set up {bytes:#x} bytes of guest RAM")]
    Ram {
        bytes: u64,
        #[source]
        source: RamError,
    },
    #[error("cannot map a device")]
    Bus(#[from] BusError),
    #[error("cannot load the image")]
    Load(#[source] RamError),
    #[error("cannot boot the kernel")]
    Boot(#[from] boot::BootError),
    #[error("the demo needs at least {need} KiB of guest memory, this machine has {have} KiB")]
    TooLittleMemory { need: u64, have: u64 },
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// The guest wrote `value` to the debug-exit port.
    DebugExit { value: u32 },
    /// A fault during delivery of a double fault: the processor shut down.
    TripleFault { rip: u64 },
    /// HLT with RFLAGS.IF clear: no interrupt can wake the guest.
    HaltedForever { rip: u64 },
    /// The guest powered the machine off (ACPI S5) or asked for a reset
    /// (0xCF9, the FADT reset register, the i8042).
    Power(PowerEvent),
    /// Stopped from outside the guest, with no exit value.
    Stopped,
}

impl ExitStatus {
    /// The status the `vtdemu` process exits with. For a debug exit it is
    /// `(value << 1) | 1` truncated to an `int`, as QEMU's `exit()` call
    /// gives it (the shell then sees the low 8 bits).
    pub fn code(&self) -> i32 {
        match *self {
            ExitStatus::DebugExit { value } => debug_exit::exit_status(value) as i32,
            ExitStatus::TripleFault { .. } => STATUS_TRIPLE_FAULT,
            ExitStatus::HaltedForever { .. } => STATUS_HALTED_FOREVER,
            ExitStatus::Power(_) | ExitStatus::Stopped => 0,
        }
    }

    /// Whether the run ended in a way the user should be told about (the
    /// guest did not choose to exit).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            ExitStatus::TripleFault { .. } | ExitStatus::HaltedForever { .. }
        )
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::DebugExit { value } => write!(
                f,
                "guest wrote {value:#x} to the debug-exit port (exit status {:#x})",
                debug_exit::exit_status(*value)
            ),
            ExitStatus::TripleFault { rip } => {
                write!(
                    f,
                    "guest triple-faulted (processor shutdown) at RIP {rip:#x}"
                )
            }
            ExitStatus::HaltedForever { rip } => {
                write!(f, "guest halted with interrupts disabled at RIP {rip:#x}")
            }
            ExitStatus::Power(PowerEvent::PowerOff) => write!(f, "guest powered off"),
            ExitStatus::Power(PowerEvent::Reset) => write!(f, "guest requested a reset"),
            ExitStatus::Stopped => write!(f, "machine stopped"),
        }
    }
}

/// Configures a [`Machine`].
pub struct MachineBuilder {
    memory: u64,
    serial_out: Option<Box<dyn Write + Send>>,
    clock: ClockKind,
}

impl MachineBuilder {
    /// Guest memory in bytes (default [`DEFAULT_MEMORY`]).
    pub fn memory(mut self, bytes: u64) -> MachineBuilder {
        self.memory = bytes;
        self
    }

    /// Where guest time comes from (default: host time).
    pub fn clock(mut self, clock: ClockKind) -> MachineBuilder {
        self.clock = clock;
        self
    }

    /// Where COM1's output goes (default: the process's stdout).
    pub fn serial_output(mut self, out: Box<dyn Write + Send>) -> MachineBuilder {
        self.serial_out = Some(out);
        self
    }

    /// Reserves RAM, maps the devices and powers on the processor.
    pub fn build(self) -> Result<Machine, MachineError> {
        let ram_error = |source| MachineError::Ram {
            bytes: self.memory,
            source,
        };
        let attention = Arc::new(Attention::default());
        let layout = RamLayout::split(self.memory, LOW_RAM_LIMIT).map_err(ram_error)?;
        let ram = Arc::new(GuestRam::new(layout, attention.clone()).map_err(ram_error)?);
        let bus = Arc::new(Bus::new(ram));
        let mut cpu = Cpu::new(bus.clone());
        let board = Board::new(&bus, &attention, layout, self.clock, cpu.instret_counter())?;
        let clock = board.clock.clone();
        cpu.set_time_source(Arc::new(move || clock.now_ns()), board::TSC_HZ);

        let out = self
            .serial_out
            .unwrap_or_else(|| Box::new(std::io::stdout()));
        let com1 = Arc::new(Mutex::new(UartPorts::new(Uart::new(
            Box::new(board.isa_irq(4)),
            out,
        ))));
        bus.io
            .insert("com1", Port(COM1_BASE), UART_PORTS, com1.clone())?;

        let exit = ExitRequest::default();
        let debug_exit = DebugExit::new(exit.clone(), attention.clone());
        bus.io.insert(
            "debug-exit",
            Port(DEBUG_EXIT_BASE),
            DEBUG_EXIT_PORTS,
            Arc::new(Mutex::new(debug_exit)),
        )?;

        Ok(Machine {
            cpu,
            board,
            bus,
            attention,
            exit,
            com1,
        })
    }
}

/// A machine: one processor, RAM, and the platform devices.
pub struct Machine {
    cpu: Cpu,
    board: Board,
    bus: Arc<Bus>,
    attention: Arc<Attention>,
    exit: ExitRequest,
    com1: Arc<Mutex<UartPorts>>,
}

impl Machine {
    /// A builder with the defaults: [`DEFAULT_MEMORY`], COM1 on stdout.
    pub fn builder() -> MachineBuilder {
        MachineBuilder {
            memory: DEFAULT_MEMORY,
            serial_out: None,
            clock: ClockKind::Host,
        }
    }

    /// The processor (registers, for tests and tools).
    pub fn cpu(&self) -> &Cpu {
        &self.cpu
    }

    /// The processor, mutably (entry points, register set-up).
    pub fn cpu_mut(&mut self) -> &mut Cpu {
        &mut self.cpu
    }

    /// RAM, MMIO and ports as the processor sees them.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// The host side of COM1's receive line.
    pub fn serial_input(&self) -> SerialInput {
        SerialInput {
            port: self.com1.clone(),
        }
    }

    /// Copies `bytes` into guest RAM at `addr`.
    pub fn load(&self, addr: GuestAddress, bytes: &[u8]) -> Result<(), MachineError> {
        self.bus.ram.write(addr, bytes).map_err(MachineError::Load)
    }

    /// Loads the built-in demo guest ([`demo`]) and points the processor
    /// at its real-mode entry.
    pub fn load_demo(&mut self) -> Result<(), MachineError> {
        let have = self.bus.ram.layout().total();
        if have < demo::MIN_MEMORY {
            return Err(MachineError::TooLittleMemory {
                need: demo::MIN_MEMORY >> 10,
                have: have >> 10,
            });
        }
        let image = demo::demo_image();
        self.load(GuestAddress(image.load_addr), &image.bytes)?;
        self.cpu.set_real_mode_entry(image.entry_cs, image.entry_ip);
        Ok(())
    }

    /// Loads a Linux bzImage (and initrd) with the 64-bit boot protocol,
    /// after writing the ACPI tables it will find through the RSDP.
    pub fn load_linux(
        &mut self,
        kernel: &[u8],
        initrd: Option<&[u8]>,
        cmdline: &str,
    ) -> Result<(), MachineError> {
        let ram = self.bus.ram.clone();
        let blob = acpi::build(&acpi::AcpiConfig::new(ram.layout()));
        self.load(GuestAddress(blob.base), &blob.bytes)?;
        let platform = boot::BootPlatform::q35(ram.layout(), Some(blob.rsdp_addr));
        let info = boot::load_linux(&ram, kernel, initrd, cmdline, &platform)?;
        boot::setup_cpu_for_linux(&mut self.cpu, &info, &ram)?;
        self.setup_mtrrs();
        Ok(())
    }

    /// Memory types as firmware leaves them (SDM Vol. 3A, 11.11): write-back
    /// by default, the legacy VGA hole and the PCI hole below 4 GiB
    /// (ECAM and 32-bit BARs from 0xB0000000) uncached. Without this the
    /// kernel finds MTRRs disabled and turns PAT off too.
    fn setup_mtrrs(&mut self) {
        const WB: u64 = 0x0606_0606_0606_0606;
        let fixed = [
            (0x250, WB),
            (0x258, WB),
            (0x259, 0), // 0xA0000-0xBFFFF: UC
            (0x268, WB),
            (0x269, WB),
            (0x26A, WB),
            (0x26B, WB),
            (0x26C, WB),
            (0x26D, WB),
            (0x26E, WB),
            (0x26F, WB),
        ];
        let phys_mask = (1u64 << 40) - 1;
        // Variable ranges (base | type UC, mask | valid): the ECAM window
        // 0xB0000000 + 256 MiB and the rest of the hole, 0xC0000000 + 1 GiB.
        let range = |base: u64, size: u64| [base, (!(size - 1) & phys_mask) | (1 << 11)];
        let [b0, m0] = range(0xB000_0000, 0x1000_0000);
        let [b1, m1] = range(0xC000_0000, 0x4000_0000);
        let variable = [(0x200, b0), (0x201, m0), (0x202, b1), (0x203, m1)];
        for (msr, v) in fixed.into_iter().chain(variable) {
            self.cpu.write_msr(msr, v);
        }
        // E (enabled), FE (fixed ranges enabled), default type WB.
        self.cpu.write_msr(0x2FF, (1 << 11) | (1 << 10) | 6);
    }

    /// Runs the guest until it exits, powers off, shuts down, or halts for
    /// good. Between slices of guest code the platform timers are serviced;
    /// a slice ends at the next timer deadline.
    pub fn run(&mut self) -> Result<ExitStatus, MachineError> {
        loop {
            self.board.service_timers();
            let budget = self.slice_budget();
            match self.cpu.run(self.board.apic(), budget) {
                RunExit::Budget => {}
                RunExit::Attention => {
                    let bits = self.attention.take(Attention::STOP | Attention::SERVICE);
                    if bits & Attention::STOP != 0 {
                        if let Some(event) = self.board.power.take() {
                            return Ok(ExitStatus::Power(event));
                        }
                        return Ok(match self.exit.value() {
                            Some(value) => ExitStatus::DebugExit { value },
                            None => ExitStatus::Stopped,
                        });
                    }
                }
                RunExit::Halted => {
                    if !self.cpu.interrupts_enabled() {
                        return Ok(ExitStatus::HaltedForever { rip: self.cpu.rip });
                    }
                    self.idle();
                }
                RunExit::Shutdown => return Ok(ExitStatus::TripleFault { rip: self.cpu.rip }),
            }
        }
    }

    /// Instructions to run before the next timer needs servicing.
    fn slice_budget(&self) -> u64 {
        let Some(deadline) = self.board.next_deadline() else {
            return SLICE;
        };
        let now = self.board.clock.now_ns();
        let ns = deadline.saturating_sub(now);
        let per_ns = match &self.board.instruction_clock {
            Some(c) => c.ns_per_insn(),
            // Host time: assume the interpreter's rough speed (~100 MIPS).
            None => 10,
        };
        (ns / per_ns).clamp(1, SLICE)
    }

    /// The guest waits in HLT with interrupts enabled: skip to the next
    /// timer deadline (deterministic clock) or sleep until it (host clock).
    fn idle(&mut self) {
        let deadline = self.board.next_deadline();
        if let Some(clock) = &self.board.instruction_clock {
            if let Some(d) = deadline {
                clock.warp_to(d);
            }
            return;
        }
        let now = self.board.clock.now_ns();
        let wait = deadline.map_or(HALT_POLL, |d| {
            Duration::from_nanos(d.saturating_sub(now)).min(HALT_POLL)
        });
        if !wait.is_zero() && !self.attention.any() {
            std::thread::sleep(wait);
        }
    }
}

/// A handle that feeds bytes into COM1's receiver, from any thread.
#[derive(Clone)]
pub struct SerialInput {
    port: Arc<Mutex<UartPorts>>,
}

impl SerialInput {
    /// Offers `bytes`; returns how many the receive FIFO took.
    pub fn try_send(&self, bytes: &[u8]) -> usize {
        self.port.lock().uart().enqueue_input(bytes)
    }

    /// Delivers all of `bytes`, waiting while the guest has not yet drained
    /// the receive FIFO (the flow control a terminal would apply).
    pub fn send_all(&self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let taken = self.try_send(bytes);
            bytes = &bytes[taken..];
            if !bytes.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Starts a thread that copies the process's stdin into COM1 until EOF.
pub fn forward_stdin(input: SerialInput) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("stdin-to-com1".into())
        .spawn(move || {
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => input.send_all(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::warn!(target: "console", %e, "stdin closed");
                        break;
                    }
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_debug_exit_code_is_value_shifted_or_one() {
        assert_eq!(ExitStatus::DebugExit { value: 0x10 }.code(), 0x21);
        assert_eq!(ExitStatus::DebugExit { value: 0 }.code(), 1);
    }

    #[test]
    fn exit_status_emulator_codes_are_even_and_non_zero() {
        for s in [
            ExitStatus::TripleFault { rip: 0 },
            ExitStatus::HaltedForever { rip: 0 },
        ] {
            assert!(s.code() != 0 && s.code() % 2 == 0);
            assert!(s.is_failure());
        }
    }

    #[test]
    fn machine_halted_with_interrupts_disabled_ends_run() {
        let mut m = Machine::builder()
            .memory(1 << 20)
            .serial_output(Box::new(std::io::sink()))
            .build()
            .unwrap();
        m.load(GuestAddress(0x7000), &[0xFA, 0xF4]).unwrap(); // cli; hlt
        m.cpu_mut().set_real_mode_entry(0, 0x7000);
        assert!(matches!(m.run().unwrap(), ExitStatus::HaltedForever { .. }));
    }

    #[test]
    fn machine_serial_input_reaches_uart() {
        let m = Machine::builder()
            .memory(1 << 20)
            .serial_output(Box::new(std::io::sink()))
            .build()
            .unwrap();
        assert_eq!(
            m.serial_input().try_send(b"ab"),
            1,
            "16450 mode holds one byte"
        );
        let mut lsr = [0u8];
        m.bus().io.read(Port(COM1_BASE + 5), &mut lsr);
        assert_eq!(lsr[0] & 1, 1);
    }
}
