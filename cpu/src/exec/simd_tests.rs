//! Unit tests of the x87, MMX and SSE instructions: architectural checks
//! and exceptions, state save/restore layouts, MMX/x87 aliasing, the x87
//! stack, and the parts the host differential tests cannot reach.

use iced_x86::code_asm::*;
use iced_x86::{Decoder, DecoderOptions};

use crate::block::Decoded;
use crate::exec::string::tests::machine64;
use crate::fault::{Fault, Res};
use crate::fpu::{F80, MXCSR_DEFAULT};
use crate::state::{cr0, cr4, rflags};
use crate::vector;
use crate::Cpu;

const MEM: u64 = 0x4000;

fn cpu() -> Cpu {
    let mut c = machine64();
    c.cr0 |= cr0::MP | cr0::NE;
    c.cr4 |= cr4::OSFXSR | cr4::OSXMMEXCPT;
    c.gpr[6] = MEM;
    c
}

fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.assemble(0x1000).unwrap()
}

/// Runs every instruction of `code`, stopping at the first fault.
fn run(cpu: &mut Cpu, code: &[u8]) -> Res {
    let mut pos = 0;
    cpu.rip = 0x1000;
    while pos < code.len() {
        let i = Decoder::with_ip(64, &code[pos..], cpu.rip, DecoderOptions::NONE).decode();
        assert!(!i.is_invalid());
        pos += i.len();
        let d = Decoded::new(i);
        cpu.rip = d.i.next_ip();
        (d.exec)(cpu, &d)?;
    }
    Ok(())
}

fn go(cpu: &mut Cpu, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Res {
    let code = asm(f);
    run(cpu, &code)
}

fn poke(cpu: &Cpu, addr: u64, bytes: &[u8]) {
    for (k, b) in bytes.iter().enumerate() {
        cpu.ram.store(addr + k as u64, 1, *b as u64);
    }
}

fn peek(cpu: &Cpu, addr: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| cpu.ram.load(addr + k as u64, 1) as u8)
        .collect()
}

fn peek64(cpu: &Cpu, addr: u64) -> u64 {
    cpu.ram.load(addr, 8)
}

const NM: Fault = Fault::new(vector::NM);
const MF: Fault = Fault::new(vector::MF);
const XM: Fault = Fault::new(vector::XM);

fn f80(v: f64) -> u128 {
    let mut c = super::softfloat::Ctx::x87(0x37F);
    super::softfloat::convert(
        &mut c,
        super::softfloat::F64,
        super::softfloat::X80,
        v.to_bits() as u128,
    )
}

fn st(cpu: &Cpu, i: usize) -> u128 {
    cpu.fpu.st[cpu.fpu.phys(i)].bits()
}

// ---------------------------------------------------------------------
// Architectural checks.

#[test]
fn sse_checks_follow_cr0_and_cr4() {
    let mut c = cpu();
    let addps = asm(|a| a.addps(xmm0, xmm1));
    c.cr4 &= !cr4::OSFXSR;
    assert_eq!(run(&mut c, &addps), Err(Fault::UD));
    c.cr4 |= cr4::OSFXSR;
    c.cr0 |= cr0::EM;
    assert_eq!(run(&mut c, &addps), Err(Fault::UD));
    c.cr0 &= !cr0::EM;
    c.cr0 |= cr0::TS;
    assert_eq!(run(&mut c, &addps), Err(NM));
    // x87: #NM for EM or TS; FWAIT only with MP and TS.
    assert_eq!(go(&mut c, |a| a.fld1()), Err(NM));
    assert_eq!(go(&mut c, |a| a.wait()), Err(NM));
    c.cr0 &= !cr0::MP;
    assert_eq!(go(&mut c, |a| a.wait()), Ok(()));
    c.cr0 &= !cr0::TS;
    c.cr0 |= cr0::EM;
    assert_eq!(go(&mut c, |a| a.fld1()), Err(NM));
    // MMX: #UD with EM, #NM with TS.
    assert_eq!(go(&mut c, |a| a.paddb(mm0, mm1)), Err(Fault::UD));
    c.cr0 &= !cr0::EM;
    c.cr0 |= cr0::TS;
    assert_eq!(go(&mut c, |a| a.paddb(mm0, mm1)), Err(NM));
    c.cr0 &= !cr0::TS;
    assert_eq!(run(&mut c, &addps), Ok(()));
}

