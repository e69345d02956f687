//! The artifact file format, version 2: a fixed preamble, a JSON header with a section table,
//! 64-byte-aligned little-endian arrays, and an xxh3-64 checksum of everything before it.
//!
//! ```text
//! offset          size  content
//! 0               8     magic "CINEREC\0"
//! 8               4     format version, u32 LE (this build writes 2, reads SUPPORTED_VERSIONS)
//! 12              4     flags, u32 LE, 0
//! 16              8     header length H in bytes, u64 LE
//! 24              8     file length L in bytes (everything, checksum included), u64 LE
//! 32              32    reserved, zero
//! 64              H     header: UTF-8 JSON (kind, params, n_users, n_items, nnz,
//!                       also_seen_nnz, n_movies, created_at, code_version, dataset, metrics,
//!                       sections)
//! D = align64(64 + H)   data area: each section at D + offset, offset a multiple of 64,
//!                       zero padding between sections
//! L - 8           8     xxh3-64 of bytes [0, L - 8), u64 LE
//! ```
//!
//! Every section table entry has `name`, `dtype` (`u8`, `u16`, `u32`, `u64`, `f32`), `shape`,
//! `offset` (from D) and `bytes` (= product of shape × dtype size). Sections of version 2:
//!
//! | section | dtype | shape |
//! |---|---|---|
//! | `users.ids`, `items.ids` | u64 | `[n_users]`, `[n_items]`: external id of each dense index |
//! | `seen.indptr`, `seen.indices`, `seen.values` | u64, u32, f32 | training matrix CSR: `[n_users + 1]`, `[nnz]`, `[nnz]` |
//! | `also_seen.indptr`, `also_seen.indices`, `also_seen.values` | u64, u32, f32 | the other rated movies (ratings the model did not learn from, values = the ratings): `[n_users + 1]`, `[also_seen_nnz]`, `[also_seen_nnz]` |
//! | `movies.ids`, `movies.years` | u64, u16 | `[n_movies]` (year 0: unknown) |
//! | `movies.titles.offsets`, `movies.titles.bytes` | u64, u8 | `[n_movies + 1]`, UTF-8 |
//! | `movies.genres.index` | u64 | `[n_movies + 1]`: movie `m`'s genres are strings `index[m]..index[m+1]` |
//! | `movies.genres.offsets`, `movies.genres.bytes` | u64, u8 | genre strings, UTF-8 |
//! | `als.user_factors`, `als.item_factors` | f32 | `[n_users, k]`, `[n_items, k]` (implicit ALS) |
//! | `explicit.user_factors`, `explicit.item_factors` | f32 | `[n_users, k]`, `[n_items, k]` (explicit ALS) |
//! | `explicit.user_biases`, `explicit.item_biases` | f32 | `[n_users]`, `[n_items]` (explicit ALS) |
//! | `explicit.scalars` | f32 | `[3]`: global mean, lowest and highest rating (explicit ALS) |
//! | `knn.indptr`, `knn.indices`, `knn.values` | u64, u32, f32 | item × item neighbour CSR (item-kNN) |
//! | `ease.weights` | f32 | `[n_items, n_items]` (EASE) |
//! | `popularity.scores` | f32 | `[n_items]` (popularity) |
//!
//! Readers find sections by name, so a later version may add sections without moving others.
//!
//! **Version 1** (no `also_seen` sections: only the training matrix's movies counted as seen,
//! so an implicit model recommended movies a user had rated below the positive threshold) is
//! still read: it is upgraded on read with an empty also-seen matrix, and
//! [`Artifact::upgraded_from`] says so, so that loaders warn that the model must be retrained
//! to leave out every rated movie.
//! Loading copies each array with one `memcpy`-like bulk copy; no element is parsed as text.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::time::SystemTime;

use engine::als::ImplicitAlsModel;
use engine::blend::BlendModel;
use engine::ease::EaseModel;
use engine::explicit_als::{ExplicitAlsModel, ExplicitAlsParts};
use engine::knn::ItemKnnModel;
use engine::popularity::PopularityModel;
use engine::{Csr, EngineError, IdMap, Params};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::error::ArtifactError;
use crate::model::{Artifact, Metadata, ModelKind, MovieInfo, TrainedModel};
use crate::params::ModelParams;
use crate::time::{format_rfc3339, parse_rfc3339};

