//! System instructions (SDM Vol. 2 and Vol. 3A chapter 2): control and
//! debug registers, descriptor tables, MSRs, CPUID, time stamp, port I/O,
//! HLT/CLI/STI, software interrupts and IRET, SYSCALL/SYSRET, SWAPGS,
//! segment-register loads.

use iced_x86::{Code, Mnemonic, OpKind, Register};

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::flags::mask;
use crate::state::{cr0, cr4, efer, rflags, Core, Mode, PlatformOp, SegReg, Segment};
use crate::vector;

use super::string::io_allowed;

/// #GP(0) unless at CPL 0 (real mode counts as CPL 0).
fn require_cpl0(cpu: &Core) -> Res {
    if cpu.cpl != 0 {
        return Err(Fault::GP0);
    }
    Ok(())
}

pub(crate) fn is_mov_cr(c: Code) -> bool {
    matches!(
        c,
        Code::Mov_r32_cr | Code::Mov_r64_cr | Code::Mov_cr_r32 | Code::Mov_cr_r64
    )
}

pub(crate) fn is_mov_dr(c: Code) -> bool {
    matches!(
        c,
        Code::Mov_r32_dr | Code::Mov_r64_dr | Code::Mov_dr_r32 | Code::Mov_dr_r64
    )
}

pub(super) fn hlt(cpu: &mut Core, _: &Decoded) -> Res {
    require_cpl0(cpu)?;
    cpu.halted = true;
    cpu.end_block = true;
    Ok(())
}

/// CLI/STI: allowed when CPL <= IOPL (VME/PVI not modelled).
fn iopl_ok(cpu: &Core) -> bool {
    cpu.mode == Mode::Real || cpu.cpl as u64 <= (cpu.rflags & rflags::IOPL) >> 12
}

pub(super) fn cli(cpu: &mut Core, _: &Decoded) -> Res {
    if !iopl_ok(cpu) {
        return Err(Fault::GP0);
    }
    cpu.rflags &= !rflags::IF;
    Ok(())
}

/// STI: interrupts stay inhibited until after the next instruction.
pub(super) fn sti(cpu: &mut Core, _: &Decoded) -> Res {
    if !iopl_ok(cpu) {
        return Err(Fault::GP0);
    }
    if cpu.rflags & rflags::IF == 0 {
        cpu.rflags |= rflags::IF;
        cpu.int_shadow = true;
    }
    cpu.end_block = true;
    Ok(())
}

fn port_of(cpu: &Core, d: &Decoded, n: u32) -> u16 {
    match d.i.op_kind(n) {
        OpKind::Immediate8 => d.i.immediate8() as u16,
        _ => cpu.gpr[2] as u16,
    }
}

pub(super) fn io_in(cpu: &mut Core, d: &Decoded) -> Res {
    let size = d.i.op_register(0).size();
    let port = port_of(cpu, d, 1);
    if !io_allowed(cpu, port, size) {
        return Err(Fault::GP0);
    }
    let mut buf = [0u8; 4];
    cpu.bus.io.read(mem::Port(port), &mut buf[..size]);
    cpu.set_gpr_sized(0, size, u32::from_le_bytes(buf) as u64);
    // A device may have raised an interrupt or asked to stop.
    cpu.end_block = true;
    Ok(())
}

pub(super) fn io_out(cpu: &mut Core, d: &Decoded) -> Res {
    let size = d.i.op_register(1).size();
    let port = port_of(cpu, d, 0);
    if !io_allowed(cpu, port, size) {
        return Err(Fault::GP0);
    }
    let v = (cpu.gpr[0] as u32).to_le_bytes();
    cpu.bus.io.write(mem::Port(port), &v[..size]);
    cpu.end_block = true;
    Ok(())
}

pub(super) fn cpuid(cpu: &mut Core, _: &Decoded) -> Res {
    let (a, b, c, d) = crate::cpuid::cpuid(cpu, cpu.gpr[0] as u32, cpu.gpr[1] as u32);
    cpu.gpr[0] = a as u64;
    cpu.gpr[3] = b as u64;
    cpu.gpr[1] = c as u64;
    cpu.gpr[2] = d as u64;
    Ok(())
}

