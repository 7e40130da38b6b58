// SPDX-License-Identifier: MIT
// Devnet stand-ins for CSM v2's CSParametersRegistry and CSAccounting
// (lidofinance/community-staking-module 0b84df9, src/CSParametersRegistry.sol;
// src/abstract/CSBondCurve.sol): the getters poolvc reads, with the real
// defaults-when-unset rules and the real checks on what is set.
pragma solidity ^0.8.20;

struct KeyNumberValueInterval {
    uint256 minKeyNumber;
    uint256 value;
}

contract CSParametersRegistry {
    uint256 internal constant MAX_BP = 10000;

    struct StrikesParams {
        uint32 lifetime;
        uint32 threshold;
    }

    struct PerformanceCoefficients {
        uint32 attestationsWeight;
        uint32 blocksWeight;
        uint32 syncWeight;
    }

    address public immutable owner;
    uint256 public defaultRewardShare;
    uint256 public defaultPerformanceLeeway;
    StrikesParams public defaultStrikesParams;
    PerformanceCoefficients public defaultPerformanceCoefficients;
    uint256 public defaultAllowedExitDelay;

    mapping(uint256 => KeyNumberValueInterval[]) internal _rewardShareData;
    mapping(uint256 => KeyNumberValueInterval[]) internal _performanceLeewayData;
    mapping(uint256 => StrikesParams) internal _strikesParams;
    mapping(uint256 => PerformanceCoefficients) internal _performanceCoefficients;
    mapping(uint256 => uint256) internal _allowedExitDelay;

    event RewardShareDataSet(uint256 indexed curveId, KeyNumberValueInterval[] data);
    event PerformanceLeewayDataSet(uint256 indexed curveId, KeyNumberValueInterval[] data);
    event StrikesParamsSet(uint256 indexed curveId, uint256 lifetime, uint256 threshold);
    event PerformanceCoefficientsSet(
        uint256 indexed curveId, uint256 attestationsWeight, uint256 blocksWeight, uint256 syncWeight
    );
    event AllowedExitDelaySet(uint256 indexed curveId, uint256 delay);

    error NotOwner();
    error InvalidKeyNumberValueIntervals();
    error InvalidStrikesParams();
    error InvalidPerformanceCoefficients();
    error InvalidAllowedExitDelay();

    /// The mainnet defaults (CSM v2 deploy): 5834 bp reward share, 300 bp
    /// leeway, strikes 6 frames / 3, weights 54/8/2, 4 days to exit.
    constructor() {
        owner = msg.sender;
        defaultRewardShare = 5834;
        defaultPerformanceLeeway = 300;
        defaultStrikesParams = StrikesParams(6, 3);
        defaultPerformanceCoefficients = PerformanceCoefficients(54, 8, 2);
        defaultAllowedExitDelay = 4 days;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    function setRewardShareData(uint256 curveId, KeyNumberValueInterval[] calldata data) external onlyOwner {
        _validateKeyNumberValueIntervals(data);
        delete _rewardShareData[curveId];
        for (uint256 i = 0; i < data.length; ++i) _rewardShareData[curveId].push(data[i]);
        emit RewardShareDataSet(curveId, data);
    }

    function setPerformanceLeewayData(uint256 curveId, KeyNumberValueInterval[] calldata data) external onlyOwner {
        _validateKeyNumberValueIntervals(data);
        delete _performanceLeewayData[curveId];
        for (uint256 i = 0; i < data.length; ++i) _performanceLeewayData[curveId].push(data[i]);
        emit PerformanceLeewayDataSet(curveId, data);
    }

    function setStrikesParams(uint256 curveId, uint256 lifetime, uint256 threshold) external onlyOwner {
        if (threshold == 0 || lifetime == 0) revert InvalidStrikesParams();
        _strikesParams[curveId] = StrikesParams(uint32(lifetime), uint32(threshold));
        emit StrikesParamsSet(curveId, lifetime, threshold);
    }

    function setPerformanceCoefficients(uint256 curveId, uint256 attestationsWeight, uint256 blocksWeight, uint256 syncWeight)
        external
        onlyOwner
    {
        if (attestationsWeight == 0 && blocksWeight == 0 && syncWeight == 0) revert InvalidPerformanceCoefficients();
        _performanceCoefficients[curveId] =
            PerformanceCoefficients(uint32(attestationsWeight), uint32(blocksWeight), uint32(syncWeight));
        emit PerformanceCoefficientsSet(curveId, attestationsWeight, blocksWeight, syncWeight);
    }

    function setAllowedExitDelay(uint256 curveId, uint256 delay) external onlyOwner {
        if (delay == 0) revert InvalidAllowedExitDelay();
        _allowedExitDelay[curveId] = delay;
        emit AllowedExitDelaySet(curveId, delay);
    }

    function getRewardShareData(uint256 curveId) external view returns (KeyNumberValueInterval[] memory data) {
        data = _rewardShareData[curveId];
        if (data.length == 0) {
            data = new KeyNumberValueInterval[](1);
            data[0] = KeyNumberValueInterval(1, defaultRewardShare);
        }
    }

    function getPerformanceLeewayData(uint256 curveId) external view returns (KeyNumberValueInterval[] memory data) {
        data = _performanceLeewayData[curveId];
        if (data.length == 0) {
            data = new KeyNumberValueInterval[](1);
            data[0] = KeyNumberValueInterval(1, defaultPerformanceLeeway);
        }
    }

    function getStrikesParams(uint256 curveId) external view returns (uint256 lifetime, uint256 threshold) {
        StrikesParams storage params = _strikesParams[curveId];
        if (params.threshold == 0) {
            return (defaultStrikesParams.lifetime, defaultStrikesParams.threshold);
        }
        return (params.lifetime, params.threshold);
    }

    function getPerformanceCoefficients(uint256 curveId)
        external
        view
        returns (uint256 attestationsWeight, uint256 blocksWeight, uint256 syncWeight)
    {
        PerformanceCoefficients storage c = _performanceCoefficients[curveId];
        if (c.attestationsWeight == 0 && c.blocksWeight == 0 && c.syncWeight == 0) {
            c = defaultPerformanceCoefficients;
        }
        return (c.attestationsWeight, c.blocksWeight, c.syncWeight);
    }

    function getAllowedExitDelay(uint256 curveId) external view returns (uint256 delay) {
        delay = _allowedExitDelay[curveId];
        if (delay == 0) {
            return defaultAllowedExitDelay;
        }
    }

    function _validateKeyNumberValueIntervals(KeyNumberValueInterval[] calldata intervals) private pure {
        if (intervals.length == 0 || intervals[0].minKeyNumber != 1 || intervals[0].value > MAX_BP) {
            revert InvalidKeyNumberValueIntervals();
        }
        for (uint256 i = 1; i < intervals.length; ++i) {
            if (intervals[i].minKeyNumber <= intervals[i - 1].minKeyNumber || intervals[i].value > MAX_BP) {
                revert InvalidKeyNumberValueIntervals();
            }
        }
    }
}

contract CSAccounting {
    address public immutable owner;
    mapping(uint256 => uint256) internal operatorBondCurveId;

    event BondCurveSet(uint256 indexed nodeOperatorId, uint256 curveId);

    error NotOwner();

    constructor() {
        owner = msg.sender;
    }

    /// Devnet: operator `nodeOperatorId` on curve `curveId` (the real one
    /// sets it through the vetted gates).
    function setBondCurve(uint256 nodeOperatorId, uint256 curveId) external {
        if (msg.sender != owner) revert NotOwner();
        operatorBondCurveId[nodeOperatorId] = curveId;
        emit BondCurveSet(nodeOperatorId, curveId);
    }

    function getBondCurveId(uint256 nodeOperatorId) public view returns (uint256 id) {
        id = operatorBondCurveId[nodeOperatorId];
    }
}
