//! Logs to the search store, run for real with stand-ins for what cannot be installed here: the
//! gateway, the users service and serving run as processes with JSON logs on stdout; a shipper
//! per process (Filebeat's part) sends each line to rsyslog's TCP input, which parses it
//! (`mmjsonparse`) and writes it to daily `cinerec-logs-YYYY.MM.DD` indices, as Logstash does,
//! of osmem-server, an in-memory server of the Elasticsearch API (Logstash's and
//! Elasticsearch's parts), under the repository's index template. One search
//! by `request_id` finds a request's lines from every process it went through; an error line is
//! found by `log.level` and `service.name`; lines logged while the store was down arrive after
//! it is back (rsyslog's queue), none lost.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use service_common::testing::{TestServer, free_port};

use crate::helpers::{Req, eventually, model, unique};

/// A service process whose stdout lines are shipped to rsyslog.
struct Shipped {
    child: Child,
}

impl Shipped {
    /// Starts `binary` with `env`, shipping its stdout lines to `127.0.0.1:rsyslog_port`.
    fn start(binary: &Path, args: &[&str], env: &[(&str, String)], rsyslog_port: u16) -> Self {
        let mut command = Command::new(binary);
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        command.env("CINEREC_LOG_FORMAT", "json").env("RUST_LOG", "info");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut out = TcpStream::connect(("127.0.0.1", rsyslog_port)).expect("rsyslog's TCP input");
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if out.write_all(format!("{line}\n").as_bytes()).is_err() {
                    break;
                }
            }
        });
        Self { child }
    }
}

impl Drop for Shipped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sibling binary of the gateway's in the target folder (`cargo test --workspace` builds
/// every binary before running any test).
fn sibling(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_cinerec-gateway")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace's binaries first (scripts/test does)",
        path.display()
    );
    path
}

/// rsyslog's configuration: TCP JSON lines in, daily indices in the search store out, through
/// an in-memory queue that retries forever while the store is down.
fn rsyslog_config(dir: &Path, tcp_port: u16, search_port: u16) -> PathBuf {
    let config = format!(
        r#"global(workDirectory="{dir}")
module(load="imtcp")
module(load="mmjsonparse")
module(load="omelasticsearch")
template(name="daily_index" type="string" string="cinerec-logs-%$.day%")
template(name="document" type="subtree" subtree="$!")
ruleset(name="json_lines") {{
  action(type="mmjsonparse" cookie="" useRawMsg="on")
  if $parsesuccess == "OK" then {{
    set $.day = replace(substring($!@timestamp, 0, 10), "-", ".");
    action(type="omelasticsearch" server="127.0.0.1" serverport="{search_port}" esVersion.major="8"
      template="document" searchIndex="daily_index" dynSearchIndex="on" bulkmode="on"
      queue.type="linkedlist" queue.size="100000" queue.dequeueBatchSize="500"
      action.resumeRetryCount="-1" action.resumeInterval="1")
  }} else {{
    action(type="omfile" file="{dir}/not-json.log")
  }}
}}
input(type="imtcp" address="127.0.0.1" port="{tcp_port}" ruleset="json_lines")
"#,
        dir = dir.display()
    );
    let path = dir.join("rsyslog.conf");
    fs_err::write(&path, config).unwrap();
    path
}

