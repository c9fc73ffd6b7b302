//! The local APIC of a single processor (Intel SDM Vol. 3A, chapter 11
//! "Advanced Programmable Interrupt Controller (APIC)"; section numbers
//! below are that chapter's; older editions number it chapter 10, with the
//! same section numbering after the first digit).
//!
//! [`LocalApic`] is the register state machine behind the xAPIC MMIO page at
//! [`LAPIC_BASE`] (11.4.1, Table 11-1) and the x2APIC MSRs 0x800..=0x8FF
//! (11.12.1.2, Table 11-6): ID, version, TPR/APR/PPR, EOI, LDR/DFR, SVR, the
//! 256-bit ISR/TMR/IRR, ESR, ICR, the six LVT entries and the timer. It also
//! owns IA32_APIC_BASE (11.4.4) and IA32_TSC_DEADLINE (11.5.4.1), which the
//! machine forwards from the CPU's RDMSR/WRMSR.
//!
//! How interrupts get in:
//! - [`LocalApic::accept_msi`] takes a message from the IOAPIC or a PCI
//!   function (11.11, compatibility format; later from VT-d interrupt
//!   remapping) — [`LapicMsi`] is the [`MsiSink`] that does it.
//! - [`LocalApic::accept`] puts a fixed interrupt in IRR directly.
//! - LINT0/LINT1 ([`LapicLint`], an [`IrqLine`]): on a PC, LINT0 is the
//!   i8259's INTR and LINT1 is NMI (11.5.1).
//! - The timer and self-IPIs, from inside.
//!
//! How they get out, to the CPU (which the machine connects through its
//! `cpu::InterruptSource`):
//! - [`LocalApic::pending_vector`] / [`LocalApic::acknowledge`]: the
//!   highest IRR vector whose priority class beats PPR (11.8.3), moved to
//!   ISR on acknowledgement, or the spurious vector if it went away (11.9).
//! - [`LocalApic::extint_pending`]: LINT0 is in ExtINT mode and asserted,
//!   so the machine should run the i8259's INTA cycle instead
//!   (`Pic::acknowledge`). (With IA32_APIC_BASE.EN clear, LINT0 is INTR
//!   itself.) Never call into the PIC while holding the APIC's lock: the
//!   PIC drives LINT0 while holding its own.
//! - [`LocalApic::nmi_pending`] / [`LocalApic::take_nmi`].
//! - Whenever something may have become deliverable, the APIC raises
//!   [`Attention::INTERRUPT`] so the CPU looks between blocks.
//!
//! EOI (11.8.5): a write to EOI retires the highest ISR bit; if that vector
//! was accepted level-triggered (TMR set), the write returns it so the
//! caller can broadcast it to the IOAPIC. [`LapicAdapter`] does that through
//! an [`EoiSink`] *after* releasing the APIC's lock, because the IOAPIC may
//! answer with a new message to this very APIC.
//!
//! The timer (11.5.4) counts at [`LAPIC_BUS_HZ`] = 1 GHz before division —
//! QEMU's `APIC_BUS_CYCLE_NS = 1`, so one count is one nanosecond divided by
//! the divide configuration. Linux calibrates the APIC timer against the
//! PIT or HPET (or uses TSC-deadline mode), so any consistent rate works;
//! 1 GHz makes the arithmetic exact. One-shot, periodic and TSC-deadline
//! modes are implemented; the TSC value of a time is
//! `ticks_at(now_ns, tsc_hz) + tsc_offset` (see
//! [`LocalApic::set_tsc_offset`]).
//!
//! Power-on state (11.4.7.1) with one board-level addition, as QEMU does it:
//! on the bootstrap processor LINT0 starts unmasked in ExtINT mode (0x700),
//! the "virtual wire" a BIOS would have set up, so i8259 interrupts reach
//! the CPU before the kernel programs the APIC.
//!
//! Single-processor simplifications: this APIC is the only one on the bus.
//! IPIs whose destination does not include it go nowhere; INIT, SIPI and SMI
//! are ignored (logged); lowest-priority delivery is fixed delivery to us;
//! delivery status always reads idle; APR is computed but arbitrates with
//! nobody. Suppress-EOI-broadcast and CMCI are not offered (the version
//! register says 6 LVT entries and no EOI-broadcast suppression).

use std::sync::Arc;

use mem::{Attention, MsiMessage, MsiSink};
use parking_lot::{Mutex, MutexGuard};

use crate::clock::{ns_at_tick, ticks_at, Clock, TimerDevice, NS_PER_SEC};
use crate::irq::{EoiSink, IrqLine};

/// The default physical address of the xAPIC page.
pub const LAPIC_BASE: u64 = 0xFEE0_0000;
/// The size of the xAPIC page.
pub const LAPIC_SIZE: u64 = 0x1000;
/// The timer's input clock before the divide configuration.
pub const LAPIC_BUS_HZ: u64 = NS_PER_SEC;
/// The version register: version 0x14 (an integrated APIC), max LVT entry 5
/// (six entries: timer, thermal, performance, LINT0, LINT1, error), no
/// EOI-broadcast suppression (11.4.8, Figure 11-7).
pub const LAPIC_VERSION: u32 = 0x0005_0014;
/// IA32_APIC_BASE.
pub const MSR_APIC_BASE: u32 = 0x1B;
/// IA32_TSC_DEADLINE.
pub const MSR_TSC_DEADLINE: u32 = 0x6E0;
/// The x2APIC MSR range (11.12.1.2).
pub const X2APIC_MSR_FIRST: u32 = 0x800;
pub const X2APIC_MSR_LAST: u32 = 0x8FF;

/// Register offsets in the xAPIC page (Table 11-1). The x2APIC MSR of a
/// register is `0x800 + offset / 16`.
pub mod reg {
    pub const ID: u32 = 0x020;
    pub const VERSION: u32 = 0x030;
    pub const TPR: u32 = 0x080;
    pub const APR: u32 = 0x090;
    pub const PPR: u32 = 0x0A0;
    pub const EOI: u32 = 0x0B0;
    pub const RRD: u32 = 0x0C0;
    pub const LDR: u32 = 0x0D0;
    pub const DFR: u32 = 0x0E0;
    pub const SVR: u32 = 0x0F0;
    /// ISR bits 31:0; the next seven registers follow at 0x10 strides.
    pub const ISR: u32 = 0x100;
    pub const TMR: u32 = 0x180;
    pub const IRR: u32 = 0x200;
    pub const ESR: u32 = 0x280;
    pub const LVT_CMCI: u32 = 0x2F0;
    pub const ICR_LOW: u32 = 0x300;
    pub const ICR_HIGH: u32 = 0x310;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_THERMAL: u32 = 0x330;
    pub const LVT_PERF: u32 = 0x340;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_LINT1: u32 = 0x360;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3E0;
    /// SELF IPI (x2APIC only, MSR 0x83F).
    pub const SELF_IPI: u32 = 0x3F0;
}

/// IA32_APIC_BASE bits (11.4.4, Figure 11-5; 11.12.1).
pub mod apic_base {
    /// The processor is the bootstrap processor (read-only here).
    pub const BSP: u64 = 1 << 8;
    /// x2APIC mode enable.
    pub const EXTD: u64 = 1 << 10;
    /// APIC global enable.
    pub const EN: u64 = 1 << 11;
    /// The page address (52-bit physical addresses).
    pub const BASE: u64 = 0x000F_FFFF_FFFF_F000;
}

/// Spurious-interrupt vector register bits (11.9, Figure 11-23).
pub mod svr {
    pub const VECTOR: u32 = 0xFF;
    /// APIC software enable.
    pub const ENABLE: u32 = 1 << 8;
    /// Focus processor checking disabled.
    pub const FOCUS_DISABLED: u32 = 1 << 9;
    pub const WRITABLE: u32 = 0x3FF;
}

/// LVT entry bits (11.5.1, Figure 11-8).
pub mod lvt {
    pub const VECTOR: u32 = 0xFF;
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    /// Delivery status (read-only; always idle here).
    pub const DELIVERY_STATUS: u32 = 1 << 12;
    /// LINT input polarity: 1 = active low (stored, see [`super`]).
    pub const POLARITY_LOW: u32 = 1 << 13;
    /// LINT remote IRR (read-only).
    pub const REMOTE_IRR: u32 = 1 << 14;
    /// LINT trigger mode: 1 = level.
    pub const LEVEL: u32 = 1 << 15;
    pub const MASK: u32 = 1 << 16;
    /// Timer mode, bits 18:17: 00 one-shot, 01 periodic, 10 TSC-deadline.
    pub const TIMER_MODE_SHIFT: u32 = 17;
    pub const TIMER_MODE: u32 = 3 << TIMER_MODE_SHIFT;
}

/// Error status register bits (11.5.3, Figure 11-9).
pub mod esr {
    /// Send illegal vector: an IPI with a vector below 16.
    pub const SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
    /// Receive illegal vector: an interrupt with a vector below 16.
    pub const RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
    /// Illegal register address.
    pub const ILLEGAL_REGISTER: u32 = 1 << 7;
}

/// Interrupt command register bits (11.6.1, Figure 11-12).
pub mod icr {
    pub const VECTOR: u64 = 0xFF;
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    pub const DEST_LOGICAL: u64 = 1 << 11;
    pub const DELIVERY_STATUS: u64 = 1 << 12;
    pub const LEVEL_ASSERT: u64 = 1 << 14;
    pub const TRIGGER_LEVEL: u64 = 1 << 15;
    pub const SHORTHAND_SHIFT: u32 = 18;
    /// The bits of the low half software can set.
    pub const LOW_WRITABLE: u64 = 0x000C_CFFF;
}

