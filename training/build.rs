//! Build script: records the commit this binary is built from as `CINEREC_GIT_HASH`, written
//! into every artifact's code version (`0.1.0+3fa9c2e1b0`). The variable may be set by the
//! builder instead (a container build without `.git`); without either, artifacts carry the
//! workspace version alone.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CINEREC_GIT_HASH");
    let given = std::env::var("CINEREC_GIT_HASH").ok().filter(|h| !h.trim().is_empty());
    if let Some(hash) = given.or_else(git_hash) {
        println!("cargo:rustc-env=CINEREC_GIT_HASH={}", hash.trim());
    }
}

/// `git rev-parse --short=10 HEAD`, asking cargo to rerun when HEAD or its branch moves.
fn git_hash() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let git_dir = git(&["rev-parse", "--absolute-git-dir"])?;
    let mut watched = vec![format!("{git_dir}/HEAD"), format!("{git_dir}/packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(format!("{git_dir}/{branch}"));
    }
    // A missing file would make cargo rerun this script on every build.
    for path in watched.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
    git(&["rev-parse", "--short=10", "HEAD"]).filter(|h| !h.is_empty())
}
