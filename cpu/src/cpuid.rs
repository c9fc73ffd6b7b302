//! CPUID (SDM Vol. 2, CPUID). The leaves tell one consistent story: an
//! Intel Family 6 Model 3AH (Ivy Bridge) single-core, single-thread
//! processor with exactly the features this interpreter implements, and
//! nothing it does not: x87, MMX, SSE through SSE4.2, PCLMULQDQ, POPCNT,
//! FXSAVE and XSAVE for the x87 and SSE components; no AVX, no
//! XSAVEOPT/XSAVEC/XSAVES, no AES-NI, no MOVBE.

use crate::state::{cr4, Core};

/// XCR0 components XSETBV accepts: x87 (bit 0) and SSE (bit 1).
pub(crate) const XCR0_SUPPORTED: u64 = 0x3;

// CPUID.01H:EDX feature bits (SDM Vol. 2, Table 3-11).
const FPU: u32 = 1 << 0;
const DE: u32 = 1 << 2;
const PSE: u32 = 1 << 3;
const TSC: u32 = 1 << 4;
const MSR: u32 = 1 << 5;
const PAE: u32 = 1 << 6;
const CX8: u32 = 1 << 8;
const MCE: u32 = 1 << 7;
const APIC: u32 = 1 << 9;
const MTRR: u32 = 1 << 12;
const MCA: u32 = 1 << 14;
const PGE: u32 = 1 << 13;
const CMOV: u32 = 1 << 15;
const PAT: u32 = 1 << 16;
const CLFSH: u32 = 1 << 19;
const MMX: u32 = 1 << 23;
const FXSR: u32 = 1 << 24;
const SSE: u32 = 1 << 25;
const SSE2: u32 = 1 << 26;
// CPUID.01H:ECX (Table 3-10).
const SSE3: u32 = 1 << 0;
const PCLMULQDQ: u32 = 1 << 1;
const SSSE3: u32 = 1 << 9;
const CX16: u32 = 1 << 13;
const TSC_DEADLINE: u32 = 1 << 24;
const SSE4_1: u32 = 1 << 19;
const SSE4_2: u32 = 1 << 20;
const POPCNT: u32 = 1 << 23;
const XSAVE: u32 = 1 << 26;
const OSXSAVE: u32 = 1 << 27;
// CPUID.06H:EAX.
const ARAT: u32 = 1 << 2;
// CPUID.(EAX=7,ECX=0):EDX.
const ARCH_CAPABILITIES: u32 = 1 << 29;
// CPUID.80000001H.
const LAHF_LM: u32 = 1 << 0;
const ABM: u32 = 1 << 5;
const SYSCALL: u32 = 1 << 11;
const NX: u32 = 1 << 20;
const PDPE1GB: u32 = 1 << 26;
const RDTSCP: u32 = 1 << 27;
const LM: u32 = 1 << 29;
// CPUID.80000007H:EDX.
const INVARIANT_TSC: u32 = 1 << 8;

const MAX_BASIC: u32 = 0xD;
const MAX_EXTENDED: u32 = 0x8000_0008;

/// Size of the XSAVE area for the x87 and SSE components: the 512-byte
/// legacy region plus the 64-byte header.
const XSAVE_SIZE: u32 = 576;

fn bytes4(s: &[u8]) -> u32 {
    u32::from_le_bytes([s[0], s[1], s[2], s[3]])
}

/// CPUID.04H subleaf for one cache: type (1 data, 2 instruction,
/// 3 unified), level, ways, sets; 64-byte lines, one partition, shared by
/// one thread, one core per package.
fn cache_leaf(ty: u32, level: u32, ways: u32, sets: u32, inclusive: bool) -> (u32, u32, u32, u32) {
    let eax = ty | (level << 5) | (1 << 8);
    let ebx = ((ways - 1) << 22) | (63);
    (eax, ebx, sets - 1, if inclusive { 1 << 1 } else { 0 })
}