/// Delivery modes (ICR, LVT, MSI data; 11.6.1, 11.11.2).
pub mod delivery {
    pub const FIXED: u8 = 0;
    pub const LOWEST_PRIORITY: u8 = 1;
    pub const SMI: u8 = 2;
    pub const NMI: u8 = 4;
    pub const INIT: u8 = 5;
    pub const STARTUP: u8 = 6;
    pub const EXTINT: u8 = 7;
}

/// How an interrupt was signalled; a level-triggered one sets its TMR bit
/// and is broadcast to the IOAPIC at EOI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Edge,
    Level,
}

/// The LVT entries, in register order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lvt {
    Timer = 0,
    Thermal = 1,
    Perf = 2,
    Lint0 = 3,
    Lint1 = 4,
    Error = 5,
}

impl Lvt {
    const ALL: [Lvt; 6] = [
        Lvt::Timer,
        Lvt::Thermal,
        Lvt::Perf,
        Lvt::Lint0,
        Lvt::Lint1,
        Lvt::Error,
    ];

    /// The bits a write can set (Figure 11-8).
    fn writable(self) -> u32 {
        match self {
            Lvt::Timer => lvt::VECTOR | lvt::MASK | lvt::TIMER_MODE,
            Lvt::Thermal | Lvt::Perf => lvt::VECTOR | 0x700 | lvt::MASK,
            Lvt::Lint0 | Lvt::Lint1 => {
                lvt::VECTOR | 0x700 | lvt::POLARITY_LOW | lvt::LEVEL | lvt::MASK
            }
            Lvt::Error => lvt::VECTOR | lvt::MASK,
        }
    }

    fn from_offset(offset: u32) -> Option<Lvt> {
        let i = offset.checked_sub(reg::LVT_TIMER)? / 0x10;
        Lvt::ALL.get(i as usize).copied()
    }
}

/// The LVT timer's mode field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    OneShot,
    Periodic,
    TscDeadline,
}

/// Why an MSR access or an IA32_APIC_BASE write is refused. The CPU turns
/// every one of these into #GP(0) (11.12.1.3, 11.12.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApicMsrError {
    #[error("MSR {0:#x} is an x2APIC register but the APIC is not in x2APIC mode")]
    NotX2Apic(u32),
    #[error("MSR {0:#x} is not an implemented APIC register")]
    Unimplemented(u32),
    #[error("MSR {0:#x} is read-only")]
    ReadOnly(u32),
    #[error("MSR {0:#x} is write-only")]
    WriteOnly(u32),
    #[error("value {value:#x} sets reserved bits of MSR {index:#x}")]
    Reserved { index: u32, value: u64 },
    #[error("IA32_APIC_BASE cannot go from {from:#x} to {to:#x}")]
    InvalidTransition { from: u64, to: u64 },
}

/// The timer's counting state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerState {
    /// Initial count register.
    pub initial: u32,
    /// Divide configuration register (bits 0, 1 and 3).
    pub divide: u32,
    /// The current count is `start_count` at `start_ns` and counts down from
    /// there.
    pub start_ns: u64,
    pub start_count: u32,
    /// A count is loaded (the current count register is meaningful).
    pub running: bool,
    /// When the timer next expires (any mode).
    pub fire_ns: Option<u64>,
    /// IA32_TSC_DEADLINE as written (0: disarmed).
    pub tsc_deadline: u64,
}

/// The local APIC's registers, apart from its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LapicState {
    pub apic_base: u64,
    /// The APIC id (xAPIC: 8 bits in `ID[31:24]`; x2APIC: 32 bits).
    pub id: u32,
    pub tpr: u8,
    /// xAPIC logical destination register (bits 31:24).
    pub ldr: u32,
    /// xAPIC destination format register (bits 31:28; the rest read 1).
    pub dfr: u32,
    pub svr: u32,
    pub isr: [u32; 8],
    pub tmr: [u32; 8],
    pub irr: [u32; 8],
    /// ESR as last latched by a write.
    pub esr: u32,
    /// Errors detected since the last ESR write.
    pub esr_pending: u32,
    pub icr: u64,
    pub lvt: [u32; 6],
    pub timer: TimerState,
    /// LINT0 and LINT1 input levels.
    pub lint: [bool; 2],
    pub nmi_pending: bool,
}

impl LapicState {
    /// The state at power-on (11.4.7.1) of the APIC with id `id`.
    pub fn power_on(id: u32, bsp: bool) -> LapicState {
        let mut lvt = [lvt::MASK; 6];
        if bsp {
            // The BIOS's virtual wire: LINT0 ExtINT, unmasked (QEMU does
            // the same in apic_reset_common).
            lvt[Lvt::Lint0 as usize] = u32::from(delivery::EXTINT) << lvt::DELIVERY_MODE_SHIFT;
        }
        LapicState {
            apic_base: LAPIC_BASE | apic_base::EN | if bsp { apic_base::BSP } else { 0 },
            id,
            tpr: 0,
            ldr: 0,
            dfr: 0xFFFF_FFFF,
            svr: 0xFF,
            isr: [0; 8],
            tmr: [0; 8],
            irr: [0; 8],
            esr: 0,
            esr_pending: 0,
            icr: 0,
            lvt,
            timer: TimerState::default(),
            lint: [false; 2],
            nmi_pending: false,
        }
    }
}

fn test_bit(bits: &[u32; 8], v: u8) -> bool {
    bits[usize::from(v >> 5)] & (1 << (v & 31)) != 0
}

fn set_bit(bits: &mut [u32; 8], v: u8, on: bool) {
    let w = &mut bits[usize::from(v >> 5)];
    if on {
        *w |= 1 << (v & 31);
    } else {
        *w &= !(1 << (v & 31));
    }
}

fn highest(bits: &[u32; 8]) -> Option<u8> {
    (0..8)
        .rev()
        .find(|&i| bits[i] != 0)
        .map(|i| (i as u8) * 32 + (31 - bits[i].leading_zeros()) as u8)
}

/// The local APIC.
pub struct LocalApic {
    s: LapicState,
    tsc_hz: u64,
    tsc_offset: u64,
    attention: Arc<Attention>,
}

impl std::fmt::Debug for LocalApic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalApic")
            .field("state", &self.s)
            .field("tsc_hz", &self.tsc_hz)
            .finish()
    }
}

impl LocalApic {
    /// The APIC with id `id` at power-on; `bsp` marks the bootstrap
    /// processor's. `tsc_hz` is the TSC frequency the machine advertises
    /// (for TSC-deadline mode); `attention` is raised when an interrupt may
    /// have become deliverable.
    pub fn new(id: u32, bsp: bool, tsc_hz: u64, attention: Arc<Attention>) -> LocalApic {
        LocalApic::from_state(LapicState::power_on(id, bsp), tsc_hz, attention)
    }

    /// An APIC in `state`.
    pub fn from_state(state: LapicState, tsc_hz: u64, attention: Arc<Attention>) -> LocalApic {
        LocalApic {
            s: state,
            tsc_hz,
            tsc_offset: 0,
            attention,
        }
    }

    /// The registers.
    pub fn state(&self) -> &LapicState {
        &self.s
    }

    /// Sets the offset in `TSC = ticks_at(now_ns, tsc_hz) + offset`, which
    /// TSC-deadline mode uses to turn a deadline into a time. The machine
    /// keeps it equal to the CPU's TSC (update it when the guest writes
    /// IA32_TIME_STAMP_COUNTER).
    pub fn set_tsc_offset(&mut self, offset: u64) {
        self.tsc_offset = offset;
    }

    /// INIT (11.4.7.3): back to the power-on state, keeping the id,
    /// IA32_APIC_BASE and the input levels.
    pub fn init(&mut self) {
        let bsp = self.s.apic_base & apic_base::BSP != 0;
        let mut s = LapicState::power_on(self.s.id, bsp);
        s.apic_base = self.s.apic_base;
        s.lint = self.s.lint;
        self.s = s;
    }

    fn hw_enabled(&self) -> bool {
        self.s.apic_base & apic_base::EN != 0
    }

    /// Whether the APIC is in x2APIC mode.
    pub fn x2apic(&self) -> bool {
        self.s.apic_base & (apic_base::EN | apic_base::EXTD) == apic_base::EN | apic_base::EXTD
    }

    /// Whether the APIC is globally and software enabled.
    pub fn enabled(&self) -> bool {
        self.hw_enabled() && self.s.svr & svr::ENABLE != 0
    }

    fn lvt(&self, which: Lvt) -> u32 {
        self.s.lvt[which as usize]
    }

    fn timer_mode(&self) -> TimerMode {
        match (self.lvt(Lvt::Timer) & lvt::TIMER_MODE) >> lvt::TIMER_MODE_SHIFT {
            1 => TimerMode::Periodic,
            2 => TimerMode::TscDeadline,
            // 3 is reserved; it behaves as one-shot here.
            _ => TimerMode::OneShot,
        }
    }

    // ---- Priority (11.8.3) ----

    /// TPR (8 bits).
    pub fn tpr(&self) -> u8 {
        self.s.tpr
    }

    /// Writes TPR.
    pub fn set_tpr(&mut self, tpr: u8) {
        self.s.tpr = tpr;
        self.notify();
    }

    /// CR8: `TPR[7:4]` (SDM Vol. 3A, 11.8.6.1).
    pub fn cr8(&self) -> u64 {
        u64::from(self.s.tpr >> 4)
    }

    /// A MOV to CR8: `TPR[7:4]` = `CR8[3:0]`, `TPR[3:0]` = 0.
    pub fn set_cr8(&mut self, cr8: u64) {
        self.set_tpr(((cr8 & 0xF) as u8) << 4);
    }

