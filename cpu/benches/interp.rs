//! Interpreter throughput against native execution of the same code.
//!
//! Each workload is one position-independent piece of 64-bit machine code
//! (assembled once with iced-x86), run two ways:
//!
//! - `interp`: on a [`cpu::Cpu`] in long mode with paging on, followed by
//!   `hlt`; the array (memory workload) is mapped with 4 KiB pages so that
//!   the software TLB misses;
//! - `native`: the very same bytes copied into an executable host mapping,
//!   between a prologue and an epilogue that follow the System V ABI.
//!
//! The only input besides the code is RSI, the base of the data array: the
//! guest-virtual address in the interpreter, a host buffer natively. Before
//! timing, one run of each checks that both sides end with the same
//! registers and the same array contents.
//!
//! Criterion reports elements/s, an element being one retired guest
//! instruction. After it, a summary of medians measured here (alternating
//! interpreted and native runs) gives the slowdown ratio per workload.
//!
//! Run: `cargo bench -p cpu --bench interp` (a criterion filter after `--`
//! narrows the criterion part; the summary always covers every workload).

#[cfg(all(target_arch = "x86_64", unix))]
mod bench {
    use std::hint::black_box;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use criterion::{Criterion, SamplingMode, Throughput};
    use iced_x86::code_asm::*;
    use mem::{Bus, GuestAddress, GuestRam, RamLayout};
    use memmap2::{Mmap, MmapMut};

    use cpu::{Cpu, NoInterrupts, RunExit, SegReg, Segment};

    /// Guest RAM size.
    const RAM: u64 = 48 << 20;
    const PML4: u64 = 0x1000;
    const PDPT: u64 = 0x2000;
    const PD: u64 = 0x3000;
    /// Page tables for the array region (one per 2 MiB of array).
    const PTS: u64 = 0x8000;
    /// Where the workload's code sits (guest-virtual = guest-physical).
    const CODE: u64 = 0x1_0000;
    /// Initial RSP of the guest.
    const STACK_TOP: u64 = 0x8_0000;
    /// The data array: guest-virtual address, mapped 4 KiB at a time onto
    /// guest-physical `ARRAY_PA`. The two differ by an amount that is not a
    /// multiple of 2 MiB, so the array contents matching the native run
    /// also shows that the accesses went through the 4 KiB PTEs.
    const ARRAY_VA: u64 = 0x100_0000;
    const ARRAY_PA: u64 = 0x120_5000;
    /// Bytes of the array; a power of two (the memory walk masks with it).
    const ARRAY_LEN: u64 = 16 << 20;
    // The array's page tables end before the code.
    const _: () = assert!(PTS + ((ARRAY_LEN >> 21) << 12) <= CODE);
    const _: () = assert!(ARRAY_PA + ARRAY_LEN <= RAM);

