//! The parsers and loaders on the real ml-100k and ml-latest-small files.

use std::collections::{HashMap, HashSet};

use datasets::{
    DatasetName, ParseMode, Presence, Rating, RatingsFormat, RatingsSource, load_ml100k_fold, load_movies,
    load_ratings, load_ratings_file, load_ratings_file_log, load_ratings_log, parse_ratings, ratings_to_log,
    ratings_to_logs,
};
use engine::Duplicates;

use crate::shared_data_dir;

fn distinct(ratings: &[Rating], key: impl Fn(&Rating) -> u64) -> usize {
    ratings.iter().map(key).collect::<HashSet<_>>().len()
}

fn sorted(mut ratings: Vec<Rating>) -> Vec<(u64, u64, u32, i64)> {
    let mut res: Vec<_> =
        ratings.drain(..).map(|r| (r.user_id, r.movie_id, (r.rating * 2.0) as u32, r.timestamp)).collect();
    res.sort_unstable();
    res
}

#[test]
fn ml100k_ratings_match_the_readme() {
    let dir = shared_data_dir();
    let ratings = load_ratings(&dir, DatasetName::Ml100k).unwrap();
    assert_eq!(ratings.len(), 100_000);
    assert_eq!(distinct(&ratings, |r| r.user_id), 943);
    assert_eq!(distinct(&ratings, |r| r.movie_id), 1682);
    let mut stars = [0usize; 6];
    ratings.iter().for_each(|r| stars[r.rating as usize] += 1);
    assert_eq!(stars, [0, 6_110, 11_370, 27_145, 34_174, 21_201]);
    assert_eq!(ratings[0], Rating { user_id: 196, movie_id: 242, rating: 3.0, timestamp: 881_250_949 });
    let mut per_user: HashMap<u64, usize> = HashMap::new();
    ratings.iter().for_each(|r| *per_user.entry(r.user_id).or_default() += 1);
    assert!(per_user.values().all(|&n| n >= 20));

    let log = ratings_to_log(&ratings);
    assert_eq!((log.n_users(), log.n_items(), log.entries.len()), (943, 1682, 100_000));
    assert_eq!(log.users.external(0), Some(196));
    let matrix = log.to_interactions(Duplicates::Reject).unwrap();
    assert_eq!(matrix.nnz(), 100_000);
    assert_eq!(load_ratings_log(&dir, DatasetName::Ml100k).unwrap(), log);
}

#[test]
fn ml100k_items_are_decoded_from_latin1() {
    let movies = load_movies(&shared_data_dir(), DatasetName::Ml100k).unwrap();
    assert_eq!(movies.len(), 1682);
    assert!(movies.iter().enumerate().all(|(i, m)| m.movie_id == i as u64 + 1));
    let toy_story = &movies[0];
    assert_eq!(toy_story.title, "Toy Story (1995)");
    assert_eq!(toy_story.year, Some(1995));
    assert_eq!(toy_story.genres, ["Animation", "Children's", "Comedy"]);
    assert_eq!(movies[542].title, "Misérables, Les (1995)");
    assert_eq!(movies[1232].title, "Nénette et Boni (1996)");
    let unknown = &movies[266];
    assert_eq!((unknown.title.as_str(), unknown.year, unknown.genres.len()), ("unknown", None, 0));
    assert_eq!(movies.iter().filter(|m| m.year.is_none()).count(), 1);
}

#[test]
fn ml100k_folds_partition_the_data() {
    let dir = shared_data_dir();
    let all = sorted(load_ratings(&dir, DatasetName::Ml100k).unwrap());
    let mut tests = Vec::new();
    for fold in 1..=5 {
        let (train, test) = load_ml100k_fold(&dir, fold).unwrap();
        assert_eq!((train.len(), test.len()), (80_000, 20_000), "fold {fold}");
        let (train_log, test_log) = ratings_to_logs(&train, &test);
        assert_eq!(train_log.users, test_log.users);
        assert_eq!(train_log.items, test_log.items);
        assert_eq!(train_log.n_users(), 943);
        // Both matrices live in one index space.
        let test_matrix = train_log.interactions_of(&test_log.entries, Duplicates::Reject).unwrap();
        assert_eq!(test_matrix.nnz(), 20_000);
        let mut both = train;
        both.extend_from_slice(&test);
        assert_eq!(sorted(both), all, "fold {fold}: base + test = u.data");
        tests.extend(test);
    }
    assert_eq!(sorted(tests), all, "the test folds partition u.data");
}

