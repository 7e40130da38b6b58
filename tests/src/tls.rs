//! TLS for the tests: certificates from an operator's own authority (made
//! with `openssl`), and a TLS front that ends TLS (optionally requiring a
//! client certificate that authority signed) and passes the bytes to a
//! plain backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs `openssl args` in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) {
    let st = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl {args:?} failed");
}

/// The key parameters of every certificate made here: P-256, no passphrase.
const EC_KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/// An operator's own certificate authority in `dir`: `ca.key` and `ca.crt`.
/// Returns the certificate's path.
pub fn authority(dir: &Path) -> PathBuf {
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &EC_KEY,
            &["-days", "2", "-subj", "/CN=poolvc test CA", "-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat(),
    );
    dir.join("ca.crt")
}

/// A certificate for `subject` signed by [`authority`]'s, with the X.509
/// extensions `extensions` (one per line): `{name}.key` and `{name}.crt` in
/// `dir`. Returns (certificate, key).
pub fn signed(dir: &Path, name: &str, subject: &str, extensions: &str) -> (PathBuf, PathBuf) {
    let (key, csr, ext, crt) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.ext"), format!("{name}.crt"));
    openssl(dir, &[&["req"][..], &EC_KEY, &["-subj", subject, "-keyout", &key, "-out", &csr]].concat());
    std::fs::write(dir.join(&ext), extensions).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
    (dir.join(crt), dir.join(key))
}

/// TLS in front of `backend`: each connection's TLS is ended here and its
/// bytes passed to and from the backend. With `client_ca`, only clients
/// with a certificate it signed get through.
pub async fn front(cert: &Path, key: &Path, client_ca: Option<&Path>, backend: SocketAddr) -> SocketAddr {
    use tokio_rustls::rustls;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).unwrap().collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate, or has none admitted, ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}
