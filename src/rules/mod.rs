//! Rules: the schema of rule files, loading them, and the rule self-test.
pub mod schema;