    /// Registers compared between the interpreted and the native run: all
    /// but RSP (the stacks differ) and RSI (the array bases differ).
    const COMPARED: [usize; 14] = [0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const REG_NAMES: [&str; 16] = [
        "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15",
    ];

    /// Alternating timed runs per side in the final summary.
    const SUMMARY_RUNS: usize = 11;

    struct Workload {
        name: &'static str,
        what: &'static str,
        /// Position-independent body: starts with all GPRs zero but RSI
        /// (array base) and RSP, falls through at its end.
        code: Vec<u8>,
    }

    /// Assembles `f` at two different bases and checks that the bytes are
    /// the same, i.e. the code is position-independent.
    fn pic(f: fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
        let at = |base: u64| {
            let mut a = CodeAssembler::new(64).unwrap();
            f(&mut a).unwrap();
            a.assemble(base).unwrap()
        };
        let (one, two) = (at(CODE), at(0x7654_3000));
        assert_eq!(one, two, "workload code is not position-independent");
        one
    }

    /// Tight integer loop: 8 instructions an iteration, a realistic mix of
    /// add/xor/imul/lea/shift/sub with loop-carried dependencies.
    fn integer(a: &mut CodeAssembler) -> Result<(), IcedError> {
        const ITERS: u32 = 2_000_000;
        let mut top = a.create_label();
        a.mov(ecx, ITERS)?;
        a.set_label(&mut top)?;
        a.add(rax, rcx)?;
        a.xor(rdx, rax)?;
        a.imul_3(rbx, rax, 3)?;
        a.lea(r8, qword_ptr(rbx + rdx * 2))?;
        a.shr(r8, 3)?;
        a.sub(r9, r8)?;
        a.dec(rcx)?;
        a.jnz(top)?;
        Ok(())
    }

    /// Byte distance between successive accesses of the memory walk: one
    /// page and a cache line, so every access is on a new 4 KiB page and
    /// the walk cycles through all 4096 pages of the array, far more than
    /// the 256 entries of the software TLB.
    const STRIDE: u32 = 4096 + 64;

    /// Memory-heavy loop: a strided walk over the 16 MiB array, one load
    /// and one store (plus a read-modify-write) an iteration.
    fn memory(a: &mut CodeAssembler) -> Result<(), IcedError> {
        const ITERS: u32 = 1_000_000;
        let mut top = a.create_label();
        a.mov(ecx, ITERS)?;
        a.set_label(&mut top)?;
        a.add(ebx, STRIDE)?;
        a.and(ebx, (ARRAY_LEN - 64) as u32)?;
        a.mov(rax, qword_ptr(rsi + rbx))?;
        a.add(rdx, rax)?;
        a.add(rax, rcx)?;
        a.mov(qword_ptr(rsi + rbx + 8), rax)?;
        a.xor(qword_ptr(rsi + rbx + 16), rdx)?;
        a.dec(rcx)?;
        a.jnz(top)?;
        Ok(())
    }

    /// Call/branch-heavy loop: each iteration calls a small function whose
    /// conditional branch follows the loop counter (taken one time in
    /// four), plus a conditional branch in the loop itself.
    fn call_branch(a: &mut CodeAssembler) -> Result<(), IcedError> {
        const ITERS: u32 = 1_000_000;
        let mut start = a.create_label();
        let mut func = a.create_label();
        let mut rare = a.create_label();
        let mut top = a.create_label();
        let mut skip = a.create_label();
        a.jmp(start)?;
        // func(rdi) -> rax
        a.set_label(&mut func)?;
        a.test(dil, 3)?;
        a.jz(rare)?;
        a.lea(rax, qword_ptr(rdi + rdi * 2 + 1))?;
        a.ret()?;
        a.set_label(&mut rare)?;
        a.mov(rax, rdi)?;
        a.shr(rax, 1)?;
        a.ret()?;
        a.set_label(&mut start)?;
        a.mov(ecx, ITERS)?;
        a.set_label(&mut top)?;
        a.mov(rdi, rcx)?;
        a.call(func)?;
        a.add(rbx, rax)?;
        a.cmp(rax, rdx)?;
        a.jb(skip)?;
        a.mov(rdx, rax)?;
        a.set_label(&mut skip)?;
        a.dec(rcx)?;
        a.jnz(top)?;
        Ok(())
    }

    fn workloads() -> Vec<Workload> {
        vec![
            Workload {
                name: "integer",
                what: "tight ALU loop",
                code: pic(integer),
            },
            Workload {
                name: "memory",
                what: "16 MiB strided walk, 4 KiB pages",
                code: pic(memory),
            },
            Workload {
                name: "call_branch",
                what: "call + branches + ret",
                code: pic(call_branch),
            },
        ]
    }

    /// The initial contents of the array (qword `i`).
    fn pattern(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 3)
    }

    fn array_bytes() -> Vec<u8> {
        (0..ARRAY_LEN / 8)
            .flat_map(|i| pattern(i).to_le_bytes())
            .collect()
    }

    // ---- interpreted side ----

    struct Guest {
        cpu: Cpu,
        bus: Arc<Bus>,
    }

