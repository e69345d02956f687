//! Time of one quantized top-10 query per integer kernel (and of the exact f32 scan), on a
//! model of the ML-20M shape (26,744 items, 128 factors, random factors), one thread, in one run: the
//! medians of 5 rounds of 5,000 queries each; then per query in groups of 2 and 4 queries
//! answered by one pass over the codes (`QuantizedIndex::recommend_group`).
//!
//! Run: `cargo run --release -p benches --example query_kernels [-- KERNEL …]` (default: every
//! kernel the CPU has).

use std::time::Instant;

use engine::als::{ImplicitAlsModel, ImplicitAlsParams};
use engine::recommend::{RecommendOptions, TrainingUsers, recommend};
use engine::{Csr, Params, QuantizedIndex};

const USERS: usize = 5_000;
const ITEMS: usize = 26_744;
const FACTORS: usize = 128;

fn main() {
    let mut state = 42u64;
    let mut uniform = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let users: Vec<f32> = (0..USERS * FACTORS).map(|_| uniform()).collect();
    let items: Vec<f32> = (0..ITEMS * FACTORS).map(|_| uniform()).collect();
    let params = ImplicitAlsParams { factors: FACTORS, ..Default::default() }.check().expect("params");
    let model = ImplicitAlsModel::from_factors(&params, USERS, ITEMS, users, items).expect("model");
    let seen = Csr::empty(USERS, ITEMS);
    let training = TrainingUsers::learned_only(&seen);
    let options = RecommendOptions::default();
    let index = QuantizedIndex::build(&model).expect("factor model");
    let time = |query: &dyn Fn(u32)| {
        let mut rounds: Vec<f64> = (0..5)
            .map(|_| {
                let started = Instant::now();
                (0..USERS as u32).for_each(query);
                started.elapsed().as_secs_f64() * 1e6 / USERS as f64
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        rounds[2]
    };
    let exact = time(&|user| {
        recommend(&model, training, user, &options).expect("query");
    });
    println!("{ITEMS} items × {FACTORS} factors, top-10, 1 thread, median µs per query:");
    println!("  exact f32 scan        {exact:8.1}");
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    for kernel in
        QuantizedIndex::kernels().into_iter().filter(|k| chosen.is_empty() || chosen.iter().any(|c| c == k))
    {
        let index = index.clone().with_kernel(kernel).expect("supported kernel");
        let micros = time(&|user| {
            index.recommend(&model, training, user, &options).expect("query");
        });
        println!("  quantized {kernel:<11} {micros:8.1}  ({:.1}× the exact scan)", exact / micros);
        for size in [2u32, 4] {
            let grouped = time(&|user| {
                // The group of `size` users that starts at `user`; the other users of a group
                // are skipped, so each round still answers every user once.
                if user % size == 0 {
                    let queries: Vec<_> =
                        (user..(user + size).min(USERS as u32)).map(|u| (u, options)).collect();
                    for answer in index.recommend_group(&model, training, &queries).expect("model") {
                        answer.expect("query");
                    }
                }
            });
            println!("    in groups of {size}      {grouped:8.1}  ({:.2}× alone)", micros / grouped);
        }
    }
}
