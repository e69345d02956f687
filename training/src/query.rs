//! `cinerec recommend` and `cinerec similar`: queries against a stored artifact, in external
//! ids and with titles. A user the model does not know gets the most popular movies of the
//! training data, labelled as a fallback; someone known only by the movies they liked is folded
//! in; a movie can be named by a (part of a) title.

use std::collections::HashMap;
use std::io::Write;

use artifacts::{Artifact, MovieInfo, TrainedModel};
use engine::recommend::{self, RecommendOptions};
use engine::{Row, ScoredItem, Seen};
use serde::Serialize;

use crate::cli::{Format, HistoryItem, RecommendArgs, SimilarArgs};
use crate::error::{Error, Result};
use crate::output::{self, Table, truncate};
use crate::store::Store;

/// Where a list of movies came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The model's scores for a user of the training data.
    Model,
    /// The model's scores for a history folded in.
    FoldIn,
    /// Not personalised: the movies with the most users in the training data.
    PopularityFallback,
}

/// A movie in a result, with its rank and score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MovieScore {
    /// 1-based rank.
    pub rank: usize,
    /// MovieLens movie id.
    pub movie_id: u64,
    /// Title, when the artifact has a catalogue.
    pub title: Option<String>,
    /// Genres, when known.
    pub genres: Vec<String>,
    /// The model's score (for the popularity fallback: users in the training data).
    pub score: f32,
}

/// The result of `cinerec recommend`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendations {
    /// Model version.
    pub version: String,
    /// Model kind.
    pub model: &'static str,
    /// The user asked about (`--user`).
    pub user: Option<u64>,
    /// The movies given (`--history`).
    pub history: Option<Vec<u64>>,
    /// Where the list comes from.
    pub basis: Basis,
    /// Why the fallback was used.
    pub note: Option<String>,
    /// A problem with the model file worth telling (e.g. an old format upgraded on read).
    pub warning: Option<String>,
    /// The movies, best first.
    pub movies: Vec<MovieScore>,
}

/// The result of `cinerec similar`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimilarMovies {
    /// Model version.
    pub version: String,
    /// Model kind.
    pub model: &'static str,
    /// The movie asked about.
    pub movie_id: u64,
    /// Its title, when known.
    pub title: Option<String>,
    /// The most similar movies, best first.
    pub movies: Vec<MovieScore>,
}

/// Runs `cinerec recommend`: loads the model version asked for (default: the latest) and
/// answers for `--user` or `--history`.
pub fn recommend(args: &RecommendArgs) -> Result<Recommendations> {
    let loaded = Store::from_args(&args.store)?.load(args.version.as_deref())?;
    let version = loaded.version.to_string();
    let mut res = match (&args.history, args.user) {
        (Some(history), _) => for_history(&loaded.artifact, &version, history, args.n),
        (None, Some(user)) => for_user(&loaded.artifact, &version, user, args.n),
        (None, None) => Err(Error::Usage("give --user ID or --history MOVIE_ID,...".into())),
    }?;
    res.warning = loaded.artifact.upgrade_warning().map(|w| format!("model {version}: {w}"));
    Ok(res)
}

/// Runs `cinerec similar`: loads the model version asked for and answers for `--movie` or
/// `--title`.
pub fn similar_to(args: &SimilarArgs) -> Result<SimilarMovies> {
    let loaded = Store::from_args(&args.store)?.load(args.version.as_deref())?;
    let version = loaded.version.to_string();
    let movie_id = match (args.movie, &args.title) {
        (Some(id), _) => id,
        (None, Some(title)) => find_title(&loaded.artifact, &version, title)?,
        (None, None) => return Err(Error::Usage("give --movie ID or --title TEXT".into())),
    };
    similar(&loaded.artifact, &version, movie_id, args.n)
}

/// The catalogue of an artifact by movie id.
fn catalogue(artifact: &Artifact) -> HashMap<u64, &MovieInfo> {
    artifact.movies.iter().map(|m| (m.movie_id, m)).collect()
}

