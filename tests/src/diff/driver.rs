//! The differential loop: generate, run on the host and on a target,
//! compare, and collect distinct mismatches into a report.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use iced_x86::{Code, FlowControl};

use super::build::Gen;
use super::case::{Layout, Prepared};
use super::compare::{compare, one_line, report, Exit, Item, Target, TargetOutcome};
use super::gen::{generator, Class, Generator};
use super::host::{HostRunner, Outcome};
use super::rng::Rng;

/// The seed CI runs ("vtdemu" + 1).
pub const DEFAULT_SEED: u64 = 0x7674_6465_6D75_0001;
/// Cases across all classes at the default setting.
pub const DEFAULT_TOTAL: u64 = 400_000;

/// Run settings, from the environment:
/// - `VTDEMU_DIFF_SEED`: seed (decimal or 0x-hex), default [`DEFAULT_SEED`];
/// - `VTDEMU_DIFF_CASES`: total cases across all classes, default
///   [`DEFAULT_TOTAL`], shared out by [`Class::share`];
/// - `VTDEMU_DIFF_ONLY=class:index`: run that one case (of that class) only;
/// - `VTDEMU_DIFF_STRICT_FLAGS=1`: also compare flags the instructions
///   leave undefined (the host is an AMD part; Intel may differ);
/// - `VTDEMU_DIFF_REPORTS`: distinct mismatches to print per class (20).
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub total: u64,
    pub only: Option<(Class, u64)>,
    pub strict_flags: bool,
    pub max_reports: usize,
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim().replace('_', "");
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Config {
    pub fn from_env() -> Config {
        let var = |k: &str| std::env::var(k).ok();
        let seed = var("VTDEMU_DIFF_SEED").map_or(DEFAULT_SEED, |s| {
            parse_u64(&s).unwrap_or_else(|| panic!("VTDEMU_DIFF_SEED={s}: not a number"))
        });
        let total = var("VTDEMU_DIFF_CASES").map_or(DEFAULT_TOTAL, |s| {
            parse_u64(&s).unwrap_or_else(|| panic!("VTDEMU_DIFF_CASES={s}: not a number"))
        });
        let only = var("VTDEMU_DIFF_ONLY").map(|s| {
            let (c, i) = s
                .split_once(':')
                .unwrap_or_else(|| panic!("VTDEMU_DIFF_ONLY={s}: want class:index"));
            let class = Class::by_name(c).unwrap_or_else(|| panic!("unknown class {c}"));
            (
                class,
                parse_u64(i).unwrap_or_else(|| panic!("bad index {i}")),
            )
        });
        let strict_flags = var("VTDEMU_DIFF_STRICT_FLAGS").is_some_and(|v| v != "0");
        let max_reports = var("VTDEMU_DIFF_REPORTS")
            .and_then(|v| parse_u64(&v))
            .unwrap_or(20);
        Config {
            seed,
            total,
            only,
            strict_flags,
            max_reports: max_reports as usize,
        }
    }

    /// Cases this class runs.
    pub fn cases(&self, class: Class) -> u64 {
        self.total * class.share() / 1000
    }
}

/// What running one class found.
#[derive(Debug)]
pub struct ClassResult {
    pub class: Class,
    pub seed: u64,
    pub cases: u64,
    pub mismatched: u64,
    /// Mismatch counts by culprit instruction encoding and kind.
    pub by_key: BTreeMap<String, u64>,
    /// Full reports, one per distinct key, up to the configured number.
    pub reports: Vec<String>,
    /// Undefined flags that came out differently from this host, by the
    /// encoding that left them undefined (informational).
    pub undefined: BTreeMap<String, u64>,
    pub elapsed: Duration,
    pub target_name: &'static str,
}

