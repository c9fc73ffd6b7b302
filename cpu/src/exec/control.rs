//! Near control transfers (SDM Vol. 2: JMP, Jcc, JrCXZ, LOOPcc, CALL, RET).
//! Far forms go through segment loading in `segment.rs`.

use iced_x86::{Mnemonic, OpKind};

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::flags::mask;
use crate::state::rflags::ZF;
use crate::state::{Core, Mode};

/// Operand size of a near branch: the width RIP is truncated to.
fn branch_size(cpu: &Core, d: &Decoded) -> usize {
    match d.i.op_kind(0) {
        OpKind::NearBranch16 => 2,
        OpKind::NearBranch32 => 4,
        OpKind::NearBranch64 => 8,
        _ if cpu.mode == Mode::Long => 8,
        _ => Core::op_size(d, 0),
    }
}

/// Sets RIP to a branch target, checking it as the processor does: a
/// non-canonical target in 64-bit mode or one beyond CS's limit raises
/// #GP(0) at the branch.
#[inline(always)]
fn branch_to(cpu: &mut Core, target: u64) -> Res {
    if cpu.mode == Mode::Long {
        if ((target << 16) as i64 >> 16) as u64 != target {
            return Err(Fault::GP0);
        }
    } else if target > cpu.seg[crate::state::SegReg::Cs as usize].limit as u64 {
        return Err(Fault::GP0);
    }
    cpu.rip = target;
    Ok(())
}

/// The branch target of operand 0: immediate relative target or r/m.
fn target(cpu: &mut Core, d: &Decoded) -> Res<u64> {
    match d.i.op_kind(0) {
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
            Ok(d.i.near_branch_target())
        }
        _ => {
            let size = branch_size(cpu, d);
            Ok(cpu.op(d, 0, size)? & mask(size))
        }
    }
}

pub(super) fn jmp(cpu: &mut Core, d: &Decoded) -> Res {
    if is_far(d) {
        return cpu.far_jump(d);
    }
    let t = target(cpu, d)?;
    branch_to(cpu, t)
}

fn is_far(d: &Decoded) -> bool {
    use iced_x86::MemorySize as S;
    match d.i.op_kind(0) {
        OpKind::FarBranch16 | OpKind::FarBranch32 => true,
        OpKind::Memory => matches!(d.i.memory_size(), S::SegPtr16 | S::SegPtr32 | S::SegPtr64),
        _ => false,
    }
}

pub(super) fn jcc(cpu: &mut Core, d: &Decoded) -> Res {
    if cpu.cond(d.i.condition_code()) {
        branch_to(cpu, d.i.near_branch_target())?;
    }
    Ok(())
}

/// The count register width of LOOP/JrCXZ is the address size.
fn count_size(d: &Decoded) -> usize {
    match d.amask {
        0xFFFF => 2,
        0xFFFF_FFFF => 4,
        _ => 8,
    }
}

pub(super) fn jrcxz(cpu: &mut Core, d: &Decoded) -> Res {
    if cpu.gpr[1] & mask(count_size(d)) == 0 {
        branch_to(cpu, d.i.near_branch_target())?;
    }
    Ok(())
}

pub(super) fn loop_(cpu: &mut Core, d: &Decoded) -> Res {
    let size = count_size(d);
    let count = cpu.gpr[1].wrapping_sub(1) & mask(size);
    let zf = cpu.rflags & ZF != 0;
    let take = count != 0
        && match d.i.mnemonic() {
            Mnemonic::Loope => zf,
            Mnemonic::Loopne => !zf,
            _ => true,
        };
    if take {
        branch_to(cpu, d.i.near_branch_target())?;
    }
    cpu.set_gpr_sized(1, size, count);
    Ok(())
}

pub(super) fn call(cpu: &mut Core, d: &Decoded) -> Res {
    if is_far(d) {
        return cpu.far_call(d);
    }
    let size = (-d.i.stack_pointer_increment()) as usize;
    let t = target(cpu, d)?;
    let ret = cpu.rip;
    let old_rip = cpu.rip;
    branch_to(cpu, t & mask(size))?;
    if let Err(f) = cpu.push(ret, size) {
        cpu.rip = old_rip;
        return Err(f);
    }
    Ok(())
}

pub(super) fn ret(cpu: &mut Core, d: &Decoded) -> Res {
    let size = d.i.stack_pointer_increment().unsigned_abs() as usize;
    // RET imm16: the increment includes the immediate; the popped size is
    // the operand size.
    let osize = if d.i.op_count() > 0 {
        size - d.i.immediate(0) as usize
    } else {
        size
    };
    let t = cpu.peek_stack(0, osize)?;
    branch_to(cpu, t & mask(osize))?;
    let ss = cpu.stack_size();
    let sp = cpu.gpr[4].wrapping_add(size as u64) & mask(ss);
    cpu.set_gpr_sized(4, ss, sp);
    Ok(())
}

pub(super) fn retf(cpu: &mut Core, d: &Decoded) -> Res {
    cpu.far_return(d)
}
