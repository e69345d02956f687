//! `cinerec models list | inspect | copy | prune`: the versions in a model store.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use serde::Serialize;

use crate::cli::{Format, ModelsCommand};
use crate::error::Result;
use crate::output::{self, Table, bytes, count, num};
use crate::store::Store;

/// One line of `cinerec models list`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelLine {
    /// The version id.
    pub version: String,
    /// When it was created (UTC, from the id).
    pub created: String,
    /// Artifact size in bytes.
    pub size_bytes: u64,
    /// Whether `LATEST` points at it.
    pub latest: bool,
}

/// A section of an inspected artifact.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SectionLine {
    /// Section name.
    pub name: String,
    /// Element type.
    pub dtype: String,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Bytes.
    pub bytes: u64,
}

/// The result of `cinerec models inspect`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Inspection {
    /// The version id.
    pub version: String,
    /// The store.
    pub store: String,
    /// Whether `LATEST` points at it.
    pub latest: bool,
    /// Model kind.
    pub kind: String,
    /// Hyperparameters.
    pub params: serde_json::Value,
    /// What it was trained on.
    pub dataset: String,
    /// When it was trained (UTC).
    pub created: String,
    /// The code that trained it.
    pub code_version: String,
    /// File format version.
    pub format_version: u32,
    /// Users.
    pub n_users: u64,
    /// Movies of the model.
    pub n_items: u64,
    /// Training interactions.
    pub nnz: u64,
    /// Other rated movies, seen but not learned from (absent in format v1).
    pub also_seen_nnz: Option<u64>,
    /// Movies in the catalogue.
    pub n_movies: u64,
    /// Evaluation metrics.
    pub metrics: BTreeMap<String, f64>,
    /// File size in bytes.
    pub size_bytes: u64,
    /// The largest sections first.
    pub sections: Vec<SectionLine>,
    /// Seconds reading the bytes (file read or S3 GET).
    pub fetch_seconds: f64,
    /// Seconds validating and decoding them into a model.
    pub decode_seconds: f64,
}

/// The result of `cinerec models copy`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Copied {
    /// The version read.
    pub from_version: String,
    /// The store read.
    pub from: String,
    /// The new version written.
    pub to_version: String,
    /// The store written.
    pub to: String,
    /// Bytes copied.
    pub size_bytes: u64,
    /// Seconds reading.
    pub fetch_seconds: f64,
    /// Seconds writing (checksum check, upload, `LATEST` update).
    pub put_seconds: f64,
}

/// Copies `version` of `from` into `to` as a new version (the bytes are checked before the
/// upload, as every `put` does).
pub fn copy(from: &Store, version: &str, to: &Store) -> Result<Copied> {
    let version = from.resolve(Some(version))?;
    let start = Instant::now();
    let raw = from.fetch(&version)?;
    let fetch_seconds = start.elapsed().as_secs_f64();
    let size_bytes = raw.len() as u64;
    let start = Instant::now();
    let to_version = to.put(raw)?;
    Ok(Copied {
        from_version: version.to_string(),
        from: from.uri(),
        to_version: to_version.to_string(),
        to: to.uri(),
        size_bytes,
        fetch_seconds,
        put_seconds: start.elapsed().as_secs_f64(),
    })
}

/// The versions of `store`, oldest first.
pub fn list(store: &Store) -> Result<Vec<ModelLine>> {
    let latest = store.latest()?;
    Ok(store
        .list()?
        .into_iter()
        .map(|v| ModelLine {
            created: artifacts::format_rfc3339(v.created),
            size_bytes: v.size,
            latest: Some(&v.version) == latest.as_ref(),
            version: v.version.to_string(),
        })
        .collect())
}

/// Reads, validates and decodes one version (`latest` for the newest), timing the load.
pub fn inspect(store: &Store, version: &str) -> Result<Inspection> {
    let version = store.resolve(Some(version))?;
    let start = Instant::now();
    let raw = store.fetch(&version)?;
    let fetch_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let artifact = store.decode(&version, &raw)?;
    let decode_seconds = start.elapsed().as_secs_f64();
    drop(artifact);
    let info = store.info(&version, &raw)?;
    let mut sections: Vec<SectionLine> = info
        .sections
        .iter()
        .map(|s| SectionLine {
            name: s.name.clone(),
            dtype: s.dtype.to_string(),
            shape: s.shape.clone(),
            bytes: s.bytes,
        })
        .collect();
    sections.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    Ok(Inspection {
        latest: store.latest()?.as_ref() == Some(&version),
        version: version.to_string(),
        store: store.uri(),
        kind: info.kind.to_string(),
        params: output::params_json(&info.params),
        dataset: info.dataset,
        created: artifacts::format_rfc3339(info.created_at),
        code_version: info.code_version,
        format_version: info.format_version,
        n_users: info.n_users,
        n_items: info.n_items,
        nnz: info.nnz,
        also_seen_nnz: info.also_seen_nnz,
        n_movies: info.n_movies,
        metrics: info.metrics,
        size_bytes: info.size,
        sections,
        fetch_seconds,
        decode_seconds,
    })
}