impl ClassResult {
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "cpu differential [{}] ({}): {} cases, seed {:#x}, {} mismatched, {:.1} s",
            self.class.name(),
            self.class.describe(),
            self.cases,
            self.seed,
            self.mismatched,
            self.elapsed.as_secs_f64()
        );
        if !self.by_key.is_empty() {
            let _ = writeln!(s, "  mismatches by culprit encoding [kinds]:");
            let mut v: Vec<_> = self.by_key.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (k, n) in v {
                let _ = writeln!(s, "    {n:>7}  {k}");
            }
        }
        if !self.undefined.is_empty() {
            let _ = writeln!(
                s,
                "  (informational) undefined flags that differ from this host, by encoding:"
            );
            let mut v: Vec<_> = self.undefined.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (k, n) in v.iter().take(40) {
                let _ = writeln!(s, "    {n:>7}  {k}");
            }
            if v.len() > 40 {
                let _ = writeln!(s, "    ... {} more", v.len() - 40);
            }
        }
        s
    }

    /// Panics with the summary and every collected report if anything
    /// mismatched.
    pub fn check(&self) {
        if self.mismatched == 0 {
            eprint!("{}", self.summary());
        } else {
            let mut s = self.summary();
            for r in &self.reports {
                s.push('\n');
                s.push_str(r);
            }
            panic!("{s}");
        }
    }
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static PANIC_AT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Panics inside a target are caught and reported as mismatches; keep the
/// default hook from printing each one.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(|q| q.get()) {
                let at = info.location().map(|l| l.to_string()).unwrap_or_default();
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                prev(info)
            }
        }));
    });
}

fn run_target(target: &mut dyn Target, p: &Prepared) -> Result<TargetOutcome, String> {
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(|| target.run(p)));
    QUIET.with(|q| q.set(false));
    r.map_err(|e| {
        let msg = e
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic)".into());
        let at = PANIC_AT.with(|p| std::mem::take(&mut *p.borrow_mut()));
        format!("interpreter panicked: {msg} (at {at})")
    })
}

/// Runs a case on the target; a panic becomes an `Exit::Other` (and the
/// target is replaced, its state being suspect).
fn run_guarded(
    target: &mut Box<dyn Target>,
    fresh: &mut dyn FnMut() -> Box<dyn Target>,
    p: &Prepared,
    host: &Outcome,
) -> TargetOutcome {
    match run_target(&mut **target, p) {
        Ok(t) => t,
        Err(msg) => {
            *target = fresh();
            TargetOutcome {
                out: host.clone(),
                exit: Exit::Other(msg),
            }
        }
    }
}

/// Generates case `index` of a class.
pub fn make_case(
    gen: &dyn Generator,
    seed: u64,
    class: Class,
    index: u64,
    layout: Layout,
) -> Prepared {
    let class_id = Class::ALL.iter().position(|&c| c == class).unwrap() as u64;
    let mut rng = Rng::for_case(seed, class_id, index);
    for _ in 0..10_000 {
        let mut g = Gen::new(&mut rng, layout);
        // RSP is an ordinary operand (`sub rsp, 8`, `mov esp, eax`) except
        // where the case uses the stack or RSP-sized control flow.
        if !matches!(class, Class::Stack | Class::Branch | Class::String) {
            g.avoid = 0;
        }
        if gen.gen(&mut g).is_none() {
            continue;
        }
        if let Ok(p) = g.finish().prepare(&layout) {
            return p;
        }
    }
    panic!("generator for {} is stuck (case {index})", class.name());
}

fn code_name(c: Code) -> String {
    format!("{c:?}")
}

