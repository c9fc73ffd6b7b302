//! Exception and interrupt delivery (SDM Vol. 3A, chapter 6) and IRET.
//!
//! Delivery reads the gate, checks it, builds the new stack frame and only
//! then commits CS, RIP, RSP and RFLAGS, so a fault during delivery leaves
//! the state of the interrupted context intact for the #DF that follows.

use crate::fault::{Fault, Res};
use crate::flags::mask;
use crate::segment::Descriptor;
use crate::state::{efer, rflags, Core, Mode, SegReg, Segment};
use crate::vector;

/// How an event arose; it decides the privilege check on the gate and the
/// EXT bit of error codes (SDM Vol. 3A, 6.12.1.1 and 6.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A fault or trap the processor raised, with its error code.
    Exception(Option<u32>),
    /// An external interrupt (INTR).
    External,
    /// INT n, INT3, INTO: the gate's DPL must be >= CPL.
    Software,
}

/// Exception classes for the double-fault rules (SDM Vol. 3A, Table 6-5).
fn contributory(v: u8) -> bool {
    matches!(
        v,
        vector::DE | vector::TS | vector::NP | vector::SS | vector::GP
    )
}

impl Core {
    /// Delivers a fault raised by an instruction (RIP already rewound), with
    /// the double- and triple-fault rules.
    pub(crate) fn deliver_fault(&mut self, f: Fault) {
        if f.vector() == vector::PF {
            tracing::trace!(target: "cpu::exc", cr2 = format_args!("{:#x}", self.cr2), error = ?f.error(), rip = format_args!("{:#x}", self.rip), "#PF");
        } else {
            tracing::debug!(target: "cpu::exc", vector = f.vector(), error = ?f.error(), rip = format_args!("{:#x}", self.rip), "exception");
        }
        let mut f = f;
        if let Some(prev) = self.delivering {
            if prev == vector::DF {
                tracing::warn!(target: "cpu::exc", "triple fault: shutdown");
                self.shutdown = true;
                self.delivering = None;
                return;
            }
            let double = (contributory(prev) && contributory(f.vector()))
                || (prev == vector::PF && (contributory(f.vector()) || f.vector() == vector::PF));
            if double {
                f = Fault::with_error(vector::DF, 0);
            }
        }
        self.delivering = Some(f.vector());
        match self.deliver(f.vector(), Event::Exception(f.error())) {
            Ok(()) => self.delivering = None,
            Err(next) => self.deliver_fault(next),
        }
    }

    /// Delivers external interrupt `v` (the caller checked RFLAGS.IF).
    pub(crate) fn external_interrupt(&mut self, v: u8) {
        tracing::trace!(target: "cpu::irq", vector = v, "external interrupt");
        self.delivering = Some(v);
        match self.deliver(v, Event::External) {
            Ok(()) => self.delivering = None,
            Err(f) => self.deliver_fault(f),
        }
    }

    /// INT n / INT3 / INTO: delivered with RIP after the instruction.
    pub(crate) fn software_interrupt(&mut self, v: u8) -> Res {
        self.deliver(v, Event::Software)
    }

    fn deliver(&mut self, v: u8, ev: Event) -> Res {
        self.end_block = true;
        self.halted = false;
        match self.mode {
            Mode::Real => self.deliver_real(v),
            Mode::Long | Mode::Compat => self.deliver_long(v, ev),
            Mode::Protected => self.deliver_protected(v, ev),
        }
    }

