//! The PC platform around the processor, wired as a Q35 board wires it:
//! the local APIC, the IOAPIC and the i8259 pair, the ISA interrupt lines
//! (each to a PIC input and to an IOAPIC pin, IRQ0 arriving at GSI 2 as the
//! MADT's override says), the PIT, RTC/CMOS, HPET, the ACPI fixed hardware,
//! the i8042, the reset-control port and the POST port.
//!
//! Also the clock every timer and the TSC derive from ([`ClockKind`]): host
//! time for interactive runs, or retired instructions for deterministic
//! ones, and [`CpuApic`], the CPU's view of its local APIC.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cpu::InterruptSource;
use devices::acpi_pm::{AcpiPm, AcpiPmPorts, ACPI_PM_BASE, ACPI_PM_PORTS};
use devices::clock::{Clock, HostClock, TimerDevice};
use devices::hpet::{Hpet, HpetMmio, HPET_BASE, HPET_SIZE};
use devices::i8042::{I8042Port, I8042, I8042_COMMAND_PORT, I8042_DATA_PORT};
use devices::ioapic::{
    IoApic, IoApicEoi, IoApicMmio, IoApicPin, IOAPIC_BASE, IOAPIC_PINS, IOAPIC_SIZE,
};
use devices::lapic::{LapicAdapter, LapicLint, LapicMsi, LocalApic, LAPIC_BASE, LAPIC_SIZE};
use devices::pic::{
    Pic, PicPin, PicPorts, SharedPic, ELCR_BASE, PIC_MASTER_BASE, PIC_PORTS, PIC_SLAVE_BASE,
};
use devices::pit::{Pit, PitPorts, PortBPort, PIT_BASE, PIT_PORTS, PORT_B};
use devices::power::PowerControl;
use devices::reset::{PostCode, ResetControl, POST_CODE_PORT, RESET_CONTROL_PORT};
use devices::rtc::{Rtc, RtcPorts, RTC_BASE, RTC_PORTS};
use devices::{IrqFanOut, IrqLine, IrqSwitch};
use mem::{Attention, Bus, BusError, GuestAddress, Port, RamLayout};
use parking_lot::Mutex;

/// TSC ticks per second. One tick per nanosecond keeps TSC arithmetic
/// exact; Linux calibrates against the HPET and PIT whatever the rate.
pub const TSC_HZ: u64 = 1_000_000_000;

/// The RTC's date at power-on in deterministic mode: 2026-01-01 00:00 UTC.
pub const DETERMINISTIC_EPOCH: i64 = 1_767_225_600;

/// Where guest time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockKind {
    /// Host monotonic time: timers fire in real time.
    Host,
    /// Deterministic: time advances `ns_per_insn` nanoseconds per retired
    /// instruction, and jumps to the next timer deadline when the guest
    /// halts (QEMU's `-icount shift=N,sleep=off`).
    Instructions { ns_per_insn: u64 },
}

/// Guest time from the CPU's retired-instruction count, plus the time
/// skipped while the guest waited in HLT.
pub struct InstructionClock {
    instret: Arc<AtomicU64>,
    ns_per_insn: u64,
    skipped: AtomicU64,
}

impl InstructionClock {
    /// Guest nanoseconds per retired instruction.
    pub fn ns_per_insn(&self) -> u64 {
        self.ns_per_insn
    }

    /// Skips ahead to `deadline` (the guest is halted until then).
    pub fn warp_to(&self, deadline: u64) {
        let now = self.now_ns();
        if deadline > now {
            self.skipped.fetch_add(deadline - now, Ordering::Relaxed);
        }
    }
}

impl Clock for InstructionClock {
    fn now_ns(&self) -> u64 {
        self.instret.load(Ordering::Relaxed) * self.ns_per_insn
            + self.skipped.load(Ordering::Relaxed)
    }
}

type SharedTimer = Arc<Mutex<dyn TimerDevice + Send>>;

/// The platform devices and how to drive their timers.
pub struct Board {
    pub clock: Arc<dyn Clock>,
    /// Set in deterministic mode, to skip halted time.
    pub instruction_clock: Option<Arc<InstructionClock>>,
    pub power: PowerControl,
    apic: CpuApic,
    ioapic: devices::ioapic::SharedIoApic,
    timers: Vec<SharedTimer>,
}