/// Runs one class against `target`; `fresh` makes a new target (after a
/// panic, and to tell stale-state bugs from plain ones).
pub fn run_class_on(
    class: Class,
    cfg: &Config,
    host: &mut HostRunner,
    target: &mut Box<dyn Target>,
    fresh: &mut dyn FnMut() -> Box<dyn Target>,
) -> ClassResult {
    install_quiet_hook();
    let layout = host.layout();
    let gen = generator(class);
    let range = match cfg.only {
        Some((c, i)) if c == class => i..i + 1,
        Some(_) => 0..0,
        None => 0..cfg.cases(class),
    };
    let start = Instant::now();
    let target_name = target.name();
    let mut res = ClassResult {
        class,
        seed: cfg.seed,
        cases: 0,
        mismatched: 0,
        by_key: BTreeMap::new(),
        reports: Vec::new(),
        undefined: BTreeMap::new(),
        elapsed: Duration::ZERO,
        target_name,
    };
    let mut appear: HashMap<Code, u64> = HashMap::new();
    let mut bad_with: HashMap<Code, u64> = HashMap::new();
    let mut deferred: Vec<(u64, Vec<Code>, String)> = Vec::new();
    // (culprit, coarse kinds) already given a full report.
    let mut reported = std::collections::HashSet::new();
    for index in range {
        let p = make_case(&*gen, cfg.seed, class, index, layout);
        res.cases += 1;
        host.set_note(format!(
            "  class {} case {index}: VTDEMU_DIFF_SEED={:#x} VTDEMU_DIFF_ONLY={}:{index}",
            class.name(),
            cfg.seed,
            class.name()
        ));
        let h = host.run(&p);
        let t = run_guarded(target, fresh, &p, &h);
        let (items, undefined) = compare(&p, &h, &t, &layout, cfg.strict_flags);
        for (flag, at) in undefined {
            let key = format!("{} {flag}", code_name(p.case.insns[at].code()));
            *res.undefined.entry(key).or_default() += 1;
        }
        if !p.case.straight {
            let sus = suspects(&p);
            for &c in &sus {
                *appear.entry(c).or_default() += 1;
                if !items.is_empty() {
                    *bad_with.entry(c).or_default() += 1;
                }
            }
        }
        if items.is_empty() {
            continue;
        }
        res.mismatched += 1;
        // Shrink a straight-line sequence to its first diverging prefix.
        let (p, h, t, items, shrunk) = if p.case.straight && p.case.insns.len() > 1 {
            shrink(&p, host, target, fresh, &layout, cfg).unwrap_or((p, h, t, items, false))
        } else {
            (p, h, t, items, false)
        };
        let mut kinds: Vec<String> = items.iter().map(Item::category).collect();
        kinds.sort();
        kinds.dedup();
        let kinds = kinds.join(", ");
        if !p.case.straight {
            // Branchy cases combine several control transfers; which one is
            // wrong is decided after the run, from how often each appears
            // in mismatching cases.
            deferred.push((index, suspects(&p), kinds));
            continue;
        }
        let culprit = code_name(p.case.insns.last().unwrap().code());
        *res.by_key
            .entry(format!("{culprit} [{kinds}]"))
            .or_default() += 1;
        if reported.insert(format!("{culprit} {}", coarse(&kinds)))
            && res.reports.len() < cfg.max_reports
        {
            let ctx = ReportCtx {
                class,
                index,
                cfg,
                layout: &layout,
                target_name,
                note: String::new(),
            };
            res.reports
                .push(make_report(&ctx, &p, &h, &t, &items, shrunk, fresh));
        }
    }
    // Blame, in each branchy mismatch, the control transfer that most often
    // comes with a mismatch overall.
    let rate = |c: Code| {
        let bad = bad_with.get(&c).copied().unwrap_or(0) as f64;
        bad / appear.get(&c).copied().unwrap_or(1).max(1) as f64
    };
    for (index, codes, kinds) in deferred {
        let Some(&culprit) = codes.iter().max_by(|a, b| {
            rate(**a)
                .total_cmp(&rate(**b))
                .then_with(|| code_name(**b).cmp(&code_name(**a)))
        }) else {
            continue;
        };
        let name = code_name(culprit);
        *res.by_key.entry(format!("{name} [{kinds}]")).or_default() += 1;
        if reported.insert(format!("{name} {}", coarse(&kinds)))
            && res.reports.len() < cfg.max_reports
        {
            let p = make_case(&*gen, cfg.seed, class, index, layout);
            let h = host.run(&p);
            let t = run_guarded(target, fresh, &p, &h);
            let (items, _) = compare(&p, &h, &t, &layout, cfg.strict_flags);
            let note = format!(
                "\n  suspect: {} (in {} of the {} cases that contain it, this one mismatched)",
                code_name(culprit),
                bad_with.get(&culprit).copied().unwrap_or(0),
                appear.get(&culprit).copied().unwrap_or(0)
            );
            let ctx = ReportCtx {
                class,
                index,
                cfg,
                layout: &layout,
                target_name,
                note,
            };
            res.reports
                .push(make_report(&ctx, &p, &h, &t, &items, false, fresh));
        }
    }
    res.elapsed = start.elapsed();
    res
}

