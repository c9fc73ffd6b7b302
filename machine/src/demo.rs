//! The built-in demo guest: a tour from power-on to 64-bit long mode,
//! written as a teaching example.
//!
//! A PC processor wakes up in 16-bit real mode. To reach 64-bit mode a
//! program must (Intel SDM Vol. 3A, 10.8 "Software Initialization for
//! Protected-Mode Operation" and 10.8.5 "Initializing IA-32e Mode"):
//!
//! 1. describe its segments in a global descriptor table (GDT) and load it
//!    with `LGDT`;
//! 2. set CR0.PE and far-jump to a 32-bit code segment: protected mode;
//! 3. build 4-level page tables, set CR4.PAE, set EFER.LME (an MSR), point
//!    CR3 at the top table and set CR0.PG: IA-32e mode, still running the
//!    32-bit segment ("compatibility mode");
//! 4. far-jump to a code segment whose descriptor has L=1: 64-bit mode.
//!
//! Once there, the demo installs an interrupt descriptor table (IDT) and
//! provokes two exceptions on purpose:
//! - a page fault (#PF, vector 14) by storing to an unmapped address; the
//!   handler prints CR2 and the error code, maps the page and returns, and
//!   the store is retried and succeeds ("demand paging" in thirty lines);
//! - an invalid opcode (#UD, vector 6) with `UD2`; the handler checks that
//!   the saved RIP points at the `UD2` bytes and steps over them.
//!
//! Every step prints a line on COM1 and the demo ends by writing
//! [`EXIT_VALUE`] to QEMU's debug-exit port, so the emulator exits with
//! [`EXPECTED_EXIT_STATUS`]. Anything unexpected writes [`FAIL_VALUE`]
//! instead.
//!
//! The code is assembled at run time with iced-x86's `CodeAssembler`. An
//! assembler instance produces code for one mode (16, 32 or 64 bits), so
//! each mode's code is assembled separately at a fixed address and the
//! pieces are placed side by side. Where one piece must name another (the
//! far jumps, the GDT) it uses the fixed addresses below. The assembler's
//! labels name addresses in memory operands only RIP-relatively, which
//! exists in 64-bit mode alone, so the 16- and 32-bit parts' messages live
//! at fixed addresses in the data area too.
//!
//! Guest-physical memory map:
//!
//! | address | contents |
//! |---|---|
//! | `0x7C00` | top of the stack (it grows down) |
//! | `0x8000` | 16-bit real-mode code; entry point `0000:8000` |
//! | `0x8400` | 32-bit protected-mode code |
//! | `0x8800` | 64-bit code and exception handlers |
//! | `0x9000` | data: GDT (4 descriptors), the GDTR and IDTR images, and the
//! |  | 16- and 32-bit parts' messages |
//! | `0x9100` | IDT (32 gates of 16 bytes), filled in by the 64-bit code |
//! | `0x10000`.. | page tables, built by the 32-bit code (see below) |

use iced_x86::code_asm::*;
use iced_x86::{Code, IcedError, Instruction};

/// The bytes to load, where, and where the processor starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoImage {
    /// The image, from `load_addr` on.
    pub bytes: Vec<u8>,
    /// Guest-physical address of `bytes[0]`.
    pub load_addr: u64,
    /// Real-mode code segment to start in.
    pub entry_cs: u16,
    /// Real-mode instruction pointer to start at.
    pub entry_ip: u16,
}

/// The value the demo writes to the debug-exit port when every check passed.
pub const EXIT_VALUE: u32 = 0x10;
/// The value it writes when a check failed or an unexpected exception came.
pub const FAIL_VALUE: u32 = 0x11;
/// The emulator's exit status on success: `(EXIT_VALUE << 1) | 1`.
pub const EXPECTED_EXIT_STATUS: i32 = 0x21;
/// The guest memory the demo needs: its page tables end at 0x16000.
pub const MIN_MEMORY: u64 = 1 << 20;

/// The lines the demo prints on COM1, in order, when all goes well.
pub const EXPECTED_OUTPUT: &[&str] = &[
    MSG_REAL,
    MSG_PROTECTED,
    MSG_LONG,
    "vtdemu demo: #PF CR2=0x00000000DEAD0000 error=0x0000000000000002, mapping the page",
    "vtdemu demo: the new page holds 0x0123456789ABCDEF",
    MSG_UD,
    MSG_DONE,
];

