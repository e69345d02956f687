//! Parsers over `impl BufRead` for every MovieLens ratings and movies format.
//!
//! Each parser reads line by line into reused buffers, decodes latin-1 files to UTF-8 itself,
//! skips blank lines, accepts LF or CRLF endings and a UTF-8 byte-order mark, and names the file,
//! 1-based line, field and text of anything malformed.

use std::io::BufRead;

use crate::catalog::{Encoding, MoviesFormat, RatingsFormat};
use crate::csv::{CsvProblem, CsvRecord};
use crate::error::{DatasetError, FieldProblem, Result};
use crate::types::{Movie, ParseMode, Parsed, Rating, Skipped};

/// The header row of ml-20m and later `ratings.csv`.
pub const RATINGS_CSV_HEADER: &str = "userId,movieId,rating,timestamp";

/// The header row of ml-20m and later `movies.csv`.
pub const MOVIES_CSV_HEADER: &str = "movieId,title,genres";

/// The 19 genres of ml-100k `u.item` flags, in `u.genre` order.
pub const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// The genres value of a movie without genres in ml-20m and later.
pub const NO_GENRES: &str = "(no genres listed)";

/// The allowed rating range, as shown in errors.
const RATING_RANGE: &str = "0.5..=5.0";

/// A quoted CSV field may span at most this many lines (MovieLens files have none that span two).
const MAX_RECORD_LINES: u64 = 8;

/// Parses a whole ratings file. `file` names the source in errors (e.g. `ml-100k/u.data`).
pub fn parse_ratings(
    reader: impl BufRead,
    format: RatingsFormat,
    file: &str,
    mode: ParseMode,
) -> Result<Parsed<Rating>> {
    let mut records = Vec::new();
    let skipped = read_ratings(reader, format, file, mode, |rating| records.push(rating))?;
    Ok(Parsed { records, skipped })
}

/// Streams the ratings of a file into `sink`, without collecting them (for large files).
pub fn read_ratings(
    reader: impl BufRead,
    format: RatingsFormat,
    file: &str,
    mode: ParseMode,
    sink: impl FnMut(Rating),
) -> Result<Skipped> {
    match format {
        RatingsFormat::Tab => {
            drive(reader, file, Encoding::Utf8, mode, None, |line, n| split_rating(file, n, line, "\t"), sink)
        }
        RatingsFormat::Dat => {
            drive(reader, file, Encoding::Utf8, mode, None, |line, n| split_rating(file, n, line, "::"), sink)
        }
        RatingsFormat::Csv => {
            let mut record = CsvRecord::new();
            drive(
                reader,
                file,
                Encoding::Utf8,
                mode,
                Some(RATINGS_CSV_HEADER),
                |line, n| {
                    if !split_csv(&mut record, file, n, line)? {
                        return Ok(None);
                    }
                    check_count(file, n, record.len(), 4, ",")?;
                    let field = |i| record.get(i).unwrap_or_default();
                    rating_from_fields(file, n, [field(0), field(1), field(2), field(3)]).map(Some)
                },
                sink,
            )
        }
    }
}

/// Parses a whole movies file. `file` names the source in errors (e.g. `ml-100k/u.item`).
pub fn parse_movies(
    reader: impl BufRead,
    format: MoviesFormat,
    file: &str,
    mode: ParseMode,
) -> Result<Parsed<Movie>> {
    let mut records = Vec::new();
    let sink = |movie| records.push(movie);
    let skipped = match format {
        MoviesFormat::Ml100kItem => drive(
            reader,
            file,
            Encoding::Latin1,
            mode,
            None,
            |line, n| ml100k_movie(file, n, line).map(Some),
            sink,
        ),
        MoviesFormat::Dat(encoding) => {
            drive(reader, file, encoding, mode, None, |line, n| dat_movie(file, n, line).map(Some), sink)
        }
        MoviesFormat::Csv => {
            let mut record = CsvRecord::new();
            drive(
                reader,
                file,
                Encoding::Utf8,
                mode,
                Some(MOVIES_CSV_HEADER),
                |line, n| {
                    if !split_csv(&mut record, file, n, line)? {
                        return Ok(None);
                    }
                    check_count(file, n, record.len(), 3, ",")?;
                    let field = |i| record.get(i).unwrap_or_default();
                    movie_from_fields(file, n, field(0), field(1), field(2)).map(Some)
                },
                sink,
            )
        }
    }?;
    Ok(Parsed { records, skipped })
}

