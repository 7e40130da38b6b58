// SPDX-License-Identifier: MIT
// Devnet stand-in for Lido's HashConsensus (lidofinance/core 372b02e:
// contracts/0.8.9/oracle/HashConsensus.sol): the frame configuration an
// oracle's reports are cut by, with the real getter's ABI. CSM's
// performance frames are its fee oracle's consensus frames.
pragma solidity ^0.8.20;

contract HashConsensus {
    struct FrameConfig {
        uint64 initialEpoch;
        uint64 epochsPerFrame;
        uint64 fastLaneLengthSlots;
    }

    address public immutable owner;
    FrameConfig internal _frameConfig;

    event FrameConfigSet(uint256 newInitialEpoch, uint256 newEpochsPerFrame);

    error NotOwner();
    error EpochsPerFrameCannotBeZero();

    constructor(uint256 _initialEpoch, uint256 _epochsPerFrame, uint256 _fastLaneLengthSlots) {
        owner = msg.sender;
        _set(_initialEpoch, _epochsPerFrame, _fastLaneLengthSlots);
    }

    function getFrameConfig() external view returns (uint256 initialEpoch, uint256 epochsPerFrame, uint256 fastLaneLengthSlots) {
        FrameConfig memory config = _frameConfig;
        return (config.initialEpoch, config.epochsPerFrame, config.fastLaneLengthSlots);
    }

    /// Devnet: moves the frames (the real contract's `setFrameConfig` and
    /// `updateInitialEpoch`, without their role and timing checks).
    function setFrameConfig(uint256 _initialEpoch, uint256 _epochsPerFrame) external {
        if (msg.sender != owner) revert NotOwner();
        _set(_initialEpoch, _epochsPerFrame, _frameConfig.fastLaneLengthSlots);
    }

    function _set(uint256 _initialEpoch, uint256 _epochsPerFrame, uint256 _fastLane) internal {
        if (_epochsPerFrame == 0) revert EpochsPerFrameCannotBeZero();
        _frameConfig = FrameConfig(uint64(_initialEpoch), uint64(_epochsPerFrame), uint64(_fastLane));
        emit FrameConfigSet(_initialEpoch, _epochsPerFrame);
    }
}
