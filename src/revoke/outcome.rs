//! What a revoke call achieved: the one answer the issuer layer gives, and the batcher and the
//! budget pass through, so neither needs the issuer layer that uses them.

use std::time::Duration;

/// What a revoke call achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum CallResult {
    /// The issuer accepted the revocation.
    Accepted { status: u16 },
    /// The issuer says the key was already gone.
    Gone { status: u16 },
    /// Worth retrying: timeout, 429, 5xx.
    Retry {
        status: Option<u16>,
        reason: String,
        after: Option<Duration>,
    },
    /// Retrying will not help (403, a recipe that cannot be built): a human must look.
    Failed { status: Option<u16>, reason: String },
    /// Nothing was sent: the issuer's request budget is spent, or it asked us to hold off
    /// (429 on a budgeted endpoint). The job waits `after`; this is not a failed attempt.
    Deferred { reason: String, after: Duration },
}
