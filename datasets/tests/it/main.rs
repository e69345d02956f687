//! Integration tests: the real MovieLens files in the shared data directory, and the downloader
//! against a local HTTP server.

mod download;
mod real_files;
mod server;

use std::path::PathBuf;

/// The shared data directory: `$CINEREC_DATA_DIR` (relative paths are taken from the workspace
/// root, as CI sets it), else `<workspace root>/../shared/datasets`.
pub fn shared_data_dir() -> PathBuf {
    let dir = datasets::checkout_data_dir();
    assert!(dir.join("ml-100k/u.data").is_file(), "no MovieLens data in {}", dir.display());
    dir
}
