//! One call from the shim, made on the same bindings a local instance calls:
//! the same grants, limits, outbox and tracing. A connection or bucket is
//! opened by name for the call and gone after it; transactions and CAS
//! handles are the session table's numbers, and one of the wrong kind, or of
//! another session, is not in the table and fails as a trap would.

use folio_adapter_protocol::{self as wire, Call, Reply};
use serde::Serialize;
use wasmtime::component::{Resource, ResourceTable};

use folio_events::bindings::folio::platform::event_types::OutgoingEvent as EventsOutgoing;
use folio_events::bindings::folio::platform::events::{self as events_wit, Host as _};
use folio_kv::bindings::folio::platform::kv_expiry::Host as _;
use folio_kv::bindings::wasi::keyvalue::atomics::{self, Host as _, HostCas as _};
use folio_kv::bindings::wasi::keyvalue::batch::Host as _;
use folio_kv::bindings::wasi::keyvalue::store::{self, Host as _, HostBucket as _};
use folio_sql::bindings::folio::platform::event_types::OutgoingEvent as SqlOutgoing;
use folio_sql::bindings::folio::platform::sql::{self as sql_wit, HostConnection, HostTransaction};

use folio_mail::bindings::folio::platform::mail::Host as _;
use folio_search_index::bindings::folio::platform::search::{self as search_wit, HostIndex};

use folio_blobs::bindings::folio::platform::blobs::{self as blobs_wit, HostBucket};
use folio_transcode::bindings::folio::platform::transcode::{
    self as transcode_wit, Host as _, HostJob,
};

use crate::capability::{
    ComponentStates, blobs_view, events_view, kv_view, mail_view, search_view, sql_view,
    transcode_view,
};

