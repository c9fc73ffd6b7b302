//! Memory sizes as a user writes them: `64M`, `2G`, `512K`.

use mem::{RamLayout, PAGE_SIZE};

use crate::LOW_RAM_LIMIT;

/// Why a memory size was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("'{0}' is not a size: write a number with a K, M or G suffix, e.g. 64M")]
    Syntax(String),
    #[error("memory size must not be zero")]
    Zero,
    #[error("'{0}' is too large: at most 1T (1024G) of guest memory is supported")]
    TooLarge(String),
    #[error("'{0}' is not a multiple of 4K, the page size")]
    NotPageMultiple(String),
}

/// Parses a guest memory size. The suffixes K, M and G (either case) are
/// binary: 1K = 1024 bytes. A bare number means MiB, as QEMU's `-m` does.
/// The result is a non-zero multiple of 4 KiB that `mem` can map.
pub fn parse_memory_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let shift = match suffix {
        "" | "M" | "m" => 20,
        "K" | "k" => 10,
        "G" | "g" => 30,
        _ => return Err(SizeError::Syntax(text.into())),
    };
    if number.is_empty() {
        return Err(SizeError::Syntax(text.into()));
    }
    // Digits only, so the one way `parse` can fail is by overflowing.
    let count: u64 = number
        .parse()
        .map_err(|_| SizeError::TooLarge(text.into()))?;
    if count == 0 {
        return Err(SizeError::Zero);
    }
    let bytes = count
        .checked_mul(1 << shift)
        .ok_or_else(|| SizeError::TooLarge(text.into()))?;
    if bytes % PAGE_SIZE != 0 {
        return Err(SizeError::NotPageMultiple(text.into()));
    }
    // Let `mem` apply its own limit, so the two can never disagree.
    RamLayout::split(bytes, LOW_RAM_LIMIT).map_err(|_| SizeError::TooLarge(text.into()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_suffixes_are_binary() {
        assert_eq!(parse_memory_size("64M"), Ok(64 << 20));
        assert_eq!(parse_memory_size("512k"), Ok(512 << 10));
        assert_eq!(parse_memory_size("2G"), Ok(2 << 30));
    }

    #[test]
    fn size_without_suffix_is_mib() {
        assert_eq!(parse_memory_size("128"), Ok(128 << 20));
    }

    #[test]
    fn size_zero_is_rejected() {
        assert_eq!(parse_memory_size("0"), Err(SizeError::Zero));
        assert_eq!(parse_memory_size("0G"), Err(SizeError::Zero));
    }

    #[test]
    fn size_with_unknown_suffix_or_no_digits_is_rejected() {
        for bad in ["5Q", "", "M", "1.5G", "-1M", "64MB", "0x10M"] {
            assert!(
                matches!(parse_memory_size(bad), Err(SizeError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn size_too_large_or_overflowing_is_rejected() {
        for bad in ["2048G", "99999999999999999999", "18446744073709551615G"] {
            assert!(
                matches!(parse_memory_size(bad), Err(SizeError::TooLarge(_))),
                "{bad}"
            );
        }
        assert_eq!(parse_memory_size("1024G"), Ok(1 << 40));
    }

    #[test]
    fn size_below_page_granularity_is_rejected() {
        assert!(matches!(
            parse_memory_size("5K"),
            Err(SizeError::NotPageMultiple(_))
        ));
    }
}