pub use contract::year_from_title;

/// Reads lines, checks the header, re-joins CSV records that span lines, and applies `mode`.
///
/// `parse` returns `Ok(None)` when the record is incomplete (an open quote), and is then called
/// again with the next line appended.
fn drive<T>(
    reader: impl BufRead,
    file: &str,
    encoding: Encoding,
    mode: ParseMode,
    header: Option<&'static str>,
    mut parse: impl FnMut(&str, u64) -> Result<Option<T>>,
    mut sink: impl FnMut(T),
) -> Result<Skipped> {
    let mut lines = Lines { reader, encoding, bytes: Vec::new(), text: String::new(), line: 0 };
    let mut skipped = Skipped::default();
    let mut reject = |line: u64, err: DatasetError| match mode {
        ParseMode::Strict => Err(err),
        ParseMode::Lenient => {
            skipped.push(line, err);
            Ok(())
        }
    };
    let mut header_seen = header.is_none();
    let mut pending = String::new();
    let mut pending_start = 0;
    while let Some((line_no, decoded)) = lines.next_line(file)? {
        let text = match decoded {
            Ok(text) => text,
            Err(problem) => {
                pending.clear();
                reject(line_no, DatasetError::Line { file: file.to_owned(), line: line_no, problem })?;
                continue;
            }
        };
        if let (false, Some(expected)) = (header_seen, header) {
            if text.trim().is_empty() {
                continue;
            }
            if text != expected {
                return Err(header_error(file, line_no, expected, text));
            }
            header_seen = true;
            continue;
        }
        let continued = !pending.is_empty();
        if !continued && text.trim().is_empty() {
            continue;
        }
        if continued {
            pending.push('\n');
            pending.push_str(text);
        }
        let start = if continued { pending_start } else { line_no };
        match parse(if continued { &pending } else { text }, start) {
            Ok(Some(record)) => {
                sink(record);
                pending.clear();
            }
            Ok(None) => {
                if !continued {
                    pending.push_str(text);
                    pending_start = line_no;
                }
                if line_no + 1 - pending_start >= MAX_RECORD_LINES {
                    pending.clear();
                    let problem = format!("a quoted field is not closed within {MAX_RECORD_LINES} lines");
                    reject(start, DatasetError::Line { file: file.to_owned(), line: start, problem })?;
                }
            }
            Err(err) => {
                pending.clear();
                reject(start, err)?;
            }
        }
    }
    if !pending.is_empty() {
        let problem = "a quoted field is not closed at the end of the file".to_owned();
        reject(pending_start, DatasetError::Line { file: file.to_owned(), line: pending_start, problem })?;
    }
    if let (false, Some(expected)) = (header_seen, header) {
        return Err(header_error(file, lines.line.max(1), expected, ""));
    }
    Ok(skipped)
}

fn header_error(file: &str, line: u64, expected: &'static str, found: &str) -> DatasetError {
    DatasetError::Header { file: file.to_owned(), line, expected, found: found.to_owned() }
}

/// A line reader with reused buffers that decodes each line.
struct Lines<R> {
    reader: R,
    encoding: Encoding,
    bytes: Vec<u8>,
    text: String,
    /// Number of lines read so far (the current line's 1-based number).
    line: u64,
}