#[test]
fn ml_latest_small_matches_the_readme() {
    let dir = shared_data_dir();
    let ratings = load_ratings(&dir, DatasetName::MlLatestSmall).unwrap();
    assert_eq!(ratings.len(), 100_836);
    assert_eq!(distinct(&ratings, |r| r.user_id), 610);
    assert_eq!(distinct(&ratings, |r| r.movie_id), 9_724);
    assert_eq!(ratings.iter().map(|r| r.movie_id).max(), Some(193_609));
    let halves = ratings.iter().filter(|r| r.rating.fract() == 0.5).count();
    assert_eq!(halves, 1_370 + 1_791 + 5_550 + 13_136 + 8_551);

    let movies = load_movies(&dir, DatasetName::MlLatestSmall).unwrap();
    assert_eq!(movies.len(), 9_742);
    let by_id: HashMap<u64, &datasets::Movie> = movies.iter().map(|m| (m.movie_id, m)).collect();
    assert!(ratings.iter().all(|r| by_id.contains_key(&r.movie_id)), "every rated movie is listed");
    assert_eq!(by_id[&11].title, "American President, The (1995)");
    assert_eq!(by_id[&7789].title, "11'09\"01 - September 11 (2002)");
    assert_eq!(by_id[&7789].year, Some(2002));
    assert_eq!(by_id[&27008].title, "From Dusk Till Dawn 2: Texas Blood Money (1999)");
    assert_eq!(by_id[&1].genres, ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]);
    assert_eq!(movies.iter().filter(|m| m.genres.is_empty()).count(), 34);
    assert_eq!(movies.iter().filter(|m| m.year.is_none()).count(), 12);
    assert_eq!(by_id[&171749].year, Some(2006), "Death Note: Desu nôto (2006–2007)");
}

#[test]
fn files_load_by_path_with_format_from_the_name() {
    let dir = shared_data_dir();
    let base = load_ratings_file(&dir.join("ml-100k/u1.base")).unwrap();
    assert_eq!(base.len(), 80_000);
    let csv = load_ratings_file(&dir.join("ml-latest-small/ratings.csv")).unwrap();
    assert_eq!(csv.len(), 100_836);
    // Read line by line straight into a log: the same log as through the parsed ratings.
    for (path, ratings) in [("ml-100k/u1.base", &base), ("ml-latest-small/ratings.csv", &csv)] {
        let log = load_ratings_file_log(&dir.join(path)).unwrap();
        assert_eq!(log.entries.len(), ratings.len(), "{path}");
        assert_eq!(log, ratings_to_log(ratings), "{path}");
    }

    let by_name: RatingsSource = "ml-100k".parse().unwrap();
    let by_path: RatingsSource = dir.join("ml-100k/u.data").to_str().unwrap().parse().unwrap();
    assert!(matches!(by_path, RatingsSource::File(_)));
    assert_eq!(by_name.load_ratings(&dir).unwrap(), by_path.load_ratings(&dir).unwrap());
    assert_eq!(by_path.load_movies(&dir).unwrap().len(), 1682);
    let small: RatingsSource = dir.join("ml-latest-small/ratings.csv").to_str().unwrap().parse().unwrap();
    assert_eq!(small.load_movies(&dir).unwrap().len(), 9_742);
}

#[test]
fn lenient_parsing_of_a_damaged_copy_keeps_the_good_lines() {
    let path = shared_data_dir().join("ml-100k/u.data");
    let mut bytes = fs_err::read(&path).unwrap();
    bytes.extend_from_slice(b"1\t2\tfive\t3\n7\t8\t9\n");
    let strict = parse_ratings(bytes.as_slice(), RatingsFormat::Tab, "ml-100k/u.data", ParseMode::Strict);
    assert_eq!(
        strict.unwrap_err().to_string(),
        r#"ml-100k/u.data:100001: field `rating`: "five" is not a number"#
    );
    let parsed =
        parse_ratings(bytes.as_slice(), RatingsFormat::Tab, "ml-100k/u.data", ParseMode::Lenient).unwrap();
    assert_eq!(parsed.records.len(), 100_000);
    assert_eq!(parsed.skipped.count, 2);
    let lines: Vec<u64> = parsed.skipped.lines.iter().map(|s| s.line).collect();
    assert_eq!(lines, [100_001, 100_002]);
}

#[test]
fn shared_datasets_verify_against_known_hashes() {
    let dir = shared_data_dir();
    for (name, n_files) in [(DatasetName::Ml100k, 21), (DatasetName::MlLatestSmall, 5)] {
        let report = datasets::verify(&dir, name).unwrap();
        assert_eq!(report.files.len(), n_files, "{name}");
        assert!(report.is_ok(), "{name}: {:?}", report.mismatches().collect::<Vec<_>>());
    }
    let statuses = datasets::statuses(&dir).unwrap();
    let presence: HashMap<DatasetName, Presence> =
        statuses.into_iter().map(|s| (s.name, s.presence)).collect();
    assert_eq!(presence[&DatasetName::Ml100k], Presence::Unrecorded);
    assert_eq!(presence[&DatasetName::MlLatestSmall], Presence::Unrecorded);
    assert_eq!(presence[&DatasetName::Ml20m], Presence::Missing);
}
