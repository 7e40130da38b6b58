// SPDX-License-Identifier: MIT
// Devnet stand-ins for Rocket Pool's RocketNodeManager (smoothing pool
// registration, megapool lookup) and RocketNodeDistributorFactory
// (rocket-pool/rocketpool fef41a4): the same getters poolvc reads.
pragma solidity ^0.8.20;

contract RocketNodeManager {
    address public immutable owner;
    mapping(address => bool) private smoothingPool;
    mapping(address => uint256) private smoothingPoolChanged;
    mapping(address => address) private megapool;
    mapping(address => bool) public registered;

    error NotOwner();
    error NotRegistered();

    constructor() {
        owner = msg.sender;
    }

    /// Devnet: a node, with its megapool (or none).
    function registerNode(address _node, address _megapool) external {
        if (msg.sender != owner) revert NotOwner();
        registered[_node] = true;
        megapool[_node] = _megapool;
    }

    /// As the real one: the node itself opts in or out; the time is recorded.
    function setSmoothingPoolRegistrationState(bool _state) external {
        if (!registered[msg.sender]) revert NotRegistered();
        smoothingPool[msg.sender] = _state;
        smoothingPoolChanged[msg.sender] = block.timestamp;
    }

    function getSmoothingPoolRegistrationState(address _nodeAddress) external view returns (bool) {
        return smoothingPool[_nodeAddress];
    }

    function getSmoothingPoolRegistrationChanged(address _nodeAddress) external view returns (uint256) {
        return smoothingPoolChanged[_nodeAddress];
    }

    function getMegapoolAddress(address _nodeAddress) external view returns (address) {
        return megapool[_nodeAddress];
    }
}

contract RocketNodeDistributorFactory {
    /// The node's distributor proxy address, derived as CREATE2 would place
    /// it (here from the node address alone; the real one from its bytecode).
    function getProxyAddress(address _nodeAddress) external view returns (address) {
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), bytes32(uint256(uint160(_nodeAddress))))))));
    }
}

/// Devnet stand-in for RocketMinipoolManager: the per-node minipool list and
/// each minipool's validator key, with the real getters
/// (RocketMinipoolManagerInterface) poolvc enumerates a node's keys with.
contract RocketMinipoolManager {
    address public immutable owner;
    mapping(address => address[]) private nodeMinipools;
    mapping(address => bytes) private pubkeyOf;
    mapping(bytes => address) private minipoolByPubkey;

    error NotOwner();
    error BadPubkey();
    error PubkeyExists();

    constructor() {
        owner = msg.sender;
    }

    /// Devnet: staking minipools for a node, one per key (48 bytes each).
    function addMinipools(address _node, bytes[] calldata _pubkeys) external {
        if (msg.sender != owner) revert NotOwner();
        for (uint256 i = 0; i < _pubkeys.length; i++) {
            if (_pubkeys[i].length != 48) revert BadPubkey();
            if (minipoolByPubkey[_pubkeys[i]] != address(0)) revert PubkeyExists();
            address mp = address(uint160(uint256(keccak256(abi.encodePacked(address(this), _pubkeys[i])))));
            nodeMinipools[_node].push(mp);
            pubkeyOf[mp] = _pubkeys[i];
            minipoolByPubkey[_pubkeys[i]] = mp;
        }
    }

    function getNodeMinipoolCount(address _nodeAddress) external view returns (uint256) {
        return nodeMinipools[_nodeAddress].length;
    }

    function getNodeMinipoolAt(address _nodeAddress, uint256 _index) external view returns (address) {
        return nodeMinipools[_nodeAddress][_index];
    }

    function getMinipoolPubkey(address _minipoolAddress) external view returns (bytes memory) {
        return pubkeyOf[_minipoolAddress];
    }

    function getMinipoolByPubkey(bytes calldata _pubkey) external view returns (address) {
        return minipoolByPubkey[_pubkey];
    }
}

/// Devnet stand-in for a node's megapool (RocketMegapoolDelegate, Saturn):
/// the validator count and each validator's key, with the real getters
/// (RocketMegapoolDelegateInterface) poolvc lists a megapool's keys with.
contract RocketMegapool {
    address public immutable owner;
    bytes[] private pubkeys;

    error NotOwner();
    error BadPubkey();
    error NoValidator();

    constructor() {
        owner = msg.sender;
    }

    /// Devnet: validators of this megapool (48-byte keys).
    function addValidators(bytes[] calldata _pubkeys) external {
        if (msg.sender != owner) revert NotOwner();
        for (uint256 i = 0; i < _pubkeys.length; i++) {
            if (_pubkeys[i].length != 48) revert BadPubkey();
            pubkeys.push(_pubkeys[i]);
        }
    }

    function getValidatorCount() external view returns (uint32) {
        return uint32(pubkeys.length);
    }

    function getValidatorPubkey(uint32 _validatorId) external view returns (bytes memory) {
        if (_validatorId >= pubkeys.length) revert NoValidator();
        return pubkeys[_validatorId];
    }
}

/// Devnet stand-in for RocketNetworkPenalties: the oDAO's fee-recipient
/// penalties per minipool, counted as the real one counts them. The devnet's
/// oDAO is one member (the owner), so each submission is a majority and is
/// applied at once, as the real `_maybeApplyPenalty` applies one past
/// `getNodePenaltyThreshold()`; as there, a penalty names a past block, a
/// registered minipool, and is applied once per (minipool, block).
contract RocketNetworkPenalties {
    address public immutable owner;
    RocketMinipoolManager public immutable minipoolManager;
    mapping(address => uint256) private penaltyCount;
    mapping(bytes32 => bool) private applied;

    event PenaltySubmitted(address indexed from, address indexed minipool, uint256 block, uint256 time);
    event PenaltyApplied(address indexed minipool, uint256 block, uint256 time);

    error NotOwner();
    error NotMinipool();

    constructor(RocketMinipoolManager _minipoolManager) {
        owner = msg.sender;
        minipoolManager = _minipoolManager;
    }

    function submitPenalty(address _minipool, uint256 _block) external {
        if (msg.sender != owner) revert NotOwner();
        if (minipoolManager.getMinipoolPubkey(_minipool).length == 0) revert NotMinipool();
        require(_block < block.number, "Invalid block number");
        bytes32 key = keccak256(abi.encodePacked(_minipool, _block));
        require(!applied[key], "Penalty already applied");
        applied[key] = true;
        penaltyCount[_minipool] += 1;
        emit PenaltySubmitted(msg.sender, _minipool, _block, block.timestamp);
        emit PenaltyApplied(_minipool, _block, block.timestamp);
    }

    function getPenaltyCount(address _minipool) external view returns (uint256) {
        return penaltyCount[_minipool];
    }
}
