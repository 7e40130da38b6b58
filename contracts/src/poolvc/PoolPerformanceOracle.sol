// SPDX-License-Identifier: MIT
// poolvc's per-operator performance reports, one per frame.
//
// Registered reporters (poolvc instances, each with its own key) submit a
// frame's report: its epochs, each operator's duty counters, and the Merkle
// root of one leaf per validator. A report is accepted when
// reporterCount / 2 + 1 reporters submitted the identical report (the rule
// StaderOracle uses for its trusted nodes). A reporter reports a frame once.
// Anyone can then prove a validator's leaf against the accepted root.
//
// Merkle tree: leaves are keccak256(bytes.concat(keccak256(abi.encode(leaf))))
// in validator-index order; a parent is keccak256 of its two children in
// ascending order; an odd node at the end of a level moves up unchanged.
pragma solidity ^0.8.20;

/// One operator's counters over a frame.
struct OperatorCounters {
    /// keccak256 of "pool/operator", as poolvc names them.
    bytes32 operatorId;
    uint64 keys;
    uint64 keysBelow;
    uint64 attAssigned;
    uint64 attIncluded;
    uint64 propAssigned;
    uint64 propMade;
    uint64 syncAssigned;
    uint64 syncIncluded;
    /// Lido CSM performance of the operator's summed counters, in basis points.
    uint32 performanceBp;
}

/// A frame's report.
struct FrameReport {
    uint256 frame;
    uint64 firstEpoch;
    uint64 lastEpoch;
    uint32 networkPerformanceBp;
    OperatorCounters[] operators;
    bytes32 validatorsRoot;
}

/// One validator's leaf.
struct ValidatorLeaf {
    uint256 frame;
    uint64 validatorIndex;
    /// keccak256 of the 48-byte public key (Stader's pubkey root).
    bytes32 pubkeyRoot;
    bytes32 operatorId;
    uint64 attAssigned;
    uint64 attIncluded;
    uint64 propAssigned;
    uint64 propMade;
    uint64 syncAssigned;
    uint64 syncIncluded;
    uint32 performanceBp;
    uint32 thresholdBp;
}

contract PoolPerformanceOracle {
    address public immutable owner;
    mapping(address => bool) public isReporter;
    uint256 public reporterCount;
    /// frame => reporter => the hash it submitted.
    mapping(uint256 => mapping(address => bytes32)) public submitted;
    /// frame => report hash => reporters that submitted it.
    mapping(uint256 => mapping(bytes32 => uint256)) public votes;
    /// frame => the accepted report's hash (zero until quorum).
    mapping(uint256 => bytes32) public acceptedHash;
    /// frame => the accepted report's validators root.
    mapping(uint256 => bytes32) public validatorsRoot;

    event ReporterAdded(address indexed reporter);
    event ReporterRemoved(address indexed reporter);
    event ReportSubmitted(uint256 indexed frame, address indexed reporter, bytes32 reportHash, uint256 votes);
    event ReportAccepted(
        uint256 indexed frame, bytes32 reportHash, bytes32 validatorsRoot, uint64 firstEpoch, uint64 lastEpoch
    );

    error NotOwner();
    error NotReporter(address who);
    error AlreadySubmitted(uint256 frame, address reporter);
    error BadEpochs(uint64 firstEpoch, uint64 lastEpoch);

    constructor(address[] memory reporters) {
        owner = msg.sender;
        for (uint256 i = 0; i < reporters.length; i++) {
            _add(reporters[i]);
        }
    }

    function _add(address r) internal {
        if (!isReporter[r]) {
            isReporter[r] = true;
            reporterCount++;
            emit ReporterAdded(r);
        }
    }

    function addReporter(address r) external {
        if (msg.sender != owner) revert NotOwner();
        _add(r);
    }

    function removeReporter(address r) external {
        if (msg.sender != owner) revert NotOwner();
        if (isReporter[r]) {
            isReporter[r] = false;
            reporterCount--;
            emit ReporterRemoved(r);
        }
    }

    /// Identical reports needed: reporterCount / 2 + 1.
    function quorum() public view returns (uint256) {
        return reporterCount / 2 + 1;
    }

    function reportHash(FrameReport calldata r) public pure returns (bytes32) {
        return keccak256(abi.encode(r));
    }

    function submitReport(FrameReport calldata r) external {
        if (!isReporter[msg.sender]) revert NotReporter(msg.sender);
        if (submitted[r.frame][msg.sender] != bytes32(0)) revert AlreadySubmitted(r.frame, msg.sender);
        if (r.lastEpoch < r.firstEpoch) revert BadEpochs(r.firstEpoch, r.lastEpoch);
        bytes32 h = reportHash(r);
        submitted[r.frame][msg.sender] = h;
        uint256 n = ++votes[r.frame][h];
        emit ReportSubmitted(r.frame, msg.sender, h, n);
        if (n >= quorum() && acceptedHash[r.frame] == bytes32(0)) {
            acceptedHash[r.frame] = h;
            validatorsRoot[r.frame] = r.validatorsRoot;
            emit ReportAccepted(r.frame, h, r.validatorsRoot, r.firstEpoch, r.lastEpoch);
        }
    }

    function leafHash(ValidatorLeaf calldata leaf) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(leaf))));
    }

    /// Whether `proof` takes `leaf` to the accepted root of its frame.
    function verifyValidator(ValidatorLeaf calldata leaf, bytes32[] calldata proof) external view returns (bool) {
        bytes32 root = validatorsRoot[leaf.frame];
        if (root == bytes32(0)) return false;
        bytes32 h = leafHash(leaf);
        for (uint256 i = 0; i < proof.length; i++) {
            bytes32 p = proof[i];
            h = h < p ? keccak256(abi.encode(h, p)) : keccak256(abi.encode(p, h));
        }
        return h == root;
    }
}
