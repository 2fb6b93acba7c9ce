//! The billing event store: an append-only ledger per account. Each entry
//! carries the hash of the account's previous one, so an edited, removed or
//! reordered row breaks the chain, and the account row records the head
//! (number and hash), so dropping the newest entries shows too. Nothing here
//! updates or deletes an entry; state (subscriptions, balances) is derived
//! from the entries, and each is published on `folio.billing` in the same
//! transaction (the outbox), under the seed's event names.

use folio_guest::columns::{integer, text};
use folio_guest::http::Problem;
use folio_guest::{Connection, OutgoingEvent, Transaction, Value};
use serde::Serialize;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::store::db_error;

pub const TOPIC: &str = "folio.billing";
/// The "previous hash" of an account's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const VERIFY_PAGE: i64 = 1000;

/// What happened, as the seed's event catalog names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SubscriptionCreated,
    SubscriptionUpdated,
    SubscriptionCancelled,
    PaymentProcessed,
    PaymentFailed,
    InvoiceGenerated,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::SubscriptionCreated => "SubscriptionCreated",
            Kind::SubscriptionUpdated => "SubscriptionUpdated",
            Kind::SubscriptionCancelled => "SubscriptionCancelled",
            Kind::PaymentProcessed => "PaymentProcessed",
            Kind::PaymentFailed => "PaymentFailed",
            Kind::InvoiceGenerated => "InvoiceGenerated",
        }
    }
}

