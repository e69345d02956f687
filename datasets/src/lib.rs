//! MovieLens datasets: parsers over `impl BufRead`, a checked downloader, a synthetic generator.
