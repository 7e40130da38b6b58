//! Webhook mode for exit requests, as Lido's validator-ejector has it
//! (`VALIDATOR_EXIT_WEBHOOK`, its `webhook-processor`): for each proven
//! request of a key not yet exiting, a JSON `POST`
//! `{"validatorIndex": "<index>", "validatorPubkey": "0x<key>"}` to the
//! operator's endpoint, which exits the key its own way (just in time,
//! from its own store of messages). Any 2xx answer takes the request; other
//! answers and failures are tried again the next epoch.

use poolvc_signer::types::PublicKeyBytes;
use std::time::Duration;

/// Timeout of one webhook call.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a webhook call did not take the request.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No answer.
    #[error("exit webhook {url}: {reason}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
    /// An answer other than 2xx.
    #[error("exit webhook {url}: HTTP {status}")]
    Status {
        /// The endpoint.
        url: String,
        /// The status.
        status: u16,
    },
}

/// The body the ejector posts.
pub fn body(validator_index: u64, pubkey: &PublicKeyBytes) -> serde_json::Value {
    serde_json::json!({ "validatorIndex": validator_index.to_string(), "validatorPubkey": pubkey.to_string() })
}

/// Posts one request to `url`.
pub async fn notify(
    http: &reqwest::Client,
    url: &str,
    validator_index: u64,
    pubkey: &PublicKeyBytes,
) -> Result<(), WebhookError> {
    let resp = http
        .post(url)
        .timeout(TIMEOUT)
        .json(&body(validator_index, pubkey))
        .send()
        .await
        .map_err(|e| WebhookError::Unreachable { url: url.to_string(), reason: e.to_string() })?;
    if !resp.status().is_success() {
        return Err(WebhookError::Status { url: url.to_string(), status: resp.status().as_u16() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_ejector_s() {
        let pk = PublicKeyBytes::repeat_byte(0xab);
        assert_eq!(
            body(123, &pk),
            serde_json::json!({"validatorIndex": "123", "validatorPubkey": format!("0x{}", "ab".repeat(48))})
        );
    }
}
