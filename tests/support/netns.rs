//! Throw-away network namespaces for tests: [`netbase_runtime::netns::Netns`] with the
//! panicking `ip` helpers that tests want.

use std::ops::Deref;

use netbase_runtime::netns::Netns;

/// A namespace named `nbt-<pid>-<counter>` (see [`Netns::unique`]), deleted again when dropped,
/// also while a failing test unwinds. Dereferences to [`Netns`] (`name`, `path`, `run`, …).
#[derive(Debug)]
pub struct TestNetns(Netns);

impl TestNetns {
    /// Creates a namespace with a name unique to this process.
    pub fn new() -> Result<Self, String> {
        Ok(TestNetns(Netns::unique("nbt")?))
    }

    /// Runs `ip -n NAME <args>`; its stdout, or its stderr as the error.
    pub fn try_ip(&self, args: &[&str]) -> Result<String, String> {
        Ok(self.0.ip(args)?)
    }

    /// Runs `ip -n NAME <args>`, panicking with its stderr when it fails.
    #[track_caller]
    pub fn ip(&self, args: &[&str]) -> String {
        self.try_ip(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `ip -n NAME <line>` for each whitespace-separated command line, panicking at the
    /// first failure.
    #[track_caller]
    pub fn ip_lines(&self, lines: &[&str]) {
        self.0.ip_lines(lines).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl From<Netns> for TestNetns {
    fn from(ns: Netns) -> Self {
        TestNetns(ns)
    }
}

impl Deref for TestNetns {
    type Target = Netns;

    fn deref(&self) -> &Netns {
        &self.0
    }
}