/// The first eight bytes of every artifact.
pub const MAGIC: [u8; 8] = *b"CINEREC\0";
/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The format versions this build reads (1 is upgraded on read: see the module docs).
pub const SUPPORTED_VERSIONS: &[u32] = &[1, 2];

const ALSO_SEEN: [&str; 3] = ["also_seen.indptr", "also_seen.indices", "also_seen.values"];
const PREAMBLE_LEN: usize = 64;
const ALIGN: u64 = 64;
const TRAILER_LEN: usize = 8;

/// Element type of a section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// Bytes (UTF-8 strings).
    U8,
    /// 16-bit unsigned integers.
    U16,
    /// 32-bit unsigned integers (dense indices).
    U32,
    /// 64-bit unsigned integers (external ids, offsets).
    U64,
    /// 32-bit floats.
    F32,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::U32 | Self::F32 => 4,
            Self::U64 => 8,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::F32 => "f32",
        })
    }
}

/// One entry of the section table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionInfo {
    /// Section name (e.g. `als.user_factors`).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, row-major.
    pub shape: Vec<u64>,
    /// Start, in bytes from the start of the data area (a multiple of 64).
    pub offset: u64,
    /// Length in bytes.
    pub bytes: u64,
}

/// The JSON header as stored.
#[derive(Serialize, Deserialize)]
struct Header {
    kind: ModelKind,
    params: ModelParams,
    n_users: u64,
    n_items: u64,
    nnz: u64,
    /// Entries of the also-seen matrix (absent in version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    also_seen_nnz: Option<u64>,
    n_movies: u64,
    created_at: String,
    code_version: String,
    dataset: String,
    metrics: BTreeMap<String, f64>,
    sections: Vec<SectionInfo>,
}

/// What an artifact's header says, for listing and inspecting without loading the arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactInfo {
    /// Format version of the file.
    pub format_version: u32,
    /// File size in bytes.
    pub size: u64,
    /// Model kind.
    pub kind: ModelKind,
    /// Hyperparameters.
    pub params: ModelParams,
    /// Users the model knows.
    pub n_users: u64,
    /// Items the model knows.
    pub n_items: u64,
    /// Stored training interactions.
    pub nnz: u64,
    /// Stored also-seen ratings (`None` in format v1, which has none).
    pub also_seen_nnz: Option<u64>,
    /// Movies in the catalogue.
    pub n_movies: u64,
    /// When the model was trained.
    pub created_at: SystemTime,
    /// The code that trained it.
    pub code_version: String,
    /// The training data.
    pub dataset: String,
    /// Evaluation metrics of the run.
    pub metrics: BTreeMap<String, f64>,
    /// The section table.
    pub sections: Vec<SectionInfo>,
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// A section about to be written.
struct Out<'a> {
    name: &'static str,
    dtype: Dtype,
    shape: Vec<u64>,
    data: Cow<'a, [u8]>,
}

fn out<'a, T: bytemuck::Pod>(name: &'static str, dtype: Dtype, shape: &[usize], data: &'a [T]) -> Out<'a> {
    debug_assert_eq!(std::mem::size_of::<T>() as u64, dtype.size());
    Out {
        name,
        dtype,
        shape: shape.iter().map(|&d| d as u64).collect(),
        data: Cow::Borrowed(bytemuck::cast_slice(data)),
    }
}

fn out_owned<T: bytemuck::Pod>(name: &'static str, dtype: Dtype, data: Vec<T>) -> Out<'static> {
    Out {
        name,
        dtype,
        shape: vec![data.len() as u64],
        data: Cow::Owned(bytemuck::cast_slice(&data).to_vec()),
    }
}

/// Offsets as u64 (a plain reinterpretation on 64-bit targets).
fn out_offsets<'a>(name: &'static str, offsets: &'a [usize]) -> Out<'a> {
    if std::mem::size_of::<usize>() == 8 {
        out(name, Dtype::U64, &[offsets.len()], offsets)
    } else {
        out_owned(name, Dtype::U64, offsets.iter().map(|&o| o as u64).collect::<Vec<u64>>())
    }
}

/// Strings as `offsets` (n + 1, u64) and concatenated UTF-8 `bytes`.
fn string_table<'s>(strings: impl Iterator<Item = &'s str>) -> (Vec<u64>, Vec<u8>) {
    let mut offsets = vec![0u64];
    let mut bytes = Vec::new();
    for s in strings {
        bytes.extend_from_slice(s.as_bytes());
        offsets.push(bytes.len() as u64);
    }
    (offsets, bytes)
}

