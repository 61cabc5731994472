//! Standard output of the commands.
//!
//! A reader that stops early (`routecal monitor LOG | head -1`) closes the pipe: the rest of the
//! output is dropped quietly, the command still finishes its work (nothing it writes to files is
//! cut short) and keeps its exit code. Any other write error (a full disk behind `>`) is kept and
//! fails the command once its work is done (exit 1). `outln!` would panic on both.

use std::io::{ErrorKind, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);
static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Write formatted text to stdout and flush it; after the first failed write, write nothing more.
pub fn write(args: std::fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != ErrorKind::BrokenPipe {
            let mut failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
            failed.get_or_insert(e);
        }
    }
}

/// Whether stdout is gone (closed by its reader, or failing): further output would be dropped.
pub fn is_closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// The first write error other than a closed pipe, if any.
pub fn take_error() -> Option<std::io::Error> {
    FAILED.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// `print!` that survives a closed pipe (see the module documentation).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cmd::out::write(format_args!($($arg)*))
    };
}

/// `outln!` that survives a closed pipe (see the module documentation).
macro_rules! outln {
    () => {
        $crate::cmd::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cmd::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
