//! Instruction execution: one file per family, one dispatch table
//! ([`handler`]) that maps each decoded instruction to its handler once, at
//! decode time. Read the table to see what is implemented.
//!
//! Handlers are `fn(&mut Core, &Decoded) -> Res`. RIP already points at the
//! next instruction when a handler runs; a handler that returns a fault
//! leaves architectural state as it was before the instruction (the run loop
//! rewinds RIP and delivers the exception).

mod alu;
mod bits;
mod control;
mod data;
mod fast;
mod muldiv;
mod shift;
mod simd;
mod stack;
mod string;
mod system;

use iced_x86::{Instruction, Mnemonic, OpKind, Register};

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::state::{Core, SegReg};

pub(crate) type Handler = fn(&mut Core, &Decoded) -> Res;

/// The handlers for a decoded instruction: (`Decoded::exec`,
/// `Decoded::inner`). The specialised handlers of `fast.rs` understand lazy
/// flags and run directly; every other one runs behind [`materialized`],
/// so that it sees (and may change) the arithmetic flags in `rflags`.
pub(crate) fn handlers(i: &Instruction) -> (Handler, Handler) {
    let special = !i.is_invalid()
        && !system::is_mov_cr(i.code())
        && !system::is_mov_dr(i.code())
        && simd::handler(i).is_none();
    if special {
        if let Some(h) = fast::select(i) {
            return (h, h);
        }
    }
    (materialized, handler(i))
}

/// Folds lazy flags into `rflags`, then runs the general handler; reports
/// a request to end the block as [`Fault::END`].
fn materialized(cpu: &mut Core, d: &Decoded) -> Res {
    cpu.materialize();
    (d.inner)(cpu, d)?;
    ended(cpu)
}

/// `Ok`, or [`Fault::END`] if the instruction set `end_block`.
#[inline(always)]
pub(crate) fn ended(cpu: &Core) -> Res {
    if cpu.end_block {
        Err(Fault::END)
    } else {
        Ok(())
    }
}