#[test]
fn misaligned_16_byte_operands() {
    let mut c = cpu();
    c.gpr[6] = MEM + 8;
    assert_eq!(
        go(&mut c, |a| a.movaps(xmm0, xmmword_ptr(rsi))),
        Err(Fault::GP0)
    );
    assert_eq!(
        go(&mut c, |a| a.paddb(xmm0, xmmword_ptr(rsi))),
        Err(Fault::GP0)
    );
    assert_eq!(
        go(&mut c, |a| a.movaps(xmmword_ptr(rsi), xmm0)),
        Err(Fault::GP0)
    );
    assert_eq!(go(&mut c, |a| a.movups(xmm0, xmmword_ptr(rsi))), Ok(()));
    assert_eq!(go(&mut c, |a| a.movdqu(xmmword_ptr(rsi), xmm0)), Ok(()));
    assert_eq!(go(&mut c, |a| a.lddqu(xmm0, xmmword_ptr(rsi))), Ok(()));
    // Narrower operands have no alignment requirement.
    assert_eq!(go(&mut c, |a| a.addsd(xmm0, qword_ptr(rsi + 1))), Ok(()));
    assert_eq!(go(&mut c, |a| a.fxsave64(ptr(rsi))), Err(Fault::GP0));
    c.cr4 |= cr4::OSXSAVE;
    c.gpr[6] = MEM + 16;
    assert_eq!(go(&mut c, |a| a.xsave64(ptr(rsi))), Err(Fault::GP0));
}

#[test]
fn unmasked_simd_exception_raises_xm_and_keeps_destination() {
    let mut c = cpu();
    c.fpu.xmm[0] = 1.0f32.to_bits() as u128;
    c.fpu.xmm[1] = 0;
    c.fpu.mxcsr = MXCSR_DEFAULT & !(1 << 9); // unmask ZE
    assert_eq!(go(&mut c, |a| a.divss(xmm0, xmm1)), Err(XM));
    assert_eq!(c.fpu.xmm[0], 1.0f32.to_bits() as u128);
    assert_eq!(c.fpu.mxcsr & 0x3F, 1 << 2);
    // Without OSXMMEXCPT: #UD.
    c.cr4 &= !cr4::OSXMMEXCPT;
    assert_eq!(go(&mut c, |a| a.divss(xmm0, xmm1)), Err(Fault::UD));
    // Masked: infinity and the sticky flag.
    c.fpu.mxcsr = MXCSR_DEFAULT;
    assert_eq!(go(&mut c, |a| a.divss(xmm0, xmm1)), Ok(()));
    assert_eq!(c.fpu.xmm[0] as u32, f32::INFINITY.to_bits());
    assert_eq!(c.fpu.mxcsr, MXCSR_DEFAULT | 4);
}

#[test]
fn ldmxcsr_rejects_reserved_bits() {
    let mut c = cpu();
    poke(&c, MEM, &0x1_0000u32.to_le_bytes());
    assert_eq!(go(&mut c, |a| a.ldmxcsr(dword_ptr(rsi))), Err(Fault::GP0));
    poke(&c, MEM, &0xFFC0u32.to_le_bytes());
    assert_eq!(go(&mut c, |a| a.ldmxcsr(dword_ptr(rsi))), Ok(()));
    assert_eq!(c.fpu.mxcsr, 0xFFC0);
    go(&mut c, |a| a.stmxcsr(dword_ptr(rsi + 4))).unwrap();
    assert_eq!(peek(&c, MEM + 4, 4), 0xFFC0u32.to_le_bytes());
}

#[test]
fn vex_and_unimplemented_extensions_are_undefined() {
    let mut c = cpu();
    assert_eq!(go(&mut c, |a| a.vaddps(xmm0, xmm1, xmm2)), Err(Fault::UD));
    assert_eq!(go(&mut c, |a| a.aesenc(xmm0, xmm1)), Err(Fault::UD));
}

#[test]
fn string_and_sse_movsd_cmpsd_are_distinguished() {
    let mut c = cpu();
    c.fpu.xmm[1] = 0x1122_3344_5566_7788_99AA_BBCC_DDEE_FF00;
    go(&mut c, |a| a.movsd_2(xmm0, xmm1)).unwrap();
    assert_eq!(c.fpu.xmm[0], 0x99AA_BBCC_DDEE_FF00);
    // The string MOVSD moves a dword from [rsi] to [rdi].
    c.gpr[7] = MEM + 0x100;
    poke(&c, MEM, &[1, 2, 3, 4]);
    go(&mut c, |a| a.movsd()).unwrap();
    assert_eq!(peek(&c, MEM + 0x100, 4), [1, 2, 3, 4]);
    c.fpu.xmm[0] = 1.0f64.to_bits() as u128;
    c.fpu.xmm[1] = 2.0f64.to_bits() as u128;
    go(&mut c, |a| a.cmpsd_3(xmm0, xmm1, 1)).unwrap();
    assert_eq!(c.fpu.xmm[0], u64::MAX as u128);
}

// ---------------------------------------------------------------------
// FXSAVE, XSAVE.

fn fill_state(c: &mut Cpu) {
    for i in 0..16 {
        c.fpu.xmm[i] = 0x0101_0101_0101_0101_0101_0101_0101_0101u128 * (i as u128 + 1);
    }
    c.fpu.mxcsr = 0x9FC1;
    c.fpu.fcw = 0x027F;
    c.fpu.set_top(3);
    c.fpu.fsw |= 0x4201;
    c.fpu.ftag = 0b1010_1100;
    for r in 0..8 {
        c.fpu.st[r] = F80 {
            sig: 0x8000_0000_0000_0001 + r as u64,
            se: 0x4000 + r as u16,
        };
    }
    c.fpu.fip = 0x1234_5678_9ABC;
    c.fpu.fdp = 0xFEDC_BA98;
}

