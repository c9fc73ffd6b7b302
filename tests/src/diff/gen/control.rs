//! Control flow: conditional and unconditional branches, loops, and the
//! stack (PUSH/POP/CALL/RET/ENTER/LEAVE).
//!
//! Branches are forward over marker instructions (`mov r32, imm32`, which
//! leave flags alone), so whether a branch was taken shows in registers.
//! Backward loops run a bounded number of times (RCX/ECX 1..=6).

use iced_x86::{Code, Instruction, MemoryOperand, Mnemonic as M, OpCodeOperandKind as K, Register};

use super::data::flag_setters;
use super::Generator;
use crate::diff::build::{any_imm, bit, gpr, Gen, Opts, RBP, RCX, RSP};
use crate::diff::case::{Fixup, LABEL_BASE, STACK_INIT};
use crate::diff::rng::Rng;

/// Codes of the given mnemonics valid in 64-bit mode whose only operand is
/// of kind `k`.
fn branch_codes(mnemonics: &[M], k: K) -> Vec<Code> {
    let v: Vec<Code> = Code::values()
        .filter(|c| {
            let op = c.op_code();
            op.mode64() && mnemonics.contains(&c.mnemonic()) && op.op_kinds() == [k]
        })
        .collect();
    assert!(!v.is_empty(), "no codes for {mnemonics:?} {k:?}");
    v
}

const JCC: [M; 16] = [
    M::Jo,
    M::Jno,
    M::Jb,
    M::Jae,
    M::Je,
    M::Jne,
    M::Jbe,
    M::Ja,
    M::Js,
    M::Jns,
    M::Jp,
    M::Jnp,
    M::Jl,
    M::Jge,
    M::Jle,
    M::Jg,
];

fn label(i: usize) -> u64 {
    LABEL_BASE + i as u64
}

/// Appends `mov r32, imm32` to a register not in `avoid` (a marker).
fn marker(g: &mut Gen, avoid: u16) -> Option<usize> {
    let r = g.pick_reg(32, avoid);
    let v = 0x4D00_0000 | g.insns.len() as u32;
    g.push(Instruction::with2(Code::Mov_r32_imm32, r, v).ok()?)
}

fn landing(g: &mut Gen) -> Option<usize> {
    g.push(Instruction::with(Code::Nopd))
}

/// A value for RCX ahead of LOOP/JRCXZ: zero, one, values whose low half
/// differs from the whole, all-ones.
fn count_value(rng: &mut Rng) -> u64 {
    let (r1, r2) = (rng.next_u64(), rng.next_u64());
    *rng.pick(&[
        0,
        1,
        2,
        3,
        0x1_0000_0000,
        0x1_0000_0001,
        0xFFFF_FFFF,
        u64::MAX,
        0xFFFF_FFFF_0000_0000,
        r1,
        r2 & 0xFFFF_FFFF_0000_0003,
    ])
}

pub struct Branch {
    jcc8: Vec<Code>,
    jcc32: Vec<Code>,
    loops: Vec<Code>,
    jmp: Vec<Code>,
    setters: Vec<Code>,
    body: Vec<Code>,
}

impl Branch {
    pub fn new() -> Branch {
        Branch {
            jcc8: branch_codes(&JCC, K::br64_1),
            jcc32: branch_codes(&JCC, K::br64_4),
            loops: branch_codes(
                &[M::Loop, M::Loope, M::Loopne, M::Jrcxz, M::Jecxz],
                K::br64_1,
            ),
            jmp: vec![Code::Jmp_rel8_64, Code::Jmp_rel32_64],
            setters: flag_setters(),
            body: crate::diff::build::codes(
                &[M::Add, M::Sub, M::Xor, M::Inc, M::Dec, M::Cmp],
                |_| true,
            ),
        }
    }

    /// `[setter] branch T; marker...; T: nop`, possibly twice in a row.
    fn forward(&self, g: &mut Gen) -> Option<()> {
        if g.rng.chance(50) {
            g.push_random(&self.setters, Opts::default(), &mut any_imm)?;
        }
        for _ in 0..1 + g.rng.below(2) {
            let code = match g.rng.below(10) {
                0..=3 => *g.rng.pick(&self.jcc8),
                4..=5 => *g.rng.pick(&self.jcc32),
                6..=8 => *g.rng.pick(&self.loops),
                _ => *g.rng.pick(&self.jmp),
            };
            if matches!(
                code.mnemonic(),
                M::Loop | M::Loope | M::Loopne | M::Jrcxz | M::Jecxz
            ) && g.written & bit(RCX) == 0
            {
                let v = count_value(g.rng);
                g.set_reg(Register::RCX, v);
            }
            let markers = 1 + g.rng.below(2) as usize;
            let target = g.insns.len() + 1 + markers;
            g.push(Instruction::with_branch(code, label(target)).ok()?)?;
            for _ in 0..markers {
                marker(g, bit(RCX))?;
            }
            landing(g)?;
        }
        Some(())
    }

