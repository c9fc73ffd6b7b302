//! Model-specific registers (SDM Vol. 4). Unknown MSRs raise #GP(0), as on
//! hardware; every MSR listed here is one a stock kernel touches.

use crate::fault::{Fault, Res};
use crate::state::{cr0, efer, Core, SegReg};

/// MSR indices (SDM Vol. 4, Table 2-2).
pub(crate) mod index {
    pub const TSC: u32 = 0x10;
    pub const TSC_DEADLINE: u32 = 0x6E0;
    pub const APIC_BASE: u32 = 0x1B;
    pub const MTRRCAP: u32 = 0xFE;
    pub const SYSENTER_CS: u32 = 0x174;
    pub const SYSENTER_EIP: u32 = 0x176;
    pub const PLATFORM_ID: u32 = 0x17;
    pub const ARCH_CAPABILITIES: u32 = 0x10A;
    pub const BIOS_SIGN_ID: u32 = 0x8B;
    pub const MCG_CAP: u32 = 0x179;
    pub const MCG_STATUS: u32 = 0x17A;
    pub const MCG_CTL: u32 = 0x17B;
    /// IA32_MC0_CTL; bank i has CTL, STATUS, ADDR, MISC at 0x400 + 4i.
    pub const MC0_CTL: u32 = 0x400;
    pub const MISC_ENABLE: u32 = 0x1A0;
    pub const MTRR_PHYS_FIRST: u32 = 0x200;
    pub const MTRR_PHYS_LAST: u32 = 0x20F;
    pub const PAT: u32 = 0x277;
    pub const MTRR_DEF_TYPE: u32 = 0x2FF;
    pub const EFER: u32 = 0xC000_0080;
    pub const STAR: u32 = 0xC000_0081;
    pub const LSTAR: u32 = 0xC000_0082;
    pub const CSTAR: u32 = 0xC000_0083;
    pub const SFMASK: u32 = 0xC000_0084;
    pub const FS_BASE: u32 = 0xC000_0100;
    pub const GS_BASE: u32 = 0xC000_0101;
    pub const KERNEL_GS_BASE: u32 = 0xC000_0102;
    pub const TSC_AUX: u32 = 0xC000_0103;
}

/// Fixed-range MTRRs (SDM Vol. 3A, 11.11.2.2).
const MTRR_FIXED: [u32; 11] = [
    0x250, 0x258, 0x259, 0x268, 0x269, 0x26A, 0x26B, 0x26C, 0x26D, 0x26E, 0x26F,
];

/// IA32_ARCH_CAPABILITIES (SDM Vol. 4, Table 2-2): not susceptible to
/// Meltdown (RDCL_NO), SSB, MDS, the page-size-change machine check, TAA,
/// the MMIO stale-data variants, GDS and RFDS; no L1D flush needed.
const ARCH_CAPABILITIES_VALUE: u64 = 1
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 8)
    | (1 << 13)
    | (1 << 14)
    | (1 << 15)
    | (1 << 26)
    | (1 << 27);

/// Machine-check banks reported in IA32_MCG_CAP (SDM Vol. 3B, 16.3.1).
/// They never log an error: this machine has no hardware to fail.
pub(crate) const MC_BANKS: u32 = 10;

#[derive(Clone, Debug)]
pub(crate) struct Msrs {
    /// IA32_MCG_CTL and the banks' IA32_MCi_CTL (enable masks).
    pub mcg_ctl: u64,
    pub mc_ctl: [u64; MC_BANKS as usize],
    pub tsc_offset: u64,
    pub sysenter: [u64; 3],
    pub misc_enable: u64,
    pub mtrr_phys: [u64; 16],
    pub mtrr_fixed: [u64; 11],
    pub mtrr_def_type: u64,
    pub pat: u64,
    pub star: u64,
    pub lstar: u64,
    pub cstar: u64,
    pub sfmask: u64,
    pub kernel_gs_base: u64,
    pub tsc_aux: u64,
    pub mcg_status: u64,
}

impl Default for Msrs {
    fn default() -> Msrs {
        Msrs {
            mcg_ctl: 0,
            mc_ctl: [0; MC_BANKS as usize],
            tsc_offset: 0,
            sysenter: [0; 3],
            // Fast strings enabled (bit 0).
            misc_enable: 1,
            mtrr_phys: [0; 16],
            mtrr_fixed: [0; 11],
            mtrr_def_type: 0,
            // Power-on PAT (SDM Vol. 3A, 11.12.4).
            pat: 0x0007_0406_0007_0406,
            star: 0,
            lstar: 0,
            cstar: 0,
            sfmask: 0,
            kernel_gs_base: 0,
            tsc_aux: 0,
            mcg_status: 0,
        }
    }
}

fn canonical(v: u64) -> bool {
    ((v << 16) as i64 >> 16) as u64 == v
}

/// EFER bits software may write: SCE, LME, NXE (LMA is read-only).
const EFER_WRITABLE: u64 = efer::SCE | efer::LME | efer::NXE;

impl Core {
    /// The time-stamp counter: retired instructions plus the offset a
    /// write to IA32_TIME_STAMP_COUNTER established.
    pub(crate) fn tsc(&self) -> u64 {
        let raw = match &self.time {
            Some((now, hz)) => ((now() as u128 * *hz as u128) / 1_000_000_000) as u64,
            None => self.instret,
        };
        raw.wrapping_add(self.msr.tsc_offset)
    }

