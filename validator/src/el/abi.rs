//! The pool contracts' functions and events poolvc calls and watches, as
//! `sol!` bindings with the real signatures (checked against the deployed
//! contracts' ABIs in `../shared/design/pool-abis.json` and
//! `contracts/abis/*.json` by `contracts/check_abis.py`, through the devnet
//! contracts that share them).
//!
//! Only what poolvc reads is declared; each interface is named for the
//! contract it binds.

#![allow(missing_docs)]

use alloy_sol_types::sol;

sol! {
    /// Stader `PoolUtils`.
    interface IPoolUtils {
        function getNodeRegistry(uint8 _poolId) external view returns (address);
        function getSocializingPoolAddress(uint8 _poolId) external view returns (address);
    }

    /// Stader `INodeRegistry`, both pools.
    interface IStaderNodeRegistry {
        struct Validator {
            uint8 status;
            bytes pubkey;
            bytes preDepositSignature;
            bytes depositSignature;
            address withdrawVaultAddress;
            uint256 operatorId;
            uint256 depositBlock;
            uint256 withdrawnBlock;
        }
        function operatorIDByAddress(address) external view returns (uint256);
        function operatorStructById(uint256) external view returns (
            bool active,
            bool optedForSocializingPool,
            string operatorName,
            address operatorRewardAddress,
            address operatorAddress
        );
        function getOperatorTotalKeys(uint256 _operatorId) external view returns (uint256 _totalKeys);
        function getValidatorsByOperator(address _operator, uint256 _pageNumber, uint256 _pageSize)
            external view returns (Validator[] memory);
        function getSocializingPoolStateChangeBlock(uint256 _operatorId) external view returns (uint256);
    }

    /// Stader `PermissionlessNodeRegistry` (pool id 1) only.
    interface IPermissionlessNodeRegistry {
        function nodeELRewardVaultByOperatorId(uint256) external view returns (address);
    }

    /// Stader `Penalty`.
    interface IStaderPenalty {
        event ForceExitValidator(bytes pubkey);
        function totalPenaltyAmount(bytes pubkey) external view returns (uint256);
        function validatorExitPenaltyThreshold() external view returns (uint256);
        function missedAttestationPenaltyPerStrike() external view returns (uint256);
    }

    /// Lido curated module `NodeOperatorsRegistry`.
    interface ILidoNodeOperatorsRegistry {
        function getNodeOperator(uint256 _nodeOperatorId, bool _fullInfo) external view returns (
            bool active,
            string name,
            address rewardAddress,
            uint64 totalVettedValidators,
            uint64 totalExitedValidators,
            uint64 totalAddedValidators,
            uint64 totalDepositedValidators
        );
        function getSigningKeys(uint256 _nodeOperatorId, uint256 _offset, uint256 _limit)
            external view returns (bytes pubkeys, bytes signatures, bool[] used);
    }

    /// Lido `CSModule`, and the curated module v2 (`CuratedModule`) for what
    /// both share through `IBaseModule` (the operator, its keys).
    interface ICSModule {
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
        function getNodeOperator(uint256 nodeOperatorId) external view returns (NodeOperator memory);
        function getSigningKeys(uint256 nodeOperatorId, uint256 startIndex, uint256 keysCount)
            external view returns (bytes memory);
        function accounting() external view returns (address);
        function PARAMETERS_REGISTRY() external view returns (address);
    }

    /// Lido curated module v2 (`CuratedModule`, `IBaseModule` of
    /// lidofinance/staking-modules): its accounting by the v3 getter name.
    interface ICuratedModule {
        function ACCOUNTING() external view returns (address);
    }

    /// Lido `CSStrikes`: the performance oracle's published strikes tree.
    interface ICSStrikes {
        function treeRoot() external view returns (bytes32);
        function treeCid() external view returns (string memory);
    }

    /// Lido `CSAccounting`: an operator's bond curve.
    interface ICSAccounting {
        function getBondCurveId(uint256 nodeOperatorId) external view returns (uint256);
        function getBondSummary(uint256 nodeOperatorId) external view returns (uint256 current, uint256 required);
        function getUnbondedKeysCount(uint256 nodeOperatorId) external view returns (uint256);
        function getUnbondedKeysCountToEject(uint256 nodeOperatorId) external view returns (uint256);
    }

    /// Lido `CSParametersRegistry`: the parameters of each bond curve.
    interface ICSParametersRegistry {
        struct KeyNumberValueInterval {
            uint256 minKeyNumber;
            uint256 value;
        }
        function getPerformanceCoefficients(uint256 curveId) external view
            returns (uint256 attestationsWeight, uint256 blocksWeight, uint256 syncWeight);
        function getPerformanceLeewayData(uint256 curveId) external view
            returns (KeyNumberValueInterval[] memory data);
        function getRewardShareData(uint256 curveId) external view returns (KeyNumberValueInterval[] memory data);
        function getStrikesParams(uint256 curveId) external view returns (uint256 lifetime, uint256 threshold);
        function getAllowedExitDelay(uint256 curveId) external view returns (uint256 delay);
    }

    /// Every Lido staking module (`IStakingModule`): how long an operator's
    /// key may take to exit once eligible.
    interface IStakingModule {
        function exitDeadlineThreshold(uint256 nodeOperatorId) external view returns (uint256);
        function getType() external view returns (bytes32);
    }

    /// Lido `LidoLocator`: where the protocol's contracts are.
    interface ILidoLocator {
        function elRewardsVault() external view returns (address);
        function stakingRouter() external view returns (address);
        function validatorsExitBusOracle() external view returns (address);
    }

    /// Lido `StakingRouter`: the staking modules by id.
    interface IStakingRouter {
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
        function getStakingModule(uint256 _stakingModuleId) external view returns (StakingModule memory);
    }

    /// Lido `HashConsensus`: an oracle's frames.
    interface IHashConsensus {
        function getFrameConfig() external view returns (uint256 initialEpoch, uint256 epochsPerFrame, uint256 fastLaneLengthSlots);
    }

    /// Lido `ValidatorsExitBusOracle`.
    interface IValidatorsExitBus {
        event ValidatorExitRequest(
            uint256 indexed stakingModuleId,
            uint256 indexed nodeOperatorId,
            uint256 indexed validatorIndex,
            bytes validatorPubkey,
            uint256 timestamp
        );
    }

    /// Lido `MEVBoostRelayAllowedList` (Vyper; the same ABI).
    interface IMEVBoostRelayAllowedList {
        struct Relay {
            string uri;
            string operator;
            bool is_mandatory;
            string description;
        }
        function get_relays() external view returns (Relay[] memory);
    }

    /// Rocket Pool `RocketNodeManager`.
    interface IRocketNodeManager {
        function getSmoothingPoolRegistrationState(address _nodeAddress) external view returns (bool);
        function getSmoothingPoolRegistrationChanged(address _nodeAddress) external view returns (uint256);
        function getMegapoolAddress(address _nodeAddress) external view returns (address);
    }

    /// Rocket Pool `RocketNodeDistributorFactory`.
    interface IRocketNodeDistributorFactory {
        function getProxyAddress(address _nodeAddress) external view returns (address);
    }

    /// Rocket Pool megapool (`RocketMegapoolDelegateInterface`).
    interface IRocketMegapool {
        function getValidatorCount() external view returns (uint32);
        function getValidatorPubkey(uint32 _validatorId) external view returns (bytes memory);
    }

    /// Rocket Pool `RocketMinipoolManager`.
    interface IRocketMinipoolManager {
        function getNodeMinipoolCount(address _nodeAddress) external view returns (uint256);
        function getNodeMinipoolAt(address _nodeAddress, uint256 _index) external view returns (address);
        function getMinipoolPubkey(address _minipoolAddress) external view returns (bytes memory);
    }

    /// Rocket Pool `RocketNetworkPenalties`: each minipool's penalty count.
    interface IRocketNetworkPenalties {
        function getPenaltyCount(address _minipool) external view returns (uint256);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::{SolCall, SolEvent};

    /// The selectors and topics of the real deployments
    /// (`../shared/design/pool-abis.json`).
    #[test]
    fn selectors_and_topics_are_the_real_ones() {
        assert_eq!(IStaderNodeRegistry::getValidatorsByOperatorCall::SELECTOR, [0x68, 0x35, 0x47, 0xb8]);
        assert_eq!(IStaderNodeRegistry::operatorIDByAddressCall::SELECTOR, [0xca, 0xc8, 0xb3, 0x06]);
        assert_eq!(IStaderNodeRegistry::operatorStructByIdCall::SELECTOR, [0xc8, 0xa0, 0x0e, 0x7a]);
        assert_eq!(IPermissionlessNodeRegistry::nodeELRewardVaultByOperatorIdCall::SELECTOR, [0x93, 0x44, 0xb2, 0x42]);
        assert_eq!(IPoolUtils::getSocializingPoolAddressCall::SELECTOR, [0x75, 0x26, 0xd4, 0x29]);
        assert_eq!(ILidoNodeOperatorsRegistry::getNodeOperatorCall::SELECTOR, [0x9a, 0x56, 0x98, 0x3c]);
        assert_eq!(ICSModule::getNodeOperatorCall::SELECTOR, [0x65, 0xc1, 0x4d, 0xc7]);
        assert_eq!(ICSModule::getSigningKeysCall::SELECTOR, [0x59, 0xe2, 0x5c, 0x12]);
        assert_eq!(IMEVBoostRelayAllowedList::get_relaysCall::SELECTOR, [0x04, 0xe4, 0x69, 0xea]);
        // contracts/abis/lido-core.json (Lido's own Go bindings print it so).
        assert_eq!(IStakingModule::exitDeadlineThresholdCall::SELECTOR, [0x28, 0xd6, 0xd3, 0x6b]);
        assert_eq!(IStakingModule::getTypeCall::SELECTOR, [0x15, 0xda, 0xe0, 0x3e]);
        assert_eq!(ICSAccounting::getBondCurveIdCall::SELECTOR, [0x05, 0x69, 0xb9, 0x47]);
        assert_eq!(ICSAccounting::getBondSummaryCall::SELECTOR, [0xce, 0x19, 0x79, 0x3f]);
        assert_eq!(ICSAccounting::getUnbondedKeysCountCall::SELECTOR, [0x01, 0xa5, 0xe9, 0xe3]);
        assert_eq!(ICSAccounting::getUnbondedKeysCountToEjectCall::SELECTOR, [0x9c, 0x51, 0x61, 0x02]);
        assert_eq!(IRocketNetworkPenalties::getPenaltyCountCall::SELECTOR, [0xf8, 0xbf, 0xd1, 0x51]);
        assert_eq!(IStaderPenalty::totalPenaltyAmountCall::SELECTOR, [0xe3, 0xb9, 0xf4, 0x5c]);
        assert_eq!(ICSParametersRegistry::getPerformanceLeewayDataCall::SELECTOR, [0x95, 0x45, 0x3a, 0x2d]);
        assert_eq!(ICSParametersRegistry::getStrikesParamsCall::SELECTOR, [0x56, 0x84, 0xe7, 0x02]);
        assert_eq!(IRocketNodeManager::getMegapoolAddressCall::SELECTOR, [0x7d, 0xef, 0xe9, 0x42]);
        assert_eq!(IRocketNodeDistributorFactory::getProxyAddressCall::SELECTOR, [0xfa, 0x2a, 0x5b, 0x01]);
        assert_eq!(
            hex::encode(IValidatorsExitBus::ValidatorExitRequest::SIGNATURE_HASH),
            "96395f55c4997466e5035d777f0e1ba82b8cae217aaad05cf07839eb7c75bcf2"
        );
        assert_eq!(
            hex::encode(IStaderPenalty::ForceExitValidator::SIGNATURE_HASH),
            "b3e2417cfe8e24e37e70b305ab38cac40f3543e07257edc3bf5f95e492ce97cd"
        );
    }
}
