//! [`S3Args`]: the connection settings as flags a binary flattens into its config, each also read
//! from the environment variable that has always named it (`CINEREC_S3_ENDPOINT`, `AWS_*`).

use std::fmt;

use crate::S3Connection;

/// The S3 connection flags. `Debug` never shows the secret key or the session token, and
/// `--help` never shows their environment values.
///
/// The credentials are optional here (a binary whose model store is a folder needs none); a
/// binary that always needs S3 can make them required with
/// `#[command(mut_arg("s3_access_key_id", |a| a.required(true)))]` on the struct that flattens
/// this one.
#[derive(Clone, clap::Args)]
pub struct S3Args {
    /// S3 endpoint URL (MinIO: `http://minio:9000`); unset means AWS S3 of the region.
    #[arg(long, env = "CINEREC_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "AWS_REGION", default_value = S3Connection::DEFAULT_REGION)]
    pub s3_region: String,
    /// S3 access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key (never logged).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Session token of temporary S3 credentials (never logged).
    #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true)]
    pub s3_session_token: Option<String>,
}

impl S3Args {
    /// The flags and environment variables these settings add to a `--help` (binaries test
    /// that their help lists them).
    pub const HELP_NAMES: [&str; 10] = [
        "--s3-endpoint",
        "CINEREC_S3_ENDPOINT",
        "--s3-region",
        "AWS_REGION",
        "--s3-access-key-id",
        "AWS_ACCESS_KEY_ID",
        "--s3-secret-access-key",
        "AWS_SECRET_ACCESS_KEY",
        "--s3-session-token",
        "AWS_SESSION_TOKEN",
    ];
    /// The connection settings (other fields at their defaults), or `None` when the access key
    /// id or the secret access key is missing or empty.
    pub fn connection(&self) -> Option<S3Connection> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let mut res = S3Connection::new(given(&self.s3_access_key_id)?, given(&self.s3_secret_access_key)?);
        res.endpoint = given(&self.s3_endpoint);
        if !self.s3_region.is_empty() {
            res.region = self.s3_region.clone();
        }
        res.session_token = given(&self.s3_session_token);
        Some(res)
    }
}

impl fmt::Debug for S3Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Args")
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field("s3_secret_access_key", &redacted(&self.s3_secret_access_key))
            .field("s3_session_token", &redacted(&self.s3_session_token))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        s3: S3Args,
    }

    #[test]
    fn flags_make_the_connection() {
        let cli = Cli::parse_from([
            "x",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--s3-region",
            "eu-west-3",
            "--s3-access-key-id",
            "AKIDEXAMPLE",
            "--s3-secret-access-key",
            "wJalrXUtnFEMI",
            "--s3-session-token",
            "FwoGZXIvYXdzE",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("wJalrXUtnFEMI") && !shown.contains("FwoGZXIvYXdzE"), "{shown}");
        let connection = cli.s3.connection().unwrap();
        assert_eq!(connection.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(connection.region, "eu-west-3");
        assert_eq!(connection.access_key_id, "AKIDEXAMPLE");
        assert_eq!(connection.secret_access_key, "wJalrXUtnFEMI");
        assert_eq!(connection.session_token.as_deref(), Some("FwoGZXIvYXdzE"));
    }

    #[test]
    fn no_credentials_no_connection() {
        let mut args = Cli::parse_from(["x", "--s3-access-key-id", "a"]).s3;
        // The environment of the test run may hold credentials: set the fields explicitly.
        args.s3_secret_access_key = None;
        assert!(args.connection().is_none());
        args.s3_secret_access_key = Some(String::new());
        assert!(args.connection().is_none(), "an empty secret is no secret");
        args.s3_secret_access_key = Some("s".into());
        assert!(args.connection().is_some());
    }

    #[test]
    fn help_names_the_flags_and_their_variables() {
        let help = Cli::command().render_help().to_string();
        for name in S3Args::HELP_NAMES {
            assert!(help.contains(name), "{name} missing from\n{help}");
        }
    }
}