fn csr_sections<'a>(prefix: [&'static str; 3], csr: &'a Csr) -> [Out<'a>; 3] {
    [
        out_offsets(prefix[0], csr.indptr()),
        out(prefix[1], Dtype::U32, &[csr.nnz()], csr.indices()),
        out(prefix[2], Dtype::F32, &[csr.nnz()], csr.values()),
    ]
}

fn movie_sections(movies: &[MovieInfo]) -> Vec<Out<'static>> {
    let ids: Vec<u64> = movies.iter().map(|m| m.movie_id).collect();
    let years: Vec<u16> = movies.iter().map(|m| m.year.unwrap_or(0)).collect();
    let (title_offsets, title_bytes) = string_table(movies.iter().map(|m| m.title.as_str()));
    let mut genre_index = vec![0u64];
    for m in movies {
        genre_index.push(genre_index.last().unwrap() + m.genres.len() as u64);
    }
    let (genre_offsets, genre_bytes) =
        string_table(movies.iter().flat_map(|m| m.genres.iter().map(String::as_str)));
    vec![
        out_owned("movies.ids", Dtype::U64, ids),
        out_owned("movies.years", Dtype::U16, years),
        out_owned("movies.titles.offsets", Dtype::U64, title_offsets),
        out_owned("movies.titles.bytes", Dtype::U8, title_bytes),
        out_owned("movies.genres.index", Dtype::U64, genre_index),
        out_owned("movies.genres.offsets", Dtype::U64, genre_offsets),
        out_owned("movies.genres.bytes", Dtype::U8, genre_bytes),
    ]
}

fn sections(artifact: &Artifact, version: u32) -> Vec<Out<'_>> {
    let n_users = artifact.users.len();
    let n_items = artifact.items.len();
    let mut res = vec![
        out("users.ids", Dtype::U64, &[n_users], artifact.users.as_slice()),
        out("items.ids", Dtype::U64, &[n_items], artifact.items.as_slice()),
    ];
    res.extend(csr_sections(["seen.indptr", "seen.indices", "seen.values"], &artifact.seen));
    if version >= 2 {
        res.extend(csr_sections(ALSO_SEEN, &artifact.also_seen));
    }
    res.extend(movie_sections(&artifact.movies));
    match &artifact.model {
        TrainedModel::ImplicitAls(m) => {
            let k = m.n_factors();
            res.push(out("als.user_factors", Dtype::F32, &[n_users, k], m.user_factors()));
            res.push(out("als.item_factors", Dtype::F32, &[n_items, k], m.item_factors()));
        }
        TrainedModel::ExplicitAls(m) => {
            let k = m.n_factors();
            let p = m.parts();
            res.push(out("explicit.user_factors", Dtype::F32, &[n_users, k], &p.user_factors));
            res.push(out("explicit.item_factors", Dtype::F32, &[n_items, k], &p.item_factors));
            res.push(out("explicit.user_biases", Dtype::F32, &[n_users], &p.user_biases));
            res.push(out("explicit.item_biases", Dtype::F32, &[n_items], &p.item_biases));
            let scalars = vec![p.global_mean, p.rating_min, p.rating_max];
            res.push(out_owned("explicit.scalars", Dtype::F32, scalars));
        }
        TrainedModel::ItemKnn(m) => {
            res.extend(csr_sections(["knn.indptr", "knn.indices", "knn.values"], m.neighbours()));
        }
        TrainedModel::Ease { model, .. } => {
            res.push(out("ease.weights", Dtype::F32, &[n_items, n_items], model.weights()));
        }
        TrainedModel::Popularity { model, .. } => {
            res.push(out("popularity.scores", Dtype::F32, &[n_items], model.scores()));
        }
        TrainedModel::Blend(m) => {
            res.push(out("ease.weights", Dtype::F32, &[n_items, n_items], m.ease().weights()));
            let k = m.als().n_factors();
            res.push(out("als.user_factors", Dtype::F32, &[n_users, k], m.als().user_factors()));
            res.push(out("als.item_factors", Dtype::F32, &[n_items, k], m.als().item_factors()));
        }
    }
    res
}