/// RDTSC: #GP(0) at CPL > 0 when CR4.TSD is set.
pub(super) fn rdtsc(cpu: &mut Core, _: &Decoded) -> Res {
    if cpu.cr4 & cr4::TSD != 0 && cpu.cpl != 0 {
        return Err(Fault::GP0);
    }
    let t = cpu.tsc();
    cpu.gpr[0] = t & 0xFFFF_FFFF;
    cpu.gpr[2] = t >> 32;
    Ok(())
}

pub(super) fn rdtscp(cpu: &mut Core, d: &Decoded) -> Res {
    rdtsc(cpu, d)?;
    cpu.gpr[1] = cpu.msr.tsc_aux & 0xFFFF_FFFF;
    Ok(())
}

pub(super) fn rdpid(cpu: &mut Core, d: &Decoded) -> Res {
    let aux = cpu.msr.tsc_aux;
    cpu.set_reg(d.i.op_register(0), aux);
    Ok(())
}

pub(super) fn rdmsr(cpu: &mut Core, d: &Decoded) -> Res {
    require_cpl0(cpu)?;
    let index = cpu.gpr[1] as u32;
    if Core::is_apic_msr(index) {
        cpu.platform_op = Some(PlatformOp::ReadMsr {
            index,
            ip: d.i.ip(),
        });
        cpu.end_block = true;
        return Ok(());
    }
    let v = cpu.msr_read(cpu.gpr[1] as u32).ok_or(Fault::GP0)?;
    cpu.gpr[0] = v & 0xFFFF_FFFF;
    cpu.gpr[2] = v >> 32;
    Ok(())
}

pub(super) fn wrmsr(cpu: &mut Core, d: &Decoded) -> Res {
    require_cpl0(cpu)?;
    let v = (cpu.gpr[2] << 32) | (cpu.gpr[0] & 0xFFFF_FFFF);
    let index = cpu.gpr[1] as u32;
    if Core::is_apic_msr(index) {
        cpu.platform_op = Some(PlatformOp::WriteMsr {
            index,
            value: v,
            ip: d.i.ip(),
        });
        cpu.end_block = true;
        return Ok(());
    }
    cpu.msr_write(index, v)?;
    cpu.end_block = true;
    Ok(())
}

/// MOV to/from CR0, CR2, CR3, CR4, CR8 (SDM MOV—Move to/from Control
/// Registers), with the reserved-bit and mode-transition checks.
pub(super) fn mov_cr(cpu: &mut Core, d: &Decoded) -> Res {
    require_cpl0(cpu)?;
    let to_cr = matches!(d.i.code(), Code::Mov_cr_r32 | Code::Mov_cr_r64);
    let (cr, gpr) = if to_cr {
        (d.i.op_register(0), d.i.op_register(1))
    } else {
        (d.i.op_register(1), d.i.op_register(0))
    };
    if !to_cr {
        let v = match cr {
            Register::CR0 => cpu.cr0,
            Register::CR2 => cpu.cr2,
            Register::CR3 => cpu.cr3,
            Register::CR4 => cpu.cr4,
            Register::CR8 => {
                cpu.platform_op = Some(PlatformOp::ReadCr8 { reg: gpr });
                cpu.end_block = true;
                return Ok(());
            }
            _ => return Err(Fault::UD),
        };
        cpu.set_reg(gpr, v);
        return Ok(());
    }
    let v = cpu.reg(gpr);
    match cr {
        Register::CR0 => cpu.write_cr0(v)?,
        Register::CR2 => cpu.cr2 = v,
        Register::CR3 => {
            let long = cpu.efer & efer::LMA != 0;
            if long && v >> crate::mmu::MAXPHYADDR != 0 {
                return Err(Fault::GP0);
            }
            cpu.cr3 = v;
            cpu.tlb.flush_all();
        }
        Register::CR4 => cpu.write_cr4(v)?,
        Register::CR8 => {
            if v >> 4 != 0 {
                return Err(Fault::GP0);
            }
            cpu.cr8 = v;
            cpu.platform_op = Some(PlatformOp::WriteCr8(v as u8));
        }
        _ => return Err(Fault::UD),
    }
    cpu.end_block = true;
    Ok(())
}

