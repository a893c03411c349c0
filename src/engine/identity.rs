//! Who is working on an incident, and where (R13).

/// The person and machine behind each record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The name the operator gave (`--operator` or `CANTON_DR_OPERATOR`), else the OS user.
    pub name: String,
    /// The operating-system user.
    pub user: String,
    pub host: String,
}

impl Operator {
    /// The current OS user and host, with an optional configured name.
    pub fn current(name: Option<String>) -> Operator {
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {}", nix::unistd::getuid()), |u| u.name);
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown-host".to_owned());
        let name = name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| user.clone());
        Operator { name, user, host }
    }
}
