// SPDX-License-Identifier: MIT
// forge tests of PoolPerformanceOracle (no forge-std: offline).
pragma solidity ^0.8.20;

import {PoolPerformanceOracle, FrameReport, OperatorCounters, ValidatorLeaf} from "../src/poolvc/PoolPerformanceOracle.sol";

interface Vm2 {
    function prank(address) external;
}

contract PerformanceOracleTest {
    Vm2 constant vm = Vm2(address(uint160(uint256(keccak256("hevm cheat code")))));
    address constant R1 = address(0xE1);
    address constant R2 = address(0xE2);
    address constant R3 = address(0xE3);
    PoolPerformanceOracle o;

    function setUp() public {
        address[] memory rs = new address[](3);
        rs[0] = R1;
        rs[1] = R2;
        rs[2] = R3;
        o = new PoolPerformanceOracle(rs);
    }

    function leaf(uint64 index, uint64 included) internal pure returns (ValidatorLeaf memory l) {
        l.frame = 7;
        l.validatorIndex = index;
        l.pubkeyRoot = keccak256(abi.encodePacked(index));
        l.operatorId = keccak256("lido-csm/0");
        l.attAssigned = 4;
        l.attIncluded = included;
        l.performanceBp = uint32(included * 2500);
        l.thresholdBp = 9200;
    }

    function h(ValidatorLeaf memory l) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(l))));
    }

    function pair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function report(bytes32 root, uint64 below) internal pure returns (FrameReport memory r) {
        r.frame = 7;
        r.firstEpoch = 28;
        r.lastEpoch = 31;
        r.networkPerformanceBp = 9500;
        r.operators = new OperatorCounters[](1);
        r.operators[0].operatorId = keccak256("lido-csm/0");
        r.operators[0].keys = 3;
        r.operators[0].keysBelow = below;
        r.validatorsRoot = root;
    }

    function submit(address who, FrameReport memory r) internal {
        vm.prank(who);
        o.submitReport(r);
    }

    function test_quorum_of_identical_reports_accepts_and_a_proof_verifies() public {
        // Three leaves: ((l0, l1), l2).
        ValidatorLeaf memory l0 = leaf(52, 1);
        ValidatorLeaf memory l1 = leaf(53, 4);
        ValidatorLeaf memory l2 = leaf(54, 0);
        bytes32 root = pair(pair(h(l0), h(l1)), h(l2));
        require(o.quorum() == 2, "quorum of 3 reporters is 2");
        submit(R1, report(root, 2));
        require(o.acceptedHash(7) == bytes32(0), "one report is not a quorum");
        // A different report does not count towards the first.
        submit(R2, report(root, 1));
        require(o.acceptedHash(7) == bytes32(0), "two different reports are not a quorum");
        submit(R3, report(root, 2));
        require(o.acceptedHash(7) == o.reportHash(report(root, 2)), "accepted at 2 identical reports");
        require(o.validatorsRoot(7) == root, "root recorded");
        bytes32[] memory p0 = new bytes32[](2);
        p0[0] = h(l1);
        p0[1] = h(l2);
        require(o.verifyValidator(l0, p0), "proof of leaf 0");
        bytes32[] memory p2 = new bytes32[](1);
        p2[0] = pair(h(l0), h(l1));
        require(o.verifyValidator(l2, p2), "proof of the odd leaf");
        l0.attIncluded = 4;
        require(!o.verifyValidator(l0, p0), "a changed leaf does not verify");
        require(!o.verifyValidator(leaf(55, 1), p0), "an unknown leaf does not verify");
    }

    function test_only_reporters_once_per_frame() public {
        FrameReport memory r = report(bytes32(uint256(1)), 0);
        try o.submitReport(r) {
            revert("a non-reporter's report was taken");
        } catch (bytes memory reason) {
            require(bytes4(reason) == PoolPerformanceOracle.NotReporter.selector, "NotReporter");
        }
        submit(R1, r);
        vm.prank(R1);
        try o.submitReport(r) {
            revert("a second report of the same frame was taken");
        } catch (bytes memory reason) {
            require(bytes4(reason) == PoolPerformanceOracle.AlreadySubmitted.selector, "AlreadySubmitted");
        }
        r.firstEpoch = 40;
        vm.prank(R2);
        try o.submitReport(r) {
            revert("a frame ending before it starts was taken");
        } catch (bytes memory reason) {
            require(bytes4(reason) == PoolPerformanceOracle.BadEpochs.selector, "BadEpochs");
        }
    }

    function test_reporters_are_the_owner_s_to_change() public {
        vm.prank(R1);
        try o.addReporter(address(0xE4)) {
            revert("a reporter added a reporter");
        } catch {}
        o.addReporter(address(0xE4));
        o.addReporter(address(0xE5));
        require(o.reporterCount() == 5 && o.quorum() == 3, "5 reporters, quorum 3");
        o.removeReporter(R3);
        require(o.reporterCount() == 4 && o.quorum() == 3 && !o.isReporter(R3), "4 reporters, quorum 3");
    }
}
