//! Arithmetic, shifts, multiply/divide, bit tests and bit scans.

use iced_x86::{Code, Instruction, Mnemonic as M, OpCodeOperandKind as K, Register};

use super::Generator;
use crate::diff::build::{any_imm, bit, codes, has_kind, op_bits, Gen, Loc, Opts, RCX};
use crate::diff::case::DATA_LEN;
use crate::diff::rng::{mask, Rng};

/// 1 instruction usually, up to `max` (flags and values flow between them).
fn seq_len(rng: &mut Rng, max: u64) -> u64 {
    let mut n = 1;
    while n < max && rng.chance(35) {
        n += 1;
    }
    n
}

pub struct Arith {
    codes: Vec<Code>,
}

impl Arith {
    pub fn new() -> Arith {
        Arith {
            codes: codes(
                &[
                    M::Add,
                    M::Adc,
                    M::Sub,
                    M::Sbb,
                    M::And,
                    M::Or,
                    M::Xor,
                    M::Cmp,
                    M::Test,
                    M::Inc,
                    M::Dec,
                    M::Neg,
                    M::Not,
                ],
                |_| true,
            ),
        }
    }
}

impl Generator for Arith {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        for _ in 0..seq_len(g.rng, 3) {
            g.push_random(&self.codes, Opts::default(), &mut any_imm)?;
        }
        Some(())
    }
}

pub struct Shift {
    codes: Vec<Code>,
}

impl Shift {
    pub fn new() -> Shift {
        Shift {
            codes: codes(
                &[
                    M::Rol,
                    M::Ror,
                    M::Rcl,
                    M::Rcr,
                    M::Shl,
                    M::Sal,
                    M::Shr,
                    M::Sar,
                    M::Shld,
                    M::Shrd,
                ],
                |_| true,
            ),
        }
    }
}

/// A shift count: the interesting ones are around 0, 1, the operand width,
/// the masking width (32 or 64) and 9/17 (RCL/RCR's modulus).
fn shift_count(rng: &mut Rng, bits: u32) -> u64 {
    let b = bits as u64;
    match rng.below(12) {
        0 => 0,
        1 => 1,
        2 => b - 1,
        3 => b,
        4 => b + 1,
        5 => *rng.pick(&[7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65]),
        6 => *rng.pick(&[127, 128, 129, 255, 0xE0, 0xE1]),
        7 => rng.range(1, b),
        _ => rng.below(256),
    }
}

/// A count for 16-bit SHLD/SHRD: above 16 (after masking to 5 bits) the
/// result is undefined, so stay at or below it.
fn dbl16_count(rng: &mut Rng) -> u64 {
    let c = rng.range(0, 16);
    c | (rng.below(8) << 5)
}

impl Generator for Shift {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        for _ in 0..seq_len(g.rng, 2) {
            let code = *g.rng.pick(&self.codes);
            let bits = op_bits(code);
            let dbl16 = matches!(code.mnemonic(), M::Shld | M::Shrd) && bits == 16;
            let mut ins = g.build(code, Opts::default(), &mut |rng, _, _| {
                if dbl16 {
                    dbl16_count(rng)
                } else {
                    shift_count(rng, bits)
                }
            })?;
            if has_kind(code, K::cl) {
                if g.written & bit(RCX) != 0 {
                    if dbl16 {
                        return None;
                    }
                } else {
                    let c = if dbl16 {
                        dbl16_count(g.rng)
                    } else {
                        shift_count(g.rng, bits)
                    };
                    if !g.set_reg(Register::CL, c) {
                        return None;
                    }
                    // A 16-bit SHLD/SHRD whose operand is CX itself.
                    if dbl16 && g.reg_value(Register::CL) & 31 > 16 {
                        return None;
                    }
                }
            }
            if dbl16 && !has_kind(code, K::cl) {
                ins.set_immediate8(dbl16_count(g.rng) as u8);
            }
            g.push(ins)?;
        }
        Some(())
    }
}

pub struct MulDiv {
    codes: Vec<Code>,
}

impl MulDiv {
    pub fn new() -> MulDiv {
        MulDiv {
            codes: codes(&[M::Mul, M::Imul, M::Div, M::Idiv], |_| true),
        }
    }
}

