//! The checked downloader: stream the official zip to a temporary file while hashing it, verify
//! the checksum, extract the needed members into a temporary folder and rename it into place.
//!
//! Every temporary file and folder lives in the data directory (so the final rename is atomic on
//! one file system) and is removed on any failure: either `<data_dir>/<name>/` appears complete
//! with its `.cinerec-verified` record, or nothing changes.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::catalog::{DatasetName, OFFICIAL_BASE_URL, archive_url};
use crate::error::{DatasetError, Result};
use crate::verify::{Presence, RECORD_FILE, Record, RecordedFile, hex, presence_of, verify_dir};

/// An expected digest of an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// md5, lower-case hex (what GroupLens publishes).
    Md5(String),
    /// sha256, lower-case hex.
    Sha256(String),
}

impl Checksum {
    /// `md5` or `sha256`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Md5(_) => "md5",
            Checksum::Sha256(_) => "sha256",
        }
    }

    /// The hex digest.
    pub fn hex(&self) -> &str {
        match self {
            Checksum::Md5(hex) | Checksum::Sha256(hex) => hex,
        }
    }
}

/// How the expected checksum of an archive is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectedChecksum {
    /// Pinned in advance.
    Known(Checksum),
    /// Published next to the archive as an md5 file (`<url>.md5`), fetched before the download.
    Md5At(String),
}

/// Where to download a dataset from and what it must hash to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The archive's URL.
    pub url: String,
    /// The checksum the archive must have.
    pub expected: ExpectedChecksum,
}

impl Source {
    /// The official GroupLens archive and its published md5.
    pub fn official(name: DatasetName) -> Self {
        Self::with_base_url(name, OFFICIAL_BASE_URL)
    }

    /// `<base_url>/<name>.zip`, checked against the official md5 (or `<url>.md5` for ml-latest).
    pub fn with_base_url(name: DatasetName, base_url: &str) -> Self {
        let url = archive_url(base_url, name);
        let expected = match name.info().archive_md5 {
            Some(md5) => ExpectedChecksum::Known(Checksum::Md5(md5.to_owned())),
            None => ExpectedChecksum::Md5At(format!("{url}.md5")),
        };
        Self { url, expected }
    }
}

/// The outcome of [`Downloader::download`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downloaded {
    /// The dataset.
    pub name: DatasetName,
    /// Its folder, `<data_dir>/<name>`.
    pub dir: PathBuf,
    /// `false` when it was already present and verified, so nothing was fetched.
    pub fetched: bool,
    /// The dataset's files with their sizes and sha256.
    pub files: Vec<RecordedFile>,
}

/// Downloads MovieLens archives into a data directory, checked and atomically.
#[derive(Clone)]
pub struct Downloader {
    data_dir: PathBuf,
    base_url: String,
    max_attempts: u32,
    backoff: Duration,
    connect_timeout: Duration,
    read_timeout: Duration,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Downloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Downloader")
            .field("data_dir", &self.data_dir)
            .field("base_url", &self.base_url)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// A failed attempt: worth retrying (connection trouble, 5xx) or not.
enum Failure {
    Transient(String),
    /// A request failure that retrying will not fix (bad URL, TLS); reported with the attempt count.
    Refused(String),
    Fatal(DatasetError),
}

/// Progress of an archive download, passed to the [`Downloader::progress`] callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownloadProgress {
    /// Bytes received so far in this attempt.
    pub received: u64,
    /// The archive's size, when the server announces it.
    pub total: Option<u64>,
}

/// The progress callback.
type ProgressFn = Arc<dyn Fn(DownloadProgress) + Send + Sync>;