const MSG_REAL: &str = "vtdemu demo: hello from 16-bit real mode";
const MSG_PROTECTED: &str = "vtdemu demo: now in 32-bit protected mode";
const MSG_LONG: &str = "vtdemu demo: now in 64-bit long mode, paging on";
const MSG_PF_CR2: &str = "vtdemu demo: #PF CR2=0x";
const MSG_PF_ERROR: &str = " error=0x";
const MSG_PF_FIXUP: &str = ", mapping the page";
const MSG_READBACK: &str = "vtdemu demo: the new page holds 0x";
const MSG_UD: &str = "vtdemu demo: #UD at ud2 (0F 0B), skipping it";
const MSG_DONE: &str = "vtdemu demo: all checks passed, exiting via port 0x501";
const MSG_UNEXPECTED: &str = "vtdemu demo: unexpected exception";
const MSG_FAIL: &str = "vtdemu demo: FAILED";

// ---- Layout (see the table in the module documentation) ----

const STACK_TOP: u64 = 0x7C00;
const CODE16_ADDR: u64 = 0x8000;
const CODE32_ADDR: u64 = 0x8400;
const CODE64_ADDR: u64 = 0x8800;
/// The data area; the GDT comes first.
const GDT_ADDR: u64 = 0x9000;
/// The 6-byte GDTR image `LGDT` reads: 16-bit limit, then the base.
const GDTR_ADDR: u64 = GDT_ADDR + 0x20;
/// The 10-byte IDTR image `LIDT` reads in 64-bit mode.
const IDTR_ADDR: u64 = GDT_ADDR + 0x30;
/// The real-mode and protected-mode messages (NUL-terminated).
const MSG_REAL_ADDR: u64 = GDT_ADDR + 0x40;
const MSG_PROTECTED_ADDR: u64 = GDT_ADDR + 0x80;
/// End of the image (exclusive).
const IMAGE_END: u64 = GDT_ADDR + 0xC0;
const IDT_ADDR: u64 = 0x9100;
/// Gates for the 32 exception vectors; nothing else can arrive here.
const IDT_GATES: u64 = 32;

/// Page tables (Intel SDM Vol. 3A, 4.5 "4-Level Paging"). Each is one 4 KiB
/// page of 512 eight-byte entries.
const PML4_ADDR: u64 = 0x10000;
const PDPT_ADDR: u64 = 0x11000;
/// Page directory for the first GiB, identity-mapped with 2 MiB pages.
const PD_ADDR: u64 = 0x12000;
/// Page directory and page table the #PF handler hooks in for FAULT_ADDR.
const PD_HIGH_ADDR: u64 = 0x13000;
const PT_HIGH_ADDR: u64 = 0x14000;
/// The 4 KiB frame the #PF handler maps at FAULT_ADDR.
const FRAME_ADDR: u64 = 0x15000;
/// Bytes the 32-bit code clears before building tables: all of the above.
const TABLES_LEN: u64 = FRAME_ADDR + 0x1000 - PML4_ADDR;

// The layout must not overlap itself, and must fit in MIN_MEMORY.
const _: () = assert!(IMAGE_END <= IDT_ADDR && IDT_ADDR + IDT_GATES * 16 <= PML4_ADDR);
const _: () = assert!(FRAME_ADDR + 0x1000 <= MIN_MEMORY);

/// Page-table entry bits (SDM Table 4-15 ff.): present, writable, and in a
/// page-directory entry, "page size" (this entry maps a 2 MiB page).
const PTE_P: u64 = 1 << 0;
const PTE_W: u64 = 1 << 1;
const PTE_PS: u64 = 1 << 7;

/// An address outside the identity-mapped first GiB: touching it faults.
const FAULT_ADDR: u64 = 0xDEAD_0000;
/// What the demo stores there, and expects to read back.
const MAGIC: u64 = 0x0123_4567_89AB_CDEF;

// ---- Segment selectors: index into the GDT times 8 (RPL 0, GDT) ----

const SEL_CODE32: u16 = 0x08;
const SEL_DATA: u16 = 0x10;
const SEL_CODE64: u16 = 0x18;

// ---- Control registers and MSRs ----

const CR0_PE: u32 = 1 << 0;
const CR0_PG: u32 = 1 << 31;
const CR4_PAE: u32 = 1 << 5;
const MSR_EFER: u32 = 0xC000_0080;
const EFER_LME: u32 = 1 << 8;

// ---- Devices ----

const COM1: u16 = 0x3F8;
const UART_IER: u16 = COM1 + 1;
const UART_FCR: u16 = COM1 + 2;
const UART_LCR: u16 = COM1 + 3;
const UART_LSR: u16 = COM1 + 5;
/// LSR bit 5: the transmitter can take another byte.
const LSR_THRE: u32 = 1 << 5;
const DEBUG_EXIT_PORT: u16 = 0x501;

/// The demo, assembled and laid out.
pub fn demo_image() -> DemoImage {
    // Assembly only fails if this file has a bug, which the unit test below
    // would catch; it does not depend on any input.
    build().expect("the built-in demo assembles")
}

