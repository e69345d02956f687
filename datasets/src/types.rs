//! Records read from MovieLens files and the report of a lenient parse.

use crate::error::DatasetError;

/// One rating event, with MovieLens's own (sparse) ids.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rating {
    /// MovieLens user id.
    pub user_id: u64,
    /// MovieLens movie id.
    pub movie_id: u64,
    /// Stars, `0.5..=5.0` (whole stars only in ml-100k and ml-1m).
    pub rating: f32,
    /// Unix seconds.
    pub timestamp: i64,
}

/// One catalogue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movie {
    /// MovieLens movie id.
    pub movie_id: u64,
    /// The title as the file gives it (year included), decoded to UTF-8 and trimmed.
    pub title: String,
    /// The year in the title's trailing `(1995)`; for ml-100k the release date's year when the
    /// title has none.
    pub year: Option<u16>,
    /// Genre names (`Action`, `Children's`, `Sci-Fi`, ...); empty for `(no genres listed)` and
    /// for ml-100k's `unknown` genre.
    pub genres: Vec<String>,
}

/// What to do with a malformed line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParseMode {
    /// Stop at the first malformed line with its error.
    #[default]
    Strict,
    /// Skip malformed lines and report them in [`Parsed`] (a wrong header, invalid I/O and
    /// unreadable files are still errors).
    Lenient,
}

/// A line skipped by a lenient parse.
#[derive(Debug)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: u64,
    /// Why it was skipped (the error a strict parse would have returned).
    pub error: DatasetError,
}

/// How many of the skipped lines a [`Skipped`] report keeps in detail.
pub const MAX_REPORTED_SKIPS: usize = 1000;

/// The malformed lines a lenient parse skipped.
#[derive(Debug, Default)]
pub struct Skipped {
    /// How many lines were skipped.
    pub count: u64,
    /// The first [`MAX_REPORTED_SKIPS`] of them, in file order.
    pub lines: Vec<SkippedLine>,
}

impl Skipped {
    /// Records one skipped line (keeping details for the first [`MAX_REPORTED_SKIPS`]).
    pub fn push(&mut self, line: u64, error: DatasetError) {
        self.count += 1;
        if self.lines.len() < MAX_REPORTED_SKIPS {
            self.lines.push(SkippedLine { line, error });
        }
    }

    /// Whether nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The records of a file and the lines skipped on the way.
#[derive(Debug)]
pub struct Parsed<T> {
    /// The well-formed records, in file order.
    pub records: Vec<T>,
    /// The malformed lines (always empty in [`ParseMode::Strict`]).
    pub skipped: Skipped,
}
