//! Standard output and standard error of the commands.
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

/// Write formatted text to stderr; a closed or failing stderr is ignored: there is nowhere left
/// to report it, and progress or a warning is no reason to stop a run.
pub fn write_err(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// `eprint!` that survives a closed stderr (see the module documentation).
#[macro_export]
macro_rules! eout {
    ($($arg:tt)*) => {
        $crate::base::out::write_err(format_args!($($arg)*))
    };
}

/// `eoutln!` that survives a closed stderr (see the module documentation).
#[macro_export]
macro_rules! eoutln {
    () => {
        $crate::base::out::write_err(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::base::out::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that survives a closed pipe (see the module documentation).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::base::out::write(format_args!($($arg)*))
    };
}

/// `outln!` that survives a closed pipe (see the module documentation).
macro_rules! outln {
    () => {
        $crate::base::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::base::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