/// Bits of CR0 software can set (ET reads as one).
const CR0_VALID: u64 = cr0::PE
    | cr0::MP
    | cr0::EM
    | cr0::TS
    | cr0::ET
    | cr0::NE
    | cr0::WP
    | cr0::AM
    | cr0::NW
    | cr0::CD
    | cr0::PG;
/// CR4 bits this CPU implements (matching what CPUID advertises).
const CR4_VALID: u64 = cr4::VME
    | cr4::PVI
    | cr4::TSD
    | cr4::DE
    | cr4::PSE
    | cr4::PAE
    | cr4::MCE
    | cr4::PGE
    | cr4::PCE
    | cr4::OSFXSR
    | cr4::OSXMMEXCPT
    | cr4::OSXSAVE;

impl Core {
    /// Writes CR0 with the checks of SDM Vol. 3A 2.5 and 9.8.5 (entering
    /// and leaving IA-32e mode through CR0.PG).
    pub(crate) fn write_cr0(&mut self, v: u64) -> Res {
        if v >> 32 != 0 || v & !CR0_VALID != 0 && self.mode == Mode::Long {
            return Err(Fault::GP0);
        }
        let v = (v & CR0_VALID) | cr0::ET;
        if v & cr0::PG != 0 && v & cr0::PE == 0 {
            return Err(Fault::GP0);
        }
        if v & cr0::NW != 0 && v & cr0::CD == 0 {
            return Err(Fault::GP0);
        }
        let paging_on = v & cr0::PG != 0 && self.cr0 & cr0::PG == 0;
        let paging_off = v & cr0::PG == 0 && self.cr0 & cr0::PG != 0;
        if paging_on && self.efer & efer::LME != 0 {
            if self.cr4 & cr4::PAE == 0 {
                return Err(Fault::GP0);
            }
            self.efer |= efer::LMA;
        }
        if paging_off && self.efer & efer::LMA != 0 {
            if self.mode == Mode::Long {
                return Err(Fault::GP0);
            }
            self.efer &= !efer::LMA;
        }
        self.cr0 = v;
        self.sync_mode();
        self.end_block = true;
        Ok(())
    }

    pub(crate) fn write_cr4(&mut self, v: u64) -> Res {
        if v & !CR4_VALID != 0 {
            return Err(Fault::GP0);
        }
        if self.efer & efer::LMA != 0 && v & cr4::PAE == 0 {
            return Err(Fault::GP0);
        }
        self.cr4 = v;
        self.sync_mode();
        self.end_block = true;
        Ok(())
    }
}

/// MOV to/from DR0-DR7. Breakpoints are stored, not triggered.
pub(super) fn mov_dr(cpu: &mut Core, d: &Decoded) -> Res {
    require_cpl0(cpu)?;
    let to_dr = matches!(d.i.code(), Code::Mov_dr_r32 | Code::Mov_dr_r64);
    let (dr, gpr) = if to_dr {
        (d.i.op_register(0), d.i.op_register(1))
    } else {
        (d.i.op_register(1), d.i.op_register(0))
    };
    let mut n = (dr as u8 - Register::DR0 as u8) as usize;
    if n > 7 {
        return Err(Fault::UD);
    }
    if n == 4 || n == 5 {
        if cpu.cr4 & cr4::DE != 0 {
            return Err(Fault::UD);
        }
        n += 2;
    }
    if to_dr {
        let v = cpu.reg(gpr);
        if n >= 6 && v >> 32 != 0 {
            return Err(Fault::GP0);
        }
        cpu.dr[n] = match n {
            6 => (v & 0x0000_E00F) | 0xFFFF_0FF0,
            7 => (v & 0xFFFF_2BFF) | 0x400,
            _ => v,
        };
    } else {
        cpu.set_reg(gpr, cpu.dr[n]);
    }
    Ok(())
}

