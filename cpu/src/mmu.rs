//! Paging (SDM Vol. 3A, chapter 4) and the software TLB in front of it.
//!
//! The TLB is direct-mapped by linear page, one table for supervisor and
//! one for user accesses, since permissions differ by privilege. Each entry
//! caches the read, write and execute permission as separate tags (the
//! page's linear address when allowed, `INVALID` when not), and the addend
//! that turns a linear address into a RAM offset. A hit costs one index, one
//! compare and one load. Entries for non-RAM pages carry `TLB_MMIO` in their
//! tags so the fast compare fails and the slow path goes to the bus.
//!
//! Write permission is cached only once the page's dirty bit is set and the
//! page holds no decoded code, so the first write walks (to set D) and writes
//! to code always reach the slow path that invalidates stale blocks.

use crate::fault::{Fault, Res};
use crate::state::{cr0, cr4, efer, Core, Mode};
use crate::vector;

pub(crate) const TLB_BITS: u32 = 8;
pub(crate) const TLB_ENTRIES: usize = 1 << TLB_BITS;
pub(crate) const PAGE_MASK: u64 = !0xFFF;
/// A tag no page-aligned address matches.
pub(crate) const INVALID: u64 = u64::MAX;
/// Tag bit marking a mapped page that is not RAM.
pub(crate) const TLB_MMIO: u64 = 1;

/// The physical-address width this CPU reports in CPUID 0x80000008.
pub(crate) const MAXPHYADDR: u32 = 40;
const PHYS_MASK: u64 = ((1u64 << MAXPHYADDR) - 1) & PAGE_MASK;

#[derive(Clone, Copy)]
pub(crate) struct TlbEntry {
    pub read: u64,
    pub write: u64,
    pub exec: u64,
    /// RAM offset minus linear page (wrapping).
    pub addend: u64,
    /// Physical address of the page.
    pub phys: u64,
}

const EMPTY: TlbEntry = TlbEntry {
    read: INVALID,
    write: INVALID,
    exec: INVALID,
    addend: 0,
    phys: 0,
};

pub(crate) struct Tlb {
    /// [supervisor, user]
    pub sets: Box<[[TlbEntry; TLB_ENTRIES]; 2]>,
    /// A large page was cached: INVLPG must then flush everything, because
    /// entries are per 4 KiB piece.
    pub has_large: bool,
    /// Bumped whenever a cached linear-to-physical translation may have
    /// changed, or decoded blocks were dropped: block links made under an
    /// older generation are not followed.
    pub gen: u64,
}

impl Tlb {
    pub fn new() -> Tlb {
        Tlb {
            sets: Box::new([[EMPTY; TLB_ENTRIES]; 2]),
            has_large: false,
            gen: 0,
        }
    }

    pub fn flush_all(&mut self) {
        for set in self.sets.iter_mut() {
            set.fill(EMPTY);
        }
        self.has_large = false;
        self.gen += 1;
    }

    /// INVLPG: drop any translation of the page holding `lin`.
    pub fn flush_page(&mut self, lin: u64) {
        if self.has_large {
            self.flush_all();
            return;
        }
        let i = index(lin);
        for set in self.sets.iter_mut() {
            set[i] = EMPTY;
        }
        self.gen += 1;
    }

    /// Drops write permission for every entry that maps physical page
    /// `phys` (it now holds decoded code).
    pub fn protect_code(&mut self, phys: u64) {
        for set in self.sets.iter_mut() {
            for e in set.iter_mut() {
                if e.phys == phys && e.write != INVALID {
                    e.write = INVALID;
                }
            }
        }
    }
}

#[inline(always)]
pub(crate) fn index(lin: u64) -> usize {
    ((lin >> 12) as usize) & (TLB_ENTRIES - 1)
}

/// What an access intends, for permission checks and error codes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Access {
    Read,
    Write,
    Exec,
}

/// Page-fault error code bits (SDM Vol. 3A, 4.7).
mod pf {
    pub const P: u32 = 1 << 0;
    pub const W: u32 = 1 << 1;
    pub const U: u32 = 1 << 2;
    pub const RSVD: u32 = 1 << 3;
    pub const I: u32 = 1 << 4;
}

/// Paging-structure entry bits common to all levels (SDM Vol. 3A, 4.5,
/// Tables 4-15 to 4-20).
mod pte {
    pub const P: u64 = 1 << 0;
    pub const RW: u64 = 1 << 1;
    pub const US: u64 = 1 << 2;
    pub const A: u64 = 1 << 5;
    pub const D: u64 = 1 << 6;
    pub const PS: u64 = 1 << 7;
    pub const NX: u64 = 1 << 63;
}

