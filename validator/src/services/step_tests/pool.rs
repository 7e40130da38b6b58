//! The pool service's exit step: a pool's exit request is signed and
//! submitted only with `--pool-auto-exit`; once a try per epoch.

use super::*;
use crate::pool::exits::ExitRequest;
use crate::services::pool::{handle_exits, State};
use crate::services::testing::{self, MemNode, Published};

fn request(v: u64) -> ExitRequest {
    ExitRequest {
        pubkey: testing::pk(v),
        pool: "lido".into(),
        block: 1,
        validator_index: Some(v),
        delivered: None,
        allowed_delay_secs: None,
        log: None,
    }
}

#[tokio::test]
async fn an_exit_request_is_signed_and_submitted_only_with_auto_exit() {
    let spec = testing::spec_at(ForkName::Deneb);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec.clone(), node.clone(), &[3], |_| {});
    let mut st = State::new();
    st.exits.insert(testing::pk(3), request(3));
    handle_exits(&ctx, &mut st, 40).await;
    assert!(node.state().published.is_empty(), "exited without --pool-auto-exit");

    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, rec) = testing::ctx(spec, node.clone(), &[3], |c| c.pool_auto_exit = true);
    handle_exits(&ctx, &mut st, 40).await;
    handle_exits(&ctx, &mut st, 41).await;
    let st = node.state();
    let [Published::Exit(exit)] = &st.published[..] else { panic!("{:?}", st.published) };
    assert_eq!((exit.message.validator_index, exit.message.epoch), (3, 40 / ctx.spec.slots_per_epoch));
    assert_eq!(published(&rec.events(), MessageKind::VoluntaryExit), vec![vec![3]]);
}

/// A key the chain already shows exiting (its exit made elsewhere, or
/// forced) is neither exited again nor alerted: the request is done with.
#[tokio::test]
async fn a_key_already_exiting_on_chain_is_not_exited_or_alerted_again() {
    let spec = testing::spec_at(ForkName::Deneb);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[3, 4], |c| c.pool_auto_exit = true);
    node.state().statuses.insert(3, "active_exiting".into());
    let mut st = State::new();
    st.exits.insert(testing::pk(3), request(3));
    st.exits.insert(testing::pk(4), request(4));
    handle_exits(&ctx, &mut st, 40).await;
    assert_eq!(ctx.stats.pool_exit_requests.get(), 1, "the exiting key is no pending request");
    let node_st = node.state();
    let [Published::Exit(exit)] = &node_st.published[..] else { panic!("{:?}", node_st.published) };
    assert_eq!(exit.message.validator_index, 4, "only the key still active is exited");
}

/// Webhook mode (Lido validator-ejector's): a request is posted to the
/// webhook in the ejector's shape, once an epoch until the webhook takes it,
/// then never again; without `--pool-auto-exit` nothing is exited.
#[tokio::test]
async fn exit_requests_are_posted_to_the_webhook_until_it_takes_them() {
    use axum::routing::post;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let calls: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let n = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/exit",
        post({
            let (calls, n) = (calls.clone(), n.clone());
            move |axum::Json(body): axum::Json<serde_json::Value>| async move {
                calls.lock().unwrap().push(body);
                // The first call is refused: it must be made again next epoch.
                if n.fetch_add(1, Ordering::SeqCst) == 0 {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/exit", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let spec = testing::spec_at(ForkName::Deneb);
    let node = MemNode::<Minimal>::new(spec.clone());
    let (ctx, _) = testing::ctx(spec, node.clone(), &[3], |c| c.pool_exit_webhook = Some(url));
    let spe = ctx.spec.slots_per_epoch;
    let mut st = State::new();
    st.exits.insert(testing::pk(3), request(3));
    handle_exits(&ctx, &mut st, 5 * spe).await;
    handle_exits(&ctx, &mut st, 5 * spe + 1).await;
    assert_eq!(calls.lock().unwrap().len(), 1, "one call an epoch");
    handle_exits(&ctx, &mut st, 6 * spe).await;
    handle_exits(&ctx, &mut st, 7 * spe).await;
    let calls = calls.lock().unwrap().clone();
    let want = serde_json::json!({"validatorIndex": "3", "validatorPubkey": testing::pk(3).to_string()});
    assert_eq!(calls, vec![want.clone(), want], "posted again after the refusal, then never");
    assert!(node.state().published.is_empty(), "the webhook exits, not poolvc, without --pool-auto-exit");
}