/// Why the demo failed to build: only a bug in this file can cause either.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("assembling the demo failed")]
    Asm(#[from] IcedError),
    #[error("demo part at {addr:#x} is {len:#x} bytes, past its slot end {end:#x}")]
    Overflow { addr: u64, len: usize, end: u64 },
}

fn build() -> Result<DemoImage, BuildError> {
    let parts = [
        (CODE16_ADDR, code16()?),
        (CODE32_ADDR, code32()?),
        (CODE64_ADDR, code64()?),
        (GDT_ADDR, data_area()),
    ];
    let mut bytes = vec![0u8; (IMAGE_END - CODE16_ADDR) as usize];
    for (i, (addr, code)) in parts.iter().enumerate() {
        let start = (addr - CODE16_ADDR) as usize;
        let slot_end = parts.get(i + 1).map_or(IMAGE_END, |next| next.0);
        if addr + code.len() as u64 > slot_end {
            return Err(BuildError::Overflow {
                addr: *addr,
                len: code.len(),
                end: slot_end,
            });
        }
        bytes[start..start + code.len()].copy_from_slice(code);
    }
    Ok(DemoImage {
        bytes,
        load_addr: CODE16_ADDR,
        entry_cs: 0,
        entry_ip: CODE16_ADDR as u16,
    })
}

/// A NUL-terminated line (or line fragment) for the `puts` routines.
fn text(s: &str, newline: bool) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if newline {
        v.push(b'\n');
    }
    v.push(0);
    v
}

/// The GDT, the two pseudo-descriptors (GDTR, IDTR images) and the
/// messages of the 16- and 32-bit parts.
fn data_area() -> Vec<u8> {
    let gdt = [
        // 0x00: the null descriptor; selector 0 means "no segment".
        0,
        // 0x08: 32-bit code, base 0, limit 4 GiB.
        segment_descriptor(0x9A, 0xC),
        // 0x10: data, base 0, limit 4 GiB, writable; also used in 64-bit.
        segment_descriptor(0x92, 0xC),
        // 0x18: 64-bit code: L=1 (and D=0, as L=1 requires).
        segment_descriptor(0x9A, 0xA),
    ];
    let mut bytes: Vec<u8> = gdt.iter().flat_map(|d| d.to_le_bytes()).collect();
    bytes.resize((GDTR_ADDR - GDT_ADDR) as usize, 0);
    // GDTR: limit (size - 1), then the linear base.
    bytes.extend_from_slice(&((gdt.len() * 8 - 1) as u16).to_le_bytes());
    bytes.extend_from_slice(&(GDT_ADDR as u32).to_le_bytes());
    bytes.resize((IDTR_ADDR - GDT_ADDR) as usize, 0);
    // IDTR in 64-bit mode: limit, then an 8-byte base.
    bytes.extend_from_slice(&((IDT_GATES * 16 - 1) as u16).to_le_bytes());
    bytes.extend_from_slice(&IDT_ADDR.to_le_bytes());
    for (addr, msg) in [
        (MSG_REAL_ADDR, MSG_REAL),
        (MSG_PROTECTED_ADDR, MSG_PROTECTED),
    ] {
        bytes.resize((addr - GDT_ADDR) as usize, 0);
        bytes.extend_from_slice(&text(msg, true));
    }
    bytes
}

/// A flat segment descriptor, base 0 and limit 0xFFFFF (SDM Vol. 3A, 3.4.5,
/// Figure 3-8). `access` is byte 5: P(7) DPL(6:5) S(4) type(3:0), e.g. 0x9A =
/// present, DPL 0, code, execute/read. `flags` is the high nibble of byte 6:
/// G(3) D/B(2) L(1) AVL(0); G=1 counts the limit in 4 KiB units.
fn segment_descriptor(access: u8, flags: u8) -> u64 {
    let limit_low = 0xFFFF_u64; // limit bits 15:0, in bits 15:0
    let limit_high = 0xF_u64 << 48; // limit bits 19:16, in bits 51:48
    limit_low | (access as u64) << 40 | limit_high | ((flags & 0xF) as u64) << 52
}

/// `JMP ptr16:16` / `JMP ptr16:32`: the far jump that reloads CS and so
/// switches the processor to the mode the new code descriptor describes.
/// iced's assembler has no mnemonic method for it; the instruction is built
/// directly.
fn far_jump(
    a: &mut CodeAssembler,
    code: Code,
    selector: u16,
    offset: u64,
) -> Result<(), IcedError> {
    a.add_instruction(Instruction::with_far_branch(code, selector, offset as u32)?)
}

