//! Segment descriptors and the instructions that load them (SDM Vol. 3A,
//! 3.4.5 "Segment Descriptors", 5.8 "Privilege level checking when
//! transferring program control between code segments"; Vol. 2 MOV, POP,
//! LDS/LES/LFS/LGS/LSS, JMP/CALL/RET far).
//!
//! Call gates and task switches are not modelled: a far transfer through a
//! gate or TSS raises #GP(selector), which no 64-bit OS relies on.

use iced_x86::OpKind;

use crate::block::Decoded;
use crate::fault::{Fault, Res};
use crate::flags::mask;
use crate::state::{rflags, Core, Mode, SegReg, Segment};

/// A segment descriptor as stored in the GDT or LDT (SDM Vol. 3A, 3.4.5,
/// Figure 3-8): the low eight bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Descriptor(pub u64);

impl Descriptor {
    pub fn base(self) -> u64 {
        ((self.0 >> 16) & 0xFF_FFFF) | (((self.0 >> 56) & 0xFF) << 24)
    }

    /// Byte-granular limit (scaled by G).
    pub fn limit(self) -> u32 {
        let raw = ((self.0 & 0xFFFF) | ((self.0 >> 32) & 0xF_0000)) as u32;
        if self.attr() & Segment::ATTR_G != 0 {
            (raw << 12) | 0xFFF
        } else {
            raw
        }
    }

    /// Attribute bits in `Segment::attr` layout (type, S, DPL, P, AVL, L, D/B, G).
    pub fn attr(self) -> u16 {
        (((self.0 >> 40) & 0xFF) | (((self.0 >> 52) & 0xF) << 12)) as u16
    }

    pub fn segment(self, selector: u16) -> Segment {
        Segment {
            selector,
            base: self.base(),
            limit: self.limit(),
            attr: self.attr(),
        }
    }
}

impl Core {
    /// Reads the descriptor `sel` names from the GDT or LDT; #GP(sel) if it
    /// lies beyond the table's limit. Returns the descriptor and its linear
    /// address.
    pub(crate) fn read_descriptor(&mut self, sel: u16) -> Res<(Descriptor, u64)> {
        let (base, limit) = if sel & 4 != 0 {
            if self.ldtr.selector & !3 == 0 || !self.ldtr.present() {
                return Err(Fault::gp(sel));
            }
            (self.ldtr.base, self.ldtr.limit as u64)
        } else {
            (self.gdtr.base, self.gdtr.limit as u64)
        };
        let off = (sel & !7) as u64;
        if off + 7 > limit {
            return Err(Fault::gp(sel));
        }
        let lin = base.wrapping_add(off);
        Ok((Descriptor(self.read_sys(lin, 8)?), lin))
    }

    /// Sets the accessed bit of a descriptor at `lin` if it is clear.
    fn mark_accessed(&mut self, d: Descriptor, lin: u64) -> Res {
        if d.0 & (1 << 40) == 0 {
            self.write_sys(lin + 5, 1, ((d.0 >> 40) | 1) & 0xFF)?;
        }
        Ok(())
    }

    /// Loads a data or stack segment register (MOV, POP, LxS) with the
    /// checks of SDM Vol. 2 "MOV—Move" (protected mode).
    pub(crate) fn load_sreg(&mut self, s: SegReg, sel: u16) -> Res {
        if self.mode == Mode::Real || self.rflags & rflags::VM != 0 {
            let seg = &mut self.seg[s as usize];
            seg.selector = sel;
            seg.base = (sel as u64) << 4;
            return Ok(());
        }
        let rpl = (sel & 3) as u8;
        if sel & !3 == 0 {
            // Null selector: SS only in 64-bit mode below CPL 3.
            if s == SegReg::Ss && !(self.mode == Mode::Long && self.cpl < 3 && rpl == self.cpl) {
                return Err(Fault::GP0);
            }
            let keep_base = self.mode == Mode::Long && matches!(s, SegReg::Fs | SegReg::Gs);
            let seg = &mut self.seg[s as usize];
            *seg = Segment {
                selector: sel,
                base: if keep_base { seg.base } else { 0 },
                limit: 0,
                attr: 0,
            };
            return Ok(());
        }
        let (desc, lin) = self.read_descriptor(sel)?;
        let seg = desc.segment(sel);
        let dpl = seg.dpl();
        if seg.attr & Segment::ATTR_S == 0 {
            return Err(Fault::gp(sel));
        }
        let code = seg.attr & Segment::ATTR_CODE != 0;
        let rw = seg.attr & Segment::ATTR_WRITABLE != 0;
        if s == SegReg::Ss {
            if rpl != self.cpl || dpl != self.cpl || code || !rw {
                return Err(Fault::gp(sel));
            }
            if !seg.present() {
                return Err(Fault::ss(sel));
            }
        } else {
            if code && !rw {
                return Err(Fault::gp(sel));
            }
            let conforming = code && seg.attr & Segment::ATTR_EXPAND_DOWN != 0;
            if !conforming && (rpl > dpl || self.cpl > dpl) {
                return Err(Fault::gp(sel));
            }
            if !seg.present() {
                return Err(Fault::np(sel));
            }
        }
        self.mark_accessed(desc, lin)?;
        let mut seg = seg;
        seg.attr |= Segment::ATTR_ACCESSED;
        if self.mode == Mode::Long && matches!(s, SegReg::Fs | SegReg::Gs) {
            seg.base &= 0xFFFF_FFFF;
        }
        self.seg[s as usize] = seg;
        Ok(())
    }

