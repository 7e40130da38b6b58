// SPDX-License-Identifier: MIT
// Devnet stand-ins for Lido's ValidatorsExitBusOracle (its
// ValidatorExitRequest event, lidofinance/core 372b02e) and the
// MEVBoostRelayAllowedList (a Vyper contract; get_relays() here has the same
// ABI).
pragma solidity ^0.8.20;

contract ValidatorsExitBusOracle {
    address public immutable owner;

    event ValidatorExitRequest(
        uint256 indexed stakingModuleId,
        uint256 indexed nodeOperatorId,
        uint256 indexed validatorIndex,
        bytes validatorPubkey,
        uint256 timestamp
    );

    error NotOwner();

    constructor() {
        owner = msg.sender;
    }

    /// Devnet: what a processed exit report emits for one validator.
    function requestExit(uint256 _moduleId, uint256 _operatorId, uint256 _validatorIndex, bytes calldata _pubkey) external {
        if (msg.sender != owner) revert NotOwner();
        emit ValidatorExitRequest(_moduleId, _operatorId, _validatorIndex, _pubkey, block.timestamp);
    }
}

struct Relay {
    string uri;
    string operator;
    bool is_mandatory;
    string description;
}

contract MEVBoostRelayAllowedList {
    address public immutable owner;
    Relay[] private relays;
    uint256 public allowedListVersion;

    error NotOwner();

    constructor() {
        owner = msg.sender;
    }

    function add_relay(string calldata _uri, string calldata _operator, bool _isMandatory, string calldata _description) external {
        if (msg.sender != owner) revert NotOwner();
        relays.push(Relay(_uri, _operator, _isMandatory, _description));
        allowedListVersion++;
    }

    function get_relays() external view returns (Relay[] memory) {
        return relays;
    }

    function get_allowed_list_version() external view returns (uint256) {
        return allowedListVersion;
    }
}
