//! A panic hook that keeps secrets out of panic messages.

use std::io::Write;
use std::panic::PanicHookInfo;

use super::registry::SecretRegistry;

/// Installs a panic hook that redacts panic messages before they are printed.
///
/// It wraps the hook installed before it (the standard one, or color-eyre's when that was
/// installed first): a message without any secret goes to the previous hook unchanged. A
/// message with a secret cannot be handed on (a panic's payload cannot be replaced), so this
/// hook prints the redacted message and its location itself and skips the previous hook, whose
/// output would repeat the secret. If the registry is busy being written at the moment of the
/// panic, the message is withheld rather than printed unchecked.
pub fn install_redacting_panic_hook(registry: SecretRegistry) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let Some(message) = payload_text(info) else {
            // Not a string payload: the standard hooks print no content for it.
            previous(info);
            return;
        };
        let mut redactor = registry.try_redactor();
        for _ in 0..100 {
            if redactor.is_some() {
                break;
            }
            std::thread::yield_now();
            redactor = registry.try_redactor();
        }
        let Some(redactor) = redactor else {
            print_report(
                info,
                "<panic message withheld: the secret registry was busy>",
                0,
            );
            return;
        };
        let redacted = redactor.redact(message);
        if redacted.is_clean() {
            previous(info);
        } else {
            print_report(info, &redacted.text, redacted.total());
        }
    }));
}

fn payload_text<'a>(info: &'a PanicHookInfo<'_>) -> Option<&'a str> {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

fn print_report(info: &PanicHookInfo<'_>, message: &str, replaced: usize) {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "an unknown location".into());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "thread '{name}' panicked at {location}:\n{message}");
    if replaced > 0 {
        let _ = writeln!(
            err,
            "note: {replaced} secret(s) were redacted from this panic message"
        );
    }
}