fn sext(v: u64, bits: u32) -> i128 {
    ((v as i128) << (128 - bits)) >> (128 - bits)
}

/// Whether DIV/IDIV of `hi:lo` (each `bits` wide) by `d` raises #DE.
pub fn div_faults(bits: u32, signed: bool, hi: u64, lo: u64, d: u64) -> bool {
    let (hi, lo, d) = (hi & mask(bits), lo & mask(bits), d & mask(bits));
    if d == 0 {
        return true;
    }
    let wide = ((hi as u128) << bits) | lo as u128;
    if signed {
        let n = if bits == 64 {
            wide as i128
        } else {
            ((wide as i128) << (128 - 2 * bits)) >> (128 - 2 * bits)
        };
        let Some(q) = n.checked_div(sext(d, bits)) else {
            return true;
        };
        q < -(1i128 << (bits - 1)) || q >= (1i128 << (bits - 1))
    } else {
        wide / d as u128 > mask(bits) as u128
    }
}

/// A dividend `hi:lo` that divides by `d` without fault.
fn make_dividend(rng: &mut Rng, bits: u32, signed: bool, d: u64) -> (u64, u64) {
    let d = d & mask(bits);
    let wide: u128 = if signed {
        let ds = sext(d, bits);
        let q = sext(rng.interesting(bits), bits);
        let mag = ds.unsigned_abs();
        let r = if mag > 1 {
            (rng.next_u64() as u128 % mag) as i128
        } else {
            0
        };
        let prod = q * ds;
        let r = if prod < 0 || (prod == 0 && rng.bool()) {
            -r
        } else {
            r
        };
        (prod + r) as u128
    } else {
        let q = rng.interesting(bits) as u128;
        let r = if d > 1 { rng.below(d) as u128 } else { 0 };
        q * d as u128 + r
    };
    (
        ((wide >> bits) as u64) & mask(bits),
        wide as u64 & mask(bits),
    )
}

fn fix_div(g: &mut Gen, ins: &Instruction) -> Option<()> {
    let signed = ins.mnemonic() == M::Idiv;
    let loc = g.loc(ins, 0)?;
    let bits = loc.bits();
    let (hi, lo) = match bits {
        8 => (Register::AH, Register::AL),
        16 => (Register::DX, Register::AX),
        32 => (Register::EDX, Register::EAX),
        _ => (Register::RDX, Register::RAX),
    };
    for attempt in 0..40 {
        let d = g.get(loc) & mask(bits);
        if !div_faults(bits, signed, g.reg_value(hi), g.reg_value(lo), d) {
            return Some(());
        }
        if d == 0 || attempt % 5 == 4 {
            let nd = g.rng.interesting(bits).max(1);
            if !g.put(loc, nd) {
                return None;
            }
            continue;
        }
        let (h, l) = make_dividend(g.rng, bits, signed, d);
        if !g.set_reg(hi, h) || !g.set_reg(lo, l) {
            return None;
        }
    }
    None
}

impl Generator for MulDiv {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        let code = *g.rng.pick(&self.codes);
        let ins = g.build(code, Opts::default(), &mut any_imm)?;
        if matches!(code.mnemonic(), M::Div | M::Idiv) {
            fix_div(g, &ins)?;
        }
        g.push(ins)?;
        Some(())
    }
}

pub struct BitTest {
    reg_forms: Vec<Code>,
    imm_forms: Vec<Code>,
}

impl BitTest {
    pub fn new() -> BitTest {
        let all = [M::Bt, M::Bts, M::Btr, M::Btc];
        BitTest {
            reg_forms: codes(&all, |c| !has_kind(c, K::imm8)),
            imm_forms: codes(&all, |c| has_kind(c, K::imm8)),
        }
    }
}

fn bit_index(rng: &mut Rng, bits: u32) -> u64 {
    let b = bits as u64;
    match rng.below(6) {
        0 => rng.below(b),
        1 => *rng.pick(&[0, 1, b - 1, b, b + 1, 31, 32, 63, 64, 127, 128, 255]),
        _ => rng.below(256),
    }
}

