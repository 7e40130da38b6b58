// SPDX-License-Identifier: MIT
// forge tests of the devnet pool contracts, without forge-std (offline): the
// cheatcodes used are declared here; a revert fails a test.
pragma solidity ^0.8.20;

import {PermissionlessNodeRegistry, PermissionedNodeRegistry, Validator, ValidatorStatus} from "../src/stader/NodeRegistry.sol";
import {PoolUtils, StaderConfig} from "../src/stader/PoolUtils.sol";
import {Penalty, StaderOracle, MissedAttestationPenaltyData} from "../src/stader/Penalty.sol";
import {NodeOperatorsRegistry, CSModule, NodeOperator} from "../src/lido/NodeOperatorsRegistry.sol";
import {ValidatorsExitBusOracle, MEVBoostRelayAllowedList, Relay} from "../src/lido/ValidatorsExitBusOracle.sol";
import {LidoLocator, StakingRouter} from "../src/lido/LidoLocator.sol";
import {CSParametersRegistry, CSAccounting, KeyNumberValueInterval} from "../src/lido/CSParametersRegistry.sol";
import {CSStrikes} from "../src/lido/CSStrikes.sol";
import {RocketNodeManager, RocketNodeDistributorFactory, RocketMinipoolManager, RocketMegapool, RocketNetworkPenalties} from "../src/rocketpool/RocketNodeManager.sol";

interface Vm {
    function roll(uint256) external;
    function warp(uint256) external;
    function prank(address) external;
    function expectEmit(bool, bool, bool, bool) external;
}