/// The JSON reply to `call`; `Err` when it cannot be made (a trap).
pub async fn dispatch(
    call: Call,
    table: &mut ResourceTable,
    component: &ComponentStates,
    traceparent: &str,
) -> wasmtime::Result<serde_json::Value> {
    macro_rules! sql {
        () => {
            sql_view(table, component, traceparent)
        };
    }
    macro_rules! kv {
        () => {
            kv_view(table, component, traceparent)
        };
    }
    // The named database or store, opened in the table for this call; an
    // answer of the interface's error when the component may not open it.
    macro_rules! connection {
        ($database:expr) => {
            match HostConnection::open(&mut sql!(), $database).await? {
                Ok(connection) => connection,
                Err(e) => return reply::<(), _>(Err(sql_error(e))),
            }
        };
    }
    macro_rules! search {
        () => {
            search_view(table, component, traceparent)
        };
    }
    macro_rules! index {
        ($index:expr) => {
            match HostIndex::open(&mut search!(), $index).await? {
                Ok(index) => index,
                Err(e) => return reply::<(), _>(Err(e)),
            }
        };
    }
    macro_rules! blobs {
        () => {
            blobs_view(table, component, traceparent)
        };
    }
    macro_rules! transcode {
        () => {
            transcode_view(table, component, traceparent)
        };
    }
    macro_rules! blob_bucket {
        ($bucket:expr) => {
            match HostBucket::open(&mut blobs!(), $bucket).await? {
                Ok(bucket) => bucket,
                Err(e) => return reply::<(), _>(Err(e)),
            }
        };
    }
    macro_rules! bucket {
        ($store:expr) => {
            match kv!().open($store).await? {
                Ok(bucket) => bucket,
                Err(e) => return reply::<(), _>(Err(kv_error(e))),
            }
        };
    }
    match call {
        Call::SqlOpen { database } => {
            let connection = connection!(database);
            HostConnection::drop(&mut sql!(), connection).await?;
            reply::<(), wire::SqlError>(Ok(()))
        }
        Call::SqlQuery {
            database,
            statement,
            params,
        } => {
            let connection = connection!(database);
            let rows =
                HostConnection::query(&mut sql!(), connection, statement, values(params)).await?;
            reply(rows.map(row_set).map_err(sql_error))
        }
        Call::SqlExecute {
            database,
            statement,
            params,
        } => {
            let connection = connection!(database);
            let changed =
                HostConnection::execute(&mut sql!(), connection, statement, values(params)).await?;
            reply(changed.map_err(sql_error))
        }
        Call::SqlBegin { database } => {
            let connection = connection!(database);
            let rep = connection.rep();
            let begun = HostConnection::begin(&mut sql!(), connection).await?;
            HostConnection::drop(&mut sql!(), Resource::new_own(rep)).await?;
            reply(begun.map(|t| t.rep()).map_err(sql_error))
        }
        Call::TxQuery {
            transaction,
            statement,
            params,
        } => {
            let rows = HostTransaction::query(
                &mut sql!(),
                Resource::new_own(transaction),
                statement,
                values(params),
            )
            .await?;
            reply(rows.map(row_set).map_err(sql_error))
        }
        Call::TxExecute {
            transaction,
            statement,
            params,
        } => {
            let changed = HostTransaction::execute(
                &mut sql!(),
                Resource::new_own(transaction),
                statement,
                values(params),
            )
            .await?;
            reply(changed.map_err(sql_error))
        }
        Call::TxPublish { transaction, event } => {
            let event = SqlOutgoing {
                topic: event.topic,
                type_: event.type_,
                key: event.key,
                subject: event.subject,
                datacontenttype: event.datacontenttype,
                data: event.data,
            };
            let id = HostTransaction::publish(&mut sql!(), Resource::new_own(transaction), event)
                .await?;
            reply(id.map_err(sql_error))
        }
        Call::TxCommit { transaction } => {
            let done = HostTransaction::commit(&mut sql!(), Resource::new_own(transaction)).await?;
            reply(done.map_err(sql_error))
        }
        Call::TxRollback { transaction } => {
            let done =
                HostTransaction::rollback(&mut sql!(), Resource::new_own(transaction)).await?;
            reply(done.map_err(sql_error))
        }
        Call::TxClose { transaction } => {
            HostTransaction::drop(&mut sql!(), Resource::new_own(transaction)).await?;
            reply::<(), ()>(Ok(()))
        }
        Call::Publish { event } => {
            let event = EventsOutgoing {
                topic: event.topic,
                type_: event.type_,
                key: event.key,
                subject: event.subject,
                datacontenttype: event.datacontenttype,
                data: event.data,
            };
            let id = events_view(component, traceparent).publish(event).await?;
            reply(id.map_err(events_error))
        }
        Call::KvOpen { store } => {
            let bucket = bucket!(store);
            store::HostBucket::drop(&mut kv!(), bucket).await?;
            reply::<(), wire::KvError>(Ok(()))
        }
        Call::KvGet { store, key } => {
            let bucket = bucket!(store);
            let value = kv!().get(bucket, key).await?;
            reply(value.map(wire::MaybeBytes).map_err(kv_error))
        }
        Call::KvSet { store, key, value } => {
            let bucket = bucket!(store);
            let done = kv!().set(bucket, key, value).await?;
            reply(done.map_err(kv_error))
        }
        Call::KvSetWithTtl {
            store,
            key,
            value,
            ttl_ms,
        } => {
            let bucket = bucket!(store);
            let done = kv!().set_with_ttl(bucket, key, value, ttl_ms).await?;
            reply(done.map_err(kv_error))
        }
        Call::KvDelete { store, key } => {
            let bucket = bucket!(store);
            let done = kv!().delete(bucket, key).await?;
            reply(done.map_err(kv_error))
        }
        Call::KvExists { store, key } => {
            let bucket = bucket!(store);
            let found = kv!().exists(bucket, key).await?;
            reply(found.map_err(kv_error))
        }
        Call::KvListKeys { store, cursor } => {
            let bucket = bucket!(store);
            let page = kv!().list_keys(bucket, cursor).await?;
            reply(
                page.map(|p| wire::KeyResponse {
                    keys: p.keys,
                    cursor: p.cursor,
                })
                .map_err(kv_error),
            )
        }
        Call::KvIncrement { store, key, delta } => {
            let bucket = bucket!(store);
            let value = kv!().increment(bucket, key, delta).await?;
            reply(value.map_err(kv_error))
        }
        Call::KvCasNew { store, key } => {
            let bucket = bucket!(store);
            let rep = bucket.rep();
            let cas = atomics::HostCas::new(&mut kv!(), bucket, key).await?;
            store::HostBucket::drop(&mut kv!(), Resource::new_own(rep)).await?;
            reply(cas.map(|c| c.rep()).map_err(kv_error))
        }
        Call::KvCasCurrent { cas } => {
            let value = kv!().current(Resource::new_own(cas)).await?;
            reply(value.map(wire::MaybeBytes).map_err(kv_error))
        }
        Call::KvSwap { cas, value } => {
            let swapped = kv!().swap(Resource::new_own(cas), value).await?;
            reply(swapped.map_err(|e| match e {
                atomics::CasError::StoreError(e) => wire::CasError::StoreError(kv_error(e)),
                atomics::CasError::CasFailed(retry) => wire::CasError::CasFailed(retry.rep()),
            }))
        }
        Call::KvCasClose { cas } => {
            atomics::HostCas::drop(&mut kv!(), Resource::new_own(cas)).await?;
            reply::<(), ()>(Ok(()))
        }
        Call::KvGetMany { store, keys } => {
            let bucket = bucket!(store);
            let found = kv!().get_many(bucket, keys).await?;
            reply(
                found
                    .map(|entries| {
                        entries
                            .into_iter()
                            .map(|(key, value)| wire::MaybeEntry { key, value })
                            .collect::<Vec<_>>()
                    })
                    .map_err(kv_error),
            )
        }
        Call::KvSetMany { store, entries } => {
            let entries = entries.into_iter().map(|e| (e.key, e.value)).collect();
            let bucket = bucket!(store);
            let done = kv!().set_many(bucket, entries).await?;
            reply(done.map_err(kv_error))
        }
        Call::KvDeleteMany { store, keys } => {
            let bucket = bucket!(store);
            let done = kv!().delete_many(bucket, keys).await?;
            reply(done.map_err(kv_error))
        }
        Call::SearchOpen { index } => {
            index!(index);
            reply::<(), search_wit::Error>(Ok(()))
        }
        Call::SearchUpsert { index, documents } => {
            let documents: Vec<search_wit::Document> = serde_json::from_value(documents)?;
            let index = index!(index);
            reply(HostIndex::upsert(&mut search!(), index, documents).await?)
        }
        Call::SearchDelete {
            index,
            ids,
            version,
        } => {
            let index = index!(index);
            reply(HostIndex::delete(&mut search!(), index, ids, version).await?)
        }
        Call::SearchQuery { index, query } => {
            let query: search_wit::Query = serde_json::from_value(query)?;
            let index = index!(index);
            reply(HostIndex::search(&mut search!(), index, query).await?)
        }
        Call::SearchSuggest {
            index,
            text,
            filters,
            limit,
        } => {
            let index = index!(index);
            reply(HostIndex::suggest(&mut search!(), index, text, filters, limit).await?)
        }
        Call::SearchMoreLikeThis {
            index,
            id,
            shared,
            filters,
            limit,
        } => {
            let index = index!(index);
            let similar =
                HostIndex::more_like_this(&mut search!(), index, id, shared, filters, limit)
                    .await?;
            reply(similar)
        }
        Call::SearchStats { index } => {
            let index = index!(index);
            reply(HostIndex::stats(&mut search!(), index).await?)
        }
        Call::SearchBeginRebuild { index } => {
            let index = index!(index);
            reply(HostIndex::begin_rebuild(&mut search!(), index).await?)
        }
        Call::SearchRebuildUpsert {
            index,
            rebuild,
            documents,
        } => {
            let documents: Vec<search_wit::Document> = serde_json::from_value(documents)?;
            let index = index!(index);
            reply(HostIndex::rebuild_upsert(&mut search!(), index, rebuild, documents).await?)
        }
        Call::SearchFinishRebuild { index, rebuild } => {
            let index = index!(index);
            reply(HostIndex::finish_rebuild(&mut search!(), index, rebuild).await?)
        }
        Call::SearchAbandonRebuild { index, rebuild } => {
            let index = index!(index);
            reply(HostIndex::abandon_rebuild(&mut search!(), index, rebuild).await?)
        }
        Call::BlobsOpen { bucket } => {
            blob_bucket!(bucket);
            reply::<(), blobs_wit::Error>(Ok(()))
        }
        Call::BlobsHead { bucket, key } => {
            let bucket = blob_bucket!(bucket);
            reply(HostBucket::head(&mut blobs!(), bucket, key).await?)
        }
        Call::BlobsDelete { bucket, key } => {
            let bucket = blob_bucket!(bucket);
            reply(HostBucket::delete(&mut blobs!(), bucket, key).await?)
        }
        Call::BlobsList {
            bucket,
            prefix,
            start_after,
            limit,
        } => {
            let bucket = blob_bucket!(bucket);
            reply(HostBucket::list(&mut blobs!(), bucket, prefix, start_after, limit).await?)
        }
        Call::BlobsPresignGet {
            bucket,
            key,
            expires_secs,
        } => {
            let bucket = blob_bucket!(bucket);
            reply(HostBucket::presign_get(&mut blobs!(), bucket, key, expires_secs).await?)
        }
        Call::BlobsPresignPut {
            bucket,
            key,
            content_type,
            expires_secs,
        } => {
            let bucket = blob_bucket!(bucket);
            let url =
                HostBucket::presign_put(&mut blobs!(), bucket, key, content_type, expires_secs)
                    .await?;
            reply(url)
        }
        Call::TranscodeProbe { bucket, key } => reply(transcode!().probe(bucket, key).await?),
        Call::TranscodeStart { request } => {
            let request: transcode_wit::TranscodeRequest = serde_json::from_value(request)?;
            let job = HostJob::start(&mut transcode!(), request).await?;
            reply(job.map(|job| job.rep()))
        }
        Call::TranscodeWait { job, timeout_ms } => {
            let state =
                HostJob::wait(&mut transcode!(), Resource::new_own(job), timeout_ms).await?;
            reply::<_, ()>(Ok(state))
        }
        Call::TranscodeCancel { job } => {
            HostJob::cancel(&mut transcode!(), Resource::new_own(job)).await?;
            reply::<(), ()>(Ok(()))
        }
        Call::TranscodeClose { job } => {
            HostJob::drop(&mut transcode!(), Resource::new_own(job)).await?;
            reply::<(), ()>(Ok(()))
        }
        // The service answers it before dispatch: it needs the host's rate limiter.
        Call::RateCheck { .. } => wasmtime::bail!("a rate check is not a binding call"),
        Call::MailSend { message } => {
            let message = serde_json::from_value(message)?;
            reply(mail_view(component, traceparent).send(message).await)
        }
    }
}

