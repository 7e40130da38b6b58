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
