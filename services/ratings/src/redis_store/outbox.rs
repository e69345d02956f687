//! The outbox over Redis: a stream (`P:outbox`) read through the consumer group
//! [`OUTBOX_GROUP`], entries claimed from dead drainers, acknowledged and deleted after the
//! broker's acknowledgement.

use std::time::Duration;

use fred::prelude::Value;

use super::{OUTBOX_GROUP, RedisStore, unexpected};
use crate::outbox::{Outbox, OutboxEntry};
use crate::store::StoreError;

impl Outbox for RedisStore {
    async fn ensure_group(&self) -> Result<(), StoreError> {
        let args = vec![
            "CREATE".into(),
            self.keys.outbox().into(),
            OUTBOX_GROUP.into(),
            "0".into(),
            "MKSTREAM".into(),
        ];
        let res = self.with_retry("creating the outbox group", || async {
            match self.raw("XGROUP", args.clone()).await {
                Err(err) if err.details().starts_with("BUSYGROUP") => Ok(Value::Null),
                res => res,
            }
        });
        res.await.map(drop)
    }

    async fn read(
        &self,
        consumer: &str,
        pending: bool,
        count: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        const WHAT: &str = "reading the outbox";
        let args: Vec<Value> = vec![
            "GROUP".into(),
            OUTBOX_GROUP.into(),
            consumer.into(),
            "COUNT".into(),
            (count as i64).into(),
            "STREAMS".into(),
            self.keys.outbox().into(),
            if pending { "0" } else { ">" }.into(),
        ];
        let reply = match self.with_retry(WHAT, || self.raw("XREADGROUP", args.clone())).await {
            // A restarted (empty) server has no group: create it and read again.
            Err(StoreError::Command { source, .. }) if source.details().starts_with("NOGROUP") => {
                self.ensure_group().await?;
                self.with_retry(WHAT, || self.raw("XREADGROUP", args.clone())).await?
            }
            res => res?,
        };
        // [[stream, [[id, [field, value, ...]], ...]]] or nil.
        let entries = reply.into_array().into_iter().next().map(|s| s.into_array()).unwrap_or_default();
        let entries = entries.into_iter().nth(1).map(Value::into_array).unwrap_or_default();
        entries_of(entries)
    }

    async fn claim_stale(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        const WHAT: &str = "claiming stale outbox entries";
        let args: Vec<Value> = vec![
            self.keys.outbox().into(),
            OUTBOX_GROUP.into(),
            consumer.into(),
            (min_idle.as_millis().min(i64::MAX as u128) as i64).into(),
            "0-0".into(),
            "COUNT".into(),
            (count as i64).into(),
        ];
        let reply = match self.with_retry(WHAT, || self.raw("XAUTOCLAIM", args.clone())).await {
            Err(StoreError::Command { source, .. }) if source.details().starts_with("NOGROUP") => {
                return Ok(Vec::new());
            }
            res => res?,
        };
        // [next cursor, [[id, [field, value, ...]], ...], deleted ids]
        entries_of(reply.into_array().into_iter().nth(1).map(Value::into_array).unwrap_or_default())
    }

    async fn ack(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut args = vec![Value::from(OUTBOX_GROUP)];
        args.extend(ids.iter().map(|id| Value::from(id.as_str())));
        self.eval("acknowledging outbox entries", &self.scripts.ack, &[self.keys.outbox()], &args)
            .await
            .map(drop)
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        let reply = self
            .with_retry("measuring the outbox", || self.raw("XLEN", vec![self.keys.outbox().into()]))
            .await?;
        reply.as_u64().ok_or_else(|| unexpected("measuring the outbox", &format!("{reply:?}")))
    }
}

/// Stream entries `[id, [field, value, ...]]` as outbox entries; entries whose data is gone
/// (deleted while pending) come back with empty payloads so that they are acknowledged.
fn entries_of(entries: Vec<Value>) -> Result<Vec<OutboxEntry>, StoreError> {
    const WHAT: &str = "reading the outbox";
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut parts = entry.into_array().into_iter();
        let id = parts.next().and_then(|v| v.as_string()).ok_or_else(|| unexpected(WHAT, "entry id"))?;
        let fields = parts.next().map(Value::into_array).unwrap_or_default();
        let mut item = OutboxEntry { id, topic: String::new(), key: String::new(), payload: Vec::new() };
        let mut fields = fields.into_iter();
        while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
            match name.as_str().as_deref() {
                Some("topic") => item.topic = value.as_string().unwrap_or_default(),
                Some("key") => item.key = value.as_string().unwrap_or_default(),
                Some("payload") => item.payload = value.into_owned_bytes().unwrap_or_default(),
                _ => {}
            }
        }
        out.push(item);
    }
    Ok(out)
}