/// LGDT/LIDT m16&32 (m16&64 in 64-bit mode).
pub(super) fn lgdt_lidt(cpu: &mut Core, d: &Decoded) -> Res {
    require_cpl0(cpu)?;
    let ea = cpu.ea(d);
    let seg = Core::mseg(d);
    let limit = cpu.read(seg, ea, 2)? as u16;
    let base_size = if cpu.mode == Mode::Long { 8 } else { 4 };
    let mut base = cpu.read(seg, ea.wrapping_add(2) & d.amask, base_size)?;
    if cpu.mode != Mode::Long && Core::osize_of_table(d) == 2 {
        base &= 0xFF_FFFF;
    }
    let t = crate::state::DescriptorTable { base, limit };
    if d.i.mnemonic() == Mnemonic::Lgdt {
        cpu.gdtr = t;
    } else {
        cpu.idtr = t;
    }
    Ok(())
}

impl Core {
    /// 16-bit operand size for LGDT/LIDT truncates the base to 24 bits.
    fn osize_of_table(d: &Decoded) -> usize {
        match d.i.code() {
            Code::Lgdt_m1632_16 | Code::Lidt_m1632_16 => 2,
            _ => 4,
        }
    }
}

pub(super) fn sgdt_sidt(cpu: &mut Core, d: &Decoded) -> Res {
    let t = if d.i.mnemonic() == Mnemonic::Sgdt {
        cpu.gdtr
    } else {
        cpu.idtr
    };
    let ea = cpu.ea(d);
    let seg = Core::mseg(d);
    let base_size = if cpu.mode == Mode::Long { 8 } else { 4 };
    cpu.probe_write(seg, ea, 2 + base_size)?;
    cpu.write(seg, ea, 2, t.limit as u64)?;
    cpu.write(
        seg,
        ea.wrapping_add(2) & d.amask,
        base_size,
        t.base & mask(base_size),
    )
}

fn protected_only(cpu: &Core) -> Res {
    if cpu.mode == Mode::Real || cpu.rflags & rflags::VM != 0 {
        return Err(Fault::UD);
    }
    Ok(())
}

/// LLDT (SDM LLDT): a null selector makes the LDT unusable.
pub(super) fn lldt(cpu: &mut Core, d: &Decoded) -> Res {
    protected_only(cpu)?;
    require_cpl0(cpu)?;
    let sel = cpu.op(d, 0, 2)? as u16;
    if sel & !3 == 0 {
        cpu.ldtr = Segment {
            selector: sel,
            ..Segment::default()
        };
        return Ok(());
    }
    if sel & 4 != 0 {
        return Err(Fault::gp(sel));
    }
    let (desc, lin) = cpu.read_descriptor(sel)?;
    let seg = desc.segment(sel);
    if seg.attr & 0x1F != 0x02 {
        return Err(Fault::gp(sel));
    }
    if !seg.present() {
        return Err(Fault::np(sel));
    }
    let mut seg = seg;
    if cpu.mode == Mode::Long {
        seg.base |= cpu.read_sys(lin + 8, 4)? << 32;
    }
    cpu.ldtr = seg;
    Ok(())
}

/// LTR (SDM LTR): loads an available TSS and marks it busy.
pub(super) fn ltr(cpu: &mut Core, d: &Decoded) -> Res {
    protected_only(cpu)?;
    require_cpl0(cpu)?;
    let sel = cpu.op(d, 0, 2)? as u16;
    if sel & !3 == 0 || sel & 4 != 0 {
        return Err(Fault::gp(sel));
    }
    let (desc, lin) = cpu.read_descriptor(sel)?;
    let seg = desc.segment(sel);
    let ty = seg.attr & 0x1F;
    let available = if cpu.mode == Mode::Long {
        ty == 0x09
    } else {
        ty == 0x09 || ty == 0x01
    };
    if !available {
        return Err(Fault::gp(sel));
    }
    if !seg.present() {
        return Err(Fault::np(sel));
    }
    let mut seg = seg;
    if cpu.mode == Mode::Long {
        seg.base |= cpu.read_sys(lin + 8, 4)? << 32;
    }
    // Mark busy (type bit 1) in the descriptor and in the cache.
    cpu.write_sys(lin + 5, 1, ((desc.0 >> 40) | 2) & 0xFF)?;
    seg.attr |= 2;
    cpu.tr = seg;
    Ok(())
}

