//! Leased key shards against a real PostgreSQL: the lease table's rules
//! (who may take a lease, when, under which lease epoch), and the fence in
//! the slashing transaction (a stale holder's insert is refused; a move
//! switches signing from one holder to the other at its commit).

use poolvc::leases::table::{LeaseError, LeaseTable};
use poolvc_signer::keys::interop::interop_secret_key;
use poolvc_signer::slashing::fence::{Fence, HeldLease};
use poolvc_signer::slashing::postgres::PostgresSlashingDb;
use poolvc_signer::slashing::{AttestationRecord, NotSafe, Safe, SlashingDatabase};
use poolvc_signer::types::{Hash256, PublicKeyBytes};
use std::sync::Arc;
use std::time::Duration;

fn keys(range: std::ops::Range<u64>) -> Vec<PublicKeyBytes> {
    range.map(|i| interop_secret_key(i).public_key().to_bytes()).collect()
}

fn vote(pubkey: PublicKeyBytes, target: u64, root: u8) -> AttestationRecord {
    AttestationRecord {
        pubkey,
        source_epoch: target.saturating_sub(1),
        target_epoch: target,
        signing_root: Some(Hash256::repeat_byte(root)),
    }
}

fn held(g: &[poolvc::leases::table::Granted]) -> Vec<HeldLease> {
    g.iter().map(|g| g.lease.clone()).collect()
}

#[test]
fn leases_are_taken_only_when_free_and_a_stale_holder_is_fenced_out_of_the_slashing_database() {
    let _machine = poolvc_tests::turns::shared();
    let Some(url) = poolvc_tests::fresh_postgres("leases_table") else { return };
    let gvr = Hash256::repeat_byte(7);
    let (k1, k2) = (keys(0..4), keys(4..8));
    let mut t = LeaseTable::connect(&url).unwrap();
    assert_eq!(t.assign("s1", &k1).unwrap(), 4);
    assert_eq!(t.assign("s2", &k2).unwrap(), 4);
    assert_eq!(t.assign("s1", &k1[..2]).unwrap(), 0, "keys already there are kept");
    // A key in another shard refuses the whole call; nothing is written.
    let e = t.assign("s2", &[k1[0], interop_secret_key(9).public_key().to_bytes()]).unwrap_err();
    assert!(matches!(e, LeaseError::InOtherShard { ref shard, .. } if shard == "s1"), "{e}");
    assert_eq!(t.list().unwrap().iter().map(|r| r.keys).collect::<Vec<_>>(), vec![4, 4]);
    assert!(matches!(t.assign("bad name", &k1), Err(LeaseError::BadName { .. })));

    // A takes s1; a standby takes nothing nobody ever held; B takes s2.
    let ttl = Duration::from_millis(1500);
    let a = t.acquire("a", &["s1".into()], false, ttl).unwrap();
    assert_eq!(held(&a), vec![HeldLease { shard: "s1".into(), epoch: 1 }]);
    assert!(t.acquire("c", &[], true, ttl).unwrap().is_empty(), "s2 was never held: left to its own instance");
    let b = t.acquire("b", &["s2".into()], false, ttl).unwrap();
    assert_eq!(held(&b), vec![HeldLease { shard: "s2".into(), epoch: 1 }]);
    // A live lease is not taken, by a standby or by a preferring instance.
    assert!(t.acquire("b", &["s1".into()], true, ttl).unwrap().is_empty());

    // The fence: each instance records only its shard's keys.
    let fa = Arc::new(Fence::new("a"));
    fa.set(held(&a));
    let fb = Arc::new(Fence::new("b"));
    fb.set(held(&b));
    let da = PostgresSlashingDb::connect(&url, gvr).unwrap().with_fence(Arc::clone(&fa)).unwrap();
    let db = PostgresSlashingDb::connect(&url, gvr).unwrap().with_fence(Arc::clone(&fb)).unwrap();
    let all: Vec<PublicKeyBytes> = k1.iter().chain(&k2).copied().collect();
    da.register_validators(&all).unwrap();
    let v = da.check_and_insert_attestations(&[vote(k1[0], 1, 1), vote(k2[0], 1, 1)]).unwrap();
    assert_eq!(v, vec![Ok(Safe::Valid), Err(NotSafe::NotLeased)]);
    let v = db.check_and_insert_attestations(&[vote(k1[1], 1, 1), vote(k2[0], 1, 1)]).unwrap();
    assert_eq!(v, vec![Err(NotSafe::NotLeased), Ok(Safe::Valid)]);
    // A refused entry changes nothing: k2[0] holds B's vote only.
    assert_eq!(db.check_and_insert_attestations(&[vote(k2[0], 1, 1)]).unwrap(), vec![Ok(Safe::SameData)]);

    // Renewal keeps A's lease; then A stops renewing and it expires.
    let r = t.renew("a", &held(&a), ttl).unwrap();
    assert_eq!(held(&r), held(&a));
    assert!(t.renew("b", &held(&a), ttl).unwrap().is_empty(), "only the holder renews");
    // B keeps s2 for the rest of the test.
    assert_eq!(held(&t.renew("b", &held(&b), Duration::from_secs(60)).unwrap()), held(&b));
    std::thread::sleep(ttl + Duration::from_millis(300));
    // B (a standby) takes s1 under a raised lease epoch, naming A.
    let taken = t.acquire("b", &[], true, ttl).unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].lease, HeldLease { shard: "s1".into(), epoch: 2 });
    assert_eq!(taken[0].previous.as_deref(), Some("a"));
    // A's renewal fails, and A's insert is fenced out even though A still
    // believes it holds epoch 1; B signs for s1 now.
    assert!(t.renew("a", &held(&a), ttl).unwrap().is_empty());
    assert_eq!(da.check_and_insert_attestations(&[vote(k1[2], 1, 1)]).unwrap(), vec![Err(NotSafe::NotLeased)]);
    fb.set(vec![taken[0].lease.clone(), b[0].lease.clone()]);
    assert_eq!(db.check_and_insert_attestations(&[vote(k1[2], 1, 2)]).unwrap(), vec![Ok(Safe::Valid)]);
    // A holder that takes the same name again (a duplicate instance) is
    // still fenced by the epoch.
    let fa_dup = Arc::new(Fence::new("b"));
    fa_dup.set(vec![HeldLease { shard: "s1".into(), epoch: 1 }]);
    let ddup = PostgresSlashingDb::connect(&url, gvr).unwrap().with_fence(fa_dup).unwrap();
    assert_eq!(ddup.check_and_insert_attestations(&[vote(k1[3], 1, 1)]).unwrap(), vec![Err(NotSafe::NotLeased)]);

    // A move: k1[3] from s1 to s2. B holds both, so give s1 back to A first.
    assert_eq!(t.release("b", &[taken[0].lease.clone()]).unwrap(), 1);
    let a2 = t.acquire("a", &["s1".into()], false, ttl).unwrap();
    assert_eq!(a2[0].lease.epoch, 3, "released, then taken again: another epoch");
    fa.set(held(&a2));
    fb.set(held(&b));
    let before = t.list().unwrap();
    let m = t.move_keys(&[k1[3]], "s2").unwrap();
    assert_eq!((m.moved, m.already, m.from.clone()), (1, 0, vec![("s1".to_string(), 1)]));
    assert_eq!(da.check_and_insert_attestations(&[vote(k1[3], 2, 1)]).unwrap(), vec![Err(NotSafe::NotLeased)]);
    assert_eq!(db.check_and_insert_attestations(&[vote(k1[3], 2, 1)]).unwrap(), vec![Ok(Safe::Valid)]);
    let after = t.list().unwrap();
    assert_eq!(after.iter().map(|r| r.keys).collect::<Vec<_>>(), vec![3, 5]);
    assert!(after.iter().zip(&before).all(|(x, y)| x.members == y.members + 1), "both shards' versions move");
    // Moving again is a no-op; unknown shards and keys are refused whole.
    assert_eq!(t.move_keys(&[k1[3]], "s2").unwrap().already, 1);
    assert!(matches!(t.move_keys(&[k1[0]], "s9"), Err(LeaseError::UnknownShard { .. })));
    let stranger = interop_secret_key(99).public_key().to_bytes();
    let e = t.move_keys(&[k1[0], stranger], "s2").unwrap_err();
    assert!(matches!(e, LeaseError::NotInAnyShard { count: 1, first } if first == stranger), "{e}");
    assert_eq!(t.list().unwrap().iter().map(|r| r.keys).collect::<Vec<_>>(), vec![3, 5], "nothing moved");
    assert_eq!(t.members("s2").unwrap().len(), 5);
}

