//! Hand-written conversions between the wire types (`proto::recommendation::v1`) and the
//! engine's index space. Parsing validates against the serving model and names the offending
//! field in every error; `prefix` places a field inside a batch (`requests[3].`).

use engine::{Explanation, ScoredItem};
use proto::recommendation::v1 as pb;

use crate::error::ServeError;
use crate::loaded_model::{MAX_N, ModelState, RecommendQuery, Recommendations, Source};
use crate::metrics::unix_seconds;
use crate::overlay::UserOverlay;

/// `n` when a request leaves it 0.
pub const DEFAULT_N: usize = 10;

/// Largest batch.
pub const MAX_BATCH: usize = 1000;

/// Parses a requested count: 0 means [`DEFAULT_N`], more than [`MAX_N`] is refused.
pub fn count(n: u32, field: &str) -> Result<usize, ServeError> {
    match n as usize {
        0 => Ok(DEFAULT_N),
        n if n > MAX_N => Err(ServeError::invalid(field, format!("must be at most {MAX_N}, got {n}"))),
        n => Ok(n),
    }
}

/// The item indices of `movie_ids` (sorted, unique); an id the model does not know is refused.
pub fn items(model: &ModelState, movie_ids: &[u64], field: &str) -> Result<Vec<u32>, ServeError> {
    let mut res = movie_ids
        .iter()
        .map(|&id| {
            model.item_idx(id).ok_or_else(|| {
                ServeError::invalid(field, format!("movie {id} is not known to model {}", model.version()))
            })
        })
        .collect::<Result<Vec<u32>, _>>()?;
    res.sort_unstable();
    res.dedup();
    Ok(res)
}

/// The index of the movie a query is about; unknown ids are refused as INVALID_ARGUMENT (the
/// model, not the catalogue, decides which movies exist for recommendations).
pub fn item(model: &ModelState, movie_id: u64, field: &str) -> Result<u32, ServeError> {
    model.item_idx(movie_id).ok_or_else(|| {
        ServeError::invalid(field, format!("movie {movie_id} is not known to model {}", model.version()))
    })
}

/// `recent_movie_ids` as a fold-in history: `(item_idx, recent value)` sorted, unique.
pub fn recent(model: &ModelState, movie_ids: &[u64], field: &str) -> Result<Vec<(u32, f32)>, ServeError> {
    Ok(items(model, movie_ids, field)?.into_iter().map(|idx| (idx, model.recent_value())).collect())
}

/// What a user's overlay adds to a query on `model`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OverlayParts {
    /// Rating changes newer than the model, as interactions (see
    /// [`RecommendQuery::rated`]); movies the model does not know are skipped.
    pub rated: Vec<(u32, Option<f32>)>,
    /// Rated movies that are not interactions by the model's rule (a rating below the positive
    /// threshold): seen, so left out of the list with the other rated movies; sorted.
    pub rated_not_positive: Vec<u32>,
    /// Blocked movies the model knows, sorted.
    pub blocked: Vec<u32>,
}

/// The overlay's parts for `model`: rating changes older than its training time are skipped
/// (the model has them); values follow [`ModelState::interaction_value`].
pub fn overlay_parts(model: &ModelState, overlay: Option<&UserOverlay>) -> OverlayParts {
    let Some(overlay) = overlay else { return OverlayParts::default() };
    let trained_at = model.trained_at_ms();
    let mut res = OverlayParts::default();
    for rating in overlay.ratings.iter().filter(|r| r.timestamp_ms >= trained_at) {
        let Some(idx) = model.item_idx(rating.movie_id) else { continue };
        let value = rating.rating.and_then(|stars| model.interaction_value(stars));
        if rating.rating.is_some() && value.is_none() {
            res.rated_not_positive.push(idx);
        }
        res.rated.push((idx, value));
    }
    // One entry per movie in the overlay, so the sort leaves them unique.
    res.rated.sort_unstable_by_key(|&(idx, _)| idx);
    res.rated_not_positive.sort_unstable();
    res.blocked = overlay.blocked.iter().filter_map(|&movie| model.item_idx(movie)).collect();
    res.blocked.sort_unstable();
    res
}

/// Validates a `RecommendRequest` against `model` and adds the user's overlay.
pub fn recommend_query(
    request: &pb::RecommendRequest,
    model: &ModelState,
    overlay: Option<&UserOverlay>,
    prefix: &str,
) -> Result<RecommendQuery, ServeError> {
    let field = |name: &str| format!("{prefix}{name}");
    let n = count(request.n, &field("n"))?;
    let allow = match request.allow_movie_ids.as_slice() {
        [] => None,
        ids => Some(items(model, ids, &field("allow_movie_ids"))?),
    };
    let deny = items(model, &request.deny_movie_ids, &field("deny_movie_ids"))?;
    let recent = recent(model, &request.recent_movie_ids, &field("recent_movie_ids"))?;
    let OverlayParts { rated, rated_not_positive, blocked } = overlay_parts(model, overlay);
    Ok(RecommendQuery {
        user_id: request.user_id,
        user_idx: model.user_idx(request.user_id),
        n,
        exclude_seen: !request.include_seen,
        allow,
        deny,
        recent,
        rated,
        rated_not_positive,
        blocked,
    })
}

/// Scored items as wire movies with titles.
pub fn scored_movies(model: &ModelState, items: &[ScoredItem]) -> Vec<pb::ScoredMovie> {
    items
        .iter()
        .map(|s| pb::ScoredMovie {
            movie_id: model.movie_id(s.item_idx),
            score: s.score,
            title: model.title(s.item_idx).to_string(),
        })
        .collect()
}

/// The wire form of a [`Source`].
pub fn source(source: Source) -> pb::Source {
    match source {
        Source::Model => pb::Source::Model,
        Source::FoldIn => pb::Source::FoldIn,
        Source::Popularity => pb::Source::Popularity,
    }
}

/// The first `n` of `recommendations` as a response.
pub fn recommend_response(
    model: &ModelState,
    recommendations: &Recommendations,
    n: usize,
    cached: bool,
) -> pb::RecommendResponse {
    let items = &recommendations.items[..recommendations.items.len().min(n)];
    pb::RecommendResponse {
        movies: scored_movies(model, items),
        source: source(recommendations.source).into(),
        model_version: model.version().to_string(),
        cached,
    }
}

/// An explanation with its `n` largest contributions.
pub fn explain_response(model: &ModelState, explanation: &Explanation, n: usize) -> pb::ExplainResponse {
    pb::ExplainResponse {
        score: explanation.score,
        contributions: explanation
            .contributions
            .iter()
            .take(n)
            .map(|&(item_idx, contribution)| pb::Contribution {
                movie_id: model.movie_id(item_idx),
                contribution,
                title: model.title(item_idx).to_string(),
            })
            .collect(),
        model_version: model.version().to_string(),
    }
}

/// Facts about the serving model.
pub fn model_info(model: &ModelState) -> pb::ModelInfoResponse {
    let meta = &model.artifact().meta;
    pb::ModelInfoResponse {
        version: model.version().to_string(),
        kind: model.kind().to_string(),
        trained_at_unix: unix_seconds(meta.created_at),
        metrics: meta.metrics.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        n_users: model.n_users() as u64,
        n_movies: model.n_items() as u64,
        dataset: meta.dataset.clone(),
        loaded_at_unix: unix_seconds(model.loaded_at()),
    }
}
