//! Guest RAM: one anonymous host mapping, split in the guest-physical space
//! into a part below the 32-bit PCI hole and a part above 4 GiB.
//!
//! The mapping is reserved, not committed: Linux backs anonymous pages on
//! first touch, so a 4 GiB guest costs only what it uses. Every access is
//! bounds-checked against the mapping; an address outside RAM is the
//! caller's to treat as unclaimed (reads of all-ones, dropped writes).
//!
//! RAM also keeps the code-page bitmap the interpreter's decode cache needs:
//! one byte per 4 KiB page, set while decoded code from that page is cached.
//! Bulk writes (DMA, loaders) that hit such a page queue it and raise
//! [`Attention::CODE_WRITTEN`], so the CPU drops stale code between blocks.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use memmap2::{MmapMut, MmapOptions};
use parking_lot::Mutex;

use crate::{Attention, GuestAddress};

/// Size of a guest page, and of the code-tracking granule.
pub const PAGE_SIZE: u64 = 4096;
const FOUR_GIB: u64 = 1 << 32;
/// The largest guest we accept (a limit on user input, not on the design).
const MAX_RAM: u64 = 1 << 40;

/// Errors creating or addressing RAM.
#[derive(Debug, thiserror::Error)]
pub enum RamError {
    #[error(
        "memory size must be a non-zero multiple of 4 KiB and at most 1 TiB, got {0:#x} bytes"
    )]
    BadSize(u64),
    #[error("cannot reserve {size:#x} bytes of host memory for the guest")]
    Map {
        size: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("guest-physical range {addr:?}+{len:#x} is not RAM")]
    OutOfRange { addr: GuestAddress, len: u64 },
}

/// Where RAM sits in the guest-physical address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RamLayout {
    /// Bytes of RAM at guest-physical 0.
    pub low: u64,
    /// Bytes of RAM at guest-physical 4 GiB.
    pub high: u64,
}

impl RamLayout {
    /// Splits `total` bytes so that at most `low_limit` bytes sit below 4 GiB
    /// (the rest of the 32-bit space is the PCI/MMIO hole) and the remainder
    /// starts at 4 GiB, as Q35 does.
    pub fn split(total: u64, low_limit: u64) -> Result<RamLayout, RamError> {
        if total == 0
            || !total.is_multiple_of(PAGE_SIZE)
            || total > MAX_RAM
            || !low_limit.is_multiple_of(PAGE_SIZE)
        {
            return Err(RamError::BadSize(total));
        }
        let low = total.min(low_limit);
        Ok(RamLayout {
            low,
            high: total - low,
        })
    }

    /// Total bytes of RAM.
    pub fn total(&self) -> u64 {
        self.low + self.high
    }

    /// Host-mapping offset of a guest-physical address, if it is RAM.
    #[inline(always)]
    pub fn offset_of(&self, gpa: u64) -> Option<u64> {
        if gpa < self.low {
            Some(gpa)
        } else if gpa >= FOUR_GIB && gpa - FOUR_GIB < self.high {
            Some(self.low + (gpa - FOUR_GIB))
        } else {
            None
        }
    }

    /// Guest-physical address of a host-mapping offset.
    pub fn gpa_of(&self, offset: u64) -> u64 {
        if offset < self.low {
            offset
        } else {
            FOUR_GIB + (offset - self.low)
        }
    }
}

/// Guest RAM. Shared (`Arc`) between the CPU and device threads.
pub struct GuestRam {
    layout: RamLayout,
    map: MmapMut,
    len: usize,
    /// One byte per page: non-zero while decoded code from the page is cached.
    code: Box<[AtomicU8]>,
    /// Code pages (host offsets >> 12) written by bulk writes since last drained.
    code_written: Mutex<Vec<u64>>,
    attention: Arc<Attention>,
}

impl std::fmt::Debug for GuestRam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestRam")
            .field("layout", &self.layout)
            .finish()
    }
}

