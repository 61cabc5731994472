//! Errors a user can act on, and the exit codes they map to.

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes: a script can tell bad input from a failed run from a table that would change.
pub mod exit {
    pub const OK: u8 = 0;
    pub const RUNTIME: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const TABLE_CHANGED: u8 = 3;
}

/// Bad input or configuration, found before anything was called or written: exit code 2.
///
/// Rendered as `file:line: field: message`, the way compilers report, so editors can jump to it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl InputError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        InputError {
            file: file.to_path_buf(),
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub fn line_opt(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// Several input errors found in one pass, so a user fixes them all at once.
#[derive(Debug, Clone, PartialEq)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

/// A usage error that is not tied to a file (conflicting flags, a missing run directory).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code for an error that reached the top.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<InputError>() || cause.is::<InputErrors>() || cause.is::<UsageError>() {
            return exit::BAD_INPUT;
        }
    }
    exit::RUNTIME
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_field() {
        let e = InputError::new(Path::new("d.jsonl"), "must not be empty")
            .at_line(7)
            .field("prompt");
        assert_eq!(e.to_string(), "d.jsonl:7: prompt: must not be empty");
    }

    #[test]
    fn input_errors_exit_2_even_when_wrapped() {
        let e = anyhow::Error::new(InputError::new(Path::new("r.toml"), "bad"))
            .context("loading the routes file");
        assert_eq!(exit_code(&e), exit::BAD_INPUT);
        assert_eq!(exit_code(&anyhow::anyhow!("disk full")), exit::RUNTIME);
    }
}
