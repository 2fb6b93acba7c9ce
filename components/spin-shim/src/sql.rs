//! `folio:platform/sql` and the transaction outbox, in the service.

use folio_adapter_protocol as wire;
use folio_adapter_protocol::{Call, Handle};

use crate::bindings::exports::folio::platform::event_types::OutgoingEvent;
use crate::bindings::exports::folio::platform::sql::{
    Connection, Error, Guest, GuestConnection, GuestTransaction, RowSet, Transaction, Value,
};
use crate::remote;

impl Guest for crate::Shim {
    type Connection = RemoteConnection;
    type Transaction = RemoteTransaction;
}

/// A database the component may open: its name, checked when opened.
pub struct RemoteConnection(String);
pub struct RemoteTransaction(Handle);

fn call<T: serde::de::DeserializeOwned>(call: &Call) -> Result<T, Error> {
    remote::call::<T, wire::SqlError>(call)
        .map_err(Error::Unavailable)?
        .map_err(Into::into)
}

fn params(values: Vec<Value>) -> Vec<wire::Value> {
    values.into_iter().map(Into::into).collect()
}

impl GuestConnection for RemoteConnection {
    fn open(database: String) -> Result<Connection, Error> {
        call::<()>(&Call::SqlOpen {
            database: database.clone(),
        })?;
        Ok(Connection::new(RemoteConnection(database)))
    }

    fn query(&self, statement: String, values: Vec<Value>) -> Result<RowSet, Error> {
        let rows: wire::RowSet = call(&Call::SqlQuery {
            database: self.0.clone(),
            statement,
            params: params(values),
        })?;
        Ok(rows.into())
    }

    fn execute(&self, statement: String, values: Vec<Value>) -> Result<u64, Error> {
        call(&Call::SqlExecute {
            database: self.0.clone(),
            statement,
            params: params(values),
        })
    }

    fn begin(&self) -> Result<Transaction, Error> {
        let handle = call(&Call::SqlBegin {
            database: self.0.clone(),
        })?;
        Ok(Transaction::new(RemoteTransaction(handle)))
    }
}

impl GuestTransaction for RemoteTransaction {
    fn query(&self, statement: String, values: Vec<Value>) -> Result<RowSet, Error> {
        let rows: wire::RowSet = call(&Call::TxQuery {
            transaction: self.0,
            statement,
            params: params(values),
        })?;
        Ok(rows.into())
    }

    fn execute(&self, statement: String, values: Vec<Value>) -> Result<u64, Error> {
        call(&Call::TxExecute {
            transaction: self.0,
            statement,
            params: params(values),
        })
    }

    fn publish(&self, event: OutgoingEvent) -> Result<String, Error> {
        call(&Call::TxPublish {
            transaction: self.0,
            event: crate::events::to_wire(event),
        })
    }

    fn commit(&self) -> Result<(), Error> {
        call(&Call::TxCommit {
            transaction: self.0,
        })
    }

    fn rollback(&self) -> Result<(), Error> {
        call(&Call::TxRollback {
            transaction: self.0,
        })
    }
}

/// An uncommitted transaction rolls back in the service.
impl Drop for RemoteTransaction {
    fn drop(&mut self) {
        remote::close(Call::TxClose {
            transaction: self.0,
        });
    }
}

impl From<Value> for wire::Value {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => wire::Value::Null,
            Value::Integer(v) => wire::Value::Integer(v),
            Value::Real(v) => wire::Value::Real(v),
            Value::Text(v) => wire::Value::Text(v),
            Value::Blob(v) => wire::Value::Blob(v),
            Value::Boolean(v) => wire::Value::Boolean(v),
            Value::Json(v) => wire::Value::Json(v),
            Value::Timestamp(v) => wire::Value::Timestamp(v),
        }
    }
}

impl From<wire::Value> for Value {
    fn from(value: wire::Value) -> Self {
        match value {
            wire::Value::Null => Value::Null,
            wire::Value::Integer(v) => Value::Integer(v),
            wire::Value::Real(v) => Value::Real(v),
            wire::Value::Text(v) => Value::Text(v),
            wire::Value::Blob(v) => Value::Blob(v),
            wire::Value::Boolean(v) => Value::Boolean(v),
            wire::Value::Json(v) => Value::Json(v),
            wire::Value::Timestamp(v) => Value::Timestamp(v),
        }
    }
}

impl From<wire::RowSet> for RowSet {
    fn from(rows: wire::RowSet) -> Self {
        RowSet {
            columns: rows.columns,
            rows: rows
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(Into::into).collect())
                .collect(),
        }
    }
}

impl From<wire::SqlError> for Error {
    fn from(e: wire::SqlError) -> Self {
        match e {
            wire::SqlError::NoSuchDatabase(m) => Error::NoSuchDatabase(m),
            wire::SqlError::InvalidStatement(m) => Error::InvalidStatement(m),
            wire::SqlError::ConstraintViolation(m) => Error::ConstraintViolation(m),
            wire::SqlError::TooLarge(m) => Error::TooLarge(m),
            wire::SqlError::TransactionClosed => Error::TransactionClosed,
            wire::SqlError::Unavailable(m) => Error::Unavailable(m),
            wire::SqlError::NotAllowed(m) => Error::NotAllowed(m),
        }
    }
}
