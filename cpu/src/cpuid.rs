//! CPUID (SDM Vol. 2, CPUID). The leaves tell one consistent story: an
//! Intel-compatible 64-bit processor with exactly the features this
//! interpreter implements, and nothing it does not.

use crate::state::{cr4, Core};

/// XCR0 components XSETBV accepts: x87 only until SSE state is modelled.
pub(crate) const XCR0_SUPPORTED: u64 = 1;

// CPUID.01H:EDX feature bits (SDM Vol. 2, Table 3-11).
const TSC: u32 = 1 << 4;
const MSR: u32 = 1 << 5;
const PAE: u32 = 1 << 6;
const CX8: u32 = 1 << 8;
const PGE: u32 = 1 << 13;
const CMOV: u32 = 1 << 15;
const PAT: u32 = 1 << 16;
const PSE: u32 = 1 << 3;
const DE: u32 = 1 << 2;
const MTRR: u32 = 1 << 12;
const CLFSH: u32 = 1 << 19;
// CPUID.01H:ECX (Table 3-10).
const CX16: u32 = 1 << 13;
const POPCNT: u32 = 1 << 23;
// CPUID.80000001H.
const LAHF_LM: u32 = 1 << 0;
const ABM: u32 = 1 << 5;
const SYSCALL: u32 = 1 << 11;
const NX: u32 = 1 << 20;
const PDPE1GB: u32 = 1 << 26;
const RDTSCP: u32 = 1 << 27;
const LM: u32 = 1 << 29;

const MAX_BASIC: u32 = 0x1;
const MAX_EXTENDED: u32 = 0x8000_0008;

fn bytes4(s: &[u8]) -> u32 {
    u32::from_le_bytes([s[0], s[1], s[2], s[3]])
}

/// Returns (EAX, EBX, ECX, EDX) for leaf `leaf`, subleaf `sub`.
pub(crate) fn cpuid(cpu: &Core, leaf: u32, _sub: u32) -> (u32, u32, u32, u32) {
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
            // Family 6, model 0x3A (stepping 9): a plain P6-family signature.
            let eax = (0x3 << 16) | (6 << 8) | (0xA << 4) | 9;
            // CLFLUSH line size 8 quadwords, one logical processor, APIC id 0.
            let ebx = (8 << 8) | (1 << 16);
            let ecx = CX16 | POPCNT;
            let edx = TSC | MSR | PAE | CX8 | PGE | CMOV | PAT | PSE | DE | MTRR | CLFSH;
            let _ = cpu.cr4 & cr4::OSXSAVE;
            (eax, ebx, ecx, edx)
        }
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
        // Physical and linear address widths.
        0x8000_0008 => (crate::mmu::MAXPHYADDR | (48 << 8), 0, 0, 0),
        // Leaves above the maximum return the highest basic leaf's values
        // on Intel parts.
        0x8000_0005..=0x8000_0007 => (0, 0, 0, 0),
        _ => cpuid(cpu, MAX_BASIC, 0),
    }
}
