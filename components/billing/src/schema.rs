//! The billing database. `ledger` is the event store (append-only, a hash
//! chain per account, heads in `accounts`); `subscriptions` is state
//! derived from it, written in the same transaction as each entry; plans
//! and invoices are the catalog and the documents issued.

use folio_guest::{Dialect, Migration};

pub struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(database: String, dialect: Dialect) -> Vec<Migration> {
        if database != "default" {
            return Vec::new();
        }
        let row_id = match dialect {
            Dialect::Sqlite => "INTEGER PRIMARY KEY",
            Dialect::Postgres => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        };
        vec![
            Migration {
                version: 1,
                name: "billing".into(),
                statements: format!(
                    "CREATE TABLE plans (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    trial_days BIGINT NOT NULL,
                    -- A JSON array of tier names.
                    tiers TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                );
                CREATE TABLE plan_prices (
                    plan_id TEXT NOT NULL,
                    billing_interval TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    amount BIGINT NOT NULL,
                    PRIMARY KEY (plan_id, billing_interval, currency)
                );
                CREATE TABLE accounts (
                    id TEXT PRIMARY KEY,
                    head_n BIGINT NOT NULL,
                    head_hash TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                );
                CREATE TABLE ledger (
                    seq {row_id},
                    account TEXT NOT NULL,
                    n BIGINT NOT NULL,
                    kind TEXT NOT NULL,
                    data TEXT NOT NULL,
                    recorded_at BIGINT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    UNIQUE (account, n)
                );
                CREATE TABLE subscriptions (
                    id TEXT PRIMARY KEY,
                    account TEXT NOT NULL,
                    plan_id TEXT NOT NULL,
                    billing_interval TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    amount BIGINT NOT NULL,
                    provider TEXT NOT NULL,
                    status TEXT NOT NULL,
                    period_start BIGINT NOT NULL,
                    period_end BIGINT NOT NULL,
                    trial_end BIGINT,
                    cancel_at_period_end BIGINT NOT NULL,
                    ended_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                );
                -- One live subscription per account.
                CREATE UNIQUE INDEX subscriptions_live ON subscriptions (account)
                    WHERE status IN ('incomplete', 'trialing', 'active', 'past_due');
                CREATE INDEX subscriptions_due ON subscriptions (period_end)
                    WHERE status IN ('trialing', 'active', 'past_due');
                -- The last invoice number given out each year: numbers are
                -- taken in the invoice's own transaction, so they stay gapless.
                CREATE TABLE invoice_numbers (
                    year BIGINT PRIMARY KEY,
                    last_number BIGINT NOT NULL
                );
                CREATE TABLE invoices (
                    id TEXT PRIMARY KEY,
                    number TEXT NOT NULL UNIQUE,
                    account TEXT NOT NULL,
                    subscription_id TEXT,
                    currency TEXT NOT NULL,
                    -- A JSON array of {{description, quantity, unitAmount, amount}}.
                    lines TEXT NOT NULL,
                    subtotal BIGINT NOT NULL,
                    tax_rate_bp BIGINT NOT NULL,
                    tax BIGINT NOT NULL,
                    total BIGINT NOT NULL,
                    status TEXT NOT NULL,
                    issued_at BIGINT NOT NULL,
                    due_at BIGINT NOT NULL,
                    paid_at BIGINT
                );
                CREATE INDEX invoices_by_account ON invoices (account, issued_at)"
                ),
            },
            Migration {
                version: 2,
                name: "payments and dunning".into(),
                statements: "
                -- How an invoice is paid: `manual` (bank transfer) or `stripe`
                -- (charged to the card on file). Collection attempts so far,
                -- and when the next is due (NULL: none scheduled, e.g. a first
                -- invoice the customer pays at checkout).
                ALTER TABLE invoices ADD COLUMN provider TEXT NOT NULL DEFAULT 'manual';
                ALTER TABLE invoices ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
                ALTER TABLE invoices ADD COLUMN next_attempt_at BIGINT;
                CREATE INDEX invoices_to_collect ON invoices (next_attempt_at)
                    WHERE status = 'open' AND next_attempt_at IS NOT NULL;
                -- Unused time credited by a downgrade, taken off the next invoices.
                ALTER TABLE subscriptions ADD COLUMN credit BIGINT NOT NULL DEFAULT 0;
                -- Every payment outcome once: a provider's reference (a Stripe
                -- PaymentIntent id) is seen by the charge's answer and again by
                -- its webhook, and counts once.
                CREATE TABLE payments (
                    reference TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    invoice_id TEXT NOT NULL,
                    account TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    amount BIGINT NOT NULL,
                    currency TEXT NOT NULL,
                    reason TEXT,
                    recorded_at BIGINT NOT NULL,
                    -- A PaymentIntent may fail, then succeed when retried.
                    PRIMARY KEY (reference, outcome)
                );
                CREATE INDEX payments_by_invoice ON payments (invoice_id);
                CREATE TABLE stripe_customers (
                    account TEXT PRIMARY KEY,
                    customer_id TEXT NOT NULL UNIQUE,
                    payment_method TEXT,
                    updated_at BIGINT NOT NULL
                );
                -- Stripe events applied, by id: a redelivery changes nothing.
                CREATE TABLE stripe_events (
                    id TEXT PRIMARY KEY,
                    type TEXT NOT NULL,
                    received_at BIGINT NOT NULL
                )"
                .into(),
            },
            Migration {
                version: 3,
                name: "usage metering".into(),
                statements: "
                -- A JSON array of {key, aggregation, unitAmounts}.
                ALTER TABLE plans ADD COLUMN meters TEXT NOT NULL DEFAULT '[]';
                -- One row per reported transaction: a retry is a no-op.
                CREATE TABLE usage_events (
                    transaction_id TEXT PRIMARY KEY,
                    account TEXT NOT NULL,
                    meter TEXT NOT NULL,
                    quantity BIGINT NOT NULL,
                    value TEXT,
                    at BIGINT NOT NULL,
                    recorded_at BIGINT NOT NULL
                );
                CREATE INDEX usage_by_meter ON usage_events (account, meter, at)"
                    .into(),
            },
            Migration {
                version: 4,
                name: "subscriptions listed across accounts".into(),
                statements: "
                -- Admins page every subscription newest first, or those in
                -- one status.
                CREATE INDEX subscriptions_newest ON subscriptions (created_at, id);
                CREATE INDEX subscriptions_by_status ON subscriptions (status, created_at, id)"
                    .into(),
            },
        ]
    }
}
