//! `vtdemu`: the command line.

use std::io::IsTerminal;

use anyhow::Context;
use clap::{Parser, Subcommand};
use machine::board::ClockKind;
use machine::{Machine, STATUS_HALTED_FOREVER, STATUS_TRIPLE_FAULT};
use tracing_subscriber::EnvFilter;

const EXIT_STATUS_HELP: &str = "\
Exit status:
  (V << 1) | 1  the guest wrote V to the debug-exit port (0x501)
  0             the machine was stopped without a guest exit value
  1             host error (cannot allocate memory, ...)
  2             bad command line";

/// A full-system x86-64 emulator built around an emulated Intel VT-d IOMMU.
#[derive(Parser)]
#[command(name = "vtdemu", version, after_help = exit_status_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Guest memory size: a number with a K, M or G suffix (binary units;
    /// a bare number means MiB)
    #[arg(
        short = 'm',
        long,
        value_name = "SIZE",
        default_value = "64M",
        value_parser = machine::parse_memory_size,
        global = true
    )]
    memory: u64,

    /// Write trace events to stderr, selected by a tracing EnvFilter
    /// directive such as `cpu::exc=debug`, `uart=trace` or `debug`
    #[arg(long, value_name = "FILTER", value_parser = parse_filter, global = true)]
    trace: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in demo guest: real mode to 64-bit long mode, a page
    /// fault and an invalid opcode handled, all reported on the serial port
    ///
    /// The guest prints each step on COM1 (this process's stdout) and ends by
    /// writing 0x10 to the debug-exit port, so a successful run exits with
    /// status 33. It needs at least 1M of guest memory.
    Demo,
    /// Boot a Linux kernel directly, as QEMU's -kernel does (64-bit boot
    /// protocol, ACPI tables, a Q35-like board)
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The kernel: a bzImage (e.g. cache/guest/vmlinuz from
    /// scripts/fetch-guest.sh)
    #[arg(long, value_name = "BZIMAGE")]
    kernel: std::path::PathBuf,
    /// An initial ramdisk to load beside the kernel
    #[arg(long, value_name = "FILE")]
    initrd: Option<std::path::PathBuf>,
    /// The kernel command line
    #[arg(long, value_name = "CMDLINE", default_value = "console=ttyS0")]
    append: String,
    /// Deterministic time: guest time advances NS nanoseconds per retired
    /// instruction and skips ahead while the guest halts, so the same boot
    /// replays exactly (QEMU's -icount shift=N,sleep=off)
    #[arg(long, value_name = "NS", num_args = 0..=1, default_missing_value = "1")]
    icount: Option<u64>,
}

/// Reads a file named on the command line, with a one-line error.
fn read_input(what: &str, path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

fn exit_status_help() -> String {
    format!(
        "{EXIT_STATUS_HELP}\n  {STATUS_TRIPLE_FAULT}             the guest triple-faulted\n  \
         {STATUS_HALTED_FOREVER}             the guest halted with interrupts disabled"
    )
}

/// Checks a `--trace` filter when the command line is parsed, so a bad one
/// is a usage error. (`EnvFilter` is not `Clone`, which clap needs, so the
/// text is kept and parsed again at start-up.)
fn parse_filter(text: &str) -> Result<String, String> {
    EnvFilter::try_new(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("vtdemu: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let filter =
        EnvFilter::try_new(cli.trace.as_deref().unwrap_or("warn")).context("bad trace filter")?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let clock = match &cli.command {
        Command::Run(RunArgs {
            icount: Some(ns), ..
        }) => {
            anyhow::ensure!(*ns > 0, "--icount needs at least 1 ns per instruction");
            ClockKind::Instructions { ns_per_insn: *ns }
        }
        _ => ClockKind::Host,
    };
    let mut machine = Machine::builder().memory(cli.memory).clock(clock).build()?;
    match &cli.command {
        Command::Demo => machine.load_demo()?,
        Command::Run(args) => {
            let kernel = read_input("kernel", &args.kernel)?;
            let initrd = args
                .initrd
                .as_deref()
                .map(|p| read_input("initrd", p))
                .transpose()?;
            machine.load_linux(&kernel, initrd.as_deref(), &args.append)?;
        }
    }
    if std::io::stdin().is_terminal() {
        machine::forward_stdin(machine.serial_input()).context("cannot read stdin")?;
    }
    let status = machine.run()?;
    if status.is_failure() {
        eprintln!("vtdemu: {status}");
    } else {
        tracing::info!(target: "machine", "{status}");
    }
    Ok(status.code())
}
