//! x87 FPU, MMX and SSE register state (SDM Vol. 1, chapters 8-11).
//!
//! The x87 data registers are kept as raw 80-bit values (`F80`), so loads
//! and stores of any format that involve no arithmetic round-trip bit for
//! bit, and MMX registers alias their 64-bit significands as on hardware.
//! The instructions live in `exec/simd.rs` and its submodules.

/// An 80-bit extended-precision value: `se` holds the sign (bit 15) and the
/// biased exponent (bits 14:0); `sig` the significand with its explicit
/// integer bit (bit 63).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct F80 {
    pub sig: u64,
    pub se: u16,
}

impl F80 {
    pub const ZERO: F80 = F80 { sig: 0, se: 0 };

    /// As the 128-bit pattern the soft-float code works on.
    #[inline]
    pub fn bits(self) -> u128 {
        ((self.se as u128) << 64) | self.sig as u128
    }

    #[inline]
    pub fn from_bits(b: u128) -> F80 {
        F80 {
            sig: b as u64,
            se: (b >> 64) as u16,
        }
    }
}

/// MXCSR after reset: all exceptions masked, round to nearest.
pub(crate) const MXCSR_DEFAULT: u32 = 0x1F80;
/// MXCSR bits software may set (DAZ supported): FXSAVE's MXCSR_MASK.
pub(crate) const MXCSR_MASK: u32 = 0xFFFF;

/// MXCSR and x87 status-word exception bits (same positions in both).
pub(crate) mod exc {
    pub const IE: u32 = 1 << 0;
    pub const DE: u32 = 1 << 1;
    pub const ZE: u32 = 1 << 2;
    pub const OE: u32 = 1 << 3;
    pub const UE: u32 = 1 << 4;
    pub const PE: u32 = 1 << 5;
}

/// x87 status-word bits (SDM Vol. 1, 8.1.3).
pub(crate) mod fsw {
    pub const SF: u16 = 1 << 6;
    pub const ES: u16 = 1 << 7;
    pub const C0: u16 = 1 << 8;
    pub const C1: u16 = 1 << 9;
    pub const C2: u16 = 1 << 10;
    pub const TOP: u16 = 7 << 11;
    pub const C3: u16 = 1 << 14;
    pub const B: u16 = 1 << 15;
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// The floating-point and vector state FXSAVE/XSAVE cover.
#[derive(Clone, Debug)]
pub(crate) struct FpuState {
    /// XMM0-XMM15, little-endian lanes.
    pub xmm: [u128; 16],
    pub mxcsr: u32,
    /// Physical x87 registers R0-R7 (ST(i) is R[(TOP + i) & 7]); MMi is
    /// the significand of Ri.
    pub st: [F80; 8],
    pub fcw: u16,
    /// Status word including TOP (bits 13:11).
    pub fsw: u16,
    /// Abridged tag word: bit i set when Ri is not empty. The full
    /// two-bit tags are derived from the register contents on demand.
    pub ftag: u8,
    /// Last x87 non-control instruction: opcode (11 bits), instruction
    /// and data pointers.
    pub fop: u16,
    pub fip: u64,
    pub fcs: u16,
    pub fdp: u64,
    pub fds: u16,
}

impl Default for FpuState {
    /// Power-on state (SDM Vol. 3A, Table 9-1): FCW 0040H, FSW 0, tags
    /// 5555H (all registers valid and zero), MXCSR 1F80H.
    fn default() -> FpuState {
        FpuState {
            xmm: [0; 16],
            mxcsr: MXCSR_DEFAULT,
            st: [F80::ZERO; 8],
            fcw: 0x0040,
            fsw: 0,
            ftag: 0xFF,
            fop: 0,
            fip: 0,
            fcs: 0,
            fdp: 0,
            fds: 0,
        }
    }
}

impl FpuState {
    /// The top-of-stack index.
    #[inline(always)]
    pub fn top(&self) -> usize {
        ((self.fsw >> 11) & 7) as usize
    }

    #[inline(always)]
    pub fn set_top(&mut self, top: usize) {
        self.fsw = (self.fsw & !fsw::TOP) | (((top & 7) as u16) << 11);
    }

    /// Physical register number of ST(i).
    #[inline(always)]
    pub fn phys(&self, i: usize) -> usize {
        (self.top() + i) & 7
    }

    /// FNINIT/FINIT state (SDM Vol. 1, 8.1.10): registers keep their
    /// contents, all tags empty.
    pub fn finit(&mut self) {
        self.fcw = 0x037F;
        self.fsw = 0;
        self.ftag = 0;
        self.fop = 0;
        self.fip = 0;
        self.fcs = 0;
        self.fdp = 0;
        self.fds = 0;
    }

    /// Reads MMi.
    #[inline(always)]
    pub fn mm(&self, i: usize) -> u64 {
        self.st[i & 7].sig
    }

    /// Writes MMi: bits 79:64 of the register become all ones.
    #[inline(always)]
    pub fn set_mm(&mut self, i: usize, v: u64) {
        self.st[i & 7] = F80 { sig: v, se: 0xFFFF };
    }

    /// The two-bit tag of physical register `r` (00 valid, 01 zero,
    /// 10 special, 11 empty), derived from its contents.
    pub fn full_tag(&self, r: usize) -> u16 {
        if self.ftag & (1 << r) == 0 {
            return 3;
        }
        let v = self.st[r];
        let e = v.se & 0x7FFF;
        if e == 0x7FFF {
            2
        } else if e == 0 {
            if v.sig == 0 {
                1
            } else {
                2
            }
        } else if v.sig >> 63 == 0 {
            2 // unnormal
        } else {
            0
        }
    }

    /// The full 16-bit tag word (FSTENV/FSAVE).
    pub fn tag_word(&self) -> u16 {
        (0..8).fold(0, |w, r| w | (self.full_tag(r) << (2 * r)))
    }

    /// Loads the full tag word: only "empty" versus "not empty" is kept.
    pub fn set_tag_word(&mut self, w: u16) {
        self.ftag = (0..8).fold(0, |t, r| {
            if (w >> (2 * r)) & 3 == 3 {
                t
            } else {
                t | (1 << r)
            }
        });
    }

    /// Whether the x87 state (XSAVE component 0) is in its initial
    /// configuration (SDM Vol. 1, 13.6).
    pub fn x87_init(&self) -> bool {
        self.fcw == 0x037F
            && self.fsw == 0
            && self.ftag == 0
            && self.fop == 0
            && self.fip == 0
            && self.fcs == 0
            && self.fdp == 0
            && self.fds == 0
            && self.st.iter().all(|r| *r == F80::ZERO)
    }
}
