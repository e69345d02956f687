//! One implicit ALS iteration (CG and Cholesky; 64 and 128 factors) on ml-latest-small and the
//! synthetic ML-20M-shaped set at scale 0.1.
//!
//! Run: `CINEREC_DATA_DIR=../shared/datasets cargo bench -p benches --bench als`

use benches::{movielens_positives, synthetic_positives};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use datasets::DatasetName;
use engine::als::{ImplicitAlsParams, Solver, fit};
use engine::{FitContext, Params};

fn als_iteration(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    let sets = [
        ("ml-latest-small", movielens_positives(DatasetName::MlLatestSmall)),
        ("synth-0.1", synthetic_positives(0.1)),
    ];
    let mut group = c.benchmark_group(format!("als_iteration/{threads}threads"));
    group.sample_size(10);
    for (name, data) in &sets {
        for solver in [Solver::ConjugateGradient, Solver::Cholesky] {
            for factors in [64, 128] {
                let params = ImplicitAlsParams { factors, iterations: 1, solver, ..Default::default() }
                    .check()
                    .expect("params");
                let id = BenchmarkId::new(format!("{solver:?}/{factors}"), name);
                group.bench_with_input(id, data, |b, data| {
                    b.iter(|| fit(&params, data, &FitContext::new().with_pool(&pool)).expect("fit"))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, als_iteration);
criterion_main!(benches);
