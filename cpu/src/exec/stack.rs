//! Stack instructions (SDM Vol. 2: PUSH, POP, PUSHF, POPF, PUSHA, POPA,
//! ENTER, LEAVE). The operand size of each push or pop comes from iced's
//! `stack_pointer_increment`, which already folds in the mode and prefixes.

use iced_x86::{OpKind, Register};

use crate::block::Decoded;
use crate::fault::Res;
use crate::flags::mask;
use crate::state::{rflags, Core, Mode, SegReg};

fn push_size(d: &Decoded) -> usize {
    (-d.i.stack_pointer_increment()) as usize
}

pub(super) fn push(cpu: &mut Core, d: &Decoded) -> Res {
    let size = push_size(d);
    let v = match d.i.op_kind(0) {
        OpKind::Register if d.i.op_register(0).is_segment_register() => cpu.reg(d.i.op_register(0)),
        OpKind::Register => cpu.reg(d.i.op_register(0)),
        OpKind::Memory => {
            let ea = cpu.ea(d);
            cpu.read(Core::mseg(d), ea, size)?
        }
        _ => d.i.immediate(0) & mask(size),
    };
    cpu.push(v, size)
}

pub(super) fn pop(cpu: &mut Core, d: &Decoded) -> Res {
    let size = d.i.stack_pointer_increment() as usize;
    match d.i.op_kind(0) {
        OpKind::Register if d.i.op_register(0).is_segment_register() => {
            let sel = cpu.peek_stack(0, size)? as u16;
            let s = super::sreg(d.i.op_register(0));
            cpu.load_sreg(s, sel)?;
            cpu.pop(size)?;
            if s == SegReg::Ss {
                cpu.int_shadow = true;
                cpu.end_block = true;
            }
            Ok(())
        }
        OpKind::Register => {
            let v = cpu.pop(size)?;
            cpu.set_reg(d.i.op_register(0), v);
            Ok(())
        }
        _ => {
            // The destination address is computed with the incremented
            // stack pointer (SDM POP: "If the ESP register is used as a
            // base register...").
            let v = cpu.peek_stack(0, size)?;
            let old = cpu.gpr[4];
            cpu.pop(size)?;
            let ea = cpu.ea(d);
            if let Err(f) = cpu.write(Core::mseg(d), ea, size, v) {
                cpu.gpr[4] = old;
                return Err(f);
            }
            Ok(())
        }
    }
}

pub(super) fn pushf(cpu: &mut Core, d: &Decoded) -> Res {
    let size = push_size(d);
    // VM and RF are never pushed (SDM PUSHF).
    let v = cpu.rflags & !(rflags::VM | rflags::RF);
    cpu.push(v, size)
}

pub(super) fn popf(cpu: &mut Core, d: &Decoded) -> Res {
    let size = d.i.stack_pointer_increment() as usize;
    let v = cpu.pop(size)?;
    cpu.write_flags(v, size);
    cpu.end_block = true;
    Ok(())
}

impl Core {
    /// Loads RFLAGS from POPF or IRET with the privilege rules of POPF
    /// (SDM POPF, Table 4-16): IOPL only at CPL 0, IF only at CPL <= IOPL;
    /// VM, VIF, VIP and RF are never changed here.
    pub(crate) fn write_flags(&mut self, v: u64, size: usize) {
        let mut changeable =
            rflags::WRITABLE & !(rflags::VM | rflags::VIF | rflags::VIP | rflags::RF);
        let iopl = (self.rflags & rflags::IOPL) >> 12;
        if self.mode != Mode::Real && self.cpl > 0 {
            changeable &= !rflags::IOPL;
            if self.cpl as u64 > iopl {
                changeable &= !rflags::IF;
            }
        }
        changeable &= mask(size);
        self.rflags = (self.rflags & !changeable) | (v & changeable) | rflags::FIXED1;
    }
}

pub(super) fn pusha(cpu: &mut Core, d: &Decoded) -> Res {
    let size = if d.i.mnemonic() == iced_x86::Mnemonic::Pushad {
        4
    } else {
        2
    };
    let sp = cpu.gpr[4];
    let ss = cpu.stack_size();
    let start = sp.wrapping_sub(8 * size as u64) & mask(ss);
    cpu.probe_write(SegReg::Ss, start, 8 * size)?;
    for n in 0..8 {
        let v = if n == 4 { sp } else { cpu.gpr[n] };
        cpu.push(v & mask(size), size)?;
    }
    Ok(())
}

pub(super) fn popa(cpu: &mut Core, d: &Decoded) -> Res {
    let size = if d.i.mnemonic() == iced_x86::Mnemonic::Popad {
        4
    } else {
        2
    };
    let mut vals = [0u64; 8];
    for (k, v) in vals.iter_mut().enumerate() {
        *v = cpu.peek_stack((k * size) as u64, size)?;
    }
    for (k, v) in vals.iter().enumerate() {
        let n = 7 - k;
        if n != 4 {
            cpu.set_gpr_sized(n, size, *v);
        }
    }
    let ss = cpu.stack_size();
    let sp = cpu.gpr[4].wrapping_add(8 * size as u64) & mask(ss);
    cpu.set_gpr_sized(4, ss, sp);
    Ok(())
}

/// ENTER imm16, imm8 (SDM ENTER): allocate a frame with nesting level.
pub(super) fn enter(cpu: &mut Core, d: &Decoded) -> Res {
    let size = match d.i.code() {
        iced_x86::Code::Enterw_imm16_imm8 => 2,
        iced_x86::Code::Enterd_imm16_imm8 => 4,
        _ => 8,
    };
    let alloc = d.i.immediate(0) & 0xFFFF;
    let level = d.i.immediate(1) & 0x1F;
    let ss = cpu.stack_size();
    let m = mask(ss);
    let saved = (cpu.gpr[4], cpu.gpr[5]);
    let result = (|| {
        cpu.push(cpu.gpr[5], size)?;
        let frame = cpu.gpr[4] & m;
        if level > 0 {
            let mut bp = cpu.gpr[5];
            for _ in 1..level {
                bp = bp.wrapping_sub(size as u64);
                let v = cpu.read(SegReg::Ss, bp & m, size)?;
                cpu.push(v, size)?;
            }
            cpu.push(frame, size)?;
        }
        let sp = cpu.gpr[4].wrapping_sub(alloc) & m;
        // The final stack pointer must be writable (SDM: #SS/#PF on it).
        cpu.probe_write(SegReg::Ss, sp, 1).map(|_| ())?;
        cpu.set_gpr_sized(5, size, frame);
        cpu.set_gpr_sized(4, ss, sp);
        Ok(())
    })();
    if result.is_err() {
        (cpu.gpr[4], cpu.gpr[5]) = saved;
    }
    result
}

/// LEAVE: rSP = rBP, then pop rBP.
pub(super) fn leave(cpu: &mut Core, d: &Decoded) -> Res {
    // iced reports no static stack increment for LEAVE; the operand size
    // is in the code.
    let size = match d.i.code() {
        iced_x86::Code::Leavew => 2,
        iced_x86::Code::Leaved => 4,
        _ => 8,
    };
    let ss = cpu.stack_size();
    let saved = cpu.gpr[4];
    cpu.set_gpr_sized(4, ss, cpu.gpr[5]);
    match cpu.pop(size) {
        Ok(v) => {
            cpu.set_reg(
                match size {
                    8 => Register::RBP,
                    4 => Register::EBP,
                    _ => Register::BP,
                },
                v,
            );
            Ok(())
        }
        Err(f) => {
            cpu.gpr[4] = saved;
            Err(f)
        }
    }
}
