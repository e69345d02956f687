//! The peer exchange format: a folder of raw little-endian arrays plus JSON metadata that numpy
//! reads with `np.fromfile` (see `scripts/peer_implicit.py`, which reads and writes the same).
//!
//! ```text
//! DIR/meta.json                      ExchangeMeta: dataset, split, seed, shape, split settings
//! DIR/{train,test,also_seen,fold_in}/...  (fold_in: strong protocol only; its test, also_seen and
//!                                         fold_in rows are the held-out users)
//! DIR/{train,test,also_seen}/meta.json    MatrixMeta: n_users, n_items, nnz, dataset, split, seed
//! DIR/{train,test,also_seen}/indptr.i64   n_users + 1 × i64 (row offsets)
//! DIR/{train,test,also_seen}/indices.i32  nnz × i32 (item indices, strictly increasing in a row)
//! DIR/{train,test,also_seen}/data.f32     nnz × f32 (the stored values: 1.0 for a positive,
//!                                         the rating in also_seen)
//! DIR/runs/<run>/factors.json        FactorsMeta: n_users, n_items, factors
//! DIR/runs/<run>/user_factors.f32    n_users × factors f32, row-major
//! DIR/runs/<run>/item_factors.f32    n_items × factors f32, row-major
//! DIR/runs/<run>/timing.json         the peer's timing (see PeerTiming)
//! ```

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use engine::Csr;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Version written into every JSON file of the format; readers refuse other versions.
/// Version 2 added `also_seen/`: the training ratings below the positive threshold, which both
/// sides' rankings leave out.
pub const FORMAT_VERSION: u32 = 2;

/// Metadata of a whole exchange folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExchangeMeta {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Dataset name (`ml-100k`, `ml-latest-small`, `synth-0.25`, ...).
    pub dataset: String,
    /// Split description, e.g. `holdout(positives >= 4, 20 % per user, users with >= 5)`.
    pub split: String,
    /// The protocol (`holdout`, `temporal`, `strong`); `strong` adds `fold_in/`, and its
    /// `test/`, `also_seen/` and `fold_in/` rows are the held-out users.
    pub protocol: String,
    /// Seed of the split (and of the synthetic generator).
    pub seed: u64,
    /// Rows of both matrices.
    pub n_users: usize,
    /// Columns of both matrices.
    pub n_items: usize,
    /// Entries in `train/`.
    pub train_nnz: usize,
    /// Entries in `test/`.
    pub test_nnz: usize,
}

/// Metadata of one CSR matrix folder (`train/` or `test/`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixMeta {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Rows.
    pub n_users: usize,
    /// Columns.
    pub n_items: usize,
    /// Stored entries.
    pub nnz: usize,
    /// Dataset name.
    pub dataset: String,
    /// Split description.
    pub split: String,
    /// Seed of the split.
    pub seed: u64,
}

/// Metadata of a pair of factor matrices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FactorsMeta {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `f32-le`.
    pub dtype: String,
    /// `row-major`.
    pub order: String,
    /// Rows of the user factors.
    pub n_users: usize,
    /// Rows of the item factors.
    pub n_items: usize,
    /// Columns of both.
    pub factors: usize,
}

/// User and item factor matrices, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    /// Shapes.
    pub meta: FactorsMeta,
    /// `n_users × factors` values.
    pub user: Vec<f32>,
    /// `n_items × factors` values.
    pub item: Vec<f32>,
}

/// What `scripts/peer_implicit.py` writes to `timing.json` (the fields cinerec reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerTiming {
    /// Library name (`implicit`).
    pub library: String,
    /// Library version.
    pub version: String,
    /// Run folder name.
    pub run: String,
    /// Latent factors.
    pub factors: usize,
    /// Iterations per fit.
    pub iterations: usize,
    /// L2 regularization.
    pub regularization: f64,
    /// cinerec-side alpha (the values were `1 + alpha·r`); `None` in implicit-defaults mode.
    pub alpha: Option<f64>,
    /// `cg` or `cholesky`.
    pub solver: String,
    /// Threads.
    pub threads: usize,
    /// Whether implicit ran with its own defaults.
    pub implicit_defaults: bool,
    /// The objective, in words.
    pub objective: String,
    /// Median seconds per iteration over all timed iterations.
    pub seconds_per_iteration: f64,
    /// Every timed iteration's seconds.
    pub iteration_seconds: Vec<f64>,
    /// Peak resident set size of the peer process, in bytes.
    pub peak_rss_bytes: u64,
}