pub(super) fn sldt_str(cpu: &mut Core, d: &Decoded) -> Res {
    protected_only(cpu)?;
    let sel = if d.i.mnemonic() == Mnemonic::Sldt {
        cpu.ldtr.selector
    } else {
        cpu.tr.selector
    };
    let size = Core::op_size(d, 0);
    cpu.set_op(d, 0, size, sel as u64)
}

/// LMSW: loads PE, MP, EM, TS; cannot clear PE.
pub(super) fn lmsw(cpu: &mut Core, d: &Decoded) -> Res {
    require_cpl0(cpu)?;
    let v = cpu.op(d, 0, 2)?;
    let keep_pe = cpu.cr0 & cr0::PE;
    let new = (cpu.cr0 & !0xE) | (v & 0xF) | keep_pe;
    cpu.write_cr0(new)
}

pub(super) fn smsw(cpu: &mut Core, d: &Decoded) -> Res {
    let size = Core::op_size(d, 0);
    let v = cpu.cr0 & mask(size);
    cpu.set_op(
        d,
        0,
        size.min(if d.i.op_kind(0) == OpKind::Memory {
            2
        } else {
            size
        }),
        v,
    )
}

pub(super) fn clts(cpu: &mut Core, _: &Decoded) -> Res {
    require_cpl0(cpu)?;
    cpu.cr0 &= !cr0::TS;
    Ok(())
}

pub(super) fn invlpg(cpu: &mut Core, d: &Decoded) -> Res {
    require_cpl0(cpu)?;
    let ea = cpu.ea(d);
    // INVLPG of a non-canonical address is a no-op, not a fault.
    if let Ok(lin) = cpu.linear(Core::mseg(d), ea, 1, false) {
        cpu.tlb.flush_page(lin);
    }
    Ok(())
}

/// WBINVD/INVD: caches are not modelled, so nothing to write back.
pub(super) fn privileged_nop(cpu: &mut Core, _: &Decoded) -> Res {
    require_cpl0(cpu)
}

/// INT n, INT3, INTO, INT1.
pub(super) fn int(cpu: &mut Core, d: &Decoded) -> Res {
    let v = match d.i.mnemonic() {
        Mnemonic::Int3 => vector::BP,
        Mnemonic::Int1 => vector::DB,
        Mnemonic::Into => {
            if cpu.mode == Mode::Long {
                return Err(Fault::UD);
            }
            if cpu.rflags & rflags::OF == 0 {
                return Ok(());
            }
            vector::OF
        }
        _ => d.i.immediate8(),
    };
    cpu.software_interrupt(v)
}

pub(super) fn iret(cpu: &mut Core, d: &Decoded) -> Res {
    let size = match d.i.mnemonic() {
        Mnemonic::Iretq => 8,
        Mnemonic::Iretd => 4,
        _ => 2,
    };
    cpu.iret(size)
}

/// SYSCALL (SDM SYSCALL): flat CPL-0 CS/SS from STAR, RIP from LSTAR.
pub(super) fn syscall(cpu: &mut Core, _: &Decoded) -> Res {
    if cpu.efer & efer::SCE == 0 || cpu.efer & efer::LMA == 0 {
        return Err(Fault::UD);
    }
    let sel = ((cpu.msr.star >> 32) & 0xFFFC) as u16;
    cpu.gpr[1] = cpu.rip;
    cpu.gpr[11] = cpu.rflags & !rflags::RF;
    let target = if cpu.mode == Mode::Long {
        cpu.msr.lstar
    } else {
        cpu.msr.cstar
    };
    cpu.rflags &= !(cpu.msr.sfmask | rflags::RF);
    cpu.rflags |= rflags::FIXED1;
    cpu.seg[SegReg::Ss as usize] = Segment {
        selector: sel.wrapping_add(8),
        base: 0,
        limit: 0xFFFF_FFFF,
        attr: 0x3 | Segment::ATTR_S | Segment::ATTR_P | Segment::ATTR_DB | Segment::ATTR_G,
    };
    let cs = Segment {
        selector: sel,
        base: 0,
        limit: 0xFFFF_FFFF,
        attr: 0xB | Segment::ATTR_S | Segment::ATTR_P | Segment::ATTR_L | Segment::ATTR_G,
    };
    cpu.set_cs(cs, 0, target);
    Ok(())
}

