//! A drill in the interactive screen, as an operator rehearses one: the real binary in a
//! pseudo-terminal runs `canton-dr drill validator-backup`, which starts the sandbox; the test
//! presses Enter at every step and confirms what asks for confirmation, as the operator
//! would, until the drill end screen shows the judge's verdict and the score. Leaving it stops
//! the sandbox: afterwards no process refers to the drill's directories and no cluster
//! directory is left.

mod pty;

use std::os::unix::fs::PermissionsExt;

use portable_pty::CommandBuilder;
use pty::Pty;

/// The header's "N/M steps settled", as (N, M).
fn settled(screen: &str) -> Option<(u32, u32)> {
    let at = screen.find(" steps settled")?;
    let before = &screen[..at];
    let fraction = before.rsplit(' ').next()?;
    let (n, m) = fraction.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

fn ended(screen: &str) -> bool {
    screen.contains("DRILL PASSED") || screen.contains("DRILL FAILED")
}

fn asks_for_enter(screen: &str) -> bool {
    screen.contains("NEXT  press Enter") || screen.contains("NEXT  do this by hand")
}

/// The processes (other than this test) whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(needle)
                .then(|| format!("{}: {text}", e.file_name().to_string_lossy()))
        })
        .collect()
}

#[test]
fn a_drill_runs_in_the_screen_to_its_verdict_and_leaves_nothing_running() {
    let site = tempfile::tempdir().expect("scratch directory");
    let data = site.path().join("data");
    // The sandbox's PostgreSQL cluster lives under TMPDIR: put it inside the site too, where
    // the unprivileged server user can reach it, so that the check at the end covers it.
    let tmp = site.path().join("tmp");
    std::fs::create_dir(&tmp).expect("tmp directory");
    for dir in [site.path(), tmp.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_canton-dr"));
    cmd.args(["drill", "validator-backup"]);
    cmd.env("CANTON_DR_DATA", &data);
    cmd.env("TMPDIR", &tmp);
    cmd.env("CANTON_DR_OPERATOR", "e2e");
    cmd.cwd(site.path());
    let mut p = Pty::spawn(cmd, 120, 40);

    // The mode banner, the runbook and its first step.
    p.wait_for("Step 1 of 11");
    let screen = p.screen();
    assert!(screen.contains("DRILL"), "{screen}");
    assert!(
        screen.contains("Back up the Exchange Validator Node"),
        "{screen}"
    );
    assert_eq!(settled(&screen), Some((0, 11)), "{screen}");

    // Every step as the operator does it: Enter runs or confirms the step; a confirmation
    // dialog is confirmed with Enter. Each key waits for the screen to answer it.
    let mut keys = 0;
    loop {
        let screen = p.wait_until("the next step, a dialog or the verdict", |s| {
            ended(s) || s.contains("Confirm step") || asks_for_enter(s)
        });
        if ended(&screen) {
            break;
        }
        keys += 1;
        assert!(
            keys <= 40,
            "too many keys for an 11-step runbook:\n{screen}"
        );
        let before = settled(&screen);
        let in_dialog = screen.contains("Confirm step");
        p.send("\r");
        p.wait_until("the answer to Enter", |s| {
            ended(s)
                || settled(s) != before
                || (in_dialog != s.contains("Confirm step"))
                || s.contains("FAILED")
        });
    }

    // The end screen, drawn in full: the verdict, the judge's checks, the score.
    p.wait_for("within budget");
    let screen = p.screen();
    assert!(screen.contains("DRILL PASSED"), "{screen}");
    assert!(screen.contains("The judge's checks"), "{screen}");
    assert!(screen.contains("Score"), "{screen}");
    assert!(screen.contains("within budget"), "{screen}");
    assert!(!screen.contains('✗'), "a judge's check failed:\n{screen}");

    p.send("q");
    assert_eq!(p.wait_exit(), 0, "{}", p.screen());
    assert!(
        !p.parser.screen().alternate_screen(),
        "back on the normal screen"
    );
    assert!(p.cooked(), "line editing and echo are back");
    let said = String::from_utf8_lossy(&p.raw).to_string();
    assert!(said.contains("drill verdict PASS"), "{said}");

    // The sandbox was told to stop before the program exited; give its processes a bounded
    // moment to be reaped.
    let deadline = std::time::Instant::now() + pty::patience();
    let left = loop {
        let left = processes_mentioning(&site.path().to_string_lossy());
        if left.is_empty() || std::time::Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(left.is_empty(), "still running after the drill: {left:#?}");
    let clusters: Vec<_> = std::fs::read_dir(tmp.join("canton-dr-sandbox"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(clusters.is_empty(), "left behind: {clusters:#?}");
}
