// SPDX-License-Identifier: MIT
// Devnet stand-ins for Lido's LidoLocator and StakingRouter
// (lidofinance/core 372b02e: contracts/0.8.9/LidoLocator.sol,
// contracts/0.8.9/StakingRouter.sol), with the ABI of what poolvc reads:
// the locator's immutable addresses and the router's staking modules by id.
pragma solidity ^0.8.20;

/// Where Lido's contracts are. As the real one, every address is an
/// immutable set once at construction and none may be zero.
contract LidoLocator {
    address public immutable elRewardsVault;
    address public immutable stakingRouter;
    address public immutable validatorsExitBusOracle;

    error ZeroAddress();

    constructor(address _elRewardsVault, address _stakingRouter, address _validatorsExitBusOracle) {
        if (_elRewardsVault == address(0) || _stakingRouter == address(0) || _validatorsExitBusOracle == address(0)) {
            revert ZeroAddress();
        }
        elRewardsVault = _elRewardsVault;
        stakingRouter = _stakingRouter;
        validatorsExitBusOracle = _validatorsExitBusOracle;
    }
}

contract StakingRouter {
    /// The real router's record of a module, field for field.
    struct StakingModule {
        uint24 id;
        address stakingModuleAddress;
        uint16 stakingModuleFee;
        uint16 treasuryFee;
        uint16 stakeShareLimit;
        uint8 status;
        string name;
        uint64 lastDepositAt;
        uint256 lastDepositBlock;
        uint256 exitedValidatorsCount;
        uint16 priorityExitShareThreshold;
        uint64 maxDepositsPerBlock;
        uint64 minDepositBlockDistance;
    }

    address public immutable owner;
    /// Modules in the order added; ids are their position plus one, as
    /// the real router numbers them.
    StakingModule[] internal modules;

    event StakingModuleAdded(uint256 indexed stakingModuleId, address stakingModule, string name, address createdBy);

    error NotOwner();
    error StakingModuleUnregistered();

    constructor() {
        owner = msg.sender;
    }

    /// Devnet: registers a module (the real router's `addStakingModule`,
    /// without its fee and limit checks).
    function addStakingModule(string calldata _name, address _stakingModuleAddress) external {
        if (msg.sender != owner) revert NotOwner();
        uint24 id = uint24(modules.length + 1);
        modules.push(
            StakingModule({
                id: id,
                stakingModuleAddress: _stakingModuleAddress,
                stakingModuleFee: 500,
                treasuryFee: 500,
                stakeShareLimit: 10000,
                status: 0,
                name: _name,
                lastDepositAt: uint64(block.timestamp),
                lastDepositBlock: block.number,
                exitedValidatorsCount: 0,
                priorityExitShareThreshold: 10000,
                maxDepositsPerBlock: 150,
                minDepositBlockDistance: 25
            })
        );
        emit StakingModuleAdded(id, _stakingModuleAddress, _name, msg.sender);
    }

    /// The module with id `_stakingModuleId`; reverts for an id never
    /// registered, as the real router does.
    function getStakingModule(uint256 _stakingModuleId) public view returns (StakingModule memory) {
        if (_stakingModuleId == 0 || _stakingModuleId > modules.length) revert StakingModuleUnregistered();
        return modules[_stakingModuleId - 1];
    }
}
