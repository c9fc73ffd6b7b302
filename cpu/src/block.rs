//! The decode cache: straight-line runs of decoded instructions ("blocks"),
//! keyed by the guest-physical address of their first byte and the decoder
//! bitness (Bochs `icache.h` keys its traces the same way).
//!
//! A block ends at a control transfer, at an instruction that can change how
//! later bytes decode or execute (mode, paging, interrupt flag), at a page
//! boundary, or after `MAX_BLOCK` instructions. Every RAM page a block was
//! decoded from is marked in `mem`'s code-page bitmap; a write to such a page
//! (by the CPU or by DMA) drops all of the page's blocks.
//!
//! Blocks live in an arena that is only appended to; dropping a block
//! removes it from the lookup structures, and the arena is cleared whole
//! when it grows past `MAX_BLOCKS` (between blocks, never while one runs).

use std::cell::Cell;
use std::collections::HashMap;

use iced_x86::Instruction;

use crate::exec::Handler;
use crate::state::SegReg;

/// Longest block, in instructions.
pub(crate) const MAX_BLOCK: usize = 64;
/// Blocks kept before the cache is flushed whole.
const MAX_BLOCKS: usize = 1 << 16;
const FAST_BITS: u32 = 12;

/// One decoded instruction with everything its handler needs precomputed,
/// so the hot handlers never decode operand kinds at run time.
#[derive(Clone, Copy)]
pub(crate) struct Decoded {
    pub i: Instruction,
    pub exec: Handler,
    /// The general handler `exec` calls after materializing lazy flags
    /// (unused by the specialised handlers).
    pub inner: Handler,
    /// Mask of the effective address size (0xFFFF, 0xFFFF_FFFF or all-ones).
    pub amask: u64,
    /// Memory operand: displacement (absolute target when RIP-relative),
    /// base and index GPR numbers (`NO_REG` if absent), scale as a shift,
    /// and segment.
    pub disp: u64,
    pub base: u8,
    pub index: u8,
    pub scale: u8,
    pub seg: SegReg,
    /// GPR numbers of register operands 0 and 1 (`NO_REG` if not a GPR).
    pub r0: u8,
    pub r1: u8,
    /// The immediate operand, sign-extended as the instruction specifies.
    pub imm: u64,
}

/// Marks an absent register in `Decoded`.
pub(crate) const NO_REG: u8 = 0xFF;

impl Decoded {
    pub fn new(i: Instruction) -> Decoded {
        use iced_x86::{OpKind, Register};
        let gpr = |r: Register| -> u8 {
            if r.is_gpr() && !matches!(r, Register::AH | Register::CH | Register::DH | Register::BH)
            {
                r.full_register().number() as u8
            } else {
                NO_REG
            }
        };
        let reg_op = |n: u32| -> u8 {
            if n < i.op_count() && i.op_kind(n) == OpKind::Register {
                gpr(i.op_register(n))
            } else {
                NO_REG
            }
        };
        let imm = (0..i.op_count())
            .find(|&n| {
                matches!(
                    i.op_kind(n),
                    OpKind::Immediate8
                        | OpKind::Immediate16
                        | OpKind::Immediate32
                        | OpKind::Immediate64
                        | OpKind::Immediate8to16
                        | OpKind::Immediate8to32
                        | OpKind::Immediate8to64
                        | OpKind::Immediate32to64
                )
            })
            .map_or(0, |n| i.immediate(n));
        let imm = crate::exec::branch_target(&i).unwrap_or(imm);
        let (exec, inner) = crate::exec::handlers(&i);
        Decoded {
            exec,
            inner,
            amask: crate::exec::address_mask(&i),
            disp: i.memory_displacement64(),
            base: gpr(i.memory_base()),
            index: gpr(i.memory_index()),
            scale: i.memory_index_scale().trailing_zeros() as u8,
            seg: crate::exec::sreg(i.memory_segment()),
            r0: reg_op(0),
            r1: reg_op(1),
            imm,
            i,
        }
    }
}

/// A remembered successor: after this block, RIP was `rip` and the block
/// there was `id`, under TLB generation `gen`.
#[derive(Clone, Copy)]
pub(crate) struct Link {
    pub rip: u64,
    pub id: BlockId,
    pub gen: u64,
}

pub(crate) const NO_LINK: Link = Link {
    rip: u64::MAX,
    id: NONE,
    gen: u64::MAX,
};