fn align(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Xxh3,
    written: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, pos: u64) -> std::io::Result<()> {
        const ZEROS: [u8; ALIGN as usize] = [0; ALIGN as usize];
        debug_assert!(pos >= self.written && pos - self.written < ALIGN);
        let n = (pos - self.written) as usize;
        self.put(&ZEROS[..n])
    }
}

/// The laid-out artifact: header JSON, sections and their positions.
struct Layout<'a> {
    header: Vec<u8>,
    sections: Vec<Out<'a>>,
    offsets: Vec<u64>,
    data_start: u64,
    file_len: u64,
    version: u32,
}

fn layout(artifact: &Artifact, version: u32) -> Result<Layout<'_>, ArtifactError> {
    artifact.check_consistent()?;
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(ArtifactError::UnsupportedVersion { found: version, supported: SUPPORTED_VERSIONS });
    }
    let sections = sections(artifact, version);
    let mut table = Vec::with_capacity(sections.len());
    let mut offsets = Vec::with_capacity(sections.len());
    let mut end = 0u64;
    for s in &sections {
        let offset = align(end);
        end = offset + s.data.len() as u64;
        offsets.push(offset);
        table.push(SectionInfo {
            name: s.name.to_string(),
            dtype: s.dtype,
            shape: s.shape.clone(),
            offset,
            bytes: s.data.len() as u64,
        });
    }
    let model = artifact.recommender();
    let header = Header {
        kind: artifact.model.kind(),
        params: artifact.model.params(),
        n_users: model.n_users() as u64,
        n_items: model.n_items() as u64,
        nnz: artifact.seen.nnz() as u64,
        also_seen_nnz: (version >= 2).then_some(artifact.also_seen.nnz() as u64),
        n_movies: artifact.movies.len() as u64,
        created_at: format_rfc3339(artifact.meta.created_at),
        code_version: artifact.meta.code_version.clone(),
        dataset: artifact.meta.dataset.clone(),
        metrics: artifact.meta.metrics.clone(),
        sections: table,
    };
    let header = serde_json::to_vec(&header).map_err(ArtifactError::Header)?;
    let data_start = align(PREAMBLE_LEN as u64 + header.len() as u64);
    let file_len = data_start + end + TRAILER_LEN as u64;
    Ok(Layout { header, sections, offsets, data_start, file_len, version })
}

/// Writes `artifact` to `out` in the current format version; returns the bytes written.
///
/// Refuses artifacts whose parts disagree ([`Artifact::check_consistent`]). `out` receives a
/// few large writes (one per section); wrap it in a `BufWriter` only if writes are expensive.
pub fn write_artifact(artifact: &Artifact, out: impl Write) -> Result<u64, ArtifactError> {
    let layout = layout(artifact, FORMAT_VERSION)?;
    write_layout(&layout, out)
}

fn write_layout(layout: &Layout<'_>, out: impl Write) -> Result<u64, ArtifactError> {
    let mut w = Hashing { inner: out, hasher: Xxh3::new(), written: 0 };
    let mut preamble = [0u8; PREAMBLE_LEN];
    preamble[0..8].copy_from_slice(&MAGIC);
    preamble[8..12].copy_from_slice(&layout.version.to_le_bytes());
    preamble[16..24].copy_from_slice(&(layout.header.len() as u64).to_le_bytes());
    preamble[24..32].copy_from_slice(&layout.file_len.to_le_bytes());
    w.put(&preamble)?;
    w.put(&layout.header)?;
    for (section, offset) in layout.sections.iter().zip(&layout.offsets) {
        w.pad_to(layout.data_start + offset)?;
        w.put(&section.data)?;
    }
    let checksum = w.hasher.digest();
    w.inner.write_all(&checksum.to_le_bytes())?;
    w.inner.flush()?;
    let written = w.written + TRAILER_LEN as u64;
    debug_assert_eq!(written, layout.file_len);
    Ok(written)
}

/// The artifact as bytes (one allocation of the final size).
pub fn to_bytes(artifact: &Artifact) -> Result<Vec<u8>, ArtifactError> {
    to_bytes_in_version(artifact, FORMAT_VERSION)
}

