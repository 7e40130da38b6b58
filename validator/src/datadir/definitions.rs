//! Lighthouse's `validators/validator_definitions.yml`: the list of validators
//! a client runs and how to reach each one's key. poolvc reads and writes the
//! same file so an operator can switch between `lighthouse vc` and `poolvc vc`
//! on one data directory.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroize;

/// The file name inside the `validators/` directory.
pub const DEFINITIONS_FILE: &str = "validator_definitions.yml";
/// The keystore file name inside each `validators/0x<pubkey>/` directory.
pub const VOTING_KEYSTORE_FILE: &str = "voting-keystore.json";

/// Errors reading or writing the definitions file.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    /// I/O on the file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid YAML of the expected shape.
    #[error("{}: malformed validator definitions: {source}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_yaml::Error,
    },
    /// The same public key appears twice.
    #[error("{}: validator {pubkey} is defined more than once", path.display())]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The repeated key.
        pubkey: String,
    },
}

/// How to sign for one validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SigningDefinition {
    /// An EIP-2335 keystore on local disk.
    #[serde(rename = "local_keystore")]
    LocalKeystore {
        /// The keystore file.
        voting_keystore_path: PathBuf,
        /// A file holding the password (Lighthouse's `secrets/0x<pubkey>`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voting_keystore_password_path: Option<PathBuf>,
        /// The password inline (discouraged; Lighthouse allows it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voting_keystore_password: Option<String>,
    },
    /// A remote Web3Signer.
    #[serde(rename = "web3signer")]
    Web3Signer {
        /// Signer URL.
        url: String,
        /// poolvc's extension: signers to try, in order, when `url` cannot
        /// be reached (instances sharing one PostgreSQL slashing database).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fallback_urls: Vec<String>,
        /// CA certificate for the signer's TLS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root_certificate_path: Option<PathBuf>,
        /// Request timeout.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_timeout_ms: Option<u64>,
        /// Client TLS identity (PKCS#12).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_identity_path: Option<PathBuf>,
        /// Password of the client identity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_identity_password: Option<String>,
    },
}

impl Drop for SigningDefinition {
    fn drop(&mut self) {
        match self {
            SigningDefinition::LocalKeystore { voting_keystore_password: Some(p), .. } => p.zeroize(),
            SigningDefinition::Web3Signer { client_identity_password: Some(p), .. } => p.zeroize(),
            _ => {}
        }
    }
}

/// One validator entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorDefinition {
    /// Whether the client should sign for it.
    pub enabled: bool,
    /// `0x`-prefixed compressed public key.
    pub voting_public_key: String,
    /// Per-validator graffiti.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graffiti: Option<String>,
    /// Per-validator fee recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_fee_recipient: Option<String>,
    /// Per-validator gas limit for builder registrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gas_limit: Option<u64>,
    /// Per-validator builder-proposals switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_proposals: Option<bool>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// How to sign.
    #[serde(flatten)]
    pub signing_definition: SigningDefinition,
}

