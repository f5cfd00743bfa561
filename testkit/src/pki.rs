//! Throw-away keys and certificates for tests: a CA, a server certificate for
//! 127.0.0.1 / localhost, client certificates for mutual TLS, and SMART Backend Services
//! client keys (RS384 and ES384). Generated fresh at run time; never real credentials.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

/// A PEM certificate (chain) and its PEM private key.
#[derive(Clone)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertAndKey(<redacted>)")
    }
}

/// A test CA with a server certificate and a client certificate it issued.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca_pem: String,
    pub server: CertAndKey,
    pub client: CertAndKey,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(p, KeyPair::generate().expect("key")).expect("CA")
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: Vec<String>,
    cn: &str,
    purpose: ExtendedKeyUsagePurpose,
) -> CertAndKey {
    let mut p = CertificateParams::new(names).expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, issuer).expect("sign");
    CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

impl TestPki {
    pub fn generate() -> TestPki {
        let ca = ca("Akari Test CA (synthetic)");
        let server = leaf(
            &ca,
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(
            &ca,
            vec!["akari-node.test".into()],
            "akari-node.test",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        TestPki {
            ca_pem: ca.pem(),
            server,
            client,
        }
    }

    /// A client certificate from an unrelated CA (the server must refuse it).
    pub fn foreign_client() -> CertAndKey {
        let other = ca("Some Other CA");
        leaf(
            &other,
            vec!["intruder.test".into()],
            "intruder.test",
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }
}

/// A SMART Backend Services client key pair.
#[derive(Clone)]
pub struct SmartKey {
    /// "RS384" or "ES384".
    pub algorithm: &'static str,
    /// PKCS#8 PEM private key (what the client signs with).
    pub private_pem: String,
    /// SPKI PEM public key (what the server registers).
    pub public_pem: String,
}

impl std::fmt::Debug for SmartKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmartKey({}, <redacted>)", self.algorithm)
    }
}

impl SmartKey {
    /// A fresh 2048-bit RSA key for RS384.
    pub fn rs384() -> SmartKey {
        let mut rng = rand::thread_rng();
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key");
        SmartKey {
            algorithm: "RS384",
            private_pem: key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
            public_pem: key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .expect("pem"),
        }
    }

    /// A fresh P-384 key for ES384.
    pub fn es384() -> SmartKey {
        let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("P-384 key");
        SmartKey {
            algorithm: "ES384",
            private_pem: kp.serialize_pem(),
            public_pem: kp.public_key_pem(),
        }
    }
}