/// The artifact as bytes of an older supported format version, which leaves out what that
/// version cannot hold (version 1: the also-seen matrix); for upgrade tests and for readers
/// that only know the older version.
pub fn to_bytes_in_version(artifact: &Artifact, version: u32) -> Result<Vec<u8>, ArtifactError> {
    let layout = layout(artifact, version)?;
    let mut res = Vec::with_capacity(layout.file_len as usize);
    write_layout(&layout, &mut res)?;
    Ok(res)
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// What the preamble says, once checked.
struct Preamble {
    version: u32,
    header_len: u64,
    file_len: u64,
}

/// Checks magic, format version, length and checksum: everything that can be checked without
/// the header. [`read_artifact`] and [`read_info`] start with it; stores call it before
/// accepting bytes.
pub fn check_bytes(bytes: &[u8]) -> Result<(), ArtifactError> {
    preamble(bytes).map(|_| ())
}

fn preamble(bytes: &[u8]) -> Result<Preamble, ArtifactError> {
    let len = bytes.len() as u64;
    let head = &bytes[..bytes.len().min(MAGIC.len())];
    if head != &MAGIC[..head.len()] {
        return Err(ArtifactError::BadMagic { found: head.to_vec(), expected: &MAGIC });
    }
    let truncated_preamble = || ArtifactError::Truncated {
        at: len,
        expected: PREAMBLE_LEN as u64,
        part: "the file ends inside the 64-byte preamble",
    };
    if bytes.len() < 12 {
        return Err(truncated_preamble());
    }
    let version = le_u32(bytes, 8);
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(ArtifactError::UnsupportedVersion { found: version, supported: SUPPORTED_VERSIONS });
    }
    if bytes.len() < PREAMBLE_LEN {
        return Err(truncated_preamble());
    }
    let flags = le_u32(bytes, 12);
    if flags != 0 {
        return Err(ArtifactError::HeaderField {
            field: "flags",
            problem: format!("{flags:#x}, expected 0"),
        });
    }
    let header_len = le_u64(bytes, 16);
    let file_len = le_u64(bytes, 24);
    let header_end = (PREAMBLE_LEN as u64).checked_add(header_len);
    let min_len = header_end.and_then(|end| align(end).checked_add(TRAILER_LEN as u64));
    if min_len.is_none_or(|min| file_len < min) {
        return Err(ArtifactError::HeaderField {
            field: "file_len",
            problem: format!("{file_len} bytes cannot hold a header of {header_len} bytes"),
        });
    }
    let header_end = header_end.expect("checked above");
    if len < file_len {
        let part = if len < header_end {
            "the file ends inside the header"
        } else if len < file_len - TRAILER_LEN as u64 {
            "the file ends inside the data sections"
        } else {
            "the file ends inside the checksum"
        };
        return Err(ArtifactError::Truncated { at: len, expected: file_len, part });
    }
    if len > file_len {
        return Err(ArtifactError::TrailingBytes { len, expected: file_len });
    }
    let body = file_len as usize - TRAILER_LEN;
    let expected = le_u64(bytes, body);
    let actual = xxh3_64(&bytes[..body]);
    if expected != actual {
        return Err(ArtifactError::ChecksumMismatch { expected, actual });
    }
    Ok(Preamble { version, header_len, file_len })
}

/// The checked header and the data area it describes.
struct Parsed<'a> {
    header: Header,
    created_at: SystemTime,
    data: &'a [u8],
    version: u32,
    file_len: u64,
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, ArtifactError> {
    let pre = preamble(bytes)?;
    let header_end = PREAMBLE_LEN + pre.header_len as usize;
    let header: Header =
        serde_json::from_slice(&bytes[PREAMBLE_LEN..header_end]).map_err(ArtifactError::Header)?;
    if header.params.kind() != header.kind {
        return Err(ArtifactError::HeaderField {
            field: "kind",
            problem: format!("`{}` but the params are for `{}`", header.kind, header.params.kind()),
        });
    }
    let created_at = parse_rfc3339(&header.created_at).ok_or_else(|| ArtifactError::HeaderField {
        field: "created_at",
        problem: format!("{:?} is not an RFC 3339 UTC time like 2026-11-24T09:15:00Z", header.created_at),
    })?;
    let data_start = align(header_end as u64) as usize;
    let data = &bytes[data_start..pre.file_len as usize - TRAILER_LEN];
    let mut names = std::collections::HashSet::new();
    for s in &header.sections {
        let layout_err = |problem: String| ArtifactError::SectionLayout { name: s.name.clone(), problem };
        if !names.insert(s.name.as_str()) {
            return Err(layout_err("listed twice in the section table".into()));
        }
        if s.offset % ALIGN != 0 {
            return Err(layout_err(format!("offset {} is not a multiple of {ALIGN}", s.offset)));
        }
        let elements = s.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        if elements.and_then(|e| e.checked_mul(s.dtype.size())) != Some(s.bytes) {
            return Err(layout_err(format!(
                "{} bytes do not hold shape {:?} of {}",
                s.bytes, s.shape, s.dtype
            )));
        }
        if s.offset.checked_add(s.bytes).is_none_or(|end| end > data.len() as u64) {
            return Err(layout_err(format!(
                "bytes {}..{} lie outside the data area of {} bytes",
                s.offset,
                s.offset.saturating_add(s.bytes),
                data.len()
            )));
        }
    }
    Ok(Parsed { header, created_at, data, version: pre.version, file_len: pre.file_len })
}

