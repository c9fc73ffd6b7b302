//! The generic part of case generation: registers with interesting values,
//! memory operands that land in the data window through every addressing
//! form, and instructions built from any iced `Code` whose operands are
//! general-purpose registers, memory or immediates.

use iced_x86::{
    Code, Encoder, EncodingKind, Instruction, InstructionInfoFactory, MemoryOperand, Mnemonic,
    OpAccess, OpCodeOperandKind as K, OpKind, Register,
};

use super::case::{fl, Case, Fixup, Layout, Regs, DATA_LEN, LABEL_BASE, STACK_LEN};
use super::rng::{mask, Rng};

pub const GPR64: [Register; 16] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RBX,
    Register::RSP,
    Register::RBP,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];
pub const GPR32: [Register; 16] = [
    Register::EAX,
    Register::ECX,
    Register::EDX,
    Register::EBX,
    Register::ESP,
    Register::EBP,
    Register::ESI,
    Register::EDI,
    Register::R8D,
    Register::R9D,
    Register::R10D,
    Register::R11D,
    Register::R12D,
    Register::R13D,
    Register::R14D,
    Register::R15D,
];
pub const GPR16: [Register; 16] = [
    Register::AX,
    Register::CX,
    Register::DX,
    Register::BX,
    Register::SP,
    Register::BP,
    Register::SI,
    Register::DI,
    Register::R8W,
    Register::R9W,
    Register::R10W,
    Register::R11W,
    Register::R12W,
    Register::R13W,
    Register::R14W,
    Register::R15W,
];
/// The low bytes (AL..DIL need REX for SPL..DIL), then AH, CH, DH, BH.
pub const GPR8: [Register; 20] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::SPL,
    Register::BPL,
    Register::SIL,
    Register::DIL,
    Register::R8L,
    Register::R9L,
    Register::R10L,
    Register::R11L,
    Register::R12L,
    Register::R13L,
    Register::R14L,
    Register::R15L,
    Register::AH,
    Register::CH,
    Register::DH,
    Register::BH,
];

pub const RAX: usize = 0;
pub const RCX: usize = 1;
pub const RDX: usize = 2;
pub const RBX: usize = 3;
pub const RSP: usize = 4;
pub const RBP: usize = 5;
pub const RSI: usize = 6;
pub const RDI: usize = 7;

/// A general-purpose register by size (8, 16, 32, 64) and index (encoding
/// order; for 8 bits, 16-19 are AH, CH, DH, BH).
pub fn gpr(bits: u32, index: usize) -> Register {
    match bits {
        8 => GPR8[index],
        16 => GPR16[index],
        32 => GPR32[index],
        _ => GPR64[index],
    }
}

/// (full-register index, bit shift, width in bits) of a GPR, or `None`.
pub fn reg_slot(r: Register) -> Option<(usize, u32, u32)> {
    if !r.is_gpr() {
        return None;
    }
    let full = r.full_register();
    let idx = GPR64.iter().position(|&x| x == full)?;
    let high = matches!(r, Register::AH | Register::CH | Register::DH | Register::BH);
    Some((idx, if high { 8 } else { 0 }, r.size() as u32 * 8))
}

pub fn bit(idx: usize) -> u16 {
    1 << idx
}

/// Operand width in bits of a register/memory operand kind, if it is one.
fn gpr_kind_bits(k: K) -> Option<u32> {
    Some(match k {
        K::r8_or_mem | K::r8_reg | K::r8_opcode => 8,
        K::r16_or_mem | K::r16_reg | K::r16_opcode | K::r16_rm | K::r16_reg_mem => 16,
        K::r32_or_mem | K::r32_reg | K::r32_opcode | K::r32_rm | K::r32_reg_mem => 32,
        K::r64_or_mem | K::r64_reg | K::r64_opcode | K::r64_rm | K::r64_reg_mem => 64,
        _ => return None,
    })
}

fn kind_may_be_mem(k: K) -> bool {
    matches!(
        k,
        K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem
    )
}

/// (op kind, width in bits) of an immediate operand kind.
/// `second` marks an immediate that follows another (ENTER's level).
fn imm_kind(k: K, second: bool) -> Option<(OpKind, u32)> {
    Some(match k {
        K::imm8 if second => (OpKind::Immediate8_2nd, 8),
        K::imm8 | K::imm8_const_1 => (OpKind::Immediate8, 8),
        K::imm16 => (OpKind::Immediate16, 16),
        K::imm32 => (OpKind::Immediate32, 32),
        K::imm64 => (OpKind::Immediate64, 64),
        K::imm8sex16 => (OpKind::Immediate8to16, 8),
        K::imm8sex32 => (OpKind::Immediate8to32, 8),
        K::imm8sex64 => (OpKind::Immediate8to64, 8),
        K::imm32sex64 => (OpKind::Immediate32to64, 32),
        _ => return None,
    })
}