    /// Real mode (SDM Vol. 3A, 20.1.4): IVT entry, push FLAGS, CS, IP.
    fn deliver_real(&mut self, v: u8) -> Res {
        let off = v as u64 * 4;
        if off + 3 > self.idtr.limit as u64 {
            return Err(Fault::GP0);
        }
        let entry = self.read_sys(self.idtr.base.wrapping_add(off), 4)?;
        let sp = self.gpr[4];
        let cs = self.seg[SegReg::Cs as usize].selector as u64;
        let frame = [self.rflags & 0xFFFF, cs, self.rip & 0xFFFF];
        for (k, val) in frame.iter().enumerate() {
            let a = sp.wrapping_sub(2 * (k as u64 + 1)) & 0xFFFF;
            self.write(SegReg::Ss, a, 2, *val)?;
        }
        self.gpr[4] = (sp & !0xFFFF) | (sp.wrapping_sub(6) & 0xFFFF);
        self.rflags &= !(rflags::IF | rflags::TF | rflags::AC | rflags::RF);
        let sel = (entry >> 16) as u16;
        self.seg[SegReg::Cs as usize].selector = sel;
        self.seg[SegReg::Cs as usize].base = (sel as u64) << 4;
        self.rip = entry & 0xFFFF;
        self.derive_mode();
        Ok(())
    }

    /// Error code for a fault found while reading gate `v` (SDM 6.13).
    fn idt_error(v: u8, ev: Event) -> u32 {
        (v as u32) * 8 + 2 + u32::from(ev != Event::Software)
    }

    /// Reads and checks the interrupt gate and its target code segment,
    /// returning (gate low, gate high, target CS segment, target CPL).
    fn read_gate(&mut self, v: u8, ev: Event, long: bool) -> Res<(u64, u64, Segment, u8)> {
        let size = if long { 16 } else { 8 };
        let off = v as u64 * size;
        let err = Self::idt_error(v, ev);
        if off + size - 1 > self.idtr.limit as u64 {
            return Err(Fault::with_error(vector::GP, err));
        }
        let lo = self.read_sys(self.idtr.base.wrapping_add(off), 8)?;
        let hi = if long {
            self.read_sys(self.idtr.base.wrapping_add(off + 8), 8)?
        } else {
            0
        };
        let gate = Descriptor(lo);
        let ty = gate.attr() & 0x1F;
        let valid = if long {
            matches!(ty, 0x0E | 0x0F)
        } else {
            matches!(ty, 0x06 | 0x07 | 0x0E | 0x0F)
        };
        if !valid {
            return Err(Fault::with_error(vector::GP, err));
        }
        if ev == Event::Software && gate.attr() >> 5 & 3 < self.cpl as u16 {
            return Err(Fault::with_error(vector::GP, err));
        }
        if gate.attr() & Segment::ATTR_P == 0 {
            return Err(Fault::with_error(vector::NP, err));
        }
        let sel = (lo >> 16) as u16;
        let ext = u32::from(ev != Event::Software);
        if sel & !3 == 0 {
            return Err(Fault::with_error(vector::GP, ext));
        }
        let (desc, _) = self
            .read_descriptor(sel)
            .map_err(|f| Fault::with_error(f.vector(), (sel & !3) as u32 | ext))?;
        let cs = desc.segment(sel);
        let sel_err = (sel & !3) as u32 | ext;
        if !cs.is_code() || cs.dpl() > self.cpl {
            return Err(Fault::with_error(vector::GP, sel_err));
        }
        if !cs.present() {
            return Err(Fault::with_error(vector::NP, sel_err));
        }
        if long && (!cs.long() || cs.db()) {
            return Err(Fault::with_error(vector::GP, sel_err));
        }
        let conforming = cs.attr & Segment::ATTR_EXPAND_DOWN != 0;
        let new_cpl = if conforming { self.cpl } else { cs.dpl() };
        Ok((lo, hi, cs, new_cpl))
    }

