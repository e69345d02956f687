//! Model versions for the model-versions report: every `--model-poll` the serving service's
//! `ModelInfo` is read and a version not seen before is stored with the offline metrics its
//! artifact carries (`model_versions`, insert-if-absent). Serving being down is logged
//! (throttled) and retried at the next poll: it only delays the report's offline columns.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proto::recommendation::v1::ModelInfoRequest;
use proto::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use tonic::transport::Endpoint;
use warehouse::facts::ModelFact;
use warehouse::{Batch, Warehouse};

/// Polls `serving_url`'s `ModelInfo` every `every` into `warehouse` until `stop` completes.
pub async fn follow_models<W: Warehouse>(
    warehouse: Arc<W>,
    serving_url: String,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    let endpoint = match Endpoint::from_shared(serving_url.clone()) {
        Ok(endpoint) => endpoint.connect_timeout(Duration::from_secs(2)).timeout(Duration::from_secs(5)),
        Err(err) => {
            tracing::error!(url = %serving_url, error = %err, "the serving URL is invalid: model versions are not recorded");
            return;
        }
    };
    let mut client = RecommendationServiceClient::new(endpoint.connect_lazy());
    let mut stop = std::pin::pin!(stop);
    let mut last: Option<String> = None;
    let mut log = events::consumer::Throttle::default();
    loop {
        match client.model_info(ModelInfoRequest {}).await {
            Ok(info) => {
                let info = info.into_inner();
                if last.as_deref() != Some(info.version.as_str()) && !info.version.is_empty() {
                    let now =
                        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
                    let model = ModelFact {
                        version: info.version.clone(),
                        kind: info.kind,
                        dataset: info.dataset,
                        trained_at_ms: info.trained_at_unix.saturating_mul(1000),
                        metrics: info.metrics.into_iter().collect(),
                        seen_at_ms: now,
                    };
                    let batch = Batch { models: vec![model], ..Batch::default() };
                    match warehouse.ingest(&batch, now).await {
                        Ok(_) => {
                            tracing::info!(version = %info.version, "model version recorded");
                            last = Some(info.version);
                        }
                        Err(err) => {
                            if let Some(held_back) = log.allow() {
                                tracing::warn!(error = %err, held_back, "recording a model version failed");
                            }
                        }
                    }
                }
            }
            Err(status) => {
                if let Some(held_back) = log.allow() {
                    tracing::warn!(url = %serving_url, code = ?status.code(), message = status.message(), held_back, "serving's ModelInfo failed; retrying at the next poll");
                }
            }
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
