//! Memory access as instructions see it: segmentation (SDM Vol. 3A, 3.4 and
//! 5.3) to a linear address, then the TLB or a page walk to RAM or the bus.

use mem::GuestAddress;

use crate::fault::{Fault, Res};
use crate::mmu::{index, Access, PAGE_MASK, TLB_MMIO};
use crate::state::{Core, Mode, SegReg, Segment};

/// Addressing kinds of memory operands, chosen at decode time: any mode
/// (full segmentation checks), or 64-bit code with segment base 0 or with
/// the FS/GS base (see [`Core::rd_hit`]).
pub(crate) const ANY: u8 = 0;
pub(crate) const FLAT64: u8 = 1;
pub(crate) const BASED64: u8 = 2;
/// [`FLAT64`] with 64-bit addressing of a known shape: base + disp, base +
/// index * scale + disp, or an absolute (or RIP-relative) address.
pub(crate) const FLAT64_B: u8 = 3;
pub(crate) const FLAT64_BI: u8 = 4;
pub(crate) const FLAT64_D: u8 = 5;

impl Core {
    /// Linear address of `off` in segment `seg` for an access of `size`
    /// bytes, with the limit, type and canonical checks of the current mode.
    #[inline(always)]
    pub(crate) fn linear(&self, seg: SegReg, off: u64, size: usize, write: bool) -> Res<u64> {
        if self.mode == Mode::Long {
            let base = if (seg as u8) >= SegReg::Fs as u8 {
                self.seg[seg as usize].base
            } else {
                0
            };
            let lin = base.wrapping_add(off);
            if ((lin << 16) as i64 >> 16) as u64 != lin {
                return Err(if seg == SegReg::Ss {
                    Fault::SS0
                } else {
                    Fault::GP0
                });
            }
            return Ok(lin);
        }
        self.linear_legacy(seg, off, size, write)
    }

    fn linear_legacy(&self, seg: SegReg, off: u64, size: usize, write: bool) -> Res<u64> {
        let s = &self.seg[seg as usize];
        let fail = if seg == SegReg::Ss {
            Fault::SS0
        } else {
            Fault::GP0
        };
        if self.mode != Mode::Real {
            if !s.present() || s.attr & Segment::ATTR_S == 0 {
                return Err(fail);
            }
            let code = s.attr & Segment::ATTR_CODE != 0;
            let wr = s.attr & Segment::ATTR_WRITABLE != 0;
            let denied = if write { code || !wr } else { code && !wr };
            if denied {
                return Err(fail);
            }
        }
        let last = off.wrapping_add(size as u64 - 1);
        let expand_down = s.attr & (Segment::ATTR_CODE | Segment::ATTR_EXPAND_DOWN)
            == Segment::ATTR_EXPAND_DOWN
            && self.mode != Mode::Real;
        let ok = if expand_down {
            let top = if s.db() { 0xFFFF_FFFF } else { 0xFFFF };
            off > s.limit as u64 && last <= top && last >= off
        } else {
            last <= s.limit as u64 && last >= off
        };
        if !ok {
            return Err(fail);
        }
        Ok(s.base.wrapping_add(off) & 0xFFFF_FFFF)
    }

    /// A read of `W` bytes at offset `ea` of `seg` in 64-bit code through
    /// the TLB alone, in addressing kind `K` (see `exec/fast.rs`):
    /// [`FLAT64`] (segment base 0) or [`BASED64`] (FS or GS). The value if
    /// the access reads RAM through a cached translation, `None` if it must
    /// take the full path ([`Core::read`]). The linear
    /// address goes straight to the TLB: a non-canonical address never
    /// matches a tag (see `translate`), so its fault is raised by the full
    /// path, which checks everything.
    #[inline(always)]
    pub(crate) fn rd_hit<const K: u8, const W: usize>(&self, seg: SegReg, ea: u64) -> Option<u64> {
        let lin = self.lin64::<K>(seg, ea);
        let e = &self.tlb.sets[(self.cpl == 3) as usize][index(lin)];
        // One compare covers the page and the access staying within it:
        // an access running into the next page has its last byte's page
        // differ from the entry's, which is indexed by the first byte.
        (e.read == lin.wrapping_add(W as u64 - 1) & PAGE_MASK)
            .then(|| self.ram.load(lin.wrapping_add(e.addend), W))
    }