/// The general handler for a decoded instruction (flags in `rflags`).
fn handler(i: &Instruction) -> Handler {
    use Mnemonic as M;
    if i.is_invalid() {
        return undefined;
    }
    if system::is_mov_cr(i.code()) {
        return system::mov_cr;
    }
    if system::is_mov_dr(i.code()) {
        return system::mov_dr;
    }
    if let Some(h) = simd::handler(i) {
        return h;
    }
    match i.mnemonic() {
        // alu.rs
        M::Add => alu::add,
        M::Or => alu::or,
        M::Adc => alu::adc,
        M::Sbb => alu::sbb,
        M::And => alu::and,
        M::Sub => alu::sub,
        M::Xor => alu::xor,
        M::Cmp => alu::cmp,
        M::Test => alu::test,
        M::Inc => alu::inc,
        M::Dec => alu::dec,
        M::Neg => alu::neg,
        M::Not => alu::not,
        // data.rs
        M::Mov => data::mov,
        M::Movzx => data::movzx,
        M::Movsx | M::Movsxd => data::movsx,
        M::Lea => data::lea,
        M::Xchg => data::xchg,
        M::Cmpxchg => data::cmpxchg,
        M::Cmpxchg8b | M::Cmpxchg16b => data::cmpxchg_double,
        M::Xadd => data::xadd,
        M::Cbw | M::Cwde | M::Cdqe => data::cbw,
        M::Cwd | M::Cdq | M::Cqo => data::cwd,
        M::Nop
        | M::Pause
        | M::Lfence
        | M::Mfence
        | M::Sfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Prefetchw
        | M::Prefetch
        | M::Clflush
        | M::Clflushopt
        | M::Endbr64
        | M::Endbr32 => data::nop,
        M::Clc | M::Stc | M::Cmc | M::Cld | M::Std => data::flag_op,
        M::Lahf => data::lahf,
        M::Sahf => data::sahf,
        M::Bswap => data::bswap,
        M::Xlatb => data::xlat,
        // stack.rs
        M::Push => stack::push,
        M::Pop => stack::pop,
        M::Pushf | M::Pushfd | M::Pushfq => stack::pushf,
        M::Popf | M::Popfd | M::Popfq => stack::popf,
        M::Pusha | M::Pushad => stack::pusha,
        M::Popa | M::Popad => stack::popa,
        M::Enter => stack::enter,
        M::Leave => stack::leave,
        // control.rs
        M::Jmp => control::jmp,
        m if is_jcc(m) => control::jcc,
        M::Jcxz | M::Jecxz | M::Jrcxz => control::jrcxz,
        M::Loop | M::Loope | M::Loopne => control::loop_,
        M::Call => control::call,
        M::Ret => control::ret,
        M::Retf => control::retf,
        // muldiv.rs
        M::Mul => muldiv::mul,
        M::Imul => muldiv::imul,
        M::Div => muldiv::div,
        M::Idiv => muldiv::idiv,
        // shift.rs
        M::Shl | M::Sal => shift::shl,
        M::Shr => shift::shr,
        M::Sar => shift::sar,
        M::Rol => shift::rol,
        M::Ror => shift::ror,
        M::Rcl => shift::rcl,
        M::Rcr => shift::rcr,
        M::Shld => shift::shld,
        M::Shrd => shift::shrd,
        // bits.rs
        M::Bt | M::Bts | M::Btr | M::Btc => bits::bt,
        M::Bsf | M::Bsr => bits::bsf_bsr,
        M::Tzcnt | M::Lzcnt => bits::tzcnt_lzcnt,
        M::Popcnt => bits::popcnt,
        M::Seta
        | M::Setae
        | M::Setb
        | M::Setbe
        | M::Sete
        | M::Setne
        | M::Setg
        | M::Setge
        | M::Setl
        | M::Setle
        | M::Seto
        | M::Setno
        | M::Setp
        | M::Setnp
        | M::Sets
        | M::Setns => bits::setcc,
        M::Cmova
        | M::Cmovae
        | M::Cmovb
        | M::Cmovbe
        | M::Cmove
        | M::Cmovne
        | M::Cmovg
        | M::Cmovge
        | M::Cmovl
        | M::Cmovle
        | M::Cmovo
        | M::Cmovno
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovs
        | M::Cmovns => bits::cmovcc,
        // string.rs
        M::Movsb | M::Movsw | M::Movsd | M::Movsq => string::movs,
        M::Stosb | M::Stosw | M::Stosd | M::Stosq => string::stos,
        M::Lodsb | M::Lodsw | M::Lodsd | M::Lodsq => string::lods,
        M::Cmpsb | M::Cmpsw | M::Cmpsd | M::Cmpsq => string::cmps,
        M::Scasb | M::Scasw | M::Scasd | M::Scasq => string::scas,
        M::Insb | M::Insw | M::Insd => string::ins,
        M::Outsb | M::Outsw | M::Outsd => string::outs,
        // system.rs
        M::Hlt => system::hlt,
        M::Cli => system::cli,
        M::Sti => system::sti,
        M::In => system::io_in,
        M::Out => system::io_out,
        M::Cpuid => system::cpuid,
        M::Rdtsc => system::rdtsc,
        M::Rdtscp => system::rdtscp,
        M::Rdmsr => system::rdmsr,
        M::Wrmsr => system::wrmsr,
        M::Lgdt | M::Lidt => system::lgdt_lidt,
        M::Sgdt | M::Sidt => system::sgdt_sidt,
        M::Lldt => system::lldt,
        M::Ltr => system::ltr,
        M::Sldt | M::Str => system::sldt_str,
        M::Lmsw => system::lmsw,
        M::Smsw => system::smsw,
        M::Clts => system::clts,
        M::Invlpg => system::invlpg,
        M::Wbinvd | M::Invd => system::privileged_nop,
        M::Int | M::Int3 | M::Into | M::Int1 => system::int,
        M::Iret | M::Iretd | M::Iretq => system::iret,
        M::Syscall => system::syscall,
        M::Sysret | M::Sysretq => system::sysret,
        M::Swapgs => system::swapgs,
        M::Ud0 | M::Ud1 | M::Ud2 => undefined,
        M::Xgetbv => system::xgetbv,
        M::Xsetbv => system::xsetbv,
        M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss => system::load_far_pointer,
        M::Lar => system::lar,
        M::Lsl => system::lsl,
        M::Verr | M::Verw => system::verr_verw,
        M::Rdpid => system::rdpid,
        _ => unimplemented,
    }
}