/// Dense results as [`MovieScore`]s in external ids, with titles.
fn scored(artifact: &Artifact, items: &[ScoredItem]) -> Vec<MovieScore> {
    let movies = catalogue(artifact);
    items
        .iter()
        .enumerate()
        .filter_map(|(rank, s)| {
            let movie_id = artifact.items.external(s.item_idx)?;
            let info = movies.get(&movie_id);
            Some(MovieScore {
                rank: rank + 1,
                movie_id,
                title: info.map(|m| m.title.clone()),
                genres: info.map(|m| m.genres.clone()).unwrap_or_default(),
                score: s.score,
            })
        })
        .collect()
}

/// Users per movie in the training matrix.
pub fn popularity(artifact: &Artifact) -> Vec<f32> {
    let mut counts = vec![0f32; artifact.items.len()];
    for &item in artifact.seen.indices() {
        counts[item as usize] += 1.0;
    }
    counts
}

/// Top-`n` for user `user_id`, leaving out every movie they rated; the popularity fallback
/// (still without their rated movies) when the model does not know the user or the user has no
/// training interactions.
pub fn for_user(artifact: &Artifact, version: &str, user_id: u64, n: usize) -> Result<Recommendations> {
    let model = artifact.recommender();
    let training = artifact.training_users()?;
    let user_idx = artifact.users.dense(user_id);
    let known = user_idx.filter(|&u| artifact.seen.row_len(u as usize) > 0);
    let (basis, note, items) = match known {
        Some(user_idx) => {
            let options = RecommendOptions { n, ..RecommendOptions::default() };
            (Basis::Model, None, recommend::recommend(model, training, user_idx, &options)?)
        }
        None => {
            let seen = match user_idx {
                Some(user_idx) => training.checked(user_idx)?.1,
                None => Seen::default(),
            };
            let why = match artifact.users.dense(user_id) {
                Some(_) => "has no training interactions in",
                None => "is not in the training data of",
            };
            let note = format!(
                "user {user_id} {why} model {version} ({} users): showing the most popular movies instead \
                 (fallback: popularity, not personalised)",
                artifact.users.len()
            );
            let items = engine::top_k(&popularity(artifact), n, |item| !seen.contains(item));
            (Basis::PopularityFallback, Some(note), items)
        }
    };
    Ok(Recommendations {
        version: version.to_owned(),
        model: model.kind(),
        user: Some(user_id),
        history: None,
        basis,
        note,
        warning: None,
        movies: scored(artifact, &items),
    })
}