impl Downloader {
    /// A downloader into `data_dir` from the official GroupLens URLs, with 4 attempts per request
    /// and a backoff of 1 s, 2 s, 4 s between them.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            base_url: OFFICIAL_BASE_URL.to_owned(),
            max_attempts: 4,
            backoff: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            progress: None,
        }
    }

    /// Calls `on_progress` as archive bytes arrive (e.g. to drive a progress bar).
    pub fn progress(mut self, on_progress: impl Fn(DownloadProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(on_progress));
        self
    }

    /// Fetches `<base_url>/<name>.zip` instead of the official URL (mirrors, tests). The expected
    /// checksum stays the official one; use [`Downloader::download_from`] to change it.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// At most `max_attempts` tries per request (at least 1), waiting `first_backoff`, then twice
    /// as long after each further failure.
    pub fn retries(mut self, max_attempts: u32, first_backoff: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.backoff = first_backoff;
        self
    }

    /// Timeouts for connecting and for each read.
    pub fn timeouts(mut self, connect: Duration, read: Duration) -> Self {
        self.connect_timeout = connect;
        self.read_timeout = read;
        self
    }

    /// The data directory datasets go to.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where [`Downloader::download`] fetches `name` from.
    pub fn source(&self, name: DatasetName) -> Source {
        Source::with_base_url(name, &self.base_url)
    }

    /// Makes `<data_dir>/<name>/` hold the verified dataset: does nothing when it is already there
    /// and verified, otherwise downloads, verifies and extracts it.
    pub fn download(&self, name: DatasetName) -> Result<Downloaded> {
        self.download_from(name, &self.source(name))
    }

    /// [`Downloader::download`] from an explicit source (URL and expected checksum).
    pub fn download_from(&self, name: DatasetName, source: &Source) -> Result<Downloaded> {
        let target = self.data_dir.join(name.as_str());
        if let Some(present) = already_present(name, &target)? {
            return Ok(present);
        }
        fs_err::create_dir_all(&self.data_dir)?;
        let agent = self.agent(&source.url);
        let expected = match &source.expected {
            ExpectedChecksum::Known(checksum) => checksum.clone(),
            ExpectedChecksum::Md5At(url) => Checksum::Md5(self.fetch_md5(&agent, url)?),
        };

        let mut archive = tempfile::Builder::new()
            .prefix(".cinerec-")
            .suffix(".zip.part")
            .tempfile_in(&self.data_dir)
            .map_err(|err| at_path(err, &self.data_dir, "cannot create a temporary file in"))?;
        let archive_path = archive.path().to_owned();
        let (md5, sha256) = self.retrying(&source.url, || {
            fetch_to(&agent, &source.url, archive.as_file_mut(), &archive_path, self.progress.as_deref())
        })?;
        let actual = if matches!(expected, Checksum::Md5(_)) { &md5 } else { &sha256 };
        if !actual.eq_ignore_ascii_case(expected.hex()) {
            return Err(DatasetError::Checksum {
                what: source.url.clone(),
                algorithm: expected.algorithm(),
                expected: expected.hex().to_owned(),
                actual: actual.clone(),
            });
        }

        let staging = tempfile::Builder::new()
            .prefix(".cinerec-")
            .tempdir_in(&self.data_dir)
            .map_err(|err| at_path(err, &self.data_dir, "cannot create a temporary folder in"))?;
        let files = extract(name, &source.url, archive.as_file(), staging.path())?;
        let record = Record { source: source.url.clone(), archive_md5: md5, archive_sha256: sha256, files };
        fs_err::write(staging.path().join(RECORD_FILE), record.to_text())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))?;
        }
        fs_err::rename(staging.path(), &target)?;
        // The folder now lives at `target`: disarm the cleanup of its old path.
        let _ = staging.keep();
        Ok(Downloaded { name, dir: target, fetched: true, files: record.files })
    }

    fn agent(&self, url: &str) -> ureq::Agent {
        let mut config = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_per_read(Some(self.read_timeout))
            .user_agent(concat!("cinerec-datasets/", env!("CARGO_PKG_VERSION")));
        if is_loopback(url) {
            // A proxy from the environment cannot reach this machine's loopback.
            config = config.proxy(None);
        }
        config.build().into()
    }

    /// Runs `attempt` until it succeeds, fails fatally, or `max_attempts` transient failures.
    fn retrying<T>(&self, url: &str, mut attempt: impl FnMut() -> Result<T, Failure>) -> Result<T> {
        let mut wait = self.backoff;
        let mut n = 1;
        loop {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::Refused(reason)) => {
                    return Err(DatasetError::Http { url: url.to_owned(), attempts: n, reason });
                }
                Err(Failure::Transient(reason)) if n >= self.max_attempts => {
                    return Err(DatasetError::Http { url: url.to_owned(), attempts: n, reason });
                }
                Err(Failure::Transient(_)) => {
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                    n += 1;
                }
            }
        }
    }

    fn fetch_md5(&self, agent: &ureq::Agent, url: &str) -> Result<String> {
        let text = self.retrying(url, || {
            let mut res = agent.get(url).call().map_err(|err| classify(url, err))?;
            res.body_mut().read_to_string().map_err(|err| Failure::Transient(err.to_string()))
        })?;
        md5_in(&text).ok_or_else(|| DatasetError::ChecksumFile {
            url: url.to_owned(),
            text: text.chars().take(200).collect(),
        })
    }
}

