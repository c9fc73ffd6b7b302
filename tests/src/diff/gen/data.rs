//! Data movement and selection: CMPXCHG/XADD/XCHG, CMOVcc/SETcc, the
//! extensions and conversions, MOV/LEA/NOP.

use iced_x86::{Code, Instruction, MemoryOperand, Mnemonic as M, OpKind, Register};

use super::Generator;
use crate::diff::build::{any_imm, codes, gpr, op_bits, Gen, Opts};
use crate::diff::rng::{mask, Rng};

fn seq_len(rng: &mut Rng, max: u64) -> u64 {
    let mut n = 1;
    while n < max && rng.chance(35) {
        n += 1;
    }
    n
}

pub struct Atomic {
    codes: Vec<Code>,
}

impl Atomic {
    pub fn new() -> Atomic {
        Atomic {
            codes: codes(
                &[M::Cmpxchg, M::Cmpxchg8b, M::Cmpxchg16b, M::Xadd, M::Xchg],
                |_| true,
            ),
        }
    }
}

impl Generator for Atomic {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        for _ in 0..seq_len(g.rng, 2) {
            let code = *g.rng.pick(&self.codes);
            let opts = Opts {
                lock_percent: 50,
                ..Opts::default()
            };
            let ins = g.build(code, opts, &mut any_imm)?;
            let has_mem = (0..ins.op_count()).any(|i| ins.op_kind(i) == OpKind::Memory);
            // XCHG with memory is locked whether or not it says so.
            if code.mnemonic() == M::Xchg && has_mem && !g.natural_alignment_ok(&ins) {
                return None;
            }
            let equal = g.rng.chance(50);
            match code.mnemonic() {
                M::Cmpxchg if equal => {
                    let dst = g.loc(&ins, 0)?;
                    let v = g.get(dst);
                    let acc = gpr(dst.bits(), 0);
                    if !g.set_reg(acc, v) {
                        return None;
                    }
                }
                M::Cmpxchg8b | M::Cmpxchg16b if equal => {
                    let a = g.effective_address(&ins)?;
                    let (lo, hi, bits) = if code.mnemonic() == M::Cmpxchg8b {
                        let v = g.peek(a, 8);
                        (v & mask(32), v >> 32, 32)
                    } else {
                        (g.peek(a, 8), g.peek(a + 8, 8), 64)
                    };
                    // Sometimes only one half matches.
                    let miss = g.rng.below(8);
                    let lo = if miss == 0 { lo ^ 1 } else { lo };
                    let hi = if miss == 1 { hi ^ (1 << 31) } else { hi };
                    if !g.set_reg(gpr(bits, 0), lo) || !g.set_reg(gpr(bits, 2), hi) {
                        return None;
                    }
                }
                _ => {}
            }
            g.push(ins)?;
        }
        Some(())
    }
}

const CMOV: [M; 16] = [
    M::Cmovo,
    M::Cmovno,
    M::Cmovb,
    M::Cmovae,
    M::Cmove,
    M::Cmovne,
    M::Cmovbe,
    M::Cmova,
    M::Cmovs,
    M::Cmovns,
    M::Cmovp,
    M::Cmovnp,
    M::Cmovl,
    M::Cmovge,
    M::Cmovle,
    M::Cmovg,
];
const SETCC: [M; 16] = [
    M::Seto,
    M::Setno,
    M::Setb,
    M::Setae,
    M::Sete,
    M::Setne,
    M::Setbe,
    M::Seta,
    M::Sets,
    M::Setns,
    M::Setp,
    M::Setnp,
    M::Setl,
    M::Setge,
    M::Setle,
    M::Setg,
];

/// Instructions that leave a useful mix of flags behind.
pub fn flag_setters() -> Vec<Code> {
    codes(&[M::Cmp, M::Test, M::Sub, M::Add, M::And, M::Xor], |_| true)
}

pub struct CmovSetcc {
    cmov: Vec<Code>,
    setcc: Vec<Code>,
    setters: Vec<Code>,
}

impl CmovSetcc {
    pub fn new() -> CmovSetcc {
        CmovSetcc {
            cmov: codes(&CMOV, |_| true),
            setcc: codes(&SETCC, |_| true),
            setters: flag_setters(),
        }
    }
}

impl Generator for CmovSetcc {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        if g.rng.chance(40) {
            g.push_random(&self.setters, Opts::default(), &mut any_imm)?;
        }
        for _ in 0..seq_len(g.rng, 2) {
            let table = if g.rng.bool() {
                &self.cmov
            } else {
                &self.setcc
            };
            g.push_random(table, Opts::default(), &mut any_imm)?;
        }
        Some(())
    }
}