// =====================================================================
// Part 1: 16-bit real mode, at 0000:8000.
// =====================================================================

fn code16() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(16)?;
    let mut putc = a.create_label();
    let mut puts = a.create_label();

    // Interrupts off: there is no IDT for real mode's successor yet, and we
    // are about to change modes. Segment registers to 0, so real-mode
    // addresses (segment * 16 + offset) equal physical addresses.
    a.cli()?;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(ss, ax)?;
    a.mov(sp, STACK_TOP as u32)?;

    // Program COM1 the way a BIOS would: no interrupts (we poll), 8 data
    // bits, no parity, one stop bit, divisor 1 (115200 baud), FIFOs on.
    // Setting LCR.DLAB (bit 7) turns ports 0x3F8/0x3F9 into the divisor.
    let uart_setup: [(u16, u32); 6] = [
        (UART_IER, 0x00),
        (UART_LCR, 0x80),
        (COM1, 0x01),
        (COM1 + 1, 0x00),
        (UART_LCR, 0x03),
        (UART_FCR, 0x07),
    ];
    for (port, value) in uart_setup {
        a.mov(dx, port as u32)?;
        a.mov(al, value)?;
        a.out(dx, al)?;
    }

    a.mov(si, MSG_REAL_ADDR as u32)?;
    a.call(puts)?;

    // Step 1: load the GDT register from the 6-byte image at GDTR_ADDR.
    a.lgdt(ptr(GDTR_ADDR))?;
    // Step 2: set CR0.PE. The processor is now in protected mode but CS
    // still holds a real-mode segment until it is reloaded...
    a.mov(eax, cr0)?;
    a.or(eax, CR0_PE)?;
    a.mov(cr0, eax)?;
    // ...by this far jump, which loads CS with the 32-bit code descriptor.
    far_jump(&mut a, Code::Jmp_ptr1616, SEL_CODE32, CODE32_ADDR)?;

    // putc: send AL on COM1 once the transmitter has room. Keeps AX, DX.
    a.set_label(&mut putc)?;
    a.push(dx)?;
    a.push(ax)?;
    a.mov(dx, UART_LSR as u32)?;
    let mut wait = a.create_label();
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, LSR_THRE)?;
    a.jz(wait)?;
    a.pop(ax)?;
    a.mov(dx, COM1 as u32)?;
    a.out(dx, al)?;
    a.pop(dx)?;
    a.ret()?;

    // puts: send the NUL-terminated string at DS:SI. Keeps AX.
    a.set_label(&mut puts)?;
    a.push(ax)?;
    let mut next = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut next)?;
    a.mov(al, byte_ptr(si))?;
    a.test(al, al)?;
    a.jz(done)?;
    a.call(putc)?;
    a.inc(si)?;
    a.jmp(next)?;
    a.set_label(&mut done)?;
    a.pop(ax)?;
    a.ret()?;

    a.assemble(CODE16_ADDR)
}

// =====================================================================
// Part 2: 32-bit protected mode, at 0x08:0x8400.
// =====================================================================

