//! The catalogue vocabulary: the canonical genres a movie may have and a user may favour, and
//! the release year written in a MovieLens title.

/// The genre vocabulary (MovieLens, ml-latest spelling; ml-100k's `Children's` is `Children`).
pub const GENRES: [&str; 19] = [
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// The canonical spelling of `genre` (case-insensitive, surrounding white space ignored;
/// `Children's` is `Children`), or `None` for a genre outside [`GENRES`].
pub fn canonical_genre(genre: &str) -> Option<&'static str> {
    let genre = genre.trim();
    if genre.eq_ignore_ascii_case("Children's") {
        return Some("Children");
    }
    GENRES.iter().copied().find(|known| known.eq_ignore_ascii_case(genre))
}

/// The year of a MovieLens title: `Toy Story (1995)` → 1995, also `Foo (1995) `, series like
/// `Show (2007-)` or `Show (2007–2010)` → the first year; `None` without a trailing year.
pub fn year_from_title(title: &str) -> Option<u16> {
    let inner = title.trim_end().strip_suffix(')')?;
    let inside = inner[inner.rfind('(')? + 1..].trim();
    let digits = inside.get(..4)?;
    let rest = &inside[4..];
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest_ok = rest.is_empty() || {
        let after_dash = rest.strip_prefix('-').or_else(|| rest.strip_prefix('–'));
        after_dash
            .is_some_and(|end| end.is_empty() || (end.len() == 4 && end.bytes().all(|b| b.is_ascii_digit())))
    };
    let year: u16 = digits.parse().ok()?;
    (rest_ok && (1800..=2100).contains(&year)).then_some(year)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genres_are_matched_case_insensitively() {
        assert_eq!(canonical_genre(" sci-fi "), Some("Sci-Fi"));
        assert_eq!(canonical_genre("children's"), Some("Children"));
        assert_eq!(canonical_genre("Cooking"), None);
    }

    #[test]
    fn years_from_titles() {
        let cases = [
            ("Toy Story (1995)", Some(1995)),
            ("Toy Story (1995)  ", Some(1995)),
            ("Babylon 5", None),
            ("Big Bang Theory, The (2007-)", Some(2007)),
            ("Fawlty Towers (1975–1979)", Some(1975)),
            ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", Some(1995)),
            ("Nineteen Eighty-Four (1984)", Some(1984)),
            ("Movie (in 3D)", None),
            ("Weird (19955)", None),
            ("Ancient (0042)", None),
            ("(1995)", Some(1995)),
            ("", None),
            ("Odd (199é)", None),
        ];
        for (title, year) in cases {
            assert_eq!(year_from_title(title), year, "{title:?}");
        }
    }
}