    /// Checks a code-segment selector for a far JMP/CALL/RET/IRET to
    /// privilege `target_cpl` and returns the segment to load into CS.
    pub(crate) fn code_segment(&mut self, sel: u16, for_return: bool) -> Res<Segment> {
        if sel & !3 == 0 {
            return Err(Fault::GP0);
        }
        let (desc, lin) = self.read_descriptor(sel)?;
        let seg = desc.segment(sel);
        if !seg.is_code() {
            return Err(Fault::gp(sel));
        }
        let rpl = (sel & 3) as u8;
        let dpl = seg.dpl();
        let conforming = seg.attr & Segment::ATTR_EXPAND_DOWN != 0;
        let ok = if for_return {
            rpl >= self.cpl && if conforming { dpl <= rpl } else { dpl == rpl }
        } else if conforming {
            dpl <= self.cpl
        } else {
            rpl <= self.cpl && dpl == self.cpl
        };
        if !ok {
            return Err(Fault::gp(sel));
        }
        if !seg.present() {
            return Err(Fault::np(sel));
        }
        if self.efer & crate::state::efer::LMA != 0 && seg.long() && seg.db() {
            return Err(Fault::gp(sel));
        }
        self.mark_accessed(desc, lin)?;
        let mut seg = seg;
        seg.attr |= Segment::ATTR_ACCESSED;
        Ok(seg)
    }

    /// Makes `seg` the code segment with privilege `cpl`, jumping to `ip`.
    pub(crate) fn set_cs(&mut self, mut seg: Segment, cpl: u8, ip: u64) {
        seg.selector = (seg.selector & !3) | cpl as u16;
        self.seg[SegReg::Cs as usize] = seg;
        self.rip = ip;
        self.sync_code_mode();
    }

    /// Recomputes the mode after CS changed and ends the block.
    pub(crate) fn sync_code_mode(&mut self) {
        // The TLB keeps separate user and supervisor sets, so a privilege
        // change needs no flush.
        self.derive_mode();
        self.end_block = true;
    }

    /// The far pointer (selector, offset) operand of a far JMP/CALL.
    fn far_pointer(&mut self, d: &Decoded) -> Res<(u16, u64, usize)> {
        match d.i.op_kind(0) {
            OpKind::FarBranch16 => Ok((d.i.far_branch_selector(), d.i.far_branch16() as u64, 2)),
            OpKind::FarBranch32 => Ok((d.i.far_branch_selector(), d.i.far_branch32() as u64, 4)),
            _ => {
                let size = d.i.memory_size().size() - 2;
                let ea = self.ea(d);
                let seg = Core::mseg(d);
                let off = self.read(seg, ea, size)?;
                let sel = self.read(seg, ea.wrapping_add(size as u64) & d.amask, 2)? as u16;
                Ok((sel, off, size))
            }
        }
    }

    /// JMP far (SDM JMP, protected-mode path without gates).
    pub(crate) fn far_jump(&mut self, d: &Decoded) -> Res {
        let (sel, off, size) = self.far_pointer(d)?;
        let off = off & mask(size);
        if self.mode == Mode::Real {
            self.seg[SegReg::Cs as usize].selector = sel;
            self.seg[SegReg::Cs as usize].base = (sel as u64) << 4;
            self.rip = off;
            self.sync_code_mode();
            return Ok(());
        }
        let seg = self.code_segment(sel, false)?;
        if !seg.long() && off > seg.limit as u64 {
            return Err(Fault::GP0);
        }
        let cpl = self.cpl;
        self.set_cs(seg, cpl, off);
        Ok(())
    }

