//! Architectural state: registers, segment descriptor caches, control
//! registers, and the derived mode the interpreter runs in.

use std::sync::Arc;

use mem::{Bus, GuestRam};

use crate::mmu::Tlb;
use crate::msr::Msrs;

/// The six segment registers, in the encoding order of `Sreg` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SegReg {
    Es = 0,
    Cs = 1,
    Ss = 2,
    Ds = 3,
    Fs = 4,
    Gs = 5,
}

impl SegReg {
    pub const ALL: [SegReg; 6] = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
    ];
}

/// A segment register with its hidden descriptor cache (SDM Vol. 3A, 3.4.3).
///
/// `attr` holds the descriptor's attribute bits in the layout VMX uses for
/// access rights (SDM Vol. 3C, 24.4.1): bits 0-3 type, 4 S, 5-6 DPL, 7 P,
/// 12 AVL, 13 L, 14 D/B, 15 G. `limit` is the expanded byte limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    pub base: u64,
    pub limit: u32,
    pub attr: u16,
}

impl Segment {
    pub const ATTR_ACCESSED: u16 = 1 << 0;
    pub const ATTR_WRITABLE: u16 = 1 << 1; // data: writable; code: readable
    pub const ATTR_EXPAND_DOWN: u16 = 1 << 2; // data: expand-down; code: conforming
    pub const ATTR_CODE: u16 = 1 << 3;
    pub const ATTR_S: u16 = 1 << 4;
    pub const ATTR_P: u16 = 1 << 7;
    pub const ATTR_L: u16 = 1 << 13;
    pub const ATTR_DB: u16 = 1 << 14;
    pub const ATTR_G: u16 = 1 << 15;

    /// A segment as real mode (and reset) leaves it: base = selector * 16,
    /// 64 KiB limit, present read/write data (or code for CS).
    pub fn real_mode(selector: u16, code: bool) -> Segment {
        let ty = if code { 0xB } else { 0x3 };
        Segment {
            selector,
            base: (selector as u64) << 4,
            limit: 0xFFFF,
            attr: ty | Self::ATTR_S | Self::ATTR_P,
        }
    }

    /// The descriptor privilege level.
    pub fn dpl(&self) -> u8 {
        ((self.attr >> 5) & 3) as u8
    }

    /// Present bit.
    pub fn present(&self) -> bool {
        self.attr & Self::ATTR_P != 0
    }

    /// D/B bit: 32-bit default operand size (code) or stack size (SS).
    pub fn db(&self) -> bool {
        self.attr & Self::ATTR_DB != 0
    }

    /// L bit: 64-bit code segment.
    pub fn long(&self) -> bool {
        self.attr & Self::ATTR_L != 0
    }

    /// Whether this is a code segment (S=1, type bit 3).
    pub fn is_code(&self) -> bool {
        self.attr & (Self::ATTR_S | Self::ATTR_CODE) == Self::ATTR_S | Self::ATTR_CODE
    }
}

/// GDTR or IDTR (SDM Vol. 3A, 2.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DescriptorTable {
    pub base: u64,
    pub limit: u16,
}

/// The execution mode, derived from CR0.PE, EFER.LMA, CS.L, CS.D and EFLAGS.VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Real,
    /// Protected mode (legacy or long-mode compatibility); `bits` is the
    /// default operand size of CS (16 or 32).
    Protected,
    /// IA-32e compatibility mode (long mode, CS.L = 0).
    Compat,
    /// 64-bit mode.
    Long,
}

pub(crate) mod cr0 {
    pub const PE: u64 = 1 << 0;
    pub const MP: u64 = 1 << 1;
    pub const EM: u64 = 1 << 2;
    pub const TS: u64 = 1 << 3;
    pub const ET: u64 = 1 << 4;
    pub const NE: u64 = 1 << 5;
    pub const WP: u64 = 1 << 16;
    pub const AM: u64 = 1 << 18;
    pub const NW: u64 = 1 << 29;
    pub const CD: u64 = 1 << 30;
    pub const PG: u64 = 1 << 31;
}