#[test]
fn fxsave64_layout_and_fxrstor_round_trip() {
    let mut c = cpu();
    fill_state(&mut c);
    go(&mut c, |a| a.fxsave64(ptr(rsi))).unwrap();
    let img = peek(&c, MEM, 512);
    assert_eq!(u16::from_le_bytes([img[0], img[1]]), 0x027F);
    assert_eq!(u16::from_le_bytes([img[2], img[3]]), c.fpu.fsw);
    assert_eq!((c.fpu.fsw >> 11) & 7, 3);
    assert_eq!(img[4], 0b1010_1100);
    assert_eq!(peek64(&c, MEM + 8), 0x1234_5678_9ABC);
    assert_eq!(peek64(&c, MEM + 16), 0xFEDC_BA98);
    assert_eq!(u32::from_le_bytes(img[24..28].try_into().unwrap()), 0x9FC1);
    assert_eq!(u32::from_le_bytes(img[28..32].try_into().unwrap()), 0xFFFF);
    // ST(0) = R3 comes first.
    assert_eq!(peek64(&c, MEM + 32), 0x8000_0000_0000_0004);
    assert_eq!(u16::from_le_bytes([img[40], img[41]]), 0x4003);
    assert_eq!(peek64(&c, MEM + 160), 0x0101_0101_0101_0101);
    assert_eq!(peek64(&c, MEM + 160 + 15 * 16), 0x1010_1010_1010_1010);
    let saved = c.fpu.clone();
    c.fpu = Default::default();
    go(&mut c, |a| a.fxrstor64(ptr(rsi))).unwrap();
    assert_eq!(c.fpu.xmm, saved.xmm);
    assert_eq!(c.fpu.st, saved.st);
    assert_eq!(c.fpu.mxcsr, saved.mxcsr);
    assert_eq!(
        (c.fpu.fcw, c.fpu.ftag, c.fpu.fip, c.fpu.fdp),
        (0x027F, 0b1010_1100, saved.fip, saved.fdp)
    );
    // The 32-bit-pointer form stores FCS/FDS beside 32-bit offsets.
    go(&mut c, |a| a.fxsave(ptr(rsi + 512))).unwrap();
    assert_eq!(peek64(&c, MEM + 512 + 8), 0x5678_9ABC);
    // Reserved MXCSR bits in the image: #GP, nothing loaded.
    poke(&c, MEM + 24, &0x0002_0000u32.to_le_bytes());
    c.fpu.xmm[0] = 7;
    assert_eq!(go(&mut c, |a| a.fxrstor64(ptr(rsi))), Err(Fault::GP0));
    assert_eq!(c.fpu.xmm[0], 7);
}

#[test]
fn xsave_xrstor_standard_format() {
    let mut c = cpu();
    assert_eq!(go(&mut c, |a| a.xsave64(ptr(rsi))), Err(Fault::UD));
    c.cr4 |= cr4::OSXSAVE;
    // XSETBV accepts x87|SSE; XGETBV reads it back.
    c.gpr[0] = 3;
    c.gpr[1] = 0;
    c.gpr[2] = 0;
    go(&mut c, |a| a.xsetbv()).unwrap();
    assert_eq!(c.xcr0, 3);
    c.gpr[0] = 7;
    assert_eq!(go(&mut c, |a| a.xsetbv()), Err(Fault::GP0));
    fill_state(&mut c);
    // Header bits not requested are preserved.
    c.ram.store(MEM + 512, 8, 0x8000_0000_0000_0000);
    c.gpr[0] = u32::MAX as u64;
    c.gpr[2] = u32::MAX as u64;
    go(&mut c, |a| a.xsave64(ptr(rsi))).unwrap();
    assert_eq!(peek64(&c, MEM + 512), 0x8000_0000_0000_0003);
    assert_eq!(peek64(&c, MEM + 160 + 16), 0x0202_0202_0202_0202);
    assert_eq!(c.ram.load(MEM + 24, 4), 0x9FC1);
    // Restore requires the header to be valid.
    c.ram.store(MEM + 512, 8, 3);
    let saved = c.fpu.clone();
    c.fpu = Default::default();
    go(&mut c, |a| a.xrstor64(ptr(rsi))).unwrap();
    assert_eq!(c.fpu.xmm, saved.xmm);
    assert_eq!(c.fpu.st, saved.st);
    assert_eq!(c.fpu.mxcsr, 0x9FC1);
    // XSTATE_BV = 0: both components to their initial state, MXCSR
    // still loaded from memory.
    c.ram.store(MEM + 512, 8, 0);
    go(&mut c, |a| a.xrstor64(ptr(rsi))).unwrap();
    assert_eq!(c.fpu.xmm, [0; 16]);
    assert_eq!((c.fpu.fcw, c.fpu.fsw, c.fpu.ftag), (0x37F, 0, 0));
    assert_eq!(c.fpu.st, [F80::ZERO; 8]);
    assert_eq!(c.fpu.mxcsr, 0x9FC1);
    // XCOMP_BV must be zero; XSTATE_BV must be within XCR0.
    c.ram.store(MEM + 520, 8, 1 << 63);
    assert_eq!(go(&mut c, |a| a.xrstor64(ptr(rsi))), Err(Fault::GP0));
    c.ram.store(MEM + 520, 8, 0);
    c.ram.store(MEM + 512, 8, 4);
    assert_eq!(go(&mut c, |a| a.xrstor64(ptr(rsi))), Err(Fault::GP0));
    // With RFBM = x87 only, SSE state is untouched.
    c.ram.store(MEM + 512, 8, 0);
    c.fpu.xmm[5] = 55;
    c.gpr[0] = 1;
    c.gpr[2] = 0;
    go(&mut c, |a| a.xrstor64(ptr(rsi))).unwrap();
    assert_eq!(c.fpu.xmm[5], 55);
}

