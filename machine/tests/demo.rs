//! The built-in demo, run on a whole machine with COM1 captured.

use std::io::Write;
use std::sync::Arc;

use machine::demo::{EXPECTED_EXIT_STATUS, EXPECTED_OUTPUT};
use machine::{ExitStatus, Machine};
use parking_lot::Mutex;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn demo_prints_every_step_and_exits_through_debug_exit() {
    let out = Captured::default();
    let mut m = Machine::builder()
        .memory(16 << 20)
        .serial_output(Box::new(out.clone()))
        .build()
        .unwrap();
    m.load_demo().unwrap();

    let status = m.run().unwrap();

    let text = String::from_utf8_lossy(&out.0.lock()).into_owned();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        EXPECTED_OUTPUT,
        "COM1 output:\n{text}"
    );
    assert_eq!(status, ExitStatus::DebugExit { value: 0x10 });
    assert_eq!(status.code(), EXPECTED_EXIT_STATUS);
}

#[test]
fn demo_refuses_too_little_memory() {
    let mut m = Machine::builder()
        .memory(256 << 10)
        .serial_output(Box::new(std::io::sink()))
        .build()
        .unwrap();
    assert!(m.load_demo().is_err());
}