contract PoolsTest {
    Vm constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    PermissionlessNodeRegistry pl;
    PermissionedNodeRegistry pd;
    StaderConfig config;
    PoolUtils utils;
    address constant OP_IN = address(0xA1);
    address constant OP_OUT = address(0xA2);
    address constant VAULT = address(0xB2);

    event ValidatorExitRequest(
        uint256 indexed stakingModuleId, uint256 indexed nodeOperatorId, uint256 indexed validatorIndex, bytes validatorPubkey, uint256 timestamp
    );
    event ForceExitValidator(bytes pubkey);

    function key(uint8 n) internal pure returns (bytes memory k) {
        k = new bytes(48);
        for (uint256 i = 0; i < 48; i++) k[i] = bytes1(n);
    }

    function eq(bytes memory a, bytes memory b) internal pure returns (bool) {
        return keccak256(a) == keccak256(b);
    }

    function setUp() public {
        pl = new PermissionlessNodeRegistry();
        pd = new PermissionedNodeRegistry();
        config = new StaderConfig(address(0x5001), address(0x5002), 100);
        utils = new PoolUtils(config, address(pl), address(pd));
        pl.addOperatorWithVault(OP_IN, "in", true, address(0xB1));
        pl.addOperatorWithVault(OP_OUT, "out", false, VAULT);
        pd.addOperator(address(0xA3), "permissioned", true);
        bytes[] memory ks = new bytes[](2);
        ks[0] = key(1);
        ks[1] = key(2);
        pl.addValidators(2, ks);
        bytes[] memory one = new bytes[](1);
        one[0] = key(3);
        pd.addValidators(1, one);
    }

    function test_stader_enumeration() public view {
        require(pl.POOL_ID() == 1 && pd.POOL_ID() == 2, "pool ids");
        require(pl.operatorIDByAddress(OP_OUT) == 2, "operator id");
        Validator[] memory vs = pl.getValidatorsByOperator(OP_OUT, 1, 10);
        require(vs.length == 2 && eq(vs[1].pubkey, key(2)) && vs[0].operatorId == 2, "by operator");
        require(vs[0].status == ValidatorStatus.DEPOSITED, "status");
        require(pl.getValidatorsByOperator(OP_OUT, 2, 10).length == 0, "page 2 empty");
        require(pl.getValidatorsByOperator(OP_OUT, 2, 1).length == 1, "page size 1");
        require(pl.getAllActiveValidators(1, 100).length == 2, "all active");
        require(pl.getOperatorTotalKeys(2) == 2 && pl.validatorIdsByOperatorId(2, 1) == 2, "ids");
        (, bool optedIn,,, address opAddr) = pl.operatorStructById(2);
        require(!optedIn && opAddr == OP_OUT, "operator struct");
        (, bytes memory pk,,,, uint256 opId,,) = pl.validatorRegistry(pl.validatorIdByPubkey(key(1)));
        require(eq(pk, key(1)) && opId == 2, "registry getter");
        require(pl.nodeELRewardVaultByOperatorId(2) == VAULT, "vault");
        require(utils.getValidatorPoolId(key(3)) == 2 && utils.getValidatorPoolId(key(1)) == 1, "pool of key");
        require(utils.getSocializingPoolAddress(1) == address(0x5001), "socializing pool");
        require(utils.getPoolIdArray().length == 2 && utils.getNodeRegistry(2) == address(pd), "pools");
        require(config.getSocializingPoolOptInCoolingPeriod() == 100, "cooling period");
    }

    function test_unknown_key_reverts_as_the_real_pool_utils() public view {
        try utils.getValidatorPoolId(key(9)) returns (uint8) {
            revert("expected a revert");
        } catch (bytes memory reason) {
            require(keccak256(reason) == keccak256(abi.encodeWithSelector(PoolUtils.PubkeyDoesNotExit.selector)), "PubkeyDoesNotExit");
        }
    }

    function test_lido_locator_and_staking_router() public {
        StakingRouter router = new StakingRouter();
        LidoLocator locator = new LidoLocator(VAULT, address(router), address(0xE1));
        require(locator.elRewardsVault() == VAULT && locator.stakingRouter() == address(router), "locator");
        require(locator.validatorsExitBusOracle() == address(0xE1), "exit bus");
        router.addStakingModule("curated", address(0xC1));
        router.addStakingModule("csm", address(0xC3));
        StakingRouter.StakingModule memory m = router.getStakingModule(2);
        require(m.id == 2 && m.stakingModuleAddress == address(0xC3), "module 2");
        try router.getStakingModule(3) returns (StakingRouter.StakingModule memory) {
            revert("expected a revert");
        } catch (bytes memory reason) {
            require(
                keccak256(reason) == keccak256(abi.encodeWithSelector(StakingRouter.StakingModuleUnregistered.selector)),
                "StakingModuleUnregistered"
            );
        }
        try new LidoLocator(address(0), address(router), address(0xE1)) returns (LidoLocator) {
            revert("a zero vault was taken");
        } catch {}
        vm.prank(address(0xdead));
        try router.addStakingModule("x", address(0xC4)) {
            revert("a stranger added a module");
        } catch {}
    }

    function test_opt_in_change_records_the_block() public {
        vm.roll(500);
        vm.prank(OP_OUT);
        pl.changeSocializingPoolState(true);
        (, bool optedIn,,,) = pl.operatorStructById(2);
        require(optedIn && pl.getSocializingPoolStateChangeBlock(2) == 500, "change block");
    }

    function test_only_the_owner_sets_up_the_devnet() public {
        vm.prank(address(0xdead));
        try pl.addOperatorWithVault(address(0xC1), "x", true, VAULT) returns (uint256) {
            revert("a stranger added an operator");
        } catch {}
        bytes[] memory bad = new bytes[](1);
        bad[0] = new bytes(47);
        try pl.addValidators(1, bad) {
            revert("a 47-byte key was taken");
        } catch {}
    }

    function test_lido_registries_keep_their_shapes() public {
        NodeOperatorsRegistry nor = new NodeOperatorsRegistry();
        nor.addNodeOperator("curated", address(0xD1), abi.encodePacked(key(4), key(5)));
        (bool active, string memory name,, uint64 vetted,,, uint64 deposited) = nor.getNodeOperator(0, true);
        require(active && vetted == 2 && deposited == 2 && keccak256(bytes(name)) == keccak256("curated"), "operator");
        (bytes memory pubkeys, bytes memory sigs, bool[] memory used) = nor.getSigningKeys(0, 1, 1);
        require(eq(pubkeys, key(5)) && sigs.length == 96 && used.length == 1, "curated keys");
        require(nor.getNodeOperatorsCount() == 1 && nor.getNodeOperatorIds(0, 10).length == 1, "ids");

        CSModule csm = new CSModule();
        csm.addNodeOperator(address(0xE1), address(0xE2), abi.encodePacked(key(6), key(7), key(8)));
        NodeOperator memory op = csm.getNodeOperator(0);
        require(op.totalDepositedKeys == 3 && op.rewardAddress == address(0xE2), "csm operator");
        require(eq(csm.getSigningKeys(0, 2, 1), key(8)), "csm keys");
        (bytes memory keys, bytes memory signatures) = csm.getSigningKeysWithSignatures(0, 0, 2);
        require(keys.length == 96 && signatures.length == 192, "csm keys with signatures");
        try csm.getSigningKeys(0, 2, 2) returns (bytes memory) {
            revert("read past the keys");
        } catch {}
    }

    function test_exit_deadline_thresholds_per_operator() public {
        NodeOperatorsRegistry nor = new NodeOperatorsRegistry();
        nor.addNodeOperator("curated", address(0xD1), abi.encodePacked(key(4)));
        require(nor.exitDeadlineThreshold(0) == 4 days, "curated default");
        nor.setExitDeadlineThreshold(2 days);
        require(nor.exitDeadlineThreshold(0) == 2 days, "curated set");
        try nor.exitDeadlineThreshold(1) returns (uint256) {
            revert("an unknown operator answered");
        } catch {}
        CSModule csm = new CSModule();
        csm.addNodeOperator(address(0xE1), address(0xE2), abi.encodePacked(key(6)));
        csm.addNodeOperator(address(0xE3), address(0xE4), abi.encodePacked(key(7)));
        require(csm.exitDeadlineThreshold(1) == 4 days, "no registry: 4 days");
        CSParametersRegistry reg = new CSParametersRegistry();
        CSAccounting acc = new CSAccounting();
        csm.setCurveContracts(address(acc), address(reg));
        require(csm.accounting() == address(acc) && csm.PARAMETERS_REGISTRY() == address(reg), "curve contracts");
        reg.setAllowedExitDelay(2, 5 days);
        acc.setBondCurve(1, 2);
        require(csm.exitDeadlineThreshold(0) == 4 days && csm.exitDeadlineThreshold(1) == 5 days, "by curve");
        try csm.exitDeadlineThreshold(2) returns (uint256) {
            revert("an unknown operator answered");
        } catch {}
    }

    function test_stader_penalty_state_and_the_forced_exit_at_its_threshold() public {
        Penalty p = new Penalty();
        require(p.validatorExitPenaltyThreshold() == 2 ether && p.missedAttestationPenaltyPerStrike() == 0.2 ether, "defaults");
        p.setTotalPenaltyAmount(key(1), 1.8 ether);
        require(p.totalPenaltyAmount(key(1)) == 1.8 ether && p.totalPenaltyAmount(key(2)) == 0, "by key");
        vm.expectEmit(false, false, false, true);
        emit ForceExitValidator(key(1));
        p.setTotalPenaltyAmount(key(1), 2 ether);
        vm.prank(address(0xBAD));
        try p.setTotalPenaltyAmount(key(2), 1) {
            revert("a stranger set a penalty");
        } catch {}
    }

    function test_strikes_root_and_cid_as_the_oracle_reports_them() public {
        CSStrikes s = new CSStrikes();
        require(s.treeRoot() == bytes32(0) && bytes(s.treeCid()).length == 0, "empty at first");
        s.processOracleReport(bytes32(uint256(1)), "bafyroot1");
        require(s.treeRoot() == bytes32(uint256(1)) && keccak256(bytes(s.treeCid())) == keccak256("bafyroot1"), "set");
        try s.processOracleReport(bytes32(uint256(2)), "") {
            revert("a root without a CID was taken");
        } catch {}
        vm.prank(address(0xBAD));
        try s.processOracleReport(bytes32(uint256(2)), "x") {
            revert("a stranger reported");
        } catch {}
        uint256[] memory data = new uint256[](2);
        data[0] = 1;
        require(
            s.hashLeaf(3, key(9), data) == keccak256(bytes.concat(keccak256(abi.encode(uint256(3), key(9), data)))),
            "leaf"
        );
        s.processOracleReport(bytes32(0), "");
        require(s.treeRoot() == bytes32(0), "wiped");
    }

    function test_parameters_registry_defaults_and_curves() public {
        CSParametersRegistry reg = new CSParametersRegistry();
        KeyNumberValueInterval[] memory d = reg.getPerformanceLeewayData(2);
        require(d.length == 1 && d[0].minKeyNumber == 1 && d[0].value == 300, "default leeway");
        (uint256 lifetime, uint256 threshold) = reg.getStrikesParams(2);
        require(lifetime == 6 && threshold == 3, "default strikes");
        KeyNumberValueInterval[] memory ics = new KeyNumberValueInterval[](2);
        ics[0] = KeyNumberValueInterval(1, 500);
        ics[1] = KeyNumberValueInterval(151, 300);
        reg.setPerformanceLeewayData(2, ics);
        reg.setStrikesParams(2, 6, 4);
        reg.setPerformanceCoefficients(2, 54, 4, 2);
        d = reg.getPerformanceLeewayData(2);
        require(d.length == 2 && d[1].minKeyNumber == 151 && d[1].value == 300, "ICS leeway");
        (, threshold) = reg.getStrikesParams(2);
        (uint256 a, uint256 b, uint256 c) = reg.getPerformanceCoefficients(2);
        require(threshold == 4 && a == 54 && b == 4 && c == 2, "ICS strikes and weights");
        (a, b, c) = reg.getPerformanceCoefficients(0);
        require(a == 54 && b == 8 && c == 2, "default weights");
        // The real checks: intervals from key 1, ascending, at most 10000 bp.
        ics[0] = KeyNumberValueInterval(2, 500);
        try reg.setPerformanceLeewayData(3, ics) {
            revert("intervals not from key 1 were taken");
        } catch {}
        try reg.setStrikesParams(3, 0, 4) {
            revert("a lifetime of 0 was taken");
        } catch {}
    }

    function test_exit_requests_and_relays() public {
        ValidatorsExitBusOracle bus = new ValidatorsExitBusOracle();
        vm.warp(1_700_000_000);
        vm.expectEmit(true, true, true, true);
        emit ValidatorExitRequest(1, 7, 42, key(4), 1_700_000_000);
        bus.requestExit(1, 7, 42, key(4));
        Penalty penalty = new Penalty();
        vm.expectEmit(true, true, true, true);
        emit ForceExitValidator(key(1));
        penalty.forceExit(key(1));
        MEVBoostRelayAllowedList list = new MEVBoostRelayAllowedList();
        list.add_relay("https://relay.example", "example", false, "test relay");
        Relay[] memory relays = list.get_relays();
        require(relays.length == 1 && list.get_allowed_list_version() == 1, "relays");
    }

    function test_rocket_pool_smoothing_pool_and_megapool() public {
        RocketNodeManager m = new RocketNodeManager();
        address node = address(0xF1);
        m.registerNode(node, address(0xF2));
        vm.warp(1_700_000_123);
        vm.prank(node);
        m.setSmoothingPoolRegistrationState(true);
        require(m.getSmoothingPoolRegistrationState(node), "in the smoothing pool");
        require(m.getSmoothingPoolRegistrationChanged(node) == 1_700_000_123, "change time");
        require(m.getMegapoolAddress(node) == address(0xF2), "megapool");
        RocketNodeDistributorFactory f = new RocketNodeDistributorFactory();
        require(f.getProxyAddress(node) != address(0) && f.getProxyAddress(node) != f.getProxyAddress(address(0xF3)), "distributor");
    }

    function test_rocket_pool_minipools_list_a_node_s_keys() public {
        RocketMinipoolManager mm = new RocketMinipoolManager();
        address node = address(0xF1);
        bytes[] memory ks = new bytes[](2);
        ks[0] = key(1);
        ks[1] = key(2);
        mm.addMinipools(node, ks);
        require(mm.getNodeMinipoolCount(node) == 2, "two minipools");
        require(mm.getNodeMinipoolCount(address(0xF3)) == 0, "none elsewhere");
        address mp = mm.getNodeMinipoolAt(node, 1);
        require(keccak256(mm.getMinipoolPubkey(mp)) == keccak256(key(2)), "key of the second");
        require(mm.getMinipoolByPubkey(key(1)) == mm.getNodeMinipoolAt(node, 0), "lookup by key");
        (bool ok,) = address(mm).call(abi.encodeWithSelector(mm.addMinipools.selector, node, ks));
        require(!ok, "a key twice reverts");
    }

    /// CSAccounting._getUnbondedKeysCount on a curve of 2.4 ETH for the
    /// first key and 1.3 ETH for each next: 4 keys need 6.3 ETH.
    function test_csm_bond_summary_and_unbonded_keys() public {
        CSModule csm = new CSModule();
        csm.addNodeOperator(address(0xE1), address(0xE2), abi.encodePacked(key(1), key(2), key(3), key(4)));
        CSAccounting acc = new CSAccounting();
        require(acc.getUnbondedKeysCount(0) == 0, "no module: nothing to cover");
        uint256[] memory points = new uint256[](2);
        points[0] = 2.4 ether;
        points[1] = 3.7 ether;
        acc.setCurve(address(csm), 0, points);
        require(csm.getNodeOperatorNonWithdrawnKeys(0) == 4, "4 keys deposited");
        acc.setBond(0, 6.3 ether, 0);
        (uint256 current, uint256 required) = acc.getBondSummary(0);
        require(current == 6.3 ether && required == 6.3 ether, "covered");
        require(acc.getUnbondedKeysCount(0) == 0 && acc.getUnbondedKeysCountToEject(0) == 0, "none unbonded");
        // 5.0 ETH covers 3 keys (2.4 + 1.3 + 1.3 = 5.0): one to eject.
        acc.setBond(0, 5 ether, 0);
        require(acc.getUnbondedKeysCount(0) == 1 && acc.getUnbondedKeysCountToEject(0) == 1, "one short");
        // 6.3 ETH with 1.5 ETH locked: 4.8 ETH covers 2 keys, but only the
        // count with the lock says so; the lock is required too.
        acc.setBond(0, 6.3 ether, 1.5 ether);
        (, required) = acc.getBondSummary(0);
        require(required == 7.8 ether, "the lock is required");
        require(acc.getUnbondedKeysCount(0) == 2 && acc.getUnbondedKeysCountToEject(0) == 0, "locked");
        // A lock above the bond: every key unbonded.
        acc.setBond(0, 1 ether, 2 ether);
        require(acc.getUnbondedKeysCount(0) == 4, "all");
        // An operator on a curve never set: the real getCurveInfo reverts.
        acc.setBond(0, 5 ether, 0);
        acc.setBondCurve(0, 7);
        try acc.getUnbondedKeysCount(0) returns (uint256) {
            revert("an unknown curve answered");
        } catch {}
        uint256[] memory bad = new uint256[](2);
        bad[0] = 2 ether;
        bad[1] = 1 ether;
        try acc.setCurve(address(csm), 1, bad) {
            revert("a decreasing curve was taken");
        } catch {}
    }

    /// RocketNetworkPenalties: one per (minipool, past block), counted.
    function test_rocket_pool_penalties_count_per_minipool() public {
        RocketMinipoolManager mm = new RocketMinipoolManager();
        bytes[] memory ks = new bytes[](1);
        ks[0] = key(9);
        mm.addMinipools(address(0xF1), ks);
        address mp = mm.getNodeMinipoolAt(address(0xF1), 0);
        RocketNetworkPenalties p = new RocketNetworkPenalties(mm);
        vm.roll(100);
        p.submitPenalty(mp, 10);
        p.submitPenalty(mp, 11);
        require(p.getPenaltyCount(mp) == 2, "two penalties");
        require(p.getPenaltyCount(address(0xF2)) == 0, "none elsewhere");
        (bool ok,) = address(p).call(abi.encodeWithSelector(p.submitPenalty.selector, mp, 11));
        require(!ok, "the same block twice reverts");
        (ok,) = address(p).call(abi.encodeWithSelector(p.submitPenalty.selector, mp, 100));
        require(!ok, "a block not yet past reverts");
        (ok,) = address(p).call(abi.encodeWithSelector(p.submitPenalty.selector, address(0xF2), 12));
        require(!ok, "not a minipool reverts");
        vm.prank(address(0xF1));
        (ok,) = address(p).call(abi.encodeWithSelector(p.submitPenalty.selector, mp, 12));
        require(!ok, "not the oDAO reverts");
    }

    function test_rocket_pool_megapool_lists_its_validators() public {
        RocketMegapool mp = new RocketMegapool();
        bytes[] memory ks = new bytes[](2);
        ks[0] = key(3);
        ks[1] = key(4);
        mp.addValidators(ks);
        require(mp.getValidatorCount() == 2, "two validators");
        require(keccak256(mp.getValidatorPubkey(1)) == keccak256(key(4)), "the second key");
        (bool ok,) = address(mp).call(abi.encodeWithSelector(mp.getValidatorPubkey.selector, uint32(2)));
        require(!ok, "no third validator");
    }

    function test_missed_attestation_penalties_by_pubkey_root() public {
        // Three trusted nodes: a majority is two.
        address[] memory trusted = new address[](3);
        trusted[0] = address(this);
        trusted[1] = address(0xA7);
        trusted[2] = address(0xA8);
        StaderOracle oracle = new StaderOracle(trusted, 100);
        bytes[] memory ks = new bytes[](1);
        ks[0] = key(1);
        vm.roll(250);
        require(oracle.getMissedAttestationPenaltyReportableBlock() == 200, "reportable block");
        // The current block (what poolvc used to send) reverts, as on the real oracle.
        try oracle.submitMissedAttestationPenalties(MissedAttestationPenaltyData(250, 1, ks)) {
            revert("the current block was taken");
        } catch (bytes memory reason) {
            require(keccak256(reason) == keccak256(abi.encodeWithSelector(StaderOracle.ReportingFutureBlockData.selector)), "future");
        }
        try oracle.submitMissedAttestationPenalties(MissedAttestationPenaltyData(199, 1, ks)) {
            revert("an unaligned block was taken");
        } catch (bytes memory reason) {
            require(keccak256(reason) == keccak256(abi.encodeWithSelector(StaderOracle.InvalidReportingBlock.selector)), "aligned");
        }
        try oracle.submitMissedAttestationPenalties(MissedAttestationPenaltyData(200, 2, ks)) {
            revert("a skipped index was taken");
        } catch {}
        oracle.submitMissedAttestationPenalties(MissedAttestationPenaltyData(200, 1, ks));
        bytes32 root = sha256(abi.encodePacked(key(1), bytes16(0)));
        require(oracle.missedAttestationPenalty(root) == 0 && oracle.lastReportedMAPDIndex() == 0, "no quorum yet");
        try oracle.submitMissedAttestationPenalties(MissedAttestationPenaltyData(200, 1, ks)) {
            revert("a node counted twice");
        } catch {}
        vm.prank(address(0xA7));
        oracle.submitMissedAttestationPenalties(MissedAttestationPenaltyData(200, 1, ks));
        require(oracle.missedAttestationPenalty(root) == 1 && oracle.lastReportedMAPDIndex() == 1, "quorum: counted");
        require(oracle.missedAttestationPenalty(keccak256(key(1))) == 0, "not keyed by keccak256");
        vm.prank(address(0xdead));
        try oracle.submitMissedAttestationPenalties(MissedAttestationPenaltyData(200, 2, ks)) {
            revert("a stranger reported");
        } catch {}
    }
}
