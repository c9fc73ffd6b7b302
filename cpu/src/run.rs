//! The run loop: find (or decode) the block at RIP, run it, and between
//! blocks look at the attention word and the interrupt line.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use iced_x86::{Decoder, DecoderError, DecoderOptions, FlowControl};
use mem::{Attention, Bus, GuestAddress};

use crate::block::{self, Block, BlockCache, BlockId, Decoded, MAX_BLOCK, NO_LINK};
use crate::fault::{Fault, Res};
use crate::mmu::PAGE_MASK;
use crate::state::{rflags, Core, Mode, PlatformOp, SegReg};

/// The CPU's view of its local APIC: is an external interrupt pending,
/// which vector does acknowledging it give, and the APIC state the CPU
/// reaches without MMIO (CR8 as the task priority, IA32_TSC_DEADLINE, the
/// x2APIC MSRs). The defaults describe a processor with no APIC there.
pub trait InterruptSource {
    /// Whether a maskable interrupt is waiting (checked between blocks: keep
    /// it cheap).
    fn pending(&self) -> bool;
    /// INTA: the vector of the highest-priority pending interrupt, which is
    /// now in service; `None` if it went away.
    fn acknowledge(&mut self) -> Option<u8>;
    /// RDMSR of an APIC MSR; `None` raises #GP.
    fn read_msr(&mut self, _index: u32) -> Option<u64> {
        None
    }
    /// WRMSR of an APIC MSR; `false` raises #GP.
    fn write_msr(&mut self, _index: u32, _value: u64) -> bool {
        false
    }
    /// CR8 reads: TPR[7:4].
    fn cr8(&self) -> u8 {
        0
    }
    /// CR8 writes set TPR[7:4] (and clear TPR[3:0]).
    fn set_cr8(&mut self, _value: u8) {}
}

/// An interrupt controller with nothing ever pending.
#[derive(Debug, Default)]
pub struct NoInterrupts;

impl InterruptSource for NoInterrupts {
    fn pending(&self) -> bool {
        false
    }
    fn acknowledge(&mut self) -> Option<u8> {
        None
    }
}

/// Why [`Cpu::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// The instruction budget ran out.
    Budget,
    /// HLT: waiting for an interrupt.
    Halted,
    /// A bit other than INTERRUPT and CODE_WRITTEN is raised in the bus's
    /// attention word; the caller looks at it.
    Attention,
    /// Triple fault: the processor shut down.
    Shutdown,
}

/// A processor: architectural state ([`Core`], reached through `Deref`)
/// plus its decode cache.
pub struct Cpu {
    core: Core,
    blocks: BlockCache,
    attention: Arc<Attention>,
}

impl Deref for Cpu {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl DerefMut for Cpu {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.core
    }
}

impl Cpu {
    /// A processor in its power-on state, reaching memory through `bus`.
    pub fn new(bus: Arc<Bus>) -> Cpu {
        let attention = bus.ram.attention().clone();
        Cpu {
            core: Core::new(bus),
            blocks: BlockCache::new(),
            attention,
        }
    }

    /// Runs until about `budget` instructions have retired (checked between
    /// blocks), the guest halts, attention is needed, or shutdown. On return
    /// `rflags` holds every flag (no lazy flags are pending).
    pub fn run(&mut self, irq: &mut dyn InterruptSource, budget: u64) -> RunExit {
        let exit = self.run_inner(irq, budget);
        self.core.materialize();
        exit
    }