    /// `L: body; loop L` with a small count.
    fn backward(&self, g: &mut Gen) -> Option<()> {
        let code = *g.rng.pick(&[
            Code::Loop_rel8_64_RCX,
            Code::Loop_rel8_64_ECX,
            Code::Loope_rel8_64_RCX,
            Code::Loope_rel8_64_ECX,
            Code::Loopne_rel8_64_RCX,
            Code::Loopne_rel8_64_ECX,
        ]);
        let count = g.rng.range(1, 6);
        let v = if matches!(
            code,
            Code::Loop_rel8_64_ECX | Code::Loope_rel8_64_ECX | Code::Loopne_rel8_64_ECX
        ) {
            (g.rng.next_u64() & !0xFFFF_FFFF) | count
        } else {
            count
        };
        g.set_reg(Register::RCX, v);
        g.avoid |= bit(RCX);
        let top = g.insns.len();
        let opts = Opts {
            mem_percent: 0,
            ..Opts::default()
        };
        for _ in 0..1 + g.rng.below(2) {
            g.push_random(&self.body, opts, &mut any_imm)?;
        }
        g.push(Instruction::with_branch(code, label(top)).ok()?)?;
        landing(g)?;
        Some(())
    }

    /// `jmp reg` / `jmp [mem]` to a later label.
    fn indirect(&self, g: &mut Gen) -> Option<()> {
        let markers = 1 + g.rng.below(2) as usize;
        let target = g.insns.len() + 1 + markers;
        let ins = if g.rng.bool() {
            let r = g.pick_reg(64, g.addr_regs);
            let (i, _, _) = crate::diff::build::reg_slot(r)?;
            g.fixups.push(Fixup::Reg {
                reg: i,
                label: target,
            });
            g.assigned |= bit(i);
            g.addr_regs |= bit(i);
            Instruction::with1(Code::Jmp_rm64, r).ok()?
        } else {
            let (m, addr) = g.mem(8, 8)?;
            let offset = (addr - g.layout.data()) as usize;
            g.fixups.push(Fixup::Data {
                offset,
                label: target,
            });
            Instruction::with1(Code::Jmp_rm64, m).ok()?
        };
        g.push(ins)?;
        for _ in 0..markers {
            marker(g, 0)?;
        }
        landing(g)?;
        Some(())
    }
}

impl Generator for Branch {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        g.straight = false;
        match g.rng.below(10) {
            0..=6 => self.forward(g),
            7..=8 => self.backward(g),
            _ => self.indirect(g),
        }
    }
}

/// PUSH/POP/CALL/RET/ENTER/LEAVE. Near CALL/RET/JMP with a 16-bit operand
/// size are excluded: AMD honours the 0x66 prefix (16-bit return address,
/// truncated RIP) while Intel ignores it, and a truncated RIP leaves the
/// code page on the host.
pub struct Stack;

const PUSH_POP: [Code; 12] = [
    Code::Push_r64,
    Code::Push_r16,
    Code::Pop_r64,
    Code::Pop_r16,
    Code::Push_rm64,
    Code::Push_rm16,
    Code::Pop_rm64,
    Code::Pop_rm16,
    Code::Pushq_imm8,
    Code::Pushq_imm32,
    Code::Pushw_imm8,
    Code::Push_imm16,
];

impl Stack {
    fn push_pop(&self, g: &mut Gen, n: u64) -> Option<()> {
        for k in 0..n {
            let last = k + 1 == n;
            let code = *g.rng.pick(&PUSH_POP);
            let is_pop = code.mnemonic() == M::Pop;
            let wide = matches!(
                code,
                Code::Push_r64 | Code::Pop_r64 | Code::Push_rm64 | Code::Pop_rm64
            );
            // PUSH RSP pushes the old value; POP RSP loads it (only last:
            // later stack operations would use the loaded value).
            let rsp = g.rng.chance(8) && (!is_pop || last);
            let ins = if rsp
                && matches!(
                    code,
                    Code::Push_r64 | Code::Pop_r64 | Code::Push_r16 | Code::Pop_r16
                ) {
                Instruction::with1(code, gpr(if wide { 64 } else { 16 }, RSP)).ok()?
            } else {
                g.build(code, Opts::default(), &mut any_imm)?
            };
            g.push(ins)?;
        }
        Some(())
    }

    /// `push/pop [rsp+d]`: the address of POP's destination is computed
    /// after RSP has been incremented.
    fn rsp_relative(&self, g: &mut Gen) -> Option<()> {
        let code = *g.rng.pick(&[
            Code::Push_rm64,
            Code::Pop_rm64,
            Code::Push_rm16,
            Code::Pop_rm16,
        ]);
        let d = g.rng.below(0x200) as i64 - 0x100;
        let m = MemoryOperand::with_base_displ_size(Register::RSP, d, 1);
        g.push(Instruction::with1(code, m).ok()?)?;
        Some(())
    }