    /// The processor priority register (11.8.3.1).
    pub fn ppr(&self) -> u8 {
        let isrv = highest(&self.s.isr).unwrap_or(0);
        if self.s.tpr >> 4 >= isrv >> 4 {
            self.s.tpr
        } else {
            isrv & 0xF0
        }
    }

    /// The arbitration priority register (11.8.2, Figure 11-15).
    fn apr(&self) -> u8 {
        let tpr = self.s.tpr;
        let isrv = highest(&self.s.isr).unwrap_or(0);
        let irrv = highest(&self.s.irr).unwrap_or(0);
        if tpr >> 4 >= irrv >> 4 && tpr >> 4 > isrv >> 4 {
            tpr
        } else {
            (tpr & 0xF0).max(isrv & 0xF0).max(irrv & 0xF0)
        }
    }

    // ---- Interrupt acceptance and delivery to the CPU ----

    /// Accepts a fixed interrupt with `vector` (11.8.4): IRR set, TMR set
    /// for a level-triggered one. Vectors 0..=15 are illegal: the ESR
    /// records a receive-illegal-vector error instead. Ignored while the
    /// APIC is globally disabled.
    pub fn accept(&mut self, vector: u8, trigger: Trigger) {
        if !self.hw_enabled() {
            return;
        }
        if vector < 16 {
            self.error(esr::RECEIVE_ILLEGAL_VECTOR);
            return;
        }
        set_bit(&mut self.s.irr, vector, true);
        set_bit(&mut self.s.tmr, vector, trigger == Trigger::Level);
        self.notify();
    }

    /// Accepts an interrupt message in compatibility format (11.11.1 and
    /// 11.11.2) addressed to this APIC: physical destination equal to its
    /// id or 0xFF (broadcast), or a logical destination that matches LDR.
    /// Fixed and lowest-priority messages land in IRR; NMI sets the NMI
    /// latch. SMI, INIT, SIPI and ExtINT messages, messages outside the
    /// 0xFEEx_xxxx window and remappable-format messages (which must have
    /// been translated by interrupt remapping before reaching an APIC) are
    /// dropped with a trace event.
    pub fn accept_msi(&mut self, msg: MsiMessage) {
        if msg.address >> 20 != 0xFEE {
            tracing::debug!(target: "lapic", address = format_args!("{:#x}", msg.address), "message outside the interrupt window dropped");
            return;
        }
        if msg.address & (1 << 4) != 0 {
            tracing::debug!(target: "lapic", address = format_args!("{:#x}", msg.address), requester = msg.requester, "remappable-format message without interrupt remapping dropped");
            return;
        }
        let dest = ((msg.address >> 12) & 0xFF) as u32;
        let logical = msg.address & (1 << 2) != 0;
        let vector = (msg.data & 0xFF) as u8;
        let mode = ((msg.data >> 8) & 7) as u8;
        let trigger = if msg.data & (1 << 15) != 0 {
            Trigger::Level
        } else {
            Trigger::Edge
        };
        if !self.matches_xapic_destination(dest, logical) {
            return;
        }
        self.deliver(mode, vector, trigger);
    }

    /// Delivers an interrupt of delivery mode `mode` addressed to us.
    fn deliver(&mut self, mode: u8, vector: u8, trigger: Trigger) {
        match mode {
            delivery::FIXED | delivery::LOWEST_PRIORITY => self.accept(vector, trigger),
            delivery::NMI => self.raise_nmi(),
            _ => {
                tracing::debug!(target: "lapic", mode, vector, "delivery mode not emulated; ignored");
            }
        }
    }

    fn raise_nmi(&mut self) {
        self.s.nmi_pending = true;
        self.attention.raise(Attention::INTERRUPT);
    }

    /// The vector the APIC would present to the processor: the highest IRR
    /// vector whose priority class is above PPR's, while the APIC is
    /// enabled (11.8.3.1, 11.8.4).
    pub fn pending_vector(&self) -> Option<u8> {
        if !self.enabled() {
            return None;
        }
        let irrv = highest(&self.s.irr)?;
        (irrv >> 4 > self.ppr() >> 4).then_some(irrv)
    }

    /// Whether LINT0 asks the processor to run the i8259's INTA cycle: the
    /// APIC is globally disabled and LINT0 (then plain INTR) is high, or
    /// LINT0 is unmasked in ExtINT mode and asserted.
    pub fn extint_pending(&self) -> bool {
        if !self.s.lint[0] {
            return false;
        }
        if !self.hw_enabled() {
            return true;
        }
        let e = self.lvt(Lvt::Lint0);
        e & lvt::MASK == 0 && ((e >> lvt::DELIVERY_MODE_SHIFT) & 7) as u8 == delivery::EXTINT
    }

    /// Whether a maskable interrupt (APIC vector or ExtINT) is waiting.
    pub fn interrupt_pending(&self) -> bool {
        self.pending_vector().is_some() || self.extint_pending()
    }

    /// The processor's interrupt acknowledge for an APIC vector (11.8.4):
    /// the highest deliverable IRR bit moves to ISR and its vector is
    /// returned. If IRR holds only vectors that PPR now blocks, the answer
    /// is the spurious vector and nothing changes (11.9). `None` when IRR
    /// is empty or the APIC is disabled. (ExtINT is the PIC's to answer.)
    pub fn acknowledge(&mut self) -> Option<u8> {
        if !self.enabled() {
            return None;
        }
        let irrv = highest(&self.s.irr)?;
        if irrv >> 4 <= self.ppr() >> 4 {
            return Some((self.s.svr & svr::VECTOR) as u8);
        }
        set_bit(&mut self.s.irr, irrv, false);
        set_bit(&mut self.s.isr, irrv, true);
        Some(irrv)
    }

    /// Whether an NMI is latched.
    pub fn nmi_pending(&self) -> bool {
        self.s.nmi_pending
    }

    /// Takes the NMI latch (the CPU is delivering the NMI).
    pub fn take_nmi(&mut self) -> bool {
        std::mem::take(&mut self.s.nmi_pending)
    }

    /// EOI (11.8.5): retires the highest-priority in-service vector.
    /// Returns it when it was level-triggered: the caller broadcasts it to
    /// the IOAPIC (after releasing this APIC's lock).
    #[must_use = "a level-triggered EOI must be broadcast to the IOAPIC"]
    pub fn eoi(&mut self) -> Option<u8> {
        let v = highest(&self.s.isr)?;
        set_bit(&mut self.s.isr, v, false);
        // A level-triggered fixed LINT interrupt's remote IRR clears at its
        // EOI (11.5.1).
        for (i, which) in [Lvt::Lint0, Lvt::Lint1].into_iter().enumerate() {
            let e = self.lvt(which);
            if e & lvt::REMOTE_IRR != 0 && (e & lvt::VECTOR) as u8 == v {
                self.s.lvt[which as usize] &= !lvt::REMOTE_IRR;
                self.evaluate_lint(i, false);
            }
        }
        self.notify();
        test_bit(&self.s.tmr, v).then_some(v)
    }

    /// Raises [`Attention::INTERRUPT`] if anything is deliverable.
    fn notify(&self) {
        if self.s.nmi_pending || self.interrupt_pending() {
            self.attention.raise(Attention::INTERRUPT);
        }
    }

    /// Records an error (11.5.3) and signals it through LVT error.
    fn error(&mut self, bits: u32) {
        self.s.esr_pending |= bits;
        let e = self.lvt(Lvt::Error);
        let vector = (e & lvt::VECTOR) as u8;
        // An illegal vector in LVT error itself is not reported again.
        if e & lvt::MASK == 0 && vector >= 16 && self.hw_enabled() {
            set_bit(&mut self.s.irr, vector, true);
            set_bit(&mut self.s.tmr, vector, false);
            self.notify();
        }
    }

    // ---- LINT0 / LINT1 (11.5.1) ----

    /// Drives LINT0 (on a PC, the i8259's INTR).
    pub fn set_lint0(&mut self, level: bool) {
        self.set_lint(0, level);
    }

    /// Drives LINT1 (on a PC, NMI).
    pub fn set_lint1(&mut self, level: bool) {
        self.set_lint(1, level);
    }

    fn set_lint(&mut self, pin: usize, level: bool) {
        let was = self.s.lint[pin];
        self.s.lint[pin] = level;
        if !self.hw_enabled() {
            // Globally disabled: LINT0 is INTR (see extint_pending) and
            // LINT1 is NMI, straight to the processor.
            if pin == 1 && level && !was {
                self.raise_nmi();
            }
            self.notify();
            return;
        }
        self.evaluate_lint(pin, level && !was);
        self.notify();
    }

    /// Delivers what LINT `pin`'s entry says for its current level;
    /// `rising` is whether the input just went high.
    fn evaluate_lint(&mut self, pin: usize, rising: bool) {
        let which = if pin == 0 { Lvt::Lint0 } else { Lvt::Lint1 };
        let e = self.lvt(which);
        if e & lvt::MASK != 0 {
            return;
        }
        let vector = (e & lvt::VECTOR) as u8;
        let level = self.s.lint[pin];
        // LINT1 is always edge-sensitive; LINT0 level-triggered fixed
        // interrupts hold remote IRR until their EOI.
        let level_triggered = e & lvt::LEVEL != 0 && pin == 0;
        match (((e >> lvt::DELIVERY_MODE_SHIFT) & 7) as u8, level_triggered) {
            (delivery::FIXED, true) if level && e & lvt::REMOTE_IRR == 0 => {
                self.s.lvt[which as usize] |= lvt::REMOTE_IRR;
                self.accept(vector, Trigger::Level);
            }
            (delivery::FIXED, false) if rising => self.accept(vector, Trigger::Edge),
            (delivery::NMI, _) if rising => self.raise_nmi(),
            // ExtINT is read through extint_pending; SMI and INIT are not
            // emulated.
            _ => {}
        }
    }