/// An entry's hash: SHA-256 over the previous hash and the entry's fields,
/// each length-prefixed so no two different entries share an encoding.
pub fn entry_hash(prev: &str, account: &str, n: i64, kind: &str, at_ms: i64, data: &str) -> String {
    let mut hasher = Sha256::new();
    for field in [
        prev.as_bytes(),
        account.as_bytes(),
        &n.to_be_bytes(),
        kind.as_bytes(),
        &at_ms.to_be_bytes(),
        data.as_bytes(),
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Locks `account` for the rest of `tx` (creating it on first use), so two
/// writers never extend its chain from the same head. Every billing change
/// starts here.
pub fn lock_account(tx: &Transaction, account: &str, now_ms: i64) -> Result<(), Problem> {
    tx.execute(
        "INSERT INTO accounts (id, head_n, head_hash, created_at) VALUES ($1, 0, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
        &[
            Value::Text(account.to_string()),
            Value::Text(GENESIS.to_string()),
            Value::Integer(now_ms),
        ],
    )
    .map_err(db_error)?;
    // A write to the row takes its lock on Postgres; SQLite has one writer.
    tx.execute(
        "UPDATE accounts SET head_n = head_n WHERE id = $1",
        &[Value::Text(account.to_string())],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Appends an entry to `account`'s chain (locked by [`lock_account`]) and
/// publishes it, both in `tx`.
pub fn append(
    tx: &Transaction,
    account: &str,
    kind: Kind,
    data: &Json,
    at_ms: i64,
) -> Result<(), Problem> {
    let head = tx
        .query(
            "SELECT head_n, head_hash FROM accounts WHERE id = $1",
            &[Value::Text(account.to_string())],
        )
        .map_err(db_error)?;
    let row = head
        .rows
        .first()
        .ok_or_else(|| Problem::unavailable("the billing account was not locked"))?;
    let (n, prev) = (integer(&row[0]) + 1, text(&row[1]));
    let data_text = data.to_string();
    let hash = entry_hash(&prev, account, n, kind.name(), at_ms, &data_text);
    tx.execute(
        "INSERT INTO ledger (account, n, kind, data, recorded_at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Value::Text(account.to_string()),
            Value::Integer(n),
            Value::Text(kind.name().to_string()),
            Value::Text(data_text),
            Value::Integer(at_ms),
            Value::Text(prev),
            Value::Text(hash.clone()),
        ],
    )
    .map_err(db_error)?;
    tx.execute(
        "UPDATE accounts SET head_n = $2, head_hash = $3 WHERE id = $1",
        &[
            Value::Text(account.to_string()),
            Value::Integer(n),
            Value::Text(hash),
        ],
    )
    .map_err(db_error)?;
    let mut payload = data.clone();
    if let Json::Object(map) = &mut payload {
        map.insert("account".into(), Json::String(account.to_string()));
        map.insert("sequence".into(), Json::from(n));
    }
    tx.publish(&OutgoingEvent {
        topic: TOPIC.into(),
        type_: format!("folio.billing.{}", kind.name()),
        key: account.to_string(),
        subject: Some(account.to_string()),
        datacontenttype: "application/json".into(),
        data: payload.to_string().into_bytes(),
    })
    .map_err(db_error)?;
    Ok(())
}

/// One entry as `GET /api/v1/billing/ledger` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub sequence: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Json,
    pub at_ms: i64,
    pub hash: String,
}

/// `account`'s entries in order.
pub fn entries(db: &Connection, account: &str) -> Result<Vec<Entry>, Problem> {
    let rows = db
        .query(
            "SELECT n, kind, data, recorded_at, hash FROM ledger WHERE account = $1 ORDER BY n",
            &[Value::Text(account.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| Entry {
            sequence: integer(&r[0]),
            kind: text(&r[1]),
            data: serde_json::from_str(&text(&r[2])).unwrap_or(Json::Null),
            at_ms: integer(&r[3]),
            hash: text(&r[4]),
        })
        .collect())
}

/// What `GET /api/v1/billing/ledger/verify` finds.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub valid: bool,
    pub accounts: i64,
    pub entries: i64,
    /// The first break found: its account, entry number and what is wrong.
    pub broken: Option<Break>,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct Break {
    pub account: String,
    pub sequence: i64,
    pub reason: String,
}

/// Walks every chain, entry by entry, recomputing each hash.
pub fn verify(db: &Connection) -> Result<Verification, Problem> {
    let mut checker = Checker::default();
    let (mut after_account, mut after_n) = (String::new(), 0i64);
    loop {
        let page = db
            .query(
                "SELECT account, n, kind, data, recorded_at, prev_hash, hash FROM ledger \
                 WHERE account > $1 OR (account = $1 AND n > $2) \
                 ORDER BY account, n LIMIT $3",
                &[
                    Value::Text(after_account.clone()),
                    Value::Integer(after_n),
                    Value::Integer(VERIFY_PAGE),
                ],
            )
            .map_err(db_error)?;
        for r in &page.rows {
            let row = Row {
                account: text(&r[0]),
                n: integer(&r[1]),
                kind: text(&r[2]),
                data: text(&r[3]),
                at_ms: integer(&r[4]),
                prev_hash: text(&r[5]),
                hash: text(&r[6]),
            };
            (after_account, after_n) = (row.account.clone(), row.n);
            checker.entry(row, |account| head(db, account))?;
        }
        if (page.rows.len() as i64) < VERIFY_PAGE {
            break;
        }
    }
    checker.finish(|account| head(db, account))?;
    // Accounts whose head says entries exist but none were found.
    let orphans = db
        .query(
            "SELECT id FROM accounts WHERE head_n > 0 AND NOT EXISTS \
             (SELECT 1 FROM ledger WHERE ledger.account = accounts.id) ORDER BY id LIMIT 1",
            &[],
        )
        .map_err(db_error)?;
    if let (None, Some(r)) = (&checker.broken, orphans.rows.first()) {
        checker.broken = Some(Break {
            account: text(&r[0]),
            sequence: 1,
            reason: "the account's entries are missing".into(),
        });
    }
    Ok(Verification {
        valid: checker.broken.is_none(),
        accounts: checker.accounts,
        entries: checker.entries,
        broken: checker.broken,
    })
}

fn head(db: &Connection, account: &str) -> Result<(i64, String), Problem> {
    let rows = db
        .query(
            "SELECT head_n, head_hash FROM accounts WHERE id = $1",
            &[Value::Text(account.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .first()
        .map(|r| (integer(&r[0]), text(&r[1])))
        .unwrap_or((0, GENESIS.to_string())))
}

pub struct Row {
    pub account: String,
    pub n: i64,
    pub kind: String,
    pub data: String,
    pub at_ms: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// The chain rules, row by row in (account, n) order; remembers the first break.
#[derive(Default)]
pub struct Checker {
    current: Option<(String, i64, String)>,
    pub accounts: i64,
    pub entries: i64,
    pub broken: Option<Break>,
}

impl Checker {
    pub fn entry<E>(
        &mut self,
        row: Row,
        head: impl Fn(&str) -> Result<(i64, String), E>,
    ) -> Result<(), E> {
        self.entries += 1;
        let continues = matches!(&self.current, Some((account, _, _)) if *account == row.account);
        if !continues {
            self.close_account(&head)?;
            self.accounts += 1;
            self.current = Some((row.account.clone(), 0, GENESIS.to_string()));
        }
        let (_, last_n, last_hash) = self.current.clone().unwrap_or_default();
        let reason = if row.n != last_n + 1 {
            Some(format!("entry {} is missing", last_n + 1))
        } else if row.prev_hash != last_hash {
            Some("it does not follow the entry before it".to_string())
        } else if entry_hash(
            &row.prev_hash,
            &row.account,
            row.n,
            &row.kind,
            row.at_ms,
            &row.data,
        ) != row.hash
        {
            Some("its contents do not match its hash".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            self.fail(&row.account, row.n.min(last_n + 1), reason);
        }
        self.current = Some((row.account, row.n, row.hash));
        Ok(())
    }

    pub fn finish<E>(&mut self, head: impl Fn(&str) -> Result<(i64, String), E>) -> Result<(), E> {
        self.close_account(&head)
    }

    /// The account's last entry must be the head its account row records.
    fn close_account<E>(
        &mut self,
        head: &impl Fn(&str) -> Result<(i64, String), E>,
    ) -> Result<(), E> {
        if let Some((account, n, hash)) = self.current.take() {
            let (head_n, head_hash) = head(&account)?;
            if head_n != n || head_hash != hash {
                self.fail(
                    &account,
                    head_n.min(n) + 1,
                    format!("the account records {head_n} entries; the chain ends at {n}"),
                );
            }
        }
        Ok(())
    }

    fn fail(&mut self, account: &str, sequence: i64, reason: String) {
        if self.broken.is_none() {
            self.broken = Some(Break {
                account: account.to_string(),
                sequence,
                reason,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(account: &str, count: i64) -> Vec<Row> {
        let mut prev = GENESIS.to_string();
        (1..=count)
            .map(|n| {
                let data = format!("{{\"amount\":{}}}", n * 100);
                let hash = entry_hash(&prev, account, n, "PaymentProcessed", n * 1000, &data);
                let row = Row {
                    account: account.into(),
                    n,
                    kind: "PaymentProcessed".into(),
                    data,
                    at_ms: n * 1000,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn check(rows: Vec<Row>, heads: &[(&str, i64)]) -> Checker {
        let all: Vec<(String, i64, String)> = heads
            .iter()
            .map(|(account, n)| {
                let hash = chain(account, *n)
                    .last()
                    .map_or(GENESIS.to_string(), |r| r.hash.clone());
                (account.to_string(), *n, hash)
            })
            .collect();
        let head = |account: &str| -> Result<(i64, String), ()> {
            Ok(all
                .iter()
                .find(|(a, _, _)| a == account)
                .map(|(_, n, h)| (*n, h.clone()))
                .unwrap())
        };
        let mut checker = Checker::default();
        for row in rows {
            checker.entry(row, head).unwrap();
        }
        checker.finish(head).unwrap();
        checker
    }

    #[test]
    fn intact_chains_verify() {
        let mut rows = chain("a", 3);
        rows.extend(chain("b", 2));
        let c = check(rows, &[("a", 3), ("b", 2)]);
        assert_eq!((c.accounts, c.entries, c.broken), (2, 5, None));
    }

    #[test]
    fn an_edited_amount_is_found() {
        let mut rows = chain("a", 3);
        rows[1].data = "{\"amount\":1}".into();
        let broken = check(rows, &[("a", 3)]).broken.unwrap();
        assert_eq!(broken.sequence, 2);
        assert!(broken.reason.contains("hash"), "{broken:?}");
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let mut rows = chain("a", 3);
        rows[1].data = "{\"amount\":1}".into();
        rows[1].hash = entry_hash(
            &rows[1].prev_hash,
            "a",
            2,
            "PaymentProcessed",
            2000,
            &rows[1].data,
        );
        let broken = check(rows, &[("a", 3)]).broken.unwrap();
        assert_eq!(broken.sequence, 3);
    }

    #[test]
    fn removed_entries_are_found_in_the_middle_and_at_the_end() {
        let mut rows = chain("a", 3);
        rows.remove(1);
        assert_eq!(check(rows, &[("a", 3)]).broken.unwrap().sequence, 2);
        let mut rows = chain("a", 3);
        rows.pop();
        assert_eq!(check(rows, &[("a", 3)]).broken.unwrap().sequence, 3);
    }

    #[test]
    fn hashes_are_unambiguous() {
        // Moving a character between fields changes the hash.
        assert_ne!(
            entry_hash(GENESIS, "ab", 1, "c", 0, "d"),
            entry_hash(GENESIS, "a", 1, "bc", 0, "d")
        );
    }
}
