//! Specialised handlers for the hottest instruction forms, chosen at decode
//! time: ALU operations (register, immediate and memory forms, either
//! way round), INC/DEC, NOT/NEG, MOV, MOVZX/MOVSX/MOVSXD, CMOVcc, LEA,
//! shifts and rotates of registers, IMUL r, r/m, near Jcc/JMP/CALL/RET and
//! PUSH/POP of 64-bit registers. Each is monomorphised over the operation,
//! the operand size and, for memory operands, the addressing kind (see
//! [`Core::rd_hit`]), so it reads its operands straight from the precomputed
//! fields of `Decoded` without looking at operand kinds again.
//!
//! Register operands are GPRs other than AH, CH, DH and BH (whose number in
//! `Decoded` is `NO_REG`): those forms take the general handlers.

use iced_x86::{Code, ConditionCode, Instruction, Mnemonic, OpKind, Register};

use super::alu::{apply, Op};
use super::shift::{count_mask, shift, Op as ShiftOp};
use super::Handler;
use crate::access::{ANY, BASED64, FLAT64, FLAT64_B, FLAT64_BI, FLAT64_D};
use crate::block::Decoded;
use crate::fault::Res;
use crate::flags::{self, mask, sext, Lazy};
use crate::state::rflags::ARITH;
use crate::state::{Core, SegReg};

/// GPR `n` truncated to `W` bytes.
#[inline(always)]
fn get<const W: usize>(cpu: &Core, n: u8) -> u64 {
    cpu.gpr[(n & 15) as usize] & mask(W)
}

/// Writes a `W`-byte result to GPR `n`: 32-bit writes zero-extend, 8- and
/// 16-bit writes merge.
#[inline(always)]
fn put<const W: usize>(cpu: &mut Core, n: u8, v: u64) {
    let g = &mut cpu.gpr[(n & 15) as usize];
    *g = match W {
        8 => v,
        4 => v as u32 as u64,
        2 => (*g & !0xFFFF) | (v & 0xFFFF),
        _ => (*g & !0xFF) | (v & 0xFF),
    };
}

/// Reads the `W`-byte memory operand at `ea`. In 64-bit code, a TLB miss
/// (or anything else off the fast path) makes the handler start over as
/// its `ANY` instance, `$slow`, which takes the full path; nothing has been
/// changed before the first memory access of a handler.
macro_rules! read_or {
    ($cpu:ident, $d:ident, $ea:expr, $w:expr, $k:expr, $slow:expr) => {
        if $k == ANY {
            $cpu.read($d.seg, $ea, $w)?
        } else {
            match $cpu.rd_hit::<$k, $w>($d.seg, $ea) {
                Some(v) => v,
                None => return $slow($cpu, $d),
            }
        }
    };
}

/// Writes the `W`-byte memory operand at `ea` (see `read_or`): a miss
/// starts the instruction over as `$slow`, which must be harmless to
/// repeat up to this point (reads of RAM are).
macro_rules! write_or {
    ($cpu:ident, $d:ident, $ea:expr, $w:expr, $k:expr, $v:expr, $slow:expr) => {
        if $k == ANY {
            $cpu.write($d.seg, $ea, $w, $v)?
        } else if !$cpu.wr_hit::<$k, $w>($d.seg, $ea, $v) {
            return $slow($cpu, $d);
        }
    };
}

/// New arithmetic flags, to be committed once the instruction can no
/// longer fault: a lazy record, or (for ADC/SBB) the whole RFLAGS value.
#[derive(Clone, Copy)]
enum Fl {
    Lazy(Lazy),
    Eager(u64),
}

#[inline(always)]
fn commit(cpu: &mut Core, f: Fl) {
    match f {
        Fl::Lazy(l) => cpu.lf = l,
        Fl::Eager(f) => {
            cpu.rflags = f;
            cpu.lf.kind = Lazy::NONE;
        }
    }
}

/// The effective address of the memory operand, in the shape the
/// addressing kind `K` promises.
#[inline(always)]
fn ea<const K: u8>(cpu: &Core, d: &Decoded) -> u64 {
    let reg = |n: u8| cpu.gpr[(n & 15) as usize];
    match K {
        FLAT64_B => d.disp.wrapping_add(reg(d.base)),
        FLAT64_BI => d
            .disp
            .wrapping_add(reg(d.base))
            .wrapping_add(reg(d.index) << d.scale),
        FLAT64_D => d.disp,
        _ => cpu.ea(d),
    }
}

/// The end of a handler with a memory operand: its `ANY` instance (the
/// full path, which can write to decoded code or walk page tables in code
/// pages) reports `end_block`.
#[inline(always)]
fn done<const K: u8>(cpu: &Core) -> Res {
    if K == ANY {
        super::ended(cpu)
    } else {
        Ok(())
    }
}

