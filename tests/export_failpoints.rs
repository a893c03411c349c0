//! The export's failpoints (built only with `--features failpoints`): a crash (panic) or an I/O
//! failure at each point of an atomic export write leaves the old export or none, never a
//! partial file (R15, T18).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use canton_dr::export::write_private;

const POINTS: [&str; 3] = [
    "export::after_write",
    "export::before_rename",
    "export::after_rename",
];

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_crash_or_failure_at_each_failpoint_leaves_the_old_export_or_the_new_one() {
    let old = b"# old transcript\n".to_vec();
    let new = b"# new transcript, longer than the old one\n".to_vec();
    for point in POINTS {
        for action in ["panic", "return"] {
            for had_old in [true, false] {
                let tmp = tempfile::tempdir().expect("tempdir");
                fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
                let path = tmp.path().join("transcript.md");
                if had_old {
                    write_private(&path, &old).expect("first export");
                }
                fail::cfg(point, action).expect("configure failpoint");
                let result = catch_unwind(AssertUnwindSafe(|| write_private(&path, &new)));
                fail::remove(point);
                match action {
                    "panic" => assert!(result.is_err(), "{point}"),
                    _ => {
                        let err = result.expect("no panic").expect_err("injected failure");
                        assert!(err.to_string().contains(point), "{err}");
                    }
                }
                let now = fs::read(&path).ok();
                let expected = if point == "export::after_rename" {
                    Some(new.clone())
                } else if had_old {
                    Some(old.clone())
                } else {
                    None
                };
                assert_eq!(now, expected, "{point} {action} had_old={had_old}");
                for name in names(tmp.path()) {
                    assert!(
                        name == "transcript.md"
                            || (action == "panic"
                                && name.starts_with(".transcript.md.")
                                && name.ends_with(".tmp")),
                        "{point} {action}: unexpected {name}"
                    );
                }
                // The next export after the crash succeeds and is complete.
                write_private(&path, &new).expect("export after the failure");
                assert_eq!(fs::read(&path).unwrap(), new);
            }
        }
    }
}
