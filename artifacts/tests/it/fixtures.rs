//! Small trained artifacts of every model kind, built from a seeded synthetic rating matrix.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use artifacts::{Artifact, Metadata, ModelKind, MovieInfo, TrainedModel, code_version};
use engine::als::{ImplicitAlsModel, ImplicitAlsParams};
use engine::blend::BlendParams;
use engine::ease::EaseParams;
use engine::explicit_als::ExplicitAlsParams;
use engine::knn::ItemKnnParams;
use engine::popularity::PopularityParams;
use engine::{Duplicates, FitContext, IdMap, Interaction, Interactions, Params};

pub const N_USERS: usize = 40;
pub const N_ITEMS: usize = 30;

/// A deterministic pseudo-random stream (SplitMix64).
pub struct Stream(u64);

impl Stream {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// About a third of the user × item cells rated 1–5, with a popularity skew.
pub fn interactions() -> Interactions {
    let mut rng = Stream::new(7);
    let mut entries = Vec::new();
    for user_idx in 0..N_USERS as u32 {
        for item_idx in 0..N_ITEMS as u32 {
            let p = 0.6 - 0.5 * item_idx as f32 / N_ITEMS as f32;
            if rng.unit() < p {
                let value = 1.0 + (rng.next_u64() % 5) as f32;
                entries.push(Interaction { user_idx, item_idx, value, timestamp: 0 });
            }
        }
    }
    Interactions::from_entries(N_USERS, N_ITEMS, &entries, Duplicates::KeepLatest).unwrap()
}

/// Two movies per user that are not in `data`, rated 2.0: what an implicit model's artifact
/// records as rated but not learned from.
pub fn also_seen(data: &Interactions) -> engine::Csr {
    let entries: Vec<Interaction> = (0..N_USERS as u32)
        .flat_map(|user_idx| {
            let row = data.user_items().row(user_idx as usize);
            (0..N_ITEMS as u32)
                .filter(move |&item| !row.contains(item))
                .take(2)
                .map(move |item_idx| Interaction { user_idx, item_idx, value: 2.0, timestamp: 0 })
        })
        .collect();
    Interactions::from_entries(N_USERS, N_ITEMS, &entries, Duplicates::Reject).unwrap().user_items().clone()
}

pub fn movies() -> Vec<MovieInfo> {
    let mut res: Vec<MovieInfo> = (0..N_ITEMS as u64)
        .map(|i| MovieInfo {
            movie_id: 1 + 3 * i,
            title: format!("Movie {i} ({})", 1980 + i),
            year: Some(1980 + i as u16),
            genres: ["Drama", "Comedy", "Sci-Fi"]
                .iter()
                .take(i as usize % 4)
                .map(|g| g.to_string())
                .collect(),
        })
        .collect();
    res[1].title = "Amélie (Le Fabuleux Destin d'Amélie Poulain) (2001)".into();
    res[2].year = None;
    res.push(MovieInfo { movie_id: 999_999, title: "Never rated".into(), year: None, genres: vec![] });
    res
}

pub fn metadata(dataset: &str) -> Metadata {
    Metadata {
        created_at: UNIX_EPOCH + Duration::from_secs(1_795_511_700),
        code_version: code_version(Some("abc1234")),
        dataset: dataset.to_string(),
        metrics: BTreeMap::from([("ndcg@10".to_string(), 0.3125), ("precision@10".to_string(), 0.1)]),
    }
}

pub fn model(kind: ModelKind, data: &Interactions) -> TrainedModel {
    let ctx = FitContext::new();
    match kind {
        ModelKind::ImplicitAls => {
            let params =
                ImplicitAlsParams { factors: 8, iterations: 3, ..Default::default() }.check().unwrap();
            TrainedModel::ImplicitAls(engine::als::fit(&params, data, &ctx).unwrap())
        }
        ModelKind::ExplicitAls => {
            let params = ExplicitAlsParams {
                factors: 6,
                iterations: 3,
                samples: 5,
                burn_in: 1,
                thin: 1,
                ..Default::default()
            }
            .check()
            .unwrap();
            TrainedModel::ExplicitAls(engine::explicit_als::fit(&params, data, &ctx).unwrap())
        }
        ModelKind::ItemKnn => {
            let params = ItemKnnParams { neighbours: 10, ..Default::default() }.check().unwrap();
            TrainedModel::ItemKnn(engine::knn::fit(&params, data, &ctx).unwrap())
        }
        ModelKind::Ease => {
            let params = EaseParams { regularization: 50.0, ..Default::default() }.check().unwrap();
            let model = engine::ease::fit(&params, data, &ctx).unwrap();
            TrainedModel::Ease { model, params: params.into_inner() }
        }
        ModelKind::Popularity => {
            let params = PopularityParams::default().check().unwrap();
            let model = engine::popularity::fit(&params, data).unwrap();
            TrainedModel::Popularity { model, params: params.into_inner() }
        }
        ModelKind::Blend => {
            let params = BlendParams {
                ease: EaseParams { regularization: 50.0, ..Default::default() },
                als: ImplicitAlsParams { factors: 8, iterations: 3, ..Default::default() },
                ease_weight: 0.4,
                low_rating_weight: 0.25,
            }
            .check()
            .unwrap();
            TrainedModel::Blend(engine::blend::fit(&params, data, &ctx).unwrap())
        }
    }
}

/// A trained artifact of `kind` over the synthetic matrix.
pub fn artifact(kind: ModelKind) -> Artifact {
    let data = interactions();
    Artifact {
        model: model(kind, &data),
        users: IdMap::from_external((0..N_USERS as u64).map(|u| 1000 + 7 * u).collect()).unwrap(),
        items: IdMap::from_external((0..N_ITEMS as u64).map(|i| 1 + 3 * i).collect()).unwrap(),
        seen: data.user_items().clone(),
        also_seen: match kind {
            ModelKind::ExplicitAls => engine::Csr::empty(N_USERS, N_ITEMS),
            _ => also_seen(&data),
        },
        movies: movies(),
        meta: metadata(&format!("synthetic {N_USERS}x{N_ITEMS}, {kind}")),
        upgraded_from: None,
    }
}

/// An implicit ALS artifact of random factors, about `n_items × k × 4` bytes, for multipart
/// uploads.
pub fn large_artifact(n_items: usize, k: usize) -> Artifact {
    let n_users = 100;
    let mut rng = Stream::new(11);
    let mut factors = |rows: usize| (0..rows * k).map(|_| rng.unit() - 0.5).collect::<Vec<f32>>();
    let (user_factors, item_factors) = (factors(n_users), factors(n_items));
    let params = ImplicitAlsParams { factors: k, ..Default::default() }.check().unwrap();
    let model =
        ImplicitAlsModel::from_factors(&params, n_users, n_items, user_factors, item_factors).unwrap();
    let entries: Vec<Interaction> = (0..n_users as u32)
        .flat_map(|u| (0..20u32).map(move |j| (u, (u * 37 + j * 101) % n_items as u32)))
        .map(|(user_idx, item_idx)| Interaction { user_idx, item_idx, value: 1.0, timestamp: 0 })
        .collect();
    let data = Interactions::from_entries(n_users, n_items, &entries, Duplicates::Max).unwrap();
    Artifact {
        model: TrainedModel::ImplicitAls(model),
        users: IdMap::from_external((0..n_users as u64).collect()).unwrap(),
        items: IdMap::from_external((0..n_items as u64).collect()).unwrap(),
        seen: data.user_items().clone(),
        also_seen: engine::Csr::empty(n_users, n_items),
        movies: Vec::new(),
        meta: metadata("random factors"),
        upgraded_from: None,
    }
}
