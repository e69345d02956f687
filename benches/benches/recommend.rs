//! Top-10 recommendation, single user and batches of 64 and 256, for a model of the ML-20M shape
//! (26,744 items) at 128 factors, exact and through the int8 candidate index
//! (`QuantizedIndex`, `quantized-*` ids); plus similar items.
//!
//! Run: `cargo bench -p benches --bench recommend` (filter e.g. `-- recommend_top10`)

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine::als::{ImplicitAlsModel, ImplicitAlsParams};
use engine::recommend::{RecommendOptions, TrainingUsers, recommend, recommend_batch, similar_items};
use engine::rng::Rng;
use engine::{Duplicates, Interaction, Interactions, Params, QuantizedIndex};

const N_ITEMS: usize = 26_744;
const N_USERS: usize = 4_096;
const SEEN_PER_USER: usize = 144;

fn model_and_history(factors: usize) -> (ImplicitAlsModel, Interactions) {
    let mut rng = Rng::new(7);
    let mut random = |n: usize| (0..n).map(|_| rng.next_f32() - 0.5).collect::<Vec<f32>>();
    let params = ImplicitAlsParams { factors, ..Default::default() }.check().expect("params");
    let model = ImplicitAlsModel::from_factors(
        &params,
        N_USERS,
        N_ITEMS,
        random(N_USERS * factors),
        random(N_ITEMS * factors),
    )
    .expect("model");
    let mut rng = Rng::new(8);
    let entries: Vec<Interaction> = (0..N_USERS as u32)
        .flat_map(|user_idx| {
            (0..SEEN_PER_USER)
                .map(|_| Interaction {
                    user_idx,
                    item_idx: rng.below(N_ITEMS as u64) as u32,
                    value: 1.0,
                    timestamp: 0,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    (model, Interactions::from_entries(N_USERS, N_ITEMS, &entries, Duplicates::Sum).expect("matrix"))
}

fn top10(c: &mut Criterion) {
    let (model, seen) = model_and_history(128);
    let index = QuantizedIndex::build(&model).expect("factor model");
    let options = RecommendOptions { n: 10, ..Default::default() };
    let mut group = c.benchmark_group("recommend_top10/26744items/128factors");
    let mut user = 0u32;
    group.bench_function("single", |b| {
        b.iter(|| {
            user = (user + 1) % N_USERS as u32;
            recommend(&model, TrainingUsers::learned_only(seen.user_items()), user, &options)
                .expect("recommend")
        })
    });
    group.bench_function("quantized-single", |b| {
        b.iter(|| {
            user = (user + 1) % N_USERS as u32;
            index
                .recommend(&model, TrainingUsers::learned_only(seen.user_items()), user, &options)
                .expect("recommend")
        })
    });
    for batch in [64usize, 256] {
        let users: Vec<u32> = (0..batch as u32).collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &users, |b, users| {
            b.iter(|| {
                recommend_batch(&model, TrainingUsers::learned_only(seen.user_items()), users, &options)
                    .expect("batch")
            })
        });
        group.bench_with_input(BenchmarkId::new("quantized-batch", batch), &users, |b, users| {
            b.iter(|| {
                index
                    .recommend_batch(&model, TrainingUsers::learned_only(seen.user_items()), users, &options)
                    .expect("batch")
            })
        });
    }
    group.finish();
    c.bench_function("similar_items_top10/26744items/128factors", |b| {
        b.iter(|| similar_items(&model, 17, 10).expect("similar"))
    });
}

criterion_group!(benches, top10);
criterion_main!(benches);