/// Whether `m` is one of the sixteen Jcc mnemonics.
pub(crate) fn is_jcc(m: Mnemonic) -> bool {
    use Mnemonic as M;
    matches!(
        m,
        M::Ja
            | M::Jae
            | M::Jb
            | M::Jbe
            | M::Je
            | M::Jne
            | M::Jg
            | M::Jge
            | M::Jl
            | M::Jle
            | M::Jo
            | M::Jno
            | M::Jp
            | M::Jnp
            | M::Js
            | M::Jns
    )
}

pub(crate) use fast::{branch_target, fuse};
#[cfg(test)]
pub(crate) use shift::shift as shift_op;
pub(crate) use shift::{shift_flags, Op as ShiftOp};

/// Effective-address size mask of `i` (SDM Vol. 1, 3.6). For LOOPcc and
/// JrCXZ the address size selects the count register (CX, ECX or RCX).
pub(crate) fn address_mask(i: &Instruction) -> u64 {
    match i.mnemonic() {
        Mnemonic::Jcxz => return 0xFFFF,
        Mnemonic::Jecxz => return 0xFFFF_FFFF,
        Mnemonic::Jrcxz => return u64::MAX,
        Mnemonic::Loop | Mnemonic::Loope | Mnemonic::Loopne => {
            let name = format!("{:?}", i.code());
            return if name.ends_with("_RCX") {
                u64::MAX
            } else if name.ends_with("_ECX") {
                0xFFFF_FFFF
            } else {
                0xFFFF
            };
        }
        _ => {}
    }
    let bits = |r: Register| match r.size() {
        2 => 0xFFFF,
        4 => 0xFFFF_FFFF,
        8 => u64::MAX,
        _ => 0,
    };
    for n in 0..i.op_count() {
        match i.op_kind(n) {
            OpKind::Memory => {
                let m = bits(i.memory_base()) | bits(i.memory_index());
                if m != 0 {
                    return if i.memory_base() == Register::EIP {
                        0xFFFF_FFFF
                    } else {
                        m
                    };
                }
                return match i.memory_displ_size() {
                    2 => 0xFFFF,
                    4 => 0xFFFF_FFFF,
                    8 => u64::MAX,
                    _ => code_mask(i),
                };
            }
            OpKind::MemorySegSI | OpKind::MemorySegDI | OpKind::MemoryESDI => return 0xFFFF,
            OpKind::MemorySegESI | OpKind::MemorySegEDI | OpKind::MemoryESEDI => {
                return 0xFFFF_FFFF
            }
            OpKind::MemorySegRSI | OpKind::MemorySegRDI | OpKind::MemoryESRDI => return u64::MAX,
            _ => {}
        }
    }
    code_mask(i)
}

fn code_mask(i: &Instruction) -> u64 {
    match i.code_size() {
        iced_x86::CodeSize::Code16 => 0xFFFF,
        iced_x86::CodeSize::Code32 => 0xFFFF_FFFF,
        _ => u64::MAX,
    }
}

/// #UD for invalid encodings and UD0/UD1/UD2.
fn undefined(_: &mut Core, _: &Decoded) -> Res {
    Err(Fault::UD)
}