    /// IA-32e mode (SDM Vol. 3A, 6.14): 16-byte gates, IST, 64-bit frame.
    fn deliver_long(&mut self, v: u8, ev: Event) -> Res {
        let (lo, hi, cs, new_cpl) = self.read_gate(v, ev, true)?;
        let target = (lo & 0xFFFF) | ((lo >> 32) & 0xFFFF_0000) | (hi << 32);
        let ist = (lo >> 32) & 7;
        let rsp = if ist != 0 {
            self.read_sys(self.tr.base.wrapping_add(36 + (ist - 1) * 8), 8)?
        } else if new_cpl < self.cpl {
            self.read_sys(self.tr.base.wrapping_add(4 + new_cpl as u64 * 8), 8)?
        } else {
            self.gpr[4]
        };
        let rsp = rsp & !0xF;
        let old_ss = self.seg[SegReg::Ss as usize].selector as u64;
        let mut frame = [old_ss, self.gpr[4], self.rflags, 0, self.rip, 0];
        frame[3] = self.seg[SegReg::Cs as usize].selector as u64;
        let n = match ev {
            Event::Exception(Some(e)) => {
                frame[5] = e as u64;
                6
            }
            _ => 5,
        };
        let user = new_cpl == 3;
        for (k, val) in frame[..n].iter().enumerate() {
            let a = rsp.wrapping_sub(8 * (k as u64 + 1));
            if ((a << 16) as i64 >> 16) as u64 != a {
                return Err(Fault::SS0);
            }
            self.write_lin(a, 8, *val, user)?;
        }
        if new_cpl != self.cpl {
            self.seg[SegReg::Ss as usize] = Segment {
                selector: new_cpl as u16,
                base: 0,
                limit: 0,
                attr: 0,
            };
        }
        self.gpr[4] = rsp.wrapping_sub(8 * n as u64);
        self.clear_flags_for_gate(lo);
        self.set_cs(cs, new_cpl, target);
        Ok(())
    }

    /// Legacy protected mode (SDM Vol. 3A, 6.12.1): 8-byte gates, 16- or
    /// 32-bit frames, stack switch from the 32-bit TSS.
    fn deliver_protected(&mut self, v: u8, ev: Event) -> Res {
        let (lo, _, cs, new_cpl) = self.read_gate(v, ev, false)?;
        let gate32 = (Descriptor(lo).attr() & 0x8) != 0;
        let size = if gate32 { 4 } else { 2 };
        let target = (lo & 0xFFFF) | ((lo >> 32) & 0xFFFF_0000);
        let target = target & mask(size);
        if target > cs.limit as u64 {
            return Err(Fault::GP0);
        }
        let old_ss = self.seg[SegReg::Ss as usize];
        let old_sp = self.gpr[4];
        let mut frame = Vec::with_capacity(6);
        let (new_ss, mut sp) = if new_cpl < self.cpl {
            // Stack switch: SSn:ESPn from the 32-bit TSS.
            let ss_sel =
                self.read_sys(self.tr.base.wrapping_add(8 + new_cpl as u64 * 8), 2)? as u16;
            let esp = self.read_sys(self.tr.base.wrapping_add(4 + new_cpl as u64 * 8), 4)?;
            if ss_sel & !3 == 0 {
                return Err(Fault::ts(ss_sel));
            }
            let (desc, _) = self
                .read_descriptor(ss_sel)
                .map_err(|_| Fault::ts(ss_sel))?;
            let ss = desc.segment(ss_sel);
            if ss.is_code() || ss.attr & Segment::ATTR_WRITABLE == 0 || ss.dpl() != new_cpl {
                return Err(Fault::ts(ss_sel));
            }
            if !ss.present() {
                return Err(Fault::ss(ss_sel));
            }
            frame.push(old_ss.selector as u64);
            frame.push(old_sp);
            (ss, esp)
        } else {
            (old_ss, old_sp)
        };
        frame.push(self.rflags);
        frame.push(self.seg[SegReg::Cs as usize].selector as u64);
        frame.push(self.rip);
        if let Event::Exception(Some(e)) = ev {
            frame.push(e as u64);
        }
        let spm = if new_ss.db() { 0xFFFF_FFFF } else { 0xFFFF };
        let user = new_cpl == 3;
        for val in &frame {
            sp = sp.wrapping_sub(size as u64) & spm;
            let last = sp.wrapping_add(size as u64 - 1);
            if last > new_ss.limit as u64 && new_ss.attr & Segment::ATTR_EXPAND_DOWN == 0 {
                return Err(Fault::SS0);
            }
            let lin = new_ss.base.wrapping_add(sp) & 0xFFFF_FFFF;
            self.write_lin(lin, size, *val & mask(size), user)?;
        }
        self.seg[SegReg::Ss as usize] = new_ss;
        self.gpr[4] = if new_ss.db() {
            sp
        } else {
            (old_sp & !0xFFFF) | sp
        };
        self.clear_flags_for_gate(lo);
        self.set_cs(cs, new_cpl, target);
        Ok(())
    }

