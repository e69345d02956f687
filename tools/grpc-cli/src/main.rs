//! `cinerec-grpc`: calls the serving and ratings services from the command line, e.g.
//! `cinerec-grpc recommend --user 1 -n 5` or `cinerec-grpc rate --user 1 --movie 1 --rating 4.5`.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use proto::movies::v1::GetMovieRequest;
use proto::movies::v1::movies_service_client::MoviesServiceClient;
use proto::ratings::v1::ratings_service_client::RatingsServiceClient;
use proto::ratings::v1::{ListUserRatingsRequest, SubmitRatingRequest};
use proto::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use proto::recommendation::v1::{
    ModelInfoRequest, RecommendRequest, RecommendResponse, RefreshModelRequest, ScoredMovie,
    SimilarMoviesRequest,
};
use tonic::transport::Channel;

/// Command-line gRPC client for cinerec's services.
#[derive(Debug, Parser)]
#[command(name = "cinerec-grpc", version)]
struct Cli {
    /// Recommendation service address.
    #[arg(long, env = "CINEREC_SERVING_URL", default_value = "http://127.0.0.1:50051", global = true)]
    serving: String,
    /// Ratings service address.
    #[arg(long, env = "CINEREC_RATINGS_URL", default_value = "http://127.0.0.1:50053", global = true)]
    ratings: String,
    /// Movies service address, used to show titles the model's catalogue lacks (empty: don't).
    #[arg(long, env = "CINEREC_MOVIES_URL", default_value = "", global = true)]
    movies: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Top-N recommendations for a user.
    Recommend {
        /// External user id.
        #[arg(long)]
        user: u64,
        /// How many.
        #[arg(short, long, default_value_t = 10)]
        n: u32,
        /// Recently rated movie ids (fold-in for users the model has not seen).
        #[arg(long, value_delimiter = ',')]
        recent: Vec<u64>,
    },
    /// Movies similar to a movie.
    Similar {
        /// External movie id.
        #[arg(long)]
        movie: u64,
        /// How many.
        #[arg(short, long, default_value_t = 10)]
        n: u32,
    },
    /// The model serving now.
    ModelInfo,
    /// Asks serving to check the model store for a newer model now.
    Refresh,
    /// Submits (or changes) a rating.
    Rate {
        /// External user id.
        #[arg(long)]
        user: u64,
        /// External movie id.
        #[arg(long)]
        movie: u64,
        /// 0.5..=5.0 in half steps.
        #[arg(long)]
        rating: f32,
        /// Optional review text.
        #[arg(long, default_value = "")]
        review: String,
    },
    /// A user's ratings, newest first.
    Ratings {
        /// External user id.
        #[arg(long)]
        user: u64,
        /// How many.
        #[arg(short, long, default_value_t = 20)]
        n: u32,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Recommend { user, n, recent } => {
            let mut client = RecommendationServiceClient::new(connect(&cli.serving).await?);
            let request =
                RecommendRequest { user_id: user, n, recent_movie_ids: recent, ..Default::default() };
            let mut res = client.recommend(request).await?.into_inner();
            fill_titles(&cli.movies, &mut res.movies).await?;
            print_recommendations(&res);
        }
        Command::Similar { movie, n } => {
            let mut client = RecommendationServiceClient::new(connect(&cli.serving).await?);
            let mut res =
                client.similar_movies(SimilarMoviesRequest { movie_id: movie, n }).await?.into_inner();
            fill_titles(&cli.movies, &mut res.movies).await?;
            println!("model {}", res.model_version);
            for (rank, m) in res.movies.iter().enumerate() {
                println!("{:>3}. {:>7} {:>8.4}  {}", rank + 1, m.movie_id, m.score, m.title);
            }
        }
        Command::ModelInfo => {
            let mut client = RecommendationServiceClient::new(connect(&cli.serving).await?);
            let info = client.model_info(ModelInfoRequest {}).await?.into_inner();
            println!(
                "version {}  kind {}  dataset {}  users {}  movies {}",
                info.version, info.kind, info.dataset, info.n_users, info.n_movies
            );
            let mut metrics: Vec<_> = info.metrics.into_iter().collect();
            metrics.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, value) in metrics {
                println!("  {name} = {value:.4}");
            }
        }
        Command::Refresh => {
            let mut client = RecommendationServiceClient::new(connect(&cli.serving).await?);
            let res = client.refresh_model(RefreshModelRequest {}).await?.into_inner();
            println!("model {} (swapped: {})", res.model_version, res.swapped);
        }
        Command::Rate { user, movie, rating, review } => {
            let mut client = RatingsServiceClient::new(connect(&cli.ratings).await?);
            let request = SubmitRatingRequest { user_id: user, movie_id: movie, rating, review };
            let res = client.submit_rating(request).await?.into_inner();
            let verb = if res.updated { "changed" } else { "added" };
            println!("{verb} rating user {user} movie {movie} = {rating} (event {})", res.event_id);
        }
        Command::Ratings { user, n } => {
            let mut client = RatingsServiceClient::new(connect(&cli.ratings).await?);
            let request = ListUserRatingsRequest { user_id: user, page_size: n, page_token: String::new() };
            let res = client.list_user_ratings(request).await?.into_inner();
            println!("user {user}: {} ratings", res.total);
            let ids: Vec<u64> = res.ratings.iter().map(|r| r.movie_id).collect();
            let titles = titles(&cli.movies, &ids).await?;
            for (r, title) in res.ratings.iter().zip(titles) {
                println!("  {:>7}  {:.1}  {title}", r.movie_id, r.rating);
            }
        }
    }
    Ok(())
}

/// Titles of `ids` from the movies service (empty strings when `movies_url` is empty or a movie
/// is unknown there).
async fn titles(movies_url: &str, ids: &[u64]) -> Result<Vec<String>> {
    if movies_url.is_empty() {
        return Ok(vec![String::new(); ids.len()]);
    }
    let mut client = MoviesServiceClient::new(connect(movies_url).await?);
    let mut res = Vec::with_capacity(ids.len());
    for &movie_id in ids {
        match client.get_movie(GetMovieRequest { movie_id }).await {
            Ok(movie) => res.push(movie.into_inner().title),
            Err(status) if status.code() == tonic::Code::NotFound => res.push(String::new()),
            Err(status) => return Err(status).with_context(|| format!("looking up movie {movie_id}")),
        }
    }
    Ok(res)
}

/// Fills in titles the model's catalogue did not have, from the movies service.
async fn fill_titles(movies_url: &str, movies: &mut [ScoredMovie]) -> Result<()> {
    let missing: Vec<u64> = movies.iter().filter(|m| m.title.is_empty()).map(|m| m.movie_id).collect();
    let mut found = titles(movies_url, &missing).await?.into_iter();
    for movie in movies.iter_mut().filter(|m| m.title.is_empty()) {
        movie.title = found.next().unwrap_or_default();
    }
    Ok(())
}

async fn connect(url: &str) -> Result<Channel> {
    Channel::from_shared(url.to_string())
        .with_context(|| format!("bad service address `{url}`"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connecting to {url}"))
}

fn print_recommendations(res: &RecommendResponse) {
    let source = proto::recommendation::v1::Source::try_from(res.source)
        .map(|s| s.as_str_name())
        .unwrap_or("SOURCE_UNKNOWN");
    println!("model {}  source {}  cached {}", res.model_version, source, res.cached);
    for (rank, m) in res.movies.iter().enumerate() {
        println!("{:>3}. {:>7} {:>8.4}  {}", rank + 1, m.movie_id, m.score, m.title);
    }
}
