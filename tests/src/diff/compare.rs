//! Comparing a target's outcome with the host's, and the mismatch report.

use std::fmt::Write;

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, RflagsBits};

use super::case::{fl, Layout, Prepared, Regs, GPR_NAMES};
use super::host::Outcome;

/// How a target's run ended, when it did not simply reach the end of the
/// case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Reached the end of the case.
    Normal,
    /// Raised an exception (delivered through the runner's IDT).
    Exception {
        vector: u8,
        error_code: Option<u64>,
        rip: u64,
        cr2: u64,
    },
    /// Anything else: triple fault, runaway, panic, stopped elsewhere.
    Other(String),
}

/// A target's result.
#[derive(Clone, Debug)]
pub struct TargetOutcome {
    pub out: Outcome,
    pub exit: Exit,
}

/// Something that runs prepared cases: the interpreter, or (to check the
/// harness itself) a second host runner.
pub trait Target {
    fn name(&self) -> &'static str;
    fn run(&mut self, p: &Prepared) -> TargetOutcome;
}

/// One difference between host and target.
#[derive(Clone, Debug)]
pub enum Item {
    Exit(String),
    Reg {
        index: usize,
        host: u64,
        target: u64,
    },
    Flag {
        name: &'static str,
        host: bool,
        target: bool,
    },
    Mem {
        addr: u64,
        init: Vec<u8>,
        host: Vec<u8>,
        target: Vec<u8>,
    },
}

impl Item {
    /// A short category for grouping ("reg", "flag OF", "mem", "exit ...").
    pub fn category(&self) -> String {
        match self {
            Item::Exit(s) => format!("exit {}", s.split(':').next().unwrap_or(s)),
            Item::Reg { .. } => "reg".into(),
            Item::Flag { name, .. } => format!("flag {name}"),
            Item::Mem { .. } => "mem".into(),
        }
    }
}

fn rflags_of(bits: u32) -> u64 {
    let mut v = 0;
    for (b, f) in [
        (RflagsBits::CF, fl::CF),
        (RflagsBits::PF, fl::PF),
        (RflagsBits::AF, fl::AF),
        (RflagsBits::ZF, fl::ZF),
        (RflagsBits::SF, fl::SF),
        (RflagsBits::OF, fl::OF),
        (RflagsBits::DF, fl::DF),
    ] {
        if bits & b != 0 {
            v |= f;
        }
    }
    v
}

/// The flags left undefined by the sequence (a flag an instruction leaves
/// undefined stays so until a later instruction defines it), with the index
/// of the instruction that last left each undefined.
pub fn undefined_flags(insns: &[Instruction]) -> (u64, Vec<(u64, usize)>) {
    let mut undefined = 0u64;
    let mut who: Vec<(u64, usize)> = Vec::new();
    for (i, ins) in insns.iter().enumerate() {
        let modified = rflags_of(ins.rflags_modified());
        let und = rflags_of(ins.rflags_undefined());
        undefined = (undefined & !modified) | und;
        who.retain(|(f, _)| undefined & f != 0 && und & f == 0);
        for (f, _) in fl::NAMES {
            if und & f != 0 {
                who.push((f, i));
            }
        }
    }
    (undefined, who)
}

fn flag_name(f: u64) -> &'static str {
    fl::NAMES
        .iter()
        .find(|(b, _)| *b == f)
        .map_or("?", |(_, n)| n)
}