pub struct MovExt {
    codes: Vec<Code>,
}

impl MovExt {
    pub fn new() -> MovExt {
        MovExt {
            codes: codes(
                &[
                    M::Movzx,
                    M::Movsx,
                    M::Movsxd,
                    M::Cbw,
                    M::Cwde,
                    M::Cdqe,
                    M::Cwd,
                    M::Cdq,
                    M::Cqo,
                    M::Bswap,
                ],
                // BSWAP r16: undefined result (SDM: "use XCHG").
                |c| c != Code::Bswap_r16,
            ),
        }
    }
}

impl Generator for MovExt {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        for _ in 0..seq_len(g.rng, 3) {
            g.push_random(&self.codes, Opts::default(), &mut any_imm)?;
        }
        Some(())
    }
}

pub struct Misc {
    mov: Vec<Code>,
    lea: Vec<Code>,
    nop: Vec<Code>,
}

impl Misc {
    pub fn new() -> Misc {
        Misc {
            mov: codes(&[M::Mov], |_| true),
            lea: codes(&[M::Lea], |_| true),
            nop: codes(&[M::Nop, M::Pause], |_| true),
        }
    }

    /// LEA computes an address without touching memory: any registers, any
    /// values, both address sizes, RIP-relative.
    fn lea(&self, g: &mut Gen) -> Option<()> {
        let code = *g.rng.pick(&self.lea);
        let dst = g.pick_reg(op_bits(code), 0);
        let a32 = g.rng.chance(30);
        let w = if a32 { 32 } else { 64 };
        let any_reg = |g: &mut Gen, index: bool| loop {
            let i = g.rng.below(16) as usize;
            if !(index && i == 4) {
                return gpr(w, i);
            }
        };
        let disp: i64 = match g.rng.below(3) {
            0 => 0,
            1 => g.rng.below(256) as i64 - 128,
            _ => g.rng.next_u64() as i32 as i64,
        };
        let scale = 1 << g.rng.below(4);
        let m = match g.rng.below(6) {
            0 => MemoryOperand::with_base_displ_size(any_reg(g, false), disp, 1),
            1 | 2 => {
                let b = any_reg(g, false);
                let i = any_reg(g, true);
                MemoryOperand::new(b, i, scale, disp, 1, false, Register::None)
            }
            3 => {
                let i = any_reg(g, true);
                MemoryOperand::new(Register::None, i, scale, disp, w / 8, false, Register::None)
            }
            4 if !a32 => {
                let target = g.layout.code() + g.rng.below(1 << 28) - (1 << 27);
                MemoryOperand::new(
                    Register::RIP,
                    Register::None,
                    1,
                    target as i64,
                    8,
                    false,
                    Register::None,
                )
            }
            _ => {
                let d = if a32 { disp as u32 as u64 } else { disp as u64 };
                MemoryOperand::with_displ(d, w / 8)
            }
        };
        for r in [m.base, m.index] {
            if r != Register::None && r != Register::RIP && g.rng.chance(50) {
                g.value_reg(r, 100);
            }
        }
        let ins = Instruction::with2(code, dst, m).ok()?;
        g.push(ins)?;
        Some(())
    }
}

impl Generator for Misc {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        for _ in 0..seq_len(g.rng, 3) {
            match g.rng.below(4) {
                0 | 1 => {
                    let code = *g.rng.pick(&self.mov);
                    let mut ins = g.build(code, Opts::default(), &mut any_imm)?;
                    let moffs = matches!(
                        code,
                        Code::Mov_AL_moffs8
                            | Code::Mov_AX_moffs16
                            | Code::Mov_EAX_moffs32
                            | Code::Mov_RAX_moffs64
                            | Code::Mov_moffs8_AL
                            | Code::Mov_moffs16_AX
                            | Code::Mov_moffs32_EAX
                            | Code::Mov_moffs64_RAX
                    );
                    if moffs && g.rng.chance(30) {
                        // 32-bit address size: 0x67 with a 4-byte offset.
                        ins.set_memory_displ_size(4);
                    }
                    g.push(ins)?;
                }
                2 => self.lea(g)?,
                _ => {
                    g.push_random(&self.nop, Opts::default(), &mut any_imm)?;
                }
            }
        }
        Some(())
    }
}