/// The run folder name shared with `peer_implicit.py` (`DIR/runs/<name>`).
pub fn run_name(
    factors: usize,
    solver: &str,
    iterations: usize,
    threads: usize,
    implicit_defaults: bool,
) -> String {
    if implicit_defaults {
        format!("implicit-defaults-t{threads}")
    } else {
        format!("implicit-f{factors}-{solver}-i{iterations}-t{threads}")
    }
}

fn exchange_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Exchange { path: path.to_path_buf(), message: message.into() }
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
    text.push('\n');
    fs_err::write(path, text)?;
    Ok(())
}

/// Reads JSON from `path`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs_err::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|source| Error::Json { path: path.to_path_buf(), source })
}

fn check_version(path: &Path, version: u32) -> Result<()> {
    if version == FORMAT_VERSION {
        Ok(())
    } else {
        Err(exchange_error(path, format!("format_version {version}, expected {FORMAT_VERSION}")))
    }
}

/// Writes `values` as raw little-endian bytes (`N` bytes per value).
fn write_raw<T: Copy, const N: usize>(path: &Path, values: &[T], to_le: impl Fn(T) -> [u8; N]) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, fs_err::File::create(path)?);
    for &v in values {
        out.write_all(&to_le(v))?;
    }
    out.flush()?;
    Ok(())
}