impl GuestRam {
    /// Reserves host memory for `layout`. Pages are committed on first touch.
    pub fn new(layout: RamLayout, attention: Arc<Attention>) -> Result<GuestRam, RamError> {
        let size = layout.total();
        if size == 0 || !size.is_multiple_of(PAGE_SIZE) || size > MAX_RAM {
            return Err(RamError::BadSize(size));
        }
        let map = MmapOptions::new()
            .len(size as usize)
            .no_reserve_swap()
            .map_anon()
            .map_err(|source| RamError::Map { size, source })?;
        let pages = (size / PAGE_SIZE) as usize;
        let code = (0..pages).map(|_| AtomicU8::new(0)).collect();
        Ok(GuestRam {
            layout,
            len: size as usize,
            map,
            code,
            code_written: Mutex::new(Vec::new()),
            attention,
        })
    }

    /// Where RAM sits in the guest-physical space.
    pub fn layout(&self) -> RamLayout {
        self.layout
    }

    /// Size of the host mapping in bytes.
    pub fn host_len(&self) -> u64 {
        self.len as u64
    }

    /// Host-mapping offset of `len` bytes at `gpa`, if all of them are RAM.
    #[inline]
    pub fn offset_of_range(&self, gpa: u64, len: u64) -> Option<u64> {
        let start = self.layout.offset_of(gpa)?;
        if len == 0 {
            return Some(start);
        }
        let last = gpa.checked_add(len - 1)?;
        let end = self.layout.offset_of(last)?;
        (end - start == len - 1).then_some(start)
    }

    fn ptr(&self) -> *mut u8 {
        self.map.as_ptr() as *mut u8
    }

    /// Loads a little-endian value of `size` (at most 8) bytes at host
    /// offset `off`, zero-extended. Out of range reads give all-ones.
    #[inline(always)]
    pub fn load(&self, off: u64, size: usize) -> u64 {
        let off = off as usize;
        if off.checked_add(size).is_none_or(|end| end > self.len) {
            return u64::MAX;
        }
        if !matches!(size, 1 | 2 | 4 | 8) {
            let mut b = [0u8; 8];
            self.load_bytes(off as u64, &mut b[..size.min(8)]);
            return u64::from_le_bytes(b);
        }
        // SAFETY: `off..off+size` lies within the mapping (checked above), the
        // mapping lives as long as `self`, and unaligned reads are used.
        // Concurrent DMA may write the same bytes; like every VMM we accept
        // torn values there, as hardware would show them.
        unsafe {
            let p = self.ptr().add(off);
            match size {
                1 => *p as u64,
                2 => (p as *const u16).read_unaligned() as u64,
                4 => (p as *const u32).read_unaligned() as u64,
                _ => (p as *const u64).read_unaligned(),
            }
        }
    }

    /// Stores the low `size` (at most 8) bytes of `val` at host offset
    /// `off`. Out-of-range stores are dropped. This does not consult the
    /// code-page bitmap: the CPU, its only caller, does that itself.
    #[inline(always)]
    pub fn store(&self, off: u64, size: usize, val: u64) {
        let off = off as usize;
        if off.checked_add(size).is_none_or(|end| end > self.len) {
            return;
        }
        if !matches!(size, 1 | 2 | 4 | 8) {
            self.store_bytes(off as u64, &val.to_le_bytes()[..size.min(8)]);
            return;
        }
        // SAFETY: as in `load`; the range is within the mapping.
        unsafe {
            let p = self.ptr().add(off);
            match size {
                1 => *p = val as u8,
                2 => (p as *mut u16).write_unaligned(val as u16),
                4 => (p as *mut u32).write_unaligned(val as u32),
                _ => (p as *mut u64).write_unaligned(val),
            }
        }
    }

