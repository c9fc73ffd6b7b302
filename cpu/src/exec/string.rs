//! String instructions (SDM Vol. 2: MOVS, STOS, LODS, CMPS, SCAS, INS,
//! OUTS) and their REP/REPE/REPNE forms (SDM Vol. 2, "REP/REPE/REPZ/REPNE/
//! REPNZ").
//!
//! rSI, rDI and rCX are used at the instruction's address size and wrap at
//! it; the element size comes from the instruction; DF picks the direction.
//! The source of MOVS, LODS, CMPS and OUTS is seg:rSI (DS unless
//! overridden); the destination is always ES:rDI.
//!
//! A repeated instruction runs a bounded number of iterations per call:
//! when the budget is spent with work left, it sets RIP back to itself and
//! ends the block, so the run loop can take interrupts between chunks and
//! then re-executes it. A fault in the middle leaves rSI, rDI and rCX
//! describing the iterations that completed, as on hardware, so the
//! instruction restarts where it stopped.
//!
//! REP MOVS (either direction) and REP STOS with DF = 0 have a fast path:
//! whole elements that lie within one page of the source and one of the
//! destination are translated once and copied or filled directly in guest RAM, provided
//! both are RAM (not MMIO) and the destination page holds no decoded code;
//! anything else goes through the element loop.

use iced_x86::OpKind;

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::flags::{self, mask};
use crate::mmu::Access;
use crate::state::rflags::{ARITH, DF, VM, ZF};
use crate::state::{Core, Mode, SegReg};

const RCX: usize = 1;
const RSI: usize = 6;
const RDI: usize = 7;

/// Work allowed per call of a repeated instruction, in element iterations.
const BUDGET: u32 = 1024;
/// What one fast-path chunk (up to a page) costs against [`BUDGET`].
const FAST_COST: u32 = 8;
/// Elements done one by one after the fast path found no RAM (MMIO, code
/// page, segment limit) before it is tried again.
const FAST_COOLDOWN: u32 = 64;

/// How a repeated CMPS/SCAS stops early.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// No early stop (REP, or no prefix).
    Never,
    /// REPE: stop when ZF = 0.
    NotEqual,
    /// REPNE: stop when ZF = 1.
    Equal,
}

/// Operand geometry shared by every iteration.
#[derive(Clone, Copy)]
struct Geo {
    /// Element size in bytes.
    esz: usize,
    /// Address-size mask and its size in bytes.
    amask: u64,
    asize: usize,
    /// The per-element step, already negated when DF = 1.
    step: u64,
}

impl Geo {
    fn new(cpu: &Core, d: &Decoded) -> Geo {
        let esz = d.i.memory_size().size();
        let asize = match d.amask {
            0xFFFF => 2,
            0xFFFF_FFFF => 4,
            _ => 8,
        };
        let step = if cpu.rflags & DF != 0 {
            (esz as u64).wrapping_neg()
        } else {
            esz as u64
        };
        Geo {
            esz,
            amask: d.amask,
            asize,
            step,
        }
    }

    fn get(&self, cpu: &Core, n: usize) -> u64 {
        cpu.gpr[n] & self.amask
    }

    /// Advances rSI or rDI by one element (wrapping at the address size).
    fn advance(&self, cpu: &mut Core, n: usize) {
        let v = cpu.gpr[n].wrapping_add(self.step);
        cpu.set_gpr_sized(n, self.asize, v);
    }
}

/// Whether a repeat prefix applies to MOVS/STOS/LODS/INS/OUTS: F3 is REP,
/// and F2 behaves the same way on these instructions.
fn repeated(d: &Decoded) -> bool {
    d.i.has_rep_prefix() || d.i.has_repne_prefix()
}

/// The early-stop condition of CMPS/SCAS and whether they repeat at all.
fn compare_prefix(d: &Decoded) -> Option<Until> {
    if d.i.has_repe_prefix() {
        Some(Until::NotEqual)
    } else if d.i.has_repne_prefix() {
        Some(Until::Equal)
    } else {
        None
    }
}

/// A fast path of a repeated instruction: given the remaining count, does
/// several elements at once and returns how many: `Some(0)` when it cannot
/// here (the next element straddles a page), `None` when the memory is not
/// plain RAM so it should not be tried again for a while.
type Fast<'a> = &'a mut dyn FnMut(&mut Core, u64) -> Res<Option<u64>>;

