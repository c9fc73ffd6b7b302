//! Runs a case on the host CPU.
//!
//! Each runner owns a "slot": the data, stack and code regions mapped at
//! fixed addresses (`MAP_FIXED_NOREPLACE`), the same virtual addresses the
//! guest uses, so pointers, pushed return addresses and RIP-relative
//! operands mean the same on both sides. The code region holds the case
//! (followed by a jump to the epilogue) and a thunk:
//!
//! - the prologue saves the host's callee-saved registers and RSP in the
//!   context block, loads RFLAGS and all sixteen GPRs from it (RSP last) and
//!   jumps to the case;
//! - the epilogue stores RSP first, switches to a private stack (so PUSHFQ
//!   does not write into the compared stack window), stores RFLAGS and the
//!   other GPRs, clears DF, and returns to Rust.
//!
//! The case never returns through the Rust stack, so it may do anything to
//! any GPR, RSP included.

use std::cell::Cell;
use std::sync::atomic::{compiler_fence, Ordering};
use std::sync::{Mutex, Once};

use iced_x86::code_asm::*;

use super::case::{Layout, Prepared, Regs, CODE_MAX, DATA_LEN, REGION, SPAN, STACK_LEN};

/// Where slots start and how far apart they are. Far below where Linux puts
/// PIE binaries, the heap and mmaps; below 2 GiB so absolute `[disp32]`
/// addresses work.
const SLOT_BASE: u64 = 0x1000_0000;
const SLOT_STRIDE: u64 = 0x100_0000;
const SLOTS: usize = 32;

/// Offsets within the code region.
const EPILOGUE: u64 = 0x1000;
const PROLOGUE: u64 = 0x1200;
const CTX: u64 = 0x2000;
const PRIVATE_STACK_TOP: u64 = 0x4000;

/// Context block layout: 16 GPRs, RFLAGS, host RSP.
const CTX_RFLAGS: u64 = 16 * 8;
const CTX_HOST_RSP: u64 = 17 * 8;

static USED: Mutex<u32> = Mutex::new(0);

thread_local! {
    /// While a case runs on this thread: the text to print if it faults.
    static NOTE: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

const FAULT_SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The handlers that were installed before ours (Rust's stack-overflow
/// detector for SIGSEGV/SIGBUS).
static mut PREVIOUS: [Option<libc::sigaction>; 4] = [None; 4];

extern "C" fn on_fault(sig: libc::c_int, _info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let (ptr, len) = NOTE.with(|n| n.get());
    let idx = FAULT_SIGNALS.iter().position(|&s| s == sig).unwrap_or(0);
    // SAFETY: `ptr..ptr+len` is the note string the running case's runner
    // owns (set just before the case ran); write(2) and sigaction(2) are
    // async-signal-safe. PREVIOUS was written once, before any handler ran.
    unsafe {
        if !ptr.is_null() {
            let head =
                b"\n*** the host faulted while running a differential case (a generator bug):\n";
            libc::write(2, head.as_ptr().cast(), head.len());
            libc::write(2, ptr.cast(), len);
            libc::write(2, b"\n".as_ptr().cast(), 1);
        }
        // Put back whatever was there; returning re-executes the faulting
        // instruction, which then takes the previous (usually fatal) path.
        match (*std::ptr::addr_of!(PREVIOUS))[idx] {
            Some(prev) => libc::sigaction(sig, &prev, std::ptr::null_mut()),
            None => libc::signal(sig, libc::SIG_DFL) as libc::c_int,
        };
    }
}

fn install_fault_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (i, &sig) in FAULT_SIGNALS.iter().enumerate() {
            // SAFETY: installs a handler that only uses async-signal-safe
            // calls; runs once, before any case, so PREVIOUS is not read
            // concurrently. SA_ONSTACK uses the alternate stack Rust sets up
            // for each thread (the case may have left RSP anywhere).
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_fault as *const () as usize;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut act.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &act, &mut old) == 0 {
                    (*std::ptr::addr_of_mut!(PREVIOUS))[i] = Some(old);
                }
            }
        }
    });
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub regs: Regs,
    pub data: Vec<u8>,
    pub stack: Vec<u8>,
}