/// Kinds with every "flag X" folded into "flags" (one report per culprit
/// and coarse kind is enough).
fn coarse(kinds: &str) -> String {
    let mut v: Vec<&str> = kinds
        .split(", ")
        .map(|k| if k.starts_with("flag ") { "flags" } else { k })
        .collect();
    v.dedup();
    v.join(", ")
}

/// The control transfers of a case (the suspects when it mismatches; the
/// flag setters and loop bodies have straight-line classes of their own).
fn suspects(p: &Prepared) -> Vec<Code> {
    let mut v: Vec<Code> = p
        .case
        .insns
        .iter()
        .filter(|i| i.flow_control() != FlowControl::Next)
        .map(|i| i.code())
        .collect();
    v.sort_by_key(|c| *c as u32);
    v.dedup();
    v
}

struct ReportCtx<'a> {
    class: Class,
    index: u64,
    cfg: &'a Config,
    layout: &'a Layout,
    target_name: &'static str,
    note: String,
}

fn make_report(
    ctx: &ReportCtx,
    p: &Prepared,
    h: &Outcome,
    t: &TargetOutcome,
    items: &[Item],
    shrunk: bool,
    fresh: &mut dyn FnMut() -> Box<dyn Target>,
) -> String {
    let (class, index, layout) = (ctx.class, ctx.index, ctx.layout);
    // Does a brand-new target get it right? Then state left over from
    // earlier cases (decode cache, TLB...) is to blame.
    let mut f = fresh();
    let stale = run_target(&mut *f, p).is_ok_and(|ft| {
        compare(p, h, &ft, layout, ctx.cfg.strict_flags)
            .0
            .is_empty()
    });
    let header = format!(
        "=== [{}] case {index}{}: {}\n  re-run: VTDEMU_DIFF_SEED={:#x} VTDEMU_DIFF_ONLY={}:{index} \
         cargo test -p tests --test cpu_differential {}{}{}",
        class.name(),
        if shrunk {
            format!(" (first {} instructions of it)", p.case.insns.len())
        } else {
            String::new()
        },
        one_line(p, layout),
        ctx.cfg.seed,
        class.name(),
        class.name(),
        ctx.note,
        if stale {
            "\n  NOTE: a freshly created interpreter gets this case right: state left \
             over from earlier cases (stale decoded code? TLB?) is to blame"
        } else {
            ""
        }
    );
    report(&header, p, layout, h, t, items, ctx.target_name)
}

type Shrunk = (Prepared, Outcome, TargetOutcome, Vec<Item>, bool);

fn shrink(
    p: &Prepared,
    host: &mut HostRunner,
    target: &mut Box<dyn Target>,
    fresh: &mut dyn FnMut() -> Box<dyn Target>,
    layout: &Layout,
    cfg: &Config,
) -> Option<Shrunk> {
    for n in 1..p.case.insns.len() {
        let q = p.case.prefix(n).prepare(layout).ok()?;
        let h = host.run(&q);
        let t = run_guarded(target, fresh, &q, &h);
        let (items, _) = compare(&q, &h, &t, layout, cfg.strict_flags);
        if !items.is_empty() {
            return Some((q, h, t, items, true));
        }
    }
    None
}