    // ---- Destinations (11.6.2) ----

    /// The logical APIC id: `LDR[31:24]` in xAPIC mode, the derived x2APIC
    /// LDR (11.12.10.2) in x2APIC mode.
    fn x2apic_ldr(&self) -> u32 {
        ((self.s.id >> 4) << 16) | (1 << (self.s.id & 0xF))
    }

    /// Whether an 8-bit xAPIC destination (`ICR[63:56]`, MSI address bits
    /// 19:12) names this APIC.
    fn matches_xapic_destination(&self, dest: u32, logical: bool) -> bool {
        let dest = dest & 0xFF;
        if dest == 0xFF {
            return true;
        }
        if !logical {
            return dest == self.s.id;
        }
        let ldr = if self.x2apic() {
            // Messages carry 8 bits; in x2APIC mode without remapping,
            // compare with the low byte of the cluster bitmap.
            self.x2apic_ldr() & 0xFF
        } else {
            self.s.ldr >> 24
        };
        if self.s.dfr >> 28 == 0xF || self.x2apic() {
            // Flat model: a bitmap of 8 APICs.
            ldr & dest != 0
        } else {
            // Cluster model: cluster in bits 7:4, bitmap in 3:0.
            (dest >> 4 == ldr >> 4 || dest >> 4 == 0xF) && dest & ldr & 0xF != 0
        }
    }

    /// Whether a 32-bit x2APIC destination names this APIC.
    fn matches_x2apic_destination(&self, dest: u32, logical: bool) -> bool {
        if dest == 0xFFFF_FFFF {
            return true;
        }
        if !logical {
            return dest == self.s.id;
        }
        let ldr = self.x2apic_ldr();
        dest >> 16 == ldr >> 16 && dest & ldr & 0xFFFF != 0
    }

    /// Sends the IPI in ICR (11.6.1). Only this APIC exists, so the
    /// question is whether it is a destination.
    fn send_ipi(&mut self) {
        let icr = self.s.icr;
        let vector = (icr & icr::VECTOR) as u8;
        let mode = ((icr >> icr::DELIVERY_MODE_SHIFT) & 7) as u8;
        let logical = icr & icr::DEST_LOGICAL != 0;
        let to_self = match (icr >> icr::SHORTHAND_SHIFT) & 3 {
            // Self, all including self.
            1 | 2 => true,
            // All excluding self.
            3 => false,
            _ if self.x2apic() => self.matches_x2apic_destination((icr >> 32) as u32, logical),
            _ => self.matches_xapic_destination((icr >> 56) as u32, logical),
        };
        if matches!(mode, delivery::FIXED | delivery::LOWEST_PRIORITY) && vector < 16 {
            self.error(esr::SEND_ILLEGAL_VECTOR);
            return;
        }
        tracing::trace!(target: "lapic", icr = format_args!("{icr:#x}"), to_self, "IPI");
        if to_self {
            // IPIs are edge-triggered except INIT level de-assert.
            self.deliver(mode, vector, Trigger::Edge);
        }
    }

    // ---- Timer (11.5.4) ----

    /// The divisor the divide configuration register selects (Figure
    /// 11-10): bits 3, 1:0 = 111 divide by 1, else by 2^(value + 1).
    fn divisor(&self) -> u64 {
        let d = self.s.timer.divide;
        let v = ((d >> 1) & 4) | (d & 3);
        if v == 7 {
            1
        } else {
            2 << v
        }
    }

    /// Nanoseconds per count.
    fn count_ns(&self) -> u64 {
        // LAPIC_BUS_HZ is 1 GHz: one bus clock per nanosecond.
        self.divisor()
    }

    /// The current count register at `now_ns`.
    fn current_count(&self, now_ns: u64) -> u32 {
        let t = &self.s.timer;
        if !t.running || self.timer_mode() == TimerMode::TscDeadline {
            return 0;
        }
        let e = now_ns.saturating_sub(t.start_ns) / self.count_ns();
        let start = u64::from(t.start_count);
        if e < start {
            return (start - e) as u32;
        }
        match self.timer_mode() {
            TimerMode::Periodic if t.initial != 0 => {
                let init = u64::from(t.initial);
                (init - (e - start) % init) as u32
            }
            _ => 0,
        }
    }

    /// Starts counting down from `count` at `now_ns` in the current mode.
    fn start_count(&mut self, count: u32, now_ns: u64) {
        let count_ns = self.count_ns();
        let t = &mut self.s.timer;
        t.start_ns = now_ns;
        t.start_count = count;
        t.running = count != 0;
        t.fire_ns = t
            .running
            .then(|| now_ns.saturating_add(u64::from(count).saturating_mul(count_ns)));
    }

    /// Restarts the count from its present value (after a change of mode or
    /// divisor): the count so far is kept, the rest runs at the new rate.
    fn rebase(&mut self, current: u32, now_ns: u64) {
        if self.s.timer.running && self.s.timer.fire_ns.is_some() {
            self.start_count(current, now_ns);
        }
    }

    /// The TSC at `now_ns`.
    fn tsc_at(&self, now_ns: u64) -> u64 {
        ticks_at(now_ns, self.tsc_hz).wrapping_add(self.tsc_offset)
    }

    /// IA32_TSC_DEADLINE as RDMSR sees it: the armed deadline in
    /// TSC-deadline mode, 0 otherwise (11.5.4.1).
    pub fn read_tsc_deadline(&self) -> u64 {
        if self.timer_mode() == TimerMode::TscDeadline {
            self.s.timer.tsc_deadline
        } else {
            0
        }
    }

    /// WRMSR IA32_TSC_DEADLINE (11.5.4.1): arms the timer for the time the
    /// TSC reaches `deadline` (at once if it already has); 0 disarms.
    /// Ignored unless the timer is in TSC-deadline mode.
    pub fn write_tsc_deadline(&mut self, deadline: u64, now_ns: u64) {
        if self.timer_mode() != TimerMode::TscDeadline {
            return;
        }
        self.service(now_ns);
        self.s.timer.tsc_deadline = deadline;
        self.s.timer.fire_ns = if deadline == 0 {
            None
        } else {
            let tsc = self.tsc_at(now_ns);
            let ahead = deadline.saturating_sub(tsc);
            Some(now_ns.saturating_add(ns_at_tick(ahead, self.tsc_hz)))
        };
    }

    /// The timer expired at `fire_ns`: signal it and work out the next
    /// expiry.
    fn fire_timer(&mut self, fire_ns: u64, now_ns: u64) {
        let e = self.lvt(Lvt::Timer);
        if e & lvt::MASK == 0 {
            self.accept((e & lvt::VECTOR) as u8, Trigger::Edge);
        }
        let next = match self.timer_mode() {
            TimerMode::Periodic if self.s.timer.initial != 0 => {
                let period = u64::from(self.s.timer.initial).saturating_mul(self.count_ns());
                // Missed periods coalesce into the one interrupt just sent.
                let k = (now_ns - fire_ns) / period + 1;
                Some(fire_ns.saturating_add(k.saturating_mul(period)))
            }
            TimerMode::TscDeadline => {
                self.s.timer.tsc_deadline = 0;
                None
            }
            _ => None,
        };
        self.s.timer.fire_ns = next;
    }

    // ---- Registers ----

    /// Reads the xAPIC register at `offset` (16-byte aligned, within the
    /// page) at `now_ns`. In x2APIC mode or while globally disabled the
    /// page is not there and reads all ones.
    pub fn read(&mut self, offset: u32, now_ns: u64) -> u32 {
        if !self.hw_enabled() || self.x2apic() {
            return 0xFFFF_FFFF;
        }
        match self.read_register(offset & 0xFF0, now_ns) {
            Some(v) => v,
            None => {
                self.error(esr::ILLEGAL_REGISTER);
                0
            }
        }
    }

    fn read_register(&self, offset: u32, now_ns: u64) -> Option<u32> {
        let s = &self.s;
        let bank = |bits: &[u32; 8], base: u32| bits[((offset - base) >> 4) as usize];
        Some(match offset {
            reg::ID if self.x2apic() => s.id,
            reg::ID => s.id << 24,
            reg::VERSION => LAPIC_VERSION,
            reg::TPR => u32::from(s.tpr),
            reg::APR => u32::from(self.apr()),
            reg::PPR => u32::from(self.ppr()),
            reg::RRD => 0,
            reg::LDR if self.x2apic() => self.x2apic_ldr(),
            reg::LDR => s.ldr,
            reg::DFR => s.dfr,
            reg::SVR => s.svr,
            0x100..=0x170 => bank(&s.isr, reg::ISR),
            0x180..=0x1F0 => bank(&s.tmr, reg::TMR),
            0x200..=0x270 => bank(&s.irr, reg::IRR),
            reg::ESR => s.esr,
            reg::ICR_LOW => (s.icr as u32) & !(icr::DELIVERY_STATUS as u32),
            reg::ICR_HIGH => (s.icr >> 32) as u32,
            reg::LVT_TIMER..=reg::LVT_ERROR => {
                // from_offset succeeds for every offset in this range.
                s.lvt[Lvt::from_offset(offset).map_or(0, |l| l as usize)]
            }
            reg::TIMER_INITIAL => s.timer.initial,
            reg::TIMER_CURRENT => self.current_count(now_ns),
            reg::TIMER_DIVIDE => s.timer.divide,
            _ => return None,
        })
    }