/// Reads the header of an artifact (after checking magic, version, length and checksum)
/// without converting its arrays.
pub fn read_info(bytes: &[u8]) -> Result<ArtifactInfo, ArtifactError> {
    let Parsed { header, created_at, version, file_len, .. } = parse(bytes)?;
    Ok(ArtifactInfo {
        format_version: version,
        size: file_len,
        kind: header.kind,
        params: header.params,
        n_users: header.n_users,
        n_items: header.n_items,
        nnz: header.nnz,
        also_seen_nnz: header.also_seen_nnz,
        n_movies: header.n_movies,
        created_at,
        code_version: header.code_version,
        dataset: header.dataset,
        metrics: header.metrics,
        sections: header.sections,
    })
}

/// Typed access to the sections of a parsed file.
struct Sections<'a> {
    data: &'a [u8],
    table: HashMap<&'a str, &'a SectionInfo>,
}

impl<'a> Sections<'a> {
    /// The bytes of section `name`, checking its dtype and (when given) its shape.
    fn raw(&self, name: &str, dtype: Dtype, shape: Option<&[u64]>) -> Result<&'a [u8], ArtifactError> {
        let s = self.table.get(name).ok_or_else(|| ArtifactError::MissingSection { name: name.into() })?;
        if s.dtype != dtype {
            return Err(ArtifactError::SectionDtype { name: name.into(), expected: dtype, found: s.dtype });
        }
        match shape {
            Some(shape) if s.shape != shape => {
                return Err(ArtifactError::SectionShape {
                    name: name.into(),
                    expected: shape.to_vec(),
                    got: s.shape.clone(),
                });
            }
            None if s.shape.len() != 1 => {
                return Err(ArtifactError::SectionShape {
                    name: name.into(),
                    expected: vec![s.shape.iter().product()],
                    got: s.shape.clone(),
                });
            }
            _ => {}
        }
        Ok(&self.data[s.offset as usize..][..s.bytes as usize])
    }

    fn vec<T: bytemuck::Pod>(
        &self,
        name: &str,
        dtype: Dtype,
        shape: Option<&[u64]>,
    ) -> Result<Vec<T>, ArtifactError> {
        Ok(bytemuck::pod_collect_to_vec(self.raw(name, dtype, shape)?))
    }

    fn f32s(&self, name: &str, shape: Option<&[u64]>) -> Result<Vec<f32>, ArtifactError> {
        self.vec(name, Dtype::F32, shape)
    }

    fn u64s(&self, name: &str, shape: Option<&[u64]>) -> Result<Vec<u64>, ArtifactError> {
        self.vec(name, Dtype::U64, shape)
    }

    fn offsets(&self, name: &str, len: u64) -> Result<Vec<usize>, ArtifactError> {
        let raw = self.u64s(name, Some(&[len]))?;
        if std::mem::size_of::<usize>() == 8 {
            return Ok(bytemuck::allocation::cast_vec(raw));
        }
        raw.into_iter().map(usize::try_from).collect::<Result<_, _>>().map_err(|_| {
            ArtifactError::SectionLayout { name: name.into(), problem: "offset overflows usize".into() }
        })
    }

    /// A CSR stored as `prefix.indptr/indices/values`; the engine checks its invariants.
    fn csr(
        &self,
        names: [&str; 3],
        n_rows: u64,
        n_cols: u64,
        context: &'static str,
    ) -> Result<Csr, ArtifactError> {
        let indptr = self.offsets(names[0], n_rows + 1)?;
        let indices = self.vec::<u32>(names[1], Dtype::U32, None)?;
        let values = self.f32s(names[2], None)?;
        Csr::from_parts(n_rows as usize, n_cols as usize, indptr, indices, values).map_err(engine(context))
    }

    /// `n` strings stored as `prefix.offsets` and `prefix.bytes`.
    fn strings(&self, section: [&'static str; 2], n: u64) -> Result<Vec<String>, ArtifactError> {
        let offsets = self.u64s(section[0], Some(&[n + 1]))?;
        let bytes = self.raw(section[1], Dtype::U8, None)?;
        check_offsets(section[0], &offsets, bytes.len() as u64)?;
        offsets
            .windows(2)
            .enumerate()
            .map(|(index, w)| {
                std::str::from_utf8(&bytes[w[0] as usize..w[1] as usize])
                    .map(str::to_string)
                    .map_err(|_| ArtifactError::InvalidUtf8 { section: section[1], index })
            })
            .collect()
    }
}