// ---------------------------------------------------------------------
// x87.

#[test]
fn fld_fstp_m80_round_trips_every_encoding() {
    let mut c = cpu();
    let patterns: [(u64, u16); 8] = [
        (0xC000_0000_0000_0001, 0x7FFF), // QNaN with payload
        (0x8000_0000_0000_0001, 0xFFFF), // SNaN
        (0x4000_0000_0000_0000, 0x4000), // unnormal
        (0x8000_0000_0000_0000, 0x0000), // pseudo-denormal
        (0x0000_0000_0000_0001, 0x8000), // denormal
        (0x0000_0000_0000_0000, 0x7FFF), // pseudo-infinity
        (0xFFFF_FFFF_FFFF_FFFF, 0x3FFE), // 64 significant bits
        (0x8000_0000_0000_0000, 0x7FFF), // infinity
    ];
    for (sig, se) in patterns {
        poke(&c, MEM, &sig.to_le_bytes());
        poke(&c, MEM + 8, &se.to_le_bytes());
        go(&mut c, |a| {
            a.fninit()?;
            a.fld(tword_ptr(rsi))?;
            a.fxch(st0, st0)?;
            a.fstp(tword_ptr(rsi + 16))
        })
        .unwrap();
        assert_eq!(
            peek(&c, MEM + 16, 10),
            peek(&c, MEM, 10),
            "{sig:#x} {se:#x}"
        );
        assert_eq!(c.fpu.fsw & 0x3F, 0);
    }
}

#[test]
fn x87_basics_and_status_word() {
    let mut c = cpu();
    poke(&c, MEM, &3.0f64.to_bits().to_le_bytes());
    poke(&c, MEM + 8, &7i32.to_le_bytes());
    go(&mut c, |a| {
        a.fninit()?;
        a.fld(qword_ptr(rsi))?; // 3
        a.fild(dword_ptr(rsi + 8))?; // 7, 3
        a.fdiv_2(st0, st1)?; // 7/3, 3
        a.fmul_2(st0, st1)?; // 7, 3 (rounded)
        a.fistp(dword_ptr(rsi + 16))?;
        a.fsqrt()?; // sqrt 3
        a.fstp(qword_ptr(rsi + 24))?;
        a.fnstsw(ax)
    })
    .unwrap();
    assert_eq!(c.ram.load(MEM + 16, 4), 7);
    assert_eq!(f64::from_bits(peek64(&c, MEM + 24)), 3f64.sqrt());
    assert_eq!(c.gpr[0] as u16 & 0x3800, 0); // TOP back to 0
    assert_eq!(c.gpr[0] as u16 & 0x20, 0x20); // PE
    assert_eq!(c.fpu.ftag, 0);
    // FNSTCW/FLDCW.
    poke(&c, MEM, &0x0C7Fu16.to_le_bytes());
    go(&mut c, |a| {
        a.fldcw(word_ptr(rsi))?;
        a.fnstcw(word_ptr(rsi + 2))
    })
    .unwrap();
    assert_eq!(peek(&c, MEM + 2, 2), 0x0C7Fu16.to_le_bytes());
}

#[test]
fn x87_stack_faults_give_indefinite_and_sf() {
    let mut c = cpu();
    go(&mut c, |a| {
        a.fninit()?;
        a.fadd_2(st0, st1)
    })
    .unwrap();
    // Underflow, masked: IE|SF, C1 = 0, result is the indefinite.
    assert_eq!(c.fpu.fsw & 0x7F, 0x41);
    assert_eq!(c.fpu.fsw & (1 << 9), 0);
    go(&mut c, |a| {
        a.fninit()?;
        for _ in 0..9 {
            a.fld1()?;
        }
        Ok(())
    })
    .unwrap();
    // Overflow: IE|SF, C1 = 1, indefinite pushed.
    assert_eq!(c.fpu.fsw & 0x7F, 0x41);
    assert_ne!(c.fpu.fsw & (1 << 9), 0);
    assert_eq!(st(&c, 0), 0xFFFF_C000_0000_0000_0000);
}

