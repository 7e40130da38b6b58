// SPDX-License-Identifier: MIT
// Devnet stand-ins for Stader's Penalty (its penalty state and ForceExitValidator event) and
// StaderOracle's missed-attestation penalties (stader-labs/ethx at 9d4a921),
// with the real contract's block, index, quorum and pubkey-root rules.
pragma solidity ^0.8.20;

contract Penalty {
    address public immutable owner;
    /// As the real contract (ethx 483c821 `contracts/Penalty.sol`): each
    /// key's total penalty by its public key, the penalty per missed-
    /// attestation strike (0.2 ETH) and the total that forces an exit (2 ETH).
    mapping(bytes => uint256) public totalPenaltyAmount;
    uint256 public missedAttestationPenaltyPerStrike = 0.2 ether;
    uint256 public validatorExitPenaltyThreshold = 2 ether;

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

    /// Devnet: a key's total penalty as the real `updateTotalPenaltyAmount`
    /// would set it (MEV theft, missed attestations, additional), with the
    /// forced exit it then emits at the threshold.
    function setTotalPenaltyAmount(bytes calldata _pubkey, uint256 _amount) external {
        if (msg.sender != owner) revert NotOwner();
        totalPenaltyAmount[_pubkey] = _amount;
        if (_amount >= validatorExitPenaltyThreshold) emit ForceExitValidator(_pubkey);
    }
}

struct MissedAttestationPenaltyData {
    uint256 reportingBlockNumber;
    uint256 index;
    bytes[] sortedPubkeys;
}

/// StaderOracle's missed-attestation path as the real contract has it
/// (contracts/StaderOracle.sol `submitMissedAttestationPenalties`): a
/// trusted node reports for the reportable block (the current block rounded
/// down to the update frequency, 50,400 on mainnet) and the next index; the
/// penalties count once a majority of the trusted nodes sent the same index
/// and keys; each key is counted under its pubkey root,
/// sha256(pubkey ++ 16 zero bytes) (UtilLib.getPubkeyRoot).
contract StaderOracle {
    mapping(bytes32 => uint16) public missedAttestationPenalty;
    uint256 public lastReportedMAPDIndex;
    uint256 public trustedNodesCount;
    uint256 public immutable missedAttestationPenaltyUpdateFrequency;
    mapping(address => bool) public isTrustedNode;
    mapping(bytes32 => bool) internal nodeSubmissionKeys;
    mapping(bytes32 => uint8) internal submissionCountKeys;

    event MissedAttestationPenaltySubmitted(
        address indexed trustedNode, uint256 index, uint256 block, uint256 reportingBlockNumber, bytes[] pubkeys
    );
    event MissedAttestationPenaltyUpdated(uint256 index, uint256 block, bytes[] pubkeys);

    error NotATrustedNode();
    error ReportingFutureBlockData();
    error InvalidReportingBlock();
    error InvalidMAPDIndex();
    error DuplicateSubmissionFromNode();
    error InvalidPubkeyLength();

    constructor(address[] memory _trusted, uint256 _updateFrequency) {
        for (uint256 i = 0; i < _trusted.length; i++) {
            isTrustedNode[_trusted[i]] = true;
        }
        trustedNodesCount = _trusted.length;
        missedAttestationPenaltyUpdateFrequency = _updateFrequency;
    }

    function getMissedAttestationPenaltyReportableBlock() public view returns (uint256) {
        return (block.number / missedAttestationPenaltyUpdateFrequency) * missedAttestationPenaltyUpdateFrequency;
    }

    function submitMissedAttestationPenalties(MissedAttestationPenaltyData calldata _mapd) external {
        if (!isTrustedNode[msg.sender]) revert NotATrustedNode();
        if (_mapd.reportingBlockNumber >= block.number) revert ReportingFutureBlockData();
        if (_mapd.reportingBlockNumber != getMissedAttestationPenaltyReportableBlock()) revert InvalidReportingBlock();
        if (_mapd.index != lastReportedMAPDIndex + 1) revert InvalidMAPDIndex();
        bytes memory encodedPubkeys = abi.encode(_mapd.sortedPubkeys);
        bytes32 nodeSubmissionKey = keccak256(abi.encode(msg.sender, _mapd.index, encodedPubkeys));
        bytes32 submissionCountKey = keccak256(abi.encode(_mapd.index, encodedPubkeys));
        if (nodeSubmissionKeys[nodeSubmissionKey]) revert DuplicateSubmissionFromNode();
        nodeSubmissionKeys[nodeSubmissionKey] = true;
        uint8 submissionCount = ++submissionCountKeys[submissionCountKey];
        emit MissedAttestationPenaltySubmitted(
            msg.sender, _mapd.index, block.number, _mapd.reportingBlockNumber, _mapd.sortedPubkeys
        );
        if (submissionCount >= trustedNodesCount / 2 + 1) {
            lastReportedMAPDIndex = _mapd.index;
            for (uint256 i = 0; i < _mapd.sortedPubkeys.length; i++) {
                missedAttestationPenalty[getPubkeyRoot(_mapd.sortedPubkeys[i])]++;
            }
            emit MissedAttestationPenaltyUpdated(_mapd.index, block.number, _mapd.sortedPubkeys);
        }
    }

    function getPubkeyRoot(bytes calldata _pubkey) public pure returns (bytes32) {
        if (_pubkey.length != 48) revert InvalidPubkeyLength();
        return sha256(abi.encodePacked(_pubkey, bytes16(0)));
    }
}
