//! Exit codes, one meaning each. `--help` lists them.

/// Everything asked for succeeded (a run completed; a drill completed and passed; input valid).
pub const OK: u8 = 0;
/// The answer is "no": validation found problems, verification failed, a drill was judged FAIL.
pub const FAILED: u8 = 1;
/// Bad usage or an I/O error before anything started.
pub const USAGE: u8 = 2;
/// A step failed and the run stopped; the incident can be resumed.
pub const STEP_FAILED: u8 = 3;
/// The run needs an operator answer the answers file does not give; resumable.
pub const NEEDS_OPERATOR: u8 = 4;
/// The journal is damaged; nothing was changed (see `canton-dr repair`).
pub const JOURNAL_DAMAGED: u8 = 5;
/// Another canton-dr process holds the incident.
pub const LOCKED: u8 = 6;
/// The operator quit; the incident can be resumed.
pub const QUIT: u8 = 7;
/// The run was aborted for good.
pub const ABORTED: u8 = 8;
/// Interrupted by a signal (Ctrl-C).
pub const INTERRUPTED: u8 = 130;

/// The table printed at the end of `--help`.
pub const HELP: &str = "\
Exit status:
  0    success (a run or drill completed; a drill was judged PASS; input is valid)
  1    a check said no (validation problems, verification failed, drill judged FAIL)
  2    bad usage, or an error before anything started
  3    a step failed and the run stopped (resumable)
  4    an operator answer is missing in headless mode (resumable)
  5    the journal is damaged; nothing was changed (see `canton-dr repair`)
  6    another canton-dr process holds the incident
  7    the operator quit (resumable)
  8    the run was aborted
  130  interrupted by Ctrl-C";
