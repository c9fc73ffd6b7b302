//! Unit tests of whole-CPU behaviour: mode switches, paging walks and
//! page-fault error codes, exception delivery, and the decode cache. Each
//! test assembles a small guest with iced-x86's code assembler.

use std::sync::Arc;

use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use mem::{Bus, GuestAddress, GuestRam, RamLayout};

use crate::{Cpu, NoInterrupts, RunExit, SegReg, Segment};

const PML4: u64 = 0x1000;
const PDPT: u64 = 0x2000;
const PD: u64 = 0x3000;
/// A 4 KiB page table for 0x200000..0x400000, for fine-grained tests.
const PT: u64 = 0x4000;
const GDT: u64 = 0x500;
const IDT: u64 = 0x6000;
const RESULT: u64 = 0x7000;
const HANDLERS: u64 = 0x9000;
const CODE: u64 = 0x10000;
const STACK_TOP: u64 = 0x80000;
const USER_STACK_TOP: u64 = 0x2F_F000;

struct Machine {
    cpu: Cpu,
    bus: Arc<Bus>,
}

impl Machine {
    fn new() -> Machine {
        let ram = GuestRam::new(
            RamLayout {
                low: 16 << 20,
                high: 0,
            },
            Arc::default(),
        )
        .unwrap();
        let bus = Arc::new(Bus::new(Arc::new(ram)));
        Machine {
            cpu: Cpu::new(bus.clone()),
            bus,
        }
    }

    fn w64(&self, addr: u64, v: u64) {
        self.bus.write_phys(GuestAddress(addr), &v.to_le_bytes());
    }

    fn r64(&self, addr: u64) -> u64 {
        let mut b = [0u8; 8];
        self.bus.read_phys(GuestAddress(addr), &mut b);
        u64::from_le_bytes(b)
    }

    fn load(&self, addr: u64, bytes: &[u8]) {
        self.bus.write_phys(GuestAddress(addr), bytes);
    }

    /// Flat 64-bit GDT, identity paging of the first GiB (2 MiB pages,
    /// supervisor, except 0x200000..0x400000 which uses 4 KiB pages from
    /// `PT`, user-accessible), an IDT whose every vector records
    /// (vector, error code, saved RIP) at RESULT and halts.
    fn long_mode(&mut self) {
        let gdt = [
            0,
            0x00AF_9B00_0000_FFFF, // 0x08 kernel code 64
            0x00CF_9300_0000_FFFF, // 0x10 kernel data
            0x00AF_FB00_0000_FFFF, // 0x18 user code 64
            0x00CF_F300_0000_FFFF, // 0x20 user data
            0,                     // 0x28 TSS low
            0,                     // 0x30 TSS high
        ];
        for (k, d) in gdt.iter().enumerate() {
            self.w64(GDT + 8 * k as u64, *d);
        }
        self.w64(PML4, PDPT | 7);
        self.w64(PDPT, PD | 7);
        for k in 0..512u64 {
            self.w64(PD + 8 * k, (k << 21) | 0x83);
        }
        self.w64(PD + 8, PT | 7);
        for k in 0..512u64 {
            self.w64(PT + 8 * k, (0x20_0000 + (k << 12)) | 7);
        }
        // TSS at 0x800 with RSP0 = STACK_TOP.
        let tss = 0x800u64;
        self.w64(tss + 4, STACK_TOP);
        let tss_desc = 0x67 | ((tss & 0xFF_FFFF) << 16) | (0x89u64 << 40);
        self.w64(GDT + 0x28, tss_desc);
        // One handler per vector: vector number in RAX, then common code.
        for v in 0..32u64 {
            let h = HANDLERS + v * 32;
            let has_error = matches!(v, 8 | 10..=14 | 17);
            let mut a = CodeAssembler::new(64).unwrap();
            a.mov(rax, v).unwrap();
            if !has_error {
                a.push(0).unwrap();
            }
            a.jmp(HANDLERS + 32 * 32).unwrap();
            self.load(h, &a.assemble(h).unwrap());
            // INT3 may be used from CPL 3 (gate DPL 3), as kernels set it.
            let kind = if v == 3 { 0xEEu64 } else { 0x8E };
            let gate = (h & 0xFFFF) | (8 << 16) | (kind << 40) | ((h >> 16) << 48);
            self.w64(IDT + v * 16, gate);
            self.w64(IDT + v * 16 + 8, h >> 32);
        }
        let common = HANDLERS + 32 * 32;
        let mut a = CodeAssembler::new(64).unwrap();
        a.mov(qword_ptr(RESULT), rax).unwrap();
        a.pop(rax).unwrap();
        a.mov(qword_ptr(RESULT + 8), rax).unwrap();
        a.pop(rax).unwrap();
        a.mov(qword_ptr(RESULT + 16), rax).unwrap();
        a.hlt().unwrap();
        self.load(common, &a.assemble(common).unwrap());

        let c = &mut self.cpu;
        c.gdtr = crate::DescriptorTable {
            base: GDT,
            limit: 0x37,
        };
        c.idtr = crate::DescriptorTable {
            base: IDT,
            limit: 32 * 16 - 1,
        };
        c.tr = Segment {
            selector: 0x28,
            base: tss,
            limit: 0x67,
            attr: 0x8B,
        };
        c.cr0 = 0x8001_0033;
        c.cr4 = 0x20;
        c.efer = 0xD01;
        c.cr3 = PML4;
        let code = Segment {
            selector: 8,
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
        for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
            c.set_segment(s, data);
        }
        c.set_segment(SegReg::Cs, code);
        c.gpr[4] = STACK_TOP;
        c.rip = CODE;
    }