    /// TF, NT, RF and VM are cleared on every gate; IF too on interrupt
    /// gates (type bit 0 clear), not on trap gates.
    fn clear_flags_for_gate(&mut self, lo: u64) {
        let trap = (Descriptor(lo).attr() & 1) != 0;
        self.rflags &= !(rflags::TF | rflags::NT | rflags::RF | rflags::VM);
        if !trap {
            self.rflags &= !rflags::IF;
        }
    }

    /// IRET/IRETD/IRETQ (SDM Vol. 2, IRET) with operand size `size`.
    pub(crate) fn iret(&mut self, size: usize) -> Res {
        if self.mode == Mode::Real {
            let ip = self.peek_stack(0, size)?;
            let cs = self.peek_stack(size as u64, size)? as u16;
            let fl = self.peek_stack(2 * size as u64, size)?;
            self.pop(size)?;
            self.pop(size)?;
            self.pop(size)?;
            self.seg[SegReg::Cs as usize].selector = cs;
            self.seg[SegReg::Cs as usize].base = (cs as u64) << 4;
            self.rip = ip & mask(size);
            self.write_flags(fl, size);
            self.sync_code_mode();
            return Ok(());
        }
        if self.rflags & rflags::NT != 0 && self.efer & efer::LMA == 0 {
            // Task return: task switching is not modelled.
            return Err(Fault::ts(self.tr.selector));
        }
        let rip = self.peek_stack(0, size)? & mask(size);
        let sel = self.peek_stack(size as u64, size)? as u16;
        let fl = self.peek_stack(2 * size as u64, size)?;
        if self.mode == Mode::Protected && fl & rflags::VM != 0 && self.cpl == 0 {
            // Return to virtual-8086 mode is not modelled.
            return Err(Fault::GP0);
        }
        let cs = self.code_segment(sel, true)?;
        let rpl = (sel & 3) as u8;
        let pop_stack = rpl > self.cpl || self.mode == Mode::Long;
        let (new_sp, new_ss) = if pop_stack {
            (
                self.peek_stack(3 * size as u64, size)?,
                self.peek_stack(4 * size as u64, size)? as u16,
            )
        } else {
            (0, 0)
        };
        let old_cpl = self.cpl;
        let saved = (self.seg, self.gpr[4]);
        // Flags are written with the privilege of the IRET itself.
        let ss_size = self.stack_size();
        if pop_stack {
            self.cpl = rpl;
            let long_target = cs.long() && self.efer & efer::LMA != 0;
            let r = if new_ss & !3 == 0 && long_target && rpl < 3 {
                self.seg[SegReg::Ss as usize] = Segment {
                    selector: new_ss,
                    base: 0,
                    limit: 0,
                    attr: 0,
                };
                Ok(())
            } else {
                self.load_sreg(SegReg::Ss, new_ss)
            };
            self.cpl = old_cpl;
            if let Err(f) = r {
                (self.seg, self.gpr[4]) = saved;
                return Err(f);
            }
            self.gpr[4] = if size == 8 || long_target {
                new_sp
            } else {
                new_sp & mask(size)
            };
        } else {
            self.set_gpr_sized(
                4,
                ss_size,
                self.gpr[4].wrapping_add(3 * size as u64) & mask(ss_size),
            );
        }
        self.write_flags(fl, size);
        self.set_cs(cs, rpl, rip);
        if rpl > old_cpl {
            self.null_data_segments_above_cpl();
        }
        Ok(())
    }
}
