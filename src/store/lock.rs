//! The run directory's lock (`run.lock`): one writer at a time.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::run_dir::RunDir;
use crate::base::error::UsageError;

/// An exclusive lock on a run directory, held until drop: two cron jobs, or a `report` and an
/// `apply`, never write one run directory at once.
///
/// The lock is the operating system's advisory lock on `run.lock` (`flock` on Unix), so it is
/// released whenever the holder exits, a `kill -9` included: a crashed run never leaves a stale
/// lock behind. The file stays (unlinking it would let a third process lock a fresh file while a
/// second one waits on the old) and names the holder's pid while held.
pub struct Lock {
    file: std::fs::File,
}

impl Lock {
    /// Take the lock of the run directory `dir`, or fail at once with a usage error naming the
    /// holder when another process has it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Lock> {
        let path = RunDir::new(dir).lock();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", dir.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                let owner = owner.trim();
                return Err(UsageError(format!(
                    "{} is in use by another routecal process{}; try again when it has finished",
                    dir.display(),
                    if owner.is_empty() {
                        String::new()
                    } else {
                        format!(" ({owner})")
                    }
                ))
                .into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(anyhow::anyhow!("cannot lock {}: {e}", dir.display()));
            }
        }
        let mut lock = Lock { file };
        lock.file.set_len(0)?;
        writeln!(
            lock.file,
            "pid {} since {}",
            std::process::id(),
            jiff::Timestamp::now()
        )?;
        lock.file.sync_all()?;
        Ok(lock)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Clear the holder's name before the lock goes with the file handle.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path()).unwrap();
        let held = std::fs::read_to_string(RunDir::new(dir.path()).lock()).unwrap();
        assert!(
            held.starts_with(&format!("pid {} ", std::process::id())),
            "{held}"
        );
        let err = Lock::acquire(dir.path()).err().expect("refused");
        assert!(err.is::<UsageError>(), "{err}");
        assert!(
            err.to_string()
                .contains("in use by another routecal process")
        );
        drop(first);
        assert_eq!(
            std::fs::read_to_string(RunDir::new(dir.path()).lock()).unwrap(),
            ""
        );
        let _again = Lock::acquire(dir.path()).unwrap();
    }
}
