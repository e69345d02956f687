//! The `cinerec.movies.v1.MoviesService` gRPC handlers: parse requests into domain types, call
//! the store and the media store, and map errors to status codes at this edge only
//! (INVALID_ARGUMENT naming the field, NOT_FOUND, ALREADY_EXISTS, UNAVAILABLE after the
//! storage retries, INTERNAL without detail; causes are logged, never sent).

use std::sync::Arc;

use contract::{ErrorKind, PublicError};
use proto::movies::v1 as pb;
use proto::movies::v1::movies_service_server::MoviesService;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::domain::{
    FieldError, ListQuery, MediaKind, MediaObject, MediaUpload, Movie, MovieFields, MovieId, SearchQuery,
    media_key, media_prefix,
};
use crate::media::{MediaError, MediaStore};
use crate::store::{MovieStore, StoreError};

/// The service state: the catalogue, the media bucket, and the relay's wake-up signal.
pub struct MoviesApi<S, M> {
    store: Arc<S>,
    media: Arc<M>,
    relay: Arc<Notify>,
}

impl<S, M> MoviesApi<S, M> {
    /// Handlers over `store` and `media`; `relay` is notified after each change (the kit's layer
    /// counts calls).
    pub fn new(store: Arc<S>, media: Arc<M>, relay: Arc<Notify>) -> Self {
        Self { store, media, relay }
    }
}

/// Everything a handler can fail with, before mapping to a status.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Media(#[from] MediaError),
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let public = match err {
            ApiError::Invalid(field) => PublicError::from(field),
            ApiError::Store(StoreError::NotFound { id }) => {
                PublicError::new(ErrorKind::NotFound, format!("movie {id} not found"))
            }
            ApiError::Store(StoreError::AlreadyExists { id }) => {
                PublicError::new(ErrorKind::Conflict, format!("movie_id: movie {id} already exists"))
            }
            ApiError::Store(err @ StoreError::Unavailable { .. }) => {
                tracing::warn!(%err, "movie database unavailable");
                PublicError::unavailable("the movie database")
            }
            ApiError::Media(err @ MediaError::Unavailable { .. }) => {
                tracing::warn!(%err, "media storage unavailable");
                PublicError::unavailable("media storage")
            }
            err => {
                tracing::error!(%err, "request failed");
                PublicError::internal()
            }
        };
        public.into()
    }
}

fn kind_of(kind: i32) -> Result<MediaKind, FieldError> {
    match pb::MediaKind::try_from(kind) {
        Ok(pb::MediaKind::Poster) => Ok(MediaKind::Poster),
        Ok(pb::MediaKind::Trailer) => Ok(MediaKind::Trailer),
        _ => Err(FieldError::new("kind", "must be MEDIA_KIND_POSTER or MEDIA_KIND_TRAILER")),
    }
}

fn fields_of(movie: &pb::Movie) -> Result<MovieFields, FieldError> {
    MovieFields::parse(&movie.title, movie.year, &movie.genres, &movie.imdb_id, movie.tmdb_id)
}

impl<S: MovieStore, M: MediaStore> MoviesApi<S, M> {
    /// The wire form of `movie`, with presigned media URLs.
    async fn to_proto(&self, movie: Movie) -> Result<pb::Movie, ApiError> {
        let url = async |object: &Option<MediaObject>| match object {
            Some(object) => self.media.presign_get(&object.key).await,
            None => Ok(String::new()),
        };
        let poster_url = url(&movie.poster).await?;
        let trailer_url = url(&movie.trailer).await?;
        let fields = movie.fields;
        Ok(pb::Movie {
            movie_id: movie.id.get(),
            title: fields.title,
            year: fields.year.unwrap_or(0),
            genres: fields.genres,
            imdb_id: fields.imdb_id.unwrap_or_default(),
            tmdb_id: fields.tmdb_id.map_or(0, |id| id as u64),
            poster_url,
            trailer_url,
        })
    }

    async fn to_protos(&self, movies: Vec<Movie>) -> Result<Vec<pb::Movie>, ApiError> {
        let mut res = Vec::with_capacity(movies.len());
        for movie in movies {
            res.push(self.to_proto(movie).await?);
        }
        Ok(res)
    }

    /// Turns an outcome into a response (the kit's layer counts it).
    fn finish<T>(&self, res: Result<T, ApiError>) -> Result<Response<T>, Status> {
        res.map(Response::new).map_err(Status::from)
    }

    async fn create(&self, request: pb::CreateMovieRequest) -> Result<pb::Movie, ApiError> {
        let movie = request.movie.ok_or_else(|| FieldError::new("movie", "must be set"))?;
        let id = match movie.movie_id {
            0 => None,
            id => Some(MovieId::parse(id, "movie.movie_id")?),
        };
        let fields = fields_of(&movie)?;
        let created = self.store.create(id, &fields).await?;
        self.relay.notify_one();
        tracing::info!(movie_id = %created.id, title = %created.fields.title, "movie created");
        self.to_proto(created).await
    }