impl ValidatorDefinition {
    /// A new, enabled local-keystore entry with no per-key settings: its
    /// password in a file (`password_path`) or inline (`password`).
    pub fn new_local(
        voting_public_key: String,
        description: String,
        keystore_path: PathBuf,
        password_path: Option<PathBuf>,
        password: Option<String>,
    ) -> Self {
        Self {
            enabled: true,
            voting_public_key,
            graffiti: None,
            suggested_fee_recipient: None,
            gas_limit: None,
            builder_proposals: None,
            description,
            signing_definition: SigningDefinition::LocalKeystore {
                voting_keystore_path: keystore_path,
                voting_keystore_password_path: password_path,
                voting_keystore_password: password,
            },
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidatorDefinitions(pub Vec<ValidatorDefinition>);

impl ValidatorDefinitions {
    /// Reads `validators_dir/validator_definitions.yml`; an absent file is an empty list.
    pub fn open_or_empty(validators_dir: &Path) -> Result<Self, DefinitionsError> {
        let path = validators_dir.join(DEFINITIONS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(DefinitionsError::Io { path, source }),
        }
    }

    /// Parses the YAML text; `path` names it in errors. Rejects duplicate keys.
    pub fn parse(path: &Path, text: &str) -> Result<Self, DefinitionsError> {
        let defs: Option<Vec<ValidatorDefinition>> =
            serde_yaml::from_str(text).map_err(|source| DefinitionsError::Yaml { path: path.to_path_buf(), source })?;
        let defs = Self(defs.unwrap_or_default());
        let mut seen = std::collections::HashSet::new();
        for d in &defs.0 {
            if !seen.insert(d.voting_public_key.to_ascii_lowercase()) {
                return Err(DefinitionsError::Duplicate {
                    path: path.to_path_buf(),
                    pubkey: d.voting_public_key.clone(),
                });
            }
        }
        Ok(defs)
    }

    /// Whether a validator with this public key is defined.
    pub fn contains(&self, pubkey_hex: &str) -> bool {
        self.0.iter().any(|d| d.voting_public_key.eq_ignore_ascii_case(pubkey_hex))
    }

    /// Writes the file atomically (temp file, fsync, rename) with mode 0600.
    pub fn save(&self, validators_dir: &Path) -> Result<(), DefinitionsError> {
        let path = validators_dir.join(DEFINITIONS_FILE);
        let io = |source| DefinitionsError::Io { path: path.clone(), source };
        let yaml =
            serde_yaml::to_string(&self.0).map_err(|source| DefinitionsError::Yaml { path: path.clone(), source })?;
        let tmp = validators_dir.join(format!(".{DEFINITIONS_FILE}.tmp"));
        {
            use std::io::Write;
            #[cfg(unix)]
            use std::os::unix::fs::OpenOptionsExt;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            opts.mode(0o600);
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(yaml.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(validators_dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIGHTHOUSE_SAMPLE: &str = r#"---
- enabled: true
  voting_public_key: "0x87a580d31d7bc69069b55f5a01995a610dd391a26dc9e36e81057a17211983a79266800ab8531f21f1083d7d84085007"
  description: ""
  type: local_keystore
  voting_keystore_path: /home/paul/.lighthouse/validators/0x87a5/voting-keystore.json
  voting_keystore_password_path: /home/paul/.lighthouse/secrets/0x87a5
- enabled: false
  voting_public_key: "0xa5566f9ec3c6e1fdf362634ebec9ef7aceb0e460e5079714808388e5d48f4ae1e12897fed1bea951c17fa389d511e477"
  type: web3signer
  url: "https://my-remote-signer.com:1234"
  root_certificate_path: /home/paul/my-certificates/my-remote-signer.pem
"#;

    #[test]
    fn reads_lighthouse_format() {
        let defs = ValidatorDefinitions::parse(Path::new("v.yml"), LIGHTHOUSE_SAMPLE).unwrap();
        assert_eq!(defs.0.len(), 2);
        assert!(matches!(defs.0[0].signing_definition, SigningDefinition::LocalKeystore { .. }));
        assert!(matches!(defs.0[1].signing_definition, SigningDefinition::Web3Signer { .. }));
        assert!(!defs.0[1].enabled);
    }

    #[test]
    fn rejects_duplicates_and_garbage() {
        let dup = format!(
            "{}{}",
            LIGHTHOUSE_SAMPLE,
            &LIGHTHOUSE_SAMPLE[4..LIGHTHOUSE_SAMPLE.find("- enabled: false").unwrap()]
        );
        let err = ValidatorDefinitions::parse(Path::new("v.yml"), &dup).unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
        let err = ValidatorDefinitions::parse(Path::new("v.yml"), "- enabled: maybe").unwrap_err();
        assert!(err.to_string().starts_with("v.yml: malformed"), "{err}");
    }
}