/// Every legacy-encoded, 64-bit-mode `Code` of the given mnemonics whose
/// operands the generic builder can fill, minus those `keep` rejects.
pub fn codes(mnemonics: &[Mnemonic], keep: impl Fn(Code) -> bool) -> Vec<Code> {
    let v: Vec<Code> = Code::values()
        .filter(|c| {
            let op = c.op_code();
            op.is_instruction()
                && op.mode64()
                && op.encoding() == EncodingKind::Legacy
                && mnemonics.contains(&c.mnemonic())
                && op.op_kinds().iter().enumerate().all(|(i, &k)| {
                    gpr_kind_bits(k).is_some()
                        || imm_kind(k, i > 0).is_some()
                        || matches!(
                            k,
                            K::al | K::cl | K::ax | K::dx | K::eax | K::rax | K::mem | K::mem_offs
                        )
                })
                && keep(*c)
        })
        .collect();
    assert!(!v.is_empty(), "no codes for {mnemonics:?}");
    v
}

/// How the generic builder fills an instruction's operands.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// Percent of r/m operands that become memory.
    pub mem_percent: u64,
    /// Percent of memory-destination instructions that get LOCK (where
    /// allowed).
    pub lock_percent: u64,
    /// Percent of reg operands given a fresh interesting value (the rest
    /// keep the random garbage every register starts with).
    pub value_percent: u64,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            mem_percent: 40,
            lock_percent: 25,
            value_percent: 85,
        }
    }
}

/// Builds one case.
pub struct Gen<'a> {
    pub rng: &'a mut Rng,
    pub layout: Layout,
    pub init: Regs,
    pub data: Vec<u8>,
    pub stack: Vec<u8>,
    pub insns: Vec<Instruction>,
    pub fixups: Vec<Fixup>,
    pub straight: bool,
    /// Registers holding an address some instruction relies on.
    pub addr_regs: u16,
    /// Registers written by instructions so far.
    pub written: u16,
    /// Registers given an initial value on purpose.
    pub assigned: u16,
    /// Registers never to pick as operands.
    pub avoid: u16,
    info: InstructionInfoFactory,
}

