//! Why a request to the beacon nodes failed: the request's error
//! ([`BeaconError`]) and each node's ([`NodeError`]).

/// Errors talking to beacon nodes.
#[derive(Debug, thiserror::Error)]
pub enum BeaconError {
    /// Every node failed; each node's error is listed.
    #[error("all beacon nodes failed: {}", join(errors))]
    AllFailed {
        /// The route (path without query).
        route: String,
        /// Each node's error, in the order tried.
        errors: Vec<NodeError>,
    },
    /// Every node answered 404: the route is not served (or the object does
    /// not exist), e.g. the liveness route on older nodes.
    #[error("not served by any beacon node: {}", join(errors))]
    NotServed {
        /// The route (path without query).
        route: String,
        /// Each node's answer.
        errors: Vec<NodeError>,
    },
    /// A node answered with something that is not what the API specifies.
    #[error("{url}: {reason}")]
    Invalid {
        /// The request.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A request body could not be encoded (nothing was sent).
    #[error("{path}: encoding the request body: {reason}")]
    Encode {
        /// The route.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Why a node's answer (or one check of it) is not what was asked: the
/// decoder's, the route's or the caller's own typed error. It becomes the
/// reason of a [`NodeError::Malformed`].
pub type AnswerError = Box<dyn std::error::Error + Send + Sync>;

impl BeaconError {
    /// Whether no node serves the route this way: every node answered 404
    /// or 405 (a route another version of the API has with another method).
    pub fn not_served_or_method(&self) -> bool {
        match self {
            BeaconError::NotServed { .. } => true,
            BeaconError::AllFailed { errors, .. } => {
                !errors.is_empty() && errors.iter().all(|e| matches!(e, NodeError::Status { status: 404 | 405, .. }))
            }
            _ => false,
        }
    }
}

pub(super) fn join(errors: &[NodeError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Why one node's answer to one request was not used. Each names the node
/// and the route once, and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// No whole answer within the request's time (including a body that
    /// trickles in).
    #[error("{node} did not answer {route} within {ms} ms")]
    Timeout {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The time allowed.
        ms: u64,
    },
    /// No connection could be made.
    #[error("cannot connect to {node} ({route}): {reason}")]
    Connect {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The system's reason (e.g. connection refused).
        reason: String,
    },
    /// A status other than success.
    #[error("{node} answered {route} with HTTP {status}: {message}")]
    Status {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The HTTP status.
        status: u16,
        /// The start of the node's message.
        message: String,
    },
    /// A body longer than the route's cap (`limits`).
    #[error("{node} answered {route} with more than {limit} bytes; the answer was dropped")]
    TooLarge {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The cap.
        limit: usize,
    },
    /// A body that is not what the API specifies.
    #[error("{node} answered {route} with a malformed body: {reason}")]
    Malformed {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// What is wrong.
        reason: String,
    },
    /// The connection failed after it was made.
    #[error("{node} ({route}): {reason}")]
    Transport {
        /// The node.
        node: String,
        /// The route.
        route: String,
        /// The innermost cause.
        reason: String,
    },
}

impl NodeError {
    /// Whether the node answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, NodeError::Status { status: 404, .. })
    }

    pub(super) fn from_reqwest(node: &str, route: &str, ms: u64, e: &reqwest::Error) -> Self {
        let (node, route) = (node.to_string(), route.to_string());
        if e.is_timeout() {
            return NodeError::Timeout { node, route, ms };
        }
        // The innermost cause names what happened ("Connection refused");
        // the outer layers only repeat the URL.
        let mut cause: &dyn std::error::Error = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let reason = cause.to_string();
        if e.is_connect() {
            NodeError::Connect { node, route, reason }
        } else {
            NodeError::Transport { node, route, reason }
        }
    }
}