/// Returns (EAX, EBX, ECX, EDX) for leaf `leaf`, subleaf `sub`.
pub(crate) fn cpuid(cpu: &Core, leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    const VENDOR: &[u8; 12] = b"GenuineIntel";
    const BRAND: &[u8; 48] =
        b"vtdemu x86-64 interpreter\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    match leaf {
        0 => (
            MAX_BASIC,
            bytes4(&VENDOR[0..]),
            bytes4(&VENDOR[8..]),
            bytes4(&VENDOR[4..]),
        ),
        1 => {
            // Family 6, model 0x3A (stepping 9): Ivy Bridge.
            let eax = (0x3 << 16) | (6 << 8) | (0xA << 4) | 9;
            // CLFLUSH line size 8 quadwords, one logical processor, APIC id 0.
            let ebx = (8 << 8) | (1 << 16);
            // The local APIC (the machine's) offers the TSC-deadline timer;
            // machine checks report banks that never log. x2APIC waits for
            // interrupt remapping, which Linux wants beside it.
            let mut ecx =
                SSE3 | PCLMULQDQ | SSSE3 | CX16 | SSE4_1 | SSE4_2 | TSC_DEADLINE | POPCNT | XSAVE;
            if cpu.cr4 & cr4::OSXSAVE != 0 {
                ecx |= OSXSAVE;
            }
            let edx = FPU
                | DE
                | PSE
                | TSC
                | MSR
                | PAE
                | MCE
                | CX8
                | APIC
                | MTRR
                | PGE
                | MCA
                | CMOV
                | PAT
                | CLFSH
                | MMX
                | FXSR
                | SSE
                | SSE2;
            (eax, ebx, ecx, edx)
        }
        // Cache and TLB descriptors as an Ivy Bridge reports them; 0xFF
        // refers software to leaf 4 for the caches.
        2 => (0x7603_6301, 0x00F0_B5FF, 0, 0x00C1_0000),
        // Deterministic cache parameters: 32 KiB 8-way L1d and L1i,
        // 256 KiB 8-way L2, 8 MiB 16-way inclusive L3.
        4 => match sub {
            0 => cache_leaf(1, 1, 8, 64, false),
            1 => cache_leaf(2, 1, 8, 64, false),
            2 => cache_leaf(3, 2, 8, 512, false),
            3 => cache_leaf(3, 3, 16, 8192, true),
            _ => (0, 0, 0, 0),
        },
        // Thermal and power management: the APIC timer always runs.
        6 => (ARAT, 0, 0, 0),
        // Structured extended features: none but IA32_ARCH_CAPABILITIES,
        // which reports this processor immune to the speculation bugs an
        // interpreter cannot have.
        7 => match sub {
            0 => (0, 0, 0, ARCH_CAPABILITIES),
            _ => (0, 0, 0, 0),
        },
        // Extended topology: one thread per core, one core per package.
        0xB => match sub {
            0 => (0, 1, 1 << 8, 0),
            1 => (0, 1, 1 | (2 << 8), 0),
            _ => (0, 0, sub & 0xFF, 0),
        },
        // XSAVE: x87 and SSE state in the standard format only.
        0xD => match sub {
            0 => (XCR0_SUPPORTED as u32, XSAVE_SIZE, XSAVE_SIZE, 0),
            _ => (0, 0, 0, 0),
        },
        // Reserved or unimplemented basic leaves (MONITOR, DCA, PMU).
        3 | 5 | 8..=0xA | 0xC => (0, 0, 0, 0),
        0x8000_0000 => (MAX_EXTENDED, 0, 0, 0),
        0x8000_0001 => (0, 0, LAHF_LM | ABM, SYSCALL | NX | PDPE1GB | RDTSCP | LM),
        0x8000_0002..=0x8000_0004 => {
            let o = ((leaf - 0x8000_0002) * 16) as usize;
            let b = &BRAND[o..o + 16];
            (
                bytes4(&b[0..]),
                bytes4(&b[4..]),
                bytes4(&b[8..]),
                bytes4(&b[12..]),
            )
        }
        0x8000_0005 => (0, 0, 0, 0),
        // L2: 256 KiB, 8-way (encoding 6), 64-byte lines.
        0x8000_0006 => (0, 0, (256 << 16) | (6 << 12) | 64, 0),
        0x8000_0007 => (0, 0, 0, INVARIANT_TSC),
        // Physical and linear address widths.
        0x8000_0008 => (crate::mmu::MAXPHYADDR | (48 << 8), 0, 0, 0),
        // Leaves above the maximum return the highest basic leaf's values
        // on Intel parts.
        _ => cpuid(cpu, MAX_BASIC, sub),
    }
}
