// SPDX-License-Identifier: MIT
// Devnet stand-ins for Stader's PoolUtils and StaderConfig getters
// (stader-labs/ethx contracts/PoolUtils.sol, StaderConfig.sol at 9d4a921).
pragma solidity ^0.8.20;

interface IStaderRegistry {
    function isExistingPubkey(bytes calldata _pubkey) external view returns (bool);
}

contract StaderConfig {
    address private immutable permissionlessSocializingPool;
    address private immutable permissionedSocializingPool;
    uint256 private immutable coolingPeriod;

    constructor(address _permissionless, address _permissioned, uint256 _coolingPeriod) {
        permissionlessSocializingPool = _permissionless;
        permissionedSocializingPool = _permissioned;
        coolingPeriod = _coolingPeriod;
    }

    function getPermissionlessSocializingPool() external view returns (address) {
        return permissionlessSocializingPool;
    }

    function getPermissionedSocializingPool() external view returns (address) {
        return permissionedSocializingPool;
    }

    function getSocializingPoolOptInCoolingPeriod() external view returns (uint256) {
        return coolingPeriod;
    }
}

contract PoolUtils {
    StaderConfig public immutable staderConfig;
    address public immutable permissionlessRegistry;
    address public immutable permissionedRegistry;

    error PubkeyDoesNotExit();
    error InvalidPoolId();

    constructor(StaderConfig _config, address _permissionless, address _permissioned) {
        staderConfig = _config;
        permissionlessRegistry = _permissionless;
        permissionedRegistry = _permissioned;
        poolIds.push(1);
        poolIds.push(2);
    }

    uint8[] private poolIds;

    function getPoolIdArray() external view returns (uint8[] memory) {
        return poolIds;
    }

    function getNodeRegistry(uint8 _poolId) public view returns (address) {
        if (_poolId == 1) return permissionlessRegistry;
        if (_poolId == 2) return permissionedRegistry;
        revert InvalidPoolId();
    }

    /// As the real one: loops over the pools; reverts when none has the key.
    function getValidatorPoolId(bytes calldata _pubkey) external view returns (uint8) {
        for (uint8 id = 1; id <= 2; id++) {
            if (IStaderRegistry(getNodeRegistry(id)).isExistingPubkey(_pubkey)) return id;
        }
        revert PubkeyDoesNotExit();
    }

    function getSocializingPoolAddress(uint8 _poolId) external view returns (address) {
        if (_poolId == 1) return staderConfig.getPermissionlessSocializingPool();
        if (_poolId == 2) return staderConfig.getPermissionedSocializingPool();
        revert InvalidPoolId();
    }
}