impl<R: BufRead> Lines<R> {
    /// The next line's number and text without its line break (or why it cannot be decoded);
    /// `None` at the end.
    fn next_line(&mut self, file: &str) -> Result<Option<(u64, Result<&str, String>)>> {
        self.bytes.clear();
        let n = self.reader.read_until(b'\n', &mut self.bytes).map_err(|err| {
            std::io::Error::new(err.kind(), format!("{file}:{}: read failed: {err}", self.line + 1))
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let mut bytes = self.bytes.as_slice();
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if self.line == 1 {
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        let latin1 = |text: &mut String| {
            text.clear();
            text.extend(bytes.iter().map(|&b| char::from(b)));
        };
        let line = self.line;
        Ok(Some((
            line,
            match (self.encoding, std::str::from_utf8(bytes)) {
                (Encoding::Latin1, _) => {
                    latin1(&mut self.text);
                    Ok(self.text.as_str())
                }
                (Encoding::Utf8 | Encoding::Utf8OrLatin1, Ok(text)) => Ok(text),
                (Encoding::Utf8OrLatin1, Err(_)) => {
                    latin1(&mut self.text);
                    Ok(self.text.as_str())
                }
                (Encoding::Utf8, Err(err)) => Err(format!("invalid UTF-8 at byte {}", err.valid_up_to() + 1)),
            },
        )))
    }
}

/// Splits a CSV record; `Ok(false)` when a quoted field continues on the next line.
fn split_csv(record: &mut CsvRecord, file: &str, line: u64, text: &str) -> Result<bool> {
    match record.parse(text) {
        Ok(()) => Ok(true),
        Err(CsvProblem::UnterminatedQuote { .. }) => Ok(false),
        Err(problem) => Err(DatasetError::Line { file: file.to_owned(), line, problem: problem.to_string() }),
    }
}

fn check_count(file: &str, line: u64, found: usize, expected: usize, separator: &'static str) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(DatasetError::FieldCount { file: file.to_owned(), line, expected, found, separator })
    }
}

/// Splits `line` into exactly `N` fields at `separator`.
fn split_exact<'a, const N: usize>(
    file: &str,
    line_no: u64,
    line: &'a str,
    separator: &'static str,
) -> Result<[&'a str; N]> {
    let mut fields = [""; N];
    let mut found = 0;
    for (i, field) in line.split(separator).enumerate() {
        if let Some(slot) = fields.get_mut(i) {
            *slot = field;
        }
        found = i + 1;
    }
    check_count(file, line_no, found, N, separator)?;
    Ok(fields)
}

fn split_rating(file: &str, line_no: u64, line: &str, separator: &'static str) -> Result<Option<Rating>> {
    let fields = split_exact::<4>(file, line_no, line, separator)?;
    rating_from_fields(file, line_no, fields).map(Some)
}

fn field_error(
    file: &str,
    line: u64,
    field: &'static str,
    text: &str,
    problem: FieldProblem,
) -> DatasetError {
    DatasetError::Field { file: file.to_owned(), line, field, text: text.to_owned(), problem }
}

fn parse_number<T: std::str::FromStr>(file: &str, line: u64, field: &'static str, text: &str) -> Result<T> {
    text.parse().map_err(|_| field_error(file, line, field, text, FieldProblem::NotANumber))
}

fn rating_from_fields(file: &str, line: u64, [user, movie, rating, timestamp]: [&str; 4]) -> Result<Rating> {
    let user_id = parse_number(file, line, "user_id", user)?;
    let movie_id = parse_number(file, line, "movie_id", movie)?;
    let value: f32 = parse_number(file, line, "rating", rating)?;
    if !(0.5..=5.0).contains(&value) {
        let problem = FieldProblem::OutOfRange { allowed: RATING_RANGE };
        return Err(field_error(file, line, "rating", rating, problem));
    }
    let timestamp = parse_number(file, line, "timestamp", timestamp)?;
    Ok(Rating { user_id, movie_id, rating: value, timestamp })
}

fn checked_title(file: &str, line: u64, title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(field_error(file, line, "title", title, FieldProblem::Empty));
    }
    Ok(title.to_owned())
}