/// Top-`n` for someone known only by `history` (fold-in; the history's movies are left out).
/// Implicit models count each movie as a positive unless its given rating is below the positive
/// threshold (then it is only left out); explicit ALS folds in the given ratings (the highest
/// rating of the training data when none is given).
pub fn for_history(
    artifact: &Artifact,
    version: &str,
    history: &[HistoryItem],
    n: usize,
) -> Result<Recommendations> {
    let unknown: Vec<u64> =
        history.iter().map(|h| h.movie_id).filter(|&id| artifact.items.dense(id).is_none()).collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownMovies {
            version: version.to_owned(),
            ids: unknown,
            n_items: artifact.items.len(),
        });
    }
    if history.is_empty() {
        return Err(Error::Usage("--history needs at least one movie id".into()));
    }
    let default_value = match &artifact.model {
        TrainedModel::ExplicitAls(m) => m.rating_range().1,
        _ => 1.0,
    };
    let params = artifact.model.params();
    // (item, value, learned): a movie without a rating is liked (the top rating for explicit
    // ALS, 1.0 for the others); a rating becomes what the model learns it as, and a rating it
    // does not learn from (below the positive threshold) only makes the movie seen.
    let mut row: Vec<(u32, f32, bool)> = history
        .iter()
        .map(|h| {
            let item_idx = artifact.items.dense(h.movie_id).expect("checked above");
            match h.rating.map(|r| params.interaction_value(r)) {
                None => (item_idx, default_value, true),
                Some(Some(value)) => (item_idx, value, true),
                Some(None) => (item_idx, 0.0, false),
            }
        })
        .collect();
    // Sorted, one entry per movie (the last one given wins).
    row.reverse();
    row.sort_by_key(|&(item, ..)| item);
    row.dedup_by_key(|&mut (item, ..)| item);
    let (indices, values): (Vec<u32>, Vec<f32>) =
        row.iter().filter(|&&(.., positive)| positive).map(|&(item, value, _)| (item, value)).unzip();
    let also_seen: Vec<u32> =
        row.iter().filter(|&&(.., positive)| !positive).map(|&(item, ..)| item).collect();
    let options = RecommendOptions { n, ..RecommendOptions::default() };
    let model = artifact.recommender();
    let items = recommend::recommend_for_history(model, Row::new(&indices, &values), &also_seen, &options)?;
    Ok(Recommendations {
        version: version.to_owned(),
        model: model.kind(),
        user: None,
        history: Some(history.iter().map(|h| h.movie_id).collect()),
        basis: Basis::FoldIn,
        note: None,
        warning: None,
        movies: scored(artifact, &items),
    })
}

/// The `n` movies most similar to `movie_id`.
pub fn similar(artifact: &Artifact, version: &str, movie_id: u64, n: usize) -> Result<SimilarMovies> {
    let Some(item_idx) = artifact.items.dense(movie_id) else {
        return Err(Error::UnknownMovies {
            version: version.to_owned(),
            ids: vec![movie_id],
            n_items: artifact.items.len(),
        });
    };
    let model = artifact.recommender();
    let items = recommend::similar_items(model, item_idx, n)?;
    Ok(SimilarMovies {
        version: version.to_owned(),
        model: model.kind(),
        movie_id,
        title: catalogue(artifact).get(&movie_id).map(|m| m.title.clone()),
        movies: scored(artifact, &items),
    })
}

/// Lower-case forms a title is matched under: as given, without its `(year)`, and with a
/// trailing article moved to the front (`Matrix, The (1999)` → `the matrix (1999)`, `the matrix`).
fn title_forms(title: &str) -> Vec<String> {
    let full = title.trim().to_lowercase();
    let bare = match full.rfind(" (") {
        Some(at)
            if full.ends_with(')') && full[at + 2..full.len() - 1].chars().all(|c| c.is_ascii_digit()) =>
        {
            full[..at].trim_end().to_owned()
        }
        _ => full.clone(),
    };
    let year = &full[bare.len()..];
    let mut res = vec![full.clone(), bare.clone()];
    for article in ["the", "a", "an"] {
        if let Some(stem) = bare.strip_suffix(&format!(", {article}")) {
            res.push(format!("{article} {stem}"));
            res.push(format!("{article} {stem}{year}"));
        }
    }
    res
}

/// How many candidates an ambiguous title lists.
pub const MAX_CANDIDATES: usize = 10;

