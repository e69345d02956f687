//! A movie's validated fields (title, year, canonical genres, IMDb/TMDb links) and the stored
//! catalogue entry.

use super::{FieldError, GENRES, MAX_TITLE_CHARS, MAX_YEAR, MIN_YEAR, MediaObject, MovieId, canonical_genre};

/// Validated movie fields (everything but media), ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovieFields {
    /// Non-empty, trimmed, at most [`MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// [`MIN_YEAR`]..=[`MAX_YEAR`], or unknown.
    pub year: Option<i32>,
    /// Canonical genres, sorted, without duplicates.
    pub genres: Vec<String>,
    /// `tt` followed by 7 to 10 digits.
    pub imdb_id: Option<String>,
    /// Positive TMDb id.
    pub tmdb_id: Option<i64>,
}

impl MovieFields {
    /// Validates wire fields; errors name them as `movie.<field>`. `year` 0, an empty `imdb_id`
    /// and `tmdb_id` 0 mean unknown.
    pub fn parse(
        title: &str,
        year: i32,
        genres: &[String],
        imdb_id: &str,
        tmdb_id: u64,
    ) -> Result<Self, FieldError> {
        let title = title.trim();
        if title.is_empty() {
            return Err(FieldError::new("movie.title", "must not be empty"));
        }
        let chars = title.chars().count();
        if chars > MAX_TITLE_CHARS {
            return Err(FieldError::new(
                "movie.title",
                format!("has {chars} characters, at most {MAX_TITLE_CHARS} are allowed"),
            ));
        }
        let year = match year {
            0 => None,
            year => Some(check_year("movie.year", year)?),
        };
        let mut canonical = Vec::with_capacity(genres.len());
        for genre in genres {
            let known = canonical_genre(genre).ok_or_else(|| {
                FieldError::new(
                    "movie.genres",
                    format!("unknown genre {genre:?}; known: {}", GENRES.join(", ")),
                )
            })?;
            canonical.push(known.to_string());
        }
        canonical.sort_unstable();
        canonical.dedup();
        let imdb_id = match imdb_id.trim() {
            "" => None,
            id if is_imdb_id(id) => Some(id.to_string()),
            id => {
                return Err(FieldError::new(
                    "movie.imdb_id",
                    format!("{id:?} is not an IMDb id like \"tt0114709\""),
                ));
            }
        };
        let tmdb_id = match tmdb_id {
            0 => None,
            id => Some(i64::try_from(id).map_err(|_| {
                FieldError::new("movie.tmdb_id", format!("{id} is larger than {}", i64::MAX))
            })?),
        };
        Ok(Self { title: title.to_string(), year, genres: canonical, imdb_id, tmdb_id })
    }
}

pub(super) fn check_year(field: &'static str, year: i32) -> Result<i32, FieldError> {
    if (MIN_YEAR..=MAX_YEAR).contains(&year) {
        Ok(year)
    } else {
        Err(FieldError::new(field, format!("{year} is outside {MIN_YEAR}..={MAX_YEAR} (0 means unknown)")))
    }
}

fn is_imdb_id(id: &str) -> bool {
    id.strip_prefix("tt")
        .is_some_and(|digits| (7..=10).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The title of a MovieLens entry without its trailing `(1995)` (or `(2007-)`), when the year
/// was read from it; other titles are returned trimmed.
pub fn title_without_year(title: &str) -> &str {
    let title = title.trim();
    match (contract::year_from_title(title), title.rfind('(')) {
        (Some(_), Some(open)) if open > 0 => title[..open].trim_end(),
        _ => title,
    }
}

/// A catalogue entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movie {
    /// Its id.
    pub id: MovieId,
    /// Title, year, genres and links.
    pub fields: MovieFields,
    /// The poster object, if uploaded.
    pub poster: Option<MediaObject>,
    /// The trailer object, if uploaded.
    pub trailer: Option<MediaObject>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(title: &str, year: i32, genres: &[&str], imdb: &str) -> Result<MovieFields, FieldError> {
        let genres: Vec<String> = genres.iter().map(|g| g.to_string()).collect();
        MovieFields::parse(title, year, &genres, imdb, 0)
    }

    #[test]
    fn movie_fields_are_checked_and_named() {
        let ok = fields("  Toy Story ", 1995, &["comedy", "Children's", "Animation", "Comedy"], "tt0114709")
            .unwrap();
        assert_eq!(ok.title, "Toy Story");
        assert_eq!(ok.genres, ["Animation", "Children", "Comedy"]);
        assert_eq!(ok.imdb_id.as_deref(), Some("tt0114709"));
        for (bad, field) in [
            (fields(" ", 1995, &[], ""), "movie.title"),
            (fields(&"x".repeat(501), 1995, &[], ""), "movie.title"),
            (fields("A", 1869, &[], ""), "movie.year"),
            (fields("A", 2101, &[], ""), "movie.year"),
            (fields("A", 0, &["Space Opera"], ""), "movie.genres"),
            (fields("A", 0, &[], "0114709"), "movie.imdb_id"),
            (MovieFields::parse("A", 0, &[], "", u64::MAX), "movie.tmdb_id"),
        ] {
            assert_eq!(bad.unwrap_err().field, field);
        }
        assert_eq!(fields("A", 0, &[], "").unwrap().year, None);
    }

    #[test]
    fn movie_ids_are_positive_bigints() {
        assert_eq!(MovieId::parse(1, "movie_id").unwrap().get(), 1);
        assert_eq!(MovieId::parse(0, "movie_id").unwrap_err().field, "movie_id");
        assert_eq!(MovieId::parse(u64::MAX, "movie_id").unwrap_err().field, "movie_id");
    }

    #[test]
    fn titles_lose_only_a_trailing_year() {
        for (title, want) in [
            ("Toy Story (1995)", "Toy Story"),
            (
                "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
                "City of Lost Children, The (Cité des enfants perdus, La)",
            ),
            ("Babylon 5", "Babylon 5"),
            ("Fawlty Towers (1975-1979)", "Fawlty Towers"),
            ("Big Bang Theory (2007-)", "Big Bang Theory"),
            ("Solo (A Star Wars Story)", "Solo (A Star Wars Story)"),
        ] {
            assert_eq!(title_without_year(title), want, "{title}");
        }
    }
}
