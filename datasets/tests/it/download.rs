//! The downloader against a local server: a zip of the shared ml-100k built in memory.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use datasets::verify::RECORD_FILE;
use datasets::{
    Checksum, DatasetError, DatasetName, DownloadProgress, Downloader, ExpectedChecksum, Presence, Source,
};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::server::Server;
use crate::shared_data_dir;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A zip of `ml-100k/*` from the shared data, leaving out `skip` and replacing `u.data` when asked.
fn build_zip(skip: &[&str], u_data: Option<&[u8]>) -> Vec<u8> {
    let dir = shared_data_dir().join("ml-100k");
    let mut names: Vec<String> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !skip.contains(&name.as_str()))
        .collect();
    names.sort();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.add_directory("ml-100k/", options).unwrap();
    for name in names {
        zip.start_file(format!("ml-100k/{name}"), options).unwrap();
        let bytes = match (name.as_str(), u_data) {
            ("u.data", Some(replacement)) => replacement.to_vec(),
            _ => fs_err::read(dir.join(&name)).unwrap(),
        };
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The full ml-100k zip, built once for all tests.
fn good_zip() -> Arc<Vec<u8>> {
    static ZIP: OnceLock<Arc<Vec<u8>>> = OnceLock::new();
    ZIP.get_or_init(|| Arc::new(build_zip(&[], None))).clone()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn serve(zip: Arc<Vec<u8>>, fail_first: usize) -> Server {
    let md5 = format!("{}  ml-100k.zip\n", hex(&Md5::digest(zip.as_slice())));
    let routes = HashMap::from([
        ("/ml-100k.zip".to_owned(), zip),
        ("/ml-100k.zip.md5".to_owned(), Arc::new(md5.into_bytes())),
    ]);
    Server::start(routes, fail_first)
}

fn source(server: &Server, sha256: String) -> Source {
    Source {
        url: format!("{}/ml-100k.zip", server.base_url()),
        expected: ExpectedChecksum::Known(Checksum::Sha256(sha256)),
    }
}

fn downloader(dir: &Path) -> Downloader {
    Downloader::new(dir)
        .retries(3, Duration::from_millis(1))
        .timeouts(Duration::from_secs(5), Duration::from_secs(10))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut res: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    res.sort();
    res
}

#[test]
fn good_download_is_verified_extracted_and_not_fetched_twice() {
    let zip = good_zip();
    let server = serve(zip.clone(), 0);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("nested/data");
    let src = source(&server, sha256(&zip));

    let last = Arc::new(Mutex::new(None));
    let seen = last.clone();
    let with_progress = downloader(&data_dir).progress(move |p| *seen.lock().unwrap() = Some(p));
    let done = with_progress.download_from(DatasetName::Ml100k, &src).unwrap();
    assert!(done.fetched);
    assert_eq!(done.dir, data_dir.join("ml-100k"));
    let size = zip.len() as u64;
    assert_eq!(*last.lock().unwrap(), Some(DownloadProgress { received: size, total: Some(size) }));
    assert_eq!(server.requests(), 1);
    assert_eq!(entries(&data_dir), ["ml-100k"], "no temporary file or folder left");
    let files = entries(&done.dir);
    assert_eq!(files.len(), 24, "21 members with known sha256, 2 scripts and the record: {files:?}");
    assert!(files.contains(&RECORD_FILE.to_owned()));
    let u_data = done.files.iter().find(|f| f.file == "u.data").unwrap();
    assert_eq!(u_data.sha256, "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490");
    assert_eq!(u_data.bytes, 1_979_173);

    let report = datasets::verify(&data_dir, DatasetName::Ml100k).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.files.len(), 23);
    assert_eq!(datasets::status(&data_dir, DatasetName::Ml100k).unwrap().presence, Presence::Verified);
    assert_eq!(datasets::load_ratings(&data_dir, DatasetName::Ml100k).unwrap().len(), 100_000);

    // Present and verified: no request at all.
    let again = downloader(&data_dir).download_from(DatasetName::Ml100k, &src).unwrap();
    assert!(!again.fetched);
    assert_eq!(again.files, done.files);
    let again = downloader(&data_dir).base_url(server.base_url()).download(DatasetName::Ml100k).unwrap();
    assert!(!again.fetched);
    assert_eq!(server.requests(), 1);

    // A damaged copy is reported by file, and a download refuses to overwrite it.
    fs_err::write(done.dir.join("u1.test"), "1\t1\t1\t1\n").unwrap();
    let report = datasets::verify(&data_dir, DatasetName::Ml100k).unwrap();
    let bad: Vec<&str> = report.mismatches().map(|check| check.file.as_str()).collect();
    assert_eq!(bad, ["u1.test"]);
    let err = downloader(&data_dir).download_from(DatasetName::Ml100k, &src).unwrap_err();
    assert!(matches!(err, DatasetError::Unverified { .. }), "{err}");
    assert!(err.to_string().contains("u1.test"), "{err}");
    assert_eq!(server.requests(), 1);
}

#[test]
fn corrupted_download_is_refused_and_leaves_nothing() {
    let zip = good_zip();
    let expected = sha256(&zip);
    let mut corrupted = zip.as_ref().clone();
    for pos in [1000, 500_000, corrupted.len() / 2] {
        corrupted[pos] ^= 0xff;
    }
    let actual = sha256(&corrupted);
    let server = serve(Arc::new(corrupted), 0);
    let data = tempfile::tempdir().unwrap();

    let err = downloader(data.path())
        .download_from(DatasetName::Ml100k, &source(&server, expected.clone()))
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, DatasetError::Checksum { algorithm: "sha256", .. }), "{message}");
    assert!(message.contains(&expected) && message.contains(&actual), "{message}");
    assert!(message.contains(&server.base_url()), "{message}");
    assert!(entries(data.path()).is_empty(), "left behind: {:?}", entries(data.path()));

    // The official md5 is what a plain `download` checks: this zip is not the official one.
    let err = downloader(data.path()).base_url(server.base_url()).download(DatasetName::Ml100k).unwrap_err();
    assert!(
        err.to_string().contains("md5 checksum mismatch: expected 0e33842e24a9c977be4e0107933c0723"),
        "{err}"
    );
    assert!(entries(data.path()).is_empty());
}

