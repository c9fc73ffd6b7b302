//! Runs a case in the interpreter.
//!
//! The guest is a 64-bit CPL-0 machine with 8 MiB of RAM. Its page tables
//! (2 MiB pages) map the runner's data, stack and code regions at the same
//! virtual addresses the host uses, onto guest-physical 2, 4 and 6 MiB, and
//! identity-map the first 2 MiB, which holds the page tables, a GDT with a
//! TSS, and an IDT whose 32 exception vectors each lead to a `hlt` stub on
//! their own IST stack. A case ends with `hlt`: halting right after it is a
//! normal end, halting in a stub is an exception (vector from the stub's
//! address, error code and faulting RIP from the frame).

use std::sync::Arc;

use cpu::{Cpu, DescriptorTable, NoInterrupts, RunExit, SegReg, Segment};
use mem::{Bus, GuestAddress, GuestRam, RamLayout};

use super::case::{Layout, Prepared, DATA_LEN, REGION, STACK_LEN};
use super::compare::{Exit, Target, TargetOutcome};
use super::host::Outcome;

const PML4: u64 = 0x1000;
const PDPT: u64 = 0x2000;
const PD: u64 = 0x3000;
const GDT: u64 = 0x4000;
const IDT: u64 = 0x5000;
const TSS: u64 = 0x6000;
const STUBS: u64 = 0x7000;
const STUB_SIZE: u64 = 16;
const VECTORS: u64 = 32;
const IST_TOP: u64 = 0x10000;

const PA_DATA: u64 = REGION;
const PA_STACK: u64 = 2 * REGION;
const PA_CODE: u64 = 3 * REGION;
const RAM_SIZE: u64 = 4 * REGION;

/// Instructions a case may take before it counts as a runaway.
const BUDGET: u64 = 50_000;

pub struct GuestRunner {
    layout: Layout,
    bus: Arc<Bus>,
    cpu: Cpu,
}

impl std::fmt::Debug for GuestRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuestRunner({:#x})", self.layout.base)
    }
}

fn w64(bus: &Bus, addr: u64, v: u64) {
    bus.write_phys(GuestAddress(addr), &v.to_le_bytes());
}

fn r64(bus: &Bus, addr: u64) -> u64 {
    let mut b = [0u8; 8];
    bus.read_phys(GuestAddress(addr), &mut b);
    u64::from_le_bytes(b)
}

impl GuestRunner {
    pub fn new(layout: Layout) -> Result<GuestRunner, String> {
        assert!(layout.base.is_multiple_of(REGION) && layout.code() + REGION <= 1 << 30);
        let ram = GuestRam::new(
            RamLayout {
                low: RAM_SIZE,
                high: 0,
            },
            Arc::default(),
        )
        .map_err(|e| e.to_string())?;
        let bus = Arc::new(Bus::new(Arc::new(ram)));
        // Paging: PML4[0] -> PDPT[0] -> PD with 2 MiB pages.
        w64(&bus, PML4, PDPT | 7);
        w64(&bus, PDPT, PD | 7);
        let big = |pa: u64| pa | 0x87; // present, writable, user, PS
        w64(&bus, PD, big(0));
        for (va, pa) in [
            (layout.data(), PA_DATA),
            (layout.stack(), PA_STACK),
            (layout.code(), PA_CODE),
        ] {
            w64(&bus, PD + 8 * (va >> 21), big(pa));
        }
        // GDT: null, code64 (0x08), data (0x10), TSS (0x18, 16 bytes).
        w64(&bus, GDT, 0);
        w64(&bus, GDT + 0x08, 0x00AF_9B00_0000_FFFF);
        w64(&bus, GDT + 0x10, 0x00CF_9300_0000_FFFF);
        let tss_lo = 0x67 | ((TSS & 0xFF_FFFF) << 16) | (0x89 << 40) | ((TSS >> 24 & 0xFF) << 56);
        w64(&bus, GDT + 0x18, tss_lo);
        w64(&bus, GDT + 0x20, TSS >> 32);
        // TSS: IST1 (offset 0x24) = the exception stack.
        bus.write_phys(GuestAddress(TSS + 0x24), &IST_TOP.to_le_bytes());
        // IDT: interrupt gates to the stubs, all on IST1.
        for v in 0..VECTORS {
            let off = STUBS + v * STUB_SIZE;
            let lo = (off & 0xFFFF)
                | (0x08 << 16)
                | (1 << 32)
                | (0x8E << 40)
                | ((off >> 16 & 0xFFFF) << 48);
            w64(&bus, IDT + 16 * v, lo);
            w64(&bus, IDT + 16 * v + 8, off >> 32);
            bus.write_phys(GuestAddress(off), &[0xF4, 0xEB, 0xFD]); // hlt; jmp hlt
        }
        let cpu = Self::make_cpu(&bus);
        Ok(GuestRunner { layout, bus, cpu })
    }

    fn make_cpu(bus: &Arc<Bus>) -> Cpu {
        let mut cpu = Cpu::new(bus.clone());
        cpu.cr0 = 0x8001_0031; // PE ET NE WP PG
        cpu.cr4 = 0x220; // PAE OSFXSR
        cpu.efer = 0xD00; // LME LMA NXE
        cpu.cr3 = PML4;
        cpu.gdtr = DescriptorTable {
            base: GDT,
            limit: 0x27,
        };
        cpu.idtr = DescriptorTable {
            base: IDT,
            limit: (VECTORS * 16 - 1) as u16,
        };
        cpu.tr = Segment {
            selector: 0x18,
            base: TSS,
            limit: 0x67,
            attr: 0x8B,
        };
        let code = Segment {
            selector: 0x08,
            base: 0,
            limit: 0xFFFF_FFFF,
            attr: 0xA09B,
        };
        let data = Segment {
            selector: 0x10,
            base: 0,
            limit: 0xFFFF_FFFF,
            attr: 0xC093,
        };
        cpu.set_segment(SegReg::Cs, code);
        for s in [SegReg::Ss, SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
            cpu.set_segment(s, data);
        }
        cpu.sync_mode();
        cpu
    }

