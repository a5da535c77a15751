//! Fuzz target: `quench::fuzzing::rules` on arbitrary bytes (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quench::fuzzing::rules(data));
