//! Presence and integrity of datasets on disk: the `.cinerec-verified` record a download leaves,
//! a cheap status check for listings, and a full re-hash (`verify`).

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::DatasetName;
use crate::error::{DatasetError, Result};
use crate::load::dataset_dir;

/// The file a verified download leaves in its dataset folder: source, archive digests and the
/// sha256 and size of every extracted file.
pub const RECORD_FILE: &str = ".cinerec-verified";

/// One extracted file as the record lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedFile {
    /// File name inside the dataset folder.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
}

/// The content of a [`RECORD_FILE`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The URL the archive came from.
    pub source: String,
    /// md5 of the archive (hex).
    pub archive_md5: String,
    /// sha256 of the archive (hex).
    pub archive_sha256: String,
    /// The extracted files.
    pub files: Vec<RecordedFile>,
}

impl Record {
    /// The record as text: `key value` lines, one `file <sha256> <bytes> <name>` line per file.
    pub fn to_text(&self) -> String {
        let mut res = String::from("# cinerec: files of a verified MovieLens download\n");
        let _ = writeln!(res, "source {}", self.source);
        let _ = writeln!(res, "md5 {}", self.archive_md5);
        let _ = writeln!(res, "sha256 {}", self.archive_sha256);
        for f in &self.files {
            let _ = writeln!(res, "file {} {} {}", f.sha256, f.bytes, f.file);
        }
        res
    }

    /// Parses [`Record::to_text`]'s output; `None` if a line is malformed.
    pub fn from_text(text: &str) -> Option<Record> {
        let mut record = Record {
            source: String::new(),
            archive_md5: String::new(),
            archive_sha256: String::new(),
            files: vec![],
        };
        for line in text.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty()) {
            let (key, value) = line.split_once(' ')?;
            match key {
                "source" => record.source = value.to_owned(),
                "md5" => record.archive_md5 = value.to_owned(),
                "sha256" => record.archive_sha256 = value.to_owned(),
                "file" => {
                    let mut parts = value.splitn(3, ' ');
                    let (sha256, bytes, file) = (parts.next()?, parts.next()?, parts.next()?);
                    let safe = !file.is_empty() && !file.contains(['/', '\\']) && file != "..";
                    if sha256.len() != 64 || !safe {
                        return None;
                    }
                    record.files.push(RecordedFile {
                        file: file.to_owned(),
                        bytes: bytes.parse().ok()?,
                        sha256: sha256.to_owned(),
                    });
                }
                _ => {}
            }
        }
        Some(record)
    }

    /// Reads the record of a dataset folder; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Record>> {
        let path = dir.join(RECORD_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = fs_err::read_to_string(&path)?;
        Record::from_text(&text).map(Some).ok_or_else(|| DatasetError::Unverified {
            dir: dir.to_owned(),
            reason: format!("{} is malformed", path.display()),
        })
    }
}

/// How a dataset is present in the data directory (a cheap check: sizes, not hashes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    /// No folder for it.
    Missing,
    /// A folder without a download record (copied or extracted by hand); `verify` can still check
    /// files whose sha256 is known.
    Unrecorded,
    /// A verified download whose recorded files are all there with their recorded sizes.
    Verified,
    /// A download record that no longer matches the folder.
    Damaged {
        /// What differs (first problem found).
        reason: String,
    },
}

/// A dataset's presence in a data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetStatus {
    /// The dataset.
    pub name: DatasetName,
    /// Its folder, when present.
    pub dir: Option<PathBuf>,
    /// How it is present.
    pub presence: Presence,
}

/// The presence of `name` in `data_dir` (reads the record and file sizes, hashes nothing).
pub fn status(data_dir: &Path, name: DatasetName) -> Result<DatasetStatus> {
    let dir = match dataset_dir(data_dir, name) {
        Ok(dir) => dir,
        Err(DatasetError::NotPresent { .. }) => {
            return Ok(DatasetStatus { name, dir: None, presence: Presence::Missing });
        }
        Err(err) => return Err(err),
    };
    let presence = presence_of(&dir)?;
    Ok(DatasetStatus { name, dir: Some(dir), presence })
}

/// The status of every known dataset in `data_dir`, in [`DatasetName::all`] order.
pub fn statuses(data_dir: &Path) -> Result<Vec<DatasetStatus>> {
    DatasetName::all().into_iter().map(|name| status(data_dir, name)).collect()
}

pub(crate) fn presence_of(dir: &Path) -> Result<Presence> {
    let record = match Record::read(dir) {
        Ok(Some(record)) => record,
        Ok(None) => return Ok(Presence::Unrecorded),
        Err(DatasetError::Unverified { reason, .. }) => return Ok(Presence::Damaged { reason }),
        Err(err) => return Err(err),
    };
    for f in &record.files {
        let path = dir.join(&f.file);
        match fs_err::metadata(&path) {
            Ok(meta) if meta.len() == f.bytes => {}
            Ok(meta) => {
                let reason =
                    format!("{} has {} bytes, the record says {}", path.display(), meta.len(), f.bytes);
                return Ok(Presence::Damaged { reason });
            }
            Err(_) => return Ok(Presence::Damaged { reason: format!("{} is missing", path.display()) }),
        }
    }
    Ok(Presence::Verified)
}

/// One file's check in a [`VerifyReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// File name inside the dataset folder.
    pub file: String,
    /// The expected sha256: the data README's known value, else the download record's.
    pub expected_sha256: String,
    /// The sha256 of the file now; `None` when the file is missing.
    pub actual_sha256: Option<String>,
}