    /// The same for a write: true if the value was stored.
    #[inline(always)]
    pub(crate) fn wr_hit<const K: u8, const W: usize>(
        &self,
        seg: SegReg,
        ea: u64,
        val: u64,
    ) -> bool {
        let lin = self.lin64::<K>(seg, ea);
        let e = &self.tlb.sets[(self.cpl == 3) as usize][index(lin)];
        if e.write == lin.wrapping_add(W as u64 - 1) & PAGE_MASK {
            self.ram.store(lin.wrapping_add(e.addend), W, val);
            return true;
        }
        false
    }

    #[inline(always)]
    fn lin64<const K: u8>(&self, seg: SegReg, ea: u64) -> u64 {
        if K == BASED64 {
            ea.wrapping_add(self.seg[seg as usize].base)
        } else {
            ea
        }
    }

    /// Reads `size` bytes at `seg:off`.
    #[inline(always)]
    pub(crate) fn read(&mut self, seg: SegReg, off: u64, size: usize) -> Res<u64> {
        let lin = self.linear(seg, off, size, false)?;
        self.read_lin(lin, size, self.cpl == 3)
    }

    /// Writes `size` bytes at `seg:off`.
    #[inline(always)]
    pub(crate) fn write(&mut self, seg: SegReg, off: u64, size: usize, val: u64) -> Res {
        let lin = self.linear(seg, off, size, true)?;
        self.write_lin(lin, size, val, self.cpl == 3)
    }

    /// Reads `size` bytes at linear `lin` with user (`true`) or supervisor
    /// privilege.
    #[inline(always)]
    pub(crate) fn read_lin(&mut self, lin: u64, size: usize, user: bool) -> Res<u64> {
        let e = &self.tlb.sets[user as usize][index(lin)];
        if e.read == lin & PAGE_MASK && (lin & 0xFFF) as usize <= 0x1000 - size {
            return Ok(self.ram.load(lin.wrapping_add(e.addend), size));
        }
        self.read_lin_slow(lin, size, user)
    }

    /// Writes `size` bytes at linear `lin`.
    #[inline(always)]
    pub(crate) fn write_lin(&mut self, lin: u64, size: usize, val: u64, user: bool) -> Res {
        let e = &self.tlb.sets[user as usize][index(lin)];
        if e.write == lin & PAGE_MASK && (lin & 0xFFF) as usize <= 0x1000 - size {
            self.ram.store(lin.wrapping_add(e.addend), size, val);
            return Ok(());
        }
        self.write_lin_slow(lin, size, val, user)
    }

    #[cold]
    fn read_lin_slow(&mut self, lin: u64, size: usize, user: bool) -> Res<u64> {
        if (lin & 0xFFF) as usize + size > 0x1000 {
            // Straddles two pages: translate both (faulting on either)
            // before reading anything.
            let first = 0x1000 - (lin & 0xFFF) as usize;
            let lo = self.read_lin_slow_in_page(lin, first, user)?;
            let hi =
                self.read_lin_slow_in_page(lin.wrapping_add(first as u64), size - first, user)?;
            return Ok(lo | (hi << (first * 8)));
        }
        self.read_lin_slow_in_page(lin, size, user)
    }

    fn read_lin_slow_in_page(&mut self, lin: u64, size: usize, user: bool) -> Res<u64> {
        let e = self.tlb.sets[user as usize][index(lin)];
        let phys = if e.read & !TLB_MMIO == lin & PAGE_MASK && e.read != crate::mmu::INVALID {
            e.phys | (lin & 0xFFF)
        } else {
            self.translate(lin, Access::Read, user)?
        };
        Ok(self.phys_read(phys, size))
    }

