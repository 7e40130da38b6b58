// SPDX-License-Identifier: MIT
// Devnet stand-ins for Stader ETHx's node registries, written for poolvc's
// tests: the same function signatures and events as stader-labs/ethx
// (contracts/interfaces/INodeRegistry.sol, PermissionlessNodeRegistry.sol,
// PermissionedNodeRegistry.sol at 9d4a921) for everything poolvc reads, with
// simple setters for the devnet in place of onboarding and deposits.
pragma solidity ^0.8.20;

enum ValidatorStatus {
    INITIALIZED,
    INVALID_SIGNATURE,
    FRONT_RUN,
    PRE_DEPOSIT,
    DEPOSITED,
    WITHDRAWN
}

struct Validator {
    ValidatorStatus status;
    bytes pubkey;
    bytes preDepositSignature;
    bytes depositSignature;
    address withdrawVaultAddress;
    uint256 operatorId;
    uint256 depositBlock;
    uint256 withdrawnBlock;
}

struct Operator {
    bool active;
    bool optedForSocializingPool;
    string operatorName;
    address payable operatorRewardAddress;
    address operatorAddress;
}

/// The getters both Stader registries share. Operators and validators are
/// numbered from 1; 0 means absent.
abstract contract NodeRegistry {
    address public immutable owner;
    uint256 public nextOperatorId = 1;
    uint256 public nextValidatorId = 1;

    mapping(uint256 => Validator) public validatorRegistry;
    mapping(uint256 => Operator) public operatorStructById;
    mapping(bytes => uint256) public validatorIdByPubkey;
    mapping(uint256 => uint256[]) public validatorIdsByOperatorId;
    mapping(address => uint256) public operatorIDByAddress;
    mapping(uint256 => uint256) internal socializingPoolStateChangeBlock;

    error NotOwner();
    error OperatorExists();
    error PubkeyExists();
    error UnknownOperator();
    error BadPubkey();

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// Devnet: an operator, as onboarding would leave it.
    function addOperator(address _operator, string calldata _name, bool _optedIn) public virtual onlyOwner returns (uint256 id) {
        if (operatorIDByAddress[_operator] != 0) revert OperatorExists();
        id = nextOperatorId++;
        operatorStructById[id] = Operator(true, _optedIn, _name, payable(_operator), _operator);
        operatorIDByAddress[_operator] = id;
    }

    /// Devnet: deposited validators for an operator.
    function addValidators(uint256 _operatorId, bytes[] calldata _pubkeys) external onlyOwner {
        if (_operatorId == 0 || _operatorId >= nextOperatorId) revert UnknownOperator();
        for (uint256 i = 0; i < _pubkeys.length; i++) {
            if (_pubkeys[i].length != 48) revert BadPubkey();
            if (validatorIdByPubkey[_pubkeys[i]] != 0) revert PubkeyExists();
            uint256 id = nextValidatorId++;
            validatorRegistry[id] = Validator(ValidatorStatus.DEPOSITED, _pubkeys[i], "", "", address(0), _operatorId, block.number, 0);
            validatorIdByPubkey[_pubkeys[i]] = id;
            validatorIdsByOperatorId[_operatorId].push(id);
        }
    }

    function getOperatorTotalKeys(uint256 _operatorId) external view returns (uint256 _totalKeys) {
        return validatorIdsByOperatorId[_operatorId].length;
    }

    /// Pages start at 1.
    function getValidatorsByOperator(address _operator, uint256 _pageNumber, uint256 _pageSize)
        external
        view
        returns (Validator[] memory)
    {
        uint256[] storage ids = validatorIdsByOperatorId[operatorIDByAddress[_operator]];
        (uint256 start, uint256 end) = _page(ids.length, _pageNumber, _pageSize);
        Validator[] memory out = new Validator[](end - start);
        for (uint256 i = start; i < end; i++) {
            out[i - start] = validatorRegistry[ids[i]];
        }
        return out;
    }

    /// Pages start at 1; only validators still in the pool (pre-deposit or deposited).
    function getAllActiveValidators(uint256 _pageNumber, uint256 _pageSize) external view returns (Validator[] memory) {
        (uint256 start, uint256 end) = _page(nextValidatorId - 1, _pageNumber, _pageSize);
        uint256 n = 0;
        for (uint256 id = start + 1; id <= end; id++) {
            if (_active(validatorRegistry[id].status)) n++;
        }
        Validator[] memory out = new Validator[](n);
        uint256 k = 0;
        for (uint256 id = start + 1; id <= end; id++) {
            if (_active(validatorRegistry[id].status)) out[k++] = validatorRegistry[id];
        }
        return out;
    }

    function getSocializingPoolStateChangeBlock(uint256 _operatorId) external view returns (uint256) {
        return socializingPoolStateChangeBlock[_operatorId];
    }

    function isExistingPubkey(bytes calldata _pubkey) external view returns (bool) {
        return validatorIdByPubkey[_pubkey] != 0;
    }

    function isExistingOperator(address _operAddr) external view returns (bool) {
        return operatorIDByAddress[_operAddr] != 0;
    }

    /// Devnet: a validator leaves the pool.
    function markWithdrawn(bytes calldata _pubkey) external onlyOwner {
        uint256 id = validatorIdByPubkey[_pubkey];
        if (id == 0) revert BadPubkey();
        validatorRegistry[id].status = ValidatorStatus.WITHDRAWN;
        validatorRegistry[id].withdrawnBlock = block.number;
    }

    function _active(ValidatorStatus s) private pure returns (bool) {
        return s == ValidatorStatus.PRE_DEPOSIT || s == ValidatorStatus.DEPOSITED;
    }

    function _page(uint256 total, uint256 pageNumber, uint256 pageSize) private pure returns (uint256 start, uint256 end) {
        if (pageNumber == 0) return (0, 0);
        start = (pageNumber - 1) * pageSize;
        if (start > total) start = total;
        end = start + pageSize;
        if (end > total) end = total;
    }
}

/// Pool id 1: operators choose whether their blocks pay the socializing pool
/// or their own EL reward vault.
contract PermissionlessNodeRegistry is NodeRegistry {
    uint8 public constant POOL_ID = 1;
    mapping(uint256 => address) public nodeELRewardVaultByOperatorId;

    event UpdatedSocializingPoolState(uint256 operatorId, bool optedForSocializingPool, uint256 block);

    /// Devnet: an operator with its EL reward vault.
    function addOperatorWithVault(address _operator, string calldata _name, bool _optedIn, address _vault)
        external
        onlyOwner
        returns (uint256 id)
    {
        id = addOperator(_operator, _name, _optedIn);
        nodeELRewardVaultByOperatorId[id] = _vault;
    }

    /// As the real one: the operator switches its opt-in; the block is recorded.
    function changeSocializingPoolState(bool _optInForSocializingPool) external returns (address mevFeeRecipientAddress) {
        uint256 id = operatorIDByAddress[msg.sender];
        if (id == 0) revert UnknownOperator();
        operatorStructById[id].optedForSocializingPool = _optInForSocializingPool;
        socializingPoolStateChangeBlock[id] = block.number;
        emit UpdatedSocializingPoolState(id, _optInForSocializingPool, block.number);
        return _optInForSocializingPool ? address(0) : nodeELRewardVaultByOperatorId[id];
    }
}

/// Pool id 2: always socialized.
contract PermissionedNodeRegistry is NodeRegistry {
    uint8 public constant POOL_ID = 2;
}