    fn enter_leave(&self, g: &mut Gen) -> Option<()> {
        // RBP points into the stack window above RSP, so LEAVE and ENTER's
        // nested frame pointer copies stay inside it.
        let rbp = g.layout.rsp0() + 0x100 + g.rng.below(0x500);
        g.init.gpr[RBP] = rbp;
        g.addr_regs |= bit(RBP);
        g.avoid |= bit(RBP);
        let wide = g.rng.chance(70);
        let enter = if wide {
            Code::Enterq_imm16_imm8
        } else {
            Code::Enterw_imm16_imm8
        };
        let leave = if g.rng.chance(70) == wide {
            Code::Leaveq
        } else {
            Code::Leavew
        };
        let level = match g.rng.below(4) {
            0 => 0,
            1 => g.rng.range(1, 4),
            2 => g.rng.below(32),
            _ => g.rng.below(256),
        } as u32;
        let r = g.rng.below(0x400);
        let alloc = *g.rng.pick(&[0, 8, 16, 2, r]) as u32;
        match g.rng.below(4) {
            0 => {
                g.push(Instruction::with2(enter, alloc, level).ok()?)?;
            }
            1 => {
                g.push(Instruction::with(leave))?;
            }
            _ => {
                g.push(Instruction::with2(enter, alloc, level).ok()?)?;
                if g.rng.bool() {
                    self.push_pop(g, 1)?;
                }
                g.push(Instruction::with(leave))?;
            }
        }
        Some(())
    }

    fn call_ret(&self, g: &mut Gen) -> Option<()> {
        g.straight = false;
        let ret_code = |g: &mut Gen| -> Option<Instruction> {
            if g.rng.bool() {
                Some(Instruction::with(Code::Retnq))
            } else {
                let r = g.rng.below(0x200);
                let imm = *g.rng.pick(&[0, 8, 16, 0x18, 1, 3, r]) as u32;
                Instruction::with1(Code::Retnq_imm16, imm).ok()
            }
        };
        match g.rng.below(4) {
            // call T; marker; T:
            0 => {
                let target = g.insns.len() + 2;
                g.push(Instruction::with_branch(Code::Call_rel32_64, label(target)).ok()?)?;
                marker(g, 0)?;
                landing(g)?;
            }
            // call reg / call [mem]
            1 => {
                let target = g.insns.len() + 2;
                let ins = if g.rng.bool() {
                    let r = g.pick_reg(64, g.addr_regs);
                    let (i, _, _) = crate::diff::build::reg_slot(r)?;
                    g.fixups.push(Fixup::Reg {
                        reg: i,
                        label: target,
                    });
                    g.assigned |= bit(i);
                    g.addr_regs |= bit(i);
                    Instruction::with1(Code::Call_rm64, r).ok()?
                } else {
                    let (m, addr) = g.mem(8, 8)?;
                    let offset = (addr - g.layout.data()) as usize;
                    g.fixups.push(Fixup::Data {
                        offset,
                        label: target,
                    });
                    Instruction::with1(Code::Call_rm64, m).ok()?
                };
                g.push(ins)?;
                marker(g, 0)?;
                landing(g)?;
            }
            // [rsp] = T; ret [imm]; marker; T:
            2 => {
                let target = g.insns.len() + 2;
                g.fixups.push(Fixup::Stack {
                    offset: STACK_INIT as usize,
                    label: target,
                });
                let r = ret_code(g)?;
                g.push(r)?;
                marker(g, 0)?;
                landing(g)?;
            }
            // call F; marker; jmp E; F: [push x; pop y]; ret [imm]; E:
            _ => {
                let call_at = g.insns.len();
                let body = if g.rng.bool() { 2 } else { 0 };
                let f = call_at + 3;
                let e = f + body + 1;
                g.push(Instruction::with_branch(Code::Call_rel32_64, label(f)).ok()?)?;
                marker(g, 0)?;
                g.push(Instruction::with_branch(Code::Jmp_rel32_64, label(e)).ok()?)?;
                if body == 2 {
                    // Balanced, so RET finds the return address.
                    let push = *g
                        .rng
                        .pick(&[Code::Push_r64, Code::Pushq_imm8, Code::Pushq_imm32]);
                    let ins = g.build(push, Opts::default(), &mut any_imm)?;
                    g.push(ins)?;
                    let ins = g.build(Code::Pop_r64, Opts::default(), &mut any_imm)?;
                    g.push(ins)?;
                }
                let r = ret_code(g)?;
                g.push(r)?;
                landing(g)?;
            }
        }
        Some(())
    }
}

impl Generator for Stack {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        match g.rng.below(10) {
            0..=3 => {
                let n = 1 + g.rng.below(4);
                self.push_pop(g, n)
            }
            4 => {
                self.rsp_relative(g)?;
                if g.rng.bool() {
                    self.push_pop(g, 1)?;
                }
                Some(())
            }
            5..=6 => self.enter_leave(g),
            _ => self.call_ret(g),
        }
    }
}