    async fn update(&self, request: pb::UpdateMovieRequest) -> Result<pb::Movie, ApiError> {
        let movie = request.movie.ok_or_else(|| FieldError::new("movie", "must be set"))?;
        let id = MovieId::parse(movie.movie_id, "movie.movie_id")?;
        let fields = fields_of(&movie)?;
        let updated = self.store.update(id, &fields).await?;
        self.relay.notify_one();
        tracing::info!(movie_id = %id, "movie updated");
        self.to_proto(updated).await
    }

    async fn delete(&self, request: pb::DeleteMovieRequest) -> Result<pb::DeleteMovieResponse, ApiError> {
        let id = MovieId::parse(request.movie_id, "movie_id")?;
        self.store.get(id).await?;
        // Media first: if the bucket is unreachable the movie stays and the call can be
        // retried (deleting absent objects is not an error).
        let objects = self.media.delete_prefix(&media_prefix(id)).await?;
        self.store.delete(id).await?;
        self.relay.notify_one();
        tracing::info!(movie_id = %id, media_objects = objects, "movie deleted");
        Ok(pb::DeleteMovieResponse {})
    }

    async fn upload(&self, request: pb::UploadMediaRequest) -> Result<pb::Movie, ApiError> {
        let id = MovieId::parse(request.movie_id, "movie_id")?;
        let kind = kind_of(request.kind)?;
        let upload = MediaUpload::check(kind, &request.content_type, &request.data)?;
        self.store.get(id).await?;
        let object =
            MediaObject { key: media_key(id, &upload), content_type: upload.content_type.to_string() };
        let bytes = request.data.len();
        self.media.put(&object.key, &object.content_type, request.data).await?;
        let (movie, previous) = match self.store.set_media(id, kind, &object).await {
            Ok(res) => res,
            Err(err) => {
                // Deleted meanwhile, or the database went away: do not leave the file behind.
                if let Err(cleanup) = self.media.delete(&object.key).await {
                    tracing::warn!(%cleanup, key = %object.key, "removing an unrecorded upload failed");
                }
                return Err(err.into());
            }
        };
        self.relay.notify_one();
        if let Some(previous) = previous.filter(|p| p.key != object.key)
            && let Err(err) = self.media.delete(&previous.key).await
        {
            tracing::warn!(%err, key = %previous.key, "removing the replaced media file failed");
        }
        tracing::info!(movie_id = %id, %kind, bytes, content_type = upload.content_type, "media uploaded");
        self.to_proto(movie).await
    }
}

#[tonic::async_trait]
impl<S: MovieStore, M: MediaStore> MoviesService for MoviesApi<S, M> {
    async fn create_movie(
        &self,
        request: Request<pb::CreateMovieRequest>,
    ) -> Result<Response<pb::Movie>, Status> {
        let res = self.create(request.into_inner()).await;
        self.finish(res)
    }

    async fn get_movie(&self, request: Request<pb::GetMovieRequest>) -> Result<Response<pb::Movie>, Status> {
        let res = async {
            let id = MovieId::parse(request.into_inner().movie_id, "movie_id")?;
            let movie = self.store.get(id).await?;
            self.to_proto(movie).await
        }
        .await;
        self.finish(res)
    }

    async fn update_movie(
        &self,
        request: Request<pb::UpdateMovieRequest>,
    ) -> Result<Response<pb::Movie>, Status> {
        let res = self.update(request.into_inner()).await;
        self.finish(res)
    }

    async fn delete_movie(
        &self,
        request: Request<pb::DeleteMovieRequest>,
    ) -> Result<Response<pb::DeleteMovieResponse>, Status> {
        let res = self.delete(request.into_inner()).await;
        self.finish(res)
    }

    async fn list_movies(
        &self,
        request: Request<pb::ListMoviesRequest>,
    ) -> Result<Response<pb::ListMoviesResponse>, Status> {
        let res = async {
            let r = request.into_inner();
            let query = ListQuery::parse(r.page_size, &r.page_token, &r.genre, r.year_from, r.year_to)?;
            let page = self.store.list(&query).await?;
            let next_page_token = match (page.more, page.movies.last()) {
                (true, Some(last)) => query.next_page_token(last.id),
                _ => String::new(),
            };
            Ok(pb::ListMoviesResponse { movies: self.to_protos(page.movies).await?, next_page_token })
        }
        .await;
        self.finish(res)
    }

    async fn search_movies(
        &self,
        request: Request<pb::SearchMoviesRequest>,
    ) -> Result<Response<pb::ListMoviesResponse>, Status> {
        let res = async {
            let r = request.into_inner();
            let query = SearchQuery::parse(&r.query, r.limit)?;
            let movies = self.store.search(&query).await?;
            Ok(pb::ListMoviesResponse {
                movies: self.to_protos(movies).await?,
                next_page_token: String::new(),
            })
        }
        .await;
        self.finish(res)
    }

    async fn upload_media(
        &self,
        request: Request<pb::UploadMediaRequest>,
    ) -> Result<Response<pb::Movie>, Status> {
        let res = self.upload(request.into_inner()).await;
        self.finish(res)
    }
}
