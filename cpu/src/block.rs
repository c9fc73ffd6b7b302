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

use std::collections::HashMap;

use iced_x86::Instruction;

use crate::exec::Handler;

/// Longest block, in instructions.
pub(crate) const MAX_BLOCK: usize = 64;
/// Blocks kept before the cache is flushed whole.
const MAX_BLOCKS: usize = 1 << 16;
const FAST_BITS: u32 = 12;

/// One decoded instruction with everything its handler needs precomputed.
pub(crate) struct Decoded {
    pub i: Instruction,
    pub exec: Handler,
    /// Mask of the effective address size (0xFFFF, 0xFFFF_FFFF or all-ones).
    pub amask: u64,
}

pub(crate) struct Block {
    pub key: u64,
    /// RIP of the first instruction: blocks are also specific to the
    /// offset they were decoded at, since relative targets depend on it.
    pub rip: u64,
    pub insns: Box<[Decoded]>,
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
