//! Profiles: the site bindings (endpoints, TLS, auth, databases, named queries and commands).
