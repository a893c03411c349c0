//! The set of secret values known to this run.

use std::fmt;
use std::sync::{Arc, RwLock, TryLockError};

use secrecy::{ExposeSecret, SecretString};

use super::forms::MIN_SECRET_LEN;
use super::redact::{Redacted, Redactor};

/// What [`SecretRegistry::register`] did with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// The value is new and is redacted from now on.
    Added,
    /// The value was already registered.
    AlreadyKnown,
    /// The value is shorter than [`MIN_SECRET_LEN`] bytes and is not matched literally
    /// (only the pattern rules can catch it).
    TooShort,
}

/// The secret values known to this run: every secret loaded from a profile or typed in by the
/// operator is registered here as soon as it exists, and everything written passes through
/// the [`Redactor`] built from them.
///
/// Cloning shares the same set. `Debug` shows only how many values there are.
#[derive(Clone, Default)]
pub struct SecretRegistry {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    values: Vec<SecretString>,
    /// The redactor for the current values; `None` after a registration until rebuilt.
    redactor: Option<Arc<Redactor>>,
}

impl fmt::Debug for SecretRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRegistry")
            .field("values", &self.len())
            .finish()
    }
}

impl SecretRegistry {
    /// An empty registry (the pattern rules still apply).
    pub fn new() -> SecretRegistry {
        SecretRegistry::default()
    }

    /// Registers a secret value.
    pub fn register(&self, value: &SecretString) -> Registration {
        if value.expose_secret().len() < MIN_SECRET_LEN {
            return Registration::TooShort;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner
            .values
            .iter()
            .any(|v| v.expose_secret() == value.expose_secret())
        {
            return Registration::AlreadyKnown;
        }
        inner.values.push(value.clone());
        inner.redactor = None;
        Registration::Added
    }

    /// How many values are registered.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values
            .len()
    }

    /// True when no value is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The redactor for the values registered so far (built once per change, then shared).
    pub fn redactor(&self) -> Arc<Redactor> {
        let values = {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = &inner.redactor {
                return Arc::clone(r);
            }
            inner.values.clone()
        };
        let built = Arc::new(Redactor::new(&values));
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        // Keep it only if nothing was registered meanwhile.
        if inner.values.len() == values.len() {
            inner.redactor = Some(Arc::clone(&built));
        }
        built
    }

    /// Like [`redactor`](Self::redactor) but never blocks: `None` when another thread holds
    /// the registry for writing. For contexts that must not wait, such as a panic hook.
    pub fn try_redactor(&self) -> Option<Arc<Redactor>> {
        let values = match self.inner.try_read() {
            Ok(inner) => match &inner.redactor {
                Some(r) => return Some(Arc::clone(r)),
                None => inner.values.clone(),
            },
            Err(TryLockError::Poisoned(e)) => {
                let inner = e.into_inner();
                match &inner.redactor {
                    Some(r) => return Some(Arc::clone(r)),
                    None => inner.values.clone(),
                }
            }
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(Arc::new(Redactor::new(&values)))
    }

    /// Redacts text with the current redactor.
    pub fn redact(&self, text: &str) -> Redacted {
        self.redactor().redact(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_rebuilds_the_redactor_and_ignores_short_values() {
        let reg = SecretRegistry::new();
        assert!(reg.is_empty());
        let before = reg.redactor();
        assert_eq!(before.secret_count(), 0);
        assert_eq!(
            reg.register(&SecretString::from("abc")),
            Registration::TooShort
        );
        assert_eq!(
            reg.register(&SecretString::from("hunter2-canary")),
            Registration::Added
        );
        assert_eq!(
            reg.register(&SecretString::from("hunter2-canary")),
            Registration::AlreadyKnown
        );
        assert_eq!(reg.len(), 1);
        let after = reg.redactor();
        assert_eq!(after.secret_count(), 1);
        assert!(Arc::ptr_eq(&after, &reg.redactor()), "cached");
        let r = reg.redact("login abc with hunter2-canary");
        assert_eq!(r.text, "login abc with <redacted:registered>");
        assert!(!format!("{reg:?}").contains("hunter2"));
        assert!(!format!("{after:?}").contains("hunter2"));
    }

    #[test]
    fn clones_share_the_same_values() {
        let a = SecretRegistry::new();
        let b = a.clone();
        b.register(&SecretString::from("shared-secret-1"));
        assert_eq!(
            a.redact("x shared-secret-1").text,
            "x <redacted:registered>"
        );
        assert!(a.try_redactor().is_some());
    }
}
