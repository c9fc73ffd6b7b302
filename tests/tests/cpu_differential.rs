//! The CPU differential suite: random instruction sequences on the host CPU
//! and in the interpreter must agree on every GPR, the defined arithmetic
//! flags and DF, and the memory they can touch. One test per instruction
//! class so failures are attributed; each collects up to 20 distinct
//! mismatches (with full reports) before failing.
//!
//! At the default settings the classes run 400,000 cases between them with
//! a fixed seed. `VTDEMU_DIFF_CASES=N` runs N in total, `VTDEMU_DIFF_SEED`
//! another seed, `VTDEMU_DIFF_ONLY=class:index` a single case,
//! `VTDEMU_DIFF_STRICT_FLAGS=1` also compares flags left undefined.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use tests::diff::{run_class, Class};

#[test]
fn arith() {
    run_class(Class::Arith).check();
}

#[test]
fn shift() {
    run_class(Class::Shift).check();
}

#[test]
fn muldiv() {
    run_class(Class::MulDiv).check();
}

#[test]
fn bittest() {
    run_class(Class::BitTest).check();
}

#[test]
fn bitscan() {
    run_class(Class::BitScan).check();
}

#[test]
fn string() {
    run_class(Class::String).check();
}

#[test]
fn atomic() {
    run_class(Class::Atomic).check();
}

#[test]
fn cmov_setcc() {
    run_class(Class::CmovSetcc).check();
}

#[test]
fn branch() {
    run_class(Class::Branch).check();
}

#[test]
fn stack() {
    run_class(Class::Stack).check();
}

#[test]
fn movext() {
    run_class(Class::MovExt).check();
}

#[test]
fn misc() {
    run_class(Class::Misc).check();
}

/// The shares add up to the whole, so the default run is at least 200,000
/// cases spread over every class.
#[test]
fn case_counts_cover_every_class() {
    let total: u64 = Class::ALL.iter().map(|c| c.share()).sum();
    assert_eq!(total, 1000);
    let cfg = tests::diff::Config {
        seed: 0,
        total: tests::diff::driver::DEFAULT_TOTAL,
        only: None,
        strict_flags: false,
        max_reports: 0,
    };
    let cases: u64 = Class::ALL.iter().map(|&c| cfg.cases(c)).sum();
    assert!(cases >= 200_000, "{cases}");
    assert!(Class::ALL.iter().all(|&c| cfg.cases(c) >= 10_000));
}