/// The outcome of a successful walk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    /// Physical address of the 4 KiB piece holding the linear address.
    pub phys: u64,
    pub writable: bool,
    pub user: bool,
    pub exec: bool,
    pub dirty: bool,
    pub large: bool,
}

impl Core {
    fn pt_read(&self, addr: u64, size: usize) -> u64 {
        match self.ram.offset_of_range(addr, size as u64) {
            Some(off) => self.ram.load(off, size),
            None => {
                let mut b = [0u8; 8];
                self.bus.read_phys(mem::GuestAddress(addr), &mut b[..size]);
                u64::from_le_bytes(b)
            }
        }
    }

    fn pt_set_bits(&mut self, addr: u64, size: usize, old: u64, bits: u64) {
        if old & bits == bits {
            return;
        }
        let new = old | bits;
        match self.ram.offset_of_range(addr, size as u64) {
            Some(off) => {
                self.ram.store(off, size, new);
                if self.ram.is_code(off) {
                    self.note_code_write(off);
                }
            }
            None => self
                .bus
                .write_phys(mem::GuestAddress(addr), &new.to_le_bytes()[..size]),
        }
    }

    /// Walks the paging structures for `lin`, checking permissions for
    /// `access` at privilege `user`, and setting accessed/dirty bits.
    pub(crate) fn walk(&mut self, lin: u64, access: Access, user: bool) -> Res<Walk> {
        if self.cr0 & cr0::PG == 0 {
            return Ok(Walk {
                phys: lin & 0xFFFF_F000,
                writable: true,
                user: true,
                exec: true,
                dirty: true,
                large: false,
            });
        }
        let nxe = self.efer & efer::NXE != 0;
        let fault = |cpu: &mut Core, bits: u32| -> Fault {
            let mut code = bits;
            if access == Access::Write {
                code |= pf::W;
            }
            if user {
                code |= pf::U;
            }
            if access == Access::Exec && nxe && cpu.cr4 & cr4::PAE != 0 {
                code |= pf::I;
            }
            cpu.cr2 = lin;
            Fault::with_error(vector::PF, code)
        };

        // Legacy 32-bit paging (SDM 4.3): two levels of 4-byte entries.
        if self.cr4 & cr4::PAE == 0 {
            let lin = lin & 0xFFFF_FFFF;
            let pde_addr = (self.cr3 & 0xFFFF_F000) + ((lin >> 22) & 0x3FF) * 4;
            let pde = self.pt_read(pde_addr, 4);
            if pde & pte::P == 0 {
                return Err(fault(self, 0));
            }
            let (mut rw, mut us) = (pde & pte::RW != 0, pde & pte::US != 0);
            if pde & pte::PS != 0 && self.cr4 & cr4::PSE != 0 {
                // 4 MiB page; bits 20:13 extend the address (PSE-36), and
                // bit 21 is reserved.
                if pde & (1 << 21) != 0 {
                    return Err(fault(self, pf::P | pf::RSVD));
                }
                let base = (pde & 0xFFC0_0000) | (((pde >> 13) & 0xFF) << 32);
                let walk = Walk {
                    phys: base | (lin & 0x3F_F000),
                    writable: rw,
                    user: us,
                    exec: true,
                    dirty: pde & pte::D != 0 || access == Access::Write,
                    large: true,
                };
                self.check(walk, access, user).map_err(|b| fault(self, b))?;
                let set = if access == Access::Write {
                    pte::A | pte::D
                } else {
                    pte::A
                };
                self.pt_set_bits(pde_addr, 4, pde, set);
                return Ok(walk);
            }
            let pte_addr = (pde & 0xFFFF_F000) + ((lin >> 12) & 0x3FF) * 4;
            let e = self.pt_read(pte_addr, 4);
            if e & pte::P == 0 {
                return Err(fault(self, 0));
            }
            rw &= e & pte::RW != 0;
            us &= e & pte::US != 0;
            let walk = Walk {
                phys: e & 0xFFFF_F000,
                writable: rw,
                user: us,
                exec: true,
                dirty: e & pte::D != 0 || access == Access::Write,
                large: false,
            };
            self.check(walk, access, user).map_err(|b| fault(self, b))?;
            self.pt_set_bits(pde_addr, 4, pde, pte::A);
            let set = if access == Access::Write {
                pte::A | pte::D
            } else {
                pte::A
            };
            self.pt_set_bits(pte_addr, 4, e, set);
            return Ok(walk);
        }

        // PAE (SDM 4.4) and 4-level (SDM 4.5) paging: 8-byte entries.
        let long = self.efer & efer::LMA != 0;
        let rsvd_high = !((1u64 << MAXPHYADDR) - 1) & !pte::NX & ((1u64 << 52) - 1);
        let rsvd_nx = if nxe { 0 } else { pte::NX };
        let (mut table, levels, lin) = if long {
            (self.cr3 & PHYS_MASK, 4u32, lin)
        } else {
            // PDPTE (SDM 4.4.1): P, and reserved bits 2:1, 8:5 and above MAXPHYADDR.
            let lin = lin & 0xFFFF_FFFF;
            let pdpte_addr = (self.cr3 & 0xFFFF_FFE0) + ((lin >> 30) & 3) * 8;
            let pdpte = self.pt_read(pdpte_addr, 8);
            if pdpte & pte::P == 0 {
                return Err(fault(self, 0));
            }
            if pdpte & (rsvd_high | pte::NX | 0x1E6) != 0 {
                return Err(fault(self, pf::P | pf::RSVD));
            }
            (pdpte & PHYS_MASK, 2u32, lin)
        };
        let (mut rw, mut us, mut nx) = (true, true, false);
        let mut level = levels;
        let mut pending_a: [(u64, u64); 4] = [(0, 0); 4];
        loop {
            let shift = 12 + 9 * (level - 1);
            let addr = table + ((lin >> shift) & 0x1FF) * 8;
            let e = self.pt_read(addr, 8);
            if e & pte::P == 0 {
                return Err(fault(self, 0));
            }
            let mut rsvd = e & (rsvd_high | rsvd_nx);
            let leaf = level == 1 || (e & pte::PS != 0 && level <= 3);
            if level == 4 && e & pte::PS != 0 {
                rsvd |= pte::PS;
            }
            if leaf && level > 1 {
                // Large page: bits (shift-1):13 of the address must be zero.
                rsvd |= e & (((1u64 << shift) - 1) & !0x1FFF);
            }
            if rsvd != 0 {
                return Err(fault(self, pf::P | pf::RSVD));
            }
            rw &= e & pte::RW != 0;
            us &= e & pte::US != 0;
            nx |= nxe && e & pte::NX != 0;
            pending_a[(levels - level) as usize] = (addr, e);
            if leaf {
                let page_mask = (1u64 << shift) - 1;
                let base = e & PHYS_MASK & !page_mask;
                let walk = Walk {
                    phys: base | (lin & page_mask & PAGE_MASK),
                    writable: rw,
                    user: us,
                    exec: !nx,
                    dirty: e & pte::D != 0 || access == Access::Write,
                    large: level > 1,
                };
                self.check(walk, access, user).map_err(|b| fault(self, b))?;
                let n = (levels - level) as usize;
                for &(a, old) in &pending_a[..n] {
                    self.pt_set_bits(a, 8, old, pte::A);
                }
                let set = if access == Access::Write {
                    pte::A | pte::D
                } else {
                    pte::A
                };
                self.pt_set_bits(addr, 8, e, set);
                return Ok(walk);
            }
            table = e & PHYS_MASK;
            level -= 1;
        }
    }