#[test]
fn unmasked_x87_exception_is_deferred_to_next_waiting_instruction() {
    let mut c = cpu();
    go(&mut c, |a| {
        a.fninit()?;
        a.fld1()?;
        a.fldz()
    })
    .unwrap();
    c.fpu.fcw &= !(1 << 2); // unmask ZE
    go(&mut c, |a| a.fdiv_2(st1, st0)).unwrap();
    assert_eq!(c.fpu.fsw & 0x8084, 0x8084); // B, ES, ZE
    assert_eq!(st(&c, 1), f80(1.0)); // destination unchanged
    assert_eq!(go(&mut c, |a| a.fld1()), Err(MF));
    assert_eq!(go(&mut c, |a| a.wait()), Err(MF));
    assert_eq!(go(&mut c, |a| a.paddb(mm0, mm1)), Err(MF));
    // Non-waiting instructions still run; FNCLEX clears the condition.
    go(&mut c, |a| a.fnstsw(ax)).unwrap();
    go(&mut c, |a| a.fnclex()).unwrap();
    assert_eq!(go(&mut c, |a| a.fld1()), Ok(()));
    // With CR0.NE clear the legacy FERR# path is not modelled.
    c.cr0 &= !cr0::NE;
    go(&mut c, |a| a.fdiv_2(st0, st2)).unwrap_or(());
    c.fpu.fsw |= 0x80;
    assert_eq!(go(&mut c, |a| a.wait()), Ok(()));
}

#[test]
fn x87_compares_fxam_fcmov_and_constants() {
    let mut c = cpu();
    go(&mut c, |a| {
        a.fninit()?;
        a.fld1()?;
        a.fldpi()?;
        a.fcomi(st0, st1)
    })
    .unwrap();
    assert_eq!(c.rflags & (rflags::ZF | rflags::PF | rflags::CF), 0);
    assert_eq!(st(&c, 0), 0x4000_C90F_DAA2_2168_C235);
    go(&mut c, |a| a.fucomi(st0, st0)).unwrap();
    assert_eq!(
        c.rflags & (rflags::ZF | rflags::PF | rflags::CF),
        rflags::ZF
    );
    go(&mut c, |a| {
        a.fxch(st0, st1)?;
        a.fcom_2(st0, st1)
    })
    .unwrap();
    assert_eq!(c.fpu.fsw & 0x4500, 0x0100); // C0: 1 < pi
                                            // FCMOVB moves with CF set.
    c.rflags |= rflags::CF;
    go(&mut c, |a| a.fcmovb(st0, st1)).unwrap();
    assert_eq!(st(&c, 0), 0x4000_C90F_DAA2_2168_C235);
    // FXAM: empty, zero, denormal, NaN, infinity, normal.
    let class = |c: &mut Cpu| (c.fpu.fsw >> 8) & 0x47;
    go(&mut c, |a| {
        a.fninit()?;
        a.fxam()
    })
    .unwrap();
    assert_eq!(class(&mut c), 0x41);
    go(&mut c, |a| {
        a.fldz()?;
        a.fchs()?;
        a.fxam()
    })
    .unwrap();
    assert_eq!(class(&mut c), 0x42); // zero, C1 = sign
    go(&mut c, |a| {
        a.fld1()?;
        a.fxam()
    })
    .unwrap();
    assert_eq!(class(&mut c), 0x04);
    // FLDPI rounds by RC: down gives ...C234.
    c.fpu.fcw = 0x077F;
    go(&mut c, |a| a.fldpi()).unwrap();
    assert_eq!(st(&c, 0), 0x4000_C90F_DAA2_2168_C234);
}

#[test]
fn fnstenv_fldenv_fnsave_frstor() {
    let mut c = cpu();
    go(&mut c, |a| {
        a.fninit()?;
        a.fld1()?;
        a.fldz()?;
        a.fnstenv(ptr(rsi))
    })
    .unwrap();
    let env = peek(&c, MEM, 28);
    assert_eq!(u16::from_le_bytes([env[0], env[1]]), 0x37F);
    assert_eq!(u16::from_le_bytes([env[4], env[5]]) >> 11, 6); // TOP
                                                               // Tags: R6 zero (01), R7 valid (00), others empty (11).
    assert_eq!(u16::from_le_bytes([env[8], env[9]]), 0x1FFF);
    go(&mut c, |a| {
        a.fnsave(ptr(rsi + 64))?;
        a.fld1()
    })
    .unwrap();
    assert_eq!(c.fpu.ftag, 0x80); // FNSAVE reinitialised
    let regs = peek(&c, MEM + 64 + 28, 20);
    assert_eq!(&regs[..10], &[0; 10]); // ST0 = +0
    assert_eq!(u16::from_le_bytes([regs[18], regs[19]]), 0x3FFF); // ST1 = 1
    go(&mut c, |a| a.frstor(ptr(rsi + 64))).unwrap();
    assert_eq!(c.fpu.top(), 6);
    assert_eq!(st(&c, 0), 0);
    assert_eq!(st(&c, 1), f80(1.0));
    go(&mut c, |a| a.fldenv(ptr(rsi))).unwrap();
    assert_eq!(c.fpu.ftag, 0xC0);
}