/// `a OP b` on `W` bytes (both already truncated): (result, flags).
#[inline(always)]
fn alu<const OP: u8, const W: usize>(cpu: &Core, a: u64, b: u64) -> (u64, Fl) {
    let op = Op::from(OP);
    let lazy = |class: u8, r: u64| {
        Fl::Lazy(Lazy {
            kind: Lazy::kind(class, W),
            a,
            b,
            r,
        })
    };
    match op {
        Op::Add => {
            let r = a.wrapping_add(b) & mask(W);
            (r, lazy(Lazy::ADD, r))
        }
        Op::Sub | Op::Cmp => {
            let r = a.wrapping_sub(b) & mask(W);
            (r, lazy(Lazy::SUB, r))
        }
        Op::And | Op::Test => {
            let r = a & b;
            (r, lazy(Lazy::LOGIC, r))
        }
        Op::Or => {
            let r = a | b;
            (r, lazy(Lazy::LOGIC, r))
        }
        Op::Xor => {
            let r = a ^ b;
            (r, lazy(Lazy::LOGIC, r))
        }
        Op::Adc | Op::Sbb => {
            let fl = cpu.flags_now();
            let (r, f) = apply(op, a, b, fl, W);
            (r & mask(W), Fl::Eager(flags::merge(fl, f, ARITH)))
        }
    }
}

fn alu_rr<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let (a, b) = (get::<W>(cpu, d.r0), get::<W>(cpu, d.r1));
    let (r, f) = alu::<OP, W>(cpu, a, b);
    if Op::from(OP).stores() {
        put::<W>(cpu, d.r0, r);
    }
    commit(cpu, f);
    Ok(())
}

fn alu_ri<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = get::<W>(cpu, d.r0);
    let (r, f) = alu::<OP, W>(cpu, a, d.imm & mask(W));
    if Op::from(OP).stores() {
        put::<W>(cpu, d.r0, r);
    }
    commit(cpu, f);
    Ok(())
}

/// `OP reg, [mem]`.
fn alu_rm<const OP: u8, const W: usize, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    let b = read_or!(cpu, d, ea::<K>(cpu, d), W, K, alu_rm::<OP, W, ANY>);
    let a = get::<W>(cpu, d.r0);
    let (r, f) = alu::<OP, W>(cpu, a, b);
    if Op::from(OP).stores() {
        put::<W>(cpu, d.r0, r);
    }
    commit(cpu, f);
    done::<K>(cpu)
}

/// `OP [mem], reg` (`IMM` false) or `OP [mem], imm`.
fn alu_m<const OP: u8, const W: usize, const K: u8, const IMM: bool>(
    cpu: &mut Core,
    d: &Decoded,
) -> Res {
    let ea = ea::<K>(cpu, d);
    let a = read_or!(cpu, d, ea, W, K, alu_m::<OP, W, ANY, IMM>);
    let b = if IMM {
        d.imm & mask(W)
    } else {
        get::<W>(cpu, d.r1)
    };
    let (r, f) = alu::<OP, W>(cpu, a, b);
    if Op::from(OP).stores() {
        write_or!(cpu, d, ea, W, K, r, alu_m::<OP, W, ANY, IMM>);
    }
    commit(cpu, f);
    done::<K>(cpu)
}

/// INC/DEC of `a`: (result, flags); CF is kept.
#[inline(always)]
fn incdec_op<const INC: bool, const W: usize>(cpu: &Core, a: u64) -> (u64, Lazy) {
    let (r, class) = if INC {
        (a.wrapping_add(1) & mask(W), Lazy::INC)
    } else {
        (a.wrapping_sub(1) & mask(W), Lazy::DEC)
    };
    let lazy = Lazy {
        kind: Lazy::kind(class, W),
        a,
        b: cpu.carry(),
        r,
    };
    (r, lazy)
}

fn incdec<const INC: bool, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let (r, f) = incdec_op::<INC, W>(cpu, get::<W>(cpu, d.r0));
    put::<W>(cpu, d.r0, r);
    cpu.lf = f;
    Ok(())
}

fn incdec_m<const INC: bool, const W: usize, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    let ea = ea::<K>(cpu, d);
    let a = read_or!(cpu, d, ea, W, K, incdec_m::<INC, W, ANY>);
    let (r, f) = incdec_op::<INC, W>(cpu, a);
    write_or!(cpu, d, ea, W, K, r, incdec_m::<INC, W, ANY>);
    cpu.lf = f;
    done::<K>(cpu)
}

/// NOT (`NEG` false) or NEG of a register.
fn notneg<const NEG: bool, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = get::<W>(cpu, d.r0);
    if NEG {
        let r = 0u64.wrapping_sub(a) & mask(W);
        cpu.set_lazy(Lazy::kind(Lazy::SUB, W), 0, a, r);
        put::<W>(cpu, d.r0, r);
    } else {
        put::<W>(cpu, d.r0, !a);
    }
    Ok(())
}

fn mov_rr<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = cpu.gpr[(d.r1 & 15) as usize];
    put::<W>(cpu, d.r0, v);
    Ok(())
}

fn mov_ri<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    put::<W>(cpu, d.r0, d.imm);
    Ok(())
}

fn mov_rm<const W: usize, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = read_or!(cpu, d, ea::<K>(cpu, d), W, K, mov_rm::<W, ANY>);
    put::<W>(cpu, d.r0, v);
    done::<K>(cpu)
}

fn mov_mr<const W: usize, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = get::<W>(cpu, d.r1);
    write_or!(cpu, d, ea::<K>(cpu, d), W, K, v, mov_mr::<W, ANY>);
    done::<K>(cpu)
}

fn mov_mi<const W: usize, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    write_or!(
        cpu,
        d,
        ea::<K>(cpu, d),
        W,
        K,
        d.imm & mask(W),
        mov_mi::<W, ANY>
    );
    done::<K>(cpu)
}