    impl Guest {
        fn new() -> Guest {
            let ram = GuestRam::new(RamLayout { low: RAM, high: 0 }, Arc::default()).unwrap();
            let bus = Arc::new(Bus::new(Arc::new(ram)));
            let w = |a: u64, v: u64| bus.write_phys(GuestAddress(a), &v.to_le_bytes());
            w(PML4, PDPT | 3);
            w(PDPT, PD | 3);
            let array_pdes = (ARRAY_VA >> 21)..((ARRAY_VA + ARRAY_LEN) >> 21);
            for k in 0..(RAM >> 21) {
                if array_pdes.contains(&k) {
                    w(PD + 8 * k, (PTS + ((k - array_pdes.start) << 12)) | 3);
                } else {
                    w(PD + 8 * k, (k << 21) | 0x83);
                }
            }
            for p in 0..(ARRAY_LEN >> 12) {
                w(PTS + 8 * p, (ARRAY_PA + (p << 12)) | 3);
            }
            let mut cpu = Cpu::new(bus.clone());
            cpu.cr0 = 0x8001_0033;
            cpu.cr4 = 0x20;
            cpu.efer = 0xD01;
            cpu.cr3 = PML4;
            let data = Segment {
                selector: 0x10,
                base: 0,
                limit: 0xFFFF_FFFF,
                attr: 0xC093,
            };
            for s in [SegReg::Ds, SegReg::Es, SegReg::Ss] {
                cpu.set_segment(s, data);
            }
            cpu.set_segment(
                SegReg::Cs,
                Segment {
                    selector: 8,
                    base: 0,
                    limit: 0xFFFF_FFFF,
                    attr: 0xA09B,
                },
            );
            cpu.sync_mode();
            Guest { cpu, bus }
        }

        fn load(&mut self, code: &[u8]) {
            let mut bytes = code.to_vec();
            bytes.push(0xF4); // hlt
            self.bus.write_phys(GuestAddress(CODE), &bytes);
            self.bus.write_phys(GuestAddress(ARRAY_PA), &array_bytes());
            self.cpu.flush_decode_cache();
        }

        /// One run from the entry point to `hlt`; returns retired
        /// instructions (the `hlt` included).
        fn run(&mut self) -> u64 {
            let cpu = &mut self.cpu;
            cpu.gpr = [0; 16];
            cpu.gpr[4] = STACK_TOP;
            cpu.gpr[6] = ARRAY_VA;
            cpu.rflags = 2;
            cpu.rip = CODE;
            cpu.halted = false;
            let before = cpu.instret;
            let exit = cpu.run(&mut NoInterrupts, u64::MAX);
            assert_eq!(exit, RunExit::Halted, "guest stopped at rip {:#x}", cpu.rip);
            cpu.instret - before
        }

        fn array(&self) -> Vec<u8> {
            let mut v = vec![0; ARRAY_LEN as usize];
            self.bus.read_phys(GuestAddress(ARRAY_PA), &mut v);
            v
        }
    }

    // ---- native side ----

    type NativeFn = unsafe extern "sysv64" fn(base: u64, out: *mut [u64; 16]);

    struct Native {
        _code: Mmap,
        entry: NativeFn,
        array: MmapMut,
    }

    impl Native {
        fn new(body: &[u8]) -> Native {
            // Prologue: save callee-saved registers and the out pointer,
            // RSI = array base, every other GPR but RSP zero.
            let mut a = CodeAssembler::new(64).unwrap();
            for r in [rbx, rbp, r12, r13, r14, r15] {
                a.push(r).unwrap();
            }
            a.push(rsi).unwrap();
            a.mov(rsi, rdi).unwrap();
            for r in [
                eax, ebx, ecx, edx, ebp, edi, r8d, r9d, r10d, r11d, r12d, r13d, r14d, r15d,
            ] {
                a.xor(r, r).unwrap();
            }
            let prologue = a.assemble(0).unwrap();
            // Epilogue: store every GPR to out[], restore, return.
            let mut a = CodeAssembler::new(64).unwrap();
            a.push(rax).unwrap();
            a.mov(rax, qword_ptr(rsp + 8)).unwrap();
            let regs = [
                rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
            ];
            for (i, r) in regs.into_iter().enumerate() {
                a.mov(qword_ptr(rax + 8 * (i as i32 + 1)), r).unwrap();
            }
            a.pop(rcx).unwrap();
            a.mov(qword_ptr(rax), rcx).unwrap();
            a.add(rsp, 8).unwrap();
            for r in [r15, r14, r13, r12, rbp, rbx] {
                a.pop(r).unwrap();
            }
            a.ret().unwrap();
            let epilogue = a.assemble(0).unwrap();

            let all: Vec<u8> = [&prologue[..], body, &epilogue[..]].concat();
            let mut map = MmapMut::map_anon(all.len()).unwrap();
            map[..all.len()].copy_from_slice(&all);
            let code = map.make_exec().unwrap();
            // SAFETY: `code` holds the prologue, the workload and the
            // epilogue assembled above: a complete System V function of
            // this signature that touches only its stack, the 16-qword
            // `out` and the array at `base`; the mapping lives as long as
            // `entry` (both in `Native`).
            let entry = unsafe { std::mem::transmute::<*const u8, NativeFn>(code.as_ptr()) };
            let mut array = MmapMut::map_anon(ARRAY_LEN as usize).unwrap();
            array.copy_from_slice(&array_bytes());
            Native {
                _code: code,
                entry,
                array,
            }
        }