fn genre_list(genres: &str) -> Vec<String> {
    genres
        .split('|')
        .map(str::trim)
        .filter(|genre| !genre.is_empty() && *genre != NO_GENRES)
        .map(str::to_owned)
        .collect()
}

fn movie_from_fields(file: &str, line: u64, id: &str, title: &str, genres: &str) -> Result<Movie> {
    let movie_id = parse_number(file, line, "movie_id", id)?;
    let title = checked_title(file, line, title)?;
    Ok(Movie { movie_id, year: year_from_title(&title), title, genres: genre_list(genres) })
}

/// `MovieID::Title::Genres`; the title is what lies between the first and the last `::`.
fn dat_movie(file: &str, line_no: u64, line: &str) -> Result<Movie> {
    match (line.split_once("::"), line.rsplit_once("::")) {
        (Some((id, _)), Some((head, genres))) if head.len() > id.len() => {
            movie_from_fields(file, line_no, id, &head[id.len() + 2..], genres)
        }
        _ => Err(DatasetError::FieldCount {
            file: file.to_owned(),
            line: line_no,
            expected: 3,
            found: line.split("::").count(),
            separator: "::",
        }),
    }
}

/// `id|title|release date|video release date|IMDb URL|` then 19 genre flags.
fn ml100k_movie(file: &str, line_no: u64, line: &str) -> Result<Movie> {
    let fields = split_exact::<24>(file, line_no, line, "|")?;
    let movie_id = parse_number(file, line_no, "movie_id", fields[0])?;
    let title = checked_title(file, line_no, fields[1])?;
    let release_year = || fields[2].rsplit('-').next().and_then(|year| year.parse().ok());
    let year = year_from_title(&title).or_else(release_year);
    let mut genres = Vec::new();
    for (genre, flag) in ML100K_GENRES.iter().zip(&fields[5..]) {
        match *flag {
            "0" => {}
            "1" if *genre == "unknown" => {}
            "1" => genres.push((*genre).to_owned()),
            _ => return Err(field_error(file, line_no, genre, flag, FieldProblem::NotAFlag)),
        }
    }
    Ok(Movie { movie_id, title, year, genres })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratings(text: &[u8], format: RatingsFormat, mode: ParseMode) -> Result<Parsed<Rating>> {
        parse_ratings(text, format, "f", mode)
    }

    fn rating(user_id: u64, movie_id: u64, rating: f32, timestamp: i64) -> Rating {
        Rating { user_id, movie_id, rating, timestamp }
    }

    /// Parses `text` strictly and compares the first error's message (or the records).
    fn check_ratings(format: RatingsFormat, text: &str, expected: Result<&[Rating], &str>) {
        let res = ratings(text.as_bytes(), format, ParseMode::Strict);
        match (res, expected) {
            (Ok(parsed), Ok(records)) => assert_eq!(parsed.records, records, "{text:?}"),
            (Err(err), Err(message)) => assert_eq!(err.to_string(), message, "{text:?}"),
            (res, expected) => panic!("{text:?}: got {res:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn ratings_in_every_format() {
        use RatingsFormat::*;
        let two = &[rating(196, 242, 3.0, 881250949), rating(186, 302, 3.5, 891717742)][..];
        check_ratings(Tab, "196\t242\t3\t881250949\n186\t302\t3.5\t891717742\n", Ok(two));
        check_ratings(Tab, "196\t242\t3\t881250949\r\n\r\n186\t302\t3.5\t891717742", Ok(two));
        check_ratings(Dat, "196::242::3::881250949\n186::302::3.5::891717742\n", Ok(two));
        check_ratings(
            Csv,
            "userId,movieId,rating,timestamp\n196,242,3.0,881250949\n186,302,3.5,891717742\n",
            Ok(two),
        );
        check_ratings(
            Csv,
            "\u{feff}userId,movieId,rating,timestamp\r\n196,242,3,881250949\r\n",
            Ok(&two[..1]),
        );
        check_ratings(Csv, "userId,movieId,rating,timestamp\n", Ok(&[]));
        check_ratings(Tab, "", Ok(&[]));
    }

    #[test]
    fn malformed_ratings_name_file_line_field_and_text() {
        use RatingsFormat::*;
        let header = "userId,movieId,rating,timestamp\n";
        check_ratings(
            Csv,
            &format!("{header}1,2,4.x,3\n"),
            Err(r#"f:2: field `rating`: "4.x" is not a number"#),
        );
        check_ratings(
            Csv,
            &format!("{header}1,2,5.5,3\n"),
            Err(r#"f:2: field `rating`: "5.5" is outside 0.5..=5.0"#),
        );
        check_ratings(
            Csv,
            &format!("{header}1,2,0,3\n"),
            Err(r#"f:2: field `rating`: "0" is outside 0.5..=5.0"#),
        );
        check_ratings(
            Csv,
            &format!("{header}1,2,NaN,3\n"),
            Err(r#"f:2: field `rating`: "NaN" is outside 0.5..=5.0"#),
        );
        check_ratings(
            Csv,
            &format!("{header}-1,2,3,3\n"),
            Err(r#"f:2: field `user_id`: "-1" is not a number"#),
        );
        check_ratings(Csv, &format!("{header}1,,3,3\n"), Err(r#"f:2: field `movie_id`: "" is not a number"#));
        check_ratings(
            Csv,
            &format!("{header}1,2,3,1.5\n"),
            Err(r#"f:2: field `timestamp`: "1.5" is not a number"#),
        );
        check_ratings(
            Csv,
            &format!("{header}1,2,3\n"),
            Err(r#"f:2: expected 4 fields separated by ",", found 3"#),
        );
        check_ratings(
            Csv,
            &format!("{header}1,\"2,3,4\n"),
            Err("f:2: a quoted field is not closed at the end of the file"),
        );
        check_ratings(
            Csv,
            "user,movie,rating,ts\n1,2,3,4\n",
            Err(
                r#"f:1: expected the header "userId,movieId,rating,timestamp", found "user,movie,rating,ts""#,
            ),
        );
        check_ratings(
            Csv,
            "",
            Err(r#"f:1: expected the header "userId,movieId,rating,timestamp", found """#),
        );
        check_ratings(
            Tab,
            "1\t2\t3\t4\n1 2 3 4\n",
            Err(r#"f:2: expected 4 fields separated by "\t", found 1"#),
        );
        check_ratings(Tab, "1\t2\t3\t4\t5\n", Err(r#"f:1: expected 4 fields separated by "\t", found 5"#));
        check_ratings(Dat, "1::2::3\n", Err(r#"f:1: expected 4 fields separated by "::", found 3"#));
        check_ratings(Dat, "1::2::3:: 4\n", Err(r#"f:1: field `timestamp`: " 4" is not a number"#));
        let err = ratings(b"1\t2\t3\t4\n1\t2\t\xff\t4\n", Tab, ParseMode::Strict).unwrap_err();
        assert_eq!(err.to_string(), "f:2: invalid UTF-8 at byte 5");
    }

    #[test]
    fn lenient_mode_skips_and_reports_bad_lines() {
        let text = "userId,movieId,rating,timestamp\n1,10,4.0,5\n1,11,4.x,6\n2,10,9,7\n\n2,12,0.5,8\n3\n";
        let parsed = ratings(text.as_bytes(), RatingsFormat::Csv, ParseMode::Lenient).unwrap();
        assert_eq!(parsed.records, [rating(1, 10, 4.0, 5), rating(2, 12, 0.5, 8)]);
        assert_eq!(parsed.skipped.count, 3);
        let lines: Vec<u64> = parsed.skipped.lines.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 4, 7]);
        assert!(matches!(
            &parsed.skipped.lines[1].error,
            DatasetError::Field { line: 4, field: "rating", problem: FieldProblem::OutOfRange { .. }, .. }
        ));
        // A wrong header is fatal even in lenient mode: the whole file is of another kind.
        assert!(matches!(
            ratings(b"a,b,c,d\n", RatingsFormat::Csv, ParseMode::Lenient),
            Err(DatasetError::Header { .. })
        ));
        // Strict mode reports the first bad line.
        assert!(matches!(
            ratings(text.as_bytes(), RatingsFormat::Csv, ParseMode::Strict),
            Err(DatasetError::Field { line: 3, .. })
        ));
    }

    #[test]
    fn lenient_reports_keep_at_most_a_thousand_details() {
        let text = "x\n".repeat(MAX_REPORTED_SKIPS + 5);
        let parsed = ratings(text.as_bytes(), RatingsFormat::Tab, ParseMode::Lenient).unwrap();
        assert_eq!(parsed.skipped.count, MAX_REPORTED_SKIPS as u64 + 5);
        assert_eq!(parsed.skipped.lines.len(), MAX_REPORTED_SKIPS);
        assert!(parsed.records.is_empty());
    }

    use crate::types::MAX_REPORTED_SKIPS;

    fn movie(movie_id: u64, title: &str, year: Option<u16>, genres: &[&str]) -> Movie {
        Movie { movie_id, title: title.into(), year, genres: genres.iter().map(|g| g.to_string()).collect() }
    }

    fn movies(text: &[u8], format: MoviesFormat) -> Result<Vec<Movie>> {
        parse_movies(text, format, "m", ParseMode::Strict).map(|parsed| parsed.records)
    }

    #[test]
    fn movies_csv_with_quotes_and_no_genres() {
        let text = concat!(
            "movieId,title,genres\n",
            "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n",
            "11,\"American President, The (1995)\",Comedy|Drama|Romance\n",
            "2,\"\"\"Great Performances\"\" Cats (1998)\",Musical\n",
            "149532,Marco Polo: One Hundred Eyes (2015),(no genres listed)\n",
            "171495,Cosmos,(no genres listed)\n",
            "6,Heat (1995) ,Action\n",
            "7,\"Two\nLines (2001)\",Drama\n",
            "8,Another (2002),Drama\n",
        );
        assert_eq!(
            movies(text.as_bytes(), MoviesFormat::Csv).unwrap(),
            [
                movie(
                    1,
                    "Toy Story (1995)",
                    Some(1995),
                    &["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
                ),
                movie(11, "American President, The (1995)", Some(1995), &["Comedy", "Drama", "Romance"]),
                movie(2, "\"Great Performances\" Cats (1998)", Some(1998), &["Musical"]),
                movie(149532, "Marco Polo: One Hundred Eyes (2015)", Some(2015), &[]),
                movie(171495, "Cosmos", None, &[]),
                movie(6, "Heat (1995)", Some(1995), &["Action"]),
                movie(7, "Two\nLines (2001)", Some(2001), &["Drama"]),
                movie(8, "Another (2002)", Some(2002), &["Drama"]),
            ]
        );
        let err = movies(b"movieId,title,genres\n1,,Drama\n", MoviesFormat::Csv).unwrap_err();
        assert_eq!(err.to_string(), r#"m:2: field `title`: "" is empty"#);
        let err = movies(b"movieId,title,genres\n1,\"a\"b,Drama\n", MoviesFormat::Csv).unwrap_err();
        assert_eq!(err.to_string(), "m:2: text after the closing quote of field 2");
        let err = movies(b"movieId,title\n", MoviesFormat::Csv).unwrap_err();
        assert!(matches!(err, DatasetError::Header { line: 1, .. }));
    }

    #[test]
    fn movies_dat_in_latin1_and_utf8() {
        let latin1 =
            b"73::Mis\xe9rables, Les (1995)::Drama|War\n3::Grumpier Old Men (1995)::Comedy|Romance\n";
        let expected = [
            movie(73, "Misérables, Les (1995)", Some(1995), &["Drama", "War"]),
            movie(3, "Grumpier Old Men (1995)", Some(1995), &["Comedy", "Romance"]),
        ];
        assert_eq!(movies(latin1, MoviesFormat::Dat(Encoding::Latin1)).unwrap(), expected);
        assert_eq!(movies(latin1, MoviesFormat::Dat(Encoding::Utf8OrLatin1)).unwrap(), expected);
        let utf8 = "73::Misérables, Les (1995)::Drama|War\n3::Grumpier Old Men (1995)::Comedy|Romance\n";
        assert_eq!(movies(utf8.as_bytes(), MoviesFormat::Dat(Encoding::Utf8)).unwrap(), expected);
        assert_eq!(movies(utf8.as_bytes(), MoviesFormat::Dat(Encoding::Utf8OrLatin1)).unwrap(), expected);
        let err = movies(latin1, MoviesFormat::Dat(Encoding::Utf8)).unwrap_err();
        assert_eq!(err.to_string(), "m:1: invalid UTF-8 at byte 8");
        let tricky = "9::Star Wars: Episode IV:: A New Hope (1977)::Sci-Fi\n10::Blank::(no genres listed)\n";
        assert_eq!(
            movies(tricky.as_bytes(), MoviesFormat::Dat(Encoding::Utf8)).unwrap(),
            [
                movie(9, "Star Wars: Episode IV:: A New Hope (1977)", Some(1977), &["Sci-Fi"]),
                movie(10, "Blank", None, &[])
            ]
        );
        let err = movies(b"1::Title only\n", MoviesFormat::Dat(Encoding::Utf8)).unwrap_err();
        assert_eq!(err.to_string(), r#"m:1: expected 3 fields separated by "::", found 2"#);
        let err = movies(b"x::T (1995)::Drama\n", MoviesFormat::Dat(Encoding::Utf8)).unwrap_err();
        assert_eq!(err.to_string(), r#"m:1: field `movie_id`: "x" is not a number"#);
    }

    #[test]
    fn ml100k_items_decode_latin1_and_flags() {
        let flags = |set: &[usize]| {
            (0..19).map(|i| if set.contains(&i) { "1" } else { "0" }).collect::<Vec<_>>().join("|")
        };
        let mut text = Vec::new();
        text.extend_from_slice(
            format!("1|Toy Story (1995)|01-Jan-1995||http://x|{}\n", flags(&[3, 4, 5])).as_bytes(),
        );
        text.extend_from_slice(b"267|unknown||||");
        text.extend_from_slice(format!("{}\n", flags(&[0])).as_bytes());
        text.extend_from_slice(b"1306|D\xe9lice Paloma|01-Jan-1997||http://x|");
        text.extend_from_slice(format!("{}\n", flags(&[8])).as_bytes());
        assert_eq!(
            movies(&text, MoviesFormat::Ml100kItem).unwrap(),
            [
                movie(1, "Toy Story (1995)", Some(1995), &["Animation", "Children's", "Comedy"]),
                movie(267, "unknown", None, &[]),
                movie(1306, "Délice Paloma", Some(1997), &["Drama"]),
            ]
        );
        let bad = format!("1|T (1995)|||x|{}\n", flags(&[]).replacen('0', "2", 1));
        assert_eq!(
            movies(bad.as_bytes(), MoviesFormat::Ml100kItem).unwrap_err().to_string(),
            r#"m:1: field `unknown`: "2" is neither 0 nor 1"#
        );
        assert_eq!(
            movies(b"1|T|x\n", MoviesFormat::Ml100kItem).unwrap_err().to_string(),
            r#"m:1: expected 24 fields separated by "|", found 3"#
        );
    }
}
