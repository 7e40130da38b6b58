// SPDX-License-Identifier: MIT
// Devnet stand-in for CSM v2's CSStrikes (lidofinance/community-staking-module
// 008e4b3, src/CSStrikes.sol): the root and CID of the performance oracle's
// strikes tree, set by the oracle's report, and the leaf hash the real
// contract proves against.
pragma solidity ^0.8.20;

contract CSStrikes {
    address public immutable ORACLE;
    /// @notice The latest Merkle Tree root
    bytes32 public treeRoot;
    /// @notice CID of the last published Merkle tree
    string public treeCid;

    event StrikesDataUpdated(bytes32 treeRoot, string treeCid);
    event StrikesDataWiped();

    error NotOracle();
    error InvalidReportData();

    constructor() {
        ORACLE = msg.sender;
    }

    /// As the real `processOracleReport`: both empty wipes, both set
    /// replaces, one without the other is refused.
    function processOracleReport(bytes32 _treeRoot, string calldata _treeCid) external {
        if (msg.sender != ORACLE) revert NotOracle();
        if (_treeRoot == bytes32(0) && bytes(_treeCid).length == 0) {
            delete treeRoot;
            delete treeCid;
            emit StrikesDataWiped();
            return;
        }
        if (_treeRoot == bytes32(0) || bytes(_treeCid).length == 0) revert InvalidReportData();
        treeRoot = _treeRoot;
        treeCid = _treeCid;
        emit StrikesDataUpdated(_treeRoot, _treeCid);
    }

    /// keccak256(bytes.concat(keccak256(abi.encode(nodeOperatorId, pubkey, data))))
    function hashLeaf(uint256 nodeOperatorId, bytes calldata pubkey, uint256[] calldata data)
        external
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(nodeOperatorId, pubkey, data))));
    }
}