/// MOVZX/MOVSX/MOVSXD from an `S`-byte register to a `D`-byte one.
fn movx_rr<const S: usize, const D: usize, const SIGN: bool>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = get::<S>(cpu, d.r1);
    let v = if SIGN { sext(v, S) } else { v };
    put::<D>(cpu, d.r0, v);
    Ok(())
}

/// The same from memory.
fn movx_rm<const S: usize, const D: usize, const SIGN: bool, const K: u8>(
    cpu: &mut Core,
    d: &Decoded,
) -> Res {
    let v = read_or!(cpu, d, ea::<K>(cpu, d), S, K, movx_rm::<S, D, SIGN, ANY>);
    let v = if SIGN { sext(v, S) } else { v };
    put::<D>(cpu, d.r0, v);
    done::<K>(cpu)
}

/// CMOVcc: the source is read (and may fault) whatever the condition; a
/// 32-bit destination is zero-extended even when the condition is false.
#[inline(always)]
fn cmov_put<const CC: u8, const W: usize>(cpu: &mut Core, d: &Decoded, v: u64) {
    if cpu.cond(condition(CC)) {
        put::<W>(cpu, d.r0, v);
    } else if W == 4 {
        let old = cpu.gpr[(d.r0 & 15) as usize];
        put::<W>(cpu, d.r0, old);
    }
}

fn cmov_rr<const CC: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = cpu.gpr[(d.r1 & 15) as usize];
    cmov_put::<CC, W>(cpu, d, v);
    Ok(())
}

fn cmov_rm<const CC: u8, const W: usize, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = read_or!(cpu, d, ea::<K>(cpu, d), W, K, cmov_rm::<CC, W, ANY>);
    cmov_put::<CC, W>(cpu, d, v);
    done::<K>(cpu)
}

fn lea<const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let ea = cpu.ea(d);
    put::<W>(cpu, d.r0, ea);
    Ok(())
}

/// Jcc in 64-bit mode, one instance per condition (iced's
/// `ConditionCode` numbering); the target was checked canonical at decode.
fn jcc64<const CC: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    if cpu.cond(condition(CC)) {
        cpu.rip = d.imm;
    }
    Ok(())
}

#[inline(always)]
const fn condition(n: u8) -> ConditionCode {
    use ConditionCode as C;
    match n {
        1 => C::o,
        2 => C::no,
        3 => C::b,
        4 => C::ae,
        5 => C::e,
        6 => C::ne,
        7 => C::be,
        8 => C::a,
        9 => C::s,
        10 => C::ns,
        11 => C::p,
        12 => C::np,
        13 => C::l,
        14 => C::ge,
        15 => C::le,
        16 => C::g,
        _ => C::None,
    }
}

/// `by_cc_pair!(cc, f, A, B, C)` picks `f::<A, B, C, CC>`.
macro_rules! by_cc_pair {
    ($cc:expr, $f:ident, $a:tt, $b:tt, $c:tt) => {
        match $cc as u8 {
            1 => $f::<$a, $b, $c, 1> as Handler,
            2 => $f::<$a, $b, $c, 2> as Handler,
            3 => $f::<$a, $b, $c, 3> as Handler,
            4 => $f::<$a, $b, $c, 4> as Handler,
            5 => $f::<$a, $b, $c, 5> as Handler,
            6 => $f::<$a, $b, $c, 6> as Handler,
            7 => $f::<$a, $b, $c, 7> as Handler,
            8 => $f::<$a, $b, $c, 8> as Handler,
            9 => $f::<$a, $b, $c, 9> as Handler,
            10 => $f::<$a, $b, $c, 10> as Handler,
            11 => $f::<$a, $b, $c, 11> as Handler,
            12 => $f::<$a, $b, $c, 12> as Handler,
            13 => $f::<$a, $b, $c, 13> as Handler,
            14 => $f::<$a, $b, $c, 14> as Handler,
            15 => $f::<$a, $b, $c, 15> as Handler,
            _ => $f::<$a, $b, $c, 16> as Handler,
        }
    };
}

/// One handler instance per condition code: `by_cc!(cc, f::<A, B>)` picks
/// `f::<CC, A, B>`.
macro_rules! by_cc {
    ($cc:expr, $f:ident $(::<$($g:tt),*>)?) => {
        match $cc as u8 {
            1 => $f::<1 $($(, $g)*)?> as Handler,
            2 => $f::<2 $($(, $g)*)?> as Handler,
            3 => $f::<3 $($(, $g)*)?> as Handler,
            4 => $f::<4 $($(, $g)*)?> as Handler,
            5 => $f::<5 $($(, $g)*)?> as Handler,
            6 => $f::<6 $($(, $g)*)?> as Handler,
            7 => $f::<7 $($(, $g)*)?> as Handler,
            8 => $f::<8 $($(, $g)*)?> as Handler,
            9 => $f::<9 $($(, $g)*)?> as Handler,
            10 => $f::<10 $($(, $g)*)?> as Handler,
            11 => $f::<11 $($(, $g)*)?> as Handler,
            12 => $f::<12 $($(, $g)*)?> as Handler,
            13 => $f::<13 $($(, $g)*)?> as Handler,
            14 => $f::<14 $($(, $g)*)?> as Handler,
            15 => $f::<15 $($(, $g)*)?> as Handler,
            _ => $f::<16 $($(, $g)*)?> as Handler,
        }
    };
}