    /// CALL far (same privilege; no call gates).
    pub(crate) fn far_call(&mut self, d: &Decoded) -> Res {
        let (sel, off, size) = self.far_pointer(d)?;
        let off = off & mask(size);
        let ret_cs = self.seg[SegReg::Cs as usize].selector as u64;
        let ret_ip = self.rip;
        let ss = self.stack_size();
        let sp = self.gpr[4];
        let top = sp.wrapping_sub(2 * size as u64) & mask(ss);
        self.probe_write(SegReg::Ss, top, 2 * size)?;
        if self.mode == Mode::Real {
            self.push(ret_cs, size)?;
            self.push(ret_ip, size)?;
            self.seg[SegReg::Cs as usize].selector = sel;
            self.seg[SegReg::Cs as usize].base = (sel as u64) << 4;
            self.rip = off;
            self.sync_code_mode();
            return Ok(());
        }
        let seg = self.code_segment(sel, false)?;
        if !seg.long() && off > seg.limit as u64 {
            return Err(Fault::GP0);
        }
        self.push(ret_cs, size)?;
        self.push(ret_ip, size)?;
        let cpl = self.cpl;
        self.set_cs(seg, cpl, off);
        Ok(())
    }

    /// RET far (SDM RET), to the same or an outer privilege level.
    pub(crate) fn far_return(&mut self, d: &Decoded) -> Res {
        let size = match d.i.code() {
            iced_x86::Code::Retfw | iced_x86::Code::Retfw_imm16 => 2,
            iced_x86::Code::Retfd | iced_x86::Code::Retfd_imm16 => 4,
            _ => 8,
        };
        let imm = if d.i.op_count() > 0 {
            d.i.immediate(0) & 0xFFFF
        } else {
            0
        };
        let ip = self.peek_stack(0, size)? & mask(size);
        let sel = self.peek_stack(size as u64, size)? as u16;
        let ss = self.stack_size();
        if self.mode == Mode::Real {
            self.gpr[4] = (self.gpr[4] & !mask(ss))
                | (self.gpr[4].wrapping_add(2 * size as u64 + imm) & mask(ss));
            self.seg[SegReg::Cs as usize].selector = sel;
            self.seg[SegReg::Cs as usize].base = (sel as u64) << 4;
            self.rip = ip;
            self.sync_code_mode();
            return Ok(());
        }
        let seg = self.code_segment(sel, true)?;
        let rpl = (sel & 3) as u8;
        if rpl > self.cpl {
            // Return to an outer level: SS:rSP follow the return address.
            let new_sp = self.peek_stack(2 * size as u64 + imm, size)?;
            let new_ss = self.peek_stack(3 * size as u64 + imm, size)? as u16;
            let saved = (self.cpl, self.seg);
            self.cpl = rpl;
            if let Err(f) = self.load_sreg(SegReg::Ss, new_ss) {
                (self.cpl, self.seg) = saved;
                return Err(f);
            }
            self.set_cs(seg, rpl, ip);
            let sp = new_sp.wrapping_add(imm);
            let ss2 = self.stack_size();
            self.set_gpr_sized(4, ss2.max(if size == 8 { 8 } else { ss2 }), sp);
            self.null_data_segments_above_cpl();
        } else {
            self.set_cs(seg, self.cpl, ip);
            self.set_gpr_sized(
                4,
                ss,
                self.gpr[4].wrapping_add(2 * size as u64 + imm) & mask(ss),
            );
        }
        Ok(())
    }

    /// After a return to an outer level, data segments the new CPL may not
    /// use are nulled (SDM RET, "return to outer privilege level").
    pub(crate) fn null_data_segments_above_cpl(&mut self) {
        for s in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
            let seg = self.seg[s as usize];
            let conforming_code = seg.is_code() && seg.attr & Segment::ATTR_EXPAND_DOWN != 0;
            if seg.present() && !conforming_code && seg.dpl() < self.cpl {
                let keep_base = self.mode == Mode::Long && matches!(s, SegReg::Fs | SegReg::Gs);
                self.seg[s as usize] = Segment {
                    selector: 0,
                    base: if keep_base { seg.base } else { 0 },
                    limit: 0,
                    attr: 0,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_decodes_flat_64bit_code() {
        // 0x00AF9B000000FFFF: base 0, limit 0xFFFFF pages, P, DPL0, code, L, G.
        let d = Descriptor(0x00AF_9B00_0000_FFFF);
        let s = d.segment(8);
        assert_eq!(s.base, 0);
        assert_eq!(s.limit, 0xFFFF_FFFF);
        assert!(s.long() && s.is_code() && s.present());
        assert!(!s.db());
        assert_eq!(s.dpl(), 0);
    }

    #[test]
    fn descriptor_decodes_base_and_byte_limit() {
        // base 0x12345678, limit 0x00FFF, byte granular, DPL3 data RW.
        let d = Descriptor(0x1240_F234_5678_0FFF);
        let s = d.segment(0x23);
        assert_eq!(s.base, 0x1234_5678);
        assert_eq!(s.limit, 0xFFF);
        assert_eq!(s.dpl(), 3);
        assert!(s.db());
        assert!(!s.is_code());
    }
}