    /// Writes the xAPIC register at `offset` at `now_ns`. Returns the vector
    /// of a level-triggered EOI, to be broadcast to the IOAPIC.
    #[must_use = "a level-triggered EOI must be broadcast to the IOAPIC"]
    pub fn write(&mut self, offset: u32, value: u32, now_ns: u64) -> Option<u8> {
        if !self.hw_enabled() || self.x2apic() {
            return None;
        }
        let offset = offset & 0xFF0;
        match offset {
            reg::ID => self.s.id = value >> 24,
            reg::LDR => self.s.ldr = value & 0xFF00_0000,
            reg::DFR => self.s.dfr = value | 0x0FFF_FFFF,
            reg::ICR_LOW => {
                self.s.icr = (self.s.icr & !0xFFFF_FFFF) | (u64::from(value) & icr::LOW_WRITABLE);
                self.send_ipi();
            }
            reg::ICR_HIGH => {
                self.s.icr = (self.s.icr & 0xFFFF_FFFF) | (u64::from(value & 0xFF00_0000) << 32);
            }
            reg::VERSION | reg::APR | reg::PPR | reg::RRD | reg::TIMER_CURRENT => {}
            0x100..=0x270 => {}
            _ => {
                if !self.write_common(offset, value, now_ns) {
                    self.error(esr::ILLEGAL_REGISTER);
                }
                if offset == reg::EOI {
                    return self.eoi();
                }
            }
        }
        self.notify();
        None
    }

    /// The registers whose writes mean the same in both modes. Returns
    /// false for an offset that is none of them. (EOI itself is the
    /// caller's, since it returns a value.)
    fn write_common(&mut self, offset: u32, value: u32, now_ns: u64) -> bool {
        match offset {
            reg::TPR => self.s.tpr = value as u8,
            reg::EOI => {}
            reg::SVR => {
                self.s.svr = value & svr::WRITABLE;
                if value & svr::ENABLE == 0 {
                    // Software disable masks every LVT entry (11.4.7.2).
                    for e in &mut self.s.lvt {
                        *e |= lvt::MASK;
                    }
                }
            }
            reg::ESR => {
                // Write-then-read: a write latches the errors detected
                // since the last write (11.5.3).
                self.s.esr = std::mem::take(&mut self.s.esr_pending);
            }
            reg::LVT_TIMER..=reg::LVT_ERROR => {
                let Some(which) = Lvt::from_offset(offset) else {
                    return false;
                };
                self.write_lvt(which, value, now_ns);
            }
            reg::TIMER_INITIAL => {
                self.service(now_ns);
                if self.timer_mode() != TimerMode::TscDeadline {
                    self.s.timer.initial = value;
                    self.start_count(value, now_ns);
                }
            }
            reg::TIMER_DIVIDE => {
                self.service(now_ns);
                let current = self.current_count(now_ns);
                self.s.timer.divide = value & 0xB;
                self.rebase(current, now_ns);
            }
            _ => return false,
        }
        true
    }

    fn write_lvt(&mut self, which: Lvt, value: u32, now_ns: u64) {
        let i = which as usize;
        let mut value = value & which.writable();
        if self.s.svr & svr::ENABLE == 0 {
            value |= lvt::MASK;
        }
        if which != Lvt::Timer {
            self.s.lvt[i] = value | (self.s.lvt[i] & lvt::REMOTE_IRR);
            if matches!(which, Lvt::Lint0 | Lvt::Lint1) {
                self.evaluate_lint(i - Lvt::Lint0 as usize, false);
            }
            return;
        }
        // Settle expiries under the old entry first (a masked timer that
        // expired stays unsignalled after an unmask).
        self.service(now_ns);
        let old_mode = self.timer_mode();
        let current = self.current_count(now_ns);
        self.s.lvt[i] = value;
        let new_mode = self.timer_mode();
        if old_mode == new_mode {
            return;
        }
        if old_mode == TimerMode::TscDeadline || new_mode == TimerMode::TscDeadline {
            // "Transitions between TSC-deadline mode and other timer modes
            // also disarm the timer" (11.5.4.1).
            let t = &mut self.s.timer;
            t.running = false;
            t.fire_ns = None;
            t.tsc_deadline = 0;
        } else {
            self.rebase(current, now_ns);
        }
    }

    // ---- MSRs ----

    /// IA32_APIC_BASE.
    pub fn apic_base(&self) -> u64 {
        self.s.apic_base
    }

    /// WRMSR IA32_APIC_BASE (11.4.4, 11.12.5): EN and EXTD move between
    /// disabled, xAPIC and x2APIC along the legal transitions; clearing EN
    /// resets the APIC (keeping its id). BSP is read-only. The base field
    /// is stored; the machine decides whether to move the page (Linux never
    /// does).
    pub fn write_apic_base(&mut self, value: u64) -> Result<(), ApicMsrError> {
        let writable = apic_base::BASE | apic_base::EN | apic_base::EXTD | apic_base::BSP;
        if value & !writable != 0 {
            return Err(ApicMsrError::Reserved {
                index: MSR_APIC_BASE,
                value,
            });
        }
        let mode = |v: u64| v & (apic_base::EN | apic_base::EXTD);
        let (from, to) = (mode(self.s.apic_base), mode(value));
        let x2 = apic_base::EN | apic_base::EXTD;
        let invalid =
            to == apic_base::EXTD || (from == x2 && to == apic_base::EN) || (from == 0 && to == x2);
        if invalid {
            return Err(ApicMsrError::InvalidTransition {
                from: self.s.apic_base,
                to: value,
            });
        }
        let value = (value & !apic_base::BSP) | (self.s.apic_base & apic_base::BSP);
        if from != 0 && to == 0 {
            // Globally disabling the APIC loses its state (11.4.3).
            let bsp = value & apic_base::BSP != 0;
            let lint = self.s.lint;
            self.s = LapicState::power_on(self.s.id, bsp);
            self.s.lint = lint;
        }
        self.s.apic_base = value;
        self.notify();
        Ok(())
    }

    /// RDMSR of an x2APIC register (0x800..=0x8FF, 11.12.1.2).
    pub fn read_msr(&mut self, index: u32, now_ns: u64) -> Result<u64, ApicMsrError> {
        let offset = self.x2apic_offset(index)?;
        match offset {
            reg::ICR_LOW => return Ok(self.s.icr & !icr::DELIVERY_STATUS),
            reg::EOI | reg::SELF_IPI => return Err(ApicMsrError::WriteOnly(index)),
            reg::APR | reg::RRD | reg::DFR | reg::ICR_HIGH | reg::LVT_CMCI => {
                return Err(ApicMsrError::Unimplemented(index))
            }
            _ => {}
        }
        self.read_register(offset, now_ns)
            .map(u64::from)
            .ok_or(ApicMsrError::Unimplemented(index))
    }

    /// WRMSR of an x2APIC register. Returns the vector of a level-triggered
    /// EOI, to be broadcast to the IOAPIC.
    pub fn write_msr(
        &mut self,
        index: u32,
        value: u64,
        now_ns: u64,
    ) -> Result<Option<u8>, ApicMsrError> {
        let offset = self.x2apic_offset(index)?;
        let reserved = |mask: u64| {
            if value & !mask != 0 {
                Err(ApicMsrError::Reserved { index, value })
            } else {
                Ok(())
            }
        };
        match offset {
            reg::ICR_LOW => {
                reserved(0xFFFF_FFFF_0000_0000 | icr::LOW_WRITABLE)?;
                self.s.icr = value;
                self.send_ipi();
                self.notify();
                return Ok(None);
            }
            reg::EOI => {
                reserved(0)?;
                return Ok(self.eoi());
            }
            reg::ESR => reserved(0)?,
            reg::SELF_IPI => {
                reserved(0xFF)?;
                self.accept(value as u8, Trigger::Edge);
                return Ok(None);
            }
            reg::TPR => reserved(0xFF)?,
            reg::SVR => reserved(u64::from(svr::WRITABLE))?,
            reg::TIMER_DIVIDE => reserved(0xB)?,
            reg::LVT_TIMER..=reg::LVT_ERROR => {
                let which = Lvt::from_offset(offset).ok_or(ApicMsrError::Unimplemented(index))?;
                // Read-only status bits may come back in a read-modify-write.
                reserved(u64::from(
                    which.writable() | lvt::DELIVERY_STATUS | lvt::REMOTE_IRR,
                ))?;
            }
            reg::TIMER_INITIAL => reserved(0xFFFF_FFFF)?,
            reg::ID | reg::VERSION | reg::PPR | reg::LDR | reg::TIMER_CURRENT | 0x100..=0x270 => {
                return Err(ApicMsrError::ReadOnly(index))
            }
            _ => return Err(ApicMsrError::Unimplemented(index)),
        }
        if !self.write_common(offset, value as u32, now_ns) {
            return Err(ApicMsrError::Unimplemented(index));
        }
        self.notify();
        Ok(None)
    }

    /// The xAPIC offset an x2APIC MSR index stands for.
    fn x2apic_offset(&self, index: u32) -> Result<u32, ApicMsrError> {
        if !(X2APIC_MSR_FIRST..=X2APIC_MSR_LAST).contains(&index) {
            return Err(ApicMsrError::Unimplemented(index));
        }
        if !self.x2apic() {
            return Err(ApicMsrError::NotX2Apic(index));
        }
        Ok((index - X2APIC_MSR_FIRST) << 4)
    }
}

impl TimerDevice for LocalApic {
    fn next_deadline(&self) -> Option<u64> {
        self.s.timer.fire_ns
    }

    fn service(&mut self, now_ns: u64) {
        if let Some(fire) = self.s.timer.fire_ns {
            if fire <= now_ns {
                self.fire_timer(fire, now_ns);
            }
        }
    }
}

/// A [`LocalApic`] shared between the CPU, the MMIO bus and message senders.
pub type SharedLapic = Arc<Mutex<LocalApic>>;

/// The [`MsiSink`] that delivers messages to a shared [`LocalApic`]: the
/// IOAPIC's and PCI functions' sink when there is no interrupt remapping.
#[derive(Clone)]
pub struct LapicMsi(pub SharedLapic);

