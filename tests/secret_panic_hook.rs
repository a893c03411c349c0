//! The redacting panic hook (T11, panic part): a panic message holding a registered secret is
//! printed redacted; other panics still reach the previous hook (the standard one or
//! color-eyre's). Panic hooks are process-wide, so each case runs in a fresh copy of this test
//! binary.

use std::process::Command;

use base64::Engine as _;
use canton_dr::secret::{SecretRegistry, install_redacting_panic_hook};
use secrecy::SecretString;

const ROLE: &str = "CANTON_DR_PANIC_HELPER";
const TEST_NAME: &str = "panic_messages_never_show_registered_secrets";
const CANARY: &str = "canary-panic-secret-5b1e7";

#[test]
fn panic_messages_never_show_registered_secrets() {
    if let Ok(role) = std::env::var(ROLE) {
        helper(&role);
        return;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let hex = hex::encode(CANARY);

    let out = run_helper("std-secret");
    assert!(!out.contains(CANARY), "{out}");
    assert!(!out.contains(&b64) && !out.contains(&hex), "{out}");
    assert!(
        out.contains("connect failed with <redacted:registered>"),
        "{out}"
    );
    assert!(
        out.contains("tests/secret_panic_hook.rs"),
        "location kept: {out}"
    );
    assert!(out.contains("secret(s) were redacted"), "{out}");

    let out = run_helper("std-encoded");
    assert!(!out.contains(&b64), "{out}");
    assert!(out.contains("header <redacted:registered>"), "{out}");

    let out = run_helper("std-plain");
    assert!(out.contains("panicked at"), "the standard hook ran: {out}");
    assert!(out.contains("nothing secret here"), "{out}");

    let out = run_helper("eyre-secret");
    assert!(!out.contains(CANARY), "{out}");
    assert!(out.contains("<redacted:registered>"), "{out}");

    let out = run_helper("eyre-plain");
    assert!(
        out.contains("The application panicked (crashed)."),
        "color-eyre's hook ran: {out}"
    );
    assert!(out.contains("nothing secret here"), "{out}");
}

fn run_helper(role: &str) -> String {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the helper");
    assert!(out.status.success(), "helper {role} failed: {out:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Installs the hooks and panics on a separate thread (so that the helper test still passes).
fn helper(role: &str) {
    if role.starts_with("eyre") {
        color_eyre::install().expect("color-eyre");
    }
    let registry = SecretRegistry::new();
    registry.register(&SecretString::from(CANARY));
    install_redacting_panic_hook(registry);
    let message = match role {
        "std-secret" | "eyre-secret" => format!("connect failed with {CANARY}"),
        "std-encoded" => format!(
            "header {}",
            base64::engine::general_purpose::STANDARD.encode(CANARY)
        ),
        _ => "nothing secret here".to_string(),
    };
    let joined = std::thread::Builder::new()
        .name("step".into())
        .spawn(move || panic!("{message}"))
        .expect("thread")
        .join();
    assert!(joined.is_err(), "the thread panicked");
}
