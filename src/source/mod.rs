//! Where bytes come from: directories and files, streams (stdin, logs, gzip), git.
pub mod ci;
pub mod fs;
pub mod git;
pub mod stream;
pub mod transcode;