/// Offsets must start at 0, never decrease, and end at `end`.
fn check_offsets(name: &str, offsets: &[u64], end: u64) -> Result<(), ArtifactError> {
    let ok = offsets.first() == Some(&0)
        && offsets.last() == Some(&end)
        && offsets.windows(2).all(|w| w[0] <= w[1]);
    if ok {
        Ok(())
    } else {
        Err(ArtifactError::SectionLayout {
            name: name.into(),
            problem: format!("offsets must rise from 0 to {end}"),
        })
    }
}

fn engine(context: &'static str) -> impl FnOnce(EngineError) -> ArtifactError {
    move |source| ArtifactError::Engine { context, source }
}

fn read_movies(s: &Sections<'_>, n: u64) -> Result<Vec<MovieInfo>, ArtifactError> {
    let ids = s.u64s("movies.ids", Some(&[n]))?;
    let years: Vec<u16> = s.vec("movies.years", Dtype::U16, Some(&[n]))?;
    let titles = s.strings(["movies.titles.offsets", "movies.titles.bytes"], n)?;
    let index = s.u64s("movies.genres.index", Some(&[n + 1]))?;
    let n_genres = *index.last().expect("n + 1 entries");
    let genres = s.strings(["movies.genres.offsets", "movies.genres.bytes"], n_genres)?;
    check_offsets("movies.genres.index", &index, genres.len() as u64)?;
    let mut genres = genres.into_iter();
    Ok((0..n as usize)
        .map(|m| MovieInfo {
            movie_id: ids[m],
            title: titles[m].clone(),
            year: Some(years[m]).filter(|&y| y != 0),
            genres: genres.by_ref().take((index[m + 1] - index[m]) as usize).collect(),
        })
        .collect())
}

