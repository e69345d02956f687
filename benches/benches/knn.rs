//! Item-kNN build (cosine and BM25 similarities, 100 neighbours) on ml-latest-small.
//!
//! Run: `CINEREC_DATA_DIR=../shared/datasets cargo bench -p benches --bench knn`

use benches::movielens_positives;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use datasets::DatasetName;
use engine::knn::{ItemKnnParams, Similarity, fit};
use engine::{FitContext, Params};

fn knn_build(c: &mut Criterion) {
    let data = movielens_positives(DatasetName::MlLatestSmall);
    let mut group = c.benchmark_group("item_knn_build/ml-latest-small");
    group.sample_size(20);
    for (name, similarity) in
        [("cosine", Similarity::Cosine), ("bm25", Similarity::Bm25 { k1: 1.2, b: 0.75 })]
    {
        let params =
            ItemKnnParams { similarity, neighbours: 100, ..Default::default() }.check().expect("params");
        group.bench_with_input(BenchmarkId::new(name, 100), &data, |b, data| {
            b.iter(|| fit(&params, data, &FitContext::new()).expect("fit"))
        });
    }
    group.finish();
}

criterion_group!(benches, knn_build);
criterion_main!(benches);