/// Runs `one` (one iteration, which updates rSI/rDI itself and returns
/// whether the loop may continue) under a repeat prefix: rCX counts down at
/// the address size, a zero count does nothing, and after [`BUDGET`] worth of
/// work the instruction yields to be re-executed.
///
/// `fast`, if given, is tried before each element and may complete several
/// elements at once.
fn rep(
    cpu: &mut Core,
    d: &Decoded,
    g: Geo,
    mut fast: Option<Fast<'_>>,
    mut one: impl FnMut(&mut Core) -> Res<bool>,
) -> Res {
    let mut budget = BUDGET;
    let mut cooldown = 0;
    loop {
        let cx = g.get(cpu, RCX);
        if cx == 0 {
            return Ok(());
        }
        let mut done = 0;
        if let Some(f) = fast.as_mut() {
            if cooldown > 0 {
                cooldown -= 1;
            } else {
                match f(cpu, cx)? {
                    Some(n) => done = n,
                    None => cooldown = FAST_COOLDOWN,
                }
            }
        }
        let go_on = if done > 0 {
            budget = budget.saturating_sub(FAST_COST);
            cpu.set_gpr_sized(RCX, g.asize, cx - done);
            true
        } else {
            let go_on = one(cpu)?;
            budget -= 1;
            cpu.set_gpr_sized(RCX, g.asize, cx - 1);
            go_on
        };
        if !go_on || g.get(cpu, RCX) == 0 {
            return Ok(());
        }
        if budget == 0 {
            cpu.rip = d.i.ip();
            cpu.end_block = true;
            return Ok(());
        }
    }
}

/// Whether the string form of a mnemonic that iced shares with an SSE
/// instruction (MOVSD, CMPSD) is the one decoded.
fn is_string_form(d: &Decoded) -> bool {
    matches!(
        d.i.op_kind(0),
        OpKind::MemorySegSI
            | OpKind::MemorySegESI
            | OpKind::MemorySegRSI
            | OpKind::MemoryESDI
            | OpKind::MemoryESEDI
            | OpKind::MemoryESRDI
    )
}

/// The RAM offsets of the `len`-byte range at linear `lin`, translated for
/// `access`, if it is all RAM.
fn ram_range(cpu: &mut Core, lin: u64, len: u64, access: Access) -> Res<Option<u64>> {
    let phys = cpu.translate(lin, access, cpu.cpl == 3)?;
    Ok(cpu.ram.offset_of_range(phys, len))
}

/// How many whole elements, at most `count`, starting at offset `off` of
/// `seg` lie within one page and do not wrap the address size; the linear
/// address of the first. `None` when the first element itself is not
/// accessible (the element loop then raises the fault) or crosses a page.
fn in_page(
    cpu: &Core,
    g: Geo,
    seg: SegReg,
    off: u64,
    count: u64,
    write: bool,
) -> Option<(u64, u64)> {
    let lin = cpu.linear(seg, off, g.esz, write).ok()?;
    let esz = g.esz as u64;
    let n = count
        .min((0x1000 - (lin & 0xFFF)) / esz)
        .min((g.amask - off).saturating_add(1) / esz);
    if n == 0 {
        return None;
    }
    // The segment limit must allow the whole run.
    cpu.linear(seg, off, (n * esz) as usize, write).ok()?;
    Some((lin, n))
}

/// The fast path of REP MOVS (DF = 0): copies up to a page of whole
/// elements RAM to RAM (see [`Fast`]).
fn movs_fast(cpu: &mut Core, g: Geo, src_seg: SegReg, count: u64) -> Res<Option<u64>> {
    let (si, di) = (g.get(cpu, RSI), g.get(cpu, RDI));
    let Some((src_lin, n1)) = in_page(cpu, g, src_seg, si, count, false) else {
        return Ok(Some(0));
    };
    let Some((dst_lin, n2)) = in_page(cpu, g, SegReg::Es, di, count, true) else {
        return Ok(Some(0));
    };
    let esz = g.esz as u64;
    let mut n = n1.min(n2);
    if n < 2 {
        return Ok(Some(0));
    }
    // Translate in the order the element loop accesses memory, so a fault
    // is the same one it would raise.
    let Some(src) = ram_range(cpu, src_lin, n * esz, Access::Read)? else {
        return Ok(None);
    };
    let Some(dst) = ram_range(cpu, dst_lin, n * esz, Access::Write)? else {
        return Ok(None);
    };
    if cpu.ram.is_code(dst) {
        return Ok(None);
    }
    // A forward element-by-element copy onto a destination just above the
    // source replicates the pattern instead of moving it: copy only the
    // part that does not overlap.
    if dst > src && dst < src + n * esz {
        n = (dst - src) / esz;
        if n < 2 {
            return Ok(Some(0));
        }
    }
    let len = n * esz;
    if !cpu.ram.copy_within(dst, src, len) {
        return Ok(None);
    }
    cpu.set_gpr_sized(RSI, g.asize, si.wrapping_add(len));
    cpu.set_gpr_sized(RDI, g.asize, di.wrapping_add(len));
    Ok(Some(n))
}