/// Differences between host and target, and separately the flags that
/// differ but are architecturally undefined (informational unless strict).
pub fn compare(
    p: &Prepared,
    host: &Outcome,
    t: &TargetOutcome,
    layout: &Layout,
    strict_flags: bool,
) -> (Vec<Item>, Vec<(&'static str, usize)>) {
    let mut items = Vec::new();
    let mut undefined_diffs = Vec::new();
    if t.exit != Exit::Normal {
        items.push(Item::Exit(describe_exit(&t.exit, p, layout)));
        return (items, undefined_diffs);
    }
    for i in 0..16 {
        if host.regs.gpr[i] != t.out.regs.gpr[i] {
            items.push(Item::Reg {
                index: i,
                host: host.regs.gpr[i],
                target: t.out.regs.gpr[i],
            });
        }
    }
    let (undefined, who) = undefined_flags(&p.case.insns);
    for (f, name) in fl::NAMES {
        let h = host.regs.rflags & f != 0;
        let g = t.out.regs.rflags & f != 0;
        if h == g {
            continue;
        }
        if undefined & f != 0 && !strict_flags {
            let at = who.iter().find(|(w, _)| *w == f).map_or(0, |(_, i)| *i);
            undefined_diffs.push((name, at));
        } else {
            items.push(Item::Flag {
                name,
                host: h,
                target: g,
            });
        }
    }
    mem_diffs(
        &mut items,
        layout.data(),
        &p.case.data,
        &host.data,
        &t.out.data,
    );
    mem_diffs(
        &mut items,
        layout.stack(),
        &p.case.stack,
        &host.stack,
        &t.out.stack,
    );
    (items, undefined_diffs)
}

fn mem_diffs(items: &mut Vec<Item>, base: u64, init: &[u8], host: &[u8], target: &[u8]) {
    let mut i = 0;
    while i < host.len() {
        if host[i] == target[i] {
            i += 1;
            continue;
        }
        // A run of differing bytes (gaps of up to 7 equal bytes joined).
        let start = i;
        let mut end = i + 1;
        let mut j = i + 1;
        while j < host.len() && j < end + 8 {
            if host[j] != target[j] {
                end = j + 1;
            }
            j += 1;
        }
        let end = end.min(start + 64);
        items.push(Item::Mem {
            addr: base + start as u64,
            init: init[start..end].to_vec(),
            host: host[start..end].to_vec(),
            target: target[start..end].to_vec(),
        });
        i = end;
    }
}

fn describe_exit(e: &Exit, p: &Prepared, layout: &Layout) -> String {
    match e {
        Exit::Normal => "normal".into(),
        Exit::Exception {
            vector,
            error_code,
            rip,
            cr2,
        } => {
            let name = match vector {
                0 => "#DE",
                1 => "#DB",
                3 => "#BP",
                4 => "#OF",
                5 => "#BR",
                6 => "#UD",
                7 => "#NM",
                8 => "#DF",
                10 => "#TS",
                11 => "#NP",
                12 => "#SS",
                13 => "#GP",
                14 => "#PF",
                16 => "#MF",
                17 => "#AC",
                18 => "#MC",
                19 => "#XM",
                _ => "#?",
            };
            let mut s = format!("interpreter raised {name} (vector {vector}) at rip {rip:#x}");
            if let Some(i) = instruction_at(p, layout, *rip) {
                let _ = write!(s, " (instruction #{i})");
            }
            if let Some(ec) = error_code {
                let _ = write!(s, ", error code {ec:#x}");
            }
            if *vector == 14 {
                let _ = write!(s, ", cr2 {cr2:#x}");
            }
            s
        }
        Exit::Other(s) => s.clone(),
    }
}

fn instruction_at(p: &Prepared, layout: &Layout, rip: u64) -> Option<usize> {
    let off = rip.checked_sub(layout.code())? as u32;
    p.offsets.iter().position(|&o| o == off)
}

fn formatter() -> IntelFormatter {
    let mut fmt = IntelFormatter::new();
    fmt.options_mut().set_hex_prefix("0x");
    fmt.options_mut().set_hex_suffix("");
    fmt.options_mut().set_uppercase_hex(false);
    fmt.options_mut().set_space_after_operand_separator(true);
    fmt.options_mut().set_branch_leading_zeros(false);
    fmt
}

/// The case's code, decoded back from its bytes, in Intel syntax.
pub fn disassemble(p: &Prepared, layout: &Layout) -> String {
    let mut out = String::new();
    let mut dec = Decoder::with_ip(64, &p.code, layout.code(), DecoderOptions::NONE);
    let mut fmt = formatter();
    let mut text = String::new();
    let mut n = 0;
    while dec.can_decode() {
        let ins = dec.decode();
        text.clear();
        fmt.format(&ins, &mut text);
        let start = (ins.ip() - layout.code()) as usize;
        let bytes: String = p.code[start..start + ins.len()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(out, "    #{n:<2} {:x}  {bytes:<30} {text}", ins.ip());
        n += 1;
    }
    out
}

/// One-line text of a case's instructions ("add rax, rbx; adc ecx, 5").
pub fn one_line(p: &Prepared, layout: &Layout) -> String {
    let mut dec = Decoder::with_ip(64, &p.code, layout.code(), DecoderOptions::NONE);
    let mut fmt = formatter();
    let mut parts = Vec::new();
    while dec.can_decode() {
        let ins = dec.decode();
        let mut t = String::new();
        fmt.format(&ins, &mut t);
        parts.push(t);
    }
    parts.join("; ")
}

pub fn flags_text(f: u64) -> String {
    let set: Vec<&str> = fl::NAMES
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect();
    format!("{f:#x} [{}]", set.join(" "))
}

fn regs_text(out: &mut String, label: &str, r: &Regs) {
    for row in 0..4 {
        let _ = write!(out, "  {:<12}", if row == 0 { label } else { "" });
        for (name, v) in GPR_NAMES.iter().zip(r.gpr).skip(row * 4).take(4) {
            let _ = write!(out, " {name:>3}={v:016x}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "  {:<12} rflags={}", "", flags_text(r.rflags));
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The full mismatch report for one case.
pub fn report(
    header: &str,
    p: &Prepared,
    layout: &Layout,
    host: &Outcome,
    t: &TargetOutcome,
    items: &[Item],
    target_name: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{header}");
    let _ = writeln!(s, "  code at {:#x}:", layout.code());
    s.push_str(&disassemble(p, layout));
    let (undefined, _) = undefined_flags(&p.case.insns);
    let _ = writeln!(
        s,
        "  flags compared: {} (undefined by the sequence: {})",
        flags_text((fl::ARITH | fl::DF) & !undefined),
        flags_text(undefined & (fl::ARITH | fl::DF))
    );
    regs_text(&mut s, "initial", &p.case.init);
    regs_text(&mut s, "host", &host.regs);
    if t.exit == Exit::Normal {
        regs_text(&mut s, target_name, &t.out.regs);
    }
    let _ = writeln!(s, "  differences (host vs {target_name}):");
    for it in items {
        match it {
            Item::Exit(e) => {
                let _ = writeln!(s, "    EXIT: {e}");
            }
            Item::Reg {
                index,
                host,
                target,
            } => {
                let _ = writeln!(
                    s,
                    "    {:<6} host={host:#018x} {target_name}={target:#018x} (initial {:#018x})",
                    GPR_NAMES[*index], p.case.init.gpr[*index]
                );
            }
            Item::Flag { name, host, target } => {
                let _ = writeln!(
                    s,
                    "    {name:<6} host={} {target_name}={} (initial {})",
                    *host as u8,
                    *target as u8,
                    (p.case.init.rflags & fl::NAMES.iter().find(|f| f.1 == *name).unwrap().0 != 0)
                        as u8
                );
            }
            Item::Mem {
                addr,
                init,
                host,
                target,
            } => {
                let region = if *addr >= layout.stack() {
                    format!("stack+{:#x}", addr - layout.stack())
                } else {
                    format!("data+{:#x}", addr - layout.data())
                };
                let _ = writeln!(s, "    mem {addr:#x} ({region}), {} bytes:", host.len());
                let _ = writeln!(s, "      initial: {}", hex(init));
                let _ = writeln!(s, "      host:    {}", hex(host));
                let _ = writeln!(s, "      {:<8} {}", format!("{target_name}:"), hex(target));
            }
        }
    }
    s
}

/// Name of a flag bit (for informational tallies).
pub fn flag_label(f: u64) -> &'static str {
    flag_name(f)
}
