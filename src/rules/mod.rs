//! Rules: the schema of rule files, loading them (built-in and the user's), and the self-test
//! that proves every rule's examples.
pub mod checksum;
pub mod gitleaks;
pub mod keygen;
pub mod keyshape;
pub mod literals;
pub mod load;
pub mod schema;

pub use load::{Rule, RuleError, RuleSet};
pub use schema::{Confidence, Identity, Severity};
