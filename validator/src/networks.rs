//! Public networks the client knows by name (`--network`, as `lighthouse vc
//! --network`): the genesis validators root and genesis fork version a beacon
//! node of that network must report. Values from the networks' published
//! metadata (eth-clients).

use poolvc_signer::types::{Hash256, Version};

/// A known network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownNetwork {
    /// Name as given to `--network`.
    pub name: &'static str,
    /// `genesis_validators_root`.
    pub genesis_validators_root: Hash256,
    /// `GENESIS_FORK_VERSION`.
    pub genesis_fork_version: Version,
}

const fn h(b: [u8; 32]) -> Hash256 {
    Hash256::new(b)
}

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

/// The table.
pub const NETWORKS: &[KnownNetwork] = &[
    KnownNetwork {
        name: "mainnet",
        genesis_validators_root: h(hex32("4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95")),
        genesis_fork_version: Version::new([0x00, 0x00, 0x00, 0x00]),
    },
    KnownNetwork {
        name: "sepolia",
        genesis_validators_root: h(hex32("d8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078")),
        genesis_fork_version: Version::new([0x90, 0x00, 0x00, 0x69]),
    },
    KnownNetwork {
        name: "holesky",
        genesis_validators_root: h(hex32("9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1")),
        genesis_fork_version: Version::new([0x01, 0x01, 0x70, 0x00]),
    },
    KnownNetwork {
        name: "hoodi",
        genesis_validators_root: h(hex32("212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f")),
        genesis_fork_version: Version::new([0x10, 0x00, 0x09, 0x10]),
    },
];

/// The network named `name`.
pub fn by_name(name: &str) -> Option<KnownNetwork> {
    NETWORKS.iter().copied().find(|n| n.name.eq_ignore_ascii_case(name))
}

/// The known network with this genesis validators root.
pub fn by_genesis_root(root: &Hash256) -> Option<KnownNetwork> {
    NETWORKS.iter().copied().find(|n| &n.genesis_validators_root == root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_decodes() {
        let m = by_name("Mainnet").expect("mainnet");
        assert_eq!(
            format!("{}", m.genesis_validators_root),
            "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
        );
        assert_eq!(by_genesis_root(&m.genesis_validators_root).map(|n| n.name), Some("mainnet"));
        assert!(by_name("ropsten").is_none());
    }
}