    #[cold]
    fn write_lin_slow(&mut self, lin: u64, size: usize, val: u64, user: bool) -> Res {
        if (lin & 0xFFF) as usize + size > 0x1000 {
            let first = 0x1000 - (lin & 0xFFF) as usize;
            let next = lin.wrapping_add(first as u64);
            let p0 = self.translate(lin, Access::Write, user)?;
            let p1 = self.translate(next, Access::Write, user)?;
            let bytes = val.to_le_bytes();
            for (i, b) in bytes[..size].iter().enumerate() {
                let p = if i < first {
                    p0 + i as u64
                } else {
                    p1 + (i - first) as u64
                };
                self.phys_write(p, 1, *b as u64);
            }
            return Ok(());
        }
        let phys = self.translate(lin, Access::Write, user)?;
        self.phys_write(phys, size, val);
        Ok(())
    }

    /// Reads guest-physical memory (RAM, or a device, or all-ones).
    pub(crate) fn phys_read(&self, phys: u64, size: usize) -> u64 {
        if let Some(off) = self.ram.offset_of_range(phys, size as u64) {
            return self.ram.load(off, size);
        }
        let mut b = [0u8; 8];
        self.bus.read_phys(GuestAddress(phys), &mut b[..size]);
        u64::from_le_bytes(b)
    }

    /// Writes guest-physical memory, dropping decoded code it overwrites.
    pub(crate) fn phys_write(&mut self, phys: u64, size: usize, val: u64) {
        if let Some(off) = self.ram.offset_of_range(phys, size as u64) {
            self.ram.store(off, size, val);
            if self.ram.is_code(off) {
                self.note_code_write(off);
            }
            return;
        }
        self.bus
            .write_phys(GuestAddress(phys), &val.to_le_bytes()[..size]);
    }

    /// Records that the CPU wrote to a RAM page holding decoded code: the
    /// run loop drops the page's blocks once this instruction retires.
    pub(crate) fn note_code_write(&mut self, off: u64) {
        if self.ram.clear_code(off) {
            self.code_written.push(off >> 12);
            self.end_block = true;
        }
    }

    /// Reads at `lin` as a supervisor regardless of CPL: descriptor tables,
    /// the TSS and the IDT are "implicit supervisor" accesses (SDM 4.6).
    pub(crate) fn read_sys(&mut self, lin: u64, size: usize) -> Res<u64> {
        self.read_lin(lin, size, false)
    }

    /// Writes at `lin` as a supervisor (descriptor accessed/busy bits).
    pub(crate) fn write_sys(&mut self, lin: u64, size: usize, val: u64) -> Res {
        self.write_lin(lin, size, val, false)
    }

    /// Checks that `size` bytes at `seg:off` may be written, faulting as the
    /// write would, without writing (for instructions that must not
    /// partially complete).
    pub(crate) fn probe_write(&mut self, seg: SegReg, off: u64, size: usize) -> Res<u64> {
        let lin = self.linear(seg, off, size, true)?;
        let user = self.cpl == 3;
        self.translate(lin, Access::Write, user)?;
        if (lin & 0xFFF) as usize + size > 0x1000 {
            self.translate((lin | 0xFFF).wrapping_add(1), Access::Write, user)?;
        }
        Ok(lin)
    }

    /// Physical address of the instruction byte at linear `lin`, checking
    /// execute permission.
    #[inline(always)]
    pub(crate) fn fetch_phys(&mut self, lin: u64) -> Res<u64> {
        let user = self.cpl == 3;
        let e = &self.tlb.sets[user as usize][index(lin)];
        if e.exec & !TLB_MMIO == lin & PAGE_MASK && e.exec != crate::mmu::INVALID {
            return Ok(e.phys | (lin & 0xFFF));
        }
        self.translate(lin, Access::Exec, user)
    }
}