/// `by_cc!` for the handler selectors below (`fn(kind) -> Handler`).
macro_rules! by_cc_sel {
    ($cc:expr, $f:ident $(::<$($g:tt),*>)?) => {
        match $cc as u8 {
            1 => $f::<1 $($(, $g)*)?> as fn(u8) -> Handler,
            2 => $f::<2 $($(, $g)*)?> as fn(u8) -> Handler,
            3 => $f::<3 $($(, $g)*)?> as fn(u8) -> Handler,
            4 => $f::<4 $($(, $g)*)?> as fn(u8) -> Handler,
            5 => $f::<5 $($(, $g)*)?> as fn(u8) -> Handler,
            6 => $f::<6 $($(, $g)*)?> as fn(u8) -> Handler,
            7 => $f::<7 $($(, $g)*)?> as fn(u8) -> Handler,
            8 => $f::<8 $($(, $g)*)?> as fn(u8) -> Handler,
            9 => $f::<9 $($(, $g)*)?> as fn(u8) -> Handler,
            10 => $f::<10 $($(, $g)*)?> as fn(u8) -> Handler,
            11 => $f::<11 $($(, $g)*)?> as fn(u8) -> Handler,
            12 => $f::<12 $($(, $g)*)?> as fn(u8) -> Handler,
            13 => $f::<13 $($(, $g)*)?> as fn(u8) -> Handler,
            14 => $f::<14 $($(, $g)*)?> as fn(u8) -> Handler,
            15 => $f::<15 $($(, $g)*)?> as fn(u8) -> Handler,
            _ => $f::<16 $($(, $g)*)?> as fn(u8) -> Handler,
        }
    };
}

fn jmp64(cpu: &mut Core, d: &Decoded) -> Res {
    cpu.rip = d.imm;
    Ok(())
}

/// CALL rel32 in 64-bit mode.
fn call64(cpu: &mut Core, d: &Decoded) -> Res {
    let sp = cpu.gpr[4].wrapping_sub(8);
    let hit = cpu.wr_hit::<FLAT64, 8>(SegReg::Ss, sp, cpu.rip);
    if !hit {
        cpu.write(SegReg::Ss, sp, 8, cpu.rip)?;
    }
    cpu.gpr[4] = sp;
    cpu.rip = d.imm;
    slow_done(cpu, hit)
}

/// RET in 64-bit mode.
fn ret64(cpu: &mut Core, _: &Decoded) -> Res {
    let sp = cpu.gpr[4];
    let (t, hit) = match cpu.rd_hit::<FLAT64, 8>(SegReg::Ss, sp) {
        Some(t) => (t, true),
        None => (cpu.read(SegReg::Ss, sp, 8)?, false),
    };
    if !canonical(t) {
        return Err(crate::fault::Fault::GP0);
    }
    cpu.gpr[4] = sp.wrapping_add(8);
    cpu.rip = t;
    slow_done(cpu, hit)
}

fn push64(cpu: &mut Core, d: &Decoded) -> Res {
    let sp = cpu.gpr[4].wrapping_sub(8);
    let v = cpu.gpr[(d.r0 & 15) as usize];
    let hit = cpu.wr_hit::<FLAT64, 8>(SegReg::Ss, sp, v);
    if !hit {
        cpu.write(SegReg::Ss, sp, 8, v)?;
    }
    cpu.gpr[4] = sp;
    slow_done(cpu, hit)
}

fn pop64(cpu: &mut Core, d: &Decoded) -> Res {
    let sp = cpu.gpr[4];
    let (v, hit) = match cpu.rd_hit::<FLAT64, 8>(SegReg::Ss, sp) {
        Some(v) => (v, true),
        None => (cpu.read(SegReg::Ss, sp, 8)?, false),
    };
    cpu.gpr[4] = sp.wrapping_add(8);
    cpu.gpr[(d.r0 & 15) as usize] = v;
    slow_done(cpu, hit)
}

/// The end of a stack handler: after a TLB miss took the full path,
/// report `end_block` (see [`done`]).
#[inline(always)]
fn slow_done(cpu: &Core, hit: bool) -> Res {
    if hit {
        Ok(())
    } else {
        super::ended(cpu)
    }
}

/// SHL/SHR/SAR (lazy flags) or ROL/ROR of GPR `d.r0` by `count` (masked).
#[inline(always)]
fn shift_reg<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded, count: u32) {
    let op = ShiftOp::from(OP);
    let v = get::<W>(cpu, d.r0);
    match op {
        ShiftOp::Shl | ShiftOp::Shr | ShiftOp::Sar => {
            let (r, _) = shift(op, v, count, W, 0);
            if count != 0 {
                let class = match op {
                    ShiftOp::Shl => Lazy::SHL,
                    ShiftOp::Shr => Lazy::SHR,
                    _ => Lazy::SAR,
                };
                cpu.set_lazy(Lazy::kind(class, W), v, count as u64, r);
            }
            put::<W>(cpu, d.r0, r);
        }
        _ => {
            let (r, f) = shift(op, v, count, W, cpu.flags_now());
            put::<W>(cpu, d.r0, r);
            if count != 0 {
                commit(cpu, Fl::Eager(f));
            }
        }
    }
}

