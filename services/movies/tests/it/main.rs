//! Integration tests of the movies service through a real tonic client on 127.0.0.1:0, against
//! the real PostgreSQL, S3 and Kafka-protocol servers `scripts/start-server` starts (one fresh
//! database, bucket and topic per test).

mod catalogue;
mod crud;
mod event_relay;
mod faults;
mod helpers;
mod media;