impl std::fmt::Debug for LapicMsi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LapicMsi").finish_non_exhaustive()
    }
}

impl MsiSink for LapicMsi {
    fn send(&self, msg: MsiMessage) {
        self.0.lock().accept_msi(msg);
    }
}

/// A LINT input of a shared [`LocalApic`], for the device that drives it
/// (the i8259's INTR on LINT0).
#[derive(Clone)]
pub struct LapicLint {
    lapic: SharedLapic,
    pin: usize,
}

impl LapicLint {
    /// LINT0.
    pub fn lint0(lapic: SharedLapic) -> LapicLint {
        LapicLint { lapic, pin: 0 }
    }

    /// LINT1.
    pub fn lint1(lapic: SharedLapic) -> LapicLint {
        LapicLint { lapic, pin: 1 }
    }
}

impl std::fmt::Debug for LapicLint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LapicLint").field("pin", &self.pin).finish()
    }
}

impl IrqLine for LapicLint {
    fn set_level(&self, high: bool) {
        self.lapic.lock().set_lint(self.pin, high);
    }
}

/// The adapter between a shared [`LocalApic`] and the two ways the CPU
/// reaches it: the xAPIC MMIO page (as a [`mem::BusDevice`]) and the MSRs
/// (IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC). It supplies the time from
/// its [`Clock`] and broadcasts level-triggered EOIs to its [`EoiSink`]
/// after releasing the APIC's lock. Clones share everything.
#[derive(Clone)]
pub struct LapicAdapter {
    lapic: SharedLapic,
    clock: Arc<dyn Clock>,
    eoi: Arc<dyn EoiSink>,
}

impl std::fmt::Debug for LapicAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LapicAdapter").finish_non_exhaustive()
    }
}

impl LapicAdapter {
    pub fn new(lapic: SharedLapic, clock: Arc<dyn Clock>, eoi: Arc<dyn EoiSink>) -> LapicAdapter {
        LapicAdapter { lapic, clock, eoi }
    }

    /// The APIC, locked.
    pub fn lock(&self) -> MutexGuard<'_, LocalApic> {
        self.lapic.lock()
    }

    fn broadcast(&self, eoi: Option<u8>) {
        if let Some(vector) = eoi {
            tracing::trace!(target: "lapic", vector, "EOI broadcast");
            self.eoi.eoi(vector);
        }
    }

    /// RDMSR for the APIC's MSRs: IA32_APIC_BASE, IA32_TSC_DEADLINE and
    /// 0x800..=0x8FF. `None` for any other index (not the APIC's).
    pub fn read_msr(&self, index: u32) -> Option<Result<u64, ApicMsrError>> {
        let now = self.clock.now_ns();
        let mut lapic = self.lapic.lock();
        match index {
            MSR_APIC_BASE => Some(Ok(lapic.apic_base())),
            MSR_TSC_DEADLINE => Some(Ok(lapic.read_tsc_deadline())),
            X2APIC_MSR_FIRST..=X2APIC_MSR_LAST => Some(lapic.read_msr(index, now)),
            _ => None,
        }
    }

    /// WRMSR for the APIC's MSRs; `None` for any other index.
    pub fn write_msr(&self, index: u32, value: u64) -> Option<Result<(), ApicMsrError>> {
        let now = self.clock.now_ns();
        let (result, eoi) = {
            let mut lapic = self.lapic.lock();
            match index {
                MSR_APIC_BASE => (lapic.write_apic_base(value), None),
                MSR_TSC_DEADLINE => {
                    lapic.write_tsc_deadline(value, now);
                    (Ok(()), None)
                }
                X2APIC_MSR_FIRST..=X2APIC_MSR_LAST => match lapic.write_msr(index, value, now) {
                    Ok(eoi) => (Ok(()), eoi),
                    Err(e) => (Err(e), None),
                },
                _ => return None,
            }
        };
        self.broadcast(eoi);
        Some(result)
    }

    /// MOV to CR8.
    pub fn set_cr8(&self, cr8: u64) {
        self.lapic.lock().set_cr8(cr8);
    }

    /// MOV from CR8.
    pub fn cr8(&self) -> u64 {
        self.lapic.lock().cr8()
    }
}

impl mem::BusDevice for LapicAdapter {
    /// Registers are 32 bits at 16-byte strides (11.4.1); any read of the
    /// first four bytes of a register returns those bytes, the other twelve
    /// read 0.
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let now = self.clock.now_ns();
        let mut lapic = self.lapic.lock();
        let mut cached: Option<(u64, [u8; 4])> = None;
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match offset.checked_add(i as u64) {
                Some(o) if o < LAPIC_SIZE && o & 0xF < 4 => {
                    let base = o & !0xF;
                    let bytes = match cached {
                        Some((b, v)) if b == base => v,
                        _ => {
                            let v = lapic.read(base as u32, now).to_le_bytes();
                            cached = Some((base, v));
                            v
                        }
                    };
                    bytes[(o & 3) as usize]
                }
                Some(o) if o < LAPIC_SIZE => 0,
                _ => 0xFF,
            };
        }
    }

    /// Only aligned writes of at least 32 bits reach a register (the low
    /// dword is written); others are dropped, as QEMU drops them.
    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset & 0xF != 0 || offset >= LAPIC_SIZE || data.len() < 4 {
            return;
        }
        let value = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let now = self.clock.now_ns();
        let eoi = self.lapic.lock().write(offset as u32, value, now);
        self.broadcast(eoi);
    }
}

#[cfg(test)]
mod tests {
    use mem::BusDevice;

    use super::*;
    use crate::clock::ManualClock;
    use crate::irq::EoiRecorder;

    const TSC_HZ: u64 = 2_000_000_000;

    fn apic() -> (LocalApic, Arc<Attention>) {
        let attention = Arc::new(Attention::default());
        (
            LocalApic::new(0, true, TSC_HZ, attention.clone()),
            attention,
        )
    }

    fn enabled() -> LocalApic {
        let (mut a, _) = apic();
        w(&mut a, reg::SVR, svr::ENABLE | 0xFF);
        a
    }

    fn w(a: &mut LocalApic, offset: u32, value: u32) {
        let eoi = a.write(offset, value, 0);
        assert_eq!(eoi, None);
    }

    fn msi(dest: u8, logical: bool, data: u32) -> MsiMessage {
        MsiMessage {
            address: 0xFEE0_0000 | u64::from(dest) << 12 | if logical { 4 } else { 0 },
            data,
            requester: 0,
        }
    }

    #[test]
    fn lapic_power_on_matches_sdm_and_qemu_bsp() {
        let (mut a, _) = apic();
        assert_eq!(a.read(reg::VERSION, 0), 0x0005_0014);
        assert_eq!(a.read(reg::SVR, 0), 0xFF);
        assert_eq!(a.read(reg::DFR, 0), 0xFFFF_FFFF);
        assert_eq!(a.read(reg::LVT_TIMER, 0), lvt::MASK);
        assert_eq!(a.read(reg::LVT_LINT0, 0), 0x700);
        assert_eq!(a.read(reg::LVT_LINT1, 0), lvt::MASK);
        assert_eq!(a.apic_base(), 0xFEE0_0900);
    }

    #[test]
    fn lapic_fixed_interrupt_is_acknowledged_into_isr_and_eoi_retires_it() {
        let mut a = enabled();
        a.accept(0x41, Trigger::Edge);
        assert_eq!(a.pending_vector(), Some(0x41));
        assert_eq!(a.acknowledge(), Some(0x41));
        assert_eq!(a.read(reg::ISR + 0x20, 0), 1 << 1);
        assert_eq!(a.read(reg::IRR + 0x20, 0), 0);
        assert_eq!(a.pending_vector(), None);
        assert_eq!(a.write(reg::EOI, 0, 0), None, "edge: no broadcast");
        assert_eq!(a.read(reg::ISR + 0x20, 0), 0);
    }

    #[test]
    fn lapic_level_interrupt_eoi_returns_vector_for_broadcast() {
        let mut a = enabled();
        a.accept_msi(msi(0, false, 0x8000 | 0x55));
        assert_ne!(a.read(reg::TMR + 0x20, 0) & (1 << 0x15), 0);
        assert_eq!(a.acknowledge(), Some(0x55));
        assert_eq!(a.write(reg::EOI, 0, 0), Some(0x55));
    }

    #[test]
    fn lapic_software_disabled_delivers_nothing() {
        let (mut a, _) = apic();
        a.accept(0x41, Trigger::Edge);
        assert_eq!(a.pending_vector(), None);
        assert_eq!(a.acknowledge(), None);
        w(&mut a, reg::SVR, svr::ENABLE | 0xFF);
        assert_eq!(a.pending_vector(), Some(0x41), "held in IRR meanwhile");
    }

    #[test]
    fn lapic_tpr_blocks_equal_and_lower_priority_classes() {
        let mut a = enabled();
        w(&mut a, reg::TPR, 0x50);
        a.accept(0x5F, Trigger::Edge);
        assert_eq!(a.pending_vector(), None);
        a.accept(0x61, Trigger::Edge);
        assert_eq!(a.pending_vector(), Some(0x61));
        assert_eq!(a.read(reg::PPR, 0), 0x50);
    }

    #[test]
    fn lapic_in_service_vector_raises_ppr() {
        let mut a = enabled();
        a.accept(0x80, Trigger::Edge);
        a.acknowledge();
        assert_eq!(a.read(reg::PPR, 0), 0x80);
        a.accept(0x85, Trigger::Edge);
        assert_eq!(a.pending_vector(), None, "same class as in service");
        a.accept(0x90, Trigger::Edge);
        assert_eq!(a.pending_vector(), Some(0x90));
    }