/// Shift or rotate of a register by an immediate (or the `1` form).
fn shift_ri<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    shift_reg::<OP, W>(cpu, d, d.imm as u32 & count_mask(W));
    Ok(())
}

/// The same with the count in CL.
fn shift_rcl<const OP: u8, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    shift_reg::<OP, W>(cpu, d, cpu.gpr[1] as u32 & count_mask(W));
    Ok(())
}

/// IMUL r, r/m (and r, r/m, imm when `IMM`) of `a`: the truncated signed
/// product; CF = OF = the product did not fit. SF, ZF, AF and PF are left
/// as they were, as the reference (AMD) hardware does.
#[inline(always)]
fn imul_op<const IMM: bool, const W: usize>(cpu: &mut Core, d: &Decoded, a: u64) {
    let b = if IMM {
        d.imm
    } else {
        cpu.gpr[(d.r0 & 15) as usize]
    };
    let p = (flags::sext(a, W) as i64 as i128) * (flags::sext(b, W) as i64 as i128);
    let r = p as u64 & mask(W);
    let overflow = flags::sext(r, W) as i64 as i128 != p;
    put::<W>(cpu, d.r0, r);
    cpu.set_cf_of(overflow);
}

fn imul_rr<const IMM: bool, const W: usize>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = cpu.gpr[(d.r1 & 15) as usize];
    imul_op::<IMM, W>(cpu, d, a);
    Ok(())
}

fn imul_rm<const IMM: bool, const W: usize, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    let a = read_or!(cpu, d, ea::<K>(cpu, d), W, K, imul_rm::<IMM, W, ANY>);
    imul_op::<IMM, W>(cpu, d, a);
    done::<K>(cpu)
}

/// SETcc of a byte register.
fn setcc_r<const CC: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = cpu.cond(condition(CC)) as u64;
    put::<1>(cpu, d.r0, v);
    Ok(())
}

/// SETcc of a byte in memory.
fn setcc_m<const CC: u8, const K: u8>(cpu: &mut Core, d: &Decoded) -> Res {
    let v = cpu.cond(condition(CC)) as u64;
    write_or!(cpu, d, ea::<K>(cpu, d), 1, K, v, setcc_m::<CC, ANY>);
    done::<K>(cpu)
}

fn canonical(v: u64) -> bool {
    ((v << 16) as i64 >> 16) as u64 == v
}

/// GPR number and size of register operand `n`: any GPR but the legacy
/// high-byte registers.
fn gpr(i: &Instruction, n: u32) -> Option<(u8, usize)> {
    if n >= i.op_count() || i.op_kind(n) != OpKind::Register {
        return None;
    }
    let r = i.op_register(n);
    let high = matches!(r, Register::AH | Register::CH | Register::DH | Register::BH);
    (r.is_gpr() && !high).then(|| (r.full_register().number() as u8, r.size()))
}

fn is_imm(k: OpKind) -> bool {
    matches!(
        k,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
    )
}

/// The addressing kind of `i`'s memory operand (see [`Core::rd_hit`]).
fn addressing(i: &Instruction) -> u8 {
    if i.code_size() != iced_x86::CodeSize::Code64 {
        return ANY;
    }
    if matches!(i.memory_segment(), Register::FS | Register::GS) {
        return BASED64;
    }
    let gpr64 = |r: Register| r.is_gpr64();
    let (base, index) = (i.memory_base(), i.memory_index());
    let has_mem = (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Memory);
    if !has_mem {
        return FLAT64;
    }
    match (base, index) {
        (Register::RIP | Register::None, Register::None)
            if i.memory_displ_size() != 4 || base == Register::RIP =>
        {
            FLAT64_D
        }
        (b, Register::None) if gpr64(b) => FLAT64_B,
        (b, x) if gpr64(b) && gpr64(x) => FLAT64_BI,
        _ => FLAT64,
    }
}

/// `f::<..., W>` for an operand size `W` of 4 or 8 bytes.
macro_rules! by_size {
    ($w:expr, $f:ident $(::<$($g:tt),*>)?) => {
        if $w == 8 {
            $f::<$($($g,)*)? 8> as Handler
        } else {
            $f::<$($($g,)*)? 4> as Handler
        }
    };
}

/// `f::<..., W>` for any operand size.
macro_rules! any_size {
    ($w:expr, $f:ident $(::<$($g:tt),*>)?) => {
        match $w {
            1 => $f::<$($($g,)*)? 1> as Handler,
            2 => $f::<$($($g,)*)? 2> as Handler,
            4 => $f::<$($($g,)*)? 4> as Handler,
            _ => $f::<$($($g,)*)? 8> as Handler,
        }
    };
}

/// `kinds!(k, f [A, ...] [B, ...])` is `f::<A, ..., K, B, ...>` for any
/// addressing kind `K`.
macro_rules! kinds {
    ($k:expr, $f:ident [$($g:tt),*] [$($rest:tt),*]) => {
        match $k {
            ANY => $f::<$($g,)* ANY $(, $rest)*> as Handler,
            FLAT64 => $f::<$($g,)* FLAT64 $(, $rest)*> as Handler,
            BASED64 => $f::<$($g,)* BASED64 $(, $rest)*> as Handler,
            FLAT64_B => $f::<$($g,)* FLAT64_B $(, $rest)*> as Handler,
            FLAT64_BI => $f::<$($g,)* FLAT64_BI $(, $rest)*> as Handler,
            _ => $f::<$($g,)* FLAT64_D $(, $rest)*> as Handler,
        }
    };
}

