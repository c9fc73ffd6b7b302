//! Real guests for integration tests: the Debian kernel and busybox
//! initramfs that `scripts/fetch-guest.sh` puts in the cache, and a serial
//! console captured into memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The folder holding `vmlinuz` and the initramfs images
/// (`$VTDEMU_CACHE/guest`, by default `cache/guest` in the repository).
pub fn guest_dir() -> PathBuf {
    std::env::var_os("VTDEMU_CACHE")
        .map_or_else(|| repo().join("cache"), PathBuf::from)
        .join("guest")
}

/// The fetched kernel. Panics with the command to run if it is missing.
pub fn kernel() -> Vec<u8> {
    let path = guest_dir().join("vmlinuz");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-guest.sh first", path.display()))
}

/// Builds (or reuses, the build is reproducible) an initramfs whose /init
/// runs `script` (a file under `tests/guest/`) and then powers off.
pub fn initramfs_running(script: &str) -> Vec<u8> {
    let src = repo().join("tests/guest").join(script);
    let name = Path::new(script)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("test");
    let out = guest_dir().join(format!("initramfs-{name}.cpio.gz"));
    let status = Command::new(repo().join("scripts/make-initramfs.sh"))
        .arg("--script")
        .arg(&src)
        .arg("--out")
        .arg(&out)
        .arg("--modules")
        .arg("none")
        .status()
        .expect("cannot run scripts/make-initramfs.sh");
    assert!(
        status.success(),
        "scripts/make-initramfs.sh failed for {script}"
    );
    std::fs::read(&out).expect("make-initramfs.sh wrote no archive")
}

/// A serial console that keeps everything the guest prints.
#[derive(Clone, Default)]
pub struct Console(Arc<Mutex<Vec<u8>>>);

impl Console {
    /// Everything printed so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