/// Installs the repository's index template (the one Logstash installs in production), so
/// `request_id`, `log.level` and `service.name` are keywords as there.
async fn install_index_template(search_port: u16) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/logging/index-template.json");
    let template = fs_err::read_to_string(&path).unwrap();
    tokio::task::spawn_blocking(move || {
        let url = format!("http://127.0.0.1:{search_port}/_index_template/cinerec-logs");
        let mut answer = ureq::put(&url)
            .content_type("application/json")
            .send(template)
            .expect("the index template is accepted");
        let text = answer.body_mut().read_to_string().unwrap();
        assert!(text.contains(r#""acknowledged":true"#), "{text}");
    })
    .await
    .unwrap();
}

/// The documents of the search store matching `query` (an Elasticsearch query object).
async fn search(search_port: u16, query: serde_json::Value) -> Vec<serde_json::Value> {
    let body = serde_json::json!({ "query": query, "size": 1000 });
    tokio::task::spawn_blocking(move || {
        let url = format!("http://127.0.0.1:{search_port}/cinerec-logs-*/_search");
        let answer = ureq::post(&url)
            .config()
            .http_status_as_error(false)
            .build()
            .content_type("application/json")
            .send(body.to_string());
        // The store may be down (the outage): no documents yet.
        let Ok(mut answer) = answer else { return Vec::new() };
        let text = answer.body_mut().read_to_string().unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        json["hits"]["hits"]
            .as_array()
            .map_or_else(Vec::new, |hits| hits.iter().map(|h| h["_source"].clone()).collect())
    })
    .await
    .unwrap()
}

/// The services (`service.name`) that logged lines with `request_id`.
async fn services_of(search_port: u16, request_id: &str) -> Vec<(String, serde_json::Value)> {
    let docs = search(search_port, serde_json::json!({ "term": { "request_id": request_id } })).await;
    docs.into_iter().map(|d| (d["service.name"].as_str().unwrap_or_default().to_owned(), d)).collect()
}

/// Polls until the access lines with `request_id` (the gateway's with its status, the gRPC
/// services' with their code) came from every one of `services`; returns every line found.
async fn lines_from(
    search_port: u16,
    request_id: &str,
    services: &[&str],
    within: Duration,
) -> Vec<(String, serde_json::Value)> {
    eventually(&format!("lines of {request_id} from {services:?}"), within, || async {
        let lines = services_of(search_port, request_id).await;
        let access = |service: &str, line: &serde_json::Value| match service {
            "gateway" => line["http.response.status_code"].is_u64(),
            _ => line["rpc.code"].is_string(),
        };
        services
            .iter()
            .all(|s| lines.iter().any(|(name, line)| name == s && access(s, line)))
            .then_some(lines)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_search_follows_a_request_through_every_service_and_an_outage_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut search_store = TestServer::osmem();
    let search_port = search_store.addr().port();
    install_index_template(search_port).await;
    let rsyslog_port = free_port();
    let config = rsyslog_config(dir.path(), rsyslog_port, search_port);
    let _rsyslog = TestServer::rsyslog(&config, &dir.path().join("rsyslog.pid"), rsyslog_port);

    // A model for serving, refreshed every second.
    let models = dir.path().join("models");
    let store = artifacts::open_store(models.to_str().unwrap(), None).unwrap();
    store.put_artifact(model()).await.unwrap();
    let listen = |port: u16| format!("127.0.0.1:{port}");
    let (users_port, serving_port, gateway_port) = (free_port(), free_port(), free_port());
    let secret = crate::helpers::SECRET.to_owned();
    let kafka = crate::helpers::kafka();
    let _users = Shipped::start(
        &sibling("cinerec-users"),
        &[],
        &[
            ("CINEREC_LISTEN", listen(users_port)),
            ("CINEREC_METRICS_LISTEN", listen(free_port())),
            ("CINEREC_MONGO_URL", service_common::testing::server_url("CINEREC_TEST_MONGO_URL")),
            ("CINEREC_MONGO_DATABASE", unique("logs")),
            ("CINEREC_JWT_SECRET", secret.clone()),
            ("CINEREC_KAFKA_BROKERS", kafka),
        ],
        rsyslog_port,
    );
    let _serving = Shipped::start(
        &sibling("cinerec-serve"),
        &[],
        &[
            ("CINEREC_LISTEN", listen(serving_port)),
            ("CINEREC_METRICS_LISTEN", listen(free_port())),
            ("CINEREC_MODEL_STORE", models.display().to_string()),
            ("CINEREC_REFRESH_INTERVAL", "1s".into()),
        ],
        rsyslog_port,
    );
    let _gateway = Shipped::start(
        &sibling("cinerec-gateway"),
        &[],
        &[
            ("CINEREC_LISTEN", listen(gateway_port)),
            ("CINEREC_METRICS_LISTEN", listen(free_port())),
            ("CINEREC_JWT_SECRET", secret),
            ("CINEREC_USERS_URL", format!("http://127.0.0.1:{users_port}")),
            ("CINEREC_SERVING_URL", format!("http://127.0.0.1:{serving_port}")),
            // Not running: the catalogue's titles are left out, nothing else needs them.
            ("CINEREC_MOVIES_URL", format!("http://127.0.0.1:{}", free_port())),
            ("CINEREC_RATINGS_URL", format!("http://127.0.0.1:{}", free_port())),
            ("CINEREC_KAFKA_BROKERS", String::new()),
        ],
        rsyslog_port,
    );
    let gateway = std::net::SocketAddr::from(([127, 0, 0, 1], gateway_port));
    eventually("the gateway listens", Duration::from_secs(60), || async {
        TcpStream::connect(gateway).is_ok().then_some(())
    })
    .await;

    // Sign-up (gateway → users) and a recommendation (gateway → serving), each with a known id.
    let name = unique("logs");
    let register_id = unique("rid-register");
    let account = serde_json::json!({"username": name, "email": format!("{name}@example.org"), "password": "correct horse"});
    eventually("the users service answers", Duration::from_secs(60), || {
        let (request, id) =
            (Req::new(gateway, "POST", "/api/v1/auth/register").json(account.clone()), register_id.clone());
        async move {
            let answer = request.header("x-request-id", &id).send().await;
            (answer.status == 201).then_some(answer)
        }
    })
    .await;
    let login = serde_json::json!({"login": name, "password": "correct horse"});
    let login = Req::new(gateway, "POST", "/api/v1/auth/login").json(login).send().await;
    let token = login.body["token"].as_str().unwrap().to_owned();
    let recs_id = unique("rid-recs");
    let recs = eventually("serving answers", Duration::from_secs(60), || {
        let request = Req::new(gateway, "GET", "/api/v1/me/recommendations?n=5")
            .token(&token)
            .header("x-request-id", &recs_id);
        async move {
            let answer = request.send().await;
            (answer.status == 200).then_some(answer)
        }
    })
    .await;
    assert_eq!(recs.header("x-request-id"), Some(recs_id.as_str()));

    let lines = lines_from(search_port, &register_id, &["gateway", "users"], Duration::from_secs(60)).await;
    let access = lines.iter().find(|(s, d)| s == "gateway" && d["http.response.status_code"] == 201);
    let (_, access) = access.unwrap_or_else(|| panic!("the gateway's access line of the sign-up: {lines:?}"));
    assert_eq!(
        (access["url.path"].as_str(), access["http.request.method"].as_str()),
        (Some("/api/v1/auth/register"), Some("POST"))
    );
    assert!(access["event.duration"].as_u64().unwrap() > 0 && access["@timestamp"].is_string(), "{access}");
    let users_line = &lines.iter().find(|(s, d)| s == "users" && d["rpc.code"].is_string()).unwrap().1;
    assert_eq!(users_line["rpc.code"], "OK", "{users_line}");
    assert!(users_line["url.path"].as_str().unwrap().ends_with("/Register"), "{users_line}");

    let indices = tokio::task::spawn_blocking(move || {
        let url = format!("http://127.0.0.1:{search_port}/_cat/indices/cinerec-logs-*?h=index");
        ureq::get(&url).call().unwrap().body_mut().read_to_string().unwrap()
    })
    .await
    .unwrap();
    let today = access["@timestamp"].as_str().unwrap()[..10].replace('-', ".");
    assert!(
        indices.lines().any(|index| index.trim() == format!("cinerec-logs-{today}")),
        "daily indices: {indices}"
    );

    let lines = lines_from(search_port, &recs_id, &["gateway", "serving"], Duration::from_secs(60)).await;
    let serving_line = &lines.iter().find(|(s, d)| s == "serving" && d["rpc.code"].is_string()).unwrap().1;
    assert!(serving_line["url.path"].as_str().unwrap().ends_with("/Recommend"), "{serving_line}");
    assert!(lines.iter().all(|(_, d)| d["request_id"] == recs_id.as_str()));
    assert!(!lines.iter().any(|(s, _)| s == "users"), "the recommendation did not touch users: {lines:?}");

    // An error: LATEST names a version the store does not hold; serving refuses it (and keeps
    // the model it has). One search by level and service finds the line.
    fs_err::write(models.join("LATEST"), "20261205T000000.000Z-000000\n").unwrap();
    let errors = eventually("serving's error line", Duration::from_secs(60), || async {
        let query = serde_json::json!({ "bool": { "filter": [
            { "term": { "log.level": "ERROR" } },
            { "term": { "service.name": "serving" } },
        ] } });
        let docs = search(search_port, query).await;
        (!docs.is_empty()).then_some(docs)
    })
    .await;
    assert!(errors[0]["message"].as_str().unwrap().starts_with("refusing the newest model"), "{errors:?}");
    assert_eq!(errors[0]["version"], "20261205T000000.000Z-000000", "{errors:?}");

    // The store goes down; requests go on; it comes back (empty: osmem keeps nothing) and
    // every line logged meanwhile arrives.
    search_store.stop();
    let outage_ids: Vec<String> = (0..20).map(|i| unique(&format!("rid-outage-{i}"))).collect();
    for id in &outage_ids {
        let answer =
            Req::new(gateway, "GET", "/api/v1/movies/popular?n=3").header("x-request-id", id).send().await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    search_store.restart();
    install_index_template(search_port).await;
    for id in &outage_ids {
        lines_from(search_port, id, &["gateway", "serving"], Duration::from_secs(120)).await;
    }
}