#[test]
fn x87_transcendentals_are_close() {
    let mut c = cpu();
    let to = |v: u128| super::softfloat::to_host(super::softfloat::X80, v);
    go(&mut c, |a| {
        a.fninit()?;
        a.fld1()?;
        a.fsin()
    })
    .unwrap();
    assert!((to(st(&c, 0)) - 1f64.sin()).abs() < 1e-15);
    go(&mut c, |a| a.fptan()).unwrap();
    assert_eq!(st(&c, 0), f80(1.0));
    assert!((to(st(&c, 1)) - 1f64.sin().tan()).abs() < 1e-15);
    go(&mut c, |a| {
        a.fninit()?;
        a.fld1()?; // y
        a.fld1()?; // x
        a.fpatan()
    })
    .unwrap();
    assert!((to(st(&c, 0)) - std::f64::consts::FRAC_PI_4).abs() < 1e-15);
    go(&mut c, |a| {
        a.fninit()?;
        a.fld1()?;
        a.fldl2e()?;
        a.fyl2x() // 1 * log2(log2 e)
    })
    .unwrap();
    assert!((to(st(&c, 0)) - std::f64::consts::LOG2_E.log2()).abs() < 1e-15);
    go(&mut c, |a| {
        a.fninit()?;
        a.fld1()?;
        a.f2xm1()
    })
    .unwrap();
    assert_eq!(to(st(&c, 0)), 1.0);
}

// ---------------------------------------------------------------------
// MMX.

#[test]
fn mmx_aliases_x87_registers() {
    let mut c = cpu();
    c.gpr[0] = 0x0102_0304_0506_0708;
    go(&mut c, |a| {
        a.fninit()?;
        a.fld1()?;
        a.movq(mm2, rax)
    })
    .unwrap();
    assert_eq!(c.fpu.top(), 0);
    assert_eq!(c.fpu.ftag, 0xFF);
    assert_eq!(
        c.fpu.st[2],
        F80 {
            sig: 0x0102_0304_0506_0708,
            se: 0xFFFF
        }
    );
    go(&mut c, |a| a.emms()).unwrap();
    assert_eq!(c.fpu.ftag, 0);
    // MOVQ2DQ / MOVDQ2Q.
    go(&mut c, |a| a.movq2dq(xmm3, mm2)).unwrap();
    assert_eq!(c.fpu.xmm[3], 0x0102_0304_0506_0708);
    c.fpu.xmm[4] = u128::MAX;
    go(&mut c, |a| a.movdq2q(mm5, xmm4)).unwrap();
    assert_eq!(c.fpu.mm(5), u64::MAX);
}

/// Lane-wise MMX operations equal the low half of the SSE forms, and the
/// ones whose MMX form differs match hand-computed results.
#[test]
fn mmx_forms_match_sse_semantics() {
    use super::sse_int::{calc, calc64, op};
    let mut r = 0x1234_5678_9ABC_DEF1u64;
    let mut next = || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r
    };
    let lanewise = [
        op::PADDB,
        op::PADDW,
        op::PADDD,
        op::PADDQ,
        op::PSUBB,
        op::PSUBSW,
        op::PADDUSB,
        op::PMULLW,
        op::PMULHW,
        op::PMULHUW,
        op::PMULUDQ,
        op::PMADDWD,
        op::PAVGB,
        op::PMINUB,
        op::PMAXSW,
        op::PSADBW,
        op::PCMPEQB,
        op::PCMPGTD,
        op::PANDN,
        op::PXOR,
        op::PUNPCKLBW,
        op::PUNPCKLWD,
        op::PUNPCKLDQ,
        op::PSIGNW,
        op::PABSB,
        op::PMADDUBSW,
        op::PMULHRSW,
        op::PSLLW,
        op::PSRAD,
        op::PSRLQ,
    ];
    for _ in 0..200 {
        let (a, b) = (next(), next() >> (next() % 64));
        for &o in &lanewise {
            assert_eq!(
                calc64(o, a, b),
                calc(o, a as u128, b as u128) as u64,
                "op {o}"
            );
        }
    }
    let a = 0x8877_6655_4433_2211u64;
    let b = 0xFFEE_DDCC_BBAA_9988u64;
    assert_eq!(calc64(op::PUNPCKHBW, a, b), 0xFF88_EE77_DD66_CC55);
    assert_eq!(calc64(op::PUNPCKHDQ, a, b), 0xFFEE_DDCC_8877_6655);
    assert_eq!(
        calc64(op::PACKSSWB, 0x0001_7FFF_8000_FF80, 0x0100_0080_FFFF_0002),
        0x7F7F_FF02_017F_8080
    );
    assert_eq!(
        calc64(op::PHADDW, 0x0004_0003_0002_0001, 0x0040_0030_0020_0010),
        0x0070_0030_0007_0003
    );
    assert_eq!(
        calc64(op::PSHUFB, a, 0x8007_0001_0203_0405),
        0x0088_1122_3344_5566
    );
    let mut c = cpu();
    c.fpu.set_mm(0, a);
    c.fpu.set_mm(1, b);
    go(&mut c, |x| {
        x.palignr(mm0, mm1, 3)?;
        x.pshufw(mm2, mm1, 0x1B)?;
        x.pextrw(eax, mm1, 2)?;
        x.pinsrw(mm1, eax, 0)?;
        x.pmovmskb(ecx, mm1)
    })
    .unwrap();
    assert_eq!(c.fpu.mm(0), 0x3322_11FF_EEDD_CCBB);
    assert_eq!(c.fpu.mm(2), 0x9988_BBAA_DDCC_FFEE);
    assert_eq!(c.gpr[0], 0xDDCC);
    assert_eq!(c.fpu.mm(1), 0xFFEE_DDCC_BBAA_DDCC);
    assert_eq!(c.gpr[1], 0xFF);
}