/// An ISA interrupt line as the board routes it: to the i8259 input of the
/// same number and to the IOAPIC pin the MADT names (IRQ0 → GSI 2).
fn isa_irq(pic: &SharedPic, ioapic: &devices::ioapic::SharedIoApic, irq: u8) -> IrqFanOut {
    let gsi = if irq == 0 { 2 } else { irq as usize };
    IrqFanOut::new(vec![
        Box::new(PicPin::new(pic.clone(), irq)),
        Box::new(IoApicPin::new(ioapic.clone(), gsi)),
    ])
}

impl Board {
    /// Builds the platform devices and maps them on `bus`.
    pub fn new(
        bus: &Bus,
        attention: &Arc<Attention>,
        layout: RamLayout,
        clock_kind: ClockKind,
        instret: Arc<AtomicU64>,
    ) -> Result<Board, BusError> {
        let (clock, instruction_clock): (Arc<dyn Clock>, _) = match clock_kind {
            ClockKind::Host => (Arc::new(HostClock::new()), None),
            ClockKind::Instructions { ns_per_insn } => {
                let c = Arc::new(InstructionClock {
                    instret,
                    ns_per_insn,
                    skipped: AtomicU64::new(0),
                });
                (c.clone(), Some(c))
            }
        };
        let now = clock.now_ns();
        let power = PowerControl::new(attention.clone());

        let lapic = Arc::new(Mutex::new(LocalApic::new(
            0,
            true,
            TSC_HZ,
            attention.clone(),
        )));
        let ioapic = Arc::new(Mutex::new(IoApic::new(Arc::new(LapicMsi(lapic.clone())))));
        let eoi = Arc::new(IoApicEoi(ioapic.clone()));
        let adapter = || LapicAdapter::new(lapic.clone(), clock.clone(), eoi.clone());
        bus.mmio.insert(
            "lapic",
            GuestAddress(LAPIC_BASE),
            LAPIC_SIZE,
            Arc::new(Mutex::new(adapter())),
        )?;
        bus.mmio.insert(
            "ioapic",
            GuestAddress(IOAPIC_BASE),
            IOAPIC_SIZE,
            Arc::new(Mutex::new(IoApicMmio::new(ioapic.clone()))),
        )?;

        let pic = Arc::new(Mutex::new(Pic::new(Box::new(LapicLint::lint0(
            lapic.clone(),
        )))));
        bus.io.insert(
            "pic-master",
            Port(PIC_MASTER_BASE),
            PIC_PORTS,
            Arc::new(Mutex::new(PicPorts::master(pic.clone()))),
        )?;
        bus.io.insert(
            "pic-slave",
            Port(PIC_SLAVE_BASE),
            PIC_PORTS,
            Arc::new(Mutex::new(PicPorts::slave(pic.clone()))),
        )?;
        bus.io.insert(
            "elcr",
            Port(ELCR_BASE),
            2,
            Arc::new(Mutex::new(PicPorts::elcr(pic.clone()))),
        )?;
        let irq = |n: u8| isa_irq(&pic, &ioapic, n);

        // The HPET's legacy replacement disconnects the PIT from IRQ0 and the
        // RTC from IRQ8 through these switches.
        let pit_line = IrqSwitch::new(Box::new(irq(0)));
        let rtc_line = IrqSwitch::new(Box::new(irq(8)));

        let pit = Arc::new(Mutex::new(Pit::new(Box::new(pit_line.clone()), now)));
        bus.io.insert(
            "pit",
            Port(PIT_BASE),
            PIT_PORTS,
            Arc::new(Mutex::new(PitPorts::new(pit.clone(), clock.clone()))),
        )?;
        bus.io.insert(
            "port-b",
            Port(PORT_B),
            1,
            Arc::new(Mutex::new(PortBPort::new(pit.clone(), clock.clone()))),
        )?;

        // The RTC starts at the host's wall-clock time, or, in deterministic
        // mode, at a fixed date so that a replay sees the same calendar.
        let wall = match clock_kind {
            ClockKind::Instructions { .. } => DETERMINISTIC_EPOCH,
            ClockKind::Host => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        };
        let mut rtc = Rtc::new(Box::new(rtc_line.clone()), wall, now);
        rtc.set_memory_size(layout.low, layout.high);
        let rtc = Arc::new(Mutex::new(rtc));
        bus.io.insert(
            "rtc",
            Port(RTC_BASE),
            RTC_PORTS,
            Arc::new(Mutex::new(RtcPorts::new(rtc.clone(), clock.clone()))),
        )?;

        // HPET outputs by GSI; in legacy replacement mode timers 0 and 1
        // drive IRQ0 (GSI 2) and IRQ8 on both controllers.
        let outputs: Vec<Box<dyn IrqLine>> = (0..IOAPIC_PINS)
            .map(|gsi| -> Box<dyn IrqLine> {
                match gsi {
                    2 => Box::new(irq(0)),
                    8 => Box::new(irq(8)),
                    _ => Box::new(IoApicPin::new(ioapic.clone(), gsi)),
                }
            })
            .collect();
        let hpet = Arc::new(Mutex::new(Hpet::new(outputs, vec![pit_line, rtc_line])));
        bus.mmio.insert(
            "hpet",
            GuestAddress(HPET_BASE),
            HPET_SIZE,
            Arc::new(Mutex::new(HpetMmio::new(hpet.clone(), clock.clone()))),
        )?;

        let pm = Arc::new(Mutex::new(
            AcpiPm::new(Box::new(irq(9)), power.clone(), now).with_32bit_timer(),
        ));
        bus.io.insert(
            "acpi-pm",
            Port(ACPI_PM_BASE),
            ACPI_PM_PORTS,
            Arc::new(Mutex::new(AcpiPmPorts::new(pm.clone(), clock.clone()))),
        )?;

        let kbc = Arc::new(Mutex::new(I8042::new(
            Box::new(irq(1)),
            Box::new(irq(12)),
            power.clone(),
        )));
        bus.io.insert(
            "i8042-data",
            Port(I8042_DATA_PORT),
            1,
            Arc::new(Mutex::new(I8042Port::data(kbc.clone()))),
        )?;
        bus.io.insert(
            "i8042-cmd",
            Port(I8042_COMMAND_PORT),
            1,
            Arc::new(Mutex::new(I8042Port::command(kbc))),
        )?;
        bus.io.insert(
            "reset-control",
            Port(RESET_CONTROL_PORT),
            1,
            Arc::new(Mutex::new(ResetControl::new(power.clone()))),
        )?;
        bus.io.insert(
            "post",
            Port(POST_CODE_PORT),
            1,
            Arc::new(Mutex::new(PostCode::new())),
        )?;

        let timers: Vec<SharedTimer> = vec![lapic.clone(), pit, rtc, hpet, pm];
        Ok(Board {
            apic: CpuApic {
                lapic: adapter(),
                pic,
            },
            ioapic,
            clock,
            instruction_clock,
            power,
            timers,
        })
    }

