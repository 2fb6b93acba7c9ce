//! `folio:platform/search`, in the service: indexes need a long-lived
//! writer, which only the service holds.

use folio_adapter_protocol::Call;
use serde::de::DeserializeOwned;

use crate::bindings::exports::folio::platform::search::{
    AnyOf, Document, Error, Guest, GuestIndex, Hit, Index, IndexStats, Query, Results, Suggestion,
};
use crate::remote;

/// An index the component may open: its name, checked when opened.
pub struct RemoteIndex(String);

fn call<T: DeserializeOwned>(call: &Call) -> Result<T, Error> {
    remote::call::<T, Error>(call).map_err(Error::Unavailable)?
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("WIT records serialize")
}

impl Guest for crate::Shim {
    type Index = RemoteIndex;
}

impl GuestIndex for RemoteIndex {
    fn open(name: String) -> Result<Index, Error> {
        call::<()>(&Call::SearchOpen {
            index: name.clone(),
        })?;
        Ok(Index::new(RemoteIndex(name)))
    }

    fn upsert(&self, documents: Vec<Document>) -> Result<(), Error> {
        call(&Call::SearchUpsert {
            index: self.0.clone(),
            documents: json(&documents),
        })
    }

    fn delete(&self, ids: Vec<String>, version: i64) -> Result<(), Error> {
        call(&Call::SearchDelete {
            index: self.0.clone(),
            ids,
            version,
        })
    }

    fn search(&self, query: Query) -> Result<Results, Error> {
        call(&Call::SearchQuery {
            index: self.0.clone(),
            query: json(&query),
        })
    }

    fn suggest(
        &self,
        text: String,
        filters: Vec<AnyOf>,
        limit: u32,
    ) -> Result<Vec<Suggestion>, Error> {
        call(&Call::SearchSuggest {
            index: self.0.clone(),
            text,
            filters,
            limit,
        })
    }

    fn more_like_this(
        &self,
        id: String,
        shared: Vec<String>,
        filters: Vec<AnyOf>,
        limit: u32,
    ) -> Result<Vec<Hit>, Error> {
        call(&Call::SearchMoreLikeThis {
            index: self.0.clone(),
            id,
            shared,
            filters,
            limit,
        })
    }

    fn stats(&self) -> Result<IndexStats, Error> {
        call(&Call::SearchStats {
            index: self.0.clone(),
        })
    }

    fn begin_rebuild(&self) -> Result<String, Error> {
        call(&Call::SearchBeginRebuild {
            index: self.0.clone(),
        })
    }

    fn rebuild_upsert(&self, rebuild: String, documents: Vec<Document>) -> Result<(), Error> {
        call(&Call::SearchRebuildUpsert {
            index: self.0.clone(),
            rebuild,
            documents: json(&documents),
        })
    }

    fn finish_rebuild(&self, rebuild: String) -> Result<u64, Error> {
        call(&Call::SearchFinishRebuild {
            index: self.0.clone(),
            rebuild,
        })
    }

    fn abandon_rebuild(&self, rebuild: String) -> Result<(), Error> {
        call(&Call::SearchAbandonRebuild {
            index: self.0.clone(),
            rebuild,
        })
    }
}
