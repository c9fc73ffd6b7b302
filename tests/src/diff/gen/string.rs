//! String instructions: MOVS, STOS, LODS, CMPS, SCAS in every element size,
//! with no prefix, REP, REPE or REPNE, 64- and 32-bit address size (0x67,
//! with garbage above ESI/EDI/ECX), DF clear and set, and data shaped so
//! REPE/REPNE stop early as often as they run out.

use iced_x86::{Instruction, Register, RepPrefixKind};

use super::Generator;
use crate::diff::build::{bit, gpr, Gen, RCX, RDI, RSI};
use crate::diff::case::{fl, DATA_LEN};
use crate::diff::rng::mask;

pub struct Strings;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Movs,
    Stos,
    Lods,
    Cmps,
    Scas,
}

fn string_ins(
    op: Op,
    size: u64,
    a: u32,
    seg: Register,
    rep: RepPrefixKind,
) -> Result<Instruction, iced_x86::IcedError> {
    match (op, size) {
        (Op::Movs, 1) => Instruction::with_movsb(a, seg, rep),
        (Op::Movs, 2) => Instruction::with_movsw(a, seg, rep),
        (Op::Movs, 4) => Instruction::with_movsd(a, seg, rep),
        (Op::Movs, _) => Instruction::with_movsq(a, seg, rep),
        (Op::Stos, 1) => Instruction::with_stosb(a, rep),
        (Op::Stos, 2) => Instruction::with_stosw(a, rep),
        (Op::Stos, 4) => Instruction::with_stosd(a, rep),
        (Op::Stos, _) => Instruction::with_stosq(a, rep),
        (Op::Lods, 1) => Instruction::with_lodsb(a, seg, rep),
        (Op::Lods, 2) => Instruction::with_lodsw(a, seg, rep),
        (Op::Lods, 4) => Instruction::with_lodsd(a, seg, rep),
        (Op::Lods, _) => Instruction::with_lodsq(a, seg, rep),
        (Op::Cmps, 1) => Instruction::with_cmpsb(a, seg, rep),
        (Op::Cmps, 2) => Instruction::with_cmpsw(a, seg, rep),
        (Op::Cmps, 4) => Instruction::with_cmpsd(a, seg, rep),
        (Op::Cmps, _) => Instruction::with_cmpsq(a, seg, rep),
        (Op::Scas, 1) => Instruction::with_scasb(a, rep),
        (Op::Scas, 2) => Instruction::with_scasw(a, rep),
        (Op::Scas, 4) => Instruction::with_scasd(a, rep),
        (Op::Scas, _) => Instruction::with_scasq(a, rep),
    }
}

impl Generator for Strings {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        let op = *g
            .rng
            .pick(&[Op::Movs, Op::Stos, Op::Lods, Op::Cmps, Op::Scas]);
        let size = *g.rng.pick(&[1u64, 2, 4, 8]);
        let a32 = g.rng.chance(35);
        let rep = match op {
            Op::Movs | Op::Stos | Op::Lods if g.rng.chance(70) => RepPrefixKind::Repe,
            Op::Movs | Op::Stos | Op::Lods => RepPrefixKind::None,
            _ => *g.rng.pick(&[
                RepPrefixKind::None,
                RepPrefixKind::Repe,
                RepPrefixKind::Repne,
            ]),
        };
        let df = g.rng.bool();
        if df {
            g.init.rflags |= fl::DF;
        } else {
            g.init.rflags &= !fl::DF;
        }
        let max = 1600 / size;
        let n = if rep == RepPrefixKind::None {
            1
        } else {
            match g.rng.below(10) {
                0 => 0,
                1..=4 => g.rng.range(1, 8),
                5..=8 => g.rng.range(1, 40),
                _ => g.rng.range(1, max),
            }
        };
        let bytes = n.max(1) * size;
        let d = g.layout.data();
        // Start address such that n elements in the DF direction fit.
        let place = |g: &mut Gen| {
            let (lo, hi) = if df {
                (d + 16 + bytes - size, d + DATA_LEN as u64 - 16 - size)
            } else {
                (d + 16, d + DATA_LEN as u64 - 16 - bytes)
            };
            let mut p = g.rng.range(lo, hi);
            if g.rng.chance(60) {
                p &= !(size - 1);
                p = p.max(lo.next_multiple_of(size));
            }
            p
        };
        let rsi = place(g);
        let rdi = place(g);
        let garbage = |g: &mut Gen| if a32 { g.rng.next_u64() & !mask(32) } else { 0 };
        g.init.gpr[RSI] = rsi | garbage(g);
        g.init.gpr[RDI] = rdi | garbage(g);
        if rep != RepPrefixKind::None {
            g.init.gpr[RCX] = n | garbage(g);
        }
        g.addr_regs |= bit(RSI) | bit(RDI) | bit(RCX);
        g.assigned |= bit(RSI) | bit(RDI) | bit(RCX);
        // The lowest address of each region the instruction walks.
        let start = |p: u64| if df { p + size - bytes } else { p };
        let bits = (size * 8) as u32;
        match op {
            Op::Cmps => {
                if g.rng.chance(70) {
                    for i in 0..bytes {
                        let b = g.peek(start(rsi) + i, 1);
                        g.poke(start(rdi) + i, 1, b);
                    }
                }
                if g.rng.chance(60) && n > 0 {
                    let k = g.rng.below(n);
                    let a = start(rdi) + k * size;
                    let v = g.peek(a, size as usize) ^ (1 << g.rng.below(size * 8));
                    g.poke(a, size as usize, v);
                }
            }
            Op::Scas => {
                let acc = g.rng.interesting(bits);
                g.set_reg(gpr(bits, 0), acc);
                let fill_equal = g.rng.bool();
                for k in 0..n.max(1) {
                    let v = if fill_equal {
                        acc
                    } else {
                        acc ^ (1 + g.rng.below(255))
                    };
                    g.poke(start(rdi) + k * size, size as usize, v);
                }
                if g.rng.chance(60) && n > 0 {
                    let k = g.rng.below(n);
                    let v = if fill_equal { acc ^ 1 } else { acc };
                    g.poke(start(rdi) + k * size, size as usize, v);
                }
            }
            _ => {}
        }
        let seg = if matches!(op, Op::Movs | Op::Lods | Op::Cmps) && g.rng.chance(15) {
            *g.rng
                .pick(&[Register::CS, Register::SS, Register::DS, Register::ES])
        } else {
            Register::None
        };
        let ins = string_ins(op, size, if a32 { 32 } else { 64 }, seg, rep).ok()?;
        g.push(ins)?;
        Some(())
    }
}
