//! The node's head events (Server-Sent Events), followed from the
//! best-ranked node: `head`, and from Gloas on `head_v2` too (beacon-APIs
//! #590: the head block with its payload status, in a versioned envelope;
//! `head` is deprecated for it). A node that refuses the `head_v2` topic is
//! followed on `head` alone.

use super::client::BeaconClient;
use poolvc_signer::types::Hash256;
use serde::Deserialize;
use std::time::Duration;

/// Why following a node's events stopped (it is followed again, or the
/// next best node is).
#[derive(Debug, thiserror::Error)]
enum EventsEnd {
    /// The request or the stream failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The node answered with an error status.
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    /// One event past 1 MiB.
    #[error("event larger than 1 MiB")]
    TooLarge,
    /// Another node ranks first now.
    #[error("another node is preferred now; following its events")]
    Outranked,
    /// The node closed the stream.
    #[error("stream ended")]
    Ended,
}

impl BeaconClient {
    /// Follows head events (Server-Sent Events) from the best-ranked node,
    /// reconnecting on error or when another node becomes the best: `head`,
    /// and `head_v2` as well when `head_v2` (the chain schedules Gloas) and
    /// the node serves it. The receiver holds the newest (slot, block root),
    /// changed only when it changes (both topics name each head); slot 0 and
    /// a zero root until the first event.
    pub fn head_events(&self, head_v2: bool) -> tokio::sync::watch::Receiver<(u64, Hash256)> {
        let (tx, rx) = tokio::sync::watch::channel((0u64, Hash256::ZERO));
        let this = self.clone();
        tokio::spawn(async move {
            // Nodes (by position) that answered 400 to the `head_v2` topic.
            let mut no_v2 = vec![false; this.nodes.len()];
            loop {
                if tx.is_closed() {
                    return;
                }
                let Some(best) = this.ranked().first().copied() else { return };
                let v2 = head_v2 && !no_v2.get(best).copied().unwrap_or(true);
                let topics = if v2 { "topics=head&topics=head_v2" } else { "topics=head" };
                let url = format!("{}/eth/v1/events?{topics}", this.nodes[best]);
                match this.follow_events(&url, best, &tx).await {
                    Err(EventsEnd::Status(s)) if v2 && s == reqwest::StatusCode::BAD_REQUEST => {
                        tracing::warn!(node = %this.nodes[best], "the node refuses the head_v2 event topic; following its head events alone");
                        if let Some(n) = no_v2.get_mut(best) {
                            *n = true;
                        }
                        continue;
                    }
                    Err(e) => tracing::debug!("head events from {url}: {e}"),
                    Ok(()) => {}
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        rx
    }

    async fn follow_events(
        &self,
        url: &str,
        node: usize,
        tx: &tokio::sync::watch::Sender<(u64, Hash256)>,
    ) -> Result<(), EventsEnd> {
        #[derive(Deserialize)]
        struct Head {
            #[serde(with = "serde_utils::quoted_u64")]
            slot: u64,
            block: Hash256,
        }
        /// `head_v2`: the head (and its `payload_status`, which the node's
        /// attestation data carries) under a fork version.
        #[derive(Deserialize)]
        struct HeadV2 {
            data: Head,
        }
        let mut resp = self.http.get(url).header("Accept", "text/event-stream").send().await?;
        if !resp.status().is_success() {
            return Err(EventsEnd::Status(resp.status()));
        }
        let mut buf: Vec<u8> = Vec::new();
        // Bytes of `buf` already searched for an event's end (less the 3 a
        // split "\r\n\r\n" may span): a body that trickles in byte by byte
        // is scanned once, not once per byte.
        let mut scanned = 0usize;
        while let Some(chunk) = resp.chunk().await? {
            buf.extend_from_slice(&chunk);
            // Events end with a blank line; lines may end in \n or \r\n.
            loop {
                let from = scanned.saturating_sub(3);
                let Some(end) = find_event_end(&buf[from..]).map(|(a, b)| (from + a, from + b)) else {
                    scanned = buf.len();
                    break;
                };
                scanned = 0;
                let event: Vec<u8> = buf.drain(..end.1).take(end.0).collect();
                let text = String::from_utf8_lossy(&event);
                let mut name = String::from("message");
                let mut data = String::new();
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                let head = match name.as_str() {
                    "head" => serde_json::from_str::<Head>(&data),
                    "head_v2" => serde_json::from_str::<HeadV2>(&data).map(|h| h.data),
                    _ => continue,
                };
                match head {
                    Ok(h) => {
                        tx.send_if_modified(|now| {
                            let changed = *now != (h.slot, h.block);
                            *now = (h.slot, h.block);
                            changed
                        });
                    }
                    Err(e) => tracing::debug!("{url}: malformed {name} event: {e}"),
                }
            }
            if buf.len() > 1 << 20 {
                return Err(EventsEnd::TooLarge);
            }
            if self.ranked().first() != Some(&node) {
                return Err(EventsEnd::Outranked);
            }
        }
        Err(EventsEnd::Ended)
    }
}

/// The end of the first complete SSE event in `buf`: (length of the event
/// text, length including the blank line).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{StatusCode, Uri};
    use axum::response::IntoResponse;
    use std::sync::{Arc, Mutex};

    fn root(b: u8) -> String {
        format!("0x{}", hex::encode([b; 32]))
    }

    fn head(slot: u64) -> String {
        format!(
            r#"event: head
data: {{"slot":"{slot}","block":"{}","state":"{}","epoch_transition":false,"previous_duty_dependent_root":"{}","current_duty_dependent_root":"{}","execution_optimistic":false}}

"#,
            root(slot as u8),
            root(0xee),
            root(1),
            root(2)
        )
    }

    fn head_v2(slot: u64, status: &str) -> String {
        format!(
            r#"event: head_v2
data: {{"version":"gloas","data":{{"slot":"{slot}","block":"{}","state":"{}","payload_status":"{status}","epoch_transition":false,"current_epoch_dependent_root":"{}","next_epoch_dependent_root":"{}","execution_optimistic":false}}}}

"#,
            root(slot as u8),
            root(0xee),
            root(1),
            root(2)
        )
    }

    /// A node's event stream: `v2` says whether it knows the `head_v2`
    /// topic (400 otherwise, as Lodestar answers an unknown topic); it
    /// sends head_v2 events on a `head_v2` subscription, head events on a
    /// `head` one. Returns its URL and the queries it was asked.
    async fn node(v2: bool) -> (String, Arc<Mutex<Vec<String>>>) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let seen = Arc::clone(&seen);
            async move {
                let q = uri.query().unwrap_or("").to_string();
                seen.lock().unwrap().push(q.clone());
                let wants_v2 = q.split('&').any(|t| t == "topics=head_v2");
                if wants_v2 && !v2 {
                    return (StatusCode::BAD_REQUEST, "Invalid topic head_v2").into_response();
                }
                let body = if wants_v2 {
                    // The head, then its payload seen (a second event for
                    // the same block), then the next head.
                    [head_v2(5, "empty"), head_v2(5, "full"), head_v2(6, "empty")].concat()
                } else {
                    [head(5), head(6)].concat()
                };
                ([("content-type", "text/event-stream")], body).into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, asked)
    }

    /// Follows a node (`node_v2`: it knows the `head_v2` topic) asking for
    /// `head_v2` as `ask_v2` says, until the head of slot 6: that head and
    /// the queries the node was asked.
    async fn follow(node_v2: bool, ask_v2: bool) -> ((u64, Hash256), Vec<String>) {
        let (url, asked) = node(node_v2).await;
        let mut rx = BeaconClient::new(vec![url]).head_events(ask_v2);
        let head = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let now = *rx.borrow_and_update();
                if now.0 >= 6 {
                    return now;
                }
                rx.changed().await.unwrap();
            }
        })
        .await
        .unwrap();
        let asked = asked.lock().unwrap().clone();
        (head, asked)
    }

    #[tokio::test]
    async fn head_v2_events_are_followed_from_gloas_on() {
        let (head, asked) = follow(true, true).await;
        assert_eq!(head, (6, Hash256::repeat_byte(6)));
        assert_eq!(asked[0], "topics=head&topics=head_v2");
    }

    #[tokio::test]
    async fn a_node_that_refuses_head_v2_is_followed_on_head() {
        let (head, asked) = follow(false, true).await;
        assert_eq!(head, (6, Hash256::repeat_byte(6)));
        assert_eq!(asked[..2], ["topics=head&topics=head_v2", "topics=head"], "{asked:?}");
    }

    #[tokio::test]
    async fn before_gloas_is_scheduled_only_head_is_asked() {
        let (head, asked) = follow(true, false).await;
        assert_eq!(head, (6, Hash256::repeat_byte(6)));
        assert_eq!(asked[0], "topics=head");
    }
}