    /// Copies RAM at host offset `off` into `buf`; false if out of range.
    pub fn load_bytes(&self, off: u64, buf: &mut [u8]) -> bool {
        let off = off as usize;
        if off.checked_add(buf.len()).is_none_or(|end| end > self.len) {
            return false;
        }
        // SAFETY: the source range is within the mapping and cannot overlap
        // `buf`, which is host memory outside the guest mapping or a copy.
        unsafe { std::ptr::copy(self.ptr().add(off), buf.as_mut_ptr(), buf.len()) };
        true
    }

    /// Copies `data` into RAM at host offset `off` without code tracking
    /// (the CPU's own stores); false if out of range.
    pub fn store_bytes(&self, off: u64, data: &[u8]) -> bool {
        let off = off as usize;
        if off.checked_add(data.len()).is_none_or(|end| end > self.len) {
            return false;
        }
        // SAFETY: the destination range is within the mapping.
        unsafe { std::ptr::copy(data.as_ptr(), self.ptr().add(off), data.len()) };
        true
    }

    /// Copies `len` bytes within RAM (host offsets, overlap allowed, as
    /// `memmove`), without code tracking; false if either range is outside.
    pub fn copy_within(&self, dst: u64, src: u64, len: u64) -> bool {
        let ok = |o: u64| o.checked_add(len).is_some_and(|e| e <= self.len as u64);
        if !ok(dst) || !ok(src) {
            return false;
        }
        // SAFETY: both ranges are within the mapping; `copy` allows overlap.
        unsafe {
            std::ptr::copy(
                self.ptr().add(src as usize),
                self.ptr().add(dst as usize),
                len as usize,
            )
        };
        true
    }

    /// Fills `len` bytes at host offset `off` with `byte`, without code
    /// tracking; false if out of range.
    pub fn fill(&self, off: u64, len: u64, byte: u8) -> bool {
        if off.checked_add(len).is_none_or(|e| e > self.len as u64) {
            return false;
        }
        // SAFETY: the range is within the mapping.
        unsafe { std::ptr::write_bytes(self.ptr().add(off as usize), byte, len as usize) };
        true
    }

    /// Reads guest-physical memory (loaders, DMA).
    pub fn read(&self, gpa: GuestAddress, buf: &mut [u8]) -> Result<(), RamError> {
        let off = self
            .offset_of_range(gpa.0, buf.len() as u64)
            .ok_or(RamError::OutOfRange {
                addr: gpa,
                len: buf.len() as u64,
            })?;
        self.load_bytes(off, buf);
        Ok(())
    }

    /// Writes guest-physical memory (loaders, DMA), noting any code pages hit.
    pub fn write(&self, gpa: GuestAddress, data: &[u8]) -> Result<(), RamError> {
        let len = data.len() as u64;
        let off = self
            .offset_of_range(gpa.0, len)
            .ok_or(RamError::OutOfRange { addr: gpa, len })?;
        self.store_bytes(off, data);
        if len > 0 {
            self.note_bulk_write(off, len);
        }
        Ok(())
    }

    fn note_bulk_write(&self, off: u64, len: u64) {
        let first = off / PAGE_SIZE;
        let last = (off + len - 1) / PAGE_SIZE;
        let mut hit = false;
        for page in first..=last {
            if self.code[page as usize].swap(0, Ordering::AcqRel) != 0 {
                self.code_written.lock().push(page);
                hit = true;
            }
        }
        if hit {
            self.attention.raise(Attention::CODE_WRITTEN);
        }
    }

    /// Marks the page holding host offset `off` as holding cached code.
    pub fn mark_code(&self, off: u64) {
        if let Some(c) = self.code.get((off / PAGE_SIZE) as usize) {
            c.store(1, Ordering::Release);
        }
    }

    /// Whether the page holding host offset `off` holds cached code.
    #[inline]
    pub fn is_code(&self, off: u64) -> bool {
        self.code
            .get((off / PAGE_SIZE) as usize)
            .is_some_and(|c| c.load(Ordering::Acquire) != 0)
    }