impl<'a> Gen<'a> {
    pub fn new(rng: &'a mut Rng, layout: Layout) -> Gen<'a> {
        let mut init = Regs::default();
        for (i, r) in init.gpr.iter_mut().enumerate() {
            *r = if i == RSP {
                layout.rsp0()
            } else if rng.chance(30) {
                rng.interesting(64)
            } else {
                rng.next_u64()
            };
        }
        init.rflags = fl::FIXED1 | fl::IF | (rng.next_u64() & fl::ARITH);
        if rng.chance(25) {
            init.rflags |= fl::DF;
        }
        let mut data = vec![0u8; DATA_LEN];
        let mut stack = vec![0u8; STACK_LEN];
        for chunk in data.chunks_mut(8).chain(stack.chunks_mut(8)) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        Gen {
            rng,
            layout,
            init,
            data,
            stack,
            insns: Vec::new(),
            fixups: Vec::new(),
            straight: true,
            addr_regs: 0,
            written: 0,
            assigned: 0,
            avoid: bit(RSP),
            info: InstructionInfoFactory::new(),
        }
    }

    pub fn finish(self) -> Case {
        Case {
            insns: self.insns,
            init: self.init,
            data: self.data,
            stack: self.stack,
            fixups: self.fixups,
            straight: self.straight,
        }
    }

    // ---- registers ----

    /// The current initial value of a GPR of any size.
    pub fn reg_value(&self, r: Register) -> u64 {
        let (i, shift, bits) = reg_slot(r).expect("gpr");
        (self.init.gpr[i] >> shift) & mask(bits)
    }

    /// Sets the initial value of a GPR's bits (other bits untouched).
    /// Refuses (returns false) if the register holds an address.
    pub fn set_reg(&mut self, r: Register, v: u64) -> bool {
        let (i, shift, bits) = reg_slot(r).expect("gpr");
        if self.addr_regs & bit(i) != 0 {
            return false;
        }
        let m = mask(bits) << shift;
        self.init.gpr[i] = (self.init.gpr[i] & !m) | ((v << shift) & m);
        self.assigned |= bit(i);
        true
    }

    /// A random register of `bits` bits not in `avoid` (nor `self.avoid`).
    pub fn pick_reg(&mut self, bits: u32, avoid: u16) -> Register {
        let avoid = avoid | self.avoid;
        loop {
            let n = if bits == 8 { 20 } else { 16 };
            let idx = self.rng.below(n) as usize;
            let r = gpr(bits, idx);
            let (full, _, _) = reg_slot(r).unwrap();
            if avoid & bit(full) == 0 {
                return r;
            }
        }
    }

    /// Gives a register operand an interesting value, unless it already has
    /// one (or holds an address).
    pub fn value_reg(&mut self, r: Register, percent: u64) {
        let (i, _, bits) = reg_slot(r).unwrap();
        if self.assigned & bit(i) == 0 && self.written & bit(i) == 0 && self.rng.chance(percent) {
            let v = self.rng.interesting(bits);
            self.set_reg(r, v);
        }
    }

    // ---- memory ----

    pub fn data_addr(&self, offset: u64) -> u64 {
        self.layout.data() + offset
    }

    /// Writes `len` little-endian bytes of `v` at data-window address `addr`.
    pub fn poke(&mut self, addr: u64, len: usize, v: u64) {
        let (buf, off) = self.window_mut(addr);
        for i in 0..len.min(8) {
            buf[off + i] = (v >> (8 * i)) as u8;
        }
    }

    /// Reads `len` (≤ 8) little-endian bytes at a window address.
    pub fn peek(&self, addr: u64, len: usize) -> u64 {
        let (buf, off) = if addr >= self.layout.stack() {
            (&self.stack, (addr - self.layout.stack()) as usize)
        } else {
            (&self.data, (addr - self.layout.data()) as usize)
        };
        (0..len.min(8)).fold(0, |v, i| v | (buf[off + i] as u64) << (8 * i))
    }

    fn window_mut(&mut self, addr: u64) -> (&mut Vec<u8>, usize) {
        if addr >= self.layout.stack() {
            (&mut self.stack, (addr - self.layout.stack()) as usize)
        } else {
            (&mut self.data, (addr - self.layout.data()) as usize)
        }
    }

    /// A random address in the data window with room for `size` bytes,
    /// aligned to `align`, at least `margin` bytes from either edge.
    pub fn data_target(&mut self, size: u64, align: u64, margin: u64) -> u64 {
        let lo = margin;
        let hi = DATA_LEN as u64 - margin - size;
        let off = self.rng.range(lo, hi) & !(align.max(1) - 1);
        self.data_addr(off.max(lo.next_multiple_of(align.max(1))))
    }

    /// A register usable as base or index: not written so far, not RSP,
    /// not already holding a different address.
    fn pick_addr_reg(&mut self, bits: u32, exclude: u16) -> Option<Register> {
        let avoid = self.written | self.addr_regs | self.avoid | bit(RSP) | exclude;
        // Prefer registers not holding a chosen data value.
        for pass in 0..2 {
            for _ in 0..32 {
                let idx = self.rng.below(16) as usize;
                let a = if pass == 0 {
                    avoid | self.assigned
                } else {
                    avoid
                };
                if a & bit(idx) == 0 {
                    return Some(gpr(bits, idx));
                }
            }
        }
        None
    }

    fn set_addr_reg(&mut self, r: Register, v: u64) {
        let (i, _, _) = reg_slot(r).unwrap();
        let bits = r.size() as u32 * 8;
        // Garbage above a 32-bit address register: the CPU must ignore it.
        let upper = if bits == 32 {
            self.rng.next_u64() & !mask(32)
        } else {
            0
        };
        self.init.gpr[i] = (v & mask(bits)) | upper;
        self.assigned |= bit(i);
        self.addr_regs |= bit(i);
    }

    /// A memory operand whose effective address is `target`, through a
    /// random addressing form. `None` if no register was free.
    pub fn mem_at(&mut self, target: u64) -> Option<MemoryOperand> {
        let choice = self.rng.below(100);
        let disp: i64 = match self.rng.below(4) {
            0 => 0,
            1 | 2 => self.rng.range(0, 255) as i64 - 128,
            _ => (self.rng.next_u64() as i32 as i64) >> self.rng.below(24),
        };
        let scale = 1u32 << self.rng.below(4);
        Some(match choice {
            // [base + disp]
            0..=34 => {
                let b = self.pick_addr_reg(64, 0)?;
                self.set_addr_reg(b, target.wrapping_sub(disp as u64));
                MemoryOperand::with_base_displ_size(b, disp, 1)
            }
            // [base + index*scale + disp]
            35..=64 => {
                let b = self.pick_addr_reg(64, 0)?;
                let (bi, _, _) = reg_slot(b).unwrap();
                let i = self.pick_addr_reg(64, bit(bi))?;
                let iv = if self.rng.bool() {
                    self.rng.below(64)
                } else {
                    (self.rng.below(128) as i64 - 64) as u64
                };
                self.set_addr_reg(i, iv);
                let bv = target
                    .wrapping_sub(disp as u64)
                    .wrapping_sub(iv.wrapping_mul(scale as u64));
                self.set_addr_reg(b, bv);
                MemoryOperand::new(b, i, scale, disp, 1, false, Register::None)
            }
            // [index*scale + disp32]
            65..=69 => {
                let i = self.pick_addr_reg(64, 0)?;
                let iv = self.rng.below(256);
                self.set_addr_reg(i, iv);
                let d = target.wrapping_sub(iv * scale as u64) as i64;
                MemoryOperand::new(Register::None, i, scale, d, 8, false, Register::None)
            }
            // [rip + disp32]
            70..=79 => MemoryOperand::new(
                Register::RIP,
                Register::None,
                1,
                target as i64,
                8,
                false,
                Register::None,
            ),
            // [disp32] (absolute, SIB without base)
            80..=84 => MemoryOperand::with_displ(target, 8),
            // 32-bit address size: [ebase + eindex*scale + disp]
            _ => {
                let b = self.pick_addr_reg(32, 0)?;
                let mut t = target.wrapping_sub(disp as u64);
                let index = if self.rng.bool() {
                    let (bi, _, _) = reg_slot(b).unwrap();
                    let i = self.pick_addr_reg(32, bit(bi))?;
                    let iv = self.rng.below(64);
                    self.set_addr_reg(i, iv);
                    t = t.wrapping_sub(iv * scale as u64);
                    i
                } else {
                    Register::None
                };
                self.set_addr_reg(b, t & mask(32));
                let s = if index == Register::None { 1 } else { scale };
                MemoryOperand::new(b, index, s, disp, 1, false, Register::None)
            }
        })
    }

    /// A memory operand of `size` bytes somewhere in the data window holding
    /// an interesting value; `align` forces natural alignment.
    pub fn mem(&mut self, size: u64, align: u64) -> Option<(MemoryOperand, u64)> {
        let target = self.data_target(size.max(1), align, 16);
        let bits = (size.clamp(1, 8) * 8) as u32;
        let v = self.rng.interesting(bits);
        self.poke(target, size.min(8) as usize, v);
        Some((self.mem_at(target)?, target))
    }

    // ---- instructions ----

    /// Builds `code` with random operands. `imm` chooses immediates: given
    /// the operand index and the immediate's width in bits, it returns the
    /// value. Returns `None` when the operands could not be chosen or the
    /// result does not encode (e.g. AH with a REX prefix): callers retry.
    pub fn build(
        &mut self,
        code: Code,
        opts: Opts,
        imm: &mut dyn FnMut(&mut Rng, usize, u32) -> u64,
    ) -> Option<Instruction> {
        let mut ins = Instruction::default();
        ins.set_code(code);
        let op = code.op_code();
        let kinds = op.op_kinds();
        let mem_size = ins.memory_size().size() as u64;
        let mut has_mem = false;
        let mut chosen: Vec<Register> = Vec::new();
        for (i, &k) in kinds.iter().enumerate() {
            let i32_ = i as u32;
            if let Some(bits) = gpr_kind_bits(k) {
                if kind_may_be_mem(k) && !has_mem && self.rng.chance(opts.mem_percent) {
                    let size = if mem_size != 0 {
                        mem_size
                    } else {
                        bits as u64 / 8
                    };
                    let align = if self.rng.chance(75) { size } else { 1 };
                    let (m, _) = self.mem(size, align)?;
                    set_mem(&mut ins, i32_, &m);
                    has_mem = true;
                } else {
                    let r = self.pick_reg(bits, 0);
                    chosen.push(r);
                    ins.set_op_kind(i32_, OpKind::Register);
                    ins.set_op_register(i32_, r);
                }
                continue;
            }
            let second = i > 0 && imm_kind(kinds[i - 1], false).is_some();
            if let Some((kind, bits)) = imm_kind(k, second) {
                ins.set_op_kind(i32_, kind);
                let v = if k == K::imm8_const_1 {
                    1
                } else {
                    imm(self.rng, i, bits)
                };
                ins.set_immediate_u64(i32_, v);
                continue;
            }
            match k {
                K::al | K::cl | K::ax | K::dx | K::eax | K::rax => {
                    let r = match k {
                        K::al => Register::AL,
                        K::cl => Register::CL,
                        K::ax => Register::AX,
                        K::dx => Register::DX,
                        K::eax => Register::EAX,
                        _ => Register::RAX,
                    };
                    chosen.push(r);
                    ins.set_op_kind(i32_, OpKind::Register);
                    ins.set_op_register(i32_, r);
                }
                K::mem => {
                    let size = mem_size.max(1);
                    let (m, _) = self.mem(size, size.min(16))?;
                    set_mem(&mut ins, i32_, &m);
                    has_mem = true;
                }
                K::mem_offs => {
                    let size = mem_size.max(1);
                    let (_, target) = self.mem(size, 1)?;
                    ins.set_op_kind(i32_, OpKind::Memory);
                    ins.set_memory_displacement64(target);
                    ins.set_memory_displ_size(8);
                    has_mem = true;
                }
                _ => return None,
            }
        }
        if has_mem
            && kinds
                .first()
                .is_some_and(|&k| kind_may_be_mem(k) || k == K::mem)
            && ins.op0_kind() == OpKind::Memory
            && op.can_use_lock_prefix()
            && self.rng.chance(opts.lock_percent)
        {
            // A locked access must not split a cache line (split-lock
            // detection would fault on the host): only lock aligned ones.
            if self.natural_alignment_ok(&ins) {
                ins.set_has_lock_prefix(true);
            }
        }
        for r in chosen {
            self.value_reg(r, opts.value_percent);
        }
        Some(ins)
    }

    pub fn natural_alignment_ok(&mut self, ins: &Instruction) -> bool {
        let size = ins.memory_size().size() as u64;
        match self.mem_addresses(ins).first() {
            Some(&(addr, _)) => size == 0 || addr % size == 0,
            None => true,
        }
    }

    /// The (address, size) of each memory access `ins` makes, from the
    /// current initial register values.
    pub fn mem_addresses(&mut self, ins: &Instruction) -> Vec<(u64, u64)> {
        let info = self.info.info(ins);
        let regs = self.init.gpr;
        let mut out = Vec::new();
        let rip_rel = ins.is_ip_rel_memory_operand();
        for m in info.used_memory() {
            if m.access() == OpAccess::NoMemAccess {
                continue;
            }
            let addr = m.virtual_address(0, |r, _, _| {
                if r.is_segment_register() {
                    return Some(0);
                }
                let (i, shift, bits) = reg_slot(r)?;
                Some((regs[i] >> shift) & mask(bits))
            });
            let addr = if rip_rel && m.base() == Register::RIP {
                Some(ins.ip_rel_memory_address())
            } else {
                addr
            };
            if let Some(a) = addr {
                out.push((a, m.memory_size().size() as u64));
            }
        }
        out
    }

    /// Appends an instruction (giving it its label), checking that it
    /// encodes and that its explicit memory operands stay in the windows.
    /// Returns the label (index), or `None` if it must be rejected.
    pub fn push(&mut self, mut ins: Instruction) -> Option<usize> {
        let label = self.insns.len();
        ins.set_ip(LABEL_BASE + label as u64);
        if !ins.is_ip_rel_memory_operand() && !is_branch(&ins) {
            let mut enc = Encoder::new(64);
            enc.encode(&ins, self.layout.code()).ok()?;
        }
        let addrs_valid = {
            let info = self.info.info(&ins);
            let mut ok = true;
            for m in info.used_memory() {
                for r in [m.base(), m.index()] {
                    if let Some((i, _, _)) = reg_slot(r) {
                        ok &= self.written & bit(i) == 0;
                    }
                }
            }
            ok
        };
        if addrs_valid && !is_string(&ins) {
            for (addr, size) in self.mem_addresses(&ins) {
                assert!(
                    self.layout.in_windows(addr, size.max(1)),
                    "generator bug: {ins:?} accesses {addr:#x}+{size} outside the windows"
                );
            }
        }
        let info = self.info.info(&ins);
        for u in info.used_registers() {
            if matches!(
                u.access(),
                OpAccess::Write
                    | OpAccess::CondWrite
                    | OpAccess::ReadWrite
                    | OpAccess::ReadCondWrite
            ) {
                if let Some((i, _, _)) = reg_slot(u.register()) {
                    self.written |= bit(i);
                }
            }
        }
        self.insns.push(ins);
        Some(label)
    }

    /// Builds and appends an instruction of one of `codes`.
    pub fn push_random(
        &mut self,
        codes: &[Code],
        opts: Opts,
        imm: &mut dyn FnMut(&mut Rng, usize, u32) -> u64,
    ) -> Option<usize> {
        let code = *self.rng.pick(codes);
        let ins = self.build(code, opts, imm)?;
        self.push(ins)
    }
}

/// Where an operand's value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Reg(Register),
    /// Address and size in bytes.
    Mem(u64, u32),
}