impl BitTest {
    /// `BTx mem, reg`: the bit offset in the register is signed and may
    /// reach far outside the addressed operand.
    fn mem_reg(&self, g: &mut Gen) -> Option<()> {
        let code = *g.rng.pick(&self.reg_forms);
        let bits = op_bits(code);
        let size = bits as u64 / 8;
        let lock = code.mnemonic() != M::Bt && g.rng.chance(30);
        let align = if lock || g.rng.chance(70) { size } else { 1 };
        let off = 0xC00 + g.rng.below(0x800);
        let target = g.data_addr(off) & !(align - 1);
        let m = g.mem_at(target)?;
        // The offset decides the address: it must reach the instruction
        // unchanged, and nothing may change it afterwards.
        let r = g.pick_reg(bits, g.addr_regs | g.written);
        let below = ((target - g.layout.data()) / size) as i64;
        let above = ((g.layout.data() + DATA_LEN as u64 - size - target) / size) as i64;
        let limit = if bits == 16 { 2047 } else { i64::MAX };
        let (lo, hi) = (-below.min(limit), above.min(limit));
        let units = match g.rng.below(4) {
            0 => 0,
            1 => g.rng.range(0, 8) as i64 - 4,
            2 => g.rng.range(0, 128) as i64 - 64,
            _ => lo + g.rng.below((hi - lo + 1) as u64) as i64,
        }
        .clamp(lo, hi);
        let off = units * bits as i64 + g.rng.below(bits as u64) as i64;
        if !g.set_reg(r, off as u64 & mask(bits)) {
            return None;
        }
        g.addr_regs |= bit(crate::diff::build::reg_slot(r)?.0);
        let mut ins = Instruction::with2(code, m, r).ok()?;
        ins.set_has_lock_prefix(lock);
        g.push(ins)?;
        Some(())
    }
}

impl Generator for BitTest {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        for _ in 0..seq_len(g.rng, 2) {
            match g.rng.below(3) {
                0 => self.mem_reg(g)?,
                1 => {
                    let opts = Opts {
                        mem_percent: 0,
                        ..Opts::default()
                    };
                    let code = *g.rng.pick(&self.reg_forms);
                    let ins = g.build(code, opts, &mut any_imm)?;
                    // Offsets beyond the operand wrap (modulo its width).
                    if g.rng.chance(50) {
                        let r = ins.op1_register();
                        let v = bit_index(g.rng, op_bits(code));
                        g.set_reg(r, v);
                    }
                    g.push(ins)?;
                }
                _ => {
                    let code = *g.rng.pick(&self.imm_forms);
                    let bits = op_bits(code);
                    g.push_random(&[code], Opts::default(), &mut |rng, _, _| {
                        bit_index(rng, bits)
                    })?;
                }
            }
        }
        Some(())
    }
}

pub struct BitScan {
    codes: Vec<Code>,
}

impl BitScan {
    pub fn new() -> BitScan {
        BitScan {
            codes: codes(&[M::Bsf, M::Bsr, M::Tzcnt, M::Lzcnt, M::Popcnt], |_| true),
        }
    }
}

fn scan_source(rng: &mut Rng, bits: u32) -> u64 {
    let b = bits as u64;
    match rng.below(6) {
        0 => 0,
        1 => 1 << rng.below(b),
        2 => (1 << rng.below(b)) | (1 << rng.below(b)),
        3 => mask(bits) << rng.below(b),
        _ => rng.interesting(bits),
    }
}

impl Generator for BitScan {
    fn gen(&self, g: &mut Gen) -> Option<()> {
        for _ in 0..seq_len(g.rng, 2) {
            let code = *g.rng.pick(&self.codes);
            let ins = g.build(code, Opts::default(), &mut any_imm)?;
            let src = g.loc(&ins, 1)?;
            let dst = g.loc(&ins, 0)?;
            if src != dst && g.written & loc_regs(src) == 0 {
                let v = scan_source(g.rng, src.bits());
                g.put(src, v);
            }
            g.push(ins)?;
        }
        Some(())
    }
}

/// The full registers a location is in (0 for memory).
fn loc_regs(l: Loc) -> u16 {
    match l {
        Loc::Reg(r) => crate::diff::build::reg_slot(r).map_or(0, |(i, _, _)| bit(i)),
        Loc::Mem(..) => 0,
    }
}