/// The first 32-hex-digit word in a published `.md5` file (`<md5>  <file>` or `MD5 (f) = <md5>`).
fn md5_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_hexdigit()).find(|word| word.len() == 32).map(str::to_ascii_lowercase)
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(ip, _)| &ip[1..])
    } else {
        host.split(':').next().unwrap_or_default()
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn at_path(err: std::io::Error, path: &Path, what: &str) -> DatasetError {
    DatasetError::Io(std::io::Error::new(err.kind(), format!("{what} {}: {err}", path.display())))
}

/// Sorts a request error: connection trouble and 5xx are worth another attempt, the rest not.
fn classify(url: &str, err: ureq::Error) -> Failure {
    match err {
        ureq::Error::StatusCode(status) if status >= 500 || status == 408 || status == 429 => {
            Failure::Transient(format!("HTTP status {status}"))
        }
        ureq::Error::StatusCode(status) => {
            Failure::Fatal(DatasetError::HttpStatus { url: url.to_owned(), status })
        }
        err @ (ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_)) => Failure::Transient(err.to_string()),
        err => Failure::Refused(err.to_string()),
    }
}

/// One attempt: GET `url` into `file` (truncated first), returning the (md5, sha256) hex digests.
fn fetch_to(
    agent: &ureq::Agent,
    url: &str,
    file: &mut std::fs::File,
    path: &Path,
    progress: Option<&(dyn Fn(DownloadProgress) + Send + Sync)>,
) -> Result<(String, String), Failure> {
    let write_failed = |err: std::io::Error| Failure::Fatal(at_path(err, path, "cannot write"));
    file.set_len(0).map_err(write_failed)?;
    file.rewind().map_err(write_failed)?;
    let mut res = agent.get(url).call().map_err(|err| classify(url, err))?;
    let total = res.body().content_length();
    let mut body = res.body_mut().as_reader();
    let (mut md5, mut sha256) = (Md5::new(), Sha256::new());
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Failure::Transient(format!("reading the body: {err}"))),
        };
        md5.update(&buf[..n]);
        sha256.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(write_failed)?;
        received += n as u64;
        if let Some(progress) = progress {
            progress(DownloadProgress { received, total });
        }
    }
    file.flush().map_err(write_failed)?;
    Ok((hex(&md5.finalize()), hex(&sha256.finalize())))
}

/// `Some` when `target` already holds a verified copy; an error when it holds anything else.
fn already_present(name: DatasetName, target: &Path) -> Result<Option<Downloaded>> {
    if !target.exists() {
        return Ok(None);
    }
    let present = |files| Ok(Some(Downloaded { name, dir: target.to_owned(), fetched: false, files }));
    match presence_of(target)? {
        Presence::Verified => {
            let record = Record::read(target)?.map(|record| record.files).unwrap_or_default();
            present(record)
        }
        Presence::Unrecorded if !name.info().known_sha256.is_empty() => {
            // Copied by hand: trust it if every file with a known sha256 matches.
            let report = verify_dir(target, name)?;
            if let Some(bad) = report.mismatches().next() {
                let reason = format!("{} does not match its known sha256", bad.file);
                return Err(DatasetError::Unverified { dir: target.to_owned(), reason });
            }
            let files = report
                .files
                .into_iter()
                .map(|check| {
                    let bytes = fs_err::metadata(target.join(&check.file))?.len();
                    Ok(RecordedFile { file: check.file, bytes, sha256: check.expected_sha256 })
                })
                .collect::<Result<_>>()?;
            present(files)
        }
        Presence::Unrecorded => Err(DatasetError::Unverified {
            dir: target.to_owned(),
            reason: format!("it has no {RECORD_FILE} record and no known checksums"),
        }),
        Presence::Damaged { reason } => Err(DatasetError::Unverified { dir: target.to_owned(), reason }),
        Presence::Missing => Ok(None),
    }
}

