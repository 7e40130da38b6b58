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

interface INonWithdrawnKeys {
    function getNodeOperatorNonWithdrawnKeys(uint256 nodeOperatorId) external view returns (uint256);
}

/// CSM's accounting as poolvc reads it (community-staking-module
/// `src/CSAccounting.sol`, `src/abstract/CSBondCurve.sol`): each operator's
/// bond curve, its bond and locked bond, and the unbonded keys computed as
/// the real `_getUnbondedKeysCount` does (no bond reserve on the devnet).
contract CSAccounting {
    /// A bond curve: the bond for keys 1..n, then `trend` per key.
    struct BondCurve {
        uint256[] points;
        uint256 trend;
    }

    address public immutable owner;
    /// The module whose keys the bond covers (`MODULE` in the real one).
    address public MODULE;
    mapping(uint256 => uint256) internal operatorBondCurveId;
    mapping(uint256 => BondCurve) internal curves;
    mapping(uint256 => uint256) internal bond;
    mapping(uint256 => uint256) internal lockedBond;

    event BondCurveSet(uint256 indexed nodeOperatorId, uint256 curveId);

    error NotOwner();
    error InvalidBondCurveId();
    error InvalidBondCurveValues();

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// Devnet: operator `nodeOperatorId` on curve `curveId` (the real one
    /// sets it through the vetted gates).
    function setBondCurve(uint256 nodeOperatorId, uint256 curveId) external onlyOwner {
        operatorBondCurveId[nodeOperatorId] = curveId;
        emit BondCurveSet(nodeOperatorId, curveId);
    }

    /// Devnet: the module and curve `curveId`'s points, checked as the real
    /// `_checkBondCurve` does (non-empty, from above 0, increasing).
    function setCurve(address module, uint256 curveId, uint256[] calldata points) external onlyOwner {
        if (points.length == 0 || points[0] == 0) revert InvalidBondCurveValues();
        for (uint256 i = 1; i < points.length; i++) {
            if (points[i] <= points[i - 1]) revert InvalidBondCurveValues();
        }
        MODULE = module;
        uint256 last = points[points.length - 1];
        curves[curveId] = BondCurve(points, last - (points.length > 1 ? points[points.length - 2] : 0));
    }

    /// Devnet: an operator's bond and locked bond (deposits, penalties and
    /// locks in the real one).
    function setBond(uint256 nodeOperatorId, uint256 current, uint256 locked) external onlyOwner {
        bond[nodeOperatorId] = current;
        lockedBond[nodeOperatorId] = locked;
    }

    function getBondCurveId(uint256 nodeOperatorId) public view returns (uint256 id) {
        id = operatorBondCurveId[nodeOperatorId];
    }

    function getBondSummary(uint256 nodeOperatorId) public view returns (uint256 current, uint256 required) {
        current = bond[nodeOperatorId];
        required = _bondFor(_nonWithdrawn(nodeOperatorId), _curve(nodeOperatorId)) + lockedBond[nodeOperatorId];
    }

    function getUnbondedKeysCount(uint256 nodeOperatorId) external view returns (uint256) {
        return _unbonded(nodeOperatorId, true);
    }

    function getUnbondedKeysCountToEject(uint256 nodeOperatorId) external view returns (uint256) {
        return _unbonded(nodeOperatorId, false);
    }

    function _nonWithdrawn(uint256 id) private view returns (uint256) {
        return MODULE == address(0) ? 0 : INonWithdrawnKeys(MODULE).getNodeOperatorNonWithdrawnKeys(id);
    }

    function _curve(uint256 id) private view returns (BondCurve memory c) {
        c = curves[operatorBondCurveId[id]];
        if (MODULE != address(0) && c.points.length == 0) revert InvalidBondCurveId();
    }

    /// CSBondCurve.getBondAmountByKeysCount.
    function _bondFor(uint256 keys, BondCurve memory c) private pure returns (uint256) {
        if (keys == 0) return 0;
        uint256 len = c.points.length;
        return keys > len ? c.points[len - 1] + (keys - len) * c.trend : c.points[keys - 1];
    }

    /// CSBondCurve.getKeysCountByBondAmount (a linear search for the binary one).
    function _keysFor(uint256 amount, BondCurve memory c) private pure returns (uint256) {
        uint256 len = c.points.length;
        if (len == 0 || amount < c.points[0]) return 0;
        if (amount >= c.points[len - 1]) return len + (amount - c.points[len - 1]) / c.trend;
        uint256 n = 0;
        while (n < len && c.points[n] <= amount) n++;
        return n;
    }

    /// CSAccounting._getUnbondedKeysCount.
    function _unbonded(uint256 id, bool includeLockedBond) private view returns (uint256) {
        uint256 keys = _nonWithdrawn(id);
        uint256 current = bond[id];
        if (includeLockedBond) {
            uint256 locked = lockedBond[id];
            if (locked > current) return keys;
            current -= locked;
        }
        uint256 bonded = _keysFor(current + 10 wei, _curve(id));
        return keys > bonded ? keys - bonded : 0;
    }
}
