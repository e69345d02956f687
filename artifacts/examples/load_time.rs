//! Times writing and loading a large synthetic artifact: an implicit ALS model of ML-20M's
//! shape (138,493 users, 26,744 items, 20M ratings: every other one of each user's ratings in
//! the training matrix, the rest in the also-seen matrix) with random factors.
//!
//! Run (no S3 client needed):
//! `cargo run --release -p artifacts --no-default-features --example load_time -- [FACTORS] [NNZ]`
//! (defaults: 128 factors, 20,000,000 interactions).

use std::time::Instant;

use artifacts::{Artifact, Metadata, TrainedModel, read_artifact, write_artifact};
use engine::als::{ImplicitAlsModel, ImplicitAlsParams};
use engine::{Csr, IdMap, Params};

/// SplitMix64: a seeded stream, so that every run measures the same file.
struct Stream(u64);

impl Stream {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let k = args.next().unwrap_or(128);
    let nnz = args.next().unwrap_or(20_000_000);
    let (n_users, n_items) = (138_493usize, 26_744usize);
    let mut rng = Stream(20);

    let started = Instant::now();
    // Rows of nearly equal length; column j of a row lies in its own stride, so columns rise.
    let mut indptr = Vec::with_capacity(n_users + 1);
    let mut indices = Vec::with_capacity(nnz);
    indptr.push(0);
    for user in 0..n_users {
        let len = nnz / n_users + usize::from(user < nnz % n_users);
        let stride = n_items / len.max(1);
        indices.extend((0..len).map(|j| (j * stride) as u32 + (rng.next_u64() % stride as u64) as u32));
        indptr.push(indices.len());
    }
    // Alternate entries of each row: positives (training matrix) and other rated movies.
    let split = |parity: usize| {
        let (mut ptr, mut idx) = (vec![0usize], Vec::with_capacity(nnz / 2 + n_users));
        for row in indptr.windows(2) {
            idx.extend(indices[row[0]..row[1]].iter().skip(parity).step_by(2));
            ptr.push(idx.len());
        }
        let values = vec![if parity == 0 { 1.0f32 } else { 2.0 }; idx.len()];
        Csr::from_parts(n_users, n_items, ptr, idx, values).expect("a valid CSR")
    };
    let (seen, also_seen) = (split(0), split(1));
    let mut factors = |rows: usize| {
        (0..rows * k).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect::<Vec<f32>>()
    };
    let (user_factors, item_factors) = (factors(n_users), factors(n_items));
    let params = ImplicitAlsParams { factors: k, ..Default::default() }.check().expect("valid params");
    let model =
        ImplicitAlsModel::from_factors(&params, n_users, n_items, user_factors, item_factors).unwrap();
    let artifact = Artifact {
        model: TrainedModel::ImplicitAls(model),
        users: IdMap::from_external((1..=n_users as u64).collect()).unwrap(),
        items: IdMap::from_external((1..=n_items as u64).collect()).unwrap(),
        seen,
        also_seen,
        movies: Vec::new(),
        meta: Metadata::new("synthetic ML-20M shape, random factors", None),
        upgraded_from: None,
    };
    eprintln!("built the model in {:.2?}", started.elapsed());

    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("model.cinerec");
    let started = Instant::now();
    let file = std::io::BufWriter::new(fs_err::File::create(&path).expect("create"));
    let size = write_artifact(&artifact, file).expect("write");
    let write_time = started.elapsed();

    for run in 1..=3 {
        let started = Instant::now();
        let bytes = fs_err::read(&path).expect("read");
        let read_time = started.elapsed();
        let loaded = read_artifact(&bytes).expect("load");
        let total = started.elapsed();
        assert_eq!(loaded.seen.nnz() + loaded.also_seen.nnz(), nnz);
        println!(
            "run {run}: {} factors, {} ratings: {:.1} MB written in {write_time:.2?}; \
             loaded in {total:.2?} (file read {read_time:.2?}, decode+validate {:.2?})",
            k,
            nnz,
            size as f64 / 1e6,
            total - read_time
        );
    }
}
