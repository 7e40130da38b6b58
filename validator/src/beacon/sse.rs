//! The node's head events (Server-Sent Events), followed from the
//! best-ranked node.

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
    /// Follows `head` events (Server-Sent Events) from the best-ranked node,
    /// reconnecting on error or when another node becomes the best. The receiver holds the
    /// newest (slot, block root); slot 0 and a zero root until the first event.
    pub fn head_events(&self) -> tokio::sync::watch::Receiver<(u64, Hash256)> {
        let (tx, rx) = tokio::sync::watch::channel((0u64, Hash256::ZERO));
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if tx.is_closed() {
                    return;
                }
                let Some(best) = this.ranked().first().copied() else { return };
                let url = format!("{}/eth/v1/events?topics=head", this.nodes[best]);
                if let Err(e) = this.follow_events(&url, best, &tx).await {
                    tracing::debug!("head events from {url}: {e}");
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
                let mut name = "message";
                let mut data = String::new();
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = if v.trim() == "head" { "head" } else { "other" };
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name == "head" {
                    match serde_json::from_str::<Head>(&data) {
                        Ok(h) => {
                            let _ = tx.send((h.slot, h.block));
                        }
                        Err(e) => tracing::debug!("{url}: malformed head event: {e}"),
                    }
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
