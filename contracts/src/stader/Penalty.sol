// SPDX-License-Identifier: MIT
// Devnet stand-ins for Stader's Penalty (its ForceExitValidator event) and
// StaderOracle's missed-attestation penalties (stader-labs/ethx at 9d4a921).
pragma solidity ^0.8.20;

contract Penalty {
    address public immutable owner;

    event ForceExitValidator(bytes pubkey);

    error NotOwner();

    constructor() {
        owner = msg.sender;
    }

    /// Devnet: what the real contract emits when a validator must exit.
    function forceExit(bytes calldata _pubkey) external {
        if (msg.sender != owner) revert NotOwner();
        emit ForceExitValidator(_pubkey);
    }
}

struct MissedAttestationPenaltyData {
    uint256 reportingBlockNumber;
    uint256 index;
    bytes[] sortedPubkeys;
}

contract StaderOracle {
    /// Keyed by the pubkey root (keccak256 of the 48-byte key), as the real one.
    mapping(bytes32 => uint16) public missedAttestationPenalty;
    uint256 public lastReportedMAPDIndex;
    mapping(address => bool) public isTrustedNode;

    error NotTrustedNode();
    error StaleIndex();

    constructor(address[] memory _trusted) {
        for (uint256 i = 0; i < _trusted.length; i++) {
            isTrustedNode[_trusted[i]] = true;
        }
    }

    function submitMissedAttestationPenalties(MissedAttestationPenaltyData calldata _mapd) external {
        if (!isTrustedNode[msg.sender]) revert NotTrustedNode();
        if (_mapd.index != lastReportedMAPDIndex + 1) revert StaleIndex();
        lastReportedMAPDIndex = _mapd.index;
        for (uint256 i = 0; i < _mapd.sortedPubkeys.length; i++) {
            missedAttestationPenalty[keccak256(_mapd.sortedPubkeys[i])]++;
        }
    }
}
