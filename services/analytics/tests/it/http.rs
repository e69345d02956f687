//! The REST API: events in, reports out, the OpenAPI document.

use super::{Running, TOKEN, config, fresh_database, send};

fn event(id: &str, kind: &str) -> serde_json::Value {
    serde_json::json!({"event_id": id, "event_type": kind, "occurred_at": "2026-12-04T21:05:00Z",
        "user_id": 7, "recommendation_id": "r-1", "movie_id": 1, "position": 2, "context": {"page": "home"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_stored_once_bad_batches_not_at_all_and_only_with_the_token() {
    let app = Running::start(config(&fresh_database().await, &[])).await;
    let url = format!("http://{}/api/v1/events", app.addr);
    let batch = serde_json::json!({"events": [event("e1", "view"), event("e2", "click")]});

    let answer = send("POST", url.clone(), None, Some(batch.clone())).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    let answer = send("POST", url.clone(), Some("wrong"), Some(batch.clone())).await;
    assert_eq!(answer.status, 401, "{}", answer.body);

    let answer = send("POST", url.clone(), Some(TOKEN), Some(batch.clone())).await;
    assert_eq!((answer.status, answer.json()), (202, serde_json::json!({"stored": 2, "duplicates": 0})));
    let answer = send("POST", url.clone(), Some(TOKEN), Some(batch)).await;
    assert_eq!(
        (answer.status, answer.json()),
        (202, serde_json::json!({"stored": 0, "duplicates": 2})),
        "a resent batch"
    );

    let bad = serde_json::json!({"events": [event("e3", "view"), event("e4", "hover"), {"event_id": "e5"}]});
    let answer = send("POST", url.clone(), Some(TOKEN), Some(bad)).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.json()["error"]["fields"][0]["field"].as_str().unwrap().starts_with("body"),
        "{}",
        answer.body
    );
    let bad = serde_json::json!({"events": [event("e3", "view"), event("e4", "hover")]});
    let answer = send("POST", url.clone(), Some(TOKEN), Some(bad)).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.json()["error"]["fields"][0]["field"], "events[1].event_type", "{}", answer.body);
    let empty = send("POST", url.clone(), Some(TOKEN), Some(serde_json::json!({"events": []}))).await;
    assert_eq!((empty.status, empty.json()["error"]["fields"][0]["field"].as_str()), (400, Some("events")));
    let too_many: Vec<_> = (0..501).map(|n| event(&format!("m{n}"), "view")).collect();
    let answer = send("POST", url.clone(), Some(TOKEN), Some(serde_json::json!({"events": too_many}))).await;
    assert_eq!(answer.status, 400);

    // Nothing of the refused batches was stored: the overview counts two events of 2026-12-04.
    let overview = send(
        "GET",
        format!("http://{}/api/v1/reports/overview?from=2026-12-01&to=2026-12-05", app.addr),
        None,
        None,
    )
    .await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let totals: Vec<(String, i64)> = overview.json()["tables"]["events_by_type"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["bucket"] == "all")
        .map(|row| (row["event_type"].as_str().unwrap().to_owned(), row["events"].as_i64().unwrap()))
        .collect();
    assert_eq!(totals, [("click".to_owned(), 1), ("view".to_owned(), 1)]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_answer_json_and_csv_and_name_every_bad_parameter() {
    let app = Running::start(config(&fresh_database().await, &[])).await;
    let events = serde_json::json!({"events": [event("a1", "click"), event("a2", "search")]});
    assert_eq!(
        send("POST", format!("http://{}/api/v1/events", app.addr), Some(TOKEN), Some(events)).await.status,
        202
    );
    let base = format!("http://{}/api/v1/reports", app.addr);
    for report in warehouse::reports::REPORTS {
        let answer =
            send("GET", format!("{base}/{report}?from=2026-11-01&to=2026-12-05&bucket=week"), None, None)
                .await;
        assert_eq!(answer.status, 200, "{report}: {}", answer.body);
        let json = answer.json();
        assert_eq!(
            (json["report"].as_str(), json["from"].as_str(), json["bucket"].as_str()),
            (Some(report), Some("2026-11-01"), Some("week"))
        );
        assert!(json["tables"].as_object().is_some_and(|t| !t.is_empty()), "{report}: {json}");
        let csv =
            send("GET", format!("{base}/{report}?from=2026-11-01&to=2026-12-05&format=csv"), None, None)
                .await;
        assert_eq!((csv.status, csv.content_type.as_str()), (200, "text/csv; charset=utf-8"), "{report}");
        assert!(csv.body.lines().next().is_some_and(|header| header.contains(',')), "{report}: {}", csv.body);
    }
    let csv = send(
        "GET",
        format!("{base}/overview?from=2026-12-01&to=2026-12-05&format=csv&table=events_by_type"),
        None,
        None,
    )
    .await;
    assert_eq!(
        csv.body,
        "bucket,event_type,events\r\n2026-12-04,click,1\r\nall,click,1\r\n2026-12-04,search,1\r\nall,search,1\r\n"
    );

    let bad =
        send("GET", format!("{base}/top-movies?from=yesterday&bucket=year&n=500&colour=red"), None, None)
            .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let fields: Vec<String> = bad.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["colour", "from", "bucket", "n"]);
    let table = send("GET", format!("{base}/overview?format=csv&table=nope"), None, None).await;
    assert_eq!((table.status, table.json()["error"]["fields"][0]["field"].as_str()), (400, Some("table")));
    let unknown = send("GET", format!("{base}/revenue"), None, None).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("overview, funnel"), "{}", unknown.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_openapi_3_1_and_describes_every_route_and_report() {
    let app = Running::start(config(&fresh_database().await, &[])).await;
    let answer = send("GET", format!("http://{}/api/v1/openapi.json", app.addr), None, None).await;
    assert_eq!(answer.status, 200);
    let document = answer.json();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../gateway/tests/fixtures/openapi-3.1-schema.json"))
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&document).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let paths = document["paths"].as_object().unwrap();
    for path in ["/events", "/reports/{report}", "/openapi.json"] {
        assert!(paths.contains_key(path), "{path} is described");
    }
    let names = &document["paths"]["/reports/{report}"]["get"]["parameters"][0]["schema"]["enum"];
    assert_eq!(names, &serde_json::json!(warehouse::reports::REPORTS));
    app.stop().await;
}
