//! The proposer-preferences step (Gloas): the lookahead's proposals of
//! poolvc's keys get preferences paying the key's recipient, signed once and
//! published in one POST the node verifies; a changed recipient is signed
//! again before the slot; a key with no recipient gets none, told once.

use super::*;
use crate::beacon::ProposerDuty;
use crate::services::duty_book::EpochDuties;
use crate::services::preferences::{step, wanted, Signed};
use crate::services::testing::{self, MemNode, Published};

fn setup(
    fee: Option<Address>,
) -> (
    std::sync::Arc<crate::services::context::Ctx<Minimal>>,
    std::sync::Arc<MemNode<Minimal>>,
    std::sync::Arc<testing::Recorder>,
) {
    let spec = testing::spec_at(ForkName::Gloas);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[1, 2, 3], |c| c.fee_recipient = fee);
    (ctx, node, rec)
}

fn book(ctx: &crate::services::context::Ctx<Minimal>, epoch: u64, proposals: &[(u64, u64)]) {
    let mut d = EpochDuties {
        dependent_root: Hash256::repeat_byte(0xde),
        proposer_dependent_root: Hash256::repeat_byte(0x99),
        ..Default::default()
    };
    for (slot, v) in proposals {
        d.proposers.insert(*slot, ProposerDuty { pubkey: testing::pk(*v), validator_index: *v, slot: *slot });
    }
    ctx.duties.insert(epoch, d);
}

#[tokio::test]
async fn the_lookahead_gets_preferences_paying_the_rule_once_and_again_when_it_changes() {
    let (ctx, node, rec) = setup(Some(Address::repeat_byte(0x11)));
    // Slot 17: a proposal already past (16), two ahead in this epoch and the next.
    book(&ctx, 2, &[(16, 1), (20, 2)]);
    book(&ctx, 3, &[(27, 3)]);
    let mut signed = Signed::default();
    let w = wanted(&ctx, 17);
    assert_eq!(w.iter().map(|(p, _)| (p.proposal_slot, p.validator_index)).collect::<Vec<_>>(), vec![(20, 2), (27, 3)]);
    assert_eq!(step(&ctx, 17, w, &mut signed).await, 2);
    {
        let st = node.state();
        let [Published::Preferences(p)] = &st.published[..] else { panic!("{:?}", st.published) };
        assert!(p.iter().all(|s| s.message.fee_recipient == Address::repeat_byte(0x11)
            && s.message.dependent_root == Hash256::repeat_byte(0xde)
            && s.message.target_gas_limit == ctx.store.proposal_config(2).unwrap().1.gas_limit));
    }
    // Nothing changed: nothing sent.
    assert_eq!(step(&ctx, 18, wanted(&ctx, 18), &mut signed).await, 0);
    // Key 3's recipient changes before its slot: its preferences are signed again.
    assert!(ctx.store.update_config(&testing::pk(3), |c| crate::policy::ProposalConfig {
        fee_recipient: Some(Address::repeat_byte(0x33)),
        ..c.clone()
    }));
    assert_eq!(step(&ctx, 19, wanted(&ctx, 19), &mut signed).await, 1);
    let st = node.state();
    let Some(Published::Preferences(p)) = st.published.last() else { panic!() };
    assert_eq!((p[0].message.validator_index, p[0].message.fee_recipient), (3, Address::repeat_byte(0x33)));
    assert_eq!(published(&rec.events(), MessageKind::ProposerPreferences), vec![vec![2, 3], vec![3]]);
}

#[tokio::test]
async fn no_recipient_no_preferences_told_once() {
    let (ctx, node, rec) = setup(None);
    book(&ctx, 2, &[(20, 2)]);
    let mut signed = Signed::default();
    assert_eq!(step(&ctx, 17, wanted(&ctx, 17), &mut signed).await, 0);
    assert_eq!(step(&ctx, 18, wanted(&ctx, 18), &mut signed).await, 0);
    assert!(node.state().published.is_empty());
    let refused = refusals(&rec.events(), MessageKind::ProposerPreferences);
    assert!(matches!(&refused[..], [Refusal::NoFeeRecipient { .. }]), "{refused:?}");
}

#[tokio::test]
async fn before_the_fork_epoch_nothing_is_wanted() {
    let spec = testing::spec_at(ForkName::Fulu);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node, &[1], |_| {});
    book(&ctx, 2, &[(20, 1)]);
    assert!(wanted(&ctx, 17).is_empty());
}

#[tokio::test]
async fn a_hostile_nodes_proposals_for_slots_the_key_does_not_propose_get_no_preferences() {
    let (ctx, node, rec) = setup(Some(Address::repeat_byte(0x11)));
    let spe = ctx.spec.slots_per_epoch;
    let epoch = 3;
    let first = epoch * spe;
    node.state().proposer_duties = vec![
        // Key 1's own proposal: the only one that gets preferences.
        ProposerDuty { pubkey: testing::pk(1), validator_index: 1, slot: first + 5 },
        // Validator 2's proposal labelled with key 3: whose is it?
        ProposerDuty { pubkey: testing::pk(3), validator_index: 2, slot: first + 2 },
        // A slot of the next epoch in this epoch's answer.
        ProposerDuty { pubkey: testing::pk(2), validator_index: 2, slot: first + spe + 1 },
        // A validator poolvc does not hold.
        ProposerDuty { pubkey: testing::pk(9), validator_index: 9, slot: first + 4 },
    ];
    let d = crate::services::duty_fetch::fetch_duties(&ctx, epoch).await.unwrap();
    ctx.duties.insert(epoch, d);
    let w = wanted(&ctx, first);
    assert_eq!(w.iter().map(|(p, _)| (p.proposal_slot, p.validator_index)).collect::<Vec<_>>(), vec![(first + 5, 1)]);
    let refused = refusals(&rec.events(), MessageKind::Block);
    assert!(matches!(&refused[..], [Refusal::KeyMismatch { index: 2, .. }]), "{refused:?}");
    assert_eq!(step(&ctx, first, w, &mut Signed::default()).await, 1);
    let st = node.state();
    let Some(Published::Preferences(p)) = st.published.last() else { panic!("{:?}", st.published) };
    assert_eq!(p.iter().map(|s| s.message.validator_index).collect::<Vec<_>>(), vec![1]);
}