fn code32() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(32)?;
    let mut putc = a.create_label();
    let mut puts = a.create_label();

    // Data segments still hold real-mode values; load the flat data
    // descriptor into all of them, and set up the stack.
    a.mov(ax, SEL_DATA as u32)?;
    for seg in [ds, es, fs, gs, ss] {
        a.mov(seg, ax)?;
    }
    a.mov(esp, STACK_TOP as u32)?;

    a.mov(esi, MSG_PROTECTED_ADDR as u32)?;
    a.call(puts)?;

    // Step 3a: clear the page-table area, one dword at a time.
    a.mov(edi, PML4_ADDR as u32)?;
    a.mov(ecx, (TABLES_LEN / 4) as u32)?;
    a.xor(eax, eax)?;
    let mut clear = a.create_label();
    a.set_label(&mut clear)?;
    a.mov(dword_ptr(edi), eax)?;
    a.add(edi, 4)?;
    a.dec(ecx)?;
    a.jnz(clear)?;

    // Step 3b: link the levels. A 48-bit linear address splits into four
    // 9-bit indices (PML4, PDPT, PD, PT) and a 12-bit offset; each entry
    // holds the physical address of the next table plus flag bits.
    // PML4[0] -> PDPT: covers linear 0 .. 512 GiB.
    a.mov(dword_ptr(PML4_ADDR), (PDPT_ADDR | PTE_P | PTE_W) as u32)?;
    // PDPT[0] -> PD: covers linear 0 .. 1 GiB.
    a.mov(dword_ptr(PDPT_ADDR), (PD_ADDR | PTE_P | PTE_W) as u32)?;
    // PD[i] maps 2 MiB page i onto itself (PS=1: no page table below).
    a.mov(edi, PD_ADDR as u32)?;
    a.mov(eax, (PTE_P | PTE_W | PTE_PS) as u32)?;
    a.mov(ecx, 512)?;
    let mut fill = a.create_label();
    a.set_label(&mut fill)?;
    a.mov(dword_ptr(edi), eax)?; // the upper dword stays 0
    a.add(eax, 0x20_0000)?;
    a.add(edi, 8)?;
    a.dec(ecx)?;
    a.jnz(fill)?;

    // Step 3c: CR3 holds the physical address of the PML4.
    a.mov(eax, PML4_ADDR as u32)?;
    a.mov(cr3, eax)?;
    // CR4.PAE: 64-bit page-table entries (required for IA-32e paging).
    a.mov(eax, cr4)?;
    a.or(eax, CR4_PAE)?;
    a.mov(cr4, eax)?;
    // EFER.LME: ask for IA-32e ("long") mode. RDMSR/WRMSR move the MSR
    // named by ECX through EDX:EAX.
    a.mov(ecx, MSR_EFER)?;
    a.rdmsr()?;
    a.or(eax, EFER_LME)?;
    a.wrmsr()?;
    // CR0.PG: paging on. With LME set this activates IA-32e mode (EFER.LMA
    // becomes 1); this code keeps running as "compatibility mode" because
    // CS still holds a 32-bit descriptor. It survives the switch only
    // because the page it runs from is identity-mapped.
    a.mov(eax, cr0)?;
    a.or(eax, CR0_PG)?;
    a.mov(cr0, eax)?;
    // Step 4: load CS with the L=1 descriptor: 64-bit mode.
    far_jump(&mut a, Code::Jmp_ptr1632, SEL_CODE64, CODE64_ADDR)?;

    // putc / puts as in 16-bit mode, with 32-bit registers.
    a.set_label(&mut putc)?;
    a.push(edx)?;
    a.push(eax)?;
    a.mov(dx, UART_LSR as u32)?;
    let mut wait = a.create_label();
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, LSR_THRE)?;
    a.jz(wait)?;
    a.pop(eax)?;
    a.mov(dx, COM1 as u32)?;
    a.out(dx, al)?;
    a.pop(edx)?;
    a.ret()?;

    a.set_label(&mut puts)?;
    a.push(eax)?;
    let mut next = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut next)?;
    a.mov(al, byte_ptr(esi))?;
    a.test(al, al)?;
    a.jz(done)?;
    a.call(putc)?;
    a.inc(esi)?;
    a.jmp(next)?;
    a.set_label(&mut done)?;
    a.pop(eax)?;
    a.ret()?;

    a.assemble(CODE32_ADDR)
}

// =====================================================================
// Part 3: 64-bit mode, at 0x18:0x8800, with the exception handlers.
// =====================================================================

/// Labels of the 64-bit part's routines and strings.
struct Labels64 {
    putc: CodeLabel,
    puts: CodeLabel,
    puthex: CodeLabel,
    set_gate: CodeLabel,
    fail: CodeLabel,
    unexpected: CodeLabel,
    pf_handler: CodeLabel,
    ud_handler: CodeLabel,
}