/// A valid instruction this interpreter does not implement: reported once
/// through `tracing`, then #UD as on a CPU without the feature.
fn unimplemented(cpu: &mut Core, d: &Decoded) -> Res {
    let m = d.i.mnemonic() as usize;
    if let Some(seen) = cpu.reported.get_mut(m) {
        if !*seen {
            *seen = true;
            tracing::warn!(target: "cpu::insn", mnemonic = ?d.i.mnemonic(), rip = format_args!("{:#x}", d.i.ip()), "unimplemented instruction, raising #UD");
        }
    }
    Err(Fault::UD)
}

// Register numbering of iced-x86's `Register` enum, for fast GPR access.
const AL: u8 = Register::AL as u8;
const BL: u8 = Register::BL as u8;
const AH: u8 = Register::AH as u8;
const BH: u8 = Register::BH as u8;
const R15L: u8 = Register::R15L as u8;
const AX: u8 = Register::AX as u8;
const R15W: u8 = Register::R15W as u8;
const EAX: u8 = Register::EAX as u8;
const R15D: u8 = Register::R15D as u8;
const RAX: u8 = Register::RAX as u8;
const R15: u8 = Register::R15 as u8;
const ES: u8 = Register::ES as u8;
const GS: u8 = Register::GS as u8;

/// The segment register named by an iced `Register`.
#[inline(always)]
pub(crate) fn sreg(r: Register) -> SegReg {
    match (r as u8).wrapping_sub(ES) {
        0 => SegReg::Es,
        1 => SegReg::Cs,
        2 => SegReg::Ss,
        4 => SegReg::Fs,
        5 => SegReg::Gs,
        _ => SegReg::Ds,
    }
}

impl Core {
    /// Reads a general-purpose register of any size (zero-extended).
    #[inline(always)]
    pub(crate) fn reg(&self, r: Register) -> u64 {
        let n = r as u8;
        match n {
            RAX..=R15 => self.gpr[(n - RAX) as usize],
            EAX..=R15D => self.gpr[(n - EAX) as usize] as u32 as u64,
            AX..=R15W => self.gpr[(n - AX) as usize] as u16 as u64,
            AL..=BL => self.gpr[(n - AL) as usize] as u8 as u64,
            AH..=BH => (self.gpr[(n - AH) as usize] >> 8) as u8 as u64,
            _ if n <= R15L && n > BH => self.gpr[(n - AL - 4) as usize] as u8 as u64,
            ES..=GS => self.seg[sreg(r) as usize].selector as u64,
            _ => 0,
        }
    }

    /// Writes a general-purpose register with x86-64 semantics: 32-bit
    /// writes zero the upper half, 8- and 16-bit writes merge.
    #[inline(always)]
    pub(crate) fn set_reg(&mut self, r: Register, v: u64) {
        let n = r as u8;
        match n {
            RAX..=R15 => self.gpr[(n - RAX) as usize] = v,
            EAX..=R15D => self.gpr[(n - EAX) as usize] = v as u32 as u64,
            AX..=R15W => {
                let g = &mut self.gpr[(n - AX) as usize];
                *g = (*g & !0xFFFF) | (v & 0xFFFF);
            }
            AL..=BL => {
                let g = &mut self.gpr[(n - AL) as usize];
                *g = (*g & !0xFF) | (v & 0xFF);
            }
            AH..=BH => {
                let g = &mut self.gpr[(n - AH) as usize];
                *g = (*g & !0xFF00) | ((v & 0xFF) << 8);
            }
            _ if n <= R15L && n > BH => {
                let g = &mut self.gpr[(n - AL - 4) as usize];
                *g = (*g & !0xFF) | (v & 0xFF);
            }
            _ => {}
        }
    }

    /// Writes `size` bytes of a GPR by number (0 = RAX) with the same rules.
    #[inline(always)]
    pub(crate) fn set_gpr_sized(&mut self, n: usize, size: usize, v: u64) {
        let g = &mut self.gpr[n];
        *g = match size {
            8 => v,
            4 => v as u32 as u64,
            2 => (*g & !0xFFFF) | (v & 0xFFFF),
            _ => (*g & !0xFF) | (v & 0xFF),
        };
    }