#[test]
fn rcp_and_rsqrt_are_within_the_architectural_bound() {
    let mut c = cpu();
    for &x in &[1.0f32, 3.0, 0.1, 1e30, 7e-30, 123456.0, 2.5e-38] {
        c.fpu.xmm[1] = x.to_bits() as u128;
        go(&mut c, |a| {
            a.rcpss(xmm0, xmm1)?;
            a.rsqrtss(xmm2, xmm1)
        })
        .unwrap();
        let r = f32::from_bits(c.fpu.xmm[0] as u32) as f64;
        let s = f32::from_bits(c.fpu.xmm[2] as u32) as f64;
        let tol = 1.5 / 4096.0;
        if 1.0 / (x as f64) < f32::MAX as f64 && 1.0 / (x as f64) > f32::MIN_POSITIVE as f64 {
            assert!((r * x as f64 - 1.0).abs() < tol, "rcp {x}");
        }
        assert!((s * (x as f64).sqrt() - 1.0).abs() < tol, "rsqrt {x}");
    }
    c.fpu.xmm[1] = 0;
    go(&mut c, |a| a.rcpps(xmm0, xmm1)).unwrap();
    assert_eq!(c.fpu.xmm[0] as u32, f32::INFINITY.to_bits());
    assert_eq!(c.fpu.mxcsr, MXCSR_DEFAULT);
}

// ---------------------------------------------------------------------
// CPUID.

#[test]
fn cpuid_tells_a_consistent_story() {
    let c = cpu();
    let id = |l, s| crate::cpuid::cpuid(&c, l, s);
    let (max, ..) = id(0, 0);
    assert!(max >= 0xD);
    let (a1, _, c1, d1) = id(1, 0);
    assert_eq!((a1 >> 8) & 0xF, 6);
    for bit in [0, 23, 24, 25, 26] {
        assert_ne!(d1 & (1 << bit), 0, "EDX bit {bit}");
    }
    for bit in [0, 1, 9, 19, 20, 23, 26] {
        assert_ne!(c1 & (1 << bit), 0, "ECX bit {bit}");
    }
    // No AVX, FMA, MOVBE, AES, F16C, RDRAND; OSXSAVE follows CR4.
    for bit in [12, 22, 25, 27, 28, 29, 30] {
        assert_eq!(c1 & (1 << bit), 0, "ECX bit {bit}");
    }
    // XSAVE leaf: x87|SSE, 576 bytes, no XSAVEOPT/XSAVEC/XSAVES.
    assert_eq!(id(0xD, 0), (3, 576, 576, 0));
    assert_eq!(id(0xD, 1).0, 0);
    // Leaf 7: only IA32_ARCH_CAPABILITIES (EDX bit 29).
    assert_eq!(id(7, 0), (0, 0, 0, 1 << 29));
    // Cache leaf 4: L1d 32 KiB.
    let (a, b, c4, _) = id(4, 0);
    assert_eq!(a & 0x1F, 1);
    let size = ((b >> 22) + 1) * (((b >> 12) & 0x3FF) + 1) * ((b & 0xFFF) + 1) * (c4 + 1);
    assert_eq!(size, 32 * 1024);
    assert_eq!(id(4, 4).0 & 0x1F, 0);
    // Topology: one thread, one core.
    assert_eq!(id(0xB, 0).1 & 0xFFFF, 1);
    assert_eq!((id(0xB, 1).2 >> 8) & 0xFF, 2);
    assert_eq!((id(0xB, 2).2 >> 8) & 0xFF, 0);
    assert_ne!(id(0x8000_0007, 0).3 & (1 << 8), 0);
    assert_eq!(id(0x8000_0006, 0).2 >> 16, 256);
}

