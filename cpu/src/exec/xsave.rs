//! State save and restore: FXSAVE/FXRSTOR (SDM Vol. 2A, FXSAVE, Tables
//! 3-53 to 3-56), XSAVE/XRSTOR for the x87 and SSE components in the
//! standard (non-compacted) format (SDM Vol. 1, chapter 13), and
//! LDMXCSR/STMXCSR.

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::fpu::{fsw, F80, MXCSR_MASK};
use crate::state::{cr0, cr4, Core, Mode};
use crate::vector;

use super::sse;

/// The first 416 bytes of the FXSAVE image (legacy region up to the last
/// XMM register), as 52 quadwords.
type Image = [u64; 52];

fn xmm_count(cpu: &Core) -> usize {
    if cpu.mode == Mode::Long {
        16
    } else {
        8
    }
}

/// Whether the instruction is the REX.W (64-bit pointer) form.
fn rex_w(d: &Decoded) -> bool {
    use iced_x86::Code as C;
    matches!(
        d.i.code(),
        C::Fxsave64_m512byte | C::Fxrstor64_m512byte | C::Xsave64_mem | C::Xrstor64_mem
    )
}

/// Builds the legacy-region image.
fn image(cpu: &Core, w64: bool) -> Image {
    let f = &cpu.fpu;
    let mut im = [0u64; 52];
    im[0] = f.fcw as u64
        | (f.fsw as u64) << 16
        | (f.ftag as u64) << 32
        | ((f.fop & 0x7FF) as u64) << 48;
    if w64 {
        im[1] = f.fip;
        im[2] = f.fdp;
    } else {
        im[1] = f.fip as u32 as u64 | (f.fcs as u64) << 32;
        im[2] = f.fdp as u32 as u64 | (f.fds as u64) << 32;
    }
    im[3] = cpu.fpu.mxcsr as u64 | (MXCSR_MASK as u64) << 32;
    for i in 0..8 {
        let r = f.st[f.phys(i)];
        im[4 + 2 * i] = r.sig;
        im[5 + 2 * i] = r.se as u64;
    }
    for i in 0..16 {
        im[20 + 2 * i] = f.xmm[i] as u64;
        im[21 + 2 * i] = (f.xmm[i] >> 64) as u64;
    }
    im
}

/// Loads the x87 part (quadwords 0-2 and 4-19) of an image.
fn load_x87(cpu: &mut Core, im: &Image, w64: bool) {
    let f = &mut cpu.fpu;
    f.fcw = im[0] as u16;
    f.fsw = (im[0] >> 16) as u16;
    f.ftag = (im[0] >> 32) as u8;
    f.fop = (im[0] >> 48) as u16 & 0x7FF;
    if w64 {
        f.fip = im[1];
        f.fdp = im[2];
        f.fcs = 0;
        f.fds = 0;
    } else {
        f.fip = im[1] as u32 as u64;
        f.fcs = (im[1] >> 32) as u16;
        f.fdp = im[2] as u32 as u64;
        f.fds = (im[2] >> 32) as u16;
    }
    for i in 0..8 {
        let p = f.phys(i);
        f.st[p] = F80 {
            sig: im[4 + 2 * i],
            se: im[5 + 2 * i] as u16,
        };
    }
    // ES and B summarise the unmasked exceptions now flagged.
    if f.fsw & !f.fcw & 0x3F != 0 {
        f.fsw |= fsw::ES | fsw::B;
    } else {
        f.fsw &= !(fsw::ES | fsw::B);
    }
}

/// Checks, then writes quadwords `qs` of `im` to `off` (the area has been
/// probed).
fn write_qs(cpu: &mut Core, d: &Decoded, off: u64, im: &Image, qs: std::ops::Range<usize>) -> Res {
    for q in qs {
        cpu.write(d.seg, off.wrapping_add(8 * q as u64) & d.amask, 8, im[q])?;
    }
    Ok(())
}

fn read_image(cpu: &mut Core, d: &Decoded, off: u64, nq: usize) -> Res<Image> {
    let mut im = [0u64; 52];
    for (q, slot) in im.iter_mut().enumerate().take(nq) {
        *slot = cpu.read(d.seg, off.wrapping_add(8 * q as u64) & d.amask, 8)?;
    }
    Ok(im)
}

/// The linear address of the memory operand, checked for `align`.
fn aligned(cpu: &Core, d: &Decoded, off: u64, size: usize, align: u64) -> Res {
    let lin = cpu.linear(d.seg, off, size, false)?;
    if lin & (align - 1) != 0 {
        return Err(Fault::GP0);
    }
    Ok(())
}

fn nm_check(cpu: &Core) -> Res {
    if cpu.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Fault::new(vector::NM));
    }
    Ok(())
}

/// FXSAVE/FXSAVE64 m512byte.
pub(super) fn fxsave(cpu: &mut Core, d: &Decoded) -> Res {
    nm_check(cpu)?;
    let off = cpu.ea(d);
    aligned(cpu, d, off, 512, 16)?;
    cpu.probe_write(d.seg, off, 512)?;
    let im = image(cpu, rex_w(d));
    write_qs(cpu, d, off, &im, 0..20)?;
    let n = xmm_count(cpu);
    write_qs(cpu, d, off, &im, 20..20 + 2 * n)
}