/// Reads and validates an artifact: preamble, checksum, header, every section's dtype and
/// shape, and the engine's own checks of each rebuilt part.
pub fn read_artifact(bytes: &[u8]) -> Result<Artifact, ArtifactError> {
    let Parsed { header, created_at, data, version, .. } = parse(bytes)?;
    let s = Sections { data, table: header.sections.iter().map(|s| (s.name.as_str(), s)).collect() };
    let (n_users, n_items) = (header.n_users, header.n_items);

    let users =
        IdMap::from_external(s.u64s("users.ids", Some(&[n_users]))?).map_err(engine("user id map"))?;
    let items =
        IdMap::from_external(s.u64s("items.ids", Some(&[n_items]))?).map_err(engine("item id map"))?;
    let seen =
        s.csr(["seen.indptr", "seen.indices", "seen.values"], n_users, n_items, "training interactions")?;
    if seen.nnz() as u64 != header.nnz {
        return Err(ArtifactError::SectionShape {
            name: "seen.indices".into(),
            expected: vec![header.nnz],
            got: vec![seen.nnz() as u64],
        });
    }
    let (also_seen, upgraded_from) = if version >= 2 {
        let also_seen = s.csr(ALSO_SEEN, n_users, n_items, "also-seen ratings")?;
        let expected = header.also_seen_nnz.ok_or(ArtifactError::HeaderField {
            field: "also_seen_nnz",
            problem: format!("missing in a version {version} header"),
        })?;
        if also_seen.nnz() as u64 != expected {
            return Err(ArtifactError::SectionShape {
                name: ALSO_SEEN[1].into(),
                expected: vec![expected],
                got: vec![also_seen.nnz() as u64],
            });
        }
        (also_seen, None)
    } else {
        (Csr::empty(n_users as usize, n_items as usize), Some(version))
    };
    let movies = read_movies(&s, header.n_movies)?;

    let (nu, ni) = (n_users as usize, n_items as usize);
    let model = match header.params.clone() {
        ModelParams::ImplicitAls(params) => {
            let params = params.check().map_err(engine("implicit ALS params"))?;
            let k = params.factors as u64;
            let user_factors = s.f32s("als.user_factors", Some(&[n_users, k]))?;
            let item_factors = s.f32s("als.item_factors", Some(&[n_items, k]))?;
            TrainedModel::ImplicitAls(
                ImplicitAlsModel::from_factors(&params, nu, ni, user_factors, item_factors)
                    .map_err(engine("implicit ALS factors"))?,
            )
        }
        ModelParams::ExplicitAls(params) => {
            let params = params.check().map_err(engine("explicit ALS params"))?;
            let k = params.width() as u64;
            let scalars = s.f32s("explicit.scalars", Some(&[3]))?;
            let parts = ExplicitAlsParts {
                n_users: nu,
                n_items: ni,
                global_mean: scalars[0],
                rating_min: scalars[1],
                rating_max: scalars[2],
                user_factors: s.f32s("explicit.user_factors", Some(&[n_users, k]))?,
                item_factors: s.f32s("explicit.item_factors", Some(&[n_items, k]))?,
                user_biases: s.f32s("explicit.user_biases", Some(&[n_users]))?,
                item_biases: s.f32s("explicit.item_biases", Some(&[n_items]))?,
            };
            TrainedModel::ExplicitAls(
                ExplicitAlsModel::from_parts(&params, parts).map_err(engine("explicit ALS parts"))?,
            )
        }
        ModelParams::ItemKnn(params) => {
            let params = params.check().map_err(engine("item-kNN params"))?;
            let neighbours =
                s.csr(["knn.indptr", "knn.indices", "knn.values"], n_items, n_items, "item-kNN neighbours")?;
            TrainedModel::ItemKnn(
                ItemKnnModel::from_parts(&params, nu, neighbours).map_err(engine("item-kNN neighbours"))?,
            )
        }
        ModelParams::Ease(params) => {
            let params = params.check().map_err(engine("EASE params"))?.into_inner();
            let weights = s.f32s("ease.weights", Some(&[n_items, n_items]))?;
            let model = EaseModel::from_parts(nu, ni, weights).map_err(engine("EASE weights"))?;
            TrainedModel::Ease { model, params }
        }
        ModelParams::Popularity(params) => {
            let params = params.check().map_err(engine("popularity params"))?.into_inner();
            let scores = s.f32s("popularity.scores", Some(&[n_items]))?;
            TrainedModel::Popularity { model: PopularityModel::from_parts(nu, scores), params }
        }
        ModelParams::Blend(params) => {
            let params = params.check().map_err(engine("blend params"))?;
            let weights = s.f32s("ease.weights", Some(&[n_items, n_items]))?;
            let ease = EaseModel::from_parts(nu, ni, weights).map_err(engine("EASE weights"))?;
            let als_params = params.checked_als();
            let k = als_params.factors as u64;
            let user_factors = s.f32s("als.user_factors", Some(&[n_users, k]))?;
            let item_factors = s.f32s("als.item_factors", Some(&[n_items, k]))?;
            let als = ImplicitAlsModel::from_factors(&als_params, nu, ni, user_factors, item_factors)
                .map_err(engine("implicit ALS factors"))?;
            TrainedModel::Blend(BlendModel::from_parts(&params, ease, als).map_err(engine("blend"))?)
        }
    };
    let meta = Metadata {
        created_at,
        code_version: header.code_version,
        dataset: header.dataset,
        metrics: header.metrics,
    };
    let res = Artifact { model, users, items, seen, also_seen, movies, meta, upgraded_from };
    res.check_consistent()?;
    Ok(res)
}