    /// MSRs the local APIC answers: IA32_TSC_DEADLINE and the x2APIC range.
    pub(crate) fn is_apic_msr(idx: u32) -> bool {
        idx == index::APIC_BASE || idx == index::TSC_DEADLINE || (0x800..=0x8FF).contains(&idx)
    }

    pub(crate) fn msr_read(&self, idx: u32) -> Option<u64> {
        use index::*;
        let m = &self.msr;
        Some(match idx {
            TSC => self.tsc(),
            MTRRCAP => 0x508, // 8 variable ranges, fixed ranges, write-combining
            SYSENTER_CS..=SYSENTER_EIP => m.sysenter[(idx - SYSENTER_CS) as usize],
            // Platform id (bits 52:50) 0: the microcode loader's match key.
            PLATFORM_ID => 0,
            ARCH_CAPABILITIES => ARCH_CAPABILITIES_VALUE,
            // Microcode revision in the high half: none loaded.
            BIOS_SIGN_ID => 0,
            // Bank count, and MCG_CTL present (bit 8).
            MCG_CAP => MC_BANKS as u64 | (1 << 8),
            MCG_STATUS => m.mcg_status,
            MCG_CTL => m.mcg_ctl,
            i if (MC0_CTL..MC0_CTL + 4 * MC_BANKS).contains(&i) => match (i - MC0_CTL) % 4 {
                0 => m.mc_ctl[((i - MC0_CTL) / 4) as usize],
                _ => 0,
            },
            MISC_ENABLE => m.misc_enable,
            MTRR_PHYS_FIRST..=MTRR_PHYS_LAST => m.mtrr_phys[(idx - MTRR_PHYS_FIRST) as usize],
            PAT => m.pat,
            MTRR_DEF_TYPE => m.mtrr_def_type,
            EFER => self.efer,
            STAR => m.star,
            LSTAR => m.lstar,
            CSTAR => m.cstar,
            SFMASK => m.sfmask,
            FS_BASE => self.seg[SegReg::Fs as usize].base,
            GS_BASE => self.seg[SegReg::Gs as usize].base,
            KERNEL_GS_BASE => m.kernel_gs_base,
            TSC_AUX => m.tsc_aux,
            _ => {
                let i = MTRR_FIXED.iter().position(|&f| f == idx)?;
                m.mtrr_fixed[i]
            }
        })
    }

    /// WRMSR; #GP(0) for unknown MSRs and invalid values.
    pub(crate) fn msr_write(&mut self, idx: u32, v: u64) -> Res {
        use index::*;
        let gp = Err(Fault::GP0);
        match idx {
            TSC => {
                self.msr.tsc_offset = v.wrapping_sub(self.tsc().wrapping_sub(self.msr.tsc_offset))
            }
            SYSENTER_CS..=SYSENTER_EIP => self.msr.sysenter[(idx - SYSENTER_CS) as usize] = v,
            // Writing the signature register asks the CPU to report the
            // loaded microcode revision on the next CPUID; there is none.
            BIOS_SIGN_ID => {}
            MCG_STATUS => self.msr.mcg_status = v,
            MCG_CTL => self.msr.mcg_ctl = v,
            i if (MC0_CTL..MC0_CTL + 4 * MC_BANKS).contains(&i) => match (i - MC0_CTL) % 4 {
                0 => self.msr.mc_ctl[((i - MC0_CTL) / 4) as usize] = v,
                // STATUS, ADDR and MISC accept only zero (SDM 16.3.2.2).
                _ if v != 0 => return gp,
                _ => {}
            },
            MISC_ENABLE => self.msr.misc_enable = v,
            MTRR_PHYS_FIRST..=MTRR_PHYS_LAST => {
                self.msr.mtrr_phys[(idx - MTRR_PHYS_FIRST) as usize] = v
            }
            PAT => {
                // Each of the eight entries must be a valid memory type.
                if (0..8).any(|k| matches!((v >> (k * 8)) & 0xFF, 2 | 3 | 8..=0xFF)) {
                    return gp;
                }
                self.msr.pat = v;
            }
            MTRR_DEF_TYPE => self.msr.mtrr_def_type = v,
            EFER => {
                if v & !(EFER_WRITABLE | efer::LMA) != 0 {
                    return gp;
                }
                // LME cannot change while paging is on.
                if self.cr0 & cr0::PG != 0 && (v ^ self.efer) & efer::LME != 0 {
                    return gp;
                }
                self.efer = (self.efer & efer::LMA) | (v & EFER_WRITABLE);
                self.sync_mode();
            }
            STAR => self.msr.star = v,
            LSTAR | CSTAR | KERNEL_GS_BASE | FS_BASE | GS_BASE if !canonical(v) => return gp,
            LSTAR => self.msr.lstar = v,
            CSTAR => self.msr.cstar = v,
            SFMASK => self.msr.sfmask = v & 0xFFFF_FFFF,
            FS_BASE => self.seg[SegReg::Fs as usize].base = v,
            GS_BASE => self.seg[SegReg::Gs as usize].base = v,
            KERNEL_GS_BASE => self.msr.kernel_gs_base = v,
            TSC_AUX => {
                if v >> 32 != 0 {
                    return gp;
                }
                self.msr.tsc_aux = v
            }
            _ => match MTRR_FIXED.iter().position(|&f| f == idx) {
                Some(i) => self.msr.mtrr_fixed[i] = v,
                None => {
                    tracing::debug!(target: "cpu::msr", index = format_args!("{idx:#x}"), "WRMSR to unknown MSR: #GP");
                    return gp;
                }
            },
        }
        Ok(())
    }
}