/// FXRSTOR/FXRSTOR64 m512byte: #GP if the image's MXCSR sets reserved
/// bits; nothing is loaded until the whole image has been read.
pub(super) fn fxrstor(cpu: &mut Core, d: &Decoded) -> Res {
    nm_check(cpu)?;
    let off = cpu.ea(d);
    aligned(cpu, d, off, 512, 16)?;
    let n = xmm_count(cpu);
    let im = read_image(cpu, d, off, 20 + 2 * n)?;
    let mxcsr = im[3] as u32;
    if mxcsr & !MXCSR_MASK != 0 {
        return Err(Fault::GP0);
    }
    load_x87(cpu, &im, rex_w(d));
    cpu.fpu.mxcsr = mxcsr;
    for i in 0..n {
        cpu.fpu.xmm[i] = im[20 + 2 * i] as u128 | (im[21 + 2 * i] as u128) << 64;
    }
    Ok(())
}

/// XINUSE for the two supported components (MXCSR is not tracked: XRSTOR
/// loads it whenever SSE state is requested).
fn xinuse(cpu: &Core) -> u64 {
    let mut v = 0;
    if !cpu.fpu.x87_init() {
        v |= 1;
    }
    let n = xmm_count(cpu);
    if cpu.fpu.xmm[..n].iter().any(|&x| x != 0) {
        v |= 2;
    }
    v
}

fn xsave_checks(cpu: &Core) -> Res {
    if cpu.cr4 & cr4::OSXSAVE == 0 {
        return Err(Fault::UD);
    }
    if cpu.cr0 & cr0::TS != 0 {
        return Err(Fault::new(vector::NM));
    }
    Ok(())
}

/// The requested-feature bitmap: EDX:EAX AND XCR0.
fn rfbm(cpu: &Core) -> u64 {
    ((cpu.gpr[2] << 32) | (cpu.gpr[0] & 0xFFFF_FFFF)) & cpu.xcr0
}

/// XSAVE/XSAVE64 mem: standard format; XSTATE_BV bits of requested
/// components become XINUSE, the rest of the header is untouched.
pub(super) fn xsave(cpu: &mut Core, d: &Decoded) -> Res {
    xsave_checks(cpu)?;
    let off = cpu.ea(d);
    aligned(cpu, d, off, 576, 64)?;
    cpu.probe_write(d.seg, off, 576)?;
    let rfbm = rfbm(cpu);
    let hdr = off.wrapping_add(512) & d.amask;
    let old_bv = cpu.read(d.seg, hdr, 8)?;
    let im = image(cpu, rex_w(d));
    if rfbm & 1 != 0 {
        write_qs(cpu, d, off, &im, 0..3)?;
        write_qs(cpu, d, off, &im, 4..20)?;
    }
    if rfbm & 2 != 0 {
        write_qs(cpu, d, off, &im, 3..4)?;
        let n = xmm_count(cpu);
        write_qs(cpu, d, off, &im, 20..20 + 2 * n)?;
    }
    let bv = (old_bv & !rfbm) | (xinuse(cpu) & rfbm);
    cpu.write(d.seg, hdr, 8, bv)
}

/// XRSTOR/XRSTOR64 mem: standard format only (XCOMP_BV must be zero).
pub(super) fn xrstor(cpu: &mut Core, d: &Decoded) -> Res {
    xsave_checks(cpu)?;
    let off = cpu.ea(d);
    aligned(cpu, d, off, 576, 64)?;
    let at = |k: u64| off.wrapping_add(k) & d.amask;
    let bv = cpu.read(d.seg, at(512), 8)?;
    let comp = cpu.read(d.seg, at(520), 8)?;
    let rsvd = cpu.read(d.seg, at(528), 8)?;
    if comp != 0 || rsvd != 0 || bv & !cpu.xcr0 != 0 {
        return Err(Fault::GP0);
    }
    let rfbm = rfbm(cpu);
    let n = xmm_count(cpu);
    let im = read_image(cpu, d, off, 20 + 2 * n)?;
    let mxcsr = im[3] as u32;
    if rfbm & 2 != 0 && mxcsr & !MXCSR_MASK != 0 {
        return Err(Fault::GP0);
    }
    if rfbm & 1 != 0 {
        if bv & 1 != 0 {
            load_x87(cpu, &im, rex_w(d));
        } else {
            cpu.fpu.finit();
            cpu.fpu.st = [F80::ZERO; 8];
        }
    }
    if rfbm & 2 != 0 {
        cpu.fpu.mxcsr = mxcsr;
        for i in 0..n {
            cpu.fpu.xmm[i] = if bv & 2 != 0 {
                im[20 + 2 * i] as u128 | (im[21 + 2 * i] as u128) << 64
            } else {
                0
            };
        }
    }
    Ok(())
}

/// LDMXCSR m32.
pub(super) fn ldmxcsr(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let ea = cpu.ea(d);
    let v = cpu.read(d.seg, ea, 4)? as u32;
    if v & !MXCSR_MASK != 0 {
        return Err(Fault::GP0);
    }
    cpu.fpu.mxcsr = v;
    Ok(())
}

/// STMXCSR m32.
pub(super) fn stmxcsr(cpu: &mut Core, d: &Decoded) -> Res {
    sse(cpu)?;
    let ea = cpu.ea(d);
    let v = cpu.fpu.mxcsr as u64;
    cpu.write(d.seg, ea, 4, v)
}
