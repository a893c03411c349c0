//! The shipped runbooks against the documents they implement: for every numbered procedure in
//! the source documents (`../shared/seeds/`), the runbook has a step for each numbered step, in
//! the same order, found through the steps' `implements` references.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use canton_dr::runbook::Runbook;

fn seeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds")
}

fn seed(prefix: &str) -> String {
    let entry = std::fs::read_dir(seeds())
        .unwrap_or_else(|e| panic!("the source documents are expected in ../shared/seeds: {e}"))
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no seed {prefix}"));
    std::fs::read_to_string(entry).unwrap()
}

/// The numbered steps ("  1. …") between two markers of a document.
fn numbered(text: &str, from: &str, to: Option<&str>) -> Vec<String> {
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("marker {from:?} not found"));
    let rest = &text[start + from.len()..];
    let end = to.and_then(|t| rest.find(t)).unwrap_or(rest.len());
    rest[..end]
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (n, body) = l.split_once(". ")?;
            n.parse::<u32>().ok().map(|_| body.trim().to_owned())
        })
        .collect()
}

/// The "**Step N — …**" headings of a document section.
fn headed_steps(text: &str, from: &str) -> Vec<String> {
    let start = text.find(from).unwrap();
    text[start..]
        .lines()
        .filter_map(|l| {
            l.strip_prefix("**Step ")
                .map(|s| s.trim_end_matches("**").to_owned())
        })
        .collect()
}

fn runbook(name: &str) -> Runbook {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks")
        .join(name);
    canton_dr::runbook::load(&path).unwrap_or_else(|d| panic!("{d}"))
}

/// Asserts `rb` has steps implementing `proc:1..=n` in order; returns their positions.
fn assert_in_order(rb: &Runbook, procedure: &str, steps: &[String]) -> Vec<usize> {
    assert!(
        !steps.is_empty(),
        "{procedure}: no numbered steps found in the document"
    );
    let mut positions = Vec::new();
    for (k, title) in steps.iter().enumerate() {
        let tag = format!("{procedure}:{}", k + 1);
        let pos = rb
            .steps
            .iter()
            .position(|s| s.implements.iter().any(|i| i == &tag))
            .unwrap_or_else(|| {
                panic!("runbook {} has no step implementing {tag} ({title})", rb.id)
            });
        positions.push(pos);
    }
    for w in positions.windows(2) {
        assert!(
            w[0] <= w[1],
            "{procedure}: steps out of order in runbook {}: {positions:?}",
            rb.id
        );
    }
    positions
}

#[test]
fn validator_restore_follows_the_exchange_guide_step_by_step() {
    let text = seed("001_");
    let steps = numbered(
        &text,
        "Follow these steps to restore the Exchange Validator Node",
        Some("Note"),
    );
    assert_eq!(steps.len(), 7, "{steps:?}");
    let rb = runbook("validator-restore.toml");
    assert_in_order(&rb, "validator-restore", &steps);

    // The variant for non-unique record times replaces step 5 and adds the update-id filter.
    let variant = numbered(
        &text,
        "adjusting Step 5 as follows",
        Some("Restoring the Canton Integration DB"),
    );
    assert_eq!(variant.len(), 2, "{variant:?}");
    let pos = assert_in_order(&rb, "non-unique-record-times", &variant);
    for p in pos {
        let when = rb.steps[p]
            .when
            .as_ref()
            .expect("the variant's steps are conditional");
        assert!(when.source().contains("non_unique_record_times"));
    }
    // The 30-day rule and the caveats are shown where they apply.
    let text_of = |id: &str| {
        let s = rb.step(id).unwrap_or_else(|| panic!("no step {id}"));
        format!(
            "{} {} {}",
            s.title,
            s.caveat.clone().unwrap_or_default(),
            s.why.clone().unwrap_or_default()
        )
    };
    assert!(text_of("check-participant-dump").contains("30 days"));
    assert!(text_of("check-dump-order").contains("strictly earlier"));
    assert!(text_of("dedup-window").contains("tolerance"));
}

#[test]
fn integration_db_restore_follows_the_exchange_guide_step_by_step() {
    let text = seed("001_");
    let steps = numbered(
        &text,
        "You can do so as follows:",
        Some("Step 3 takes care"),
    );
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_in_order(
        &runbook("integration-db-restore.toml"),
        "integration-db-restore",
        &steps,
    );
}

#[test]
fn the_compose_restore_follows_the_documented_steps() {
    let text = seed("003_");
    let steps = headed_steps(&text, "## Restore");
    assert_eq!(steps.len(), 5, "{steps:?}");
    let rb = runbook("include/restore-compose.toml");
    assert_in_order(&rb, "compose-restore", &steps);
    // The Splice procedure's extra steps sit where the docs put them.
    let pos = |id: &str| rb.index_of(id).unwrap_or_else(|| panic!("no step {id}"));
    assert!(pos("stop") < pos("remove-volume") && pos("remove-volume") < pos("start-postgres"));
    assert!(
        pos("start-postgres") < pos("postgres-ready")
            && pos("postgres-ready") < pos("restore-validator-db")
    );
    assert!(pos("restore-validator-db") < pos("restore-participant-db"));
    assert!(
        pos("restore-participant-db") < pos("compose-down") && pos("compose-down") < pos("start")
    );
}

#[test]
fn backups_keep_the_documented_order() {
    let splice = seed("004_");
    assert!(splice.contains("strictly earlier than that of the participant"));
    let rb = runbook("validator-backup.toml");
    let first = |tag: &str| {
        rb.steps
            .iter()
            .position(|s| s.implements.iter().any(|i| i == tag))
            .unwrap()
    };
    assert!(first("validator-backups:identities") < first("validator-backups:order"));
    let v = rb.index_of("dump-validator").unwrap();
    let p = rb.index_of("dump-participant").unwrap();
    let o = rb.index_of("check-order").unwrap();
    assert!(
        v < p && p < o,
        "validator dump, then participant dump, then the order check"
    );

    let canton = seed("002_");
    assert!(canton.contains("Back up the mediators and participants before the sequencer"));
    let rb = runbook("canton-node-backup.toml");
    let first = |tag: &str| {
        rb.steps
            .iter()
            .position(|s| s.implements.iter().any(|i| i == tag))
            .unwrap()
    };
    assert!(
        first("order-of-backups:applications-first")
            < first("order-of-backups:participants-and-mediators")
    );
    assert!(
        first("order-of-backups:participants-and-mediators")
            < first("order-of-backups:sequencer-last")
    );
    assert!(
        rb.steps[first("order-of-backups:single-step")]
            .caveat
            .as_deref()
            .unwrap()
            .contains("no component writes")
    );
}