/// Rough throughput of a glibc-style SSE2 scan loop through the run loop
/// (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn bench_sse2_scan_loop() {
    let mut c = cpu();
    // 448 KiB of non-zero bytes, then zeros.
    for k in 0..0x7_0000u64 {
        c.ram.store(0x8_0000 + k, 1, 0x41);
    }
    let code = asm(|a| {
        let mut top = a.create_label();
        a.pxor(xmm0, xmm0)?;
        a.set_label(&mut top)?;
        a.movdqa(xmm1, xmmword_ptr(rsi))?;
        a.pcmpeqb(xmm1, xmm0)?;
        a.pmovmskb(eax, xmm1)?;
        a.add(rsi, 16)?;
        a.test(eax, eax)?;
        a.jz(top)?;
        a.hlt()
    });
    poke(&c, 0x1000, &code);
    c.rip = 0x1000;
    let t = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..20 {
        c.gpr[6] = 0x8_0000;
        c.rip = 0x1000;
        c.halted = false;
        let before = c.instret;
        c.run(&mut crate::NoInterrupts, 1 << 24);
        n += c.instret - before;
    }
    let dt = t.elapsed();
    println!(
        "{n} instructions in {dt:?}: {:.1} M/s",
        n as f64 / dt.as_secs_f64() / 1e6
    );
}

/// Every legacy-encoded instruction of the advertised x87, MMX, SSE-SSE4.2,
/// PCLMULQDQ, FXSR and XSAVE feature sets has a handler here (except the
/// cache-control and fence instructions, which the main table handles),
/// and nothing from the unadvertised extensions does.
#[test]
fn dispatch_covers_the_advertised_feature_sets() {
    use iced_x86::{Code, CpuidFeature as F, Instruction, Mnemonic as M};
    let ours = [
        F::FPU,
        F::FPU387,
        F::MMX,
        F::SSE,
        F::SSE2,
        F::SSE3,
        F::SSSE3,
        F::SSE4_1,
        F::SSE4_2,
        F::PCLMULQDQ,
        F::FXSR,
        F::XSAVE,
    ];
    let fine = [
        F::INTEL8086,
        F::INTEL186,
        F::INTEL286,
        F::INTEL386,
        F::INTEL486,
        F::X64,
        F::CMOV,
        F::FPU287,
    ];
    let elsewhere = [
        M::Prefetchnta,
        M::Prefetcht0,
        M::Prefetcht1,
        M::Prefetcht2,
        M::Sfence,
        M::Lfence,
        M::Mfence,
        M::Pause,
        M::Clflush,
        M::Popcnt,
        M::Xgetbv,
        M::Xsetbv,
    ];
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for code in Code::values() {
        let feats = code.cpuid_features();
        let mut i = Instruction::default();
        i.set_code(code);
        let has = super::handler(&i).is_some();
        let relevant = feats.iter().any(|f| ours.contains(f));
        let supported = feats.iter().all(|f| ours.contains(f) || fine.contains(f));
        if relevant && supported && !has && !elsewhere.contains(&code.mnemonic()) {
            missing.push(code);
        }
        if has && !supported {
            extra.push(code);
        }
    }
    assert!(missing.is_empty(), "no handler: {missing:?}");
    assert!(extra.is_empty(), "handled but not advertised: {extra:?}");
}

#[test]
fn pcmpestri_rex_w_takes_64_bit_lengths() {
    let mut c = cpu();
    c.fpu.xmm[0] = u128::from_le_bytes(*b"abcdefghijklmnop");
    c.fpu.xmm[1] = u128::from_le_bytes(*b"xxxxxxxxxxxxxxxp");
    // Equal any, unsigned bytes; lengths 2^32 + 3 saturate to 16 with
    // REX.W but read as 3 without.
    c.gpr[0] = 0x1_0000_0003;
    c.gpr[2] = 0x1_0000_0010;
    let w = [0x66, 0x48, 0x0F, 0x3A, 0x61, 0xC1, 0x00];
    run(&mut c, &w).unwrap();
    assert_eq!(c.gpr[1], 15);
    let no_w = [0x66, 0x0F, 0x3A, 0x61, 0xC1, 0x00];
    run(&mut c, &no_w).unwrap();
    assert_eq!(c.gpr[1], 16);
    assert_ne!(c.rflags & rflags::SF, 0); // first string shorter than 16
}

#[test]
fn finit_with_wait_prefix_checks_pending_exceptions() {
    let mut c = cpu();
    c.fpu.fsw = 0x8084;
    assert_eq!(run(&mut c, &[0x9B, 0xDB, 0xE3]), Err(MF));
    assert_eq!(run(&mut c, &[0xDB, 0xE3]), Ok(()));
    assert_eq!((c.fpu.fcw, c.fpu.fsw, c.fpu.ftag), (0x37F, 0, 0));
}
