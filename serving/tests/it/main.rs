//! The serving crate's integration tests: a real server on 127.0.0.1:0, a real tonic client,
//! real Redis (`CINEREC_TEST_REDIS_URL`, plus private servers for outages) and the S3-protocol
//! server (`CINEREC_TEST_S3_*`) and the Kafka-protocol broker (`CINEREC_TEST_KAFKA_BROKERS`,
//! plus private brokers for outages), all started by `scripts/test`.

mod cache;
mod errors;
mod events;
mod helpers;
mod precompute;
mod queries;
mod seen;
mod shutdown;
mod swap;