    fn code64(&mut self, f: impl FnOnce(&mut CodeAssembler)) {
        let mut a = CodeAssembler::new(64).unwrap();
        f(&mut a);
        self.load(CODE, &a.assemble(CODE).unwrap());
        self.cpu.rip = CODE;
        self.cpu.halted = false;
    }

    /// Runs kernel code that IRETQs to CPL 3 at `user` (user code and data
    /// selectors 0x1B/0x23, IF set, the user stack).
    fn enter_user(&mut self, user: u64) {
        self.code64(|a| {
            a.push(0x23).unwrap();
            a.push(USER_STACK_TOP as i32).unwrap();
            a.push(0x202).unwrap();
            a.push(0x1B).unwrap();
            a.push(user as i32).unwrap();
            a.iretq().unwrap();
        });
    }

    fn run(&mut self) -> RunExit {
        self.cpu.run(&mut NoInterrupts, 1_000_000)
    }

    /// (vector, error code, saved RIP) recorded by the IDT handlers.
    fn exception(&self) -> (u64, u64, u64) {
        (
            self.r64(RESULT),
            self.r64(RESULT + 8),
            self.r64(RESULT + 16),
        )
    }
}

fn ip_of(a: &mut CodeAssembler, label: &mut CodeLabel) -> u64 {
    let r = a
        .assemble_options(CODE, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .unwrap();
    r.label_ip(label).unwrap()
}

#[test]
fn long_mode_divide_error_reports_faulting_rip() {
    let mut m = Machine::new();
    m.long_mode();
    let mut a = CodeAssembler::new(64).unwrap();
    let mut at = a.create_label();
    a.mov(ecx, 0).unwrap();
    a.set_label(&mut at).unwrap();
    a.div(ecx).unwrap();
    a.hlt().unwrap();
    let div_ip = ip_of(&mut a, &mut at);
    m.load(CODE, &a.assemble(CODE).unwrap());
    assert_eq!(m.run(), RunExit::Halted);
    let (v, _, rip) = m.exception();
    assert_eq!(v, 0);
    assert_eq!(rip, div_ip);
}

#[test]
fn int3_is_a_trap_with_rip_after_the_instruction() {
    let mut m = Machine::new();
    m.long_mode();
    m.code64(|a| {
        a.int3().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!(m.exception(), (3, 0, CODE + 1));
}

#[test]
fn page_fault_not_present_read_and_write_error_codes() {
    let mut m = Machine::new();
    m.long_mode();
    m.code64(|a| {
        a.mov(rax, qword_ptr(0x4000_0000u64)).unwrap();
    });
    m.run();
    assert_eq!(m.exception(), (14, 0, CODE));
    assert_eq!(m.cpu.cr2, 0x4000_0000);

    m.cpu.gpr[4] = STACK_TOP;
    m.code64(|a| {
        a.mov(rbx, 0x4000_1234u64).unwrap();
        a.mov(qword_ptr(rbx), rax).unwrap();
    });
    m.run();
    assert_eq!(m.exception().1, 2, "W/R set for a write");
    assert_eq!(m.cpu.cr2, 0x4000_1234);
}

#[test]
fn page_fault_reserved_bit_sets_rsvd_and_p() {
    let mut m = Machine::new();
    m.long_mode();
    m.w64(PT + 8 * 5, 0x20_5000 | 7 | (1 << 51));
    m.code64(|a| {
        a.mov(rax, qword_ptr(0x20_5008u64)).unwrap();
    });
    m.run();
    assert_eq!(m.exception().0, 14);
    assert_eq!(m.exception().1, 0b1001);
}

#[test]
fn page_fault_execute_of_nx_page_sets_instruction_fetch_bit() {
    let mut m = Machine::new();
    m.long_mode();
    m.w64(PT + 8 * 6, 0x20_6000 | 7 | (1 << 63));
    m.load(0x20_6000, &[0xF4]);
    m.code64(|a| {
        a.mov(rax, 0x20_6000u64).unwrap();
        a.jmp(rax).unwrap();
    });
    m.run();
    assert_eq!(m.exception(), (14, 0b1_0001, 0x20_6000));
    assert_eq!(m.cpu.cr2, 0x20_6000);
}

#[test]
fn supervisor_write_to_read_only_page_faults_only_with_cr0_wp() {
    let mut m = Machine::new();
    m.long_mode();
    m.w64(PT + 8 * 7, 0x20_7000 | 5); // present, user, read-only
    m.code64(|a| {
        a.mov(qword_ptr(0x20_7000u64), rax).unwrap();
        a.hlt().unwrap();
    });
    m.run();
    assert_eq!(m.exception(), (14, 0b0011, CODE));

    let mut m = Machine::new();
    m.long_mode();
    m.w64(PT + 8 * 7, 0x20_7000 | 5);
    m.cpu.cr0 &= !(1 << 16);
    m.cpu.sync_mode();
    m.cpu.gpr[0] = 0x55;
    m.code64(|a| {
        a.mov(qword_ptr(0x20_7000u64), rax).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!(m.r64(0x20_7000), 0x55);
}

#[test]
fn user_mode_access_to_supervisor_and_read_only_pages() {
    let mut m = Machine::new();
    m.long_mode();
    m.w64(PT + 8 * 8, 0x20_8000 | 5); // user read-only
                                      // Kernel code: IRETQ into user code at 0x210000 (a user page).
    let user = 0x21_0000u64;
    let mut a = CodeAssembler::new(64).unwrap();
    let mut store = a.create_label();
    a.mov(rax, qword_ptr(0x20_8000u64)).unwrap(); // allowed: user read
    a.set_label(&mut store).unwrap();
    a.mov(qword_ptr(0x20_8000u64), rax).unwrap(); // faults: user write to RO
    let store_ip = a
        .assemble_options(user, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .unwrap()
        .label_ip(&store)
        .unwrap();
    m.load(user, &a.assemble(user).unwrap());
    m.enter_user(user);
    m.run();
    let (v, err, rip) = m.exception();
    assert_eq!((v, err), (14, 0b0111));
    assert_eq!(rip, store_ip);
    // The exception switched to the TSS stack at CPL 0.
    assert_eq!(m.cpu.cpl(), 0);

    // A user read of a supervisor page: P=1, U=1.
    let mut m2 = Machine::new();
    m2.long_mode();
    let mut a = CodeAssembler::new(64).unwrap();
    a.mov(rax, qword_ptr(0x1000u64)).unwrap();
    m2.load(user, &a.assemble(user).unwrap());
    m2.enter_user(user);
    m2.run();
    assert_eq!(m2.exception().1, 0b0101);
}

#[test]
fn walk_sets_accessed_and_dirty_bits() {
    let mut m = Machine::new();
    m.long_mode();
    m.w64(PT + 8 * 9, 0x20_9000 | 7);
    m.code64(|a| {
        a.mov(rax, qword_ptr(0x20_9000u64)).unwrap();
        a.hlt().unwrap();
    });
    m.run();
    assert_eq!(m.r64(PT + 8 * 9) & 0x60, 0x20, "read sets A only");
    m.code64(|a| {
        a.mov(qword_ptr(0x20_9000u64), rax).unwrap();
        a.hlt().unwrap();
    });
    m.run();
    assert_eq!(m.r64(PT + 8 * 9) & 0x60, 0x60, "write sets D");
}

#[test]
fn one_gib_page_translates() {
    let mut m = Machine::new();
    m.long_mode();
    // Map linear 0x80_0000_0000 (PML4 slot 1) through a 1 GiB page to 0.
    m.w64(PML4 + 8, 0x5000 | 7);
    m.w64(0x5000, 0x83);
    m.w64(0x12_3450, 0xABCD);
    m.code64(|a| {
        a.mov(rbx, 0x80_0012_3450u64).unwrap();
        a.mov(rax, qword_ptr(rbx)).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!(m.cpu.gpr[0], 0xABCD);
}

#[test]
fn invlpg_makes_a_changed_mapping_visible() {
    let mut m = Machine::new();
    m.long_mode();
    m.w64(0x20_A000, 1);
    m.w64(0x20_B000, 2);
    m.code64(|a| {
        a.mov(rax, qword_ptr(0x20_A000u64)).unwrap();
        // Remap the page to 0x20B000 without INVLPG: the stale entry wins.
        a.mov(rcx, 0x20_B000u64 | 7).unwrap();
        a.mov(qword_ptr(PT + 8 * 10), rcx).unwrap();
        a.mov(rbx, qword_ptr(0x20_A000u64)).unwrap();
        a.invlpg(qword_ptr(0x20_A000u64)).unwrap();
        a.mov(rdx, qword_ptr(0x20_A000u64)).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!((m.cpu.gpr[0], m.cpu.gpr[3], m.cpu.gpr[2]), (1, 1, 2));
}

#[test]
fn not_present_gate_for_a_fault_gives_double_fault() {
    let mut m = Machine::new();
    m.long_mode();
    // Vector 0's gate not present: #DE -> #NP (contributory) -> #DF.
    m.w64(IDT, 0);
    m.code64(|a| {
        a.xor(ecx, ecx).unwrap();
        a.div(ecx).unwrap();
    });
    m.run();
    assert_eq!(m.exception().0, 8);
    assert_eq!(m.exception().1, 0);
}

#[test]
fn fault_without_usable_idt_is_a_triple_fault() {
    let mut m = Machine::new();
    m.long_mode();
    m.cpu.idtr.limit = 0;
    m.code64(|a| {
        a.ud2().unwrap();
    });
    assert_eq!(m.run(), RunExit::Shutdown);
}

#[test]
fn store_into_the_running_block_is_seen_by_the_next_instruction() {
    let mut m = Machine::new();
    m.long_mode();
    let mut a = CodeAssembler::new(64).unwrap();
    let mut patched = a.create_label();
    // Overwrite the imm32 of the following `mov eax, 1` with 42.
    a.lea(rbx, ptr(patched)).unwrap();
    a.mov(dword_ptr(rbx + 1), 42).unwrap();
    a.set_label(&mut patched).unwrap();
    a.mov(eax, 1).unwrap();
    a.hlt().unwrap();
    m.load(CODE, &a.assemble(CODE).unwrap());
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!(m.cpu.gpr[0], 42);
}

#[test]
fn dma_write_over_cached_code_drops_the_stale_block() {
    let mut m = Machine::new();
    m.long_mode();
    m.code64(|a| {
        a.mov(eax, 1).unwrap();
        a.hlt().unwrap();
    });
    m.run();
    assert_eq!(m.cpu.gpr[0], 1);
    // A device (bulk write through the RAM) replaces the code.
    m.code64(|a| {
        a.mov(eax, 2).unwrap();
        a.hlt().unwrap();
    });
    m.cpu.halted = false;
    m.run();
    assert_eq!(m.cpu.gpr[0], 2);
}

#[test]
fn real_mode_software_interrupt_uses_the_ivt() {
    let mut m = Machine::new();
    // IVT entry 0x21 -> 0000:0600; handler sets AX and returns with IRET.
    m.load(0x21 * 4, &[0x00, 0x06, 0x00, 0x00]);
    let mut h = CodeAssembler::new(16).unwrap();
    h.mov(ax, 0x1234).unwrap();
    h.iret().unwrap();
    m.load(0x600, &h.assemble(0x600).unwrap());
    let mut a = CodeAssembler::new(16).unwrap();
    a.mov(sp, 0x7000).unwrap();
    a.int(0x21).unwrap();
    a.mov(bx, ax).unwrap();
    a.hlt().unwrap();
    m.load(0x7C00, &a.assemble(0x7C00).unwrap());
    m.cpu.set_real_mode_entry(0, 0x7C00);
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!(m.cpu.gpr[3] & 0xFFFF, 0x1234);
    assert_eq!(m.cpu.gpr[4] & 0xFFFF, 0x7000);
}

#[test]
fn real_to_protected_to_long_mode() {
    let mut m = Machine::new();
    // GDT: null, code32 (0x08), data32 (0x10), code64 (0x18).
    for (k, d) in [
        0,
        0x00CF_9A00_0000_FFFFu64,
        0x00CF_9200_0000_FFFF,
        0x00AF_9A00_0000_FFFF,
    ]
    .iter()
    .enumerate()
    {
        m.w64(GDT + 8 * k as u64, *d);
    }
    m.load(
        0x600,
        &[0x1F, 0, (GDT & 0xFF) as u8, (GDT >> 8) as u8, 0, 0],
    );
    m.w64(PML4, PDPT | 3);
    m.w64(PDPT, PD | 3);
    m.w64(PD, 0x83);
    let (pm, lm) = (0x8000u64, 0x8100u64);

    let mut a = CodeAssembler::new(16).unwrap();
    a.cli().unwrap();
    a.lgdt(ptr(0x600)).unwrap();
    a.mov(eax, cr0).unwrap();
    a.or(eax, 1).unwrap();
    a.mov(cr0, eax).unwrap();
    a.jmp_far(8, pm as u32).unwrap();
    m.load(0x7C00, &a.assemble(0x7C00).unwrap());

    let mut a = CodeAssembler::new(32).unwrap();
    a.mov(ax, 0x10).unwrap();
    a.mov(ds, ax).unwrap();
    a.mov(ss, ax).unwrap();
    a.mov(eax, 0x20).unwrap();
    a.mov(cr4, eax).unwrap();
    a.mov(eax, PML4 as u32).unwrap();
    a.mov(cr3, eax).unwrap();
    a.mov(ecx, 0xC000_0080u32).unwrap();
    a.rdmsr().unwrap();
    a.or(eax, 0x100).unwrap();
    a.wrmsr().unwrap();
    a.mov(eax, cr0).unwrap();
    a.or(eax, 0x8000_0000u32 as i32).unwrap();
    a.mov(cr0, eax).unwrap();
    a.jmp_far(0x18, lm as u32).unwrap();
    m.load(pm, &a.assemble(pm).unwrap());

    let mut a = CodeAssembler::new(64).unwrap();
    a.mov(rax, 0x1122_3344_5566_7788u64).unwrap();
    a.hlt().unwrap();
    m.load(lm, &a.assemble(lm).unwrap());

    m.cpu.set_real_mode_entry(0, 0x7C00);
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!(m.cpu.mode(), crate::Mode::Long);
    assert_eq!(m.cpu.gpr[0], 0x1122_3344_5566_7788);
    assert_eq!(m.cpu.efer & 0x500, 0x500, "LME and LMA set");
}

#[test]
fn invalid_opcode_raises_ud() {
    let mut m = Machine::new();
    m.long_mode();
    // 0x06 (PUSH ES) is invalid in 64-bit mode.
    m.load(CODE, &[0x06]);
    m.run();
    assert_eq!(m.exception(), (6, 0, CODE));
}

#[test]
fn syscall_and_sysret_round_trip() {
    let mut m = Machine::new();
    m.long_mode();
    let entry = 0x9_F000u64;
    let mut k = CodeAssembler::new(64).unwrap();
    k.mov(rdx, 0x77u64).unwrap();
    k.sysretq().unwrap();
    m.load(entry, &k.assemble(entry).unwrap());
    m.cpu.msr.star = (0x10u64 << 48) | (0x08u64 << 32);
    m.cpu.msr.lstar = entry;
    m.cpu.msr.sfmask = 0x200;
    let user = 0x21_0000u64;
    let mut u = CodeAssembler::new(64).unwrap();
    u.syscall().unwrap();
    u.mov(rbx, rdx).unwrap();
    u.int3().unwrap();
    m.load(user, &u.assemble(user).unwrap());
    m.enter_user(user);
    m.run();
    assert_eq!(m.cpu.gpr[3], 0x77);
    // #BP taken from CPL 3: saved RIP is after INT3.
    assert_eq!(m.exception().0, 3);
}

/// A tiny xorshift generator for the robustness tests (no dependency).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Guest input is hostile: random instruction bytes with random register
/// values, in 64-bit mode at CPL 0 and 3, must give architectural results
/// (possibly exceptions, possibly a shutdown), never a host panic or a hang.
#[test]
fn random_code_never_panics_or_hangs() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut m = Machine::new();
    m.long_mode();
    let base = m.cpu.gpr;
    for case in 0..4000 {
        let mut bytes = [0u8; 48];
        for b in bytes.iter_mut() {
            *b = rng.next() as u8;
        }
        // Bias towards prefixes and two-byte opcodes now and then.
        if case % 3 == 0 {
            bytes[0] = [0x0F, 0x66, 0xF3, 0xF2, 0x48, 0x67][(rng.next() % 6) as usize];
        }
        m.load(CODE, &bytes);
        m.load(CODE + 48, &[0xF4]);
        m.cpu.gpr = base;
        for r in m.cpu.gpr.iter_mut() {
            *r = match rng.next() % 4 {
                0 => rng.next(),
                1 => 0x20_0000 + (rng.next() % 0x20_0000),
                2 => rng.next() % 0x1000,
                _ => 0,
            };
        }
        m.cpu.gpr[4] = STACK_TOP - 0x100;
        m.cpu.rip = CODE;
        m.cpu.rflags = 2;
        m.cpu.halted = false;
        m.cpu.shutdown = false;
        m.cpu.idtr.limit = 32 * 16 - 1;
        let exit = m.cpu.run(&mut NoInterrupts, 10_000);
        if exit == RunExit::Shutdown {
            // A triple fault is architectural; start from a clean machine.
            m = Machine::new();
            m.long_mode();
        }
        // Restore the pieces random code may legitimately have clobbered.
        m.cpu.set_segment(
            SegReg::Cs,
            Segment {
                selector: 8,
                base: 0,
                limit: 0xFFFF_FFFF,
                attr: 0xA09B,
            },
        );
        m.cpu.efer = 0xD01;
        m.cpu.cr0 = 0x8001_0033;
        m.cpu.cr3 = PML4;
        m.cpu.cr4 = 0x20;
        m.cpu.gdtr = crate::DescriptorTable {
            base: GDT,
            limit: 0x37,
        };
        m.cpu.idtr = crate::DescriptorTable {
            base: IDT,
            limit: 32 * 16 - 1,
        };
        let data = Segment {
            selector: 0x10,
            base: 0,
            limit: 0xFFFF_FFFF,
            attr: 0xC093,
        };
        for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
            m.cpu.set_segment(s, data);
        }
    }
}

/// The same in 16-bit real mode, where segment arithmetic and 16-bit
/// addressing wrap.
#[test]
fn random_real_mode_code_never_panics_or_hangs() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    for _ in 0..1500 {
        let mut m = Machine::new();
        let mut bytes = [0u8; 32];
        for b in bytes.iter_mut() {
            *b = rng.next() as u8;
        }
        m.load(0x7C00, &bytes);
        m.cpu.set_real_mode_entry(0, 0x7C00);
        for r in m.cpu.gpr.iter_mut() {
            *r = rng.next() & 0xFFFF_FFFF;
        }
        m.cpu.run(&mut NoInterrupts, 5_000);
    }
}

/// An access that straddles two linear pages mapped to physical pages
/// that are not adjacent reads and writes exactly the right bytes of each.
#[test]
fn page_straddling_access_uses_both_translations() {
    let mut m = Machine::new();
    m.long_mode();
    // Linear 0x20C000 -> physical 0x20E000, 0x20D000 -> 0x20A000.
    m.w64(PT + 8 * 12, 0x20_E000 | 7);
    m.w64(PT + 8 * 13, 0x20_A000 | 7);
    m.w64(0x20_EFF8, 0x1111_1111_1111_1111);
    m.w64(0x20_A000, 0x2222_2222_2222_2222);
    m.w64(0x20_F000, 0x3333_3333_3333_3333);
    m.code64(|a| {
        a.mov(rax, qword_ptr(0x20_CFFDu64)).unwrap();
        a.mov(rcx, 0x0102_0304_0506_0708u64).unwrap();
        a.mov(qword_ptr(0x20_CFFBu64), rcx).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!(m.cpu.gpr[0], 0x2222_2222_2211_1111);
    assert_eq!(m.r64(0x20_EFF8), 0x0405_0607_0811_1111);
    assert_eq!(m.r64(0x20_A000), 0x2222_2222_2201_0203);
    assert_eq!(
        m.r64(0x20_F000),
        0x3333_3333_3333_3333,
        "nothing written past the first page"
    );
}

#[test]
fn fused_compare_and_branch_counts_two_instructions_and_keeps_flags() {
    let mut m = Machine::new();
    m.long_mode();
    m.code64(|a| {
        let mut top = a.create_label();
        a.mov(ecx, 10).unwrap();
        a.mov(ebx, 0).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(ebx, ecx).unwrap();
        a.dec(ecx).unwrap();
        a.cmp(ecx, 3).unwrap();
        a.jne(top).unwrap();
        a.pushfq().unwrap();
        a.pop(rax).unwrap();
        a.hlt().unwrap();
    });
    let before = m.cpu.instret;
    assert_eq!(m.run(), RunExit::Halted);
    assert_eq!(m.cpu.gpr[3], (4..=10).sum::<u64>());
    assert_eq!(m.cpu.gpr[1], 3);
    let zf_cf = m.cpu.gpr[0] & 0x41;
    assert_eq!(zf_cf, 0x40, "ZF set and CF clear after the last CMP");
    assert_eq!(m.cpu.rflags & 0x41, 0x40);
    // 2 + 7 iterations of 4 + PUSHFQ, POP, HLT.
    assert_eq!(m.cpu.instret - before, 2 + 7 * 4 + 3);
}