/// Like [`in_page`] for DF = 1: how many whole elements, at most `count`,
/// from the one at offset `off` of `seg` downwards lie within its page and
/// do not wrap the address size; the linear address of the first (top)
/// one. `None` when that element is not accessible or crosses a page.
fn in_page_down(
    cpu: &Core,
    g: Geo,
    seg: SegReg,
    off: u64,
    count: u64,
    write: bool,
) -> Option<(u64, u64)> {
    let lin = cpu.linear(seg, off, g.esz, write).ok()?;
    let esz = g.esz as u64;
    if (lin & 0xFFF) + esz > 0x1000 {
        return None;
    }
    let n = count.min((lin & 0xFFF) / esz + 1).min(off / esz + 1);
    // The segment limit must allow the whole run.
    cpu.linear(seg, off - (n - 1) * esz, (n * esz) as usize, write)
        .ok()?;
    Some((lin, n))
}

/// The fast path of REP MOVS with DF = 1 (a backward memmove, as the
/// kernel's decompressor does to move itself up): copies up to a page of
/// whole elements RAM to RAM, from the top down (see [`Fast`]).
fn movs_fast_down(cpu: &mut Core, g: Geo, src_seg: SegReg, count: u64) -> Res<Option<u64>> {
    let (si, di) = (g.get(cpu, RSI), g.get(cpu, RDI));
    let Some((src_top, n1)) = in_page_down(cpu, g, src_seg, si, count, false) else {
        return Ok(Some(0));
    };
    let Some((dst_top, n2)) = in_page_down(cpu, g, SegReg::Es, di, count, true) else {
        return Ok(Some(0));
    };
    let esz = g.esz as u64;
    let mut n = n1.min(n2);
    if n < 2 {
        return Ok(Some(0));
    }
    // Translate in the order the element loop accesses memory (each run is
    // within one page, that of its top element).
    let back = (n - 1) * esz;
    let Some(src) = ram_range(cpu, src_top - back, n * esz, Access::Read)? else {
        return Ok(None);
    };
    let Some(dst) = ram_range(cpu, dst_top - back, n * esz, Access::Write)? else {
        return Ok(None);
    };
    if cpu.ram.is_code(dst) {
        return Ok(None);
    }
    // From here on, `src` and `dst` are the RAM offsets of the top elements.
    let (src, dst) = (src + back, dst + back);
    // A backward element-by-element copy onto a destination just below the source replicates the
    // pattern instead of moving it: copy only the part that does not
    // overlap.
    if dst < src && src - dst < n * esz {
        n = (src - dst) / esz;
        if n < 2 {
            return Ok(Some(0));
        }
    }
    let len = n * esz;
    let back = (n - 1) * esz;
    if !cpu.ram.copy_within(dst - back, src - back, len) {
        return Ok(None);
    }
    cpu.set_gpr_sized(RSI, g.asize, si.wrapping_sub(len));
    cpu.set_gpr_sized(RDI, g.asize, di.wrapping_sub(len));
    Ok(Some(n))
}

/// The fast path of REP STOS (DF = 0): fills up to a page of whole elements
/// of RAM (see [`Fast`]).
fn stos_fast(cpu: &mut Core, g: Geo, count: u64) -> Res<Option<u64>> {
    let di = g.get(cpu, RDI);
    let Some((lin, n)) = in_page(cpu, g, SegReg::Es, di, count, true) else {
        return Ok(Some(0));
    };
    if n < 2 {
        return Ok(Some(0));
    }
    let esz = g.esz as u64;
    let len = n * esz;
    let Some(dst) = ram_range(cpu, lin, len, Access::Write)? else {
        return Ok(None);
    };
    if cpu.ram.is_code(dst) {
        return Ok(None);
    }
    let v = cpu.gpr[0] & mask(g.esz);
    let bytes = v.to_le_bytes();
    if bytes[..g.esz].iter().all(|&b| b == bytes[0]) {
        if !cpu.ram.fill(dst, len, bytes[0]) {
            return Ok(None);
        }
    } else {
        for i in 0..n {
            cpu.ram.store(dst + i * esz, g.esz, v);
        }
    }
    cpu.set_gpr_sized(RDI, g.asize, di.wrapping_add(len));
    Ok(Some(n))
}

pub(super) fn movs(cpu: &mut Core, d: &Decoded) -> Res {
    if !is_string_form(d) {
        return super::unimplemented(cpu, d);
    }
    let g = Geo::new(cpu, d);
    let seg = Core::mseg(d);
    let one = |cpu: &mut Core| -> Res<bool> {
        let v = cpu.read(seg, g.get(cpu, RSI), g.esz)?;
        cpu.write(SegReg::Es, g.get(cpu, RDI), g.esz, v)?;
        g.advance(cpu, RSI);
        g.advance(cpu, RDI);
        Ok(true)
    };
    if !repeated(d) {
        one(cpu)?;
        return Ok(());
    }
    if cpu.rflags & DF == 0 {
        let mut fast = |cpu: &mut Core, count: u64| movs_fast(cpu, g, seg, count);
        rep(cpu, d, g, Some(&mut fast), one)
    } else {
        let mut fast = |cpu: &mut Core, count: u64| movs_fast_down(cpu, g, seg, count);
        rep(cpu, d, g, Some(&mut fast), one)
    }
}

