//! Proposer preparation: every indexed key's fee recipient, as the policy
//! gives it; none for a key that has none.

use super::*;
use crate::services::proposer_preparation::prepare_proposers;
use crate::services::testing::{self, MemNode, Published};

#[tokio::test]
async fn every_indexed_key_is_prepared_with_its_fee_recipient() {
    let spec = testing::spec_at(ForkName::Electra);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[4, 5], |_| {});
    prepare_proposers(&ctx).await;
    let st = node.state();
    let [Published::Preparations(preps)] = &st.published[..] else { panic!("{:?}", st.published) };
    let mut got: Vec<(u64, Address)> = preps.iter().map(|p| (p.validator_index, p.fee_recipient)).collect();
    got.sort_unstable();
    assert_eq!(got, vec![(4, Address::repeat_byte(0x11)), (5, Address::repeat_byte(0x11))]);
}

#[tokio::test]
async fn a_key_without_a_fee_recipient_is_not_prepared() {
    let spec = testing::spec_at(ForkName::Electra);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[4], |c| c.fee_recipient = None);
    prepare_proposers(&ctx).await;
    let st = node.state();
    assert!(st.published.iter().all(|p| matches!(p, Published::Preparations(v) if v.is_empty())), "{:?}", st.published);
}

#[tokio::test]
async fn registrations_are_signed_once_and_again_when_the_recipient_changes() {
    use crate::services::preparation::register_validators;
    let spec = testing::spec_at(ForkName::Electra);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[4], |c| c.builder_proposals = true);
    let mut cache = std::collections::HashMap::new();
    register_validators(&ctx, 10, &mut cache).await;
    register_validators(&ctx, 11, &mut cache).await;
    let first = cache[&testing::pk(4)];
    let changed = ctx.store.update_config(&testing::pk(4), |c| crate::policy::ProposalConfig {
        fee_recipient: Some(Address::repeat_byte(0x22)),
        ..c.clone()
    });
    assert!(changed);
    register_validators(&ctx, 12, &mut cache).await;
    let st = node.state();
    let sent: Vec<&SignedValidatorRegistrationV1> = st
        .published
        .iter()
        .filter_map(|p| match p {
            Published::Registrations(r) => r.first(),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 3, "sent every time (the node verified each)");
    assert_eq!(sent[0], sent[1], "the cached signature is sent again");
    assert_eq!(sent[0], &first);
    assert_eq!(sent[2].message.fee_recipient, Address::repeat_byte(0x22), "re-signed for the new recipient");
}

/// The registrations the node received, in order (one per call here).
fn registrations_sent(node: &MemNode<Minimal>) -> Vec<SignedValidatorRegistrationV1> {
    node.state()
        .published
        .iter()
        .filter_map(|p| match p {
            Published::Registrations(r) => r.first().copied(),
            _ => None,
        })
        .collect()
}

fn stader_rule(recipient: Address) -> crate::policy::PoolRecipient {
    crate::policy::PoolRecipient::Rule {
        pool: "stader-permissionless".into(),
        operator: "7".into(),
        decision: crate::policy::pool_rules::Decision { recipient, why: crate::policy::pool_rules::Why::StaderOptedIn },
        no_builder: None,
    }
}

#[tokio::test]
async fn a_pool_rule_switch_is_told_at_once_and_the_old_registration_is_never_sent_again() {
    use crate::services::preparation::register_validators;
    let spec = testing::spec_at(ForkName::Electra);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[4], |c| c.builder_proposals = true);
    let mut changes = ctx.store.watch_changes();
    changes.borrow_and_update();
    let mut cache = std::collections::HashMap::new();
    register_validators(&ctx, 10, &mut cache).await;
    // Mid-epoch, the pool rule switches the key to the socializing pool:
    // the preparation service (which looks at the watch every slot) is told.
    let pool = Address::repeat_byte(0x33);
    ctx.store.set_pool_recipients(|_| Some(stader_rule(pool)));
    assert!(changes.has_changed().unwrap(), "a recipient switch wakes the preparation service");
    register_validators(&ctx, 11, &mut cache).await;
    // The rule can no longer be known: nothing is sent, not the pool's
    // registration and not the operator's old one.
    ctx.store.set_pool_recipients(|_| {
        Some(crate::policy::PoolRecipient::Unknown {
            pool: "stader-permissionless".into(),
            operator: "7".into(),
            reason: "the RPC is down".into(),
        })
    });
    register_validators(&ctx, 12, &mut cache).await;
    let sent = registrations_sent(&node);
    let recipients: Vec<Address> = sent.iter().map(|r| r.message.fee_recipient).collect();
    assert_eq!(recipients, vec![Address::repeat_byte(0x11), pool], "{sent:?}");
    assert!(cache.is_empty(), "no registration of a key that pays no one is kept: {cache:?}");
    // Known again with the pool's address: signed anew, the old never sent.
    ctx.store.set_pool_recipients(|_| Some(stader_rule(pool)));
    register_validators(&ctx, 13, &mut cache).await;
    let last = registrations_sent(&node).pop().unwrap();
    assert_eq!(last.message.fee_recipient, pool);
}