impl FileCheck {
    /// Whether the file is there with the expected sha256.
    pub fn is_ok(&self) -> bool {
        self.actual_sha256.as_deref() == Some(self.expected_sha256.as_str())
    }
}

/// The result of re-hashing a dataset's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The dataset.
    pub name: DatasetName,
    /// Its folder.
    pub dir: PathBuf,
    /// Every file with an expected sha256 (known or recorded), in name order.
    pub files: Vec<FileCheck>,
}

impl VerifyReport {
    /// Whether there was something to check and every file matched.
    pub fn is_ok(&self) -> bool {
        !self.files.is_empty() && self.files.iter().all(FileCheck::is_ok)
    }

    /// The files that are missing or differ.
    pub fn mismatches(&self) -> impl Iterator<Item = &FileCheck> {
        self.files.iter().filter(|check| !check.is_ok())
    }
}

/// Re-hashes the files of `name` in `data_dir` against the known sha256 values (data README) and
/// the download record. A report with no files means there was nothing to check against.
pub fn verify(data_dir: &Path, name: DatasetName) -> Result<VerifyReport> {
    verify_dir(&dataset_dir(data_dir, name)?, name)
}

pub(crate) fn verify_dir(dir: &Path, name: DatasetName) -> Result<VerifyReport> {
    let mut expected: Vec<(String, String)> =
        name.info().known_sha256.iter().map(|(file, hex)| ((*file).to_owned(), (*hex).to_owned())).collect();
    if let Some(record) = Record::read(dir)? {
        for f in record.files {
            if !expected.iter().any(|(file, _)| *file == f.file) {
                expected.push((f.file, f.sha256));
            }
        }
    }
    expected.sort();
    let files = expected
        .into_iter()
        .map(|(file, expected_sha256)| {
            let path = dir.join(&file);
            let actual_sha256 = if path.is_file() { Some(sha256_file(&path)?) } else { None };
            Ok(FileCheck { file, expected_sha256, actual_sha256 })
        })
        .collect::<Result<_>>()?;
    Ok(VerifyReport { name, dir: dir.to_owned(), files })
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut res = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(res, "{b:02x}");
    }
    res
}

/// The sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn record_round_trips_and_refuses_unsafe_names() {
        let record = Record {
            source: "http://127.0.0.1:1/ml-100k.zip".into(),
            archive_md5: "0e33842e24a9c977be4e0107933c0723".into(),
            archive_sha256: EMPTY_SHA256.into(),
            files: vec![RecordedFile { file: "u.data".into(), bytes: 0, sha256: EMPTY_SHA256.into() }],
        };
        assert_eq!(Record::from_text(&record.to_text()), Some(record));
        assert_eq!(Record::from_text(&format!("file {EMPTY_SHA256} 0 ../etc/passwd\n")), None);
        assert_eq!(Record::from_text("file abc 0 u.data\n"), None);
        assert_eq!(Record::from_text(&format!("file {EMPTY_SHA256} x u.data\n")), None);
    }

    #[test]
    fn presence_and_verify_follow_the_record() {
        let data = tempfile::tempdir().unwrap();
        let missing = status(data.path(), DatasetName::Ml1m).unwrap();
        assert_eq!((missing.dir, missing.presence), (None, Presence::Missing));

        let dir = data.path().join("ml-1m");
        fs_err::create_dir(&dir).unwrap();
        fs_err::write(dir.join("ratings.dat"), "").unwrap();
        assert_eq!(status(data.path(), DatasetName::Ml1m).unwrap().presence, Presence::Unrecorded);
        let report = verify(data.path(), DatasetName::Ml1m).unwrap();
        assert!(report.files.is_empty() && !report.is_ok(), "nothing to check against is not ok");

        let record = Record {
            source: "s".into(),
            archive_md5: "m".into(),
            archive_sha256: "h".into(),
            files: vec![RecordedFile { file: "ratings.dat".into(), bytes: 0, sha256: EMPTY_SHA256.into() }],
        };
        fs_err::write(dir.join(RECORD_FILE), record.to_text()).unwrap();
        assert_eq!(status(data.path(), DatasetName::Ml1m).unwrap().presence, Presence::Verified);
        assert!(verify(data.path(), DatasetName::Ml1m).unwrap().is_ok());

        fs_err::write(dir.join("ratings.dat"), "1::2::3::4\n").unwrap();
        let presence = status(data.path(), DatasetName::Ml1m).unwrap().presence;
        assert!(
            matches!(&presence, Presence::Damaged { reason } if reason.contains("has 11 bytes")),
            "{presence:?}"
        );
        let report = verify(data.path(), DatasetName::Ml1m).unwrap();
        let bad: Vec<_> = report.mismatches().map(|check| check.file.as_str()).collect();
        assert_eq!(bad, ["ratings.dat"]);
        assert!(!report.is_ok());

        fs_err::remove_file(dir.join("ratings.dat")).unwrap();
        assert!(matches!(status(data.path(), DatasetName::Ml1m).unwrap().presence, Presence::Damaged { .. }));
        assert_eq!(verify(data.path(), DatasetName::Ml1m).unwrap().files[0].actual_sha256, None);

        fs_err::write(dir.join(RECORD_FILE), "file nonsense\n").unwrap();
        assert!(matches!(status(data.path(), DatasetName::Ml1m).unwrap().presence, Presence::Damaged { .. }));
        assert_eq!(statuses(data.path()).unwrap().len(), 7);
    }

    #[test]
    fn hashes_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        fs_err::write(&path, "abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