/// The movie whose title matches `query`: an exact title (case-insensitive, with or without
/// its year, article in front or behind) wins; otherwise the one title that contains it.
/// Several matches are an [`Error::AmbiguousTitle`] listing the most popular of them.
pub fn find_title(artifact: &Artifact, version: &str, query: &str) -> Result<u64> {
    let q = query.trim().to_lowercase();
    let known = artifact.movies.iter().filter(|m| artifact.items.dense(m.movie_id).is_some());
    let forms: Vec<(&MovieInfo, Vec<String>)> = known.map(|m| (m, title_forms(&m.title))).collect();
    let exact: Vec<&MovieInfo> = forms.iter().filter(|(_, f)| f.contains(&q)).map(|(m, _)| *m).collect();
    let matches = if exact.is_empty() {
        forms.iter().filter(|(_, f)| f.iter().any(|form| form.contains(&q))).map(|(m, _)| *m).collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok(one.movie_id),
        [] => Err(Error::NoSuchTitle {
            version: version.to_owned(),
            query: query.to_owned(),
            hint: if artifact.movies.is_empty() {
                " (it has no movie catalogue: use --movie ID)".into()
            } else {
                String::new()
            },
        }),
        many => {
            let counts = popularity(artifact);
            let users = |m: &MovieInfo| artifact.items.dense(m.movie_id).map_or(0.0, |i| counts[i as usize]);
            let mut ranked = many.to_vec();
            ranked.sort_by(|a, b| users(b).total_cmp(&users(a)).then_with(|| a.title.cmp(&b.title)));
            Err(Error::AmbiguousTitle {
                query: query.to_owned(),
                candidates: ranked
                    .iter()
                    .take(MAX_CANDIDATES)
                    .map(|m| (m.movie_id, m.title.clone()))
                    .collect(),
                total: many.len(),
            })
        }
    }
}

/// A title for display: the catalogue's, or `movie <id>`.
pub fn display_title(title: Option<&str>, movie_id: u64) -> String {
    title.map_or_else(|| format!("movie {movie_id}"), str::to_owned)
}

fn movie_table(movies: &[MovieScore], score: &str) -> Table {
    let mut t = Table::new(&["rank", "movie", "title", "genres", score]);
    for m in movies {
        let score = if score == "users" { format!("{:.0}", m.score) } else { format!("{:.4}", m.score) };
        t.push(vec![
            m.rank.to_string(),
            m.movie_id.to_string(),
            truncate(&display_title(m.title.as_deref(), m.movie_id), 60),
            truncate(&m.genres.join("|"), 32),
            score,
        ]);
    }
    t
}

/// Prints [`Recommendations`]: a heading (and the fallback note), then the movies.
pub fn print_recommendations(out: &mut dyn Write, format: Format, r: &Recommendations) -> Result<()> {
    if format == Format::Json {
        return output::emit(out, format, r, Table::default);
    }
    let whom = match (&r.user, &r.history) {
        (Some(user), _) => format!("user {user}"),
        (None, Some(history)) => format!("someone who liked {} movie(s) (fold-in)", history.len()),
        (None, None) => String::new(),
    };
    match &r.note {
        Some(note) => writeln!(out, "{note}")?,
        None => writeln!(out, "top {} for {whom} · model {} ({})", r.movies.len(), r.version, r.model)?,
    }
    if let Some(warning) = &r.warning {
        writeln!(out, "warning: {warning}")?;
    }
    let score = if r.basis == Basis::PopularityFallback { "users" } else { "score" };
    write!(out, "{}", movie_table(&r.movies, score).render())?;
    Ok(())
}

/// Prints [`SimilarMovies`].
pub fn print_similar(out: &mut dyn Write, format: Format, s: &SimilarMovies) -> Result<()> {
    if format == Format::Json {
        return output::emit(out, format, s, Table::default);
    }
    let title = display_title(s.title.as_deref(), s.movie_id);
    writeln!(out, "movies similar to {title} ({}) · model {} ({})", s.movie_id, s.version, s.model)?;
    write!(out, "{}", movie_table(&s.movies, "similarity").render())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_match_with_or_without_year_and_article() {
        let forms = title_forms("Matrix, The (1999)");
        for form in ["matrix, the (1999)", "matrix, the", "the matrix", "the matrix (1999)"] {
            assert!(forms.iter().any(|f| f == form), "{form} not in {forms:?}");
        }
        assert_eq!(title_forms("Toy Story (1995)")[1], "toy story");
        assert_eq!(title_forms("Babylon 5")[1], "babylon 5");
        assert_eq!(title_forms("Seven (a.k.a. Se7en) (1995)")[1], "seven (a.k.a. se7en)");
    }
}