    /// ISA interrupt line `irq`, for the devices the machine adds (COM1 on 4).
    pub fn isa_irq(&self, irq: u8) -> IrqFanOut {
        isa_irq(&self.apic.pic, &self.ioapic, irq)
    }

    /// Fires every timer whose deadline has passed.
    pub fn service_timers(&self) {
        let now = self.clock.now_ns();
        for t in &self.timers {
            let mut t = t.lock();
            if t.next_deadline().is_some_and(|d| d <= now) {
                t.service(now);
            }
        }
    }

    /// The earliest time any timer needs servicing.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers
            .iter()
            .filter_map(|t| t.lock().next_deadline())
            .min()
    }

    /// The CPU's view of the local APIC (and, behind it, the i8259).
    pub fn apic(&mut self) -> &mut CpuApic {
        &mut self.apic
    }
}

/// `cpu::InterruptSource` over the local APIC: fixed interrupts from its
/// IRR, or the i8259's vector when LINT0 is in ExtINT mode.
pub struct CpuApic {
    lapic: LapicAdapter,
    pic: SharedPic,
}

impl InterruptSource for CpuApic {
    fn pending(&self) -> bool {
        self.lapic.lock().interrupt_pending()
    }

    fn acknowledge(&mut self) -> Option<u8> {
        let extint = self.lapic.lock().extint_pending();
        if extint {
            // Never call into the PIC while holding the APIC's lock: the PIC
            // drives LINT0 while holding its own.
            return Some(self.pic.lock().acknowledge());
        }
        self.lapic.lock().acknowledge()
    }

    fn read_msr(&mut self, index: u32) -> Option<u64> {
        self.lapic.read_msr(index)?.ok()
    }

    fn write_msr(&mut self, index: u32, value: u64) -> bool {
        matches!(self.lapic.write_msr(index, value), Some(Ok(())))
    }

    fn cr8(&self) -> u8 {
        self.lapic.cr8() as u8
    }

    fn set_cr8(&mut self, value: u8) {
        self.lapic.set_cr8(value as u64);
    }
}
