//! The HPET Description Table, "HPET" (IA-PC HPET Specification 1.0a,
//! 3.2.4): where the event timer block is and what it is.
//!
//! The Event Timer Block ID repeats the block's General Capabilities and ID
//! register (bits 31:0) so the OS sees the same thing in both places; it
//! is derived from the `devices::hpet` model's timer count and vendor.

use super::sdt::{space, Gas, Sdt};
use super::HPET_ADDR;

pub const REVISION: u8 = 1;
/// Bytes of the table.
pub const LEN: usize = 56;

/// Comparators the board's HPET has (QEMU's default: 3).
pub const HPET_TIMERS: u32 = devices::hpet::HPET_TIMERS as u32;
/// PCI vendor id of the block's maker, in GCAP_ID bits 31:16 (Intel, as
/// QEMU reports).
const VENDOR_ID: u32 = devices::hpet::HPET_VENDOR as u32;
/// GCAP_ID bit 15: the block can route timers 0 and 1 as legacy IRQs.
const LEG_RT_CAP: u32 = 1 << 15;
/// GCAP_ID bit 13: the main counter is 64 bits wide.
const COUNT_SIZE_CAP: u32 = 1 << 13;
/// GCAP_ID bits 7:0: the hardware revision (must not be zero).
const REV_ID: u32 = 1;

/// The Event Timer Block ID: GCAP_ID[31:0] of the block. With three
/// timers this is 0x8086_A201, QEMU's value.
pub const fn event_timer_block_id(timers: u32) -> u32 {
    VENDOR_ID << 16 | LEG_RT_CAP | COUNT_SIZE_CAP | ((timers - 1) & 0x1F) << 8 | REV_ID
}

/// Main counter ticks the OS should not program a periodic timer below
/// (the value many PC firmwares report; QEMU leaves it zero, which Linux
/// ignores either way).
pub const MIN_TICK: u16 = 0x80;

/// The HPET table for the one block at [`HPET_ADDR`].
pub fn build() -> Vec<u8> {
    let base = Gas {
        space: space::SYSTEM_MEMORY,
        bit_width: 64,
        address: HPET_ADDR,
        ..Gas::default()
    };
    let mut t = Sdt::new(*b"HPET", REVISION);
    t.u32(event_timer_block_id(HPET_TIMERS)) // Event Timer Block ID
        .gas(base) // BASE_ADDRESS
        .u8(0) // HPET Number
        .u16(MIN_TICK) // Main Counter Minimum Clock_tick in Periodic Mode
        .u8(0); // Page Protection and OEM Attribute: none
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::sdt::sums_to_zero;

    #[test]
    fn hpet_checksum_and_length_are_right() {
        let t = build();
        assert_eq!(t.len(), LEN);
        assert_eq!(
            u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
            LEN
        );
        assert!(sums_to_zero(&t));
    }

    #[test]
    fn hpet_block_id_and_base_match_qemu() {
        let t = build();
        assert_eq!(
            u32::from_le_bytes(t[36..40].try_into().unwrap()),
            0x8086_A201
        );
        assert_eq!(t[40], 0, "system memory");
        assert_eq!(
            u64::from_le_bytes(t[44..52].try_into().unwrap()),
            0xFED0_0000
        );
        assert_eq!(t[52], 0, "HPET number");
    }
}