    #[test]
    fn lapic_acknowledge_blocked_by_tpr_gives_spurious_vector() {
        let mut a = enabled();
        a.accept(0x41, Trigger::Edge);
        a.set_cr8(0xF);
        assert_eq!(a.tpr(), 0xF0);
        assert_eq!(a.cr8(), 0xF);
        assert_eq!(a.acknowledge(), Some(0xFF));
        assert_ne!(a.read(reg::IRR + 0x20, 0) & 2, 0, "still requested");
    }

    #[test]
    fn lapic_illegal_vector_sets_esr_after_write() {
        let mut a = enabled();
        a.accept(5, Trigger::Edge);
        assert_eq!(a.read(reg::ESR, 0), 0, "not latched until written");
        w(&mut a, reg::ESR, 0);
        assert_eq!(a.read(reg::ESR, 0), esr::RECEIVE_ILLEGAL_VECTOR);
        w(&mut a, reg::ESR, 0);
        assert_eq!(a.read(reg::ESR, 0), 0);
        assert_eq!(a.pending_vector(), None);
    }

    #[test]
    fn lapic_error_lvt_signals_errors() {
        let mut a = enabled();
        w(&mut a, reg::LVT_ERROR, 0xFE);
        w(&mut a, reg::ICR_LOW, 0x4_0003); // self IPI, vector 3
        assert_eq!(a.pending_vector(), Some(0xFE));
        w(&mut a, reg::ESR, 0);
        assert_eq!(a.read(reg::ESR, 0), esr::SEND_ILLEGAL_VECTOR);
    }

    #[test]
    fn lapic_illegal_register_sets_esr() {
        let mut a = enabled();
        assert_eq!(a.read(0x2F0, 0), 0);
        w(&mut a, reg::ESR, 0);
        assert_eq!(a.read(reg::ESR, 0), esr::ILLEGAL_REGISTER);
    }

    fn irr_has(a: &LocalApic, v: u8) -> bool {
        test_bit(&a.state().irr, v)
    }

    #[test]
    fn lapic_self_ipi_shorthands_and_physical_destination() {
        let mut a = enabled();
        w(&mut a, reg::ICR_LOW, (1 << 18) | 0x40); // self
        w(&mut a, reg::ICR_LOW, (2 << 18) | 0x50); // all including self
        w(&mut a, reg::ICR_LOW, (3 << 18) | 0x60); // all excluding self
        w(&mut a, reg::ICR_HIGH, 0);
        w(&mut a, reg::ICR_LOW, 0x70); // physical 0: us
        w(&mut a, reg::ICR_HIGH, 0x0100_0000);
        w(&mut a, reg::ICR_LOW, 0x80); // physical 1: nobody
        assert!(irr_has(&a, 0x40));
        assert!(irr_has(&a, 0x50));
        assert!(!irr_has(&a, 0x60));
        assert!(irr_has(&a, 0x70));
        assert!(!irr_has(&a, 0x80));
        assert_eq!(
            a.read(reg::IRR + 0x20, 0),
            0x0001_0001,
            "0x40 and 0x50 in IRR[95:64]"
        );
        assert_eq!(a.read(reg::ICR_LOW, 0) & (1 << 12), 0, "idle");
        assert_eq!(a.read(reg::ICR_HIGH, 0), 0x0100_0000);
    }

    #[test]
    fn lapic_init_and_startup_ipis_are_ignored() {
        let mut a = enabled();
        w(&mut a, reg::ICR_HIGH, 0x0100_0000);
        w(&mut a, reg::ICR_LOW, 0xC500);
        w(&mut a, reg::ICR_LOW, 0x0600 | 0x9A);
        assert_eq!(a.pending_vector(), None);
        assert_eq!(a.read(reg::SVR, 0), svr::ENABLE | 0xFF);
    }

    #[test]
    fn lapic_logical_flat_destination_matches_ldr_bitmap() {
        let mut a = enabled();
        w(&mut a, reg::LDR, 0x0400_0000);
        a.accept_msi(msi(0x06, true, 0x31));
        a.accept_msi(msi(0x01, true, 0x32));
        assert_eq!(a.pending_vector(), Some(0x31));
        assert_eq!(a.state().irr[1], 1 << 0x11);
    }

    #[test]
    fn lapic_logical_cluster_destination_matches_cluster_and_bit() {
        let mut a = enabled();
        w(&mut a, reg::DFR, 0x0FFF_FFFF);
        w(&mut a, reg::LDR, 0x2100_0000); // cluster 2, bit 0
        a.accept_msi(msi(0x21, true, 0x41));
        a.accept_msi(msi(0x31, true, 0x42));
        assert_eq!(a.state().irr[2], 1 << 1);
    }

    #[test]
    fn lapic_msi_broadcast_nmi_and_others_dropped() {
        let mut a = enabled();
        a.accept_msi(msi(0xFF, false, 0x43));
        assert_eq!(a.pending_vector(), Some(0x43));
        a.accept_msi(msi(3, false, 0x44));
        a.accept_msi(msi(0, false, 0x500 | 0x45)); // INIT
        a.accept_msi(MsiMessage {
            address: 0xFEE0_0010,
            data: 0x46,
            requester: 0,
        });
        a.accept_msi(MsiMessage {
            address: 0xFED0_0000,
            data: 0x47,
            requester: 0,
        });
        assert_eq!(a.state().irr[2], 1 << 3);
        a.accept_msi(msi(0, false, 0x400));
        assert!(a.nmi_pending());
        assert!(a.take_nmi());
        assert!(!a.nmi_pending());
    }

    #[test]
    fn lapic_accept_raises_interrupt_attention() {
        let (mut a, attention) = apic();
        w(&mut a, reg::SVR, 0x1FF);
        attention.take(Attention::INTERRUPT);
        a.accept(0x30, Trigger::Edge);
        assert_eq!(attention.take(Attention::INTERRUPT), Attention::INTERRUPT);
    }