fn code64() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut l = Labels64 {
        putc: a.create_label(),
        puts: a.create_label(),
        puthex: a.create_label(),
        set_gate: a.create_label(),
        fail: a.create_label(),
        unexpected: a.create_label(),
        pf_handler: a.create_label(),
        ud_handler: a.create_label(),
    };
    let mut strings: Vec<(CodeLabel, Vec<u8>)> = Vec::new();
    let mut string = |a: &mut CodeAssembler, s: &str, newline: bool| {
        let label = a.create_label();
        strings.push((label, text(s, newline)));
        label
    };
    let msg_long = string(&mut a, MSG_LONG, true);
    let msg_readback = string(&mut a, MSG_READBACK, false);
    let msg_done = string(&mut a, MSG_DONE, true);
    let msg_pf_cr2 = string(&mut a, MSG_PF_CR2, false);
    let msg_pf_error = string(&mut a, MSG_PF_ERROR, false);
    let msg_pf_fixup = string(&mut a, MSG_PF_FIXUP, true);
    let msg_ud = string(&mut a, MSG_UD, true);
    let msg_unexpected = string(&mut a, MSG_UNEXPECTED, true);
    let msg_fail = string(&mut a, MSG_FAIL, true);
    let msg_newline = string(&mut a, "", true);

    // In 64-bit mode segment bases and limits are ignored (except FS/GS
    // bases), but SS and the data registers must still hold something valid.
    a.mov(ax, SEL_DATA as u32)?;
    for seg in [ds, es, ss] {
        a.mov(seg, ax)?;
    }
    a.mov(rsp, STACK_TOP)?;
    // RIP-relative addressing: `lea rsi, [rip + msg]`.
    a.lea(rsi, ptr(msg_long))?;
    a.call(l.puts)?;

    // The IDT: every exception vector goes to `unexpected`, then #UD and
    // #PF get their own handlers. LIDT loads the 10-byte IDTR image.
    a.xor(edi, edi)?;
    let mut gate = a.create_label();
    a.set_label(&mut gate)?;
    a.lea(rax, ptr(l.unexpected))?;
    a.call(l.set_gate)?;
    a.inc(edi)?;
    a.cmp(edi, IDT_GATES as u32)?;
    a.jne(gate)?;
    a.mov(edi, 6)?; // #UD
    a.lea(rax, ptr(l.ud_handler))?;
    a.call(l.set_gate)?;
    a.mov(edi, 14)?; // #PF
    a.lea(rax, ptr(l.pf_handler))?;
    a.call(l.set_gate)?;
    a.lidt(ptr(IDTR_ADDR))?;

    // Page fault: FAULT_ADDR lies outside the mapped first GiB, so this
    // store faults. The #PF handler maps the page and returns to the store,
    // which then completes.
    a.mov(rax, FAULT_ADDR)?;
    a.mov(rbx, MAGIC)?;
    a.mov(qword_ptr(rax), rbx)?;
    // Read it back through the new mapping...
    a.mov(rcx, qword_ptr(rax))?;
    a.cmp(rcx, rbx)?;
    a.jne(l.fail)?;
    // ...and through the identity map of the frame behind it: same bytes.
    a.mov(rdx, FRAME_ADDR)?;
    a.cmp(qword_ptr(rdx), rbx)?;
    a.jne(l.fail)?;
    a.lea(rsi, ptr(msg_readback))?;
    a.call(l.puts)?;
    a.mov(rax, rcx)?;
    a.call(l.puthex)?;
    a.lea(rsi, ptr(msg_newline))?;
    a.call(l.puts)?;

    // Invalid opcode: UD2 is defined to raise #UD. The handler skips it.
    a.ud2()?;

    a.lea(rsi, ptr(msg_done))?;
    a.call(l.puts)?;
    // Tell the emulator we are done: it exits with (EXIT_VALUE << 1) | 1.
    a.mov(dx, DEBUG_EXIT_PORT as u32)?;
    a.mov(eax, EXIT_VALUE)?;
    a.out(dx, eax)?;
    // Not reached under vtdemu. On a machine without the port, stop here.
    let mut dead = a.create_label();
    a.set_label(&mut dead)?;
    a.cli()?;
    a.hlt()?;
    a.jmp(dead)?;

    // fail: report and exit with FAIL_VALUE.
    a.set_label(&mut l.fail)?;
    a.lea(rsi, ptr(msg_fail))?;
    a.call(l.puts)?;
    a.mov(dx, DEBUG_EXIT_PORT as u32)?;
    a.mov(eax, FAIL_VALUE)?;
    a.out(dx, eax)?;
    a.jmp(dead)?;

    // unexpected: any exception the demo did not plan for.
    a.set_label(&mut l.unexpected)?;
    a.lea(rsi, ptr(msg_unexpected))?;
    a.call(l.puts)?;
    a.jmp(l.fail)?;

    pf_handler(&mut a, &mut l, msg_pf_cr2, msg_pf_error, msg_pf_fixup)?;
    ud_handler(&mut a, &mut l, msg_ud)?;
    set_gate(&mut a, &mut l)?;
    print_routines64(&mut a, &mut l)?;

    for (mut label, bytes) in strings {
        a.set_label(&mut label)?;
        a.db(&bytes)?;
    }
    a.assemble(CODE64_ADDR)
}