    fn run_inner(&mut self, irq: &mut dyn InterruptSource, budget: u64) -> RunExit {
        let end = self.core.instret.saturating_add(budget);
        tick(self.core.instret);
        loop {
            if self.core.shutdown {
                return RunExit::Shutdown;
            }
            if let Some(op) = self.core.platform_op.take() {
                self.complete_platform_op(op, irq);
            }
            if !self.core.code_written.is_empty() {
                for page in std::mem::take(&mut self.core.code_written) {
                    self.blocks.invalidate_page(page);
                }
                self.core.tlb.gen += 1;
            }
            if self.attention.any() {
                let bits = self.attention.peek();
                if bits & Attention::CODE_WRITTEN != 0 {
                    self.attention.take(Attention::CODE_WRITTEN);
                    for page in self.core.ram.take_code_written() {
                        self.blocks.invalidate_page(page);
                    }
                    self.core.tlb.gen += 1;
                }
                if bits & Attention::INTERRUPT != 0 {
                    self.attention.take(Attention::INTERRUPT);
                }
                if bits & !(Attention::CODE_WRITTEN | Attention::INTERRUPT) != 0 {
                    return RunExit::Attention;
                }
            }
            if self.core.rflags & rflags::IF != 0 && !self.core.int_shadow && irq.pending() {
                if let Some(v) = irq.acknowledge() {
                    self.core.materialize();
                    self.core.halted = false;
                    self.core.external_interrupt(v);
                    self.core.end_block = false;
                    continue;
                }
            }
            // Interrupts inhibited by STI or MOV SS become deliverable after
            // the next instruction: run one block, then look again.
            let shadowed = std::mem::take(&mut self.core.int_shadow);
            if self.core.halted {
                return RunExit::Halted;
            }
            if self.core.instret >= end {
                return RunExit::Budget;
            }
            // Inner loop: run blocks back to back while each ends with an
            // ordinary control transfer. Anything that can change what the
            // outer checks would decide (IF, halting, faults, code writes,
            // mode changes) sets `end_block`, and device activity raises the
            // attention word, so this is the only test needed per block.
            let mut prev: Option<BlockId> = None;
            loop {
                let gen = self.core.tlb.gen;
                let rip = self.core.rip;
                let linked = prev.and_then(|p| self.blocks.follow(p, rip, gen));
                let id = match linked {
                    Some(id) => id,
                    None => match self.block_at_rip() {
                        Ok(id) => {
                            if let Some(p) = prev {
                                if self.core.tlb.gen == gen {
                                    self.blocks.link(p, rip, id, gen);
                                }
                            }
                            id
                        }
                        Err(f) => {
                            self.core.materialize();
                            self.core.deliver_fault(f);
                            self.core.end_block = false;
                            break;
                        }
                    },
                };
                if !self.run_block(id)
                    || shadowed
                    || self.attention.any()
                    || self.core.instret >= end
                {
                    break;
                }
                prev = Some(id);
            }
        }
    }

    /// Runs one block; false if it ended early (fault, `end_block`).
    ///
    /// Handlers report `end_block` by returning [`Fault::END`] (the general
    /// ones through their wrapper, the specialised ones from their slow
    /// paths, the only parts of them that can set it), so the loop looks
    /// only at the result.
    #[inline(always)]
    fn run_block(&mut self, id: BlockId) -> bool {
        let block = self.blocks.get(id);
        let core = &mut self.core;
        let mut retired = block.count;
        let mut normal = true;
        let mut it = block.insns.iter();
        while let Some(d) = it.next() {
            core.rip = d.i.next_ip();
            if let Err(f) = (d.exec)(core, d) {
                normal = false;
                // Instructions up to and including this one.
                let upto = (block.insns.len() - it.len()) as u64;
                if f.is_end() {
                    retired = upto;
                } else {
                    retired = upto - 1;
                    core.rip = d.i.ip();
                    core.materialize();
                    core.deliver_fault(f);
                }
                core.end_block = false;
                break;
            }
        }
        // A handler that set `end_block` without saying so would be a bug;
        // still end the block rather than run on.
        if std::mem::take(&mut core.end_block) {
            normal = false;
        }
        core.instret += retired;
        core.instret_shared
            .store(core.instret, std::sync::atomic::Ordering::Relaxed);
        normal
    }

    /// Finishes an instruction's access to APIC state (see `PlatformOp`).
    fn complete_platform_op(&mut self, op: PlatformOp, irq: &mut dyn InterruptSource) {
        let core = &mut self.core;
        let refused = |core: &mut Core, ip: u64| {
            core.rip = ip;
            core.materialize();
            core.deliver_fault(Fault::GP0);
            core.end_block = false;
        };
        match op {
            PlatformOp::ReadMsr { index, ip } => match irq.read_msr(index) {
                Some(v) => {
                    core.gpr[0] = v & 0xFFFF_FFFF;
                    core.gpr[2] = v >> 32;
                }
                None => refused(core, ip),
            },
            PlatformOp::WriteMsr { index, value, ip } => {
                if !irq.write_msr(index, value) {
                    refused(core, ip);
                }
            }
            PlatformOp::ReadCr8 { reg } => {
                let v = irq.cr8() as u64;
                core.cr8 = v;
                core.set_reg(reg, v);
            }
            PlatformOp::WriteCr8(v) => irq.set_cr8(v),
        }
    }

    /// Drops every decoded block (after the guest's code changed in ways
    /// the page tracking cannot see, e.g. a loader wrote RAM directly).
    pub fn flush_decode_cache(&mut self) {
        for page in self.blocks.flush() {
            self.core.ram.clear_code(page << 12);
        }
        self.core.tlb.flush_all();
    }