pub(crate) mod cr4 {
    pub const VME: u64 = 1 << 0;
    pub const PVI: u64 = 1 << 1;
    pub const TSD: u64 = 1 << 2;
    pub const DE: u64 = 1 << 3;
    pub const PSE: u64 = 1 << 4;
    pub const PAE: u64 = 1 << 5;
    pub const MCE: u64 = 1 << 6;
    pub const PGE: u64 = 1 << 7;
    pub const PCE: u64 = 1 << 8;
    pub const OSFXSR: u64 = 1 << 9;
    pub const OSXMMEXCPT: u64 = 1 << 10;
    pub const OSXSAVE: u64 = 1 << 18;
}

pub(crate) mod efer {
    pub const SCE: u64 = 1 << 0;
    pub const LME: u64 = 1 << 8;
    pub const LMA: u64 = 1 << 10;
    pub const NXE: u64 = 1 << 11;
}

pub(crate) mod rflags {
    pub const CF: u64 = 1 << 0;
    pub const FIXED1: u64 = 1 << 1;
    pub const PF: u64 = 1 << 2;
    pub const AF: u64 = 1 << 4;
    pub const ZF: u64 = 1 << 6;
    pub const SF: u64 = 1 << 7;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const OF: u64 = 1 << 11;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    pub const VM: u64 = 1 << 17;
    pub const AC: u64 = 1 << 18;
    pub const VIF: u64 = 1 << 19;
    pub const VIP: u64 = 1 << 20;
    pub const ID: u64 = 1 << 21;
    /// The six arithmetic flags.
    pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;
    /// Bits software can change at all (the rest read as fixed values).
    pub const WRITABLE: u64 = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;
}

/// An instruction's access to state the local APIC owns (SDM Vol. 3A,
/// 10.8.6 for CR8/TPR, 10.12 for the x2APIC MSRs, 10.5.4.1 for
/// IA32_TSC_DEADLINE): the handler retires the instruction and the run loop
/// completes it, rewinding to `ip` and raising #GP if the APIC refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PlatformOp {
    ReadMsr { index: u32, ip: u64 },
    WriteMsr { index: u32, value: u64, ip: u64 },
    ReadCr8 { reg: iced_x86::Register },
    WriteCr8(u8),
}

/// The architectural state of one logical processor, and the caches that
/// depend only on it (the TLB). `Cpu` wraps it with the decode cache.
pub struct Core {
    /// RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15 (encoding order).
    pub gpr: [u64; 16],
    pub rip: u64,
    /// RFLAGS. Between calls of `Cpu::run` it is exact; while the CPU
    /// runs, the arithmetic flags may be pending in `lf` (see `flags`).
    pub rflags: u64,
    /// Arithmetic flags not yet folded into `rflags`.
    pub(crate) lf: crate::flags::Lazy,
    pub seg: [Segment; 6],
    pub ldtr: Segment,
    pub tr: Segment,
    pub gdtr: DescriptorTable,
    pub idtr: DescriptorTable,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    /// Task-priority register as CR8 sees it (bits 3:0).
    pub cr8: u64,
    pub efer: u64,
    /// DR0-DR3, (DR4, DR5 alias DR6, DR7), DR6, DR7.
    pub dr: [u64; 8],
    pub xcr0: u64,
    pub(crate) fpu: crate::fpu::FpuState,
    pub(crate) msr: Msrs,
    /// Halted by HLT, waiting for an interrupt.
    pub halted: bool,
    /// Instructions retired since reset (the deterministic clock's source).
    pub instret: u64,

