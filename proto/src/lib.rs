//! cinerec's wire contracts, generated from `proto/cinerec/**.proto`: one module per protobuf
//! package (`cinerec.<area>.v<N>` → `proto::<area>::v<N>`), plus the Kafka topic names and the
//! descriptor set for gRPC server reflection. Depends on nothing of ours: conversions to engine
//! and storage types live in the crates that use them.

/// Encoded `FileDescriptorSet` of every package, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cinerec_descriptor.bin"));

/// `cinerec.recommendation.*`: the serving API.
pub mod recommendation {
    /// `cinerec.recommendation.v1`.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("cinerec.recommendation.v1");
    }
}

/// `cinerec.events.*`: Kafka event payloads.
pub mod events {
    /// `cinerec.events.v1`.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("cinerec.events.v1");
    }

    /// Kafka topic names: one per event kind and schema version; messages are keyed by the
    /// user id (movie events: movie id) as decimal text.
    pub mod topics {
        /// `RatingEvent` (v1).
        pub const RATINGS: &str = "cinerec.ratings.v1";
        /// `UserPreferencesChanged` (v1).
        pub const USER_PREFERENCES: &str = "cinerec.user-preferences.v1";
        /// `UserDeleted` (v1).
        pub const USER_DELETED: &str = "cinerec.user-deleted.v1";
        /// `MovieEvent` (v1): created, updated and deleted movies.
        pub const MOVIES: &str = "cinerec.movies.v1";
        /// `RecommendationServed` (v1): impressions published by the gateway.
        pub const RECOMMENDATIONS_SERVED: &str = "cinerec.recommendations-served.v1";
        /// `RequestLogged` (v1): every request the gateway answered.
        pub const REQUEST_LOGS: &str = "cinerec.request-logs.v1";
        /// `ActivityRecorded` (v1): clients' views, clicks and searches, through the gateway.
        pub const ACTIVITY: &str = "cinerec.activity.v1";
    }
}

/// `cinerec.users.*`: accounts and preferences.
pub mod users {
    /// `cinerec.users.v1`.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("cinerec.users.v1");
    }
}

/// `cinerec.movies.*`: the catalogue and media.
pub mod movies {
    /// `cinerec.movies.v1`.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("cinerec.movies.v1");
    }
}

/// `cinerec.ratings.*`: ratings and reviews.
pub mod ratings {
    /// `cinerec.ratings.v1`.
    pub mod v1 {
        #![allow(missing_docs, clippy::all)]
        tonic::include_proto!("cinerec.ratings.v1");
    }
}
