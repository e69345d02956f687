//! `cinerec`: the command-line driver over the `training` library.

fn main() -> anyhow::Result<()> {
    Ok(())
}
