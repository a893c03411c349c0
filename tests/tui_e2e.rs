//! The real binary in a real pseudo-terminal: `canton-dr run` and `resume` with the
//! interactive screen, against a runbook whose checks and commands work on local files (a
//! marker file in a scratch directory). Each test has its own data directory
//! (`CANTON_DR_DATA`), a fixed terminal size and `TERM`, waits for text with bounded polling
//! and always drains the output.

mod pty;

use std::path::{Path, PathBuf};

use portable_pty::CommandBuilder;
use pty::Pty;

const RUNBOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/runbooks/tui/e2e.toml");
const QUIT: u32 = 7;

/// A scratch site: the marker file, a profile binding the runbook's commands to it, and a
/// data directory.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        Site::with_remove(None)
    }

    /// A site whose `remove_marker` command runs `argv` instead of `rm`.
    fn with_remove(argv: Option<&str>) -> Site {
        let dir = tempfile::tempdir().expect("scratch directory");
        let d = dir.path();
        std::fs::write(d.join("marker"), "present\n").expect("marker");
        let profile = format!(
            "name = \"tui-e2e\"\n\n[params]\nwork_dir = \"{0}\"\n\n\
             [commands.marker_present]\nargv = [\"test\", \"-e\", \"{0}/marker\"]\n\n\
             [commands.remove_marker]\nargv = {1}\n",
            d.display(),
            argv.map_or_else(
                || format!("[\"rm\", \"{}/marker\"]", d.display()),
                str::to_owned
            )
        );
        std::fs::write(d.join("profile.toml"), profile).expect("profile");
        Site { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn marker(&self) -> PathBuf {
        self.path().join("marker")
    }

    fn command(&self, args: &[&str]) -> CommandBuilder {
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_canton-dr"));
        cmd.args(args);
        cmd.env("CANTON_DR_DATA", self.path().join("data"));
        cmd.env("CANTON_DR_OPERATOR", "e2e");
        cmd.cwd(self.path());
        cmd
    }

    fn run(&self, extra: &[&str]) -> Pty {
        let profile = self.path().join("profile.toml");
        let profile = profile.to_str().expect("utf-8 path");
        let mut args = vec!["run", RUNBOOK, "--profile", profile];
        args.extend_from_slice(extra);
        Pty::spawn(self.command(&args), 100, 30)
    }
}

/// Confirms the first step and enters the recovery point.
fn through_the_input(p: &mut Pty) {
    p.wait_for("do this by hand, then press Enter to confirm");
    p.send("\r");
    p.wait_for("Confirm step 'confirm-start'");
    p.send("\r");
    p.wait_for("Enter cutoff");
    p.send("2026-11-22T03:15:00.123456Z");
    p.wait_for("reads as 2026-11-22T03:15:00.123456Z");
    p.send("\r");
}

fn left_cleanly(p: &Pty) {
    assert!(
        !p.parser.screen().alternate_screen(),
        "back on the normal screen"
    );
    assert!(p.cooked(), "line editing and echo are back");
}

fn quit(p: &mut Pty) {
    p.send("q");
    p.wait_for("Quit now?");
    p.send("y");
    assert_eq!(p.wait_exit(), QUIT, "{}", p.screen());
    left_cleanly(p);
    assert!(
        p.screen().contains("resume with `canton-dr resume"),
        "{}",
        p.screen()
    );
}

#[test]
fn a_run_checks_the_marker_and_shows_the_evidence() {
    let site = Site::new();
    let mut p = site.run(&[]);
    p.wait_for(" LIVE ");
    through_the_input(&mut p);
    p.wait_for("DESTRUCTIVE: you will type 'wipe'");
    // The check ran by itself; its observation is in the journal pane and the step panel.
    p.send("l");
    p.wait_for("marker holds:");
    p.send("k");
    p.wait_for("Step 3 of 5");
    p.wait_for("✓ holds:");
    quit(&mut p);
    assert!(site.marker().exists(), "nothing destructive ran");
}

#[test]
fn an_input_is_checked_while_it_is_typed() {
    let site = Site::new();
    let mut p = site.run(&[]);
    p.wait_for("do this by hand, then press Enter to confirm");
    p.send("\r");
    p.wait_for("Confirm step 'confirm-start'");
    p.send("\r");
    p.wait_for("Enter cutoff");
    p.send("2026-11-22T03:15:00.123456789Z");
    p.wait_for("not a valid timestamp: more precise");
    p.send("\r");
    p.wait_for("not a valid timestamp: more precise");
    // Ctrl-U clears the field; a time in another zone reads as UTC.
    p.send("\x15");
    p.send("2026-11-22T04:15:00+01:00");
    p.wait_for("reads as 2026-11-22T03:15:00.000000Z");
    p.send("\r");
    p.wait_for("Step 4 of 5");
    p.send("v");
    p.wait_for("2026-11-22T03:15:00.000000Z  from cutoff");
    quit(&mut p);
}

#[test]
fn a_destructive_command_runs_only_with_its_id_typed() {
    let site = Site::new();
    let mut p = site.run(&[]);
    through_the_input(&mut p);
    p.wait_for("DESTRUCTIVE: you will type 'wipe'");
    p.wait_for("rm ");
    p.send("\r");
    p.wait_for("Run destructive step 'wipe'");
    p.send("wip\r");
    p.wait_for("type the step id 'wipe' exactly");
    assert!(site.marker().exists(), "not run without the id");
    p.send("e\r");
    let code = p.wait_exit();
    assert_eq!(code, 0, "{}", p.screen());
    left_cleanly(&p);
    assert!(!site.marker().exists(), "the command ran");
    assert!(
        p.screen().contains("the runbook is complete"),
        "{}",
        p.screen()
    );
}

#[test]
fn quit_and_resume_continue_at_the_same_step() {
    let site = Site::new();
    let mut p = site.run(&[]);
    through_the_input(&mut p);
    p.wait_for("DESTRUCTIVE: you will type 'wipe'");
    p.send("\x03");
    p.wait_for("Quit now?");
    p.send("y");
    assert_eq!(p.wait_exit(), QUIT, "{}", p.screen());
    left_cleanly(&p);
    drop(p);

    let mut p = Pty::spawn(site.command(&["resume"]), 100, 30);
    p.wait_for("Step 4 of 5");
    p.wait_for("press Enter to run this command");
    p.wait_for("3/5 steps settled");
    p.send("l");
    p.wait_for("session resumed");
    p.send("\r");
    p.wait_for("Run destructive step 'wipe'");
    p.send("wipe\r");
    assert_eq!(p.wait_exit(), 0, "{}", p.screen());
    left_cleanly(&p);
    assert!(!site.marker().exists());
}

#[test]
fn a_dry_run_shows_the_command_and_a_failed_check_can_be_overridden() {
    let site = Site::new();
    let mut p = site.run(&["--dry-run"]);
    p.wait_for(" DRY-RUN ");
    through_the_input(&mut p);
    // The command is only shown, so the marker stays and the last check fails.
    p.wait_for("FAILED");
    assert!(site.marker().exists(), "a dry run changes nothing");
    p.send("s");
    p.wait_for("Override step 'gone'");
    p.send("dry run: the command was only shown");
    p.send("\t");
    p.send("gone\r");
    assert_eq!(p.wait_exit(), 0, "{}", p.screen());
    left_cleanly(&p);
    assert!(site.marker().exists());
}

#[test]
fn a_small_terminal_is_told_and_a_resize_brings_the_screen_back() {
    let site = Site::new();
    let mut p = site.run(&[]);
    p.wait_for("do this by hand, then press Enter to confirm");
    p.resize(70, 20);
    p.wait_for("at least 80x24");
    p.resize(100, 30);
    p.wait_for("do this by hand, then press Enter to confirm");
    quit(&mut p);
}

#[test]
fn after_a_crash_the_interrupted_command_is_put_to_the_operator() {
    // The command hangs, so canton-dr dies while it runs.
    let site = Site::with_remove(Some(r#"["sleep", "600"]"#));
    let mut p = site.run(&[]);
    through_the_input(&mut p);
    p.wait_for("DESTRUCTIVE: you will type 'wipe'");
    p.send("\r");
    p.wait_for("Run destructive step 'wipe'");
    p.send("wipe\r");
    p.wait_for("RUNNING");
    p.crash();
    drop(p);

    let mut p = Pty::spawn(site.command(&["resume"]), 100, 30);
    p.wait_for("Step 'wipe' was interrupted");
    p.wait_for("Did its effect happen?");
    p.send("d");
    p.wait_for("Mark 'wipe' done");
    p.send("checked by hand: the marker is still there, nothing was removed");
    p.send("\r");
    // Marked done, the run moves on; the marker is still there, so the last check fails.
    p.wait_for("FAILED");
    p.send("l");
    p.wait_for("wipe (in doubt) marked done");
    quit(&mut p);
    assert!(site.marker().exists());
}

#[test]
fn without_a_command_the_start_screen_offers_incidents_and_runbooks() {
    let site = Site::new();
    // One incident to resume: a run that stops at its first question.
    let profile = site.path().join("profile.toml");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_canton-dr"))
        .args([
            "run",
            RUNBOOK,
            "--profile",
            profile.to_str().expect("utf-8"),
            "--headless",
        ])
        .env("CANTON_DR_DATA", site.path().join("data"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run");
    assert_eq!(status.status.code(), Some(4));
    let mut cmd = site.command(&[]);
    cmd.cwd(env!("CARGO_MANIFEST_DIR"));
    let mut p = Pty::spawn(cmd, 110, 32);
    p.wait_for("Runbooks to start");
    p.wait_for("validator-restore");
    p.wait_for("Incidents (1 to resume");
    p.send("q");
    assert_eq!(p.wait_exit(), 0, "{}", p.screen());
    left_cleanly(&p);
}