/// The #PF handler. On entry the processor has pushed (SDM Vol. 3A, 6.14.2,
/// Figure 6-9): SS, RSP, RFLAGS, CS, RIP and an error code, in that order,
/// so the error code is on top. CR2 holds the linear address that faulted.
fn pf_handler(
    a: &mut CodeAssembler,
    l: &mut Labels64,
    msg_cr2: CodeLabel,
    msg_error: CodeLabel,
    msg_fixup: CodeLabel,
) -> Result<(), IcedError> {
    a.set_label(&mut l.pf_handler)?;
    a.push(rax)?;
    a.push(rcx)?;
    a.push(rsi)?;
    // Three pushes: the error code is now at [rsp + 24].
    let error_code = qword_ptr(rsp + 24);

    // Only the planned fault is fixed up; anything else is a bug.
    a.mov(rax, cr2)?;
    a.mov(rcx, FAULT_ADDR)?;
    a.cmp(rax, rcx)?;
    a.jne(l.unexpected)?;

    a.lea(rsi, ptr(msg_cr2))?;
    a.call(l.puts)?;
    a.call(l.puthex)?; // RAX = CR2
    a.lea(rsi, ptr(msg_error))?;
    a.call(l.puts)?;
    // Error code bits (SDM 4.7): P(0)=0 the page was not present, W/R(1)=1
    // it was a write, U/S(2)=0 from supervisor mode.
    a.mov(rax, error_code)?;
    a.call(l.puthex)?;
    a.lea(rsi, ptr(msg_fixup))?;
    a.call(l.puts)?;

    // Map the page: walk the same indices the processor did, from CR2, and
    // fill in the missing entries. PDPT[(CR2 >> 30) & 511] -> PD_HIGH,
    // PD_HIGH[(CR2 >> 21) & 511] -> PT_HIGH, PT_HIGH[(CR2 >> 12) & 511] ->
    // FRAME, a 4 KiB page this time.
    let levels = [
        (30, PDPT_ADDR, PD_HIGH_ADDR),
        (21, PD_HIGH_ADDR, PT_HIGH_ADDR),
        (12, PT_HIGH_ADDR, FRAME_ADDR),
    ];
    for (shift, table, next) in levels {
        a.mov(rax, cr2)?;
        a.shr(rax, shift)?;
        a.and(eax, 511)?;
        a.mov(
            qword_ptr(rax * 8 + table as i32),
            (next | PTE_P | PTE_W) as i32,
        )?;
    }
    // No INVLPG needed: processors never cache a not-present translation
    // (SDM 4.10.2.3), so the retried store walks the tables afresh.

    a.pop(rsi)?;
    a.pop(rcx)?;
    a.pop(rax)?;
    // Drop the error code: IRETQ expects RIP on top of the stack. Returning
    // re-executes the faulting instruction.
    a.add(rsp, 8)?;
    a.iretq()
}

/// The #UD handler. #UD pushes no error code: RIP is on top, and it points
/// at the offending instruction (a fault, not a trap).
fn ud_handler(a: &mut CodeAssembler, l: &mut Labels64, msg: CodeLabel) -> Result<(), IcedError> {
    a.set_label(&mut l.ud_handler)?;
    a.push(rax)?;
    a.push(rsi)?;
    let saved_rip = qword_ptr(rsp + 16);
    // Check it is our UD2 (bytes 0F 0B, read as the little-endian word
    // 0x0B0F); anything else is unexpected.
    a.mov(rax, saved_rip)?;
    a.movzx(eax, word_ptr(rax))?;
    a.cmp(eax, 0x0B0F)?;
    a.jne(l.unexpected)?;
    a.lea(rsi, ptr(msg))?;
    a.call(l.puts)?;
    // Step over the two bytes of UD2, so IRETQ resumes after it.
    a.add(saved_rip, 2)?;
    a.pop(rsi)?;
    a.pop(rax)?;
    a.iretq()
}

/// set_gate: point IDT vector EDI at the handler whose address is in RAX.
/// A 64-bit interrupt gate is 16 bytes (SDM Vol. 3A, 6.14.1, Figure 6-8):
/// offset 15:0, selector, IST and type/attributes, offset 31:16, offset
/// 63:32, reserved.
fn set_gate(a: &mut CodeAssembler, l: &mut Labels64) -> Result<(), IcedError> {
    a.set_label(&mut l.set_gate)?;
    a.push(rax)?;
    a.push(rdx)?;
    a.mov(edx, edi)?;
    a.shl(rdx, 4)?;
    a.add(rdx, IDT_ADDR as i32)?;
    a.mov(word_ptr(rdx), ax)?;
    a.mov(word_ptr(rdx + 2), SEL_CODE64 as u32)?;
    // Byte 4: IST 0 (use the current stack). Byte 5: 0x8E = present, DPL 0,
    // type 0xE (64-bit interrupt gate: IF is cleared on entry).
    a.mov(word_ptr(rdx + 4), 0x8E00)?;
    a.shr(rax, 16)?;
    a.mov(word_ptr(rdx + 6), ax)?;
    a.shr(rax, 16)?;
    a.mov(dword_ptr(rdx + 8), eax)?;
    a.mov(dword_ptr(rdx + 12), 0)?;
    a.pop(rdx)?;
    a.pop(rax)?;
    a.ret()
}