/// Extracts the dataset's members from the verified archive into `into`, hashing each file and
/// checking the sha256 of those with a known value.
fn extract(name: DatasetName, url: &str, archive: &std::fs::File, into: &Path) -> Result<Vec<RecordedFile>> {
    let info = name.info();
    let zip_error = |source| DatasetError::Zip { url: url.to_owned(), source };
    let mut zip = zip::ZipArchive::new(BufReader::new(archive)).map_err(zip_error)?;
    // File name → member index, for members at the top or directly inside the dataset's folder.
    let mut members = HashMap::new();
    for idx in 0..zip.len() {
        let entry = zip.by_index(idx).map_err(zip_error)?;
        let Some(path) = entry.enclosed_name().filter(|_| entry.is_file()) else { continue };
        let parts: Vec<_> = path.components().collect();
        let file = match parts.as_slice() {
            [Component::Normal(file)] => file,
            [Component::Normal(folder), Component::Normal(file)] if *folder == info.zip_folder => file,
            _ => continue,
        };
        if let Some(file) = file.to_str() {
            members.insert(file.to_owned(), idx);
        }
    }
    let optional = info.optional_members.iter().filter(|member| members.contains_key(**member));
    let mut files = Vec::new();
    for member in info.required_members().chain(optional.copied()) {
        let idx = *members
            .get(member)
            .ok_or_else(|| DatasetError::MissingMember { url: url.to_owned(), member: member.to_owned() })?;
        let entry = zip.by_index(idx).map_err(zip_error)?;
        let recorded = extract_member(entry, url, member, &into.join(member))?;
        if let Some(known) = info.known_sha256(member).filter(|known| *known != recorded.sha256) {
            return Err(DatasetError::Checksum {
                what: format!("{url}: member {member}"),
                algorithm: "sha256",
                expected: known.to_owned(),
                actual: recorded.sha256,
            });
        }
        files.push(recorded);
    }
    Ok(files)
}

fn extract_member(mut entry: impl Read, url: &str, member: &str, dest: &Path) -> Result<RecordedFile> {
    let mut out = fs_err::File::create(dest)?;
    let mut sha256 = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = entry.read(&mut buf).map_err(|err| {
            std::io::Error::new(err.kind(), format!("{url}: cannot extract member {member}: {err}"))
        })?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        bytes += n as u64;
    }
    out.flush()?;
    Ok(RecordedFile { file: member.to_owned(), bytes, sha256: hex(&sha256.finalize()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_md5_in_published_files() {
        let md5 = "6b51fb2759a8657d3bfcbfc42b592ada";
        assert_eq!(md5_in(&format!("{md5}  ml-25m.zip\n")).as_deref(), Some(md5));
        assert_eq!(md5_in(&format!("MD5 (ml-25m.zip) = {}\n", md5.to_uppercase())).as_deref(), Some(md5));
        assert_eq!(md5_in("<html>Not Found</html>"), None);
    }

    #[test]
    fn unusable_urls_are_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let source = Source {
            url: "ftp://127.0.0.1/ml-100k.zip".into(),
            expected: ExpectedChecksum::Known(Checksum::Md5("0".repeat(32))),
        };
        let downloader = Downloader::new(dir.path()).retries(5, Duration::from_secs(60));
        let err = downloader.download_from(DatasetName::Ml100k, &source).unwrap_err();
        assert!(matches!(&err, DatasetError::Http { attempts: 1, .. }), "{err}");
        assert!(
            err.to_string().starts_with("GET ftp://127.0.0.1/ml-100k.zip failed after 1 attempt(s)"),
            "{err}"
        );
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn loopback_urls_skip_proxies() {
        assert!(is_loopback("http://127.0.0.1:8080/ml-100k.zip"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:9/x"));
        assert!(!is_loopback("https://files.grouplens.org/datasets/movielens/ml-100k.zip"));
        assert!(!is_loopback("http://127.example.com.evil:80/"));
    }

    #[test]
    fn sources_use_the_official_md5_or_fetch_it() {
        let source = Source::official(DatasetName::Ml100k);
        assert_eq!(source.url, "https://files.grouplens.org/datasets/movielens/ml-100k.zip");
        assert_eq!(
            source.expected,
            ExpectedChecksum::Known(Checksum::Md5("0e33842e24a9c977be4e0107933c0723".into()))
        );
        let latest = Downloader::new("/tmp/x").base_url("http://127.0.0.1:1/").source(DatasetName::MlLatest);
        assert_eq!(latest.url, "http://127.0.0.1:1/ml-latest.zip");
        assert_eq!(latest.expected, ExpectedChecksum::Md5At("http://127.0.0.1:1/ml-latest.zip.md5".into()));
    }
}