    /// Permission check of a completed walk (SDM Vol. 3A, 4.6); returns the
    /// error-code bits of the violation.
    fn check(&self, w: Walk, access: Access, user: bool) -> Result<(), u32> {
        if user && !w.user {
            return Err(pf::P);
        }
        match access {
            Access::Write if !w.writable && (user || self.cr0 & cr0::WP != 0) => Err(pf::P),
            Access::Exec if !w.exec => Err(pf::P),
            _ => Ok(()),
        }
    }

    /// Translates `lin` for `access`, filling the TLB. Returns the physical
    /// address.
    pub(crate) fn translate(&mut self, lin: u64, access: Access, user: bool) -> Res<u64> {
        let lin = if self.mode == Mode::Long || self.efer & efer::LMA != 0 {
            lin
        } else {
            lin & 0xFFFF_FFFF
        };
        let w = self.walk(lin, access, user)?;
        let page = lin & PAGE_MASK;
        let ram_off = self.ram.offset_of_range(w.phys, 0x1000);
        let mmio = if ram_off.is_some() { 0 } else { TLB_MMIO };
        let priv_write = w.writable || (!user && self.cr0 & cr0::WP == 0);
        let code = ram_off.is_some_and(|off| self.ram.is_code(off));
        let e = TlbEntry {
            read: page | mmio,
            write: if priv_write && w.dirty && !code {
                page | mmio
            } else {
                INVALID
            },
            exec: if w.exec { page | mmio } else { INVALID },
            addend: ram_off.unwrap_or(0).wrapping_sub(page),
            phys: w.phys,
        };
        // A non-canonical address (reached only by system-table accesses
        // that skip segmentation) is translated but never cached: the fast
        // paths rely on no tag ever matching a non-canonical address.
        if ((lin << 16) as i64 >> 16) as u64 == lin {
            self.tlb.sets[user as usize][index(lin)] = e;
            self.tlb.has_large |= w.large;
        }
        Ok(w.phys | (lin & 0xFFF))
    }
}
