//! Integration tests: the real MovieLens files in the shared data directory, and the downloader
//! against a local HTTP server.

mod download;
mod real_files;
mod server;

use std::path::PathBuf;

/// The shared data directory: `$CINEREC_DATA_DIR` (relative paths are taken from the workspace
/// root, as CI sets it), else `<workspace root>/../shared/datasets`.
pub fn shared_data_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match std::env::var_os(datasets::DATA_DIR_ENV).filter(|dir| !dir.is_empty()) {
        Some(dir) => workspace.join(dir), // `join` keeps an absolute path as is
        None => workspace.join("../shared/datasets"),
    };
    assert!(dir.join("ml-100k/u.data").is_file(), "no MovieLens data in {}", dir.display());
    dir
}