impl Loc {
    pub fn bits(&self) -> u32 {
        match *self {
            Loc::Reg(r) => r.size() as u32 * 8,
            Loc::Mem(_, n) => n * 8,
        }
    }
}

impl Gen<'_> {
    /// The effective address of `ins`'s explicit memory operand, from the
    /// initial register values.
    pub fn effective_address(&self, ins: &Instruction) -> Option<u64> {
        if ins.is_ip_rel_memory_operand() {
            return Some(ins.ip_rel_memory_address());
        }
        let op = (0..ins.op_count()).find(|&i| ins.op_kind(i) == OpKind::Memory)?;
        let regs = self.init.gpr;
        ins.virtual_address(op, 0, |r, _, _| {
            if r.is_segment_register() {
                return Some(0);
            }
            let (i, shift, bits) = reg_slot(r)?;
            Some((regs[i] >> shift) & mask(bits))
        })
    }

    /// Where operand `op` of `ins` lives.
    pub fn loc(&self, ins: &Instruction, op: u32) -> Option<Loc> {
        match ins.op_kind(op) {
            OpKind::Register => Some(Loc::Reg(ins.op_register(op))),
            OpKind::Memory => Some(Loc::Mem(
                self.effective_address(ins)?,
                ins.memory_size().size() as u32,
            )),
            _ => None,
        }
    }

    /// An operand's initial value (memory: its first 8 bytes at most).
    pub fn get(&self, loc: Loc) -> u64 {
        match loc {
            Loc::Reg(r) => self.reg_value(r),
            Loc::Mem(a, n) => self.peek(a, n as usize),
        }
    }

    /// Sets an operand's initial value; false if that would clobber an
    /// address register.
    pub fn put(&mut self, loc: Loc, v: u64) -> bool {
        match loc {
            Loc::Reg(r) => self.set_reg(r, v),
            Loc::Mem(a, n) => {
                self.poke(a, n as usize, v);
                true
            }
        }
    }
}