#[test]
fn published_md5_is_fetched_when_no_checksum_is_pinned() {
    let server = serve(good_zip(), 0);
    let data = tempfile::tempdir().unwrap();
    let url = format!("{}/ml-100k.zip", server.base_url());
    let src = Source { url: url.clone(), expected: ExpectedChecksum::Md5At(format!("{url}.md5")) };
    let done = downloader(data.path()).download_from(DatasetName::Ml100k, &src).unwrap();
    assert!(done.fetched);
    assert_eq!(server.paths(), ["/ml-100k.zip.md5", "/ml-100k.zip"]);
    let record = datasets::verify::Record::read(&done.dir).unwrap().unwrap();
    assert_eq!(record.archive_md5, hex(&Md5::digest(good_zip().as_slice())));
    assert_eq!(record.source, url);
}

#[test]
fn transient_failures_are_retried_with_a_bound() {
    let zip = good_zip();
    let data = tempfile::tempdir().unwrap();
    // Two 503s, then success on the third and last attempt.
    let server = serve(zip.clone(), 2);
    let done =
        downloader(data.path()).download_from(DatasetName::Ml100k, &source(&server, sha256(&zip))).unwrap();
    assert!(done.fetched);
    assert_eq!(server.requests(), 3);

    // Three 503s exhaust the three attempts.
    let server = serve(zip.clone(), 3);
    let other = tempfile::tempdir().unwrap();
    let err = downloader(other.path())
        .download_from(DatasetName::Ml100k, &source(&server, sha256(&zip)))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("GET {}/ml-100k.zip failed after 3 attempt(s): HTTP status 503", server.base_url())
    );
    assert_eq!(server.requests(), 3);
    assert!(entries(other.path()).is_empty());
}