/// What a call does with its instance's session: transactions, CAS handles
/// and transcode jobs live there; the other calls need none.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SessionUse {
    None,
    /// Makes a handle, and so may start the session.
    Opens,
    Uses,
    Closes,
    /// Takes a CAS handle, and gives a new one back when the race is lost.
    Swaps,
}

impl SessionUse {
    pub fn of(call: &Call) -> SessionUse {
        match call {
            Call::SqlBegin { .. } | Call::KvCasNew { .. } | Call::TranscodeStart { .. } => {
                SessionUse::Opens
            }
            Call::TxQuery { .. }
            | Call::TxExecute { .. }
            | Call::TxPublish { .. }
            | Call::TxCommit { .. }
            | Call::TxRollback { .. }
            | Call::KvCasCurrent { .. }
            | Call::TranscodeWait { .. }
            | Call::TranscodeCancel { .. } => SessionUse::Uses,
            Call::TxClose { .. } | Call::KvCasClose { .. } | Call::TranscodeClose { .. } => {
                SessionUse::Closes
            }
            Call::KvSwap { .. } => SessionUse::Swaps,
            _ => SessionUse::None,
        }
    }

    /// How many handles the call, answered `reply`, left in the session's table.
    pub fn handles_added(self, reply: &serde_json::Value) -> isize {
        match self {
            SessionUse::Opens if reply.get("ok").is_some() => 1,
            SessionUse::Closes => -1,
            SessionUse::Swaps if reply["err"].get("cas-failed").is_some() => 0,
            SessionUse::Swaps => -1,
            _ => 0,
        }
    }
}