/// Width in bits of a code's first register/memory operand.
pub fn op_bits(code: Code) -> u32 {
    code.op_code()
        .op_kinds()
        .iter()
        .find_map(|&k| gpr_kind_bits(k))
        .unwrap_or(64)
}

/// Whether a code has an operand of this kind.
pub fn has_kind(code: Code, k: K) -> bool {
    code.op_code().op_kinds().contains(&k)
}

/// Sets operand `i` of `ins` to memory operand `m`.
pub fn set_mem(ins: &mut Instruction, i: u32, m: &MemoryOperand) {
    ins.set_op_kind(i, OpKind::Memory);
    ins.set_memory_base(m.base);
    ins.set_memory_index(m.index);
    ins.set_memory_index_scale(m.scale);
    ins.set_memory_displ_size(m.displ_size);
    ins.set_memory_displacement64(m.displacement as u64);
    ins.set_segment_prefix(m.segment_prefix);
}

pub fn is_branch(ins: &Instruction) -> bool {
    matches!(
        ins.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    )
}

pub fn is_string(ins: &Instruction) -> bool {
    (0..ins.op_count()).any(|i| {
        matches!(
            ins.op_kind(i),
            OpKind::MemorySegSI
                | OpKind::MemorySegESI
                | OpKind::MemorySegRSI
                | OpKind::MemorySegDI
                | OpKind::MemorySegEDI
                | OpKind::MemorySegRDI
                | OpKind::MemoryESDI
                | OpKind::MemoryESEDI
                | OpKind::MemoryESRDI
        )
    })
}

/// The default immediate chooser: an interesting value of the immediate's
/// width.
pub fn any_imm(rng: &mut Rng, _operand: usize, bits: u32) -> u64 {
    rng.interesting(bits)
}
