//! Fuzz target: `quench::fuzzing::git_tree` on arbitrary bytes (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quench::fuzzing::git_tree(data));
