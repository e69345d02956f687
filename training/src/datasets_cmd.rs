//! `cinerec datasets ...`: listing, verifying and downloading MovieLens datasets, and writing
//! the synthetic set, over the `datasets` crate.

use std::io::Write;
use std::path::Path;

use datasets::{DatasetName, Downloader, Presence, synth};
use serde::Serialize;

use crate::cli::{DatasetsCommand, Format};
use crate::data;
use crate::error::{Error, Result};
use crate::output::{self, Table};

/// One line of `cinerec datasets list`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetLine {
    /// Dataset name.
    pub name: String,
    /// `missing`, `unrecorded` (copied by hand), `verified` or `damaged: <reason>`.
    pub presence: String,
    /// Its folder, when present.
    pub dir: Option<String>,
    /// The official archive.
    pub url: String,
}

/// The known datasets and how each is present in `data_dir`.
pub fn list(data_dir: &Path) -> Result<Vec<DatasetLine>> {
    Ok(datasets::statuses(data_dir)?
        .into_iter()
        .map(|s| DatasetLine {
            name: s.name.to_string(),
            presence: match s.presence {
                Presence::Missing => "missing".into(),
                Presence::Unrecorded => "unrecorded".into(),
                Presence::Verified => "verified".into(),
                Presence::Damaged { reason } => format!("damaged: {reason}"),
            },
            dir: s.dir.map(|d| d.display().to_string()),
            url: s.name.url(),
        })
        .collect())
}

/// One file of `cinerec datasets verify`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifiedFile {
    /// File name.
    pub file: String,
    /// Expected sha256.
    pub expected: String,
    /// Actual sha256 (`None`: missing).
    pub actual: Option<String>,
    /// Whether they agree.
    pub ok: bool,
}

/// Runs a `cinerec datasets` subcommand, printing to `out`.
pub fn run(command: &DatasetsCommand, data_dir: &Path, progress: bool, out: &mut dyn Write) -> Result<()> {
    match command {
        DatasetsCommand::List { format } => {
            let lines = list(data_dir)?;
            output::emit(out, *format, &lines, || {
                let mut t = Table::new(&["dataset", "presence", "folder"]);
                for l in &lines {
                    t.push(vec![
                        l.name.clone(),
                        l.presence.clone(),
                        l.dir.clone().unwrap_or_else(|| "-".into()),
                    ]);
                }
                t
            })
        }
        DatasetsCommand::Verify { name, format } => {
            let name: DatasetName = data::dataset_name(name)?;
            let report = datasets::verify(data_dir, name)?;
            let files: Vec<VerifiedFile> = report
                .files
                .iter()
                .map(|f| VerifiedFile {
                    file: f.file.clone(),
                    expected: f.expected_sha256.clone(),
                    actual: f.actual_sha256.clone(),
                    ok: f.is_ok(),
                })
                .collect();
            output::emit(out, *format, &files, || {
                let mut t = Table::new(&["file", "sha256", "status"]);
                for f in &files {
                    let status = match (&f.actual, f.ok) {
                        (_, true) => "ok".to_owned(),
                        (None, _) => "missing".to_owned(),
                        (Some(actual), _) => format!("MISMATCH (got {actual})"),
                    };
                    t.push(vec![f.file.clone(), f.expected.clone(), status]);
                }
                t
            })?;
            if report.is_ok() {
                Ok(())
            } else if report.files.is_empty() {
                Err(Error::Usage(format!("{name}: no file with a known or recorded checksum to verify")))
            } else {
                Err(Error::Usage(format!(
                    "{name} in {}: {} file(s) do not match",
                    report.dir.display(),
                    report.mismatches().count()
                )))
            }
        }
        DatasetsCommand::Download { name } => {
            let name: DatasetName = data::dataset_name(name)?;
            let bar = output::bar(progress, 0, format!("downloading {name}"));
            let progress_bar = bar.clone();
            let downloader = Downloader::new(data_dir).progress(move |p| {
                if let Some(total) = p.total {
                    progress_bar.set_length(total);
                }
                progress_bar.set_position(p.received);
            });
            let done = downloader.download(name);
            bar.finish_and_clear();
            let done = done?;
            let verb = if done.fetched { "downloaded and verified" } else { "already present and verified" };
            writeln!(out, "{name}: {verb} in {} ({} files)", done.dir.display(), done.files.len())?;
            Ok(())
        }
        DatasetsCommand::Synth { scale, seed, out: path } => {
            let shape = data::synth_shape(*scale, *seed)?;
            synth::write_ratings_csv_file(&shape, path)?;
            writeln!(
                out,
                "{}: {} users × {} items, {} ratings (seed {seed}) -> {}",
                data::synth_name(*scale),
                shape.n_users(),
                shape.n_items(),
                shape.n_ratings(),
                path.display()
            )?;
            Ok(())
        }
    }
}

/// The format of a `datasets` subcommand (for progress decisions).
pub fn format_of(command: &DatasetsCommand) -> Format {
    match command {
        DatasetsCommand::List { format } | DatasetsCommand::Verify { format, .. } => *format,
        _ => Format::Table,
    }
}