pub(super) fn stos(cpu: &mut Core, d: &Decoded) -> Res {
    let g = Geo::new(cpu, d);
    let one = |cpu: &mut Core| -> Res<bool> {
        cpu.write(SegReg::Es, g.get(cpu, RDI), g.esz, cpu.gpr[0] & mask(g.esz))?;
        g.advance(cpu, RDI);
        Ok(true)
    };
    if !repeated(d) {
        one(cpu)?;
        return Ok(());
    }
    if cpu.rflags & DF == 0 {
        let mut fast = |cpu: &mut Core, count: u64| stos_fast(cpu, g, count);
        rep(cpu, d, g, Some(&mut fast), one)
    } else {
        rep(cpu, d, g, None, one)
    }
}

pub(super) fn lods(cpu: &mut Core, d: &Decoded) -> Res {
    let g = Geo::new(cpu, d);
    let seg = Core::mseg(d);
    let one = |cpu: &mut Core| -> Res<bool> {
        let v = cpu.read(seg, g.get(cpu, RSI), g.esz)?;
        cpu.set_gpr_sized(0, g.esz, v);
        g.advance(cpu, RSI);
        Ok(true)
    };
    if repeated(d) {
        rep(cpu, d, g, None, one)
    } else {
        one(cpu).map(drop)
    }
}

/// Whether a repeated compare may go on after an iteration that left
/// `rflags`.
fn keep_going(until: Until, rflags: u64) -> bool {
    match until {
        Until::Never => true,
        Until::NotEqual => rflags & ZF != 0,
        Until::Equal => rflags & ZF == 0,
    }
}

/// CMPS: compares seg:rSI with ES:rDI (flags of source - destination).
pub(super) fn cmps(cpu: &mut Core, d: &Decoded) -> Res {
    if !is_string_form(d) {
        return super::unimplemented(cpu, d);
    }
    let g = Geo::new(cpu, d);
    let seg = Core::mseg(d);
    let prefix = compare_prefix(d);
    let until = prefix.unwrap_or(Until::Never);
    let one = |cpu: &mut Core| -> Res<bool> {
        let a = cpu.read(seg, g.get(cpu, RSI), g.esz)?;
        let b = cpu.read(SegReg::Es, g.get(cpu, RDI), g.esz)?;
        let f = flags::sub(a, b, 0, a.wrapping_sub(b), g.esz);
        cpu.rflags = flags::merge(cpu.rflags, f, ARITH);
        g.advance(cpu, RSI);
        g.advance(cpu, RDI);
        Ok(keep_going(until, cpu.rflags))
    };
    match prefix {
        Some(_) => rep(cpu, d, g, None, one),
        None => one(cpu).map(drop),
    }
}

/// SCAS: compares the accumulator with ES:rDI (flags of rAX - destination).
pub(super) fn scas(cpu: &mut Core, d: &Decoded) -> Res {
    let g = Geo::new(cpu, d);
    let prefix = compare_prefix(d);
    let until = prefix.unwrap_or(Until::Never);
    let one = |cpu: &mut Core| -> Res<bool> {
        let a = cpu.gpr[0] & mask(g.esz);
        let b = cpu.read(SegReg::Es, g.get(cpu, RDI), g.esz)?;
        let f = flags::sub(a, b, 0, a.wrapping_sub(b), g.esz);
        cpu.rflags = flags::merge(cpu.rflags, f, ARITH);
        g.advance(cpu, RDI);
        Ok(keep_going(until, cpu.rflags))
    };
    match prefix {
        Some(_) => rep(cpu, d, g, None, one),
        None => one(cpu).map(drop),
    }
}

/// Whether the current privilege may access `size` bytes of I/O ports at
/// `port` (SDM Vol. 1, 19.5): always in real mode; otherwise when CPL <=
/// IOPL. Hardware would then consult the I/O permission bitmap of the TSS
/// when CPL > IOPL (and always in virtual-8086 mode); this model does not
/// read the bitmap, so those accesses are refused with #GP(0).
pub(super) fn io_allowed(cpu: &Core, _port: u16, _size: usize) -> bool {
    if cpu.mode == Mode::Real {
        return true;
    }
    let iopl = ((cpu.rflags >> 12) & 3) as u8;
    cpu.rflags & VM == 0 && cpu.cpl <= iopl
}

/// INS: reads a port (DX) into ES:rDI.
pub(super) fn ins(cpu: &mut Core, d: &Decoded) -> Res {
    let g = Geo::new(cpu, d);
    let port = cpu.gpr[2] as u16;
    let one = |cpu: &mut Core| -> Res<bool> {
        if !io_allowed(cpu, port, g.esz) {
            return Err(Fault::GP0);
        }
        let di = g.get(cpu, RDI);
        // The destination must be writable before the port is read: the
        // read may have side effects that must not happen twice.
        cpu.probe_write(SegReg::Es, di, g.esz)?;
        let mut buf = [0u8; 8];
        cpu.bus.io.read(mem::Port(port), &mut buf[..g.esz]);
        cpu.write(SegReg::Es, di, g.esz, u64::from_le_bytes(buf))?;
        g.advance(cpu, RDI);
        Ok(true)
    };
    if repeated(d) {
        rep(cpu, d, g, None, one)
    } else {
        one(cpu).map(drop)
    }
}