    /// Effective address (offset within the segment) of the memory operand.
    /// Sums wrap at the address size, so full-width register values can be
    /// added before masking (true for 16-, 32- and 64-bit addressing).
    #[inline(always)]
    pub(crate) fn ea(&self, d: &Decoded) -> u64 {
        // An absent register (`NO_REG`, top bit set) reads as 0, without a
        // branch: the mask is all-ones for register numbers 0-15.
        let present = |n: u8| !(((n as i8) >> 7) as i64 as u64);
        let base = self.gpr[(d.base & 15) as usize] & present(d.base);
        let index = self.gpr[(d.index & 15) as usize] & present(d.index);
        d.disp.wrapping_add(base).wrapping_add(index << d.scale) & d.amask
    }

    /// Segment of the memory operand (default or overridden).
    #[inline(always)]
    pub(crate) fn mseg(d: &Decoded) -> SegReg {
        d.seg
    }

    /// Size in bytes of operand `n` (register or memory).
    #[inline(always)]
    pub(crate) fn op_size(d: &Decoded, n: u32) -> usize {
        match d.i.op_kind(n) {
            OpKind::Register => d.i.op_register(n).size(),
            OpKind::Memory => d.i.memory_size().size(),
            OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
            OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
            OpKind::Immediate32 | OpKind::Immediate8to32 => 4,
            _ => 8,
        }
    }

    /// Reads operand `n` as `size` bytes (zero-extended; immediates are
    /// sign-extended by the decoder, then truncated to `size`).
    #[inline(always)]
    pub(crate) fn op(&mut self, d: &Decoded, n: u32, size: usize) -> Res<u64> {
        match d.i.op_kind(n) {
            OpKind::Register => Ok(self.reg(d.i.op_register(n))),
            OpKind::Memory => {
                let ea = self.ea(d);
                self.read(Self::mseg(d), ea, size)
            }
            _ => Ok(d.i.immediate(n) & crate::flags::mask(size)),
        }
    }

    /// Writes operand `n` (register or memory) with `size` bytes of `v`.
    #[inline(always)]
    pub(crate) fn set_op(&mut self, d: &Decoded, n: u32, size: usize, v: u64) -> Res {
        match d.i.op_kind(n) {
            OpKind::Register => {
                self.set_reg(d.i.op_register(n), v);
                Ok(())
            }
            _ => {
                let ea = self.ea(d);
                self.write(Self::mseg(d), ea, size, v)
            }
        }
    }

    /// The stack-pointer width: 8 in 64-bit mode, else SS.B ? 4 : 2.
    #[inline(always)]
    pub(crate) fn stack_size(&self) -> usize {
        if self.mode == crate::state::Mode::Long {
            8
        } else if self.seg[SegReg::Ss as usize].db() {
            4
        } else {
            2
        }
    }

    /// Pushes `size` bytes.
    #[inline(always)]
    pub(crate) fn push(&mut self, v: u64, size: usize) -> Res {
        let ss = self.stack_size();
        let m = crate::flags::mask(ss);
        let sp = self.gpr[4].wrapping_sub(size as u64) & m;
        self.write(SegReg::Ss, sp, size, v)?;
        self.set_gpr_sized(4, ss, sp);
        Ok(())
    }

    /// Pops `size` bytes.
    #[inline(always)]
    pub(crate) fn pop(&mut self, size: usize) -> Res<u64> {
        let ss = self.stack_size();
        let m = crate::flags::mask(ss);
        let sp = self.gpr[4] & m;
        let v = self.read(SegReg::Ss, sp, size)?;
        self.set_gpr_sized(4, ss, sp.wrapping_add(size as u64) & m);
        Ok(v)
    }

    /// Reads the value `offset` bytes above the stack pointer without
    /// popping (for multi-part pops that must not partially complete).
    pub(crate) fn peek_stack(&mut self, offset: u64, size: usize) -> Res<u64> {
        let m = crate::flags::mask(self.stack_size());
        let sp = self.gpr[4].wrapping_add(offset) & m;
        self.read(SegReg::Ss, sp, size)
    }
}