    // Derived state, recomputed by `sync_mode` whenever its inputs change.
    pub(crate) mode: Mode,
    /// Decoder bitness: 16, 32 or 64.
    pub(crate) code_bits: u32,
    pub(crate) cpl: u8,
    /// Interrupts are inhibited until after the next instruction (STI, MOV SS).
    pub(crate) int_shadow: bool,
    /// Set by an instruction that must end its block after it retires
    /// (a write to cached code, a mode change, HLT, a taken interrupt).
    pub(crate) end_block: bool,
    /// Code pages (RAM offset >> 12) the CPU itself wrote; the run loop
    /// drops their decoded blocks before the next block runs.
    pub(crate) code_written: Vec<u64>,
    /// A triple fault happened: the processor is in shutdown.
    pub(crate) shutdown: bool,
    /// An access the local APIC answers (APIC MSRs, CR8), left by its
    /// instruction for the run loop to complete through `InterruptSource`.
    pub(crate) platform_op: Option<PlatformOp>,
    /// Retired instructions, published at the end of every block for
    /// clocks that run on instruction counts.
    pub(crate) instret_shared: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Time source for the TSC: guest nanoseconds, and TSC ticks per second.
    pub(crate) time: Option<(std::sync::Arc<dyn Fn() -> u64 + Send + Sync>, u64)>,
    /// Nesting of exception delivery, to raise #DF and triple faults.
    pub(crate) delivering: Option<u8>,

    pub(crate) tlb: Tlb,
    pub(crate) bus: Arc<Bus>,
    pub(crate) ram: Arc<GuestRam>,
    /// Mnemonics already reported as unimplemented (logged once each).
    pub(crate) reported: Vec<bool>,
}

impl Core {
    /// A processor in its power-on state (SDM Vol. 3A, 9.1.1): real mode,
    /// CS:IP = F000:FFF0 with CS base FFFF0000.
    pub(crate) fn new(bus: Arc<Bus>) -> Core {
        let ram = bus.ram.clone();
        let mut cpu = Core {
            gpr: [0; 16],
            rip: 0,
            rflags: 0,
            lf: crate::flags::Lazy::default(),
            seg: [Segment::default(); 6],
            ldtr: Segment::default(),
            tr: Segment::default(),
            gdtr: DescriptorTable::default(),
            idtr: DescriptorTable::default(),
            cr0: 0,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            cr8: 0,
            efer: 0,
            dr: [0; 8],
            xcr0: 1,
            fpu: crate::fpu::FpuState::default(),
            msr: Msrs::default(),
            halted: false,
            instret: 0,
            mode: Mode::Real,
            code_bits: 16,
            cpl: 0,
            int_shadow: false,
            end_block: false,
            code_written: Vec::new(),
            shutdown: false,
            platform_op: None,
            instret_shared: std::sync::Arc::default(),
            time: None,
            delivering: None,
            tlb: Tlb::new(),
            bus,
            ram,
            reported: vec![false; iced_x86::Mnemonic::values().len()],
        };
        cpu.reset();
        cpu
    }

    /// INIT/RESET: architectural reset values (SDM Vol. 3A, Table 9-1).
    pub fn reset(&mut self) {
        self.gpr = [0; 16];
        self.gpr[2] = 0x600; // EDX: family/model/stepping signature
        self.rip = 0xFFF0;
        self.rflags = rflags::FIXED1;
        self.lf = crate::flags::Lazy::default();
        for s in SegReg::ALL {
            self.seg[s as usize] = Segment::real_mode(0, s == SegReg::Cs);
        }
        self.seg[SegReg::Cs as usize].selector = 0xF000;
        self.seg[SegReg::Cs as usize].base = 0xFFFF_0000;
        self.ldtr = Segment {
            attr: 0x82,
            limit: 0xFFFF,
            ..Segment::default()
        };
        self.tr = Segment {
            attr: 0x8B,
            limit: 0xFFFF,
            ..Segment::default()
        };
        self.gdtr = DescriptorTable {
            base: 0,
            limit: 0xFFFF,
        };
        self.idtr = DescriptorTable {
            base: 0,
            limit: 0xFFFF,
        };
        self.cr0 = cr0::ET | cr0::CD | cr0::NW;
        self.cr2 = 0;
        self.cr3 = 0;
        self.cr4 = 0;
        self.cr8 = 0;
        self.efer = 0;
        self.dr = [0, 0, 0, 0, 0, 0, 0xFFFF_0FF0, 0x400];
        self.xcr0 = 1;
        self.fpu = crate::fpu::FpuState::default();
        self.msr = Msrs::default();
        self.halted = false;
        self.int_shadow = false;
        self.delivering = None;
        self.shutdown = false;
        self.platform_op = None;
        self.sync_mode();
    }