        fn run(&mut self) -> [u64; 16] {
            let mut out = [0u64; 16];
            let base = self.array.as_mut_ptr() as u64;
            // SAFETY: see `new`: the code reads and writes only within the
            // ARRAY_LEN bytes at `base` (offsets are masked to the array)
            // and writes `out`, both live and exclusively borrowed here.
            unsafe { (self.entry)(base, &mut out) };
            out
        }
    }

    // ---- checks, criterion, summary ----

    fn check(w: &Workload, guest: &mut Guest, native: &mut Native) -> u64 {
        guest.load(&w.code);
        let count = guest.run();
        let out = native.run();
        for &i in &COMPARED {
            assert_eq!(
                guest.cpu.gpr[i], out[i],
                "{}: {} differs (interpreted vs native)",
                w.name, REG_NAMES[i]
            );
        }
        assert!(
            guest.array() == native.array[..],
            "{}: array contents differ",
            w.name
        );
        assert_ne!(out[0] | out[3], 0, "{}: workload computed nothing", w.name);
        count
    }

    fn median(v: &mut [Duration]) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    struct Measured {
        name: &'static str,
        what: &'static str,
        insns: u64,
        interp: Duration,
        native: Duration,
    }

    fn summary(rows: &[Measured]) {
        println!();
        println!(
            "Summary (medians of {SUMMARY_RUNS} alternating runs; slowdown = interpreted / native)"
        );
        let h = [
            "workload",
            "guest insns",
            "interp ns",
            "native ns",
            "slowdown",
            "guest MIPS",
            "what",
        ];
        println!(
            "{:<12} {:>11} {:>14} {:>12} {:>9} {:>11}  {}",
            h[0], h[1], h[2], h[3], h[4], h[5], h[6]
        );
        for m in rows {
            let i = m.interp.as_nanos();
            let n = m.native.as_nanos();
            println!(
                "{:<12} {:>11} {:>14} {:>12} {:>8.1}x {:>11.1}  {}",
                m.name,
                m.insns,
                i,
                n,
                i as f64 / n as f64,
                m.insns as f64 / m.interp.as_secs_f64() / 1e6,
                m.what
            );
        }
    }

    pub fn main() {
        // `cargo bench` passes --bench; without it (cargo test --benches)
        // criterion runs each benchmark once and the summary is skipped.
        let bench_mode = std::env::args().any(|a| a == "--bench");
        let mut c = Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();

        let mut guest = Guest::new();
        let mut rows = Vec::new();
        for w in workloads() {
            let mut native = Native::new(&w.code);
            let insns = check(&w, &mut guest, &mut native);
            println!(
                "{}: {} guest instructions a run; interpreted == native",
                w.name, insns
            );

            let mut g = c.benchmark_group(w.name);
            g.throughput(Throughput::Elements(insns))
                .sampling_mode(SamplingMode::Flat);
            g.bench_function("interp", |b| b.iter(|| black_box(guest.run())));
            g.bench_function("native", |b| b.iter(|| black_box(native.run())));
            g.finish();

            if bench_mode {
                let (mut ti, mut tn) = (Vec::new(), Vec::new());
                for _ in 0..SUMMARY_RUNS {
                    let t = Instant::now();
                    black_box(guest.run());
                    ti.push(t.elapsed());
                    let t = Instant::now();
                    black_box(native.run());
                    tn.push(t.elapsed());
                }
                rows.push(Measured {
                    name: w.name,
                    what: w.what,
                    insns,
                    interp: median(&mut ti),
                    native: median(&mut tn),
                });
            }
        }
        c.final_summary();
        if bench_mode {
            summary(&rows);
        }
    }
}

#[cfg(all(target_arch = "x86_64", unix))]
fn main() {
    bench::main();
}

#[cfg(not(all(target_arch = "x86_64", unix)))]
fn main() {
    println!("interp bench: needs an x86-64 Unix host to run the native side; skipped");
}