    /// Clears the code mark of the page holding host offset `off`; true if it
    /// was set.
    pub fn clear_code(&self, off: u64) -> bool {
        self.code
            .get((off / PAGE_SIZE) as usize)
            .is_some_and(|c| c.swap(0, Ordering::AcqRel) != 0)
    }

    /// Takes the list of code pages (host offset >> 12) that bulk writes hit.
    pub fn take_code_written(&self) -> Vec<u64> {
        std::mem::take(&mut *self.code_written.lock())
    }

    /// The attention word shared with the executor.
    pub fn attention(&self) -> &Arc<Attention> {
        &self.attention
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(low: u64, high: u64) -> GuestRam {
        GuestRam::new(RamLayout { low, high }, Arc::default()).unwrap()
    }

    #[test]
    fn layout_split_puts_excess_above_4g() {
        let l = RamLayout::split(4 << 30, 0xB000_0000).unwrap();
        assert_eq!(l.low, 0xB000_0000);
        assert_eq!(l.high, (4 << 30) - 0xB000_0000);
        assert_eq!(l.offset_of(0x1_0000_0000), Some(0xB000_0000));
        assert_eq!(l.offset_of(0xB000_0000), None);
        assert_eq!(l.gpa_of(0xB000_0000), 0x1_0000_0000);
    }

    #[test]
    fn layout_split_rejects_bad_sizes() {
        assert!(RamLayout::split(0, 0x1000).is_err());
        assert!(RamLayout::split(0x1001, 0x1000).is_err());
        assert!(RamLayout::split(1 << 41, 0x1000).is_err());
    }

    #[test]
    fn large_guest_is_reserved_lazily() {
        // 64 GiB would fail at once if it were committed up front.
        let r = ram(0xB000_0000, (64 << 30) - 0xB000_0000);
        r.store(r.host_len() - 8, 8, 0x1122_3344_5566_7788);
        assert_eq!(r.load(r.host_len() - 8, 8), 0x1122_3344_5566_7788);
    }

    #[test]
    fn out_of_range_access_reads_ones_and_drops_writes() {
        let r = ram(0x2000, 0);
        assert_eq!(r.load(0x1FFE, 4), u64::MAX);
        r.store(0x1FFE, 4, 0);
        assert_eq!(r.load(0x1FFE, 2), 0);
        assert_eq!(r.load(u64::MAX, 1), u64::MAX);
        assert!(r.read(GuestAddress(0x1FFF), &mut [0; 2]).is_err());
        assert!(r.write(GuestAddress(0x3000), &[0]).is_err());
    }

    #[test]
    fn odd_sized_access_touches_exactly_its_bytes() {
        let r = ram(0x1000, 0);
        r.store(0, 8, u64::MAX);
        r.store(0, 3, 0x11_2233);
        assert_eq!(r.load(0, 8), 0xFFFF_FFFF_FF11_2233);
        assert_eq!(r.load(0, 3), 0x11_2233);
        // At the very end of RAM, a 3-byte access must not read past it.
        r.store(0xFFD, 3, 0xAB_CDEF);
        assert_eq!(r.load(0xFFD, 3), 0xAB_CDEF);
        assert_eq!(r.load(0xFFE, 3), u64::MAX);
        assert_eq!(r.load(0, 0), 0);
    }

    #[test]
    fn range_straddling_the_hole_is_not_ram() {
        let r = ram(0x1000, 0x1000);
        assert_eq!(r.offset_of_range(0xFFF, 2), None);
        assert_eq!(r.offset_of_range(0x1_0000_0000, 0x1000), Some(0x1000));
    }

    #[test]
    fn bulk_write_to_code_page_is_queued_and_raises_attention() {
        let r = ram(0x4000, 0);
        r.mark_code(0x2000);
        r.write(GuestAddress(0x1FFF), &[1, 2]).unwrap();
        assert_eq!(r.take_code_written(), vec![2]);
        assert!(r.attention().peek() & Attention::CODE_WRITTEN != 0);
        assert!(!r.is_code(0x2000));
    }
}