    fn read(&self, pa: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.bus.read_phys(GuestAddress(pa), &mut v);
        v
    }

    /// Runs a case; never panics on the harness's side (the interpreter
    /// itself may).
    pub fn run_case(&mut self, p: &Prepared) -> TargetOutcome {
        let l = self.layout;
        self.bus.write_phys(GuestAddress(PA_DATA), &p.case.data);
        self.bus.write_phys(GuestAddress(PA_STACK), &p.case.stack);
        let mut code = p.code.clone();
        code.push(0xF4); // hlt
        self.bus.write_phys(GuestAddress(PA_CODE), &code);
        let end = l.code() + code.len() as u64;

        let cpu = &mut self.cpu;
        cpu.gpr = p.case.init.gpr;
        cpu.rip = l.code();
        cpu.rflags = p.case.init.rflags | 2;
        cpu.halted = false;
        let start = cpu.instret;
        let mut exit = None;
        while exit.is_none() {
            match cpu.run(&mut NoInterrupts, 10_000) {
                RunExit::Halted => break,
                RunExit::Budget if cpu.instret - start < BUDGET => {}
                RunExit::Budget => {
                    exit = Some(Exit::Other(format!(
                        "runaway: no HLT after {} instructions, rip {:#x}",
                        cpu.instret - start,
                        cpu.rip
                    )))
                }
                RunExit::Shutdown => {
                    exit = Some(Exit::Other(format!(
                        "shutdown (triple fault), rip {:#x}",
                        cpu.rip
                    )))
                }
                RunExit::Attention => {
                    exit = Some(Exit::Other(format!("attention exit, rip {:#x}", cpu.rip)))
                }
            }
        }
        let exit = exit.unwrap_or_else(|| {
            let rip = cpu.rip;
            if rip == end {
                Exit::Normal
            } else if (STUBS + 1..STUBS + VECTORS * STUB_SIZE).contains(&rip) {
                let vector = ((rip - 1 - STUBS) / STUB_SIZE) as u8;
                let has_code = matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30);
                let sp = cpu.gpr[4];
                let error_code = has_code.then(|| r64(&self.bus, sp));
                let frame = if has_code { sp + 8 } else { sp };
                Exit::Exception {
                    vector,
                    error_code,
                    rip: r64(&self.bus, frame),
                    cr2: cpu.cr2,
                }
            } else {
                Exit::Other(format!(
                    "halted at rip {rip:#x}, expected the case's end {end:#x}"
                ))
            }
        });
        let mut regs = super::case::Regs {
            gpr: cpu.gpr,
            rflags: cpu.rflags,
        };
        regs.rflags &= !(1 << 16); // RF is not part of the comparison
        let out = Outcome {
            regs,
            data: self.read(PA_DATA, DATA_LEN),
            stack: self.read(PA_STACK, STACK_LEN),
        };
        if exit != Exit::Normal {
            // Start the next case from a clean processor.
            self.cpu = Self::make_cpu(&self.bus);
        }
        TargetOutcome { out, exit }
    }
}

impl Target for GuestRunner {
    fn name(&self) -> &'static str {
        "interp"
    }
    fn run(&mut self, p: &Prepared) -> TargetOutcome {
        self.run_case(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::case::{fl, Case, Regs};
    use crate::diff::host::HostRunner;
    use iced_x86::{Code, Instruction, Register};

    #[test]
    fn add_matches_host_and_ud_is_reported() {
        let mut h = HostRunner::new().unwrap();
        let l = h.layout();
        let mut g = GuestRunner::new(l).unwrap();
        let mut init = Regs {
            gpr: [0; 16],
            rflags: fl::FIXED1 | fl::IF,
        };
        init.gpr[0] = 0x7FFF_FFFF_FFFF_FFFF;
        init.gpr[3] = 1;
        init.gpr[4] = l.rsp0();
        let case = |insns: Vec<Instruction>| Case {
            insns,
            init,
            data: vec![0x5A; DATA_LEN],
            stack: vec![0xA5; STACK_LEN],
            fixups: Vec::new(),
            straight: true,
        };
        let add = Instruction::with2(Code::Add_rm64_r64, Register::RAX, Register::RBX).unwrap();
        let p = case(vec![add]).prepare(&l).unwrap();
        let host = h.run(&p);
        let t = g.run_case(&p);
        assert_eq!(t.exit, Exit::Normal);
        assert_eq!(t.out.regs.gpr, host.regs.gpr);
        assert_eq!(t.out.regs.rflags & fl::ARITH, host.regs.rflags & fl::ARITH);
        // The same code address with different bytes: must not run stale code.
        let ud = Instruction::with(Code::Ud2);
        let p = case(vec![ud]).prepare(&l).unwrap();
        let t = g.run_case(&p);
        assert!(
            matches!(t.exit, Exit::Exception { vector: 6, rip, .. } if rip == l.code()),
            "{:?}",
            t.exit
        );
        let p = case(vec![add]).prepare(&l).unwrap();
        assert_eq!(g.run_case(&p).exit, Exit::Normal);
    }
}