/// SYSRET (SDM SYSRET): back to CPL 3, 64-bit with REX.W else compatibility.
pub(super) fn sysret(cpu: &mut Core, d: &Decoded) -> Res {
    if cpu.efer & efer::SCE == 0 || cpu.efer & efer::LMA == 0 || cpu.mode != Mode::Long {
        return Err(Fault::UD);
    }
    require_cpl0(cpu)?;
    let to64 = d.i.mnemonic() == Mnemonic::Sysretq;
    let rip = if to64 {
        cpu.gpr[1]
    } else {
        cpu.gpr[1] & 0xFFFF_FFFF
    };
    if to64 && ((rip << 16) as i64 >> 16) as u64 != rip {
        return Err(Fault::GP0);
    }
    let base_sel = ((cpu.msr.star >> 48) & 0xFFFF) as u16;
    cpu.rflags = (cpu.gpr[11] & 0x3C_7FD7) | rflags::FIXED1;
    let cs_sel = if to64 {
        base_sel.wrapping_add(16)
    } else {
        base_sel
    } | 3;
    let mut attr = 0xB | Segment::ATTR_S | Segment::ATTR_P | (3 << 5) | Segment::ATTR_G;
    attr |= if to64 {
        Segment::ATTR_L
    } else {
        Segment::ATTR_DB
    };
    cpu.seg[SegReg::Ss as usize] = Segment {
        selector: base_sel.wrapping_add(8) | 3,
        base: 0,
        limit: 0xFFFF_FFFF,
        attr: 0x3
            | Segment::ATTR_S
            | Segment::ATTR_P
            | (3 << 5)
            | Segment::ATTR_DB
            | Segment::ATTR_G,
    };
    cpu.set_cs(
        Segment {
            selector: cs_sel,
            base: 0,
            limit: 0xFFFF_FFFF,
            attr,
        },
        3,
        rip,
    );
    Ok(())
}

pub(super) fn swapgs(cpu: &mut Core, _: &Decoded) -> Res {
    if cpu.mode != Mode::Long {
        return Err(Fault::UD);
    }
    require_cpl0(cpu)?;
    std::mem::swap(
        &mut cpu.seg[SegReg::Gs as usize].base,
        &mut cpu.msr.kernel_gs_base,
    );
    Ok(())
}

/// XGETBV: XCR0 only.
pub(super) fn xgetbv(cpu: &mut Core, _: &Decoded) -> Res {
    if cpu.cr4 & cr4::OSXSAVE == 0 {
        return Err(Fault::UD);
    }
    if cpu.gpr[1] as u32 != 0 {
        return Err(Fault::GP0);
    }
    cpu.gpr[0] = cpu.xcr0 & 0xFFFF_FFFF;
    cpu.gpr[2] = cpu.xcr0 >> 32;
    Ok(())
}

/// XSETBV: XCR0 must keep x87 set and may enable only supported components.
pub(super) fn xsetbv(cpu: &mut Core, _: &Decoded) -> Res {
    if cpu.cr4 & cr4::OSXSAVE == 0 {
        return Err(Fault::UD);
    }
    require_cpl0(cpu)?;
    let v = (cpu.gpr[2] << 32) | (cpu.gpr[0] & 0xFFFF_FFFF);
    if cpu.gpr[1] as u32 != 0 || v & 1 == 0 || v & !crate::cpuid::XCR0_SUPPORTED != 0 {
        return Err(Fault::GP0);
    }
    cpu.xcr0 = v;
    Ok(())
}

/// MOV Sreg, r/m16. Loading CS this way is #UD; loading SS inhibits
/// interrupts for one instruction.
pub(crate) fn mov_to_sreg(cpu: &mut Core, d: &Decoded) -> Res {
    let s = super::sreg(d.i.op_register(0));
    if s == SegReg::Cs {
        return Err(Fault::UD);
    }
    let sel = cpu.op(d, 1, 2)? as u16;
    cpu.load_sreg(s, sel)?;
    if s == SegReg::Ss {
        cpu.int_shadow = true;
        cpu.end_block = true;
    }
    Ok(())
}