    fn block_at_rip(&mut self) -> Res<BlockId> {
        let core = &mut self.core;
        let lin = if core.mode == Mode::Long {
            core.rip
        } else {
            if core.rip > core.seg[SegReg::Cs as usize].limit as u64 {
                return Err(Fault::GP0);
            }
            core.seg[SegReg::Cs as usize].base.wrapping_add(core.rip) & 0xFFFF_FFFF
        };
        let phys = core.fetch_phys(lin)?;
        let key = block::key(phys, core.code_bits);
        if let Some(id) = self.blocks.lookup(key, core.rip) {
            return Ok(id);
        }
        self.decode_block(lin, phys, key)
    }

    #[cold]
    fn decode_block(&mut self, lin: u64, phys: u64, key: u64) -> Res<BlockId> {
        if self.blocks.full() {
            self.flush_decode_cache();
            // Re-establish the fetch translation the flush dropped.
            self.core.fetch_phys(lin)?;
        }
        let core = &mut self.core;
        let in_page = (0x1000 - (phys & 0xFFF)) as usize;
        let mut buf = [0u8; 0x1000 + 15];
        core.bus.read_phys(GuestAddress(phys), &mut buf[..in_page]);
        let next_lin = (lin | 0xFFF).wrapping_add(1);
        let next_lin = if core.mode == Mode::Long {
            next_lin
        } else {
            next_lin & 0xFFFF_FFFF
        };
        // The next page is only needed for an instruction that straddles
        // the boundary; a failed translation matters only then.
        let next = core.fetch_phys(next_lin).ok();
        let mut avail = in_page;
        if let Some(p) = next {
            core.bus
                .read_phys(GuestAddress(p), &mut buf[in_page..in_page + 15]);
            avail += 15;
        }
        let mut decoder = Decoder::with_ip(
            core.code_bits,
            &buf[..avail],
            core.rip,
            DecoderOptions::NONE,
        );
        let mut insns = Vec::with_capacity(16);
        let mut straddles = false;
        while insns.len() < MAX_BLOCK && decoder.position() < in_page {
            let i = decoder.decode();
            if i.is_invalid() && decoder.last_error() == DecoderError::NoMoreBytes {
                if insns.is_empty() {
                    // The instruction runs onto a page we cannot fetch:
                    // raise that page's fault.
                    core.fetch_phys(next_lin)?;
                    return Err(Fault::UD);
                }
                break;
            }
            straddles |= decoder.position() > in_page;
            let stop = i.is_invalid() || i.flow_control() != FlowControl::Next;
            insns.push(Decoded::new(i));
            if stop {
                break;
            }
        }
        // A block ending in CMP/TEST + Jcc runs the pair as one entry.
        let count = insns.len() as u64;
        if let [.., a, b] = &insns[..] {
            if let Some(f) = crate::exec::fuse(a, b) {
                insns.pop();
                insns.pop();
                insns.push(f);
            }
        }
        let first_page = core.ram.offset_of_range(phys & PAGE_MASK, 0x1000);
        let second_page = if straddles {
            next.and_then(|p| core.ram.offset_of_range(p & PAGE_MASK, 0x1000))
        } else {
            None
        };
        for (off, p) in [(first_page, Some(phys & PAGE_MASK)), (second_page, next)] {
            if let (Some(off), Some(p)) = (off, p) {
                core.ram.mark_code(off);
                core.tlb.protect_code(p & PAGE_MASK);
            }
        }
        Ok(self.blocks.insert(Block {
            links: [Cell::new(NO_LINK), Cell::new(NO_LINK)],
            key,
            rip: core.rip,
            insns: insns.into_boxed_slice(),
            count,
            pages: [first_page.map(|o| o >> 12), second_page.map(|o| o >> 12)],
        }))
    }
}

fn tick(instret: u64) {
    static T: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let t = T.get_or_init(std::time::Instant::now);
    if instret >= NEXT.load(std::sync::atomic::Ordering::Relaxed) {
        NEXT.store(instret + 50_000_000, std::sync::atomic::Ordering::Relaxed);
        if let Some(stop) = std::env::var_os("VTD_STOP") {
            if instret >= stop.to_str().unwrap().parse::<u64>().unwrap() {
                eprintln!("STOP {}", instret);
                std::process::exit(0);
            }
        }
        if std::env::var_os("VTD_TICK").is_some() {
            eprintln!("TICK {} {:.2}", instret, t.elapsed().as_secs_f64());
        }
    }
}