fn reply<T: Serialize, E: Serialize>(result: Result<T, E>) -> wasmtime::Result<serde_json::Value> {
    Ok(serde_json::to_value(Reply::from(result))?)
}

fn values(params: Vec<wire::Value>) -> Vec<sql_wit::Value> {
    params
        .into_iter()
        .map(|v| match v {
            wire::Value::Null => sql_wit::Value::Null,
            wire::Value::Integer(v) => sql_wit::Value::Integer(v),
            wire::Value::Real(v) => sql_wit::Value::Real(v),
            wire::Value::Text(v) => sql_wit::Value::Text(v),
            wire::Value::Blob(v) => sql_wit::Value::Blob(v),
            wire::Value::Boolean(v) => sql_wit::Value::Boolean(v),
            wire::Value::Json(v) => sql_wit::Value::Json(v),
            wire::Value::Timestamp(v) => sql_wit::Value::Timestamp(v),
        })
        .collect()
}

fn row_set(rows: sql_wit::RowSet) -> wire::RowSet {
    let value = |v| match v {
        sql_wit::Value::Null => wire::Value::Null,
        sql_wit::Value::Integer(v) => wire::Value::Integer(v),
        sql_wit::Value::Real(v) => wire::Value::Real(v),
        sql_wit::Value::Text(v) => wire::Value::Text(v),
        sql_wit::Value::Blob(v) => wire::Value::Blob(v),
        sql_wit::Value::Boolean(v) => wire::Value::Boolean(v),
        sql_wit::Value::Json(v) => wire::Value::Json(v),
        sql_wit::Value::Timestamp(v) => wire::Value::Timestamp(v),
    };
    wire::RowSet {
        columns: rows.columns,
        rows: rows
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value).collect())
            .collect(),
    }
}

