// SPDX-License-Identifier: MIT
// Devnet stand-ins for Lido's curated NodeOperatorsRegistry, the
// Community Staking Module and the curated module v2 (lidofinance/core
// 372b02e, lidofinance/community-staking-module 67d2485,
// lidofinance/staking-modules 03bca39): the same signatures for what poolvc
// reads. They share the selector of getSigningKeys but the registry returns
// a different shape from the two IBaseModule modules, as the real ones do;
// each names its shape by getType() (IStakingModule), as the real ones do.
pragma solidity ^0.8.20;

abstract contract Owned {
    address public immutable owner;

    error NotOwner();
    error UnknownOperator();
    error BadKeys();
    error OutOfRange();

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }
}

contract NodeOperatorsRegistry is Owned {
    struct NodeOperatorEntry {
        bool active;
        string name;
        address rewardAddress;
        bytes keys; // 48-byte keys, concatenated
    }

    NodeOperatorEntry[] private operators;
    /// The allowed exit delay, seconds (mainnet: 4 days; the real registry
    /// keeps it per operator as of the time the threshold was set).
    uint256 private exitDelay = 4 days;

    /// IStakingModule: the module's type (the real registry is deployed as
    /// "curated-onchain-v1").
    function getType() external view returns (bytes32) {
        return moduleType;
    }

    bytes32 private immutable moduleType = "curated-onchain-v1";

    /// Devnet: the allowed exit delay from now on.
    function setExitDeadlineThreshold(uint256 _threshold) external onlyOwner {
        exitDelay = _threshold;
    }

    /// IStakingModule: the seconds after which a key asked to exit is late.
    function exitDeadlineThreshold(uint256 _nodeOperatorId) external view returns (uint256) {
        if (_nodeOperatorId >= operators.length) revert UnknownOperator();
        return exitDelay;
    }

    /// Devnet: an operator with its deposited keys (48 bytes each, concatenated).
    function addNodeOperator(string calldata _name, address _rewardAddress, bytes calldata _keys)
        external
        onlyOwner
        returns (uint256 id)
    {
        if (_keys.length % 48 != 0) revert BadKeys();
        operators.push(NodeOperatorEntry(true, _name, _rewardAddress, _keys));
        return operators.length - 1;
    }

    function getNodeOperator(uint256 _nodeOperatorId, bool _fullInfo)
        external
        view
        returns (
            bool active,
            string memory name,
            address rewardAddress,
            uint64 totalVettedValidators,
            uint64 totalExitedValidators,
            uint64 totalAddedValidators,
            uint64 totalDepositedValidators
        )
    {
        if (_nodeOperatorId >= operators.length) revert UnknownOperator();
        NodeOperatorEntry storage o = operators[_nodeOperatorId];
        uint64 n = uint64(o.keys.length / 48);
        name = _fullInfo ? o.name : "";
        return (o.active, name, o.rewardAddress, n, 0, n, n);
    }

    function getSigningKeys(uint256 _nodeOperatorId, uint256 _offset, uint256 _limit)
        external
        view
        returns (bytes memory pubkeys, bytes memory signatures, bool[] memory used)
    {
        if (_nodeOperatorId >= operators.length) revert UnknownOperator();
        bytes storage keys = operators[_nodeOperatorId].keys;
        if (_offset + _limit > keys.length / 48) revert OutOfRange();
        pubkeys = new bytes(_limit * 48);
        signatures = new bytes(_limit * 96);
        used = new bool[](_limit);
        for (uint256 i = 0; i < _limit * 48; i++) {
            pubkeys[i] = keys[_offset * 48 + i];
        }
        for (uint256 i = 0; i < _limit; i++) {
            used[i] = true;
        }
    }

    function getNodeOperatorsCount() external view returns (uint256) {
        return operators.length;
    }

    function getNodeOperatorIds(uint256 _offset, uint256 _limit) external view returns (uint256[] memory nodeOperatorIds) {
        uint256 total = operators.length;
        if (_offset >= total) return new uint256[](0);
        uint256 n = total - _offset < _limit ? total - _offset : _limit;
        nodeOperatorIds = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            nodeOperatorIds[i] = _offset + i;
        }
    }
}

struct NodeOperator {
    uint32 totalAddedKeys;
    uint32 totalWithdrawnKeys;
    uint32 totalDepositedKeys;
    uint32 totalVettedKeys;
    uint32 stuckValidatorsCount;
    uint32 depositableValidatorsCount;
    uint32 targetLimit;
    uint8 targetLimitMode;
    uint32 totalExitedKeys;
    uint32 enqueuedCount;
    address managerAddress;
    address proposedManagerAddress;
    address rewardAddress;
    address proposedRewardAddress;
    bool extendedManagerPermissions;
    bool usedPriorityQueue;
}