/// OUTS: writes seg:rSI to a port (DX).
pub(super) fn outs(cpu: &mut Core, d: &Decoded) -> Res {
    let g = Geo::new(cpu, d);
    let port = cpu.gpr[2] as u16;
    let seg = Core::mseg(d);
    let one = |cpu: &mut Core| -> Res<bool> {
        if !io_allowed(cpu, port, g.esz) {
            return Err(Fault::GP0);
        }
        let v = cpu.read(seg, g.get(cpu, RSI), g.esz)?;
        cpu.bus.io.write(mem::Port(port), &v.to_le_bytes()[..g.esz]);
        g.advance(cpu, RSI);
        Ok(true)
    };
    if repeated(d) {
        rep(cpu, d, g, None, one)
    } else {
        one(cpu).map(drop)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use iced_x86::{Decoder, DecoderOptions};
    use mem::{Bus, GuestRam, RamLayout};

    use super::*;
    use crate::state::Segment;
    use crate::Cpu;

    /// A processor in real mode over 1 MiB of RAM.
    pub(in crate::exec) fn machine() -> Cpu {
        let ram = GuestRam::new(
            RamLayout {
                low: 1 << 20,
                high: 0,
            },
            Default::default(),
        )
        .unwrap();
        Cpu::new(Arc::new(Bus::new(Arc::new(ram))))
    }

    /// A processor in 64-bit mode with paging off (identity translation),
    /// which is enough to run single instructions.
    pub(in crate::exec) fn machine64() -> Cpu {
        let mut cpu = machine();
        cpu.cr0 |= crate::state::cr0::PE;
        cpu.efer = crate::state::efer::LME | crate::state::efer::LMA;
        let code = Segment {
            selector: 8,
            base: 0,
            limit: 0xFFFF_FFFF,
            attr: 0xA09B,
        };
        cpu.set_segment(SegReg::Cs, code);
        assert_eq!(cpu.mode, Mode::Long);
        cpu.rip = 0x1000;
        cpu
    }

    /// Decodes `bytes` as one instruction at RIP and runs its handler once,
    /// as the run loop would (RIP at the next instruction first).
    pub(in crate::exec) fn step(cpu: &mut Core, bytes: &[u8]) -> Res {
        let i = Decoder::with_ip(cpu.code_bits, bytes, cpu.rip, DecoderOptions::NONE).decode();
        assert!(!i.is_invalid(), "{bytes:02x?} does not decode");
        let d = Decoded::new(i);
        cpu.rip = d.i.next_ip();
        let r = (d.exec)(cpu, &d);
        cpu.materialize();
        match r {
            Err(f) if f.is_end() => Ok(()),
            r => r,
        }
    }

    /// Runs a (repeated) instruction until it no longer asks to be
    /// re-executed; returns the number of calls.
    fn run_rep(cpu: &mut Core, bytes: &[u8]) -> Res<u32> {
        let ip = cpu.rip;
        let mut calls = 0;
        loop {
            cpu.end_block = false;
            step(cpu, bytes)?;
            calls += 1;
            if cpu.rip != ip {
                return Ok(calls);
            }
            assert!(cpu.end_block, "re-execution must end the block");
        }
    }

    fn poke(cpu: &Core, addr: u64, bytes: &[u8]) {
        for (k, b) in bytes.iter().enumerate() {
            cpu.ram.store(addr + k as u64, 1, *b as u64);
        }
    }

    fn peek(cpu: &Core, addr: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|k| cpu.ram.load(addr + k as u64, 1) as u8)
            .collect()
    }

    #[test]
    fn rep_movsb_copies_across_pages_in_chunks() {
        let mut cpu = machine64();
        let src: Vec<u8> = (0..20000u32).map(|k| (k * 7 + k / 251) as u8).collect();
        poke(&cpu, 0x1_0ff3, &src);
        cpu.gpr[RSI] = 0x1_0ff3;
        cpu.gpr[RDI] = 0x8_0801;
        cpu.gpr[RCX] = src.len() as u64;
        // F3 A4: rep movsb
        let calls = run_rep(&mut cpu, &[0xF3, 0xA4]).unwrap();
        assert_eq!(calls, 1, "20000 bytes is within one call's budget");
        assert_eq!(peek(&cpu, 0x8_0801, src.len()), src);
        assert_eq!(cpu.gpr[RCX], 0);
        assert_eq!(cpu.gpr[RSI], 0x1_0ff3 + 20000);
        assert_eq!(cpu.gpr[RDI], 0x8_0801 + 20000);
        assert_eq!(peek(&cpu, 0x8_0800, 1), [0]);
        assert_eq!(peek(&cpu, 0x8_0801 + 20000, 1), [0]);
    }

    /// REP MOVS/STOS forward (fast path where possible) against a plain
    /// element-by-element reference, over random overlapping ranges.
    #[test]
    fn rep_movs_stos_match_element_reference() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const BASE: u64 = 0x40000;
        const WIN: usize = 0x6000;
        for round in 0..300 {
            let mut cpu = machine64();
            let init: Vec<u8> = (0..WIN).map(|_| rnd() as u8).collect();
            poke(&cpu, BASE, &init);
            let esz = 1usize << (rnd() % 4);
            let count = rnd() % (if round % 3 == 0 { 8 } else { 3000 / esz as u64 });
            let span = (count as usize) * esz;
            let src = rnd() as usize % (WIN - span);
            let dst = if round % 2 == 0 {
                // Near the source, to overlap either way.
                (src as i64 + (rnd() % 64) as i64 - 32).clamp(0, (WIN - span) as i64) as usize
            } else {
                rnd() as usize % (WIN - span)
            };
            let stos = round % 5 == 4;
            let val = rnd();
            let mut want = init.clone();
            for k in 0..count as usize {
                let elem: Vec<u8> = if stos {
                    val.to_le_bytes()[..esz].to_vec()
                } else {
                    want[src + k * esz..][..esz].to_vec()
                };
                want[dst + k * esz..][..esz].copy_from_slice(&elem);
            }
            cpu.gpr[RSI] = BASE + src as u64;
            cpu.gpr[RDI] = BASE + dst as u64;
            cpu.gpr[RCX] = count;
            cpu.gpr[0] = val;
            let op = match (stos, esz) {
                (false, 1) => vec![0xF3, 0xA4],
                (false, 2) => vec![0x66, 0xF3, 0xA5],
                (false, 4) => vec![0xF3, 0xA5],
                (false, _) => vec![0xF3, 0x48, 0xA5],
                (true, 1) => vec![0xF3, 0xAA],
                (true, 2) => vec![0x66, 0xF3, 0xAB],
                (true, 4) => vec![0xF3, 0xAB],
                (true, _) => vec![0xF3, 0x48, 0xAB],
            };
            run_rep(&mut cpu, &op).unwrap();
            assert!(
                peek(&cpu, BASE, WIN) == want,
                "round {round}: esz {esz} count {count} src {src:#x} dst {dst:#x} stos {stos}"
            );
            assert_eq!(cpu.gpr[RDI], BASE + (dst + span) as u64);
            if !stos {
                assert_eq!(cpu.gpr[RSI], BASE + (src + span) as u64);
            }
            assert_eq!(cpu.gpr[RCX], 0);
        }
    }

    /// REP MOVS backward (DF = 1, fast path where possible) against a plain
    /// element-by-element reference, over random overlapping ranges.
    #[test]
    fn rep_movs_backward_matches_element_reference() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const BASE: u64 = 0x40000;
        const WIN: usize = 0x6000;
        for round in 0..300 {
            let mut cpu = machine64();
            let init: Vec<u8> = (0..WIN).map(|_| rnd() as u8).collect();
            poke(&cpu, BASE, &init);
            let esz = 1usize << (rnd() % 4);
            let count = rnd() % (if round % 3 == 0 { 8 } else { 3000 / esz as u64 });
            let span = (count as usize) * esz;
            // Lowest element of each run.
            let src = rnd() as usize % (WIN - span);
            let dst = if round % 2 == 0 {
                (src as i64 + (rnd() % 64) as i64 - 32).clamp(0, (WIN - span) as i64) as usize
            } else {
                rnd() as usize % (WIN - span)
            };
            let top = span.saturating_sub(esz);
            let mut want = init.clone();
            for k in 0..count as usize {
                let elem = want[src + top - k * esz..][..esz].to_vec();
                want[dst + top - k * esz..][..esz].copy_from_slice(&elem);
            }
            cpu.rflags |= DF;
            cpu.gpr[RSI] = BASE + (src + top) as u64;
            cpu.gpr[RDI] = BASE + (dst + top) as u64;
            cpu.gpr[RCX] = count;
            let op = match esz {
                1 => vec![0xF3, 0xA4],
                2 => vec![0x66, 0xF3, 0xA5],
                4 => vec![0xF3, 0xA5],
                _ => vec![0xF3, 0x48, 0xA5],
            };
            run_rep(&mut cpu, &op).unwrap();
            assert!(
                peek(&cpu, BASE, WIN) == want,
                "round {round}: esz {esz} count {count} src {src:#x} dst {dst:#x}"
            );
            assert_eq!(
                cpu.gpr[RSI],
                (BASE + (src + top) as u64).wrapping_sub(span as u64)
            );
            assert_eq!(
                cpu.gpr[RDI],
                (BASE + (dst + top) as u64).wrapping_sub(span as u64)
            );
            assert_eq!(cpu.gpr[RCX], 0);
        }
    }

    #[test]
    fn rep_movs_into_a_code_page_invalidates_it() {
        let mut cpu = machine64();
        cpu.ram.mark_code(0x7000);
        poke(&cpu, 0x5000, &[9; 64]);
        cpu.gpr[RSI] = 0x5000;
        cpu.gpr[RDI] = 0x7010;
        cpu.gpr[RCX] = 64;
        cpu.end_block = false;
        step(&mut cpu, &[0xF3, 0xA4]).unwrap();
        assert_eq!(peek(&cpu, 0x7010, 64), [9; 64]);
        assert_eq!(cpu.code_written, vec![7]);
        assert!(cpu.end_block);
        assert!(!cpu.ram.is_code(0x7000));
    }

    #[test]
    fn rep_movsb_onto_overlapping_higher_destination_replicates() {
        let mut cpu = machine64();
        poke(&cpu, 0x5000, &[1, 2, 3]);
        cpu.gpr[RSI] = 0x5000;
        cpu.gpr[RDI] = 0x5003;
        cpu.gpr[RCX] = 4000;
        run_rep(&mut cpu, &[0xF3, 0xA4]).unwrap();
        let out = peek(&cpu, 0x5000, 4003);
        assert!(out.chunks(3).all(|c| c == &[1, 2, 3][..c.len()]));
    }

    #[test]
    fn rep_movsd_backwards_with_df() {
        let mut cpu = machine64();
        for k in 0..4u64 {
            cpu.ram.store(0x3000 + 4 * k, 4, 0x1111_1111 * (k + 1));
        }
        cpu.rflags |= DF;
        cpu.gpr[RSI] = 0x300C;
        cpu.gpr[RDI] = 0x400C;
        cpu.gpr[RCX] = 4;
        // F3 A5: rep movsd
        run_rep(&mut cpu, &[0xF3, 0xA5]).unwrap();
        for k in 0..4u64 {
            assert_eq!(cpu.ram.load(0x4000 + 4 * k, 4), 0x1111_1111 * (k + 1));
        }
        assert_eq!(cpu.gpr[RSI], 0x2FFC);
        assert_eq!(cpu.gpr[RDI], 0x3FFC);
    }

    #[test]
    fn rep_stos_fills_and_yields_between_chunks() {
        let mut cpu = machine64();
        // rep stosw of a non-uniform value over 3 pages: fast path.
        cpu.gpr[0] = 0xABCD;
        cpu.gpr[RDI] = 0x20001;
        cpu.gpr[RCX] = 6000;
        // 66 F3 AB: rep stosw
        run_rep(&mut cpu, &[0x66, 0xF3, 0xAB]).unwrap();
        assert!((0..6000).all(|k| cpu.ram.load(0x20001 + 2 * k, 2) == 0xABCD));
        assert_eq!(cpu.ram.load(0x20001 + 12000, 1), 0);
        assert_eq!(cpu.gpr[RDI], 0x20001 + 12000);

        // Backwards (element loop): bounded work per call.
        cpu.rflags |= DF;
        cpu.gpr[0] = 0x5A;
        cpu.gpr[RDI] = 0x60000;
        cpu.gpr[RCX] = 3000;
        let calls = run_rep(&mut cpu, &[0xF3, 0xAA]).unwrap();
        assert_eq!(calls, 3);
        assert!((0..3000).all(|k| cpu.ram.load(0x60000 - k, 1) == 0x5A));
        assert_eq!(cpu.gpr[RDI], 0x60000 - 3000);
    }

    #[test]
    fn rep_with_zero_count_does_nothing() {
        let mut cpu = machine64();
        cpu.gpr[RCX] = 0xFFFF_FFFF_0000_0000;
        cpu.gpr[RDI] = 0x2000;
        cpu.gpr[0] = 0x77;
        // 67 F3 AA: rep stosb with 32-bit addressing: ECX = 0.
        step(&mut cpu, &[0x67, 0xF3, 0xAA]).unwrap();
        assert_eq!(cpu.gpr[RCX], 0xFFFF_FFFF_0000_0000);
        assert_eq!(cpu.gpr[RDI], 0x2000);
        assert_eq!(cpu.ram.load(0x2000, 1), 0);
    }

    #[test]
    fn address_size_32_in_long_mode_truncates_and_zero_extends() {
        let mut cpu = machine64();
        cpu.gpr[RDI] = 0xDEAD_0000_0000_3000;
        cpu.gpr[RCX] = 0xBEEF_0000_0000_0002;
        cpu.gpr[0] = 0x42;
        step(&mut cpu, &[0x67, 0xF3, 0xAA]).unwrap();
        assert_eq!(peek(&cpu, 0x3000, 3), [0x42, 0x42, 0]);
        assert_eq!(cpu.gpr[RDI], 0x3002);
        assert_eq!(cpu.gpr[RCX], 0);
    }

    #[test]
    fn real_mode_si_wraps_at_64k() {
        let mut cpu = machine();
        cpu.ram.store(0xFFFF, 1, 0xAA);
        cpu.ram.store(0x0000, 1, 0xBB);
        cpu.gpr[RSI] = 0x1234_FFFF;
        cpu.gpr[RDI] = 0x8000;
        cpu.gpr[RCX] = 2;
        run_rep(&mut cpu, &[0xF3, 0xA4]).unwrap();
        assert_eq!(peek(&cpu, 0x8000, 2), [0xAA, 0xBB]);
        assert_eq!(cpu.gpr[RSI], 0x1234_0001, "only SI changes");
    }

    #[test]
    fn fault_mid_rep_keeps_completed_iterations() {
        let mut cpu = machine();
        cpu.gpr[0] = 0x1122;
        cpu.gpr[RDI] = 0xFFFB;
        cpu.gpr[RCX] = 5;
        // F3 AB: rep stosw; the third word would cross the ES limit.
        assert_eq!(step(&mut cpu, &[0xF3, 0xAB]), Err(Fault::GP0));
        assert_eq!(cpu.gpr[RCX], 3);
        assert_eq!(cpu.gpr[RDI], 0xFFFF);
        assert_eq!(cpu.ram.load(0xFFFB, 4), 0x1122_1122);
    }

    #[test]
    fn repe_cmpsb_stops_at_first_difference() {
        let mut cpu = machine64();
        poke(&cpu, 0x1000, b"hello world");
        poke(&cpu, 0x2000, b"hello there");
        cpu.gpr[RSI] = 0x1000;
        cpu.gpr[RDI] = 0x2000;
        cpu.gpr[RCX] = 11;
        // F3 A6: repe cmpsb
        run_rep(&mut cpu, &[0xF3, 0xA6]).unwrap();
        assert_eq!(cpu.gpr[RCX], 4);
        assert_eq!(cpu.gpr[RSI], 0x1007);
        assert_eq!(cpu.rflags & ZF, 0);
        // 'w' - 't' > 0: no borrow.
        assert_eq!(cpu.rflags & crate::state::rflags::CF, 0);
    }

    #[test]
    fn repne_scasb_finds_terminator() {
        let mut cpu = machine64();
        poke(&cpu, 0x1000, b"abcdef\0");
        cpu.gpr[RDI] = 0x1000;
        cpu.gpr[RCX] = u64::MAX;
        cpu.gpr[0] = 0xFF00;
        // F2 AE: repne scasb
        run_rep(&mut cpu, &[0xF2, 0xAE]).unwrap();
        assert_eq!(!cpu.gpr[RCX] - 1, 6, "strlen idiom");
        assert_eq!(cpu.gpr[RDI], 0x1007);
        assert_ne!(cpu.rflags & ZF, 0);
    }

    #[test]
    fn lods_and_segment_override() {
        let mut cpu = machine();
        cpu.seg[SegReg::Fs as usize].base = 0x10000;
        cpu.ram.store(0x10010, 2, 0xBEEF);
        cpu.gpr[RSI] = 0x10;
        cpu.gpr[0] = 0xFFFF_0000;
        // 64 AD: lodsw fs:[si] (16-bit code)
        step(&mut cpu, &[0x64, 0xAD]).unwrap();
        assert_eq!(cpu.gpr[0], 0xFFFF_BEEF);
        assert_eq!(cpu.gpr[RSI], 0x12);
    }

    #[test]
    fn ins_outs_unclaimed_ports_and_privilege() {
        let mut cpu = machine64();
        cpu.gpr[2] = 0x1F0;
        cpu.gpr[RDI] = 0x3000;
        // 6D: insd from an unclaimed port reads all-ones.
        step(&mut cpu, &[0x6D]).unwrap();
        assert_eq!(cpu.ram.load(0x3000, 4), 0xFFFF_FFFF);
        assert_eq!(cpu.gpr[RDI], 0x3004);
        // 6E: outsb moves RSI.
        cpu.gpr[RSI] = 0x100;
        step(&mut cpu, &[0x6E]).unwrap();
        assert_eq!(cpu.gpr[RSI], 0x101);

        // CPL 3 with IOPL 0: #GP(0), nothing changes.
        cpu.cpl = 3;
        assert!(!io_allowed(&cpu, 0x1F0, 1));
        assert_eq!(step(&mut cpu, &[0x6C]), Err(Fault::GP0));
        assert_eq!(cpu.gpr[RDI], 0x3004);
        cpu.rflags |= crate::state::rflags::IOPL;
        assert!(io_allowed(&cpu, 0x1F0, 1));
        assert!(io_allowed(&machine(), 0x60, 1), "real mode");
    }

    #[test]
    fn sse_movsd_is_not_a_string_move() {
        let mut cpu = machine64();
        // F2 0F 10 C1: movsd xmm0, xmm1
        assert_eq!(step(&mut cpu, &[0xF2, 0x0F, 0x10, 0xC1]), Err(Fault::UD));
    }
}