#[test]
fn a_takeover_waits_for_the_holders_signing_transaction() {
    let _machine = poolvc_tests::turns::shared();
    let Some(url) = poolvc_tests::fresh_postgres("leases_wait") else { return };
    let k = keys(0..2);
    let mut t = LeaseTable::connect(&url).unwrap();
    t.assign("s1", &k).unwrap();
    let ttl = Duration::from_millis(400);
    let a = t.acquire("a", &["s1".into()], false, ttl).unwrap();
    // The holder's slashing transaction holds the shard row share-locked
    // (as `Fence::admitted` does) past the lease's expiry.
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut tx = c.transaction().unwrap();
    let n = tx.query("SELECT 1 FROM poolvc_shards WHERE shard = 's1' AND holder = 'a' FOR SHARE", &[]).unwrap().len();
    assert_eq!(n, 1);
    std::thread::sleep(ttl + Duration::from_millis(200));
    let u = url.clone();
    let takeover = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let g = LeaseTable::connect(&u).unwrap().acquire("b", &[], true, Duration::from_secs(5)).unwrap();
        (g, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(!takeover.is_finished(), "the takeover must wait for the signing transaction");
    tx.commit().unwrap();
    let (g, waited) = takeover.join().unwrap();
    assert_eq!(g.len(), 1, "taken once the holder's transaction ended");
    assert_eq!(g[0].lease.epoch, a[0].lease.epoch + 1);
    assert!(waited >= Duration::from_millis(600), "{waited:?}");
}
