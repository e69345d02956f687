//! The local-folder store: `<root>/<version>.cinerec` files and a `<root>/LATEST` pointer, both
//! written atomically (temp file in the same folder, fsync, rename, fsync of the folder).

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{LATEST, VersionId, VersionInfo, blocking};
use crate::error::StoreError;

/// Versions in a local folder (created on the first `put`).
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, version: &VersionId) -> PathBuf {
        self.root.join(version.file_name())
    }

    pub(crate) async fn put(&self, bytes: Vec<u8>, publish: bool) -> Result<VersionId, StoreError> {
        let this = self.clone();
        blocking(move || {
            fs_err::create_dir_all(&this.root)?;
            let version = VersionId::generate();
            write_atomic(&this.path_of(&version), &bytes)?;
            if publish {
                write_atomic(&this.root.join(LATEST), format!("{version}\n").as_bytes())?;
            }
            Ok(version)
        })
        .await
    }

    pub(crate) async fn latest(&self) -> Result<Option<VersionId>, StoreError> {
        let this = self.clone();
        blocking(move || match fs_err::read_to_string(this.root.join(LATEST)) {
            Ok(text) => VersionId::parse(text.trim()).map(Some).map_err(|_| StoreError::CorruptPointer {
                store: this.root.display().to_string(),
                content: text,
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await
    }

    pub(crate) async fn get(&self, version: &VersionId) -> Result<Vec<u8>, StoreError> {
        let (this, version) = (self.clone(), version.clone());
        blocking(move || match fs_err::read(this.path_of(&version)) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(StoreError::VersionNotFound {
                store: this.root.display().to_string(),
                version: version.to_string(),
            }),
            Err(e) => Err(e.into()),
        })
        .await
    }

    pub(crate) async fn list(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let this = self.clone();
        blocking(move || {
            let entries = match fs_err::read_dir(&this.root) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut res = Vec::new();
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                // Temp files start with '.', other files are not ours.
                let Some(version) = name.to_str().and_then(VersionId::from_file_name) else { continue };
                let size = fs_err::metadata(entry.path())?.len();
                let created = version.created();
                res.push(VersionInfo { version, size, created });
            }
            Ok(res)
        })
        .await
    }

    pub(crate) async fn remove(&self, version: &VersionId) -> Result<(), StoreError> {
        let path = self.path_of(version);
        blocking(move || match fs_err::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        })
        .await
    }
}

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().expect("a file in the store folder");
    let name = path.file_name().expect("a file name").to_string_lossy();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}-{unique}.tmp", std::process::id()));
    let res = (|| {
        let mut file = fs_err::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs_err::rename(&tmp, path)?;
        // Make the rename itself durable.
        fs_err::File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    res.map_err(StoreError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EXTENSION;

    #[test]
    fn temp_names_are_not_versions() {
        let v = VersionId::generate();
        assert_eq!(VersionId::from_file_name(&v.file_name()), Some(v.clone()));
        assert_eq!(VersionId::from_file_name(&format!(".{}.{}.tmp", v.file_name(), 7)), None);
        assert!(v.file_name().ends_with(EXTENSION));
    }
}