interface ICurves {
    function getBondCurveId(uint256 nodeOperatorId) external view returns (uint256);
    function getAllowedExitDelay(uint256 curveId) external view returns (uint256);
}

/// What CSM and the curated module v2 share (`IBaseModule`): operators
/// with deposited keys returned as plain bytes, an accounting that names
/// each operator's bond curve and a parameters registry for the curves.
abstract contract BaseModule is Owned {
    NodeOperator[] private operators;
    mapping(uint256 => bytes) private keysOf;
    /// Where each operator's bond curve and the curves' parameters are (the
    /// real modules take them in their constructors).
    address internal accounting_;
    address public PARAMETERS_REGISTRY;
    bytes32 private immutable moduleType;

    constructor(bytes32 _moduleType) {
        moduleType = _moduleType;
    }

    /// IStakingModule: the module's type, as the real one is deployed.
    function getType() external view returns (bytes32) {
        return moduleType;
    }

    /// Devnet: the accounting and parameters registry.
    function setCurveContracts(address _accounting, address _registry) external onlyOwner {
        accounting_ = _accounting;
        PARAMETERS_REGISTRY = _registry;
    }

    /// IStakingModule, as the real module answers it: the operator's
    /// curve's allowed exit delay (4 days without a registry set).
    function exitDeadlineThreshold(uint256 nodeOperatorId) external view returns (uint256) {
        if (nodeOperatorId >= operators.length) revert UnknownOperator();
        if (PARAMETERS_REGISTRY == address(0)) return 4 days;
        uint256 curve = ICurves(accounting_).getBondCurveId(nodeOperatorId);
        return ICurves(PARAMETERS_REGISTRY).getAllowedExitDelay(curve);
    }

    /// Devnet: an operator with its deposited keys.
    function addNodeOperator(address _manager, address _rewardAddress, bytes calldata _keys)
        external
        onlyOwner
        returns (uint256 id)
    {
        if (_keys.length % 48 != 0) revert BadKeys();
        uint32 n = uint32(_keys.length / 48);
        operators.push(NodeOperator(n, 0, n, n, 0, 0, 0, 0, 0, 0, _manager, address(0), _rewardAddress, address(0), false, false));
        id = operators.length - 1;
        keysOf[id] = _keys;
    }

    function getNodeOperator(uint256 nodeOperatorId) external view returns (NodeOperator memory) {
        if (nodeOperatorId >= operators.length) revert UnknownOperator();
        return operators[nodeOperatorId];
    }

    function getSigningKeys(uint256 nodeOperatorId, uint256 startIndex, uint256 keysCount)
        external
        view
        returns (bytes memory)
    {
        return _keysOf(nodeOperatorId, startIndex, keysCount);
    }

    /// As the real module: deposited keys not yet withdrawn (what the bond covers).
    function getNodeOperatorNonWithdrawnKeys(uint256 nodeOperatorId) external view returns (uint256) {
        if (nodeOperatorId >= operators.length) revert UnknownOperator();
        NodeOperator storage no = operators[nodeOperatorId];
        return no.totalDepositedKeys - no.totalWithdrawnKeys;
    }

    function getSigningKeysWithSignatures(uint256 nodeOperatorId, uint256 startIndex, uint256 keysCount)
        external
        view
        returns (bytes memory keys, bytes memory signatures)
    {
        keys = _keysOf(nodeOperatorId, startIndex, keysCount);
        signatures = new bytes(keysCount * 96);
    }

    function _keysOf(uint256 id, uint256 start, uint256 count) private view returns (bytes memory out) {
        if (id >= operators.length) revert UnknownOperator();
        bytes storage all = keysOf[id];
        if (start + count > all.length / 48) revert OutOfRange();
        out = new bytes(count * 48);
        for (uint256 i = 0; i < count * 48; i++) {
            out[i] = all[start * 48 + i];
        }
    }
}

contract CSModule is BaseModule("community-onchain-v1") {
    /// CSM v2 names its accounting so.
    function accounting() public view returns (address) {
        return accounting_;
    }
}

/// The curated module v2 (staking-modules `CuratedModule`): `IBaseModule`
/// with its accounting as `ACCOUNTING()`.
contract CuratedModule is BaseModule("curated-onchain-v2") {
    function ACCOUNTING() public view returns (address) {
        return accounting_;
    }
}
