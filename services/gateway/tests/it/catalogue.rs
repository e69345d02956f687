//! The catalogue through the gateway: search and pages, odd search strings, one movie with its
//! poster URL after an admin upload (type and size limits), popular and similar movies.

use crate::helpers::{Platform, assert_problem, ids};

/// A PNG header and enough bytes to look like an image.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.resize(len, 0);
    bytes
}

/// Sends `head` and as much of `body` as the server reads, and returns the answer's status
/// (a server may answer and close before the body is sent, as it should for a refused upload).
async fn raw_status(addr: std::net::SocketAddr, head: String, body: Vec<u8>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(&body).await;
    let mut answer = vec![0; 64];
    let n = stream.read(&mut answer).await.unwrap();
    let line = String::from_utf8_lossy(&answer[..n]).into_owned();
    line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_uploads_popular_and_similar() {
    let key = "catalogue-admin-key";
    let entry = {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        format!("ops:admin:{hex}")
    };
    let platform =
        Platform::start_with(|config| config.api_keys = gateway::auth::ApiKeys::parse(&entry).unwrap()).await;

    let found = platform.req("GET", "/api/v1/movies?q=toy%20story").send().await;
    assert_eq!(found.status, 200, "{found:?}");
    assert_eq!(found.body["movies"][0]["movie_id"], 1, "{found:?}");
    assert_eq!(found.body["movies"][0]["title"], "Toy Story");
    // Quotes, %, ../ and SQL are ordinary characters: ordinary answers, never errors.
    for odd in [
        "%27%20OR%201%3D1%20--",
        "%25",
        "..%2F..%2Fetc%2Fpasswd",
        "%22toy%22",
        "Robert%27);%20DROP%20TABLE%20movies;--",
    ] {
        let answer = platform.req("GET", &format!("/api/v1/movies?q={odd}")).send().await;
        assert_eq!(answer.status, 200, "{odd}: {answer:?}");
        assert!(answer.body["movies"].is_array(), "{odd}: {answer:?}");
    }
    assert_eq!(
        platform.req("GET", "/api/v1/movies?q=toy").send().await.body["movies"][0]["movie_id"],
        1,
        "the catalogue is intact"
    );

    let page = platform.req("GET", "/api/v1/movies?genre=animation&limit=5").send().await;
    assert_eq!(page.status, 200, "{page:?}");
    let movies = page.body["movies"].as_array().unwrap();
    assert_eq!(movies.len(), 5);
    assert!(
        movies.iter().all(|m| m["genres"].as_array().unwrap().iter().any(|g| g == "Animation")),
        "{page:?}"
    );
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next =
        platform.req("GET", &format!("/api/v1/movies?genre=Animation&limit=5&cursor={cursor}")).send().await;
    assert_ne!(next.body["movies"][0]["movie_id"], movies[0]["movie_id"], "the cursor moves on");
    let year = platform.req("GET", "/api/v1/movies?year=1995&limit=50").send().await;
    assert!(year.body["movies"].as_array().unwrap().iter().all(|m| m["year"] == 1995), "{year:?}");

    let toy = platform.req("GET", "/api/v1/movies/1").send().await;
    assert_eq!((toy.status, toy.body["year"].as_i64()), (200, Some(1995)), "{toy:?}");
    assert!(toy.body.get("poster_url").is_none(), "no poster yet");
    assert_problem(&platform.req("GET", "/api/v1/movies/99999").send().await, 404);

    let upload = |content_type: &str, bytes: Vec<u8>| {
        platform.req("PUT", "/api/v1/movies/1/poster").header("x-api-key", key).raw(content_type, bytes)
    };
    assert_problem(&upload("text/html", png(100)).send().await, 415);
    // Too large: refused from the declared length before reading, or while streaming.
    let head = |length: &str| {
        format!(
            "PUT /api/v1/movies/1/poster HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\ncontent-type: image/png\r\n{length}\r\n"
        )
    };
    let declared = head(&format!("content-length: {}\r\n", (5 << 20) + 1));
    assert_eq!(raw_status(platform.gateway.addr, declared, Vec::new()).await, 413);
    let mut chunked = format!("{:x}\r\n", (5 << 20) + 1).into_bytes();
    chunked.extend(png((5 << 20) + 1));
    chunked.extend(b"\r\n0\r\n\r\n");
    assert_eq!(raw_status(platform.gateway.addr, head("transfer-encoding: chunked\r\n"), chunked).await, 413);
    assert_problem(
        &platform.req("PUT", "/api/v1/movies/1/poster").raw("image/png", png(100)).send().await,
        401,
    );
    let stored = upload("image/png", png(2048)).send().await;
    assert_eq!(stored.status, 200, "{stored:?}");
    let toy = platform.req("GET", "/api/v1/movies/1").send().await;
    let poster = toy.body["poster_url"].as_str().expect("a presigned poster URL");
    assert!(poster.starts_with("http") && poster.contains("X-Amz-Signature"), "{poster}");

    let popular = platform.req("GET", "/api/v1/movies/popular?n=5").send().await;
    assert_eq!((popular.status, popular.body["source"].as_str()), (200, Some("popularity")), "{popular:?}");
    assert_eq!(ids(&popular.body).len(), 5);
    assert!(popular.body["recommendation_id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(!popular.body["model_version"].as_str().unwrap().is_empty());
    let animated = platform.req("GET", "/api/v1/movies/popular?n=5&genre=Animation").send().await;
    assert_eq!(ids(&animated.body).len(), 5, "{animated:?}");
    for id in ids(&animated.body) {
        let movie = platform.req("GET", &format!("/api/v1/movies/{id}")).send().await;
        assert!(movie.body["genres"].as_array().unwrap().iter().any(|g| g == "Animation"), "{movie:?}");
    }
    assert_ne!(ids(&animated.body), ids(&popular.body), "the genre filter changes the list");
    // Lists carry the catalogue's title, year and genres (the model's own titles have the year).
    let first = &animated.body["movies"][0];
    assert!(first["genres"].as_array().unwrap().iter().any(|g| g == "Animation"), "{first}");
    let catalogue = platform.req("GET", &format!("/api/v1/movies/{}", first["movie_id"])).send().await;
    assert_eq!((&first["title"], &first["year"]), (&catalogue.body["title"], &catalogue.body["year"]));

    let similar = platform.req("GET", "/api/v1/movies/1/similar?n=5").send().await;
    assert_eq!((similar.status, similar.body["source"].as_str()), (200, Some("similar")), "{similar:?}");
    assert_eq!(ids(&similar.body).len(), 5);
    assert!(!ids(&similar.body).contains(&1), "a movie is not similar to itself");
}