/// `mem_form!(w, k, f [A, ...] [B, ...])` is `f::<A, ..., W, K, B, ...>` for
/// any operand size `W` and addressing kind `K`.
macro_rules! mem_form {
    ($w:expr, $k:expr, $f:ident [$($g:tt),*] [$($rest:tt),*]) => {
        match $w {
            1 => kinds!($k, $f [$($g,)* 1] [$($rest),*]),
            2 => kinds!($k, $f [$($g,)* 2] [$($rest),*]),
            4 => kinds!($k, $f [$($g,)* 4] [$($rest),*]),
            _ => kinds!($k, $f [$($g,)* 8] [$($rest),*]),
        }
    };
}

/// The CMOVcc r, [mem] handler for addressing kind `k`.
fn cmov_kind<const CC: u8, const W: usize>(k: u8) -> Handler {
    kinds!(k, cmov_rm [CC, W] [])
}

/// The SETcc [mem] handler for addressing kind `k`.
fn setcc_kind<const CC: u8>(k: u8) -> Handler {
    kinds!(k, setcc_m [CC] [])
}

/// ALU forms: 0 = reg, reg; 1 = reg, imm; 2 = reg, [mem]; 3 = [mem], reg;
/// 4 = [mem], imm.
fn alu_handler(op: Op, w: usize, form: u8, k: u8) -> Handler {
    macro_rules! forms {
        ($($op:ident),*) => {
            match op {
                $(Op::$op => match form {
                    0 => any_size!(w, alu_rr::<{ Op::$op as u8 }>),
                    1 => any_size!(w, alu_ri::<{ Op::$op as u8 }>),
                    2 => mem_form!(w, k, alu_rm [{ Op::$op as u8 }] []),
                    3 => mem_form!(w, k, alu_m [{ Op::$op as u8 }] [false]),
                    _ => mem_form!(w, k, alu_m [{ Op::$op as u8 }] [true]),
                },)*
            }
        };
    }
    forms!(Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test)
}

/// CMP or TEST of a register with a register or an immediate, fused with
/// the Jcc after it (see [`fuse`]): `d` holds the compare's operands, the
/// Jcc's `Instruction` (RIP already points past it) and its target in
/// `disp`.
fn cmp_jcc<const OP: u8, const W: usize, const IMM: bool, const CC: u8>(
    cpu: &mut Core,
    d: &Decoded,
) -> Res {
    let a = get::<W>(cpu, d.r0);
    let b = if IMM {
        d.imm & mask(W)
    } else {
        get::<W>(cpu, d.r1)
    };
    let (_, f) = alu::<OP, W>(cpu, a, b);
    commit(cpu, f);
    if cpu.cond(condition(CC)) {
        cpu.rip = d.disp;
    }
    Ok(())
}

/// Fuses a register CMP/TEST (`first`, whose instruction is `fi`) with the
/// 64-bit Jcc after it (`jcc`, instruction `ji`) into one entry that does
/// both, if the pair has that form. Neither part can fault or end a block,
/// so the pair retires as a whole (the block counts it as two).
pub(crate) fn fuse(first: &Decoded, jcc: &Decoded) -> Option<Decoded> {
    let (fi, ji) = (&first.i, &jcc.i);
    if fi.code_size() != iced_x86::CodeSize::Code64
        || fi.op_count() != 2
        || !matches!(fi.mnemonic(), Mnemonic::Cmp | Mnemonic::Test)
        || ji.op_count() != 1
        || ji.op_kind(0) != OpKind::NearBranch64
        || !super::is_jcc(ji.mnemonic())
        || !canonical(ji.near_branch64())
    {
        return None;
    }
    let (_, w) = gpr(fi, 0)?;
    let imm = match fi.op_kind(1) {
        OpKind::Register => {
            gpr(fi, 1).filter(|g| g.1 == w)?;
            false
        }
        k if is_imm(k) => true,
        _ => return None,
    };
    let cc = ji.condition_code();
    if !matches!(w, 4 | 8) || cc == ConditionCode::None {
        return None;
    }
    macro_rules! pick {
        ($op:expr) => {
            match (w, imm) {
                (8, true) => by_cc_pair!(cc, cmp_jcc, { $op as u8 }, 8, true),
                (8, false) => by_cc_pair!(cc, cmp_jcc, { $op as u8 }, 8, false),
                (_, true) => by_cc_pair!(cc, cmp_jcc, { $op as u8 }, 4, true),
                (_, false) => by_cc_pair!(cc, cmp_jcc, { $op as u8 }, 4, false),
            }
        };
    }
    let exec = if fi.mnemonic() == Mnemonic::Cmp {
        pick!(Op::Cmp)
    } else {
        pick!(Op::Test)
    };
    Some(Decoded {
        i: *ji,
        exec,
        inner: exec,
        disp: jcc.imm,
        ..*first
    })
}

