//! Reading a node's answer body within its cap, and decoding large JSON
//! answers as they arrive.
//!
//! A duties or validators answer for 100,000 keys is 25 MB of JSON that
//! decodes to about 10 MB of structs. Read whole and then decoded, it costs
//! both at once (and the buffer's growth on top). Here a JSON body is read
//! into memory only up to [`STREAM_AFTER`]; past that, the bytes already in
//! hand and the rest as it comes are fed to `serde_json` on a blocking
//! thread, through a channel of at most [`CHANNEL_CHUNKS`] chunks, so the
//! memory an answer costs is its decoded form plus a few chunks.
//!
//! Invariants kept here, whatever the node sends:
//! - no more than the route's cap is read (the count covers every chunk,
//!   streamed or not, and an announced `Content-Length` over it is refused
//!   before any byte);
//! - a decoder never waits on a body that will not come: the feeding side
//!   ending for any reason (cap, transport, the request's deadline dropping
//!   it) closes the channel, and the reader then reports a cut body.

use super::error::AnswerError;
use std::io::Read;

use bytes::Bytes;

/// JSON bodies up to this size are read whole and decoded in place (no
/// thread hand-off for the small answers on a slot's deadline path).
pub(crate) const STREAM_AFTER: usize = 1 << 20;

/// Chunks in flight between the network and the decoder.
const CHANNEL_CHUNKS: usize = 4;

/// Why a body was not read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Past the route's cap (announced or counted).
    TooLarge,
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// Reads a body of at most `max` bytes; stops at the first byte past it
/// (or at once, if `Content-Length` says so).
pub(crate) async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    let announced = resp.content_length().unwrap_or(0);
    if announced > max as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The two ways of decoding one JSON answer type: from bytes in hand, and
/// from a stream (plain function pointers, so a request carries them to
/// whichever node answers).
pub(crate) struct JsonDecode<T> {
    /// From a whole body (empty bodies are given as `null`).
    pub slice: fn(&[u8]) -> Result<T, AnswerError>,
    /// From a body still arriving.
    pub stream: fn(ChunkReader) -> Result<T, AnswerError>,
}

impl<T> Clone for JsonDecode<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for JsonDecode<T> {}

impl<T: serde::de::DeserializeOwned> JsonDecode<T> {
    /// `serde_json`'s decoders for `T`.
    pub fn serde() -> Self {
        Self {
            slice: |b| serde_json::from_slice(b).map_err(AnswerError::from),
            stream: |r| serde_json::from_reader(r).map_err(AnswerError::from),
        }
    }
}

/// Reads a JSON body of at most `max` bytes and decodes it: in place when
/// it is small, on a blocking thread as it arrives when it is not. The
/// outer error is the body's (cap, transport); the inner one the decoder's.
pub(crate) async fn read_json<T: Send + 'static>(
    mut resp: reqwest::Response,
    max: usize,
    decode: JsonDecode<T>,
) -> Result<Result<T, AnswerError>, BodyError> {
    let announced = resp.content_length().unwrap_or(0);
    if announced > max as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut head = Vec::with_capacity((announced as usize).min(STREAM_AFTER));
    let mut total = 0usize;
    loop {
        match resp.chunk().await.map_err(BodyError::Transport)? {
            None => {
                let text: &[u8] = if head.is_empty() { b"null" } else { &head };
                return Ok((decode.slice)(text));
            }
            Some(chunk) => {
                total = total.saturating_add(chunk.len());
                if total > max {
                    return Err(BodyError::TooLarge);
                }
                head.extend_from_slice(&chunk);
                if head.len() >= STREAM_AFTER {
                    break;
                }
            }
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Option<Bytes>>(CHANNEL_CHUNKS);
    let reader = ChunkReader::new(Bytes::from(head), rx);
    let decoder = tokio::task::spawn_blocking(move || (decode.stream)(reader));
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        total = total.saturating_add(chunk.len());
        if total > max {
            return Err(BodyError::TooLarge);
        }
        if tx.send(Some(chunk)).await.is_err() {
            // The decoder stopped early (the JSON is bad): its answer says why.
            break;
        }
    }
    // The end of the body, said explicitly: a channel closed without it is
    // a cut body, not a short one.
    let _ = tx.send(None).await;
    drop(tx);
    Ok(decoder.await.unwrap_or_else(|e| Err(format!("decoder stopped: {e}").into())))
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge => write!(f, "body over its cap"),
            BodyError::Transport(e) => write!(f, "{e}"),
        }
    }
}

/// A body arriving in chunks, read on a blocking thread.
///
/// `serde_json` reads a stream a byte at a time, so the one-byte read from
/// the chunk in hand is kept short (an index, no slicing).
pub(crate) struct ChunkReader {
    current: Bytes,
    /// Bytes of `current` already read. Invariant: `<= current.len()`.
    at: usize,
    rx: tokio::sync::mpsc::Receiver<Option<Bytes>>,
    /// The end was announced: every later read is end of file too.
    ended: bool,
}

impl ChunkReader {
    fn new(first: Bytes, rx: tokio::sync::mpsc::Receiver<Option<Bytes>>) -> Self {
        Self { current: first, at: 0, rx, ended: false }
    }

    /// Waits for the next chunk; `false` at the end of the body.
    #[cold]
    fn refill(&mut self) -> std::io::Result<bool> {
        while self.at >= self.current.len() {
            if self.ended {
                return Ok(false);
            }
            match self.rx.blocking_recv() {
                Some(Some(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Some(None) => self.ended = true,
                None => {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the body was cut off"));
                }
            }
        }
        Ok(true)
    }
}

impl Read for ChunkReader {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.current.len() && !self.refill()? {
            return Ok(0);
        }
        let left = &self.current[self.at..];
        let n = buf.len().min(left.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.at += n;
        Ok(n)
    }
}
