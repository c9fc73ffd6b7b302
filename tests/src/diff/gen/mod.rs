//! One generator per instruction class. Each builds a case into a [`Gen`]
//! and returns `None` when its random choices did not work out (the driver
//! then starts the case afresh with the same random stream).

mod alu;
mod control;
mod data;
mod string;

use super::build::Gen;

/// The instruction classes the issue names, each run (and reported) by its
/// own test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Arith,
    Shift,
    MulDiv,
    BitTest,
    BitScan,
    String,
    Atomic,
    CmovSetcc,
    Branch,
    Stack,
    MovExt,
    Misc,
}

impl Class {
    pub const ALL: [Class; 12] = [
        Class::Arith,
        Class::Shift,
        Class::MulDiv,
        Class::BitTest,
        Class::BitScan,
        Class::String,
        Class::Atomic,
        Class::CmovSetcc,
        Class::Branch,
        Class::Stack,
        Class::MovExt,
        Class::Misc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Arith => "arith",
            Class::Shift => "shift",
            Class::MulDiv => "muldiv",
            Class::BitTest => "bittest",
            Class::BitScan => "bitscan",
            Class::String => "string",
            Class::Atomic => "atomic",
            Class::CmovSetcc => "cmov_setcc",
            Class::Branch => "branch",
            Class::Stack => "stack",
            Class::MovExt => "movext",
            Class::Misc => "misc",
        }
    }

    pub fn by_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Share of the total case count (parts per 1000); the shares add up to
    /// 1000. Classes with more encodings and more state get more.
    pub fn share(self) -> u64 {
        match self {
            Class::Arith => 160,
            Class::Shift => 120,
            Class::MulDiv => 80,
            Class::BitTest => 80,
            Class::BitScan => 60,
            Class::String => 100,
            Class::Atomic => 80,
            Class::CmovSetcc => 80,
            Class::Branch => 60,
            Class::Stack => 80,
            Class::MovExt => 50,
            Class::Misc => 50,
        }
    }

    /// What the class covers, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Class::Arith => "ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT (+LOCK)",
            Class::Shift => "SHL SAL SHR SAR ROL ROR RCL RCR SHLD SHRD by 1, imm8, CL",
            Class::MulDiv => "MUL IMUL (1/2/3 operands) DIV IDIV",
            Class::BitTest => "BT BTS BTR BTC reg/mem, reg/imm (+LOCK, far bit offsets)",
            Class::BitScan => "BSF BSR TZCNT LZCNT POPCNT",
            Class::String => "MOVS STOS LODS CMPS SCAS, REP/REPE/REPNE, a64/a32, DF=0/1",
            Class::Atomic => "CMPXCHG CMPXCHG8B CMPXCHG16B XADD XCHG (+LOCK)",
            Class::CmovSetcc => "CMOVcc SETcc",
            Class::Branch => "Jcc JMP LOOP LOOPE LOOPNE JRCXZ JECXZ",
            Class::Stack => "PUSH POP CALL RET ENTER LEAVE (16/64-bit)",
            Class::MovExt => "MOVZX MOVSX MOVSXD CBW CWDE CDQE CWD CDQ CQO BSWAP",
            Class::Misc => "MOV (all GPR forms, moffs) LEA NOP PAUSE",
        }
    }
}

/// A class's case generator (holds its tables of encodings).
pub trait Generator: Send + Sync {
    fn gen(&self, g: &mut Gen) -> Option<()>;
}

pub fn generator(class: Class) -> Box<dyn Generator> {
    match class {
        Class::Arith => Box::new(alu::Arith::new()),
        Class::Shift => Box::new(alu::Shift::new()),
        Class::MulDiv => Box::new(alu::MulDiv::new()),
        Class::BitTest => Box::new(alu::BitTest::new()),
        Class::BitScan => Box::new(alu::BitScan::new()),
        Class::String => Box::new(string::Strings),
        Class::Atomic => Box::new(data::Atomic::new()),
        Class::CmovSetcc => Box::new(data::CmovSetcc::new()),
        Class::Branch => Box::new(control::Branch::new()),
        Class::Stack => Box::new(control::Stack),
        Class::MovExt => Box::new(data::MovExt::new()),
        Class::Misc => Box::new(data::Misc::new()),
    }
}
