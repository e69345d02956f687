//! Integration tests of the artifacts crate: the file format, and the model stores (the S3 one
//! against a real S3-protocol server whose endpoint `CINEREC_TEST_S3_ENDPOINT` gives).

mod fixtures;
mod format;
#[cfg(feature = "s3")]
mod s3;
mod store;