    /// Starts execution in real mode at `cs:ip` (as a boot loader would be
    /// entered), leaving the rest of the state as reset left it.
    pub fn set_real_mode_entry(&mut self, cs: u16, ip: u16) {
        self.seg[SegReg::Cs as usize] = Segment::real_mode(cs, true);
        self.rip = ip as u64;
        self.sync_mode();
    }

    /// Recomputes the derived mode after any change to CR0, CR4, EFER, CS or
    /// EFLAGS.VM made from outside an instruction (tests, loaders), and drops
    /// cached translations. Instructions that change these call it too.
    pub fn sync_mode(&mut self) {
        self.derive_mode();
        self.tlb.flush_all();
    }

    /// Recomputes mode, decoder bitness and CPL from CR0, EFER and CS.
    pub(crate) fn derive_mode(&mut self) {
        let cs_base = |c: &Core| c.seg[SegReg::Cs as usize].base;
        let before = (self.mode, self.code_bits, self.cpl, cs_base(self));
        self.derive_mode_inner();
        if (self.mode, self.code_bits, self.cpl, cs_base(self)) != before {
            self.tlb.gen += 1;
        }
    }

    fn derive_mode_inner(&mut self) {
        let cs = self.seg[SegReg::Cs as usize];
        if self.cr0 & cr0::PE == 0 {
            self.mode = Mode::Real;
            self.code_bits = if cs.db() { 32 } else { 16 };
            self.cpl = 0;
        } else if self.efer & efer::LMA != 0 {
            if cs.long() {
                self.mode = Mode::Long;
                self.code_bits = 64;
            } else {
                self.mode = Mode::Compat;
                self.code_bits = if cs.db() { 32 } else { 16 };
            }
            self.cpl = (cs.selector & 3) as u8;
        } else {
            self.mode = Mode::Protected;
            self.code_bits = if cs.db() { 32 } else { 16 };
            self.cpl = (cs.selector & 3) as u8;
        }
    }

    /// The current execution mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The current privilege level.
    pub fn cpl(&self) -> u8 {
        self.cpl
    }

    /// The bus this CPU reaches memory and ports through.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// A segment register's current value.
    pub fn segment(&self, s: SegReg) -> Segment {
        self.seg[s as usize]
    }

    /// Loads a segment register's visible and hidden parts directly (for
    /// loaders and tests), then recomputes the mode.
    pub fn set_segment(&mut self, s: SegReg, value: Segment) {
        self.seg[s as usize] = value;
        self.sync_mode();
    }

    /// Reads an MSR as RDMSR would; `None` where RDMSR would raise #GP or
    /// the local APIC owns the MSR.
    pub fn read_msr(&self, index: u32) -> Option<u64> {
        self.msr_read(index)
    }

    /// Writes an MSR as WRMSR at CPL 0 would (firmware set-up, loaders);
    /// false where WRMSR would raise #GP. APIC MSRs are the APIC's.
    pub fn write_msr(&mut self, index: u32, value: u64) -> bool {
        self.msr_write(index, value).is_ok()
    }

    /// RFLAGS.IF: maskable interrupts enabled.
    pub fn interrupts_enabled(&self) -> bool {
        self.rflags & rflags::IF != 0
    }

    /// Derives the TSC from `now_ns` (guest time in nanoseconds) at `tsc_hz`
    /// ticks per second, instead of from the instruction count.
    pub fn set_time_source(
        &mut self,
        now_ns: std::sync::Arc<dyn Fn() -> u64 + Send + Sync>,
        tsc_hz: u64,
    ) {
        self.time = Some((now_ns, tsc_hz));
    }

    /// A counter of retired instructions, updated at the end of every
    /// block, for clocks that run on instruction counts (deterministic mode).
    pub fn instret_counter(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.instret_shared.clone()
    }
}
