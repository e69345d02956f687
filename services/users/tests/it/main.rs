//! Integration tests of the users service: a real tonic client against the server on
//! 127.0.0.1:0, over the MongoDB-protocol server `scripts/start-server mongo` starts
//! (`CINEREC_TEST_MONGO_URL`, a fresh database per test) and, for one test, the Kafka broker
//! (`CINEREC_TEST_KAFKA_BROKERS`).

mod accounts;
mod faults;
mod helpers;
mod kafka;
mod preferences;
mod secrets;
mod store;
mod tokens;
mod validation;