fn sql_error(e: sql_wit::Error) -> wire::SqlError {
    match e {
        sql_wit::Error::NoSuchDatabase(m) => wire::SqlError::NoSuchDatabase(m),
        sql_wit::Error::InvalidStatement(m) => wire::SqlError::InvalidStatement(m),
        sql_wit::Error::ConstraintViolation(m) => wire::SqlError::ConstraintViolation(m),
        sql_wit::Error::TooLarge(m) => wire::SqlError::TooLarge(m),
        sql_wit::Error::TransactionClosed => wire::SqlError::TransactionClosed,
        sql_wit::Error::Unavailable(m) => wire::SqlError::Unavailable(m),
        sql_wit::Error::NotAllowed(m) => wire::SqlError::NotAllowed(m),
    }
}

fn events_error(e: events_wit::Error) -> wire::EventsError {
    match e {
        events_wit::Error::InvalidEvent(m) => wire::EventsError::InvalidEvent(m),
        events_wit::Error::TooLarge(m) => wire::EventsError::TooLarge(m),
        events_wit::Error::Unavailable(m) => wire::EventsError::Unavailable(m),
        events_wit::Error::NotAllowed(m) => wire::EventsError::NotAllowed(m),
    }
}

fn kv_error(e: store::Error) -> wire::KvError {
    match e {
        store::Error::NoSuchStore => wire::KvError::NoSuchStore,
        store::Error::AccessDenied => wire::KvError::AccessDenied,
        store::Error::Other(m) => wire::KvError::Other(m),
    }
}