pub(crate) struct Block {
    /// Successors seen so far (fall-through and taken), so the common
    /// block-to-block step skips the fetch translation and cache lookup.
    pub links: [Cell<Link>; 2],
    pub key: u64,
    /// RIP of the first instruction: blocks are also specific to the
    /// offset they were decoded at, since relative targets depend on it.
    pub rip: u64,
    pub insns: Box<[Decoded]>,
    /// Guest instructions in the block (an entry may hold a fused pair).
    pub count: u64,
    /// RAM pages (offset >> 12) the block's bytes came from.
    pub pages: [Option<u64>; 2],
}

pub(crate) type BlockId = u32;
const NONE: BlockId = u32::MAX;

pub(crate) struct BlockCache {
    arena: Vec<Block>,
    /// Direct-mapped front: (key, rip, id).
    fast: Box<[(u64, u64, BlockId)]>,
    map: HashMap<(u64, u64), BlockId>,
    by_page: HashMap<u64, Vec<BlockId>>,
}

/// The cache key of code at physical address `phys` decoded with `bits`.
pub(crate) fn key(phys: u64, bits: u32) -> u64 {
    phys | ((bits as u64) << 56)
}

impl BlockCache {
    pub fn new() -> BlockCache {
        BlockCache {
            arena: Vec::new(),
            fast: vec![(u64::MAX, 0, NONE); 1 << FAST_BITS].into_boxed_slice(),
            map: HashMap::new(),
            by_page: HashMap::new(),
        }
    }

    #[inline(always)]
    fn slot(key: u64) -> usize {
        ((key ^ (key >> FAST_BITS)) as usize) & ((1 << FAST_BITS) - 1)
    }

    /// The block for `key` at `rip`, if cached.
    #[inline(always)]
    pub fn lookup(&mut self, key: u64, rip: u64) -> Option<BlockId> {
        let s = Self::slot(key);
        let (k, r, id) = self.fast[s];
        if k == key && r == rip {
            return Some(id);
        }
        let id = *self.map.get(&(key, rip))?;
        self.fast[s] = (key, rip, id);
        Some(id)
    }

    #[inline(always)]
    pub fn get(&self, id: BlockId) -> &Block {
        &self.arena[id as usize]
    }

    /// Whether the arena is full; the caller flushes (and unmarks code
    /// pages) before inserting.
    pub fn full(&self) -> bool {
        self.arena.len() >= MAX_BLOCKS
    }

    /// The block linked from `from` for `rip`, if the link is current.
    #[inline(always)]
    pub fn follow(&self, from: BlockId, rip: u64, gen: u64) -> Option<BlockId> {
        let b = &self.arena[from as usize];
        for l in &b.links {
            let l = l.get();
            if l.rip == rip && l.gen == gen {
                return Some(l.id);
            }
        }
        None
    }

    /// Remembers that `to` (at `rip`) followed `from`.
    pub fn link(&self, from: BlockId, rip: u64, to: BlockId, gen: u64) {
        let b = &self.arena[from as usize];
        let slot = if b.links[0].get().gen != gen || b.links[0].get().rip == rip {
            0
        } else {
            1
        };
        // Keep the most recent link in slot 0 only when slot 0 is stale.
        b.links[slot].set(Link { rip, id: to, gen });
    }

    pub fn insert(&mut self, block: Block) -> BlockId {
        let id = self.arena.len() as BlockId;
        for p in block.pages.iter().flatten() {
            self.by_page.entry(*p).or_default().push(id);
        }
        let k = (block.key, block.rip);
        self.fast[Self::slot(block.key)] = (block.key, block.rip, id);
        self.map.insert(k, id);
        self.arena.push(block);
        id
    }

    /// Drops every block decoded from RAM page `page` (offset >> 12).
    pub fn invalidate_page(&mut self, page: u64) {
        let Some(ids) = self.by_page.remove(&page) else {
            return;
        };
        for id in ids {
            let b = &self.arena[id as usize];
            let k = (b.key, b.rip);
            if self.map.get(&k) == Some(&id) {
                self.map.remove(&k);
            }
            let s = Self::slot(b.key);
            if self.fast[s].2 == id {
                self.fast[s] = (u64::MAX, 0, NONE);
            }
            // A block spanning two pages stays listed under the other page;
            // dropping it again there is harmless.
        }
    }

    /// Drops everything; returns the RAM pages that held code.
    pub fn flush(&mut self) -> Vec<u64> {
        self.arena.clear();
        self.map.clear();
        self.fast.fill((u64::MAX, 0, NONE));
        self.by_page.drain().map(|(p, _)| p).collect()
    }
}