pub struct HostRunner {
    layout: Layout,
    slot: usize,
    /// Printed if the host faults while running a case.
    note: String,
}

impl std::fmt::Debug for HostRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HostRunner(slot {} at {:#x})",
            self.slot, self.layout.base
        )
    }
}

fn assemble(build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>, ip: u64) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).expect("64-bit assembler");
    build(&mut a).expect("thunk assembles");
    a.assemble(ip).expect("thunk encodes")
}

impl HostRunner {
    /// Maps a free slot and writes the thunk into it.
    pub fn new() -> Result<HostRunner, String> {
        let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
        let mut last_err = String::from("no free slot");
        for slot in 0..SLOTS {
            if *used & (1 << slot) != 0 {
                continue;
            }
            let base = SLOT_BASE + slot as u64 * SLOT_STRIDE;
            // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping;
            // the new anonymous mapping is private to this runner.
            let p = unsafe {
                libc::mmap(
                    base as *mut libc::c_void,
                    SPAN as usize,
                    libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                last_err = format!("mmap at {base:#x}: {}", std::io::Error::last_os_error());
                continue;
            }
            if p as u64 != base {
                // A kernel without MAP_FIXED_NOREPLACE treats it as a hint.
                // SAFETY: `p` is the mapping just created, of SPAN bytes.
                unsafe { libc::munmap(p, SPAN as usize) };
                last_err = format!("mmap at {base:#x} landed at {p:p}");
                continue;
            }
            *used |= 1 << slot;
            let runner = HostRunner {
                layout: Layout { base },
                slot,
                note: String::new(),
            };
            runner.write_thunk();
            return Ok(runner);
        }
        Err(last_err)
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Text to print should the host fault while running the next cases
    /// (which case it is and how to re-run it).
    pub fn set_note(&mut self, note: String) {
        self.note = note;
    }

    fn code(&self) -> u64 {
        self.layout.code()
    }

    fn write_bytes(&self, addr: u64, bytes: &[u8]) {
        assert!(addr >= self.layout.base && addr + bytes.len() as u64 <= self.layout.base + SPAN);
        // SAFETY: the range is inside this runner's own mapping (checked
        // above), which nothing else references.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
    }

    fn read_bytes(&self, addr: u64, len: usize) -> Vec<u8> {
        assert!(addr >= self.layout.base && addr + len as u64 <= self.layout.base + SPAN);
        let mut v = vec![0u8; len];
        // SAFETY: as in `write_bytes`.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, v.as_mut_ptr(), len) };
        v
    }

    fn write_thunk(&self) {
        let ctx = self.code() + CTX;
        let slot = |i: usize| qword_ptr(ctx + 8 * i as u64);
        let regs = [
            rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
        ];
        let epilogue = assemble(
            |a| {
                a.mov(slot(4), rsp)?;
                a.mov(rsp, self.code() + PRIVATE_STACK_TOP)?;
                a.pushfq()?;
                a.pop(qword_ptr(ctx + CTX_RFLAGS))?;
                a.cld()?;
                for (i, r) in regs.iter().enumerate() {
                    if i != 4 {
                        a.mov(slot(i), *r)?;
                    }
                }
                a.mov(rsp, qword_ptr(ctx + CTX_HOST_RSP))?;
                for r in [r15, r14, r13, r12, rbp, rbx] {
                    a.pop(r)?;
                }
                a.ret()
            },
            self.code() + EPILOGUE,
        );
        let case = self.code();
        let prologue = assemble(
            |a| {
                for r in [rbx, rbp, r12, r13, r14, r15] {
                    a.push(r)?;
                }
                a.mov(qword_ptr(ctx + CTX_HOST_RSP), rsp)?;
                a.push(qword_ptr(ctx + CTX_RFLAGS))?;
                a.popfq()?;
                for (i, r) in regs.iter().enumerate() {
                    if i != 4 {
                        a.mov(*r, slot(i))?;
                    }
                }
                a.mov(rsp, slot(4))?;
                a.jmp(case)
            },
            self.code() + PROLOGUE,
        );
        assert!(epilogue.len() < (PROLOGUE - EPILOGUE) as usize);
        self.write_bytes(self.code() + EPILOGUE, &epilogue);
        self.write_bytes(self.code() + PROLOGUE, &prologue);
    }

    /// Runs a prepared case and returns the final registers and windows.
    pub fn run(&mut self, p: &Prepared) -> Outcome {
        assert!(p.code.len() <= CODE_MAX);
        let l = self.layout;
        self.write_bytes(l.data(), &p.case.data);
        self.write_bytes(l.stack(), &p.case.stack);
        let mut code = p.code.clone();
        let end = l.code() + code.len() as u64 + 5;
        let rel = (l.code() + EPILOGUE).wrapping_sub(end) as i32;
        code.push(0xE9);
        code.extend_from_slice(&rel.to_le_bytes());
        self.write_bytes(l.code(), &code);
        let mut ctx = [0u8; 8 * 18];
        for (i, v) in p
            .case
            .init
            .gpr
            .iter()
            .chain([&p.case.init.rflags])
            .enumerate()
        {
            ctx[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        self.write_bytes(l.code() + CTX, &ctx);
        install_fault_handler();
        let hex: String = p.code.iter().map(|b| format!("{b:02x}")).collect();
        let note = format!("{}\n  code bytes at {:#x}: {hex}", self.note, l.code());
        NOTE.with(|n| n.set((note.as_ptr(), note.len())));
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the prologue at this address was written by
        // `write_thunk`; it preserves the callee-saved registers and the
        // host stack, runs the case (generated so that every memory access
        // stays inside this runner's mapping and nothing faults) and returns
        // with DF clear, as the System V ABI expects of a function call.
        unsafe {
            let ptr = (l.code() + PROLOGUE) as *const ();
            let entry = std::mem::transmute::<*const (), extern "sysv64" fn()>(ptr);
            entry();
        }
        compiler_fence(Ordering::SeqCst);
        NOTE.with(|n| n.set((std::ptr::null(), 0)));
        drop(note);
        let ctx = self.read_bytes(l.code() + CTX, 8 * 17);
        let q = |i: usize| u64::from_le_bytes(ctx[i * 8..i * 8 + 8].try_into().unwrap());
        let mut regs = Regs::default();
        for (i, r) in regs.gpr.iter_mut().enumerate() {
            *r = q(i);
        }
        regs.rflags = q(16);
        Outcome {
            regs,
            data: self.read_bytes(l.data(), DATA_LEN),
            stack: self.read_bytes(l.stack(), STACK_LEN),
        }
    }
}

/// A second host runner as the target: checks the harness itself (every
/// case must come out the same twice).
impl super::compare::Target for HostRunner {
    fn name(&self) -> &'static str {
        "host2"
    }
    fn run(&mut self, p: &Prepared) -> super::compare::TargetOutcome {
        super::compare::TargetOutcome {
            out: HostRunner::run(self, p),
            exit: super::compare::Exit::Normal,
        }
    }
}

impl Drop for HostRunner {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` created.
        unsafe { libc::munmap(self.layout.base as *mut libc::c_void, SPAN as usize) };
        let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
        *used &= !(1 << self.slot);
    }
}

const _: () = assert!(REGION >= 0x10000);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::case::{fl, Case, STACK_INIT};
    use iced_x86::{Code, Instruction, MemoryOperand, Register};

    fn case(insns: Vec<Instruction>, init: Regs) -> Case {
        Case {
            insns,
            init,
            data: (0..DATA_LEN).map(|i| i as u8).collect(),
            stack: vec![0xAA; STACK_LEN],
            fixups: Vec::new(),
            straight: true,
        }
    }

    fn init(layout: Layout) -> Regs {
        let mut r = Regs {
            gpr: [0; 16],
            rflags: fl::FIXED1 | fl::IF,
        };
        r.gpr[4] = layout.rsp0();
        r
    }

    #[test]
    fn add_sets_result_and_flags() {
        let mut h = HostRunner::new().unwrap();
        let l = h.layout();
        let mut regs = init(l);
        regs.gpr[0] = 0x7FFF_FFFF_FFFF_FFFF;
        regs.gpr[3] = 1;
        regs.gpr[9] = 0xDEAD;
        let ins = Instruction::with2(Code::Add_rm64_r64, Register::RAX, Register::RBX).unwrap();
        let p = case(vec![ins], regs).prepare(&l).unwrap();
        let out = h.run(&p);
        assert_eq!(out.regs.gpr[0], 0x8000_0000_0000_0000);
        assert_eq!(out.regs.gpr[3], 1);
        assert_eq!(out.regs.gpr[9], 0xDEAD);
        assert_eq!(out.regs.gpr[4], l.rsp0());
        let f = out.regs.rflags;
        assert_eq!(f & (fl::OF | fl::SF | fl::ZF | fl::CF), fl::OF | fl::SF);
        assert_eq!(out.data, p.case.data);
        assert_eq!(out.stack, p.case.stack);
    }

    #[test]
    fn stack_memory_rsp_and_df() {
        let mut h = HostRunner::new().unwrap();
        let l = h.layout();
        let mut regs = init(l);
        regs.gpr[0] = 0x1122_3344_5566_7788;
        regs.gpr[3] = l.data() + 0x100;
        regs.rflags |= fl::DF | fl::CF;
        let insns = vec![
            Instruction::with1(Code::Push_r64, Register::RAX).unwrap(),
            Instruction::with1(Code::Pop_r64, Register::RCX).unwrap(),
            Instruction::with2(
                Code::Mov_rm32_r32,
                MemoryOperand::with_base_displ(Register::RBX, 8),
                Register::EAX,
            )
            .unwrap(),
            Instruction::with2(Code::Mov_r64_imm64, Register::RSP, 0x1234u64).unwrap(),
        ];
        let p = case(insns, regs).prepare(&l).unwrap();
        let out = h.run(&p);
        assert_eq!(out.regs.gpr[1], 0x1122_3344_5566_7788);
        assert_eq!(out.regs.gpr[4], 0x1234);
        assert_eq!(out.regs.rflags & (fl::DF | fl::CF), fl::DF | fl::CF);
        let s = (STACK_INIT - 8) as usize;
        assert_eq!(
            &out.stack[s..s + 8],
            &0x1122_3344_5566_7788u64.to_le_bytes()
        );
        assert_eq!(&out.data[0x108..0x10C], &0x5566_7788u32.to_le_bytes());
        assert_eq!(out.data[0x10C], 0x0C);
        // Rust code still runs fine after the case left DF set.
        let v: Vec<u8> = (0..100u8).collect();
        let w = v.clone();
        assert_eq!(v, w);
    }

    /// The harness checking itself: every class's cases run natively
    /// without faulting, and twice in a row give the same result (nothing
    /// depends on state outside the case).
    #[test]
    fn every_class_runs_natively_and_repeatably() {
        use crate::diff::driver::make_case;
        use crate::diff::gen::{generator, Class};
        let mut h = HostRunner::new().unwrap();
        let l = h.layout();
        for class in Class::ALL {
            let g = generator(class);
            for i in 0..300 {
                let p = make_case(&*g, 0x5EED, class, i, l);
                let a = h.run(&p);
                let b = h.run(&p);
                assert_eq!(a, b, "{} case {i}", class.name());
            }
        }
    }

    #[test]
    fn two_runners_coexist() {
        let a = HostRunner::new().unwrap();
        let b = HostRunner::new().unwrap();
        assert_ne!(a.layout(), b.layout());
    }
}
