//! Injected I/O failures, for tests that check that a log stays usable when the disk fails in
//! the middle of a change made of several file operations (truncation, segment deletion).
//! Nothing arms it outside tests; unarmed, a step costs one branch.

use std::io;

#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// File operations still allowed to succeed before the next one fails; `None` = never fail.
    remaining_steps: Option<u32>,
}

impl Faults {
    pub fn arm(&mut self, succeed_steps: u32) {
        self.remaining_steps = Some(succeed_steps);
    }

    pub fn is_armed(&self) -> bool {
        self.remaining_steps.is_some()
    }

    /// Called before each file operation of a multi-step change: fails it if armed to.
    pub fn step(&mut self, what: &'static str) -> io::Result<()> {
        match self.remaining_steps {
            None => Ok(()),
            Some(0) => {
                self.remaining_steps = None;
                Err(io::Error::other(format!("injected I/O failure at: {what}")))
            }
            Some(n) => {
                self.remaining_steps = Some(n - 1);
                Ok(())
            }
        }
    }
}
