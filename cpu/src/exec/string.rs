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
//! REP MOVS and REP STOS with DF = 0 have a fast path: whole elements that
//! lie within one page of the source and one of the destination are
//! translated once and copied or filled directly in guest RAM, provided
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
        rep(cpu, d, g, None, one)
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