#[test]
fn refused_connections_and_missing_files_name_the_url() {
    let data = tempfile::tempdir().unwrap();
    // A port that was just free: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/ml-100k.zip");
    let src = Source { url: url.clone(), expected: ExpectedChecksum::Known(Checksum::Md5("0".repeat(32))) };
    let err = Downloader::new(data.path())
        .retries(2, Duration::from_millis(1))
        .download_from(DatasetName::Ml100k, &src);
    let err = err.unwrap_err();
    assert!(matches!(&err, DatasetError::Http { attempts: 2, .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("GET {url} failed after 2 attempt(s)")), "{err}");
    assert!(entries(data.path()).is_empty());

    // 404 is not retried.
    let server = Server::start(HashMap::new(), 0);
    let err = downloader(data.path()).base_url(server.base_url()).download(DatasetName::Ml1m).unwrap_err();
    assert_eq!(err.to_string(), format!("GET {}/ml-1m.zip: HTTP status 404", server.base_url()));
    assert_eq!(server.requests(), 1);
    assert!(entries(data.path()).is_empty());
}

#[test]
fn bad_archives_leave_nothing_behind() {
    let data = tempfile::tempdir().unwrap();

    // Checksum right, but a needed member is missing.
    let without_item = Arc::new(build_zip(&["u.item"], None));
    let server = serve(without_item.clone(), 0);
    let err = downloader(data.path())
        .download_from(DatasetName::Ml100k, &source(&server, sha256(&without_item)))
        .unwrap_err();
    assert!(matches!(&err, DatasetError::MissingMember { member, .. } if member == "u.item"), "{err}");
    assert!(entries(data.path()).is_empty(), "left behind: {:?}", entries(data.path()));

    // Checksum right, but a member differs from its known sha256.
    let altered = Arc::new(build_zip(&[], Some(b"1\t1\t5\t881250949\n")));
    let server = serve(altered.clone(), 0);
    let err = downloader(data.path())
        .download_from(DatasetName::Ml100k, &source(&server, sha256(&altered)))
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("member u.data: sha256 checksum mismatch"), "{message}");
    assert!(
        message.contains("06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
        "{message}"
    );
    assert!(entries(data.path()).is_empty());

    // Not a zip at all.
    let junk = Arc::new(b"<html>maintenance</html>".to_vec());
    let server = serve(junk.clone(), 0);
    let err = downloader(data.path())
        .download_from(DatasetName::Ml100k, &source(&server, sha256(&junk)))
        .unwrap_err();
    assert!(err.to_string().contains("not a readable zip archive"), "{err}");
    assert!(entries(data.path()).is_empty());
}

#[test]
fn hand_copied_datasets_are_trusted_only_when_known_hashes_match() {
    let server = serve(good_zip(), 0);
    let data = tempfile::tempdir().unwrap();
    let copy = data.path().join("ml-100k");
    fs_err::create_dir(&copy).unwrap();
    for entry in fs_err::read_dir(shared_data_dir().join("ml-100k")).unwrap() {
        let entry = entry.unwrap();
        fs_err::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    assert_eq!(datasets::status(data.path(), DatasetName::Ml100k).unwrap().presence, Presence::Unrecorded);
    let done = downloader(data.path()).base_url(server.base_url()).download(DatasetName::Ml100k).unwrap();
    assert!(!done.fetched);
    assert_eq!(done.files.len(), 21);
    assert_eq!(server.requests(), 0);

    // A folder with nothing to check against is not replaced either.
    fs_err::create_dir(data.path().join("ml-1m")).unwrap();
    let err = downloader(data.path()).base_url(server.base_url()).download(DatasetName::Ml1m).unwrap_err();
    assert!(matches!(err, DatasetError::Unverified { .. }), "{err}");
    assert_eq!(server.requests(), 0);
}
