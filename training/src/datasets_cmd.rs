//! `cinerec datasets ...`: listing, verifying and downloading MovieLens datasets, and writing
//! the synthetic set, over the `datasets` crate.

use std::path::Path;

use serde::Serialize;

use crate::cli::DatasetsCommand;
use crate::data::{self, DATASETS};
use crate::error::{Error, Result};
use crate::output::{self, Table};

/// One line of `cinerec datasets list`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetStatus {
    /// Dataset name.
    pub name: String,
    /// Whether its ratings file is in the data directory.
    pub present: bool,
    /// Where it is (or would be).
    pub path: String,
}

/// The known datasets and whether each is present.
pub fn list(data_dir: &Path) -> Vec<DatasetStatus> {
    DATASETS
        .iter()
        .map(|&name| {
            let found = data::dataset_ratings_path(data_dir, name);
            DatasetStatus {
                name: name.to_owned(),
                present: found.is_ok(),
                path: data_dir.join(name).display().to_string(),
            }
        })
        .collect()
}

/// Runs a `cinerec datasets` subcommand, printing to `out`.
pub fn run(command: &DatasetsCommand, data_dir: &Path, out: &mut dyn std::io::Write) -> Result<()> {
    match command {
        DatasetsCommand::List { format } => {
            let statuses = list(data_dir);
            output::emit(out, *format, &statuses, || {
                let mut t = Table::new(&["dataset", "present", "path"]);
                for s in &statuses {
                    t.push(vec![s.name.clone(), if s.present { "yes" } else { "no" }.into(), s.path.clone()]);
                }
                t
            })
        }
        DatasetsCommand::Verify { name } | DatasetsCommand::Download { name } => {
            data::check_dataset_name(name)?;
            Err(Error::Unavailable("dataset verification and download (datasets crate)".into()))
        }
        DatasetsCommand::Synth { .. } => {
            Err(Error::Unavailable("the synthetic generator (datasets crate)".into()))
        }
    }
}