/// Reads a file of raw little-endian values of `N` bytes each; `expected` is their count.
fn read_raw<T, const N: usize>(
    path: &Path,
    expected: usize,
    from_le: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>> {
    let bytes = fs_err::read(path)?;
    if bytes.len() != expected * N {
        return Err(exchange_error(
            path,
            format!("{} bytes, expected {expected} values of {N} bytes = {}", bytes.len(), expected * N),
        ));
    }
    Ok(bytes.chunks_exact(N).map(|c| from_le(c.try_into().expect("chunks_exact yields N bytes"))).collect())
}

/// Writes a CSR matrix folder (`indptr.i64`, `indices.i32`, `data.f32`, `meta.json`).
pub fn write_csr(dir: &Path, matrix: &Csr, dataset: &str, split: &str, seed: u64) -> Result<MatrixMeta> {
    fs_err::create_dir_all(dir)?;
    if matrix.n_cols() > i32::MAX as usize {
        return Err(exchange_error(dir, format!("{} items do not fit i32 indices", matrix.n_cols())));
    }
    write_raw(&dir.join("indptr.i64"), matrix.indptr(), |v| (v as i64).to_le_bytes())?;
    write_raw(&dir.join("indices.i32"), matrix.indices(), |v| (v as i32).to_le_bytes())?;
    write_raw(&dir.join("data.f32"), matrix.values(), f32::to_le_bytes)?;
    let meta = MatrixMeta {
        format_version: FORMAT_VERSION,
        n_users: matrix.n_rows(),
        n_items: matrix.n_cols(),
        nnz: matrix.nnz(),
        dataset: dataset.to_owned(),
        split: split.to_owned(),
        seed,
    };
    write_json(&dir.join("meta.json"), &meta)?;
    Ok(meta)
}

/// Reads a CSR matrix folder, checking every invariant of [`Csr::from_parts`].
pub fn read_csr(dir: &Path) -> Result<(Csr, MatrixMeta)> {
    let meta_path = dir.join("meta.json");
    let meta: MatrixMeta = read_json(&meta_path)?;
    check_version(&meta_path, meta.format_version)?;
    let indptr_path = dir.join("indptr.i64");
    let indptr = read_raw(&indptr_path, meta.n_users + 1, i64::from_le_bytes)?
        .into_iter()
        .map(|v| usize::try_from(v).map_err(|_| exchange_error(&indptr_path, format!("negative offset {v}"))))
        .collect::<Result<Vec<usize>>>()?;
    let indices_path = dir.join("indices.i32");
    let indices = read_raw(&indices_path, meta.nnz, i32::from_le_bytes)?
        .into_iter()
        .map(|v| u32::try_from(v).map_err(|_| exchange_error(&indices_path, format!("negative index {v}"))))
        .collect::<Result<Vec<u32>>>()?;
    let values = read_raw(&dir.join("data.f32"), meta.nnz, f32::from_le_bytes)?;
    let matrix = Csr::from_parts(meta.n_users, meta.n_items, indptr, indices, values)
        .map_err(|source| Error::ExchangeMatrix { path: dir.to_path_buf(), source })?;
    Ok((matrix, meta))
}

/// Writes a pair of factor matrices (`user_factors.f32`, `item_factors.f32`, `factors.json`).
pub fn write_factors(dir: &Path, factors: usize, user: &[f32], item: &[f32]) -> Result<FactorsMeta> {
    if factors == 0 || !user.len().is_multiple_of(factors) || !item.len().is_multiple_of(factors) {
        return Err(exchange_error(
            dir,
            format!(
                "factor arrays of {} and {} values do not have {factors} columns",
                user.len(),
                item.len()
            ),
        ));
    }
    fs_err::create_dir_all(dir)?;
    write_raw(&dir.join("user_factors.f32"), user, f32::to_le_bytes)?;
    write_raw(&dir.join("item_factors.f32"), item, f32::to_le_bytes)?;
    let meta = FactorsMeta {
        format_version: FORMAT_VERSION,
        dtype: "f32-le".into(),
        order: "row-major".into(),
        n_users: user.len() / factors,
        n_items: item.len() / factors,
        factors,
    };
    write_json(&dir.join("factors.json"), &meta)?;
    Ok(meta)
}

/// Reads a pair of factor matrices.
pub fn read_factors(dir: &Path) -> Result<Factors> {
    let meta_path = dir.join("factors.json");
    let meta: FactorsMeta = read_json(&meta_path)?;
    check_version(&meta_path, meta.format_version)?;
    if meta.dtype != "f32-le" || meta.order != "row-major" {
        return Err(exchange_error(
            &meta_path,
            format!("{} {}, expected f32-le row-major", meta.dtype, meta.order),
        ));
    }
    let user = read_raw(&dir.join("user_factors.f32"), meta.n_users * meta.factors, f32::from_le_bytes)?;
    let item = read_raw(&dir.join("item_factors.f32"), meta.n_items * meta.factors, f32::from_le_bytes)?;
    Ok(Factors { meta, user, item })
}

/// The paths of an exchange folder.
#[derive(Clone, Debug)]
pub struct ExchangeDir {
    /// The folder.
    pub root: PathBuf,
}

impl ExchangeDir {
    /// Wraps a folder path.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `meta.json`.
    pub fn meta(&self) -> PathBuf {
        self.root.join("meta.json")
    }

    /// The training matrix folder.
    pub fn train(&self) -> PathBuf {
        self.root.join("train")
    }

    /// The test matrix folder.
    pub fn test(&self) -> PathBuf {
        self.root.join("test")
    }

    /// The folder of the other rated movies (training ratings that are not positives).
    pub fn also_seen(&self) -> PathBuf {
        self.root.join("also_seen")
    }

    /// The held-out users' fold-in histories (`strong` only).
    pub fn fold_in(&self) -> PathBuf {
        self.root.join("fold_in")
    }

    /// A run's folder.
    pub fn run(&self, name: &str) -> PathBuf {
        self.root.join("runs").join(name)
    }

    /// Reads and checks `meta.json`.
    pub fn read_meta(&self) -> Result<ExchangeMeta> {
        let path = self.meta();
        if !path.exists() {
            return Err(exchange_error(
                &self.root,
                "no meta.json: not an exchange folder (run `cinerec peer prepare`)",
            ));
        }
        let meta: ExchangeMeta = read_json(&path)?;
        check_version(&path, meta.format_version)?;
        Ok(meta)
    }
}