/// Runs a `cinerec models` subcommand, printing to `out`.
pub fn run(command: &ModelsCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        ModelsCommand::List { store, format } => {
            let store = Store::from_args(store)?;
            let lines = list(&store)?;
            if *format == Format::Table && lines.is_empty() {
                writeln!(out, "no models in {}", store.uri())?;
                return Ok(());
            }
            output::emit(out, *format, &lines, || {
                let mut t = Table::new(&["version", "created", "size", "latest"]);
                for l in &lines {
                    let latest = if l.latest { "LATEST" } else { "" };
                    t.push(vec![l.version.clone(), l.created.clone(), bytes(l.size_bytes), latest.into()]);
                }
                t
            })
        }
        ModelsCommand::Inspect { version, store, format } => {
            let store = Store::from_args(store)?;
            let i = inspect(&store, version)?;
            if *format == Format::Json {
                return output::emit(out, *format, &i, Table::default);
            }
            let metrics = if i.metrics.is_empty() {
                "-".to_owned()
            } else {
                i.metrics
                    .iter()
                    .map(|(k, v)| format!("{k} {}", output::metric(k, *v)))
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            let largest: Vec<String> =
                i.sections.iter().take(4).map(|s| format!("{} {}", s.name, bytes(s.bytes))).collect();
            output::pairs(
                out,
                &[
                    ("version", format!("{}{}", i.version, if i.latest { " (LATEST)" } else { "" })),
                    ("store", i.store.clone()),
                    ("kind", i.kind.clone()),
                    ("params", output::params_text(&i.params)),
                    ("data", i.dataset.clone()),
                    ("created", i.created.clone()),
                    ("code", i.code_version.clone()),
                    (
                        "counts",
                        format!(
                            "{} users × {} movies, {} training interactions, {} other rated movies, \
                             {} movies in the catalogue",
                            count(i.n_users),
                            count(i.n_items),
                            count(i.nnz),
                            i.also_seen_nnz.map_or("unrecorded (format v1)".into(), count),
                            count(i.n_movies)
                        ),
                    ),
                    ("metrics", metrics),
                    (
                        "size",
                        format!(
                            "{} (format v{}, {} sections; largest: {})",
                            bytes(i.size_bytes),
                            i.format_version,
                            i.sections.len(),
                            largest.join(", ")
                        ),
                    ),
                    (
                        "load",
                        format!(
                            "{} s: fetch {} s + validate and decode {} s",
                            num(Some(i.fetch_seconds + i.decode_seconds), 3),
                            num(Some(i.fetch_seconds), 3),
                            num(Some(i.decode_seconds), 3)
                        ),
                    ),
                ],
            )
        }
        ModelsCommand::Copy { version, store, to, format } => {
            let c =
                copy(&Store::from_args(store)?, version, &Store::open(to, store.s3.connection().as_ref())?)?;
            if *format == Format::Json {
                return output::emit(out, *format, &c, Table::default);
            }
            writeln!(
                out,
                "copied {} ({}) from {} to {} as {}: read {} s, write {} s",
                c.from_version,
                bytes(c.size_bytes),
                c.from,
                c.to,
                c.to_version,
                num(Some(c.fetch_seconds), 2),
                num(Some(c.put_seconds), 2)
            )?;
            Ok(())
        }
        ModelsCommand::Prune { keep, store, format } => {
            let store = Store::from_args(store)?;
            let removed: Vec<String> = store.prune(*keep)?.iter().map(ToString::to_string).collect();
            if *format == Format::Json {
                return output::emit(
                    out,
                    *format,
                    &serde_json::json!({ "removed": removed }),
                    Table::default,
                );
            }
            let kept = store.list()?.len();
            writeln!(out, "removed {} version(s) from {}, kept {kept}", removed.len(), store.uri())?;
            for v in &removed {
                writeln!(out, "  {v}")?;
            }
            Ok(())
        }
    }
}
