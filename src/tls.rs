//! TLS with rustls: TLS 1.3 only by default; optionally TLS 1.2 limited to ECDHE key
//! exchange with AEAD ciphers. Self-signed certificates for `init`, and the SHA-256
//! fingerprint staff compare with what their browser shows.

use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{CipherSuite, SupportedCipherSuite};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// A certificate chain and its private key, read from PEM files.
pub struct TlsMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("chain_len", &self.chain.len())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl TlsMaterial {
    /// Reads the certificate chain and key. Errors name the file and what was expected.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, Error> {
        let cert_pem = read(cert_path, "read the TLS certificate")?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::BadKeyFile {
                path: cert_path.to_owned(),
                message: format!("not a PEM certificate file ({e})"),
            })?;
        if chain.is_empty() {
            return Err(Error::BadKeyFile {
                path: cert_path.to_owned(),
                message: "contains no certificate; expected a PEM file with \
                          -----BEGIN CERTIFICATE-----"
                    .to_owned(),
            });
        }
        let key_pem = read(key_path, "read the TLS private key")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| Error::BadKeyFile {
            path: key_path.to_owned(),
            message: format!("no usable private key; expected PEM PKCS#8, SEC1 or PKCS#1 ({e})"),
        })?;
        Ok(TlsMaterial { chain, key })
    }

    /// SHA-256 fingerprint of the leaf certificate, as browsers display it.
    pub fn fingerprint(&self) -> String {
        fingerprint_sha256(&self.chain[0])
    }
}

fn read(path: &Path, action: &'static str) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    })
}

/// `AB:CD:...` upper-case hex of the SHA-256 of the DER certificate.
pub fn fingerprint_sha256(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let hex = hex::encode_upper(digest);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap_or("??"))
        .collect::<Vec<_>>()
        .join(":")
}

/// TLS 1.2 suites allowed with `allow_tls12`: ECDHE key exchange and AEAD ciphers only.
const TLS12_SUITES: [CipherSuite; 6] = [
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// The crypto provider (ring) with the suites policy applied.
pub fn provider(allow_tls12: bool) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| match suite {
        SupportedCipherSuite::Tls13(_) => true,
        SupportedCipherSuite::Tls12(s) => allow_tls12 && TLS12_SUITES.contains(&s.common.suite),
    });
    provider
}

/// The rustls server configuration: protocol versions per policy, HTTP/2 and HTTP/1.1.
pub fn server_config(
    material: &TlsMaterial,
    allow_tls12: bool,
) -> Result<rustls::ServerConfig, Error> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = if allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider(allow_tls12)))
        .with_protocol_versions(versions)
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(material.chain.clone(), material.key.clone_key())
        .map_err(|e| {
            Error::Tls(format!(
                "certificate and private key do not fit together: {e}"
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A freshly generated self-signed certificate and its key, both PEM.
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Generates an ECDSA P-256 self-signed certificate covering `host_names` and `ips`.
pub fn generate_self_signed(host_names: &[String], ips: &[IpAddr]) -> Result<SelfSigned, Error> {
    let names: Vec<String> = host_names
        .iter()
        .cloned()
        .chain(ips.iter().map(IpAddr::to_string))
        .collect();
    let mut params = rcgen::CertificateParams::new(names)
        .map_err(|e| Error::KeyGeneration(format!("tls.host_names: {e}")))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "Akari emergency viewer node");
    dn.push(rcgen::DnType::OrganizationName, "Akari (self-signed)");
    params.distinguished_name = dn;
    let key = rcgen::KeyPair::generate().map_err(|e| Error::KeyGeneration(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| Error::KeyGeneration(e.to_string()))?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls12_policy_keeps_only_ecdhe_aead_suites() {
        let only13 = provider(false);
        assert!(only13
            .cipher_suites
            .iter()
            .all(|s| matches!(s, SupportedCipherSuite::Tls13(_))));
        let with12 = provider(true);
        let tls12: Vec<String> = with12
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert!(!tls12.is_empty());
        for name in tls12 {
            assert!(
                name.contains("ECDHE") && (name.contains("GCM") || name.contains("CHACHA20")),
                "{name}"
            );
        }
    }

    #[test]
    fn generated_certificate_loads_and_has_a_stable_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let generated = generate_self_signed(
            &["akari.example".to_owned()],
            &["10.0.0.5".parse().unwrap()],
        )
        .unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        fs::write(&cert, &generated.cert_pem).unwrap();
        fs::write(&key, &generated.key_pem).unwrap();
        let material = TlsMaterial::load(&cert, &key).unwrap();
        let fp = material.fingerprint();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert_eq!(fp, TlsMaterial::load(&cert, &key).unwrap().fingerprint());
        server_config(&material, false).unwrap();
        assert!(!format!("{material:?}").contains("BEGIN"));
    }

    #[test]
    fn missing_and_garbage_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let err = TlsMaterial::load(&cert, &dir.path().join("key.pem")).unwrap_err();
        assert!(err.to_string().contains("cert.pem"), "{err}");
        fs::write(&cert, "hello").unwrap();
        let err = TlsMaterial::load(&cert, &dir.path().join("key.pem")).unwrap_err();
        assert!(
            err.to_string().contains("cert.pem") && err.to_string().contains("no certificate"),
            "{err}"
        );
    }
}
