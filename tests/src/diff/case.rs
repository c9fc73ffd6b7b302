//! What a case is: instructions, initial registers and flags, and the initial
//! contents of the two memory windows; and where those live in the address
//! space both runners share.

use iced_x86::{BlockEncoder, BlockEncoderOptions, Instruction, InstructionBlock};

/// Bytes of the data window memory operands point into.
pub const DATA_LEN: usize = 0x2000;
/// Bytes of the stack window; RSP starts in its middle.
pub const STACK_LEN: usize = 0x1000;
/// Where RSP starts, relative to the stack window.
pub const STACK_INIT: u64 = 0x800;
/// Most bytes a case's code may take (the code page also holds the host
/// thunk, further up).
pub const CODE_MAX: usize = 0xF00;

/// Distance between the data, stack and code regions (one 2 MiB page each
/// in the guest's page tables).
pub const REGION: u64 = 0x20_0000;
/// Bytes the host maps for one runner: data, stack and code regions.
pub const SPAN: u64 = 3 * REGION;

/// Fake instruction addresses used as labels until the block encoder places
/// the code (branch targets name them).
pub const LABEL_BASE: u64 = 0x7F00_0000_0000;

/// The virtual addresses of one runner's windows. Host and guest use the
/// same ones, so pushed return addresses, RIP-relative operands and pointers
/// in registers mean the same thing on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub base: u64,
}

impl Layout {
    pub fn data(&self) -> u64 {
        self.base
    }
    pub fn stack(&self) -> u64 {
        self.base + REGION
    }
    pub fn code(&self) -> u64 {
        self.base + 2 * REGION
    }
    /// Initial RSP.
    pub fn rsp0(&self) -> u64 {
        self.stack() + STACK_INIT
    }
    /// Whether `[addr, addr+len)` lies inside the data or the stack window.
    pub fn in_windows(&self, addr: u64, len: u64) -> bool {
        let inside = |start: u64, size: usize| {
            addr >= start
                && addr
                    .checked_add(len)
                    .is_some_and(|end| end <= start + size as u64)
        };
        inside(self.data(), DATA_LEN) || inside(self.stack(), STACK_LEN)
    }
}

/// The sixteen general-purpose registers (RAX, RCX, RDX, RBX, RSP, RBP,
/// RSI, RDI, R8-R15: encoding order) and RFLAGS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Regs {
    pub gpr: [u64; 16],
    pub rflags: u64,
}

pub const GPR_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// RFLAGS bits.
pub mod fl {
    pub const CF: u64 = 1 << 0;
    pub const FIXED1: u64 = 1 << 1;
    pub const PF: u64 = 1 << 2;
    pub const AF: u64 = 1 << 4;
    pub const ZF: u64 = 1 << 6;
    pub const SF: u64 = 1 << 7;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const OF: u64 = 1 << 11;
    pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;
    pub const NAMES: [(u64, &str); 7] = [
        (CF, "CF"),
        (PF, "PF"),
        (AF, "AF"),
        (ZF, "ZF"),
        (SF, "SF"),
        (OF, "OF"),
        (DF, "DF"),
    ];
}

/// A value in the initial state that depends on where the encoder placed an
/// instruction (return addresses, indirect branch targets).
#[derive(Clone, Copy, Debug)]
pub enum Fixup {
    /// `gpr[reg] = address of instruction label`.
    Reg { reg: usize, label: usize },
    /// The 8 bytes at `stack[offset..]` = address of instruction `label`.
    Stack { offset: usize, label: usize },
    /// The 8 bytes at `data[offset..]` = address of instruction `label`.
    Data { offset: usize, label: usize },
}

/// One generated test case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Instruction `i` has `ip() == LABEL_BASE + i` until encoded.
    pub insns: Vec<Instruction>,
    pub init: Regs,
    pub data: Vec<u8>,
    pub stack: Vec<u8>,
    pub fixups: Vec<Fixup>,
    /// Straight-line code: running a prefix of it is meaningful (used to
    /// find the first instruction that diverges).
    pub straight: bool,
}

/// A case placed at its code address, ready to run.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub case: Case,
    pub code: Vec<u8>,
    /// Offset of each instruction in `code`.
    pub offsets: Vec<u32>,
}

/// Encodes instructions (with label ips) at `ip`.
pub fn encode(insns: &[Instruction], ip: u64) -> Result<(Vec<u8>, Vec<u32>), String> {
    let block = InstructionBlock::new(insns, ip);
    let r = BlockEncoder::encode(
        64,
        block,
        BlockEncoderOptions::DONT_FIX_BRANCHES
            | BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )
    .map_err(|e| e.to_string())?;
    Ok((r.code_buffer, r.new_instruction_offsets))
}

impl Case {
    /// Encodes the case at the layout's code address and applies fixups.
    pub fn prepare(mut self, layout: &Layout) -> Result<Prepared, String> {
        let (code, offsets) = encode(&self.insns, layout.code())?;
        if code.len() > CODE_MAX {
            return Err(format!("case code too long: {} bytes", code.len()));
        }
        let at = |label: usize| layout.code() + offsets[label] as u64;
        for f in &self.fixups {
            match *f {
                Fixup::Reg { reg, label } => self.init.gpr[reg] = at(label),
                Fixup::Stack { offset, label } => {
                    self.stack[offset..offset + 8].copy_from_slice(&at(label).to_le_bytes())
                }
                Fixup::Data { offset, label } => {
                    self.data[offset..offset + 8].copy_from_slice(&at(label).to_le_bytes())
                }
            }
        }
        Ok(Prepared {
            case: self,
            code,
            offsets,
        })
    }

    /// The first `n` instructions of a straight-line case, as a case.
    pub fn prefix(&self, n: usize) -> Case {
        let keep = |f: &Fixup| match *f {
            Fixup::Reg { label, .. } | Fixup::Stack { label, .. } | Fixup::Data { label, .. } => {
                label < n
            }
        };
        Case {
            insns: self.insns[..n].to_vec(),
            fixups: self.fixups.iter().copied().filter(keep).collect(),
            ..self.clone()
        }
    }
}
