//! Test PKI generated on the fly: a CA, a server certificate for `localhost`, a client
//! certificate, and a second, unrelated CA.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl Pki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
}

/// Writes `ca.pem`, `other-ca.pem`, `client.pem`, `client.key` into a temporary directory
/// and returns the server's certificate and key (valid for `localhost` only).
pub fn generate() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = new_ca("canton-dr test CA");
    let other = new_ca("an unrelated CA");

    let server_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "participant");
    let server = params.signed_by(&server_key, &ca).expect("server cert");

    let client_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["canton-dr-client".to_string()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "canton-dr client");
    let client = params.signed_by(&client_key, &ca).expect("client cert");

    std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
    std::fs::write(dir.path().join("other-ca.pem"), other.pem()).expect("write");
    std::fs::write(dir.path().join("client.pem"), client.pem()).expect("write");
    std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).expect("write");
    std::fs::write(dir.path().join("not-pem.txt"), "hello").expect("write");
    Pki {
        ca_pem: ca.pem(),
        server_cert_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        dir,
    }
}