/// A specialised handler for `i`, if its form has one.
pub(super) fn select(i: &Instruction) -> Option<Handler> {
    let long = i.code_size() == iced_x86::CodeSize::Code64;
    let k1 = if i.op_count() > 1 {
        i.op_kind(1)
    } else {
        OpKind::Register
    };
    let mem0 = i.op_count() > 0 && i.op_kind(0) == OpKind::Memory;
    let k = addressing(i);
    let r0 = gpr(i, 0);
    let op = match i.mnemonic() {
        Mnemonic::Add => Some(Op::Add),
        Mnemonic::Or => Some(Op::Or),
        Mnemonic::Adc => Some(Op::Adc),
        Mnemonic::Sbb => Some(Op::Sbb),
        Mnemonic::And => Some(Op::And),
        Mnemonic::Sub => Some(Op::Sub),
        Mnemonic::Xor => Some(Op::Xor),
        Mnemonic::Cmp => Some(Op::Cmp),
        Mnemonic::Test => Some(Op::Test),
        _ => None,
    };
    if let Some(op) = op {
        if i.op_count() != 2 {
            return None;
        }
        if let Some((_, w)) = r0 {
            return match k1 {
                OpKind::Register => gpr(i, 1)
                    .filter(|g| g.1 == w)
                    .map(|_| alu_handler(op, w, 0, k)),
                k1 if is_imm(k1) => Some(alu_handler(op, w, 1, k)),
                OpKind::Memory => Some(alu_handler(op, w, 2, k)),
                _ => None,
            };
        }
        if mem0 {
            let w = i.memory_size().size();
            return match k1 {
                OpKind::Register => gpr(i, 1)
                    .filter(|g| g.1 == w)
                    .map(|_| alu_handler(op, w, 3, k)),
                k1 if is_imm(k1) => Some(alu_handler(op, w, 4, k)),
                _ => None,
            };
        }
        return None;
    }
    match i.mnemonic() {
        Mnemonic::Inc | Mnemonic::Dec => {
            let inc = i.mnemonic() == Mnemonic::Inc;
            if let Some((_, w)) = r0 {
                Some(if inc {
                    any_size!(w, incdec::<true>)
                } else {
                    any_size!(w, incdec::<false>)
                })
            } else if mem0 {
                let w = i.memory_size().size();
                Some(if inc {
                    mem_form!(w, k, incdec_m [true] [])
                } else {
                    mem_form!(w, k, incdec_m [false] [])
                })
            } else {
                None
            }
        }
        Mnemonic::Not | Mnemonic::Neg => {
            let (_, w) = r0?;
            Some(if i.mnemonic() == Mnemonic::Neg {
                any_size!(w, notneg::<true>)
            } else {
                any_size!(w, notneg::<false>)
            })
        }
        Mnemonic::Mov => {
            if let Some((_, w)) = r0 {
                match k1 {
                    OpKind::Register => {
                        gpr(i, 1).filter(|g| g.1 == w).map(|_| any_size!(w, mov_rr))
                    }
                    k1 if is_imm(k1) => Some(any_size!(w, mov_ri)),
                    OpKind::Memory => Some(mem_form!(w, k, mov_rm [] [])),
                    _ => None,
                }
            } else if mem0 {
                let w = i.memory_size().size();
                if !matches!(w, 1 | 2 | 4 | 8) {
                    return None;
                }
                match k1 {
                    OpKind::Register => gpr(i, 1)
                        .filter(|g| g.1 == w)
                        .map(|_| mem_form!(w, k, mov_mr [] [])),
                    k1 if is_imm(k1) => Some(mem_form!(w, k, mov_mi [] [])),
                    _ => None,
                }
            } else {
                None
            }
        }
        Mnemonic::Movzx | Mnemonic::Movsx | Mnemonic::Movsxd => {
            let (_, dw) = r0?;
            let sign = i.mnemonic() != Mnemonic::Movzx;
            let sw = match k1 {
                OpKind::Register => gpr(i, 1)?.1,
                OpKind::Memory => i.memory_size().size(),
                _ => return None,
            };
            // Only widening forms (MOVSXD r32, r/m32 and the like are
            // left to the general handler).
            if sw >= dw || !matches!((sw, dw), (1, 2 | 4 | 8) | (2, 4 | 8) | (4, 8)) {
                return None;
            }
            macro_rules! pick {
                ($s:literal, $d:literal) => {
                    match (k1, sign) {
                        (OpKind::Register, false) => movx_rr::<$s, $d, false> as Handler,
                        (OpKind::Register, true) => movx_rr::<$s, $d, true> as Handler,
                        (_, false) => kinds!(k, movx_rm [$s, $d, false] []),
                        (_, true) => kinds!(k, movx_rm [$s, $d, true] []),
                    }
                };
            }
            Some(match (sw, dw) {
                (1, 2) => pick!(1, 2),
                (1, 4) => pick!(1, 4),
                (1, 8) => pick!(1, 8),
                (2, 4) => pick!(2, 4),
                (2, 8) => pick!(2, 8),
                _ => pick!(4, 8),
            })
        }
        Mnemonic::Cmova
        | Mnemonic::Cmovae
        | Mnemonic::Cmovb
        | Mnemonic::Cmovbe
        | Mnemonic::Cmove
        | Mnemonic::Cmovne
        | Mnemonic::Cmovg
        | Mnemonic::Cmovge
        | Mnemonic::Cmovl
        | Mnemonic::Cmovle
        | Mnemonic::Cmovo
        | Mnemonic::Cmovno
        | Mnemonic::Cmovp
        | Mnemonic::Cmovnp
        | Mnemonic::Cmovs
        | Mnemonic::Cmovns => {
            let (_, w) = r0?;
            let cc = i.condition_code();
            if !matches!(w, 4 | 8) || cc == ConditionCode::None {
                return None;
            }
            match k1 {
                OpKind::Register => {
                    gpr(i, 1).filter(|g| g.1 == w)?;
                    Some(if w == 8 {
                        by_cc!(cc, cmov_rr::<8>)
                    } else {
                        by_cc!(cc, cmov_rr::<4>)
                    })
                }
                OpKind::Memory => Some(if w == 8 {
                    by_cc_sel!(cc, cmov_kind::<8>)(k)
                } else {
                    by_cc_sel!(cc, cmov_kind::<4>)(k)
                }),
                _ => None,
            }
        }
        Mnemonic::Lea => {
            let (_, w) = r0?;
            if !matches!(w, 4 | 8) {
                return None;
            }
            Some(by_size!(w, lea))
        }
        Mnemonic::Shl
        | Mnemonic::Sal
        | Mnemonic::Shr
        | Mnemonic::Sar
        | Mnemonic::Rol
        | Mnemonic::Ror => {
            let (_, w) = r0?;
            let by_cl = match k1 {
                OpKind::Register if i.op_register(1) == Register::CL => true,
                OpKind::Immediate8 => false,
                _ => return None,
            };
            macro_rules! pick {
                ($op:expr) => {
                    if by_cl {
                        any_size!(w, shift_rcl::<{ $op as u8 }>)
                    } else {
                        any_size!(w, shift_ri::<{ $op as u8 }>)
                    }
                };
            }
            Some(match i.mnemonic() {
                Mnemonic::Shl | Mnemonic::Sal => pick!(ShiftOp::Shl),
                Mnemonic::Shr => pick!(ShiftOp::Shr),
                Mnemonic::Sar => pick!(ShiftOp::Sar),
                Mnemonic::Rol => pick!(ShiftOp::Rol),
                _ => pick!(ShiftOp::Ror),
            })
        }
        Mnemonic::Imul if i.op_count() >= 2 => {
            let (_, w) = r0?;
            let imm = i.op_count() == 3;
            if !matches!(w, 4 | 8) {
                return None;
            }
            match k1 {
                OpKind::Register => {
                    gpr(i, 1).filter(|g| g.1 == w)?;
                    Some(match (imm, w) {
                        (true, 8) => imul_rr::<true, 8> as Handler,
                        (true, _) => imul_rr::<true, 4> as Handler,
                        (false, 8) => imul_rr::<false, 8> as Handler,
                        (false, _) => imul_rr::<false, 4> as Handler,
                    })
                }
                OpKind::Memory => Some(if imm {
                    mem_form!(w, k, imul_rm [true] [])
                } else {
                    mem_form!(w, k, imul_rm [false] [])
                }),
                _ => None,
            }
        }
        Mnemonic::Seta
        | Mnemonic::Setae
        | Mnemonic::Setb
        | Mnemonic::Setbe
        | Mnemonic::Sete
        | Mnemonic::Setne
        | Mnemonic::Setg
        | Mnemonic::Setge
        | Mnemonic::Setl
        | Mnemonic::Setle
        | Mnemonic::Seto
        | Mnemonic::Setno
        | Mnemonic::Setp
        | Mnemonic::Setnp
        | Mnemonic::Sets
        | Mnemonic::Setns => {
            let cc = i.condition_code();
            if cc == ConditionCode::None {
                return None;
            }
            if let Some((_, 1)) = r0 {
                Some(by_cc!(cc, setcc_r))
            } else if mem0 {
                Some(by_cc_sel!(cc, setcc_kind)(k))
            } else {
                None
            }
        }
        _ if !long => None,
        Mnemonic::Jmp if i.op_kind(0) == OpKind::NearBranch64 && canonical(i.near_branch64()) => {
            Some(jmp64)
        }
        _ if i.op_count() > 0
            && i.op_kind(0) == OpKind::NearBranch64
            && i.condition_code() != ConditionCode::None
            && matches!(i.mnemonic(), m if super::is_jcc(m))
            && canonical(i.near_branch64()) =>
        {
            Some(by_cc!(i.condition_code(), jcc64))
        }
        Mnemonic::Call if i.code() == Code::Call_rel32_64 && canonical(i.near_branch64()) => {
            Some(call64)
        }
        Mnemonic::Ret if i.code() == Code::Retnq => Some(ret64),
        Mnemonic::Push if i.code() == Code::Push_r64 => Some(push64),
        Mnemonic::Pop if i.code() == Code::Pop_r64 => Some(pop64),
        _ => None,
    }
}

/// The immediate a specialised handler reads from `Decoded::imm`: branch
/// targets for the branch forms.
pub(crate) fn branch_target(i: &Instruction) -> Option<u64> {
    (i.op_count() > 0 && i.op_kind(0) == OpKind::NearBranch64).then(|| i.near_branch64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_numbering_matches_iced() {
        for n in 0..=16u8 {
            assert_eq!(condition(n) as u8, n);
        }
    }
}