/// LDS/LES/LFS/LGS/LSS r, m16:16/32/64.
pub(super) fn load_far_pointer(cpu: &mut Core, d: &Decoded) -> Res {
    let s = match d.i.mnemonic() {
        Mnemonic::Lds => SegReg::Ds,
        Mnemonic::Les => SegReg::Es,
        Mnemonic::Lfs => SegReg::Fs,
        Mnemonic::Lgs => SegReg::Gs,
        _ => SegReg::Ss,
    };
    let size = d.i.op_register(0).size();
    let ea = cpu.ea(d);
    let seg = Core::mseg(d);
    let off = cpu.read(seg, ea, size)?;
    let sel = cpu.read(seg, ea.wrapping_add(size as u64) & d.amask, 2)? as u16;
    cpu.load_sreg(s, sel)?;
    cpu.set_reg(d.i.op_register(0), off);
    Ok(())
}

/// Reads the descriptor for LAR/LSL/VERR/VERW: `None` (ZF=0) when the
/// selector is null, out of range, or not visible at CPL/RPL.
fn visible_descriptor(cpu: &mut Core, sel: u16) -> Res<Option<Segment>> {
    if sel & !3 == 0 {
        return Ok(None);
    }
    let seg = match cpu.read_descriptor(sel) {
        Ok((desc, _)) => desc.segment(sel),
        Err(f) if f.vector() == vector::GP => return Ok(None),
        Err(f) => return Err(f),
    };
    let conforming_code = seg.is_code() && seg.attr & Segment::ATTR_EXPAND_DOWN != 0;
    let rpl = (sel & 3) as u8;
    if !conforming_code && (seg.dpl() < cpu.cpl || seg.dpl() < rpl) {
        return Ok(None);
    }
    Ok(Some(seg))
}

fn set_zf(cpu: &mut Core, on: bool) {
    if on {
        cpu.rflags |= rflags::ZF;
    } else {
        cpu.rflags &= !rflags::ZF;
    }
}

pub(super) fn lar(cpu: &mut Core, d: &Decoded) -> Res {
    protected_only(cpu)?;
    let sel = cpu.op(d, 1, 2)? as u16;
    let seg = visible_descriptor(cpu, sel)?;
    let valid = seg
        .filter(|s| s.attr & Segment::ATTR_S != 0 || matches!(s.attr & 0xF, 1..=3 | 9 | 0xB | 0xC));
    set_zf(cpu, valid.is_some());
    if let Some(s) = valid {
        let (desc, _) = cpu.read_descriptor(sel)?;
        let _ = s;
        cpu.set_reg(d.i.op_register(0), (desc.0 >> 32) & 0x00FF_FF00);
    }
    Ok(())
}

pub(super) fn lsl(cpu: &mut Core, d: &Decoded) -> Res {
    protected_only(cpu)?;
    let sel = cpu.op(d, 1, 2)? as u16;
    let seg = visible_descriptor(cpu, sel)?;
    let valid =
        seg.filter(|s| s.attr & Segment::ATTR_S != 0 || matches!(s.attr & 0xF, 1..=3 | 9 | 0xB));
    set_zf(cpu, valid.is_some());
    if let Some(s) = valid {
        cpu.set_reg(d.i.op_register(0), s.limit as u64);
    }
    Ok(())
}

pub(super) fn verr_verw(cpu: &mut Core, d: &Decoded) -> Res {
    protected_only(cpu)?;
    let sel = cpu.op(d, 0, 2)? as u16;
    let seg = visible_descriptor(cpu, sel)?;
    let write = d.i.mnemonic() == Mnemonic::Verw;
    let ok = seg.is_some_and(|s| {
        s.attr & Segment::ATTR_S != 0
            && if write {
                !s.is_code() && s.attr & Segment::ATTR_WRITABLE != 0
            } else {
                !s.is_code() || s.attr & Segment::ATTR_WRITABLE != 0
            }
    });
    set_zf(cpu, ok);
    Ok(())
}