/// putc (AL), puts (RSI, NUL-terminated) and puthex (RAX as 16 hex digits).
/// All keep every register except RSI, which puts advances.
fn print_routines64(a: &mut CodeAssembler, l: &mut Labels64) -> Result<(), IcedError> {
    a.set_label(&mut l.putc)?;
    a.push(rdx)?;
    a.push(rax)?;
    a.mov(dx, UART_LSR as u32)?;
    let mut wait = a.create_label();
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, LSR_THRE)?;
    a.jz(wait)?;
    a.pop(rax)?;
    a.mov(dx, COM1 as u32)?;
    a.out(dx, al)?;
    a.pop(rdx)?;
    a.ret()?;

    a.set_label(&mut l.puts)?;
    a.push(rax)?;
    let mut next = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut next)?;
    a.mov(al, byte_ptr(rsi))?;
    a.test(al, al)?;
    a.jz(done)?;
    a.call(l.putc)?;
    a.inc(rsi)?;
    a.jmp(next)?;
    a.set_label(&mut done)?;
    a.pop(rax)?;
    a.ret()?;

    // puthex: rotate the top nibble into the bottom, print it, 16 times.
    a.set_label(&mut l.puthex)?;
    a.push(rax)?;
    a.push(rbx)?;
    a.push(rcx)?;
    a.mov(rbx, rax)?;
    a.mov(ecx, 16)?;
    let mut digit = a.create_label();
    let mut decimal = a.create_label();
    a.set_label(&mut digit)?;
    a.rol(rbx, 4)?;
    a.mov(eax, ebx)?;
    a.and(eax, 0xF)?;
    a.cmp(eax, 10)?;
    a.jb(decimal)?;
    a.add(eax, (b'A' - 10 - b'0') as u32)?;
    a.set_label(&mut decimal)?;
    a.add(eax, b'0' as u32)?;
    a.call(l.putc)?;
    a.dec(ecx)?;
    a.jnz(digit)?;
    a.pop(rcx)?;
    a.pop(rbx)?;
    a.pop(rax)?;
    a.ret()
}

#[cfg(test)]
mod tests {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind};

    use super::*;

    fn part(image: &DemoImage, addr: u64, len: usize) -> &[u8] {
        let start = (addr - image.load_addr) as usize;
        &image.bytes[start..start + len]
    }

    #[test]
    fn demo_assembles_and_fits_its_slots() {
        let image = build().unwrap();
        assert_eq!(image.load_addr, 0x8000);
        assert_eq!((image.entry_cs, image.entry_ip), (0, 0x8000));
        assert_eq!(image.bytes.len() as u64, IMAGE_END - CODE16_ADDR);
    }

    #[test]
    fn demo_starts_with_cli_in_real_mode() {
        let image = demo_image();
        let mut d = Decoder::with_ip(16, &image.bytes, 0x8000, DecoderOptions::NONE);
        assert_eq!(d.decode().mnemonic(), Mnemonic::Cli);
    }

    #[test]
    fn demo_gdt_descriptors_match_sdm_encodings() {
        let image = demo_image();
        let gdt: Vec<u64> = part(&image, GDT_ADDR, 32)
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(
            gdt,
            [
                0,
                0x00CF_9A00_0000_FFFF,
                0x00CF_9200_0000_FFFF,
                0x00AF_9A00_0000_FFFF
            ]
        );
        assert_eq!(part(&image, GDTR_ADDR, 6), [0x1F, 0, 0x00, 0x90, 0, 0]);
    }

    #[test]
    fn demo_expected_lines_match_values_it_prints() {
        assert_eq!(
            EXPECTED_OUTPUT[3],
            format!(
                "{MSG_PF_CR2}{FAULT_ADDR:016X}{MSG_PF_ERROR}{:016X}{MSG_PF_FIXUP}",
                2
            )
        );
        assert_eq!(EXPECTED_OUTPUT[4], format!("{MSG_READBACK}{MAGIC:016X}"));
        assert_eq!(EXPECTED_EXIT_STATUS, ((EXIT_VALUE << 1) | 1) as i32);
    }

    #[test]
    fn demo_far_jumps_target_the_next_parts() {
        let image = demo_image();
        let far_jumps = |bitness: u32, addr: u64, len: usize| -> Vec<(u16, u32)> {
            Decoder::with_ip(bitness, part(&image, addr, len), addr, DecoderOptions::NONE)
                .into_iter()
                .filter(|i| matches!(i.op0_kind(), OpKind::FarBranch16 | OpKind::FarBranch32))
                .map(|i| (i.far_branch_selector(), i.far_branch32()))
                .collect()
        };
        assert!(far_jumps(16, CODE16_ADDR, 0x100).contains(&(SEL_CODE32, CODE32_ADDR as u32)));
        assert!(far_jumps(32, CODE32_ADDR, 0x100).contains(&(SEL_CODE64, CODE64_ADDR as u32)));
    }
}
