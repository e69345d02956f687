//! Compiles every `.proto` under `proto/` with protox (pure Rust, no protoc) into tonic/prost
//! code, and writes the descriptor set that server reflection serves.

use std::path::PathBuf;

use prost::Message;

/// Every contract; a new service adds its file here.
const PROTOS: &[&str] = &[
    "proto/cinerec/recommendation/v1/recommendation.proto",
    "proto/cinerec/events/v1/events.proto",
    "proto/cinerec/users/v1/users.proto",
    "proto/cinerec/movies/v1/movies.proto",
    "proto/cinerec/ratings/v1/ratings.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("cinerec_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