    #[test]
    fn lapic_oneshot_timer_counts_down_and_fires_once() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, 0x20);
        w(&mut a, reg::TIMER_DIVIDE, 0x3); // divide by 16
        assert_eq!(a.write(reg::TIMER_INITIAL, 1000, 100), None);
        assert_eq!(a.read(reg::TIMER_CURRENT, 100 + 16 * 250), 750);
        assert_eq!(a.next_deadline(), Some(100 + 16_000));
        a.service(100 + 15_999);
        assert_eq!(a.pending_vector(), None);
        a.service(100 + 16_000);
        assert_eq!(a.pending_vector(), Some(0x20));
        assert_eq!(a.next_deadline(), None);
        assert_eq!(a.read(reg::TIMER_CURRENT, 100 + 20_000), 0);
    }

    #[test]
    fn lapic_periodic_timer_reloads_and_coalesces_missed_periods() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, (1 << 17) | 0x21);
        w(&mut a, reg::TIMER_DIVIDE, 0xB); // divide by 1
        assert_eq!(a.write(reg::TIMER_INITIAL, 100, 0), None);
        a.service(100);
        assert_eq!(a.acknowledge(), Some(0x21));
        assert_eq!(a.write(reg::EOI, 0, 0), None);
        assert_eq!(a.next_deadline(), Some(200));
        a.service(1_050);
        assert_eq!(a.acknowledge(), Some(0x21));
        assert_eq!(a.pending_vector(), None, "one interrupt for ten periods");
        assert_eq!(a.next_deadline(), Some(1_100));
        assert_eq!(a.read(reg::TIMER_CURRENT, 1_050), 50);
        assert_eq!(a.read(reg::TIMER_CURRENT, 1_100), 100);
    }

    #[test]
    fn lapic_masked_timer_expiry_is_lost_after_unmask() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, lvt::MASK | 0x22);
        w(&mut a, reg::TIMER_DIVIDE, 0xB);
        assert_eq!(a.write(reg::TIMER_INITIAL, 10, 0), None);
        assert_eq!(a.write(reg::LVT_TIMER, 0x22, 50), None);
        a.service(60);
        assert_eq!(a.pending_vector(), None);
    }

    #[test]
    fn lapic_initial_count_zero_stops_timer() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, 0x23);
        assert_eq!(a.write(reg::TIMER_INITIAL, 10, 0), None);
        assert_eq!(a.write(reg::TIMER_INITIAL, 0, 5), None);
        assert_eq!(a.next_deadline(), None);
        assert_eq!(a.read(reg::TIMER_CURRENT, 6), 0);
    }

    #[test]
    fn lapic_divide_change_keeps_count_so_far() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, 0x24);
        w(&mut a, reg::TIMER_DIVIDE, 0xB);
        assert_eq!(a.write(reg::TIMER_INITIAL, 1000, 0), None);
        assert_eq!(a.write(reg::TIMER_DIVIDE, 0x0, 400), None); // divide by 2
        assert_eq!(a.read(reg::TIMER_CURRENT, 400), 600);
        assert_eq!(a.next_deadline(), Some(400 + 1200));
    }

    #[test]
    fn lapic_tsc_deadline_fires_at_converted_time_and_clears() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, (2 << 17) | 0x25);
        // 2 GHz TSC: 2 ticks per ns.
        a.write_tsc_deadline(3_000, 1_000);
        assert_eq!(a.read_tsc_deadline(), 3_000);
        assert_eq!(a.next_deadline(), Some(1_500));
        assert_eq!(a.write(reg::TIMER_INITIAL, 5, 1_000), None);
        assert_eq!(a.read(reg::TIMER_CURRENT, 1_000), 0);
        a.service(1_500);
        assert_eq!(a.pending_vector(), Some(0x25));
        assert_eq!(a.read_tsc_deadline(), 0);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn lapic_tsc_deadline_in_past_fires_now_and_zero_disarms() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, (2 << 17) | 0x26);
        a.set_tsc_offset(1_000_000);
        a.write_tsc_deadline(5, 10);
        assert_eq!(a.next_deadline(), Some(10));
        a.write_tsc_deadline(0, 10);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn lapic_tsc_deadline_ignored_outside_tsc_mode() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, 0x27);
        a.write_tsc_deadline(1_000, 0);
        assert_eq!(a.read_tsc_deadline(), 0);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn lapic_mode_change_to_tsc_deadline_disarms_count_timer() {
        let mut a = enabled();
        w(&mut a, reg::LVT_TIMER, 0x28);
        assert_eq!(a.write(reg::TIMER_INITIAL, 1000, 0), None);
        assert_eq!(a.write(reg::LVT_TIMER, (2 << 17) | 0x28, 10), None);
        assert_eq!(a.next_deadline(), None);
    }

    #[test]
    fn lapic_lint0_extint_follows_pic_intr() {
        let (mut a, attention) = apic();
        a.set_lint0(true);
        assert!(a.extint_pending());
        assert_eq!(attention.take(Attention::INTERRUPT), Attention::INTERRUPT);
        a.set_lint0(false);
        assert!(!a.extint_pending());
        w(&mut a, reg::SVR, 0x1FF);
        w(&mut a, reg::LVT_LINT0, lvt::MASK | 0x700);
        a.set_lint0(true);
        assert!(!a.extint_pending(), "masked");
    }

    #[test]
    fn lapic_globally_disabled_passes_lint0_and_lint1_through() {
        let (mut a, _) = apic();
        a.write_apic_base(LAPIC_BASE).unwrap();
        a.set_lint0(true);
        assert!(a.extint_pending());
        a.set_lint1(true);
        assert!(a.take_nmi());
        a.accept(0x40, Trigger::Edge);
        assert_eq!(a.state().irr, [0; 8]);
        assert_eq!(a.read(reg::ID, 0), 0xFFFF_FFFF, "no MMIO page");
    }

    #[test]
    fn lapic_lint0_level_fixed_holds_remote_irr_until_eoi() {
        let mut a = enabled();
        w(&mut a, reg::LVT_LINT0, lvt::LEVEL | 0x58);
        a.set_lint0(true);
        assert_ne!(a.read(reg::LVT_LINT0, 0) & lvt::REMOTE_IRR, 0);
        assert_eq!(a.acknowledge(), Some(0x58));
        assert_eq!(a.eoi(), Some(0x58), "accepted level-triggered");
        assert_eq!(a.pending_vector(), Some(0x58), "still high: again");
        a.set_lint0(false);
        assert_eq!(a.acknowledge(), Some(0x58));
        let _ = a.eoi();
        assert_eq!(a.read(reg::LVT_LINT0, 0) & lvt::REMOTE_IRR, 0);
        assert_eq!(a.pending_vector(), None);
    }

    #[test]
    fn lapic_lint1_nmi_on_rising_edge_only() {
        let mut a = enabled();
        w(&mut a, reg::LVT_LINT1, 0x400);
        a.set_lint1(true);
        assert!(a.take_nmi());
        a.set_lint1(true);
        assert!(!a.nmi_pending());
    }

    #[test]
    fn lapic_software_disable_masks_lvts_and_keeps_them_masked() {
        let mut a = enabled();
        w(&mut a, reg::LVT_LINT1, 0x400);
        w(&mut a, reg::SVR, 0xFF);
        assert_ne!(a.read(reg::LVT_LINT1, 0) & lvt::MASK, 0);
        w(&mut a, reg::LVT_LINT1, 0x400);
        assert_ne!(a.read(reg::LVT_LINT1, 0) & lvt::MASK, 0);
    }

    #[test]
    fn lapic_x2apic_msrs_need_x2apic_mode() {
        let mut a = enabled();
        assert_eq!(a.read_msr(0x802, 0), Err(ApicMsrError::NotX2Apic(0x802)));
        a.write_apic_base(LAPIC_BASE | apic_base::EN | apic_base::EXTD)
            .unwrap();
        assert!(a.x2apic());
        assert_eq!(a.read_msr(0x802, 0), Ok(0));
        assert_eq!(a.read_msr(0x803, 0), Ok(u64::from(LAPIC_VERSION)));
        assert_eq!(a.read_msr(0x80D, 0), Ok(1), "derived LDR: cluster 0 bit 0");
        assert_eq!(a.read(reg::ID, 0), 0xFFFF_FFFF, "MMIO gone");
    }

    #[test]
    fn lapic_x2apic_self_ipi_icr_and_eoi() {
        let mut a = enabled();
        a.write_apic_base(LAPIC_BASE | apic_base::EN | apic_base::EXTD)
            .unwrap();
        assert_eq!(a.write_msr(0x83F, 0x51, 0), Ok(None));
        assert_eq!(a.write_msr(0x830, 0x62, 0), Ok(None)); // physical dest 0
        assert_eq!(a.acknowledge(), Some(0x62));
        assert_eq!(a.write_msr(0x80B, 0, 0), Ok(None));
        assert_eq!(a.acknowledge(), Some(0x51));
        assert_eq!(
            a.write_msr(0x80B, 1, 0),
            Err(ApicMsrError::Reserved {
                index: 0x80B,
                value: 1
            })
        );
        assert_eq!(a.write_msr(0x80B, 0, 0), Ok(None));
        assert_eq!(a.read_msr(0x80B, 0), Err(ApicMsrError::WriteOnly(0x80B)));
        assert_eq!(a.write_msr(0x802, 0, 0), Err(ApicMsrError::ReadOnly(0x802)));
        assert_eq!(
            a.read_msr(0x80E, 0),
            Err(ApicMsrError::Unimplemented(0x80E))
        );
    }

    #[test]
    fn lapic_apic_base_rejects_illegal_transitions() {
        let (mut a, _) = apic();
        let x2 = LAPIC_BASE | apic_base::EN | apic_base::EXTD;
        assert!(a.write_apic_base(LAPIC_BASE | apic_base::EXTD).is_err());
        a.write_apic_base(x2).unwrap();
        assert!(a.write_apic_base(LAPIC_BASE | apic_base::EN).is_err());
        a.write_apic_base(LAPIC_BASE).unwrap();
        assert!(
            a.write_apic_base(x2).is_err(),
            "disabled to x2APIC directly"
        );
        assert!(a.write_apic_base(1 << 63).is_err());
        assert_eq!(a.apic_base() & apic_base::BSP, apic_base::BSP);
    }

    #[test]
    fn lapic_global_disable_resets_registers() {
        let mut a = enabled();
        w(&mut a, reg::TPR, 0x30);
        a.write_apic_base(LAPIC_BASE).unwrap();
        a.write_apic_base(LAPIC_BASE | apic_base::EN).unwrap();
        assert_eq!(a.read(reg::TPR, 0), 0);
        assert_eq!(a.read(reg::SVR, 0), 0xFF);
    }

    #[test]
    fn lapic_adapter_broadcasts_level_eoi_after_unlock() {
        let attention = Arc::new(Attention::default());
        let shared: SharedLapic = Arc::new(Mutex::new(LocalApic::new(0, true, TSC_HZ, attention)));
        let eoi = EoiRecorder::default();
        let clock = Arc::new(ManualClock::new(0));
        let mut mmio = LapicAdapter::new(shared.clone(), clock, Arc::new(eoi.clone()));
        mmio.write(u64::from(reg::SVR), &0x1FFu32.to_le_bytes());
        LapicMsi(shared.clone()).send(msi(0, false, 0x8000 | 0x61));
        assert_eq!(shared.lock().acknowledge(), Some(0x61));
        mmio.write(u64::from(reg::EOI), &0u32.to_le_bytes());
        assert_eq!(eoi.vectors(), vec![0x61]);
        let mut v = [0u8; 4];
        mmio.read(u64::from(reg::VERSION), &mut v);
        assert_eq!(u32::from_le_bytes(v), LAPIC_VERSION);
        mmio.read(u64::from(reg::VERSION) + 2, &mut v[..2]);
        assert_eq!(v[..2], [5, 0]);
        mmio.read(u64::from(reg::VERSION) + 4, &mut v);
        assert_eq!(v, [0; 4]);
        assert_eq!(mmio.read_msr(MSR_APIC_BASE), Some(Ok(0xFEE0_0900)));
        assert_eq!(mmio.read_msr(0x10), None);
    }

    #[test]
    fn lapic_lint_line_drives_lint0() {
        let attention = Arc::new(Attention::default());
        let shared: SharedLapic = Arc::new(Mutex::new(LocalApic::new(0, true, TSC_HZ, attention)));
        LapicLint::lint0(shared.clone()).set_level(true);
        assert!(shared.lock().extint_pending());
    }

    #[test]
    fn lapic_hostile_register_writes_do_not_panic() {
        let mut a = enabled();
        let values = [0, 1, 0xFF, 0x1_0000, 0x7_00FF, 0xFFFF_FFFF, 0x8000_0000];
        for offset in (0..0x1000).step_by(4) {
            for &v in &values {
                let _ = a.write(offset, v, u64::from(offset) * 7);
                let _ = a.read(offset, u64::MAX);
                a.service(u64::from(offset) * 7 + 3);
                let _ = a.acknowledge();
                let _ = a.eoi();
            }
        }
        a.write_apic_base(LAPIC_BASE | apic_base::EN | apic_base::EXTD)
            .unwrap();
        for index in 0x800..=0x8FF {
            for &v in &values {
                let _ = a.write_msr(index, u64::from(v) | (u64::from(v) << 32), 5);
                let _ = a.read_msr(index, u64::MAX);
            }
        }
        a.write_tsc_deadline(u64::MAX, u64::MAX);
        a.service(u64::MAX);
    }
}
